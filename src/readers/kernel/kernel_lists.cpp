#include "readers/kernel/kernel_lists.h"

#include <fmt/format.h>

#include <cstring>
#include <set>

namespace lpsafe::readers {

std::optional<std::string> read_kernel_string(const Memory& memory, uint64_t addr, size_t max) {
    std::string out(max, '\0');
    const size_t got = memory.read(addr, std::as_writable_bytes(std::span(out)));
    const size_t len = strnlen(out.data(), got);
    if (len == got && got < max) return std::nullopt;
    out.resize(len);
    return out;
}

Status for_each_list_entry(const Memory& memory, uint64_t head, uint64_t member, const char* what,
                           const std::function<Status(uint64_t)>& visit, size_t max_entries) {
    std::set<uint64_t> seen;
    auto next = memory.read_u64(head);
    while (next && *next != head) {
        if (!seen.insert(*next).second || seen.size() > max_entries)
            return make_error(fmt::format("the {} list loops or is corrupt at {:#x}", what, *next));
        if (auto st = visit(*next - member); !st) return st;
        next = memory.read_u64(*next);
    }
    if (!next) return make_error(fmt::format("the {} list is unreadable", what));
    return Ok{};
}

}  // namespace lpsafe::readers
