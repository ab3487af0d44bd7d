// A Memory that changes another Memory without copying it: some 64-bit words
// patched, one address range hidden (reads stop there, as in a core cut
// short). The mutation test uses it to corrupt real recorded stacks in place.
#pragma once

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>

#include "lpsafe/memory.h"

namespace lpsafe::e2e {

class OverlayMemory final : public Memory {
public:
    explicit OverlayMemory(std::shared_ptr<const Memory> base) : base_(std::move(base)) {
        set_big_endian(base_->big_endian());
    }

    // `value` as read_u64 returns it: stored in the base memory's byte order.
    void patch_u64(uint64_t addr, uint64_t value) { words_[addr] = big_endian() ? __builtin_bswap64(value) : value; }
    // [start, end) reads as unmapped.
    void hide(uint64_t start, uint64_t end) {
        hide_start_ = start;
        hide_end_ = end;
    }
    void reset() {
        words_.clear();
        hide_start_ = hide_end_ = 0;
    }

    size_t read(uint64_t addr, std::span<std::byte> out) const override {
        size_t want = out.size();
        if (hide_end_ > hide_start_) {
            if (addr >= hide_start_ && addr < hide_end_) return 0;
            if (addr < hide_start_ && hide_start_ - addr < want) want = hide_start_ - addr;
        }
        const size_t got = base_->read(addr, out.first(want));
        // Apply every patched word that overlaps [addr, addr + got).
        for (auto it = words_.lower_bound(addr >= 7 ? addr - 7 : 0); it != words_.end() && it->first < addr + got; ++it) {
            std::byte word[8];
            std::memcpy(word, &it->second, sizeof word);
            for (unsigned b = 0; b < 8; ++b) {
                const uint64_t at = it->first + b;
                if (at >= addr && at < addr + got) out[at - addr] = word[b];
            }
        }
        return got;
    }

private:
    std::shared_ptr<const Memory> base_;
    std::map<uint64_t, uint64_t> words_;
    uint64_t hide_start_ = 0;
    uint64_t hide_end_ = 0;
};

}  // namespace lpsafe::e2e
