// Parsing of /proc/<pid>/task/<tid>/stack, as fs/proc/base.c writes it:
// seq_printf(m, "[<0>] %pB\n", entry). The "<0>" is the hashed-away address.
#include <charconv>

#include "lpsafe/kernel_stack.h"

namespace lpsafe {
namespace {

bool parse_hex(std::string_view s, uint64_t& out) {
    if (s.size() < 3 || s[0] != '0' || s[1] != 'x') return false;
    s.remove_prefix(2);
    const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out, 16);
    return ec == std::errc{} && p == s.data() + s.size();
}

}  // namespace

Result<ListedEntry> parse_stack_line(std::string_view line) {
    const auto bad = [&](const char* what) {
        return make_error(std::string(what) + ": '" + std::string(line.substr(0, 120)) + "'");
    };
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    // The address is printed through %pK-like hashing; only its brackets matter.
    if (line.size() < 6 || line[0] != '[' || line[1] != '<') return bad("not a /proc stack line");
    const auto close = line.find(">] ");
    if (close == std::string_view::npos) return bad("not a /proc stack line");
    std::string_view sym = line.substr(close + 3);
    ListedEntry e;
    if (const auto sp = sym.find(' '); sp != std::string_view::npos) {
        std::string_view module = sym.substr(sp + 1);
        sym = sym.substr(0, sp);
        if (module.size() < 3 || module.front() != '[' || module.back() != ']') return bad("bad module field");
        e.module = std::string(module.substr(1, module.size() - 2));
    }
    if (sym.starts_with("0x")) {
        // kernel/kallsyms.c: an address no symbol covers is printed raw.
        if (!parse_hex(sym, e.raw_address) || !e.module.empty()) return bad("bad raw address");
        return e;
    }
    // func+0xoff/0xsize; a function name may itself contain '+' (never '/').
    const auto slash = sym.rfind('/');
    const auto plus = sym.rfind('+', slash);
    if (slash == std::string_view::npos || plus == std::string_view::npos || plus == 0) {
        return bad("expected func+0xoff/0xsize");
    }
    if (!parse_hex(sym.substr(plus + 1, slash - plus - 1), e.offset) || !parse_hex(sym.substr(slash + 1), e.size)) {
        return bad("bad offset or size");
    }
    e.function = std::string(sym.substr(0, plus));
    return e;
}

Result<std::vector<ListedEntry>> parse_stack_text(std::string_view text) {
    std::vector<ListedEntry> out;
    size_t line_no = 0;
    while (!text.empty()) {
        const auto nl = text.find('\n');
        const std::string_view line = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
        ++line_no;
        if (line.empty()) continue;
        auto e = parse_stack_line(line);
        if (!e) return make_error("line " + std::to_string(line_no) + ": " + e.error().message);
        out.push_back(std::move(*e));
    }
    return out;
}

}  // namespace lpsafe
