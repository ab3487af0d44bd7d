// libFuzzer harness for what `check --kernel --vmcore` reads out of a dump:
// the ELF core at kernel virtual addresses (KernelCoreMemory), or
// makedumpfile's compressed kdump format, plain or flattened, through
// libkdumpfile (KdumpFileMemory: lpsafe's own checks of the header and the
// rearranging of a flattened file, then libkdumpfile's reading of headers,
// bitmaps, page descriptors, zlib pages and page tables); its VMCOREINFO,
// the kallsyms tables it names, BTF (libbpf), and an ORC table and walk over
// the dump's memory. Any bytes must give a value or an error: no crash,
// hang, out-of-bounds read or unbounded allocation.
// Seeds: fixtures/fuzz-seeds/kernel_dump/ (make-seeds.sh kernel_dump).
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#include <sanitizer/lsan_interface.h>
#define LPSAFE_FUZZ_LSAN 1
#endif
#endif

#include "lpsafe/orc.h"
#include "readers/kernel/dump_kallsyms.h"
#include "readers/kernel/kdump_memory.h"
#include "readers/kernel/kernel_btf.h"
#include "readers/kernel/kernel_core_memory.h"
#include "readers/kernel/vmcoreinfo.h"

namespace {

// KernelCoreMemory reads a path (it preads /proc/kcore): the input goes
// into a memory file.
std::string as_file(const uint8_t* data, size_t size, int& fd) {
    fd = memfd_create("fuzz-dump", MFD_CLOEXEC);
    if (fd < 0) return {};
    if (size > 0 && write(fd, data, size) != static_cast<ssize_t>(size)) return {};
    return "/proc/self/fd/" + std::to_string(fd);
}

void walk(const lpsafe::Memory& memory, std::span<const std::byte> bytes) {
    // An ORC table from the input's first bytes: 8 ips and their entries.
    if (bytes.size() < 8 * 8 + 8 * 6 + 24) return;
    std::vector<uint64_t> ips(8);
    std::memcpy(ips.data(), bytes.data(), 64);
    auto table = lpsafe::OrcTable::from_ips(ips, bytes.subspan(64, 48), (bytes[0] & std::byte{1}) != std::byte{0});
    if (!table.ok()) return;
    lpsafe::KernelOrc orc;
    orc.add(0, ~uint64_t{0}, &*table, 0);
    lpsafe::OrcStart start;
    std::memcpy(&start.ip, bytes.data() + 112, 8);
    std::memcpy(&start.sp, bytes.data() + 120, 8);
    std::memcpy(&start.bp, bytes.data() + 128, 8);
    lpsafe::OrcWalkLimits limits;
    limits.stack_low = start.sp & ~uint64_t{0x3fff};
    limits.stack_high = limits.stack_low + 0x4000;
    (void)lpsafe::orc_walk(memory, orc, start, limits);
}

// KdumpFileMemory never frees its libkdumpfile context (kdump_free() of
// libkdumpfile 0.5.1 touches freed memory; kdump_memory.cpp): its caches
// (three 4 MiB buffers; 4-5 MB of RSS per dump under ASan) stay allocated. The
// harness does not report that as a leak (LeakSanitizer is paused while a
// dump is opened and read: lpsafe's own code on that path is the ELF
// path's, fuzzed with leak checks above) and opens at most kMaxKdumpOpens
// dumps per process, so that the fuzzer stays inside its memory limit
// (-rss_limit_mb=2048); later compressed inputs go through the ELF reader
// and BTF only.
constexpr int kMaxKdumpOpens = 200;

void kdump(const std::string& path, std::span<const std::byte> bytes) {
    static int opens = 0;
    if (opens >= kMaxKdumpOpens || !lpsafe::readers::looks_like_kdump_file(path)) return;
    ++opens;
#ifdef LPSAFE_FUZZ_LSAN
    __lsan_disable();
#endif
    auto memory = lpsafe::readers::KdumpFileMemory::open(path);
    if (memory.ok()) {
        const auto info = lpsafe::readers::VmcoreInfo::parse((*memory)->vmcoreinfo());
        (void)lpsafe::readers::kallsyms_from_memory(**memory, info);
        walk(**memory, bytes);
    }
#ifdef LPSAFE_FUZZ_LSAN
    __lsan_enable();
#endif
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
    int fd = -1;
    const std::string path = as_file(data, size, fd);
    if (!path.empty()) {
        auto memory = lpsafe::readers::KernelCoreMemory::open(path);
        if (memory.ok()) {
            auto info = lpsafe::readers::VmcoreInfo::from_notes((*memory)->notes());
            if (info.ok()) (void)lpsafe::readers::kallsyms_from_memory(**memory, *info);
            walk(**memory, bytes);
        }
        kdump(path, bytes);
    }
    if (fd >= 0) close(fd);
    auto btf = lpsafe::readers::KernelBtf::from_bytes(bytes);
    if (btf.ok()) {
        (void)btf->offset_of("task_struct", "thread.sp");
        (void)btf->size_of("pt_regs");
    }
    return 0;
}
