// Where an address lies: module and function, at runtime addresses.
#pragma once

#include <cstdint>

#include "lpsafe/frame.h"
#include "lpsafe/process.h"

namespace lpsafe {

// The function is the module's FunctionExtent (symbol, else FDE) at runtime
// addresses: the one notion of "the function containing this address" that
// return-after-call, the call-target rule, its tail-call search and the
// frame-pointer prologue check all use.
struct CodeLocation {
    const Module* module = nullptr;
    const Symbol* symbol = nullptr;  // names the function; null when no symbol covers it
    uint64_t function_start = 0;     // runtime address; valid when function_size > 0
    uint64_t function_size = 0;      // 0: no symbol and no FDE covers the address
    bool has_function() const { return function_size > 0; }
    bool function_contains(uint64_t addr) const {
        return has_function() && addr >= function_start && addr - function_start < function_size;
    }
};

// Symbols and extents come only from verified modules: a mismatched file's
// would describe the wrong function.
CodeLocation locate(const ProcessImage& process, uint64_t addr);

void symbolize(const ProcessImage& process, Frame& frame);

std::string hex_address(uint64_t addr);
// "func+0x12", "libc.so.6+0x1234" or "0x1234".
std::string describe_address(const ProcessImage& process, uint64_t addr);

}  // namespace lpsafe
