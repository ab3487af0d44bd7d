#include "readers/ptrace/live_memory.h"

#include <poll.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

namespace lpsafe::readers {
namespace {

// The range in `v` (sorted by `start_of`) that holds `addr`, or null.
template <typename T, typename Start, typename End>
const T* holding(const std::vector<T>& v, uint64_t addr, Start start_of, End end_of) {
    auto it = std::upper_bound(v.begin(), v.end(), addr, [&](uint64_t a, const T& x) { return a < start_of(x); });
    if (it == v.begin()) return nullptr;
    --it;
    return addr < end_of(*it) ? &*it : nullptr;
}

}  // namespace

// A pidfd polls readable once the process has exited (zombie or reaped),
// see pidfd_open(2); a pid is never reused before that.
bool pidfd_alive(int pidfd) {
    pollfd p{pidfd, POLLIN, 0};
    return poll(&p, 1, 0) == 0;
}

LiveMemory::LiveMemory(int pid, int pidfd, const std::vector<Mapping>& maps, std::vector<StackCopy> stacks)
    : pid_(pid), pidfd_(pidfd), stacks_(std::move(stacks)) {
    for (const Mapping& m : maps) {
        if (m.readable && !m.writable) live_.push_back(m);
    }
    std::sort(stacks_.begin(), stacks_.end(), [](const StackCopy& a, const StackCopy& b) { return a.addr < b.addr; });
}

LiveMemory::~LiveMemory() {
    if (pidfd_ >= 0) close(pidfd_);
}

size_t LiveMemory::read(uint64_t addr, std::span<std::byte> out) const {
    size_t done = 0;
    while (done < out.size()) {
        const uint64_t at = addr + done;
        if (at < addr) break;  // wrapped around the address space
        size_t n = read_copy(at, out.subspan(done));
        if (n == 0) n = read_live(at, out.subspan(done));
        if (n == 0) break;
        done += n;
    }
    return done;
}

void LiveMemory::copy_now(uint64_t addr, uint64_t size) {
    if (size == 0 || size > (64u << 20)) return;
    StackCopy c{addr, std::vector<std::byte>(size)};
    iovec local{c.bytes.data(), c.bytes.size()};
    iovec remote{reinterpret_cast<void*>(addr), c.bytes.size()};
    const ssize_t n = process_vm_readv(pid_, &local, 1, &remote, 1, 0);
    if (n <= 0 || !pidfd_alive(pidfd_)) return;
    c.bytes.resize(static_cast<size_t>(n));
    // Copies never overlap a stack (a GOT is in a module's data segment).
    const auto at = std::upper_bound(stacks_.begin(), stacks_.end(), addr,
                                     [](uint64_t a, const StackCopy& s) { return a < s.addr; });
    if (at != stacks_.end() && at->addr < addr + c.bytes.size()) return;
    if (at != stacks_.begin() && std::prev(at)->addr + std::prev(at)->bytes.size() > addr) return;
    stacks_.insert(at, std::move(c));
}

size_t LiveMemory::read_copy(uint64_t addr, std::span<std::byte> out) const {
    const StackCopy* s = holding(
        stacks_, addr, [](const StackCopy& c) { return c.addr; },
        [](const StackCopy& c) { return c.addr + c.bytes.size(); });
    if (s == nullptr) return 0;
    const size_t off = static_cast<size_t>(addr - s->addr);
    const size_t n = std::min(out.size(), s->bytes.size() - off);
    std::memcpy(out.data(), s->bytes.data() + off, n);
    return n;
}

size_t LiveMemory::read_live(uint64_t addr, std::span<std::byte> out) const {
    const Mapping* m = holding(
        live_, addr, [](const Mapping& x) { return x.start; }, [](const Mapping& x) { return x.end; });
    if (m == nullptr) return 0;
    const size_t want = static_cast<size_t>(std::min<uint64_t>(out.size(), m->end - addr));
    iovec local{out.data(), want};
    iovec remote{reinterpret_cast<void*>(addr), want};
    const ssize_t n = process_vm_readv(pid_, &local, 1, &remote, 1, 0);
    // Alive after the read means alive during it: the pid was not reused.
    if (n <= 0 || !pidfd_alive(pidfd_)) return 0;
    return static_cast<size_t>(n);
}

}  // namespace lpsafe::readers
