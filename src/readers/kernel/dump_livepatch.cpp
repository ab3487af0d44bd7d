#include "readers/kernel/dump_livepatch.h"

#include <fmt/format.h>


#include "readers/kernel/kernel_lists.h"

namespace lpsafe::readers {
namespace {

constexpr size_t kModuleNameLen = 56;  // MODULE_NAME_LEN on 64-bit
constexpr size_t kMaxSymbolName = 512;  // KSYM_NAME_LEN

struct Layout {
    uint64_t patch_list, patch_mod, patch_enabled, patch_replace, patch_objs;
    uint64_t obj_name, obj_node, obj_funcs;
    uint64_t func_name, func_sympos, func_node;
    uint64_t module_name;
};

Result<Layout> layout_from(const KernelBtf& btf) {
    Layout l{};
    const BtfMember needs[] = {
        {&l.patch_list, "klp_patch", "list"},       {&l.patch_mod, "klp_patch", "mod"},
        {&l.patch_enabled, "klp_patch", "enabled"}, {&l.patch_replace, "klp_patch", "replace"},
        {&l.patch_objs, "klp_patch", "obj_list"},   {&l.obj_name, "klp_object", "name"},
        {&l.obj_node, "klp_object", "node"},        {&l.obj_funcs, "klp_object", "func_list"},
        {&l.func_name, "klp_func", "old_name"},     {&l.func_sympos, "klp_func", "old_sympos"},
        {&l.func_node, "klp_func", "node"},         {&l.module_name, "module", "name"},
    };
    if (auto st = btf.offsets_of(needs); !st) return make_error("livepatch: " + st.error().message);
    return l;
}

}  // namespace

Result<LivepatchStatus> livepatch_from_memory(const Memory& memory, const Kallsyms& kallsyms, const KernelBtf& btf) {
    LivepatchStatus status;
    const auto head = kallsyms.vmlinux_address("klp_patches");
    if (!head) return status;  // no CONFIG_LIVEPATCH
    status.available = true;
    auto layout = layout_from(btf);
    if (!layout) return layout.error();
    const Layout& l = *layout;
    const auto transition_at = kallsyms.vmlinux_address("klp_transition_patch");
    const auto transition = transition_at ? memory.read_u64(*transition_at) : std::nullopt;
    if (!transition) return make_error("livepatch: klp_transition_patch is unreadable");

    uint64_t order = 0;
    auto st = for_each_list_entry(memory, *head, l.patch_list, "klp_patches", [&](uint64_t patch) -> Status {
        LoadedPatch p;
        const auto mod = memory.read_u64(patch + l.patch_mod);
        const auto enabled = memory.read_u8(patch + l.patch_enabled);
        const auto replace = memory.read_u8(patch + l.patch_replace);
        const auto name = mod ? read_kernel_string(memory, *mod + l.module_name, kModuleNameLen) : std::nullopt;
        if (!name || name->empty() || !enabled || !replace)
            return make_error(fmt::format("livepatch: the patch at {:#x} is unreadable", patch));
        p.name = *name;
        p.enabled = *enabled != 0;
        p.replace = *replace != 0;
        p.transition = patch == *transition;
        p.stack_order = ++order;  // the list is in load order, as stack_order counts
        auto objs = for_each_list_entry(memory, patch + l.patch_objs, l.obj_node, "klp_object", [&](uint64_t obj) -> Status {
            LivepatchObject o;
            const auto obj_name = memory.read_u64(obj + l.obj_name);
            if (!obj_name) return make_error(fmt::format("livepatch: {}: an object is unreadable", p.name));
            if (*obj_name == 0) {
                o.name = "vmlinux";  // a NULL name is the kernel image
            } else {
                const auto n = read_kernel_string(memory, *obj_name, kModuleNameLen);
                if (!n) return make_error(fmt::format("livepatch: {}: an object's name is unreadable", p.name));
                o.name = *n;
            }
            auto funcs = for_each_list_entry(memory, obj + l.obj_funcs, l.func_node, "klp_func", [&](uint64_t func) -> Status {
                const auto fname_at = memory.read_u64(func + l.func_name);
                const auto sympos = memory.read_u64(func + l.func_sympos);
                const auto fname = fname_at ? read_kernel_string(memory, *fname_at, kMaxSymbolName) : std::nullopt;
                if (!fname || fname->empty() || !sympos)
                    return make_error(fmt::format("livepatch: {}: a function is unreadable", p.name));
                // sysfs names "<function>,<sympos>" with 1 for old_sympos 0.
                o.funcs.push_back({*fname, *sympos == 0 ? 1 : *sympos});
                return Ok{};
            });
            if (!funcs) return funcs;
            p.objects.push_back(std::move(o));
            return Ok{};
        });
        if (!objs) return objs;
        status.patches.push_back(std::move(p));
        return Ok{};
    });
    if (!st) return st.error();
    return status;
}

}  // namespace lpsafe::readers
