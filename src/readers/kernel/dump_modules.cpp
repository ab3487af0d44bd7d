#include "readers/kernel/dump_modules.h"

#include <elf.h>
#include <fmt/format.h>

#include <cstring>

#include "readers/kernel/kernel_lists.h"
#include "readers/kernel/kernel_scan.h"

namespace lpsafe::readers {
namespace {

constexpr size_t kMaxModules = 8192;
constexpr uint32_t kMaxModuleSymbols = 1u << 20;
constexpr size_t kModuleNameLen = 56;  // MODULE_NAME_LEN on 64-bit
constexpr uint32_t kModuleStateUnformed = 3;  // kallsyms skips these
constexpr size_t kMaxNoteSize = 4096;

struct Layout {
    uint64_t list, name, state, kallsyms, notes_attrs;
    uint64_t symtab, num_symtab, strtab, typetab;            // struct mod_kallsyms
    uint64_t notes_count, notes_attrs_array, attr_size;      // struct module_notes_attrs
    uint64_t attr_name, attr_size_field, attr_private;       // struct bin_attribute
};

Result<Layout> layout_from(const KernelBtf& btf) {
    Layout l{};
    const BtfMember needs[] = {
        {&l.list, "module", "list"},
        {&l.name, "module", "name"},
        {&l.state, "module", "state"},
        {&l.kallsyms, "module", "kallsyms"},
        {&l.notes_attrs, "module", "notes_attrs"},
        {&l.symtab, "mod_kallsyms", "symtab"},
        {&l.num_symtab, "mod_kallsyms", "num_symtab"},
        {&l.strtab, "mod_kallsyms", "strtab"},
        {&l.typetab, "mod_kallsyms", "typetab"},
        {&l.notes_count, "module_notes_attrs", "notes"},
        {&l.notes_attrs_array, "module_notes_attrs", "attrs"},
        {&l.attr_name, "bin_attribute", "attr.name"},
        {&l.attr_size_field, "bin_attribute", "size"},
        {&l.attr_private, "bin_attribute", "private"},
    };
    if (auto st = btf.offsets_of(needs); !st) return make_error("modules: " + st.error().message);
    auto attr = btf.size_of("bin_attribute");
    if (!attr) return make_error("modules: " + attr.error().message);
    l.attr_size = *attr;
    return l;
}

class ModuleReader {
public:
    ModuleReader(const Memory& m, const Layout& l) : mem_(m), l_(l) {}

    // One module's symbols into `out`; an error names what was unreadable.
    Status symbols(uint64_t mod, const std::string& name, std::string& out) const {
        const auto ks = mem_.read_u64(mod + l_.kallsyms);
        if (!ks) return make_error("its kallsyms pointer is unreadable");
        const auto symtab = mem_.read_u64(*ks + l_.symtab);
        const auto count = mem_.read_u32(*ks + l_.num_symtab);
        const auto strtab = mem_.read_u64(*ks + l_.strtab);
        const auto typetab = mem_.read_u64(*ks + l_.typetab);
        if (!symtab || !count || !strtab || !typetab) return make_error("its mod_kallsyms is unreadable");
        if (*count > kMaxModuleSymbols) return make_error(fmt::format("it claims {} symbols", *count));
        std::vector<Elf64_Sym> syms(*count);
        std::vector<char> types(*count);
        if (mem_.read(*symtab, std::as_writable_bytes(std::span(syms))) != syms.size() * sizeof(Elf64_Sym) ||
            mem_.read(*typetab, std::as_writable_bytes(std::span(types))) != types.size()) {
            return make_error("its symbol table is unreadable");
        }
        for (size_t i = 0; i < syms.size(); ++i) {
            const auto sym_name = read_kernel_string(mem_, *strtab + syms[i].st_name, 512);
            if (!sym_name) return make_error(fmt::format("the name of its symbol {} is unreadable", i));
            if (sym_name->empty()) continue;  // /proc/kallsyms skips nameless entries
            fmt::format_to(std::back_inserter(out), "{:016x} {} {}\t[{}]\n", syms[i].st_value, types[i], *sym_name, name);
        }
        return Ok{};
    }

    // The GNU build-id among the module's notes, or empty.
    std::string build_id(uint64_t mod) const {
        const auto attrs = mem_.read_u64(mod + l_.notes_attrs);
        if (!attrs || *attrs == 0) return {};
        const auto count = mem_.read_u32(*attrs + l_.notes_count);
        if (!count || *count > 64) return {};
        for (uint32_t i = 0; i < *count; ++i) {
            const uint64_t attr = *attrs + l_.notes_attrs_array + uint64_t{i} * l_.attr_size;
            const auto name_ptr = mem_.read_u64(attr + l_.attr_name);
            const auto size = mem_.read_u64(attr + l_.attr_size_field);
            const auto data = mem_.read_u64(attr + l_.attr_private);
            if (!name_ptr || !size || !data || *size > kMaxNoteSize) continue;
            if (read_kernel_string(mem_, *name_ptr, 64) != ".note.gnu.build-id") continue;
            std::string note(*size, '\0');
            if (mem_.read(*data, std::as_writable_bytes(std::span(note))) != note.size()) return {};
            return build_id_from_notes(note);
        }
        return {};
    }

private:
    const Memory& mem_;
    const Layout& l_;
};

}  // namespace

Result<DumpModules> modules_from_memory(const Memory& memory, const Kallsyms& vmlinux, const KernelBtf& btf) {
    auto layout = layout_from(btf);
    if (!layout) return layout.error();
    const auto head = vmlinux.vmlinux_address("modules");
    if (!head) return make_error("kallsyms lacks the module list head `modules`");
    const ModuleReader reader(memory, *layout);
    DumpModules out;
    auto st = for_each_list_entry(memory, *head, layout->list, "module", [&](uint64_t mod) -> Status {
        const auto name = read_kernel_string(memory, mod + layout->name, kModuleNameLen);
        const auto state = memory.read_u32(mod + layout->state);
        if (!name || name->empty() || !state) {
            out.notes.push_back(fmt::format("module at {:#x}: name or state unreadable", mod));
            return Ok{};
        }
        if (*state == kModuleStateUnformed) return Ok{};
        out.names.push_back(*name);
        if (auto sym = reader.symbols(mod, *name, out.kallsyms); !sym) {
            out.notes.push_back("module " + *name + ": " + sym.error().message + "; its code stays unknown");
        }
        if (auto id = reader.build_id(mod); !id.empty()) out.build_ids.emplace(*name, std::move(id));
        return Ok{};
    }, kMaxModules);
    if (!st) return st.error();
    return out;
}

}  // namespace lpsafe::readers
