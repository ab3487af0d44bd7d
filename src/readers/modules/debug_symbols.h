// Function symbols for stripped modules, from where Debian's -dbgsym
// packages, binutils and Fedora put them: separate debug files found by
// build-id or .gnu_debuglink, the MiniDebugInfo object in .gnu_debugdata, and
// debuginfod servers. Every candidate is checked to describe the very file
// the process loaded before one name is taken from it. docs/symbols.md.
#pragma once

#include <string>
#include <vector>

#include "lpsafe/module.h"
#include "readers/modules/debuginfod_fetch.h"

namespace lpsafe::readers {

struct DebugSearch {
    // Roots of debug file trees (each holding .build-id/ and a copy of the
    // file system's directories). Empty: <sysroot>/usr/lib/debug.
    std::vector<std::string> dirs;
    std::string sysroot;
};

class DebugSymbolFinder {
public:
    explicit DebugSymbolFinder(DebugSearch search);

    // For a usable module whose file (`opened`, the path actually read) has
    // no .symtab: merges the function symbols of the first source that
    // passes its checks, in this order:
    //   1. <root>/.build-id/xx/rest.debug, for each root: the build-id must match;
    //   2. .gnu_debuglink's name in the file's directory, in .debug/ beside
    //      it, and in <root>/<the file's directory>/: the CRC-32 must match,
    //      and the build-id too when both files have one;
    //   3. .gnu_debugdata (MiniDebugInfo), part of the verified file itself;
    //   4. debuginfod, when DEBUGINFOD_URLS is set: the build-id must match.
    // Sets module.symbols_from, and adds a line to module.symbol_notes for
    // each candidate refused (a missing candidate is not worth a note).
    void add_symbols(Module& module, const std::string& opened);

private:
    enum class Outcome { used, refused, absent };
    Outcome try_debug_file(Module& module, const std::string& opened, const std::string& path,
                           const std::string& how, const uint32_t* crc);
    bool try_debugdata(Module& module, const std::string& opened);
    std::vector<std::string> roots() const;

    DebugSearch search_;
    DebuginfodFetch debuginfod_;
};

}  // namespace lpsafe::readers
