// The functions a kernel livepatch module replaces, read from the .ko file
// without loading it: the module's static `struct klp_patch` -> `klp_object`
// array -> `klp_func` arrays (include/linux/livepatch.h), as the kernel walks
// them in klp_init_patch(). How layouts are found: docs/design.md,
// "Reading patch targets from a livepatch module".
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "lpsafe/patch_set.h"
#include "lpsafe/result.h"

namespace lpsafe::readers {

struct KlpFunc {
    std::string old_name;
    // 0: the name must be unique in the object; N > 0: its Nth occurrence in
    // kallsyms (kernel/livepatch/core.c, klp_find_object_symbol()).
    uint64_t old_sympos = 0;
};

struct KlpObject {
    std::string name;  // "vmlinux" when klp_object.name is NULL or empty
    std::vector<KlpFunc> funcs;
};

struct KlpModule {
    std::string module;  // the module's own name (modinfo name=), else the file name
    std::vector<KlpObject> objects;
    // sizeof(struct klp_object) / sizeof(struct klp_func) as found in the
    // file; 0 when no array had to be stepped through (single entries).
    uint64_t object_size = 0;
    uint64_t func_size = 0;
    // klp_patch.replace (atomic replace, v5.1+): enabling it reverts every
    // older patch's function it does not replace itself. klp-build tables
    // (v6.19+) are read without it; it is then assumed true, which only adds
    // ranges to check.
    bool replace = false;

    std::vector<PatchTarget> targets() const;
};

// Errors (never a crash) for: not ELF, not a relocatable 64-bit LE object,
// truncated or inconsistent headers, a module that is not a livepatch (no
// livepatch=Y modinfo, no klp_enable_patch call, no static klp_patch), or
// tables the kernel itself would reject.
Result<KlpModule> read_klp_module(const std::string& path);
Result<KlpModule> read_klp_module_bytes(std::span<const std::byte> bytes, const std::string& name);

// What `--klp-module` adds to a PatchSet.
Result<std::vector<PatchTarget>> read_klp_targets(const std::string& path);

}  // namespace lpsafe::readers
