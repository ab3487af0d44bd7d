#include "word_insn.h"

#include <array>
#include <cstdio>
#include <cstring>
#include <span>

namespace lpsafe::arch_common {

namespace {
constexpr uint64_t kMaxFunction = 256 * 1024;
}

std::optional<uint32_t> read_word(const ProcessImage& process, uint64_t addr) {
    if (addr % 4 != 0) return std::nullopt;
    std::array<std::byte, 4> b{};
    if (process.read_code(addr, b) != b.size()) return std::nullopt;
    uint32_t word = 0;
    std::memcpy(&word, b.data(), sizeof word);  // the host is little-endian like the targets
    return word;
}

std::vector<uint32_t> read_words(const ProcessImage& process, uint64_t fn_start, uint64_t fn_size) {
    if (fn_size == 0 || fn_size > kMaxFunction || fn_start % 4 != 0) return {};
    std::vector<uint32_t> words(fn_size / 4);
    const size_t got = process.read_code(fn_start, std::as_writable_bytes(std::span(words)));
    words.resize(got / 4);
    return words;
}

WordDecoder::WordDecoder(cs_arch arch, cs_mode mode) {
    if (cs_open(arch, mode, &handle_) == CS_ERR_OK) insn_ = cs_malloc(handle_);
}

WordDecoder::~WordDecoder() {
    if (insn_ != nullptr) cs_free(insn_, 1);
    if (handle_ != 0) cs_close(&handle_);
}

unsigned WordDecoder::id(uint32_t word, uint64_t addr) {
    if (insn_ == nullptr) return 0;
    std::array<uint8_t, 4> bytes{};
    std::memcpy(bytes.data(), &word, sizeof word);
    const uint8_t* p = bytes.data();
    size_t size = bytes.size();
    if (!cs_disasm_iter(handle_, &p, &size, &addr, insn_)) return 0;
    return insn_->id;
}

int64_t sign_extend(uint64_t v, unsigned bits) {
    const uint64_t m = uint64_t{1} << (bits - 1);
    return static_cast<int64_t>((v ^ m) - m);
}

bool outside(uint64_t to, uint64_t fn_start, uint64_t fn_size) { return to < fn_start || to - fn_start >= fn_size; }

std::optional<uint64_t> got_slot(const ProcessImage& process, uint64_t slot) {
    return process.memory ? process.memory->read_u64(slot) : std::nullopt;
}

std::string hex(uint64_t v) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
    return buf;
}

}  // namespace lpsafe::arch_common
