#include "readers/kernel/kernel_modules.h"

#include <elf.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <optional>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "readers/kernel/kernel_image_file.h"
#include "readers/kernel/kernel_scan.h"
#include "readers/livepatch/rel_object.h"

namespace lpsafe::readers {
namespace {

namespace fs = std::filesystem;
using State = KernelModuleCode::State;

bool is_module_file(std::string_view name) {
    return name.ends_with(".ko") || name.ends_with(".ko.xz") || name.ends_with(".ko.zst") || name.ends_with(".ko.gz");
}

void add_file(std::map<std::string, std::string>& index, const std::string& path) {
    const std::string name = module_name_of(path);
    auto [it, added] = index.emplace(name, path);
    if (!added && path.find("/updates/") != std::string::npos) it->second = path;
}

// modules.dep: "kernel/fs/ext4/ext4.ko.xz: kernel/lib/crc16.ko.xz ...",
// paths relative to the release directory (or absolute).
std::map<std::string, std::string> from_modules_dep(const std::string& release_dir, std::istream& dep) {
    std::map<std::string, std::string> index;
    std::string line;
    while (std::getline(dep, line)) {
        const auto colon = line.find(':');
        if (colon == std::string::npos || colon == 0) continue;
        const std::string rel = line.substr(0, colon);
        if (!is_module_file(rel)) continue;
        add_file(index, rel.front() == '/' ? rel : release_dir + "/" + rel);
    }
    return index;
}

// The allocated code sections' placements, voted by their functions.
struct Votes {
    std::map<uint64_t, size_t> bases;  // runtime start -> functions agreeing
};

// Where symbol `sym` of the object runs: its placed section's start plus
// its value, or, for an undefined symbol, the one kallsyms address of that
// name (an exported kernel or module function); nullopt when unknown.
std::optional<uint64_t> runtime_address(const RelSymbol& sym, const Kallsyms& kallsyms,
                                        const std::map<uint32_t, Votes>& votes) {
    if (sym.section != 0) {
        const auto v = votes.find(sym.section);
        if (v == votes.end() || v->second.bases.size() != 1) return std::nullopt;
        return v->second.bases.begin()->first + sym.value;
    }
    if (sym.name.empty()) return std::nullopt;
    const auto named = kallsyms.named_anywhere(sym.name);
    if (named.size() != 1) return std::nullopt;
    return named.front()->addr;
}

// Applies the PC-relative relocations of the placed code (S + A - P, as
// arch/x86/kernel/module.c does), so that a `call rel32` in a module frame
// names its callee through Arch::call_target as in vmlinux. A relocation
// whose symbol cannot be resolved leaves its zero bytes: that call then
// points at the next instruction, never at a wrong function.
size_t link_calls(const RelObject& obj, const Kallsyms& kallsyms, const std::map<uint32_t, Votes>& votes,
                  std::vector<CodeRegion>& regions) {
    size_t linked = 0;
    for (const RelCodeReloc& r : obj.code_relocations()) {
        const auto v = votes.find(r.section);
        if (v == votes.end() || v->second.bases.size() != 1) continue;
        const uint64_t base = v->second.bases.begin()->first;
        const auto region = std::find_if(regions.begin(), regions.end(), [&](const CodeRegion& c) { return c.start == base; });
        if (region == regions.end() || r.offset > region->bytes.size() || region->bytes.size() - r.offset < 4) continue;
        const auto target = runtime_address(obj.symbols()[r.symbol], kallsyms, votes);
        if (!target) continue;
        const int64_t value = static_cast<int64_t>(*target + static_cast<uint64_t>(r.addend) - (base + r.offset));
        if (value < INT32_MIN || value > INT32_MAX) continue;
        const auto v32 = static_cast<int32_t>(value);
        std::memcpy(region->bytes.data() + r.offset, &v32, 4);
        ++linked;
    }
    return linked;
}

// The module's ORC table (arch/x86/kernel/unwind_orc.c
// unwind_module_init()): each .orc_unwind_ip slot is a PC32 relocation to
// the code it describes, so its runtime ip is S + A. Entries of sections
// that are not placed (.init.text, freed after loading; a section kallsyms
// names no function in) are left out: objtool ends every section's entries
// with a terminator, so no kept entry reaches into their code.
std::optional<OrcTable> module_orc(const RelObject& obj, const Kallsyms& kallsyms,
                                   const std::map<uint32_t, Votes>& votes) {
    uint32_t ip_sec = 0, orc_sec = 0;
    for (uint32_t i = 0; i < obj.sections().size(); ++i) {
        if (obj.sections()[i].name == ".orc_unwind_ip") ip_sec = i;
        if (obj.sections()[i].name == ".orc_unwind") orc_sec = i;
    }
    if (ip_sec == 0 || orc_sec == 0) return std::nullopt;
    const size_t n = obj.sections()[ip_sec].size / 4;
    const auto entries = obj.sections()[orc_sec].bytes;
    if (entries.size() != n * 6) return std::nullopt;
    std::vector<uint64_t> ips;
    std::vector<std::byte> kept;
    for (const RelCodeReloc& r : obj.code_relocations()) {
        if (r.section != ip_sec || r.offset % 4 != 0 || r.offset / 4 >= n) continue;
        const RelSymbol& sym = obj.symbols()[r.symbol];
        if (sym.section == 0) continue;  // ORC ips point into the module's own code
        const auto target = runtime_address(sym, kallsyms, votes);
        if (!target) continue;
        ips.push_back(*target + static_cast<uint64_t>(r.addend));
        const auto entry = entries.subspan(r.offset / 4 * 6, 6);
        kept.insert(kept.end(), entry.begin(), entry.end());
    }
    if (ips.empty()) return std::nullopt;
    const bool new_layout = std::any_of(obj.sections().begin(), obj.sections().end(),
                                        [](const RelSection& s) { return s.name == ".orc_header"; });
    auto table = OrcTable::from_ips(std::move(ips), kept, new_layout);
    if (!table) return std::nullopt;
    return std::move(*table);
}

}  // namespace

std::string module_name_of(std::string_view file_or_name) {
    const auto slash = file_or_name.rfind('/');
    if (slash != std::string_view::npos) file_or_name.remove_prefix(slash + 1);
    const auto ko = file_or_name.find(".ko");
    if (ko != std::string_view::npos) file_or_name = file_or_name.substr(0, ko);
    std::string name(file_or_name);
    std::replace(name.begin(), name.end(), '-', '_');
    return name;
}

Result<std::map<std::string, std::string>> index_module_files(const std::string& release_dir) {
    std::error_code ec;
    if (!fs::is_directory(release_dir, ec)) return make_error("no module directory " + release_dir);
    if (std::ifstream dep(release_dir + "/modules.dep"); dep) {
        auto index = from_modules_dep(release_dir, dep);
        if (!index.empty()) return index;
    }
    std::map<std::string, std::string> index;
    // Symlinks are not followed: build/ and source/ point at kernel sources.
    fs::recursive_directory_iterator it(release_dir, fs::directory_options::skip_permission_denied, ec);
    if (ec) return make_error("cannot list " + release_dir + ": " + ec.message());
    for (const fs::recursive_directory_iterator end; it != end; it.increment(ec)) {
        if (ec) return make_error("cannot list " + release_dir + ": " + ec.message());
        if (it->is_regular_file(ec) && is_module_file(it->path().filename().string())) add_file(index, it->path().string());
    }
    return index;
}

PlacedModule place_module(const std::string& module, const std::string& path, std::string_view loaded_build_id,
                          const Kallsyms& kallsyms) {
    PlacedModule out;
    out.code.name = module;
    out.code.path = path;
    const auto fail = [&](State s, std::string why) {
        out.code.state = s;
        out.code.detail = std::move(why);
        out.regions.clear();
        return std::move(out);
    };
    auto bytes = read_module_file(path);
    if (!bytes) return fail(State::unreadable, bytes.error().message);
    auto obj = RelObject::parse(*bytes, path);
    if (!obj) return fail(State::unreadable, obj.error().message);
    for (const RelSection& s : obj->sections()) {
        if (s.name == ".note.gnu.build-id") {
            out.code.build_id = build_id_from_notes({reinterpret_cast<const char*>(s.bytes.data()), s.bytes.size()});
        }
    }
    if (loaded_build_id.empty()) {
        return fail(State::unverified, "the loaded module's build-id is unknown (/sys/module/" + module +
                                           "/notes/.note.gnu.build-id), so " + path + " cannot be verified");
    }
    if (out.code.build_id != loaded_build_id) {
        return fail(State::mismatch, fmt::format("{} has build-id {} but the loaded module has {}", path,
                                                 out.code.build_id.empty() ? "(none)" : out.code.build_id, loaded_build_id));
    }
    std::map<uint32_t, Votes> votes;
    for (const RelSymbol& sym : obj->symbols()) {
        if (sym.type != STT_FUNC || sym.name.empty() || !obj->section_valid(sym.section)) continue;
        if (!obj->sections()[sym.section].is_code()) continue;
        // .init* is freed once the module's init has run (kernel/module/main.c
        // do_init_module(): module_memfree of the init layout). A livepatch
        // module's kallsyms still lists its init functions (kallsyms.c
        // layout_symtab keeps a livepatch module's whole symtab) at the freed
        // addresses, where the next module loaded may now be: placing
        // .init.text there would claim that module's code and ORC range.
        // Nothing is placed there, so a frame in it is unknown: unreliable.
        if (obj->sections()[sym.section].name.starts_with(".init")) continue;
        const auto named = kallsyms.named(sym.name, module);
        if (named.size() != 1 || named.front()->addr < sym.value) continue;  // a static name used twice: no vote
        ++votes[sym.section].bases[named.front()->addr - sym.value];
    }
    for (const auto& [index, v] : votes) {
        const RelSection& s = obj->sections()[index];
        if (v.bases.size() != 1) {
            return fail(State::unreadable, fmt::format("{}: the functions of {} disagree about where it was loaded "
                                                       "({} different starts): not the loaded module's layout",
                                                       path, s.name, v.bases.size()));
        }
        if (s.type == SHT_NOBITS) continue;
        out.regions.push_back({v.bases.begin()->first, {s.bytes.begin(), s.bytes.end()}, s.name});
    }
    if (out.regions.empty()) {
        return fail(State::unreadable, path + ": none of its functions is in kallsyms for module " + module);
    }
    out.code.linked_calls = link_calls(*obj, kallsyms, votes, out.regions);
    std::sort(out.regions.begin(), out.regions.end(), [](const CodeRegion& a, const CodeRegion& b) { return a.start < b.start; });
    for (size_t i = 1; i < out.regions.size(); ++i) {
        const CodeRegion& prev = out.regions[i - 1];
        if (prev.start + prev.bytes.size() > out.regions[i].start) {
            return fail(State::unreadable, fmt::format("{}: sections {} and {} would overlap at their kallsyms addresses",
                                                       path, prev.section, out.regions[i].section));
        }
    }
    out.orc = module_orc(*obj, kallsyms, votes);
    out.code.state = State::used;
    return out;
}

}  // namespace lpsafe::readers
