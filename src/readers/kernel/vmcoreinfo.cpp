#include "readers/kernel/vmcoreinfo.h"

#include <charconv>

#include "readers/core/core_notes.h"

namespace lpsafe::readers {

Result<VmcoreInfo> VmcoreInfo::from_notes(std::span<const std::byte> notes) {
    auto parsed = parse_notes(notes);
    if (!parsed) return parsed.error();
    for (const Note& n : *parsed) {
        if (n.name != "VMCOREINFO") continue;
        return parse({reinterpret_cast<const char*>(n.desc.data()), n.desc.size()});
    }
    return make_error("the dump has no VMCOREINFO note");
}

VmcoreInfo VmcoreInfo::parse(std::string_view text) {
    VmcoreInfo info;
    while (!text.empty()) {
        const size_t nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
        while (!line.empty() && (line.back() == '\0' || line.back() == '\r')) line.remove_suffix(1);
        if (line.empty()) continue;
        const size_t eq = line.find('=');
        if (eq == 0 || eq == std::string_view::npos) {
            ++info.skipped_;
            continue;
        }
        info.entries_.emplace(std::string(line.substr(0, eq)), std::string(line.substr(eq + 1)));
    }
    return info;
}

std::optional<std::string> VmcoreInfo::value(std::string_view key) const {
    const auto it = entries_.find(key);
    if (it == entries_.end()) return std::nullopt;
    return it->second;
}

std::optional<uint64_t> VmcoreInfo::hex(std::string_view key) const {
    const auto v = value(key);
    if (!v || v->empty()) return std::nullopt;
    uint64_t out = 0;
    const auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), out, 16);
    if (ec != std::errc{} || end != v->data() + v->size()) return std::nullopt;
    return out;
}

std::optional<uint64_t> VmcoreInfo::number(std::string_view name) const {
    const auto v = value("NUMBER(" + std::string(name) + ")");
    if (!v || v->empty()) return std::nullopt;
    int64_t out = 0;
    const auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), out, 10);
    if (ec != std::errc{} || end != v->data() + v->size()) return std::nullopt;
    return static_cast<uint64_t>(out);
}

std::optional<uint64_t> VmcoreInfo::symbol(std::string_view name) const {
    return hex("SYMBOL(" + std::string(name) + ")");
}

}  // namespace lpsafe::readers
