#include "readers/kernel/kernel_cpus.h"

#include <fmt/format.h>

namespace lpsafe::readers {
namespace {

// NR_CPUS is at most 8192 (arch/x86/Kconfig); a larger nr_cpu_ids is not a
// kernel's.
constexpr uint32_t kMaxCpus = 8192;

Result<uint64_t> symbol(const Kallsyms& kallsyms, const char* name) {
    if (auto a = kallsyms.vmlinux_address(name)) return *a;
    return make_error(fmt::format("kallsyms lacks {} (needed to find every CPU's idle task)", name));
}

}  // namespace

Result<std::vector<OnlineCpu>> read_online_cpus(const Memory& memory, const Kallsyms& kallsyms, const KernelBtf& btf) {
    auto runqueues = symbol(kallsyms, "runqueues");
    auto offsets = symbol(kallsyms, "__per_cpu_offset");
    auto online = symbol(kallsyms, "__cpu_online_mask");
    auto nr = symbol(kallsyms, "nr_cpu_ids");
    for (const auto* r : {&runqueues, &offsets, &online, &nr}) {
        if (!*r) return r->error();
    }
    uint64_t idle_at = 0, curr_at = 0;
    const BtfMember needs[] = {{&idle_at, "rq", "idle"}, {&curr_at, "rq", "curr"}};
    if (auto st = btf.offsets_of(needs); !st) return make_error(st.error().message + " (struct rq)");

    const auto count = memory.read_u32(*nr);
    if (!count || *count == 0 || *count > kMaxCpus) {
        return make_error(count ? fmt::format("nr_cpu_ids is {}, not a CPU count", *count)
                                : std::string("nr_cpu_ids is unreadable"));
    }
    std::vector<OnlineCpu> out;
    for (uint32_t word = 0; word * 64 < *count; ++word) {
        const auto bits = memory.read_u64(*online + word * 8);
        if (!bits) return make_error(fmt::format("__cpu_online_mask is unreadable at {:#x}", *online + word * 8));
        for (uint32_t bit = 0; bit < 64 && word * 64 + bit < *count; ++bit) {
            if (!(*bits >> bit & 1)) continue;
            const unsigned cpu = word * 64 + bit;
            // Per-CPU variables are offsets (x86_64's zero-based per-CPU
            // area; kallsyms shows them unrelocated): cpu_rq(cpu) is
            // runqueues + __per_cpu_offset[cpu].
            const auto base = memory.read_u64(*offsets + uint64_t{cpu} * 8);
            const uint64_t rq = base ? *base + *runqueues : 0;
            const auto idle = base ? memory.read_u64(rq + idle_at) : std::nullopt;
            const auto curr = base ? memory.read_u64(rq + curr_at) : std::nullopt;
            if (!idle || !curr || *idle == 0) {
                return make_error(fmt::format("CPU {}'s run queue is unreadable at {:#x}", cpu, rq));
            }
            out.push_back({cpu, *idle, *curr});
        }
    }
    if (out.empty()) return make_error("__cpu_online_mask names no online CPU");
    return out;
}

}  // namespace lpsafe::readers
