// libFuzzer harness for what `check --kernel --vmcore` reads out of a dump:
// the ELF core at kernel virtual addresses (KernelCoreMemory), its
// VMCOREINFO note, the kallsyms tables it names, BTF (libbpf), and an ORC
// table and walk over the dump's memory. Any bytes must give a value or an
// error: no crash, hang, out-of-bounds read or unbounded allocation.
// Seeds: fixtures/fuzz-seeds/kernel_dump/ (make-seeds.sh kernel_dump).
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "lpsafe/orc.h"
#include "readers/kernel/dump_kallsyms.h"
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
    }
    if (fd >= 0) close(fd);
    auto btf = lpsafe::readers::KernelBtf::from_bytes(bytes);
    if (btf.ok()) {
        (void)btf->offset_of("task_struct", "thread.sp");
        (void)btf->size_of("pt_regs");
    }
    return 0;
}
