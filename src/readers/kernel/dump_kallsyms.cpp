#include "readers/kernel/dump_kallsyms.h"

#include <fmt/format.h>

#include <array>
#include <cstring>
#include <vector>

namespace lpsafe::readers {
namespace {

// The largest tables a kernel builds: ~200,000 symbols for an allyesconfig.
constexpr uint32_t kMaxSymbols = 1u << 22;
constexpr size_t kTokenTableMax = 1u << 16;  // 256 tokens, each a short string
constexpr size_t kNamesChunk = 1u << 20;

Result<std::vector<std::byte>> read_exact(const Memory& memory, uint64_t addr, size_t size, const char* what) {
    std::vector<std::byte> out(size);
    if (memory.read(addr, out) != size) return make_error(fmt::format("cannot read {} at {:#x} ({} bytes)", what, addr, size));
    return out;
}

// kallsyms_names, read a chunk at a time as the decoder walks it (its size
// is not recorded anywhere the dump names).
class NamesReader {
public:
    NamesReader(const Memory& memory, uint64_t base) : memory_(memory), base_(base) {}
    // The byte at `offset`, or nullopt where memory ends.
    std::optional<uint8_t> at(uint64_t offset) {
        if (offset < start_ || offset >= start_ + buf_.size()) {
            buf_.resize(kNamesChunk);
            buf_.resize(memory_.read(base_ + offset, buf_));
            start_ = offset;
            if (buf_.empty()) return std::nullopt;
        }
        return static_cast<uint8_t>(buf_[offset - start_]);
    }

private:
    const Memory& memory_;
    uint64_t base_;
    uint64_t start_ = 0;
    std::vector<std::byte> buf_;
};

void append_hex16(std::string& out, uint64_t v) {
    static constexpr char kDigits[] = "0123456789abcdef";
    char buf[16];
    for (int i = 15; i >= 0; --i, v >>= 4) buf[i] = kDigits[v & 0xf];
    out.append(buf, sizeof buf);
}

}  // namespace

Result<std::string> kallsyms_from_memory(const Memory& memory, const VmcoreInfo& info,
                                         const DumpKallsymsOptions& options) {
    const auto names_at = info.symbol("kallsyms_names");
    const auto count_at = info.symbol("kallsyms_num_syms");
    const auto table_at = info.symbol("kallsyms_token_table");
    const auto index_at = info.symbol("kallsyms_token_index");
    const auto offsets_at = info.symbol("kallsyms_offsets");
    const auto base_at = info.symbol("kallsyms_relative_base");
    const auto addresses_at = info.symbol("kallsyms_addresses");
    if (!names_at || !count_at || !table_at || !index_at || !((offsets_at && base_at) || addresses_at)) {
        return make_error("VMCOREINFO names no kallsyms tables (SYMBOL(kallsyms_names) and the rest: Linux 6.0 and later)");
    }
    auto count_bytes = read_exact(memory, *count_at, 4, "kallsyms_num_syms");
    if (!count_bytes) return count_bytes.error();
    uint32_t count = 0;
    std::memcpy(&count, count_bytes->data(), 4);
    if (count == 0 || count > kMaxSymbols) return make_error(fmt::format("kallsyms_num_syms is {}: not a symbol table", count));

    auto index_bytes = read_exact(memory, *index_at, 512, "kallsyms_token_index");
    if (!index_bytes) return index_bytes.error();
    std::array<uint16_t, 256> index{};
    std::memcpy(index.data(), index_bytes->data(), 512);
    std::vector<std::byte> table(kTokenTableMax);
    table.resize(memory.read(*table_at, table));
    std::array<std::string, 256> tokens;
    for (size_t i = 0; i < 256; ++i) {
        const size_t from = index[i];
        const auto* p = reinterpret_cast<const char*>(table.data());
        const size_t len = from < table.size() ? strnlen(p + from, table.size() - from) : table.size();
        if (from >= table.size() || from + len == table.size()) {
            return make_error(fmt::format("kallsyms token {} lies outside the token table", i));
        }
        tokens[i].assign(p + from, len);
    }

    std::vector<uint64_t> addresses(count);
    if (offsets_at && base_at) {
        auto offsets = read_exact(memory, *offsets_at, size_t{count} * 4, "kallsyms_offsets");
        auto base_bytes = read_exact(memory, *base_at, 8, "kallsyms_relative_base");
        if (!offsets) return offsets.error();
        if (!base_bytes) return base_bytes.error();
        uint64_t base = 0;
        std::memcpy(&base, base_bytes->data(), 8);
        for (uint32_t i = 0; i < count; ++i) {
            int32_t off = 0;
            std::memcpy(&off, offsets->data() + size_t{i} * 4, 4);
            // kernel/kallsyms.c, kallsyms_sym_address().
            if (!options.absolute_percpu) addresses[i] = base + static_cast<uint32_t>(off);
            else if (off >= 0) addresses[i] = static_cast<uint64_t>(off);
            else addresses[i] = base - 1 - static_cast<int64_t>(off);
        }
    } else {
        auto raw = read_exact(memory, *addresses_at, size_t{count} * 8, "kallsyms_addresses");
        if (!raw) return raw.error();
        std::memcpy(addresses.data(), raw->data(), raw->size());
    }

    // kallsyms_expand_symbol(): a length byte (two when its top bit is set,
    // Linux 6.1's "big" symbols), then that many token indices; the first
    // character of the expansion is the symbol's type.
    NamesReader names(memory, *names_at);
    std::string text;
    text.reserve(size_t{count} * 40);
    std::string expanded;
    uint64_t off = 0;
    for (uint32_t i = 0; i < count; ++i) {
        const auto first = names.at(off++);
        if (!first) return make_error(fmt::format("kallsyms_names ends at symbol {} of {}", i, count));
        unsigned len = *first;
        if ((len & 0x80) != 0) {
            const auto second = names.at(off++);
            if (!second) return make_error(fmt::format("kallsyms_names ends at symbol {} of {}", i, count));
            len = (len & 0x7f) | (unsigned{*second} << 7);
        }
        expanded.clear();
        for (unsigned j = 0; j < len; ++j) {
            const auto token = names.at(off++);
            if (!token) return make_error(fmt::format("kallsyms_names ends inside symbol {} of {}", i, count));
            expanded += tokens[*token];
        }
        if (expanded.size() < 2) return make_error(fmt::format("kallsyms symbol {} has no name", i));
        // "%016lx %c %s\n", by hand: fmt's per-call parsing of the format was
        // most of the decoding time for 100,000 symbols.
        append_hex16(text, addresses[i]);
        text += ' ';
        text += expanded[0];
        text += ' ';
        text.append(expanded, 1);
        text += '\n';
    }
    return text;
}

}  // namespace lpsafe::readers
