// Reads a livepatch module's static klp_patch -> klp_object[] -> klp_func[]
// tables out of the .ko (docs/design.md, "Reading patch targets from a
// livepatch module").
//
// Only the "external" fields the module author initialises are read, and
// their offsets have been the same since v4.5 (include/linux/livepatch.h):
//   struct klp_func   { const char *old_name; void *new_func; unsigned long old_sympos; ... }
//   struct klp_object { const char *name; struct klp_func *funcs; ... }
//   struct klp_patch  { struct module *mod; struct klp_object *objs;
//                       struct klp_state *states (v5.5+); bool replace (v5.1+); ... }
// The sizes of the structures (which step through the arrays) change with
// kernel version and config (struct kobject), so they are taken from the
// file itself: the array symbols' sizes, else the spacing of the entries.
#include "readers/livepatch/klp_module.h"

#include <elf.h>

#include <algorithm>
#include <set>

#include "readers/livepatch/klp_internal.h"
#include "readers/modules/mapped_file.h"

namespace lpsafe::readers {
namespace {

constexpr uint64_t kFuncOldName = 0, kFuncNewFunc = 8, kFuncOldSympos = 16;
constexpr uint64_t kObjectName = 0, kObjectFuncs = 8;
constexpr uint64_t kPatchMod = 0, kPatchObjs = 8, kPatchStates = 16, kPatchReplace = 24;
// Smallest plausible sizes: the external fields plus at least a struct
// kobject (64 bytes on 64-bit) and the list heads every version has.
constexpr uint64_t kMinFuncSize = 120, kMinObjectSize = 96, kMaxStructSize = 4096;
constexpr size_t kMaxEntries = 100000;

struct Loc {
    uint32_t section = 0;
    uint64_t offset = 0;
};

// How one kind of array is recognised: the slot that always holds a pointer
// in a live entry, and the fields the kernel tests for the terminator
// (klp_for_each_object_static / klp_for_each_func_static).
struct ArrayKind {
    const char* what;
    uint64_t key_slot;
    std::vector<uint64_t> terminator_fields;
    uint64_t min_size;
};

const ArrayKind kObjects{"klp_object", kObjectFuncs, {kObjectName, kObjectFuncs}, kMinObjectSize};
const ArrayKind kFuncs{"klp_func", kFuncOldName, {kFuncOldName, kFuncNewFunc, kFuncOldSympos}, kMinFuncSize};

class KlpWalker {
public:
    explicit KlpWalker(const RelObject& o) : o_(o) {}

    std::vector<Loc> patch_candidates() const;
    Result<KlpModule> walk_patch(Loc patch) const;
    bool read_replace(Loc patch) const;

private:
    std::string where(Loc l) const { return o_.where(l.section, l.offset); }
    bool points_to_data(const RelPointer* p) const { return o_.points_to_data(p); }
    bool is_entry(const ArrayKind& kind, Loc at) const;
    bool is_terminator(const ArrayKind& kind, Loc at) const;
    Result<uint64_t> element_size(const ArrayKind& kind, const std::vector<Loc>& bases) const;
    Result<std::vector<Loc>> entries(const ArrayKind& kind, Loc base, uint64_t size) const;
    Result<KlpFunc> read_func(Loc at) const;
    Result<std::string> read_name(const RelPointer* p, Loc at) const;

