#include "readers/kernel/kernel_core_memory.h"

#include <elf.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace lpsafe::readers {
namespace {

constexpr size_t kMaxPhdrs = 1 << 16;
constexpr size_t kMaxNotes = 16 << 20;

bool pread_all(int fd, void* buf, size_t len, uint64_t off) {
    auto* p = static_cast<char*>(buf);
    while (len > 0) {
        const ssize_t n = ::pread(fd, p, len, static_cast<off_t>(off));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        p += n;
        len -= static_cast<size_t>(n);
        off += static_cast<uint64_t>(n);
    }
    return true;
}

}  // namespace

KernelCoreMemory::~KernelCoreMemory() {
    if (fd_ >= 0) ::close(fd_);
}

Result<std::shared_ptr<KernelCoreMemory>> KernelCoreMemory::open(const std::string& path) {
    std::shared_ptr<KernelCoreMemory> m(new KernelCoreMemory);
    m->fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (m->fd_ < 0) return make_error("cannot open " + path + ": " + std::strerror(errno));
    Elf64_Ehdr eh{};
    if (!pread_all(m->fd_, &eh, sizeof eh, 0)) return make_error(path + ": too short for an ELF header");
    if (std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
        eh.e_ident[EI_DATA] != ELFDATA2LSB) {
        return make_error(path + " is not a 64-bit little-endian ELF file");
    }
    if (eh.e_type != ET_CORE) return make_error(path + " is not an ELF core");
    if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 || eh.e_phnum > kMaxPhdrs) {
        return make_error(path + ": unusable program header table");
    }
    std::vector<Elf64_Phdr> ph(eh.e_phnum);
    if (!pread_all(m->fd_, ph.data(), ph.size() * sizeof(Elf64_Phdr), eh.e_phoff)) {
        return make_error(path + ": truncated program header table");
    }
    for (const Elf64_Phdr& p : ph) {
        if (p.p_type == PT_LOAD && p.p_filesz > 0) {
            if (p.p_vaddr + p.p_filesz < p.p_vaddr) continue;  // wraps: ignore
            m->segments_.push_back({p.p_vaddr, p.p_filesz, p.p_offset});
        } else if (p.p_type == PT_NOTE && p.p_filesz <= kMaxNotes && m->notes_.empty()) {
            m->notes_.resize(p.p_filesz);
            if (!pread_all(m->fd_, m->notes_.data(), p.p_filesz, p.p_offset)) m->notes_.clear();
        }
    }
    if (m->segments_.empty()) return make_error(path + " holds no memory (no PT_LOAD with file contents)");
    std::sort(m->segments_.begin(), m->segments_.end(),
              [](const KernelCoreSegment& a, const KernelCoreSegment& b) { return a.vaddr < b.vaddr; });
    return m;
}

size_t KernelCoreMemory::read(uint64_t addr, std::span<std::byte> out) const {
    size_t done = 0;
    while (done < out.size()) {
        const uint64_t at = addr + done;
        auto it = std::upper_bound(segments_.begin(), segments_.end(), at,
                                   [](uint64_t a, const KernelCoreSegment& s) { return a < s.vaddr; });
        if (it == segments_.begin()) break;
        --it;
        if (at - it->vaddr >= it->size) break;
        const size_t n = static_cast<size_t>(std::min<uint64_t>(out.size() - done, it->size - (at - it->vaddr)));
        // /proc/kcore answers a read of memory that is not present (a hole
        // in a vmalloc'd range) with zeros or EIO; EIO ends the read here.
        if (!pread_all(fd_, out.data() + done, n, it->offset + (at - it->vaddr))) break;
        done += n;
    }
    return done;
}

}  // namespace lpsafe::readers
