// What aarch64 and ppc64le share as fixed-width instruction sets: every
// instruction is one 32-bit little-endian word at a 4-aligned address, so
// a rule reads exactly the word it needs (no sweep), and a function is an
// array of words. Capstone names the word; each architecture folder keeps
// only its encodings.
#pragma once

#include <capstone/capstone.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "lpsafe/process.h"

namespace lpsafe::arch_common {

// The word at `addr`, read as the process ran it (memory first, then the
// verified module file); nullopt when unreadable or misaligned.
std::optional<uint32_t> read_word(const ProcessImage& process, uint64_t addr);

// The words of [fn_start, fn_start + fn_size) that read, in order; empty
// when the size is 0, over 256 KiB, or the start is misaligned.
std::vector<uint32_t> read_words(const ProcessImage& process, uint64_t fn_start, uint64_t fn_size);

// One capstone handle per thread and architecture (handles are not safe to
// share): capstone's instruction id for `word` at `addr`, 0 when it does
// not decode (or capstone lacks the architecture).
class WordDecoder {
public:
    WordDecoder(cs_arch arch, cs_mode mode);
    ~WordDecoder();
    WordDecoder(const WordDecoder&) = delete;
    WordDecoder& operator=(const WordDecoder&) = delete;
    unsigned id(uint32_t word, uint64_t addr);

private:
    csh handle_ = 0;
    cs_insn* insn_ = nullptr;
};

int64_t sign_extend(uint64_t v, unsigned bits);
bool outside(uint64_t to, uint64_t fn_start, uint64_t fn_size);
// A GOT or PLT slot as the process had it: from memory only, never from
// the file, whose copy holds the unrelocated value.
std::optional<uint64_t> got_slot(const ProcessImage& process, uint64_t slot);
std::string hex(uint64_t v);

}  // namespace lpsafe::arch_common
