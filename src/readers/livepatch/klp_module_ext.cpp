// Livepatch modules made by the kernel's klp-build (v6.19+) have no static
// klp_patch: scripts/livepatch/init.c builds one at load time from "external"
// tables that objtool writes (include/linux/livepatch_external.h):
//   struct klp_func_ext   { const char *old_name; void *new_func; unsigned long sympos; };  // 24 bytes
//   struct klp_object_ext { const char *name; struct klp_func_ext *funcs;
//                           [struct klp_callbacks callbacks;] unsigned int nr_funcs; };
// The object array fills its section (init.c: nr_objs = section size /
// sizeof); `callbacks` was dropped in later versions, so the entry size is
// taken from the entries' spacing and nr_funcs from the entry's last word.
#include <array>

#include "readers/livepatch/klp_internal.h"

namespace lpsafe::readers {
namespace {

// The section name changed while klp-build was merged: __start_klp_objects,
// then klp_find_section_by_name("__klp_objects"), then ".init.klp_objects".
constexpr std::array<const char*, 3> kObjectSections = {".init.klp_objects", "__klp_objects", "klp_objects"};
constexpr uint64_t kExtName = 0, kExtFuncs = 8;
constexpr uint64_t kFuncExtSize = 24, kFuncExtName = 0, kFuncExtNew = 8, kFuncExtSympos = 16;
constexpr uint64_t kMinObjectExtSize = 24;
constexpr uint32_t kMaxFuncs = 100000;

bool is_func_ext(const RelObject& o, uint32_t section, uint64_t at) {
    return o.points_to_data(o.pointer_at(section, at + kFuncExtName)) &&
           o.points_to_code(o.pointer_at(section, at + kFuncExtNew));
}

// Offsets of the object entries: a funcs pointer to a klp_func_ext. (Names
// point to strings, never to a func entry, so they are not mistaken for one.)
std::vector<uint64_t> object_entries(const RelObject& o, uint32_t section) {
    std::vector<uint64_t> out;
    const auto* slots = o.pointers_in(section);
    if (slots == nullptr) return out;
    for (const auto& [offset, p] : *slots) {
        if (offset < kExtFuncs || (offset - kExtFuncs) % 8 != 0) continue;
        if (o.points_to_data(&p) && is_func_ext(o, p.section, p.offset)) out.push_back(offset - kExtFuncs);
    }
    return out;
}

Result<KlpFunc> read_func_ext(const RelObject& o, uint32_t section, uint64_t at) {
    const std::string where = o.where(section, at);
    if (!is_func_ext(o, section, at)) {
        return make_error(o.name() + ": klp_func_ext at " + where + " has no old_name or new_func");
    }
    auto name = klp_symbol_name(o, o.pointer_at(section, at + kFuncExtName), where);
    if (!name) return name.error();
    if (name->empty()) return make_error(o.name() + ": klp_func_ext at " + where + " has an empty old_name");
    const auto sympos = o.u64_at(section, at + kFuncExtSympos);
    if (!sympos) return make_error(o.name() + ": klp_func_ext at " + where + " is cut off");
    return KlpFunc{std::move(*name), *sympos};
}

Result<KlpObject> read_object_ext(const RelObject& o, uint32_t section, uint64_t at, uint64_t size) {
    const std::string where = o.where(section, at);
    KlpObject obj{"vmlinux", {}};
    if (const RelPointer* name = o.pointer_at(section, at + kExtName)) {
        auto n = klp_symbol_name(o, name, where);
        if (!n) return n.error();
        if (!n->empty()) obj.name = std::move(*n);
    }
    const auto nr_word = o.u64_at(section, at + size - 8);
    const auto nr_funcs = static_cast<uint32_t>(nr_word.value_or(0));
    if (nr_funcs == 0 || nr_funcs > kMaxFuncs) {
        return make_error(o.name() + ": klp_object_ext at " + where + " has an implausible nr_funcs");
    }
    const RelPointer* funcs = o.pointer_at(section, at + kExtFuncs);
    for (uint32_t j = 0; j < nr_funcs; ++j) {
        auto f = read_func_ext(o, funcs->section, funcs->offset + j * kFuncExtSize);
        if (!f) return f.error();
        obj.funcs.push_back(std::move(*f));
    }
    return obj;
}

}  // namespace

Result<std::optional<KlpModule>> read_klp_ext_tables(const RelObject& o) {
    uint32_t section = 0;
    for (uint32_t s = 1; s < o.sections().size() && section == 0; ++s) {
        for (const char* name : kObjectSections) {
            if (o.sections()[s].name == name) section = s;
        }
    }
    if (section == 0) return std::optional<KlpModule>{};
    const uint64_t sec_size = o.sections()[section].size;
    const auto entries = object_entries(o, section);
    if (entries.empty() || entries[0] != 0) {
        return make_error(o.name() + ": " + o.sections()[section].name + " does not start with a klp_object_ext");
    }
    // Spacing of the entries, or the whole section for a single one.
    const uint64_t size = entries.size() > 1 ? entries[1] - entries[0] : sec_size;
    if (size < kMinObjectExtSize || size % 8 != 0 || sec_size % size != 0 || sec_size / size != entries.size()) {
        return make_error(o.name() + ": " + o.sections()[section].name + " is not an array of klp_object_ext");
    }
    KlpModule m;
    m.object_size = size;
    m.func_size = kFuncExtSize;
    m.replace = true;  // set at run time by klp-build's init code: assume the wider check
    for (size_t i = 0; i < entries.size(); ++i) {
        if (entries[i] != i * size) {
            return make_error(o.name() + ": klp_object_ext entries are not evenly spaced");
        }
        auto obj = read_object_ext(o, section, entries[i], size);
        if (!obj) return obj.error();
        m.objects.push_back(std::move(*obj));
    }
    return std::optional<KlpModule>(std::move(m));
}

}  // namespace lpsafe::readers
