// Where an address lies: module and function, at runtime addresses.
#pragma once

#include <cstdint>

#include "lpsafe/frame.h"
#include "lpsafe/process.h"

namespace lpsafe {

struct CodeLocation {
    const Module* module = nullptr;
    const Symbol* symbol = nullptr;  // null when no symbol covers the address
    uint64_t function_start = 0;     // runtime address of symbol->start
};

// Symbols come only from verified modules: a mismatched file's symbols would
// name the wrong function.
CodeLocation locate(const ProcessImage& process, uint64_t addr);

void symbolize(const ProcessImage& process, Frame& frame);

std::string hex_address(uint64_t addr);
// "func+0x12", "libc.so.6+0x1234" or "0x1234".
std::string describe_address(const ProcessImage& process, uint64_t addr);

}  // namespace lpsafe
