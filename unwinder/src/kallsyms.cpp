#include "lpsafe/kallsyms.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <string>

namespace lpsafe {
namespace {

std::string printable(std::string_view text) {
    std::string out;
    for (const char c : text) out += std::isprint(static_cast<unsigned char>(c)) ? c : '?';
    return out;
}

std::string_view next_field(std::string_view& line) {
    const auto b = line.find_first_not_of(" \t");
    if (b == std::string_view::npos) {
        line = {};
        return {};
    }
    line.remove_prefix(b);
    const auto e = line.find_first_of(" \t");
    std::string_view field = line.substr(0, e);
    line = e == std::string_view::npos ? std::string_view{} : line.substr(e);
    return field;
}

// "ffffffff81000000 T _text" or "ffffffffc0a01000 t fn\t[mod]". The type is
// any one character: nm letters, and '?' for a module symbol outside every
// allocated section (kernel/module/kallsyms.c elf_type(); 6.1 lists a
// livepatch module's whole symtab, e.g. "? __UNIQUE_ID_depends197 [lp]").
// Modules include pseudo-modules: [bpf], [__builtin__ftrace],
// [__builtin__kprobes] (kernel/kallsyms.c kallsyms_on_each_symbol and the
// kallsym_iter for BPF and ftrace/kprobe trampolines).
Result<KernelSymbol> parse_line(std::string_view line, size_t line_no) {
    const auto bad = [&](const char* what) {
        return make_error("kallsyms line " + std::to_string(line_no) + ": " + what + ": '" +
                          printable(line.substr(0, 80)) + "'");
    };
    std::string_view rest = line;
    const std::string_view addr = next_field(rest);
    const std::string_view type = next_field(rest);
    const std::string_view name = next_field(rest);
    const std::string_view module = next_field(rest);
    KernelSymbol s;
    const auto [p, ec] = std::from_chars(addr.data(), addr.data() + addr.size(), s.addr, 16);
    if (ec != std::errc{} || p != addr.data() + addr.size() || addr.empty()) return bad("bad address");
    if (type.size() != 1 || !std::isgraph(static_cast<unsigned char>(type[0]))) return bad("bad symbol type");
    if (name.empty()) return bad("no symbol name");
    if (!std::all_of(name.begin(), name.end(), [](char c) { return std::isgraph(static_cast<unsigned char>(c)); })) {
        return bad("unprintable symbol name");
    }
    s.type = type[0];
    s.name = name;
    if (!module.empty()) {
        if (module.size() < 3 || module.front() != '[' || module.back() != ']') return bad("bad module field");
        s.module = module.substr(1, module.size() - 2);
    }
    if (!next_field(rest).empty()) return bad("trailing text");
    return s;
}

// The name field of a line that did not parse, if it has one: a symbol of
// that name may be missing, so livepatch's sympos cannot be counted for it.
std::string_view name_field(std::string_view line) {
    next_field(line);
    next_field(line);
    return next_field(line);
}

}  // namespace

Result<Kallsyms> Kallsyms::parse(std::string_view text) {
    Kallsyms k;
    k.read_lines(text);
    if (k.symbols_.empty()) {
        return make_error(k.skipped_lines_ == 0 ? "kallsyms is empty"
                                                : "kallsyms has no line lpsafe can read (" + k.notes_.front() + ")");
    }
    if (!k.any_address_) {
        return make_error("kallsyms shows only zero addresses (kernel.kptr_restrict hides them; run as root)");
    }
    k.index(0);
    return k;
}

void Kallsyms::append(std::string_view more) {
    const size_t sorted = symbols_.size();
    read_lines(more);
    if (symbols_.size() != sorted) index(sorted);
}

void Kallsyms::read_lines(std::string_view original) {
    // The name index points into the symbol vector: appending moves it, and
    // index() rebuilds it. The names point into these copies, which never move.
    texts_.push_back(std::make_unique<char[]>(original.size()));
    std::copy(original.begin(), original.end(), texts_.back().get());
    std::string_view text(texts_.back().get(), original.size());
    symbols_.reserve(symbols_.size() + text.size() / 40);
    while (!text.empty()) {
        const auto nl = text.find('\n');
        const std::string_view line = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
        ++lines_read_;
        if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
        auto s = parse_line(line, lines_read_);
        if (!s) {
            // One odd line never sinks the whole table: the symbol is left
            // out (frames in it then fail to resolve: unreliable, not safe).
            note_skipped(s.error().message, name_field(line));
            continue;
        }
        any_address_ = any_address_ || s->addr != 0;
        s->line = static_cast<uint32_t>(symbols_.size());
        symbols_.push_back(std::move(*s));
    }
}

void Kallsyms::index(size_t sorted) {
    const auto by_addr = [](const KernelSymbol& a, const KernelSymbol& b) { return a.addr < b.addr; };
    // vmlinux comes sorted; only module symbols (listed in symtab order) move.
    // Symbols [0, sorted) are already in order: the rest is sorted and merged
    // in, which is the stable sort of the whole (a dump's module symbols
    // join its 100,000 image symbols this way).
    const auto tail = symbols_.begin() + static_cast<std::ptrdiff_t>(sorted);
    if (!std::is_sorted(tail, symbols_.end(), by_addr)) std::stable_sort(tail, symbols_.end(), by_addr);
    std::inplace_merge(symbols_.begin(), tail, symbols_.end(), by_addr);
    sched_ranges_.clear();
    // A symbol's size runs to the next higher address, as the kernel's own
    // lookup (kernel/kallsyms.c get_symbol_pos) computes it for %pB.
    size_t next = symbols_.size();
    for (size_t i = symbols_.size(); i-- > 0;) {
        if (i + 1 < symbols_.size() && symbols_[i + 1].addr != symbols_[i].addr) next = i + 1;
        symbols_[i].size = next < symbols_.size() ? symbols_[next].addr - symbols_[i].addr : 0;
    }
    size_t cap = 16;
    while (cap < symbols_.size() * 2) cap *= 2;
    slots_.assign(cap, 0);
    next_.assign(symbols_.size(), 0);
    const std::hash<std::string_view> hash;
    // Backwards, so that each chain lists its symbols in address order.
    for (size_t i = symbols_.size(); i-- > 0;) {
        for (size_t h = hash(symbols_[i].name) & (cap - 1);; h = (h + 1) & (cap - 1)) {
            if (slots_[h] == 0) {
                slots_[h] = static_cast<uint32_t>(i + 1);
                break;
            }
            if (symbols_[slots_[h] - 1].name == symbols_[i].name) {
                next_[i] = slots_[h];
                slots_[h] = static_cast<uint32_t>(i + 1);
                break;
            }
        }
    }
    const auto range = [this](const char* start, const char* end) {
        const auto s = vmlinux_address(start);
        const auto e = vmlinux_address(end);
        if (s && e && *s < *e) sched_ranges_.push_back({*s, *e});
    };
    range("__sched_text_start", "__sched_text_end");
    range("__lock_text_start", "__lock_text_end");
}

const KernelSymbol* Kallsyms::at(uint64_t addr) const {
    auto it = std::upper_bound(symbols_.begin(), symbols_.end(), addr,
                               [](uint64_t a, const KernelSymbol& s) { return a < s.addr; });
    if (it == symbols_.begin()) return nullptr;
    --it;
    // Several names may share one address; the kernel prints the first.
    while (it != symbols_.begin() && std::prev(it)->addr == it->addr) --it;
    return it->contains(addr) ? &*it : nullptr;
}

const KernelSymbol* Kallsyms::first_named(std::string_view name) const {
    if (slots_.empty()) return nullptr;
    const size_t mask = slots_.size() - 1;
    for (size_t h = std::hash<std::string_view>{}(name) & mask; slots_[h] != 0; h = (h + 1) & mask) {
        if (symbols_[slots_[h] - 1].name == name) return &symbols_[slots_[h] - 1];
    }
    return nullptr;
}

std::vector<const KernelSymbol*> Kallsyms::named_anywhere(std::string_view name) const {
    std::vector<const KernelSymbol*> out;
    const KernelSymbol* s = first_named(name);
    if (s == nullptr) return out;
    for (size_t i = static_cast<size_t>(s - symbols_.data());;) {
        out.push_back(&symbols_[i]);
        if (next_[i] == 0) break;
        i = next_[i] - 1;
    }
    return out;  // in address order (the chains were built backwards)
}

std::vector<const KernelSymbol*> Kallsyms::named(std::string_view name, std::string_view module) const {
    if (module == "vmlinux") module = {};
    std::vector<const KernelSymbol*> out = named_anywhere(name);
    std::erase_if(out, [module](const KernelSymbol* s) { return s->module != module; });
    return out;
}

std::vector<const KernelSymbol*> Kallsyms::named_in_listing_order(std::string_view name,
                                                                 std::string_view module) const {
    std::vector<const KernelSymbol*> out = named(name, module);
    std::sort(out.begin(), out.end(), [](const KernelSymbol* a, const KernelSymbol* b) { return a->line < b->line; });
    return out;
}

std::optional<uint64_t> Kallsyms::vmlinux_address(std::string_view name) const {
    const auto found = named(name, {});
    if (found.empty()) return std::nullopt;
    return found.front()->addr;
}

bool Kallsyms::in_sched_functions(uint64_t addr) const {
    return std::any_of(sched_ranges_.begin(), sched_ranges_.end(),
                       [addr](const AddressRange& r) { return r.contains(addr); });
}

void Kallsyms::note_skipped(const std::string& why, std::string_view name) {
    ++skipped_lines_;
    if (notes_.size() < kMaxNotes) notes_.push_back(why + " (line skipped)");
    if (!name.empty() && skipped_names_.size() < kMaxNotes * 100) skipped_names_.emplace_back(name);
}

bool Kallsyms::name_was_skipped(std::string_view name) const {
    return std::find(skipped_names_.begin(), skipped_names_.end(), name) != skipped_names_.end();
}

bool Kallsyms::has_module(std::string_view module) const {
    if (module.empty() || module == "vmlinux") return true;
    return std::any_of(symbols_.begin(), symbols_.end(), [module](const KernelSymbol& s) { return s.module == module; });
}

}  // namespace lpsafe
