// Shared by the two ways a livepatch module can hold its targets: static
// klp_patch tables (klp_module.cpp) and klp-build's external tables
// (klp_module_ext.cpp). Not a public interface.
#pragma once

#include <algorithm>
#include <optional>
#include <string>

#include "lpsafe/result.h"
#include "readers/livepatch/klp_module.h"
#include "readers/livepatch/rel_object.h"

namespace lpsafe::readers {

// KSYM_NAME_LEN (512 since v6.1, 128 before): klp_init_func() rejects a
// longer old_name.
inline constexpr size_t kKsymNameLen = 512;

// The symbol or object name `p` points at: NUL-terminated inside its
// section, printable, no blanks.
inline Result<std::string> klp_symbol_name(const RelObject& o, const RelPointer* p, const std::string& where) {
    auto s = p != nullptr ? o.string_at(p->section, p->offset, kKsymNameLen - 1) : std::nullopt;
    const bool printable = s && std::all_of(s->begin(), s->end(), [](char c) { return c > ' ' && c < 0x7f; });
    if (!printable) return make_error(o.name() + ": the name at " + where + " is not a valid symbol name");
    return std::move(*s);
}

// klp-build modules (v6.19+): the targets in .init.klp_objects (earlier
// "__klp_objects", "klp_objects"). Empty when the module has no such section.
Result<std::optional<KlpModule>> read_klp_ext_tables(const RelObject& o);

}  // namespace lpsafe::readers
