#include "symbolize.h"

#include <cstdio>

#include "site_cache.h"

namespace lpsafe {

CodeLocation locate(const ProcessImage& process, uint64_t addr) {
    CodeLocation loc;
    loc.module = process.modules.find(addr);
    if (loc.module == nullptr || !loc.module->image || !loc.module->status.usable()) return loc;
    if (process.on_function_lookup) process.on_function_lookup(*loc.module, addr - loc.module->bias);
    const auto fn = loc.module->image->function_at(addr - loc.module->bias);
    if (!fn) return loc;
    loc.symbol = fn->symbol;
    loc.function_start = fn->start + loc.module->bias;
    loc.function_size = fn->size;
    return loc;
}

namespace {

void name_frame(const CodeLocation& loc, Frame& frame) {
    frame.object = loc.module != nullptr ? loc.module->name : std::string();
    if (loc.symbol != nullptr) {
        frame.function = loc.symbol->name;
        frame.offset = frame.pc - loc.function_start;
    } else {
        frame.function.clear();
        frame.offset = loc.module != nullptr ? frame.pc - loc.module->start : 0;
    }
}

}  // namespace

void symbolize(const ProcessImage& process, Frame& frame) { name_frame(locate(process, frame.lookup_address()), frame); }

void symbolize(SiteCache& cache, Frame& frame) { name_frame(cache.location(frame.lookup_address()), frame); }

std::string hex_address(uint64_t addr) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(addr));
    return buf;
}

std::string describe_address(const ProcessImage& process, uint64_t addr) {
    const CodeLocation loc = locate(process, addr);
    if (loc.symbol != nullptr) return loc.symbol->name + "+" + hex_address(addr - loc.function_start);
    if (loc.module != nullptr) return loc.module->name + "+" + hex_address(addr - loc.module->start);
    return hex_address(addr);
}

}  // namespace lpsafe
