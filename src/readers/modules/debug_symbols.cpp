#include "readers/modules/debug_symbols.h"

#include <filesystem>

#include "readers/modules/debug_link.h"
#include "readers/kernel/decompress.h"

namespace lpsafe::readers {

namespace {

// Function symbols of a MiniDebugInfo object are a few hundred KiB for the
// largest libraries; far more is not MiniDebugInfo.
constexpr size_t kMaxDebugdataBytes = 64u << 20;

std::string join(const std::string& root, const std::string& rest) {
    if (root.empty()) return rest;
    std::string r = root;
    while (r.size() > 1 && r.back() == '/') r.pop_back();
    return rest.starts_with('/') ? r + rest : r + "/" + rest;
}

bool same_file(const std::string& a, const std::string& b) {
    std::error_code ec;
    return std::filesystem::equivalent(a, b, ec) && !ec;
}

// The symbols of `debug` merged into the module when it holds a .symtab.
bool merge(Module& module, const ElfImage& debug, const std::string& source) {
    if (!debug.has_symtab()) {
        module.symbol_notes.push_back(source + " holds no .symtab: not used for " + module.path);
        return false;
    }
    module.image->add_symbols(debug.symbols());
    module.symbols_from = source;
    return true;
}

}  // namespace

DebugSymbolFinder::DebugSymbolFinder(DebugSearch search) : search_(std::move(search)) {}

std::vector<std::string> DebugSymbolFinder::roots() const {
    if (!search_.dirs.empty()) return search_.dirs;
    return {join(search_.sysroot, "/usr/lib/debug")};
}

DebugSymbolFinder::Outcome DebugSymbolFinder::try_debug_file(Module& module, const std::string& opened,
                                                             const std::string& path, const std::string& how,
                                                             const uint32_t* crc) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec) || same_file(path, opened)) return Outcome::absent;
    const auto refuse = [&](const std::string& why) {
        module.symbol_notes.push_back(how + " " + path + " for " + module.path + ": " + why + ": not used");
        return Outcome::refused;
    };
    if (crc != nullptr) {
        auto actual = file_crc32(path);
        if (!actual) return refuse(actual.error().message);
        if (*actual != *crc) return refuse("its CRC-32 differs from the one .gnu_debuglink records");
    }
    auto debug = ElfImage::open(path);
    if (!debug) return refuse(debug.error().message);
    const std::string& want = module.image->build_id();
    const std::string& have = (*debug)->build_id();
    // The build-id is the proof a debug file describes the loaded file; a
    // debuglink's CRC stands in for it only when one of them has none.
    if (!want.empty() && !have.empty() && want != have)
        return refuse("build-id " + have + " differs from the module's " + want);
    if (crc == nullptr && (want.empty() || have.empty())) return refuse("no build-id to match");
    return merge(module, **debug, how + " " + path) ? Outcome::used : Outcome::refused;
}

bool DebugSymbolFinder::try_debugdata(Module& module, const std::string& opened) {
    auto sections = read_debug_sections(module.image->file_bytes());
    if (!sections || sections->debugdata.empty()) return false;
    const auto refuse = [&](const std::string& why) {
        module.symbol_notes.push_back(".gnu_debugdata of " + opened + ": " + why + ": not used");
        return false;
    };
    auto bytes = decompress(Compression::xz, sections->debugdata, kMaxDebugdataBytes);
    if (!bytes) return refuse(bytes.error().message);
    auto mini = ElfImage::from_bytes(opened + " [.gnu_debugdata]", std::move(*bytes));
    if (!mini) return refuse(mini.error().message);
    // Part of the verified file itself; a build-id it carries must still agree.
    const std::string& have = (*mini)->build_id();
    if (!have.empty() && have != module.image->build_id())
        return refuse("build-id " + have + " differs from the module's " + module.image->build_id());
    return merge(module, **mini, "MiniDebugInfo (.gnu_debugdata) of " + opened);
}

void DebugSymbolFinder::add_symbols(Module& module, const std::string& opened) {
    if (!module.image || !module.status.usable() || module.image->has_symtab() || !module.path.starts_with('/'))
        return;
    const std::string& build_id = module.image->build_id();
    const auto all_roots = roots();

    if (build_id.size() > 2) {
        const std::string rel = "/.build-id/" + build_id.substr(0, 2) + "/" + build_id.substr(2) + ".debug";
        for (const std::string& root : all_roots)
            if (try_debug_file(module, opened, join(root, rel), "build-id debug file", nullptr) == Outcome::used)
                return;
    }

    auto sections = read_debug_sections(module.image->file_bytes());
    if (!sections) {
        module.symbol_notes.push_back("cannot read the debug sections of " + opened + ": " + sections.error().message);
    } else if (sections->link) {
        const DebugLink& link = *sections->link;
        const std::string opened_dir = std::filesystem::path(opened).parent_path().string();
        const std::string process_dir = std::filesystem::path(module.path).parent_path().string();
        std::vector<std::string> candidates{opened_dir + "/" + link.name, opened_dir + "/.debug/" + link.name};
        for (const std::string& root : all_roots) candidates.push_back(join(root, process_dir + "/" + link.name));
        for (const std::string& c : candidates)
            if (try_debug_file(module, opened, c, ".gnu_debuglink file", &link.crc) == Outcome::used) return;
    }

    if (try_debugdata(module, opened)) return;

    if (build_id.empty() || !DebuginfodFetch::configured()) return;
    bool not_found = false;
    auto path = debuginfod_.debuginfo(build_id, not_found);
    if (!path) {
        // A server that does not have the file is the common case, not news.
        if (!not_found) module.symbol_notes.push_back(path.error().message + " (for " + module.path + ")");
        return;
    }
    try_debug_file(module, opened, *path, "debuginfod download", nullptr);
}

}  // namespace lpsafe::readers