    const RelObject& o_;
};

// A live entry: for a klp_func, old_name points to data (a string) and
// new_func to code; for a klp_object, funcs points to a klp_func entry and
// name is a pointer to data or NULL.
bool KlpWalker::is_entry(const ArrayKind& kind, Loc at) const {
    if (at.offset % 8 != 0) return false;
    if (&kind == &kObjects) {
        const RelPointer* funcs = o_.pointer_at(at.section, at.offset + kObjectFuncs);
        const RelPointer* name = o_.pointer_at(at.section, at.offset + kObjectName);
        const bool name_ok = name != nullptr ? points_to_data(name)
                                             : o_.u64_at(at.section, at.offset + kObjectName) == uint64_t{0};
        return name_ok && points_to_data(funcs) && is_entry(kFuncs, {funcs->section, funcs->offset});
    }
    const RelPointer* name = o_.pointer_at(at.section, at.offset + kFuncOldName);
    const RelPointer* fn = o_.pointer_at(at.section, at.offset + kFuncNewFunc);
    return points_to_data(name) && o_.points_to_code(fn);
}

bool KlpWalker::is_terminator(const ArrayKind& kind, Loc at) const {
    return std::all_of(kind.terminator_fields.begin(), kind.terminator_fields.end(), [&](uint64_t field) {
        const auto value = o_.u64_at(at.section, at.offset + field);
        return value && *value == 0 && o_.pointer_at(at.section, at.offset + field) == nullptr;
    });
}

// The element size, from every array of this kind in the patch: a symbol
// that covers an array (st_size = (entries + terminator) * size), else the
// distance to the next entry when it is not another array's start. All
// arrays must agree; 0 means no array has a second entry to step to.
Result<uint64_t> KlpWalker::element_size(const ArrayKind& kind, const std::vector<Loc>& bases) const {
    std::set<uint64_t> sizes;
    for (const Loc& b : bases) {
        const auto sym = std::find_if(o_.symbols().begin(), o_.symbols().end(), [&](const RelSymbol& s) {
            return s.section == b.section && s.value == b.offset && s.size > 0 && s.type == STT_OBJECT;
        });
        const bool has_sym = sym != o_.symbols().end();
        // Entry starts inside the symbol, or the first two without one.
        std::vector<uint64_t> starts;
        if (const auto* slots = o_.pointers_in(b.section)) {
            for (auto it = slots->lower_bound(b.offset + kind.key_slot); it != slots->end(); ++it) {
                const Loc e{b.section, it->first - kind.key_slot};
                if (has_sym ? e.offset >= b.offset + sym->size : starts.size() == 2) break;
                if (is_entry(kind, e)) starts.push_back(e.offset);
            }
        }
        if (has_sym) {
            const uint64_t n = starts.size();
            if (n == 0 || sym->size % (n + 1) != 0) {
                return make_error(o_.name() + ": " + kind.what + " array " + sym->name + " at " + where(b) +
                                  " does not hold whole entries");
            }
            sizes.insert(sym->size / (n + 1));
            continue;
        }
        if (starts.size() < 2) continue;
        const bool next_is_other_array = std::any_of(bases.begin(), bases.end(), [&](const Loc& other) {
            return other.section == b.section && other.offset == starts[1];
        });
        if (!next_is_other_array) sizes.insert(starts[1] - starts[0]);
    }
    if (sizes.size() > 1) return make_error(o_.name() + ": " + kind.what + " arrays disagree on the entry size");
    if (sizes.empty()) return uint64_t{0};
    const uint64_t size = *sizes.begin();
    if (size % 8 != 0 || size < kind.min_size || size > kMaxStructSize) {
        return make_error(o_.name() + ": implausible sizeof(struct " + kind.what + ") " + std::to_string(size));
    }
    return size;
}

// The entries of one array, stopping where the kernel stops. An entry the
// kernel would accept as non-terminator but reject later is an error here.
Result<std::vector<Loc>> KlpWalker::entries(const ArrayKind& kind, Loc base, uint64_t size) const {
    std::vector<Loc> out;
    for (size_t k = 0; k < kMaxEntries; ++k) {
        const Loc e{base.section, base.offset + k * size};
        if (is_entry(kind, e)) {
            out.push_back(e);
            if (size == 0) return out;  // a single entry: nothing to step to
            continue;
        }
        if (k > 0 && is_terminator(kind, e)) return out;
        return make_error(o_.name() + ": " + kind.what + " at " + where(e) +
                          (k == 0 ? " is not a valid entry" : " is neither an entry nor the terminator") +
                          " (the kernel would reject this patch)");
    }
    return make_error(o_.name() + ": " + kind.what + " array at " + where(base) + " has no terminator");
}

Result<std::string> KlpWalker::read_name(const RelPointer* p, Loc at) const {
    return klp_symbol_name(o_, p, where(at));
}

Result<KlpFunc> KlpWalker::read_func(Loc at) const {
    auto name = read_name(o_.pointer_at(at.section, at.offset + kFuncOldName), at);
    if (!name) return name.error();
    if (name->empty()) return make_error(o_.name() + ": klp_func at " + where(at) + " has an empty old_name");
    const auto sympos = o_.u64_at(at.section, at.offset + kFuncOldSympos);
    if (!sympos) return make_error(o_.name() + ": klp_func at " + where(at) + " is cut off");
    return KlpFunc{std::move(*name), *sympos};
}

// .replace sits after .states since v5.5 (0 or a pointer: never the value
// 1); before that, where .states is now. Only a byte of 1 is "true".
bool KlpWalker::read_replace(Loc patch) const {
    const auto after_states = o_.u64_at(patch.section, patch.offset + kPatchReplace);
    if (after_states && (*after_states & 0xff) == 1) return true;
    const bool states_is_pointer = o_.pointer_at(patch.section, patch.offset + kPatchStates) != nullptr;
    const auto at_states = o_.u64_at(patch.section, patch.offset + kPatchStates);
    return !states_is_pointer && at_states && (*at_states & 0xff) == 1;
}

Result<KlpModule> KlpWalker::walk_patch(Loc patch) const {
    const RelPointer* objs = o_.pointer_at(patch.section, patch.offset + kPatchObjs);
    const Loc objs_base{objs->section, objs->offset};
    auto object_size = element_size(kObjects, {objs_base});
    if (!object_size) return object_size.error();
    auto objects = entries(kObjects, objs_base, *object_size);
    if (!objects) return objects.error();

    KlpModule m;
    m.object_size = *object_size;
    m.replace = read_replace(patch);
    std::vector<Loc> func_bases;
    for (const Loc& ob : *objects) {
        const RelPointer* funcs = o_.pointer_at(ob.section, ob.offset + kObjectFuncs);
        func_bases.push_back({funcs->section, funcs->offset});
        KlpObject obj{"vmlinux", {}};  // a NULL name means vmlinux (klp_is_module())
        if (const RelPointer* name = o_.pointer_at(ob.section, ob.offset + kObjectName)) {
            auto n = read_name(name, ob);
            if (!n) return n.error();
            if (!n->empty()) obj.name = std::move(*n);
        } else if (o_.u64_at(ob.section, ob.offset + kObjectName).value_or(1) != 0) {
            return make_error(o_.name() + ": klp_object at " + where(ob) + " has a name that is not a pointer");
        }
        m.objects.push_back(std::move(obj));
    }
    auto func_size = element_size(kFuncs, func_bases);
    if (!func_size) return func_size.error();
    m.func_size = *func_size;
    for (size_t i = 0; i < func_bases.size(); ++i) {
        auto funcs = entries(kFuncs, func_bases[i], *func_size);
        if (!funcs) return funcs.error();
        for (const Loc& f : *funcs) {
            auto func = read_func(f);
            if (!func) return func.error();
            m.objects[i].funcs.push_back(std::move(*func));
        }
    }
    return m;
}

// A klp_patch starts `.mod = THIS_MODULE, .objs = objs`: klp_enable_patch()
// returns -EINVAL without both. Other structures open with THIS_MODULE too
// (file_operations.owner) but do not point at data next; candidates that do
// are confirmed by walking them.
std::vector<Loc> KlpWalker::patch_candidates() const {
    std::vector<Loc> out;
    for (uint32_t s = 1; s < o_.sections().size(); ++s) {
        const auto* slots = o_.pointers_in(s);
        if (slots == nullptr || !o_.sections()[s].is_data()) continue;
        for (const auto& [offset, p] : *slots) {
            if (p.symbol != "__this_module" || p.offset != 0 || offset < kPatchMod) continue;
            const Loc patch{s, offset - kPatchMod};
            if (patch.offset % 8 == 0 && points_to_data(o_.pointer_at(s, patch.offset + kPatchObjs))) {
                out.push_back(patch);
            }
        }
    }
    return out;
}

std::vector<std::string> modinfo(const RelObject& o) {
    std::vector<std::string> out;
    for (const RelSection& s : o.sections()) {
        if (s.name != ".modinfo") continue;
        std::string_view rest(reinterpret_cast<const char*>(s.bytes.data()), s.bytes.size());
        while (!rest.empty()) {
            const auto nul = rest.find('\0');
            if (nul != 0) out.emplace_back(rest.substr(0, nul));
            rest = nul == std::string_view::npos ? std::string_view{} : rest.substr(nul + 1);
        }
    }
    return out;
}

// The kernel only lets a module whose modinfo says livepatch=Y enable a
// patch (kernel/module: check_modinfo_livepatch(); klp_enable_patch() ->
// is_livepatch_module()).
Status check_is_livepatch(const RelObject& o, const std::vector<std::string>& info) {
    if (std::find(info.begin(), info.end(), "livepatch=Y") == info.end()) {
        return make_error(o.name() + " is not a livepatch module (its .modinfo has no livepatch=Y)");
    }
    const bool calls_enable = std::any_of(o.symbols().begin(), o.symbols().end(),
                                          [](const RelSymbol& s) { return s.name == "klp_enable_patch"; });
    if (!calls_enable) return make_error(o.name() + " is not a livepatch module (it never calls klp_enable_patch)");
    return Ok{};
}

KlpModule finish(KlpModule m, const std::string& file, const std::vector<std::string>& info) {
    m.module = file;
    for (const std::string& kv : info) {
        if (kv.rfind("name=", 0) == 0 && kv.size() > 5) m.module = kv.substr(5);
    }
    return m;
}

}  // namespace

std::vector<PatchTarget> KlpModule::targets() const {
    std::vector<PatchTarget> out;
    for (const KlpObject& obj : objects) {
        for (const KlpFunc& f : obj.funcs) out.push_back({obj.name, f.old_name, f.old_sympos});
    }
    return out;
}

Result<KlpModule> read_klp_module_bytes(std::span<const std::byte> bytes, const std::string& name) {
    auto o = RelObject::parse(bytes, name);
    if (!o) return o.error();
    const auto info = modinfo(*o);
    if (auto st = check_is_livepatch(*o, info); !st) return st.error();

    const KlpWalker walker(*o);
    const auto candidates = walker.patch_candidates();
    if (candidates.empty()) {
        auto ext = read_klp_ext_tables(*o);
        if (!ext) return ext.error();
        if (!ext->has_value()) {
            return make_error(name + ": no static struct klp_patch (.mod = THIS_MODULE, .objs = ...) and no "
                                     "klp-build .init.klp_objects found; other modules that build their patch "
                                     "at run time are not supported");
        }
        return finish(std::move(**ext), name, info);
    }
    std::optional<KlpModule> merged;
    std::optional<Error> first_error;
    for (const Loc& c : candidates) {
        auto m = walker.walk_patch(c);
        if (!m) {
            if (!first_error) first_error = m.error();
            continue;
        }
        // Several patches in one module are unusual; checking all their
        // functions errs on the side of finding more blockers.
        if (!merged) {
            merged = std::move(*m);
        } else {
            merged->replace = merged->replace || m->replace;
            for (auto& obj : m->objects) merged->objects.push_back(std::move(obj));
        }
    }
    if (!merged) return *first_error;
    return finish(std::move(*merged), name, info);
}

Result<KlpModule> read_klp_module(const std::string& path) {
    auto file = MappedFile::open(path);
    if (!file) return file.error();
    return read_klp_module_bytes((*file)->bytes(), path);
}

Result<std::vector<PatchTarget>> read_klp_targets(const std::string& path) {
    auto m = read_klp_module(path);
    if (!m) return m.error();
    return m->targets();
}

}  // namespace lpsafe::readers
