#include "aarch64_insn.h"

#include <capstone/capstone.h>

#include <array>
#include <cstring>

namespace lpsafe::aarch64 {
namespace {

// One capstone handle per thread: capstone handles are not safe to share.
class Capstone {
public:
    Capstone() {
        if (cs_open(CS_ARCH_ARM64, CS_MODE_LITTLE_ENDIAN, &handle_) == CS_ERR_OK) insn_ = cs_malloc(handle_);
    }
    ~Capstone() {
        if (insn_ != nullptr) cs_free(insn_, 1);
        if (handle_ != 0) cs_close(&handle_);
    }
    Capstone(const Capstone&) = delete;
    Capstone& operator=(const Capstone&) = delete;

    unsigned id(uint32_t word, uint64_t addr) {
        if (insn_ == nullptr) return 0;
        std::array<uint8_t, 4> bytes{};
        std::memcpy(bytes.data(), &word, sizeof word);  // the host is little-endian like the target
        const uint8_t* p = bytes.data();
        size_t size = bytes.size();
        if (!cs_disasm_iter(handle_, &p, &size, &addr, insn_)) return 0;
        return insn_->id;
    }

private:
    csh handle_ = 0;
    cs_insn* insn_ = nullptr;
};

int64_t sign_extend(uint64_t v, unsigned bits) {
    const uint64_t m = uint64_t{1} << (bits - 1);
    return static_cast<int64_t>((v ^ m) - m);
}

}  // namespace

std::optional<uint32_t> read_insn(const ProcessImage& process, uint64_t addr) {
    if (addr % 4 != 0) return std::nullopt;
    std::array<std::byte, 4> b{};
    if (process.read_code(addr, b) != b.size()) return std::nullopt;
    uint32_t word = 0;
    std::memcpy(&word, b.data(), sizeof word);
    return word;
}

unsigned insn_id(uint32_t word, uint64_t addr) {
    thread_local Capstone cs;
    return cs.id(word, addr);
}

bool is_svc0(uint32_t word, uint64_t addr) { return word == kSvc0 && insn_id(word, addr) == ARM64_INS_SVC; }

// BL: 1 00101 imm26; B: 0 00101 imm26 (C6.2.33, C6.2.26).
bool is_bl(uint32_t word) { return (word & 0xfc000000) == 0x94000000; }
bool is_b(uint32_t word) { return (word & 0xfc000000) == 0x14000000; }
uint64_t branch26_target(uint32_t word, uint64_t addr) {
    return addr + static_cast<uint64_t>(sign_extend(word & 0x03ffffff, 26) * 4);
}

std::optional<uint64_t> conditional_target(uint32_t word, uint64_t addr) {
    const bool b_cond = (word & 0xff000010) == 0x54000000;
    const bool cb = (word & 0x7e000000) == 0x34000000;  // cbz / cbnz, 32 or 64 bit
    if (b_cond || cb) return addr + static_cast<uint64_t>(sign_extend((word >> 5) & 0x7ffff, 19) * 4);
    if ((word & 0x7e000000) == 0x36000000) {  // tbz / tbnz
        return addr + static_cast<uint64_t>(sign_extend((word >> 5) & 0x3fff, 14) * 4);
    }
    return std::nullopt;
}

// BLR: 1101011 0001 11111 000000 Rn 00000; BR the same with opc 0000.
bool is_blr(uint32_t word) { return (word & 0xfffffc1f) == 0xd63f0000; }
bool is_br(uint32_t word) { return (word & 0xfffffc1f) == 0xd61f0000; }

}  // namespace lpsafe::aarch64
