#include "readers/kernel/kernel_core_memory.h"

#include <elf.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "readers/kernel/pread_all.h"

namespace lpsafe::readers {
namespace {

// QEMU's paging dumps write one PT_LOAD per mapped run of pages: 65,736 for
// a 1.25 GiB guest, past PN_XNUM.
constexpr size_t kMaxPhdrs = 1 << 20;
constexpr size_t kMaxNotes = 16 << 20;

}  // namespace

KernelCoreMemory::~KernelCoreMemory() {
    if (map_ != nullptr) ::munmap(const_cast<std::byte*>(map_), map_size_);
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
    // gABI: with PN_XNUM in e_phnum the real count is section header 0's sh_info.
    uint64_t phnum = eh.e_phnum;
    if (eh.e_phnum == PN_XNUM) {
        Elf64_Shdr sh0{};
        if (eh.e_shoff == 0 || !pread_all(m->fd_, &sh0, sizeof sh0, eh.e_shoff)) {
            return make_error(path + ": PN_XNUM program headers without section header 0");
        }
        phnum = sh0.sh_info;
    }
    if (eh.e_phentsize != sizeof(Elf64_Phdr) || phnum == 0 || phnum > kMaxPhdrs) {
        return make_error(path + ": unusable program header table");
    }
    std::vector<Elf64_Phdr> ph(phnum);
    if (!pread_all(m->fd_, ph.data(), ph.size() * sizeof(Elf64_Phdr), eh.e_phoff)) {
        return make_error(path + ": truncated program header table");
    }
    m->segments_.reserve(ph.size());
    m->physical_.reserve(ph.size());
    for (const Elf64_Phdr& p : ph) {
        if (p.p_type == PT_LOAD && p.p_filesz > 0) {
            // Kernel addresses are the upper half; a dump without paging
            // writes p_vaddr 0, which must not alias low addresses.
            if (p.p_vaddr + p.p_filesz >= p.p_vaddr && (p.p_vaddr >> 63) != 0)
                m->segments_.push_back({p.p_vaddr, p.p_filesz, p.p_offset});
            // /proc/kcore writes -1 where a segment has no physical address.
            if (p.p_paddr + p.p_filesz >= p.p_paddr && p.p_paddr != ~uint64_t{0})
                m->physical_.push_back({p.p_paddr, p.p_filesz, p.p_offset});
        } else if (p.p_type == PT_NOTE && p.p_filesz <= kMaxNotes && m->notes_.empty()) {
            m->notes_.resize(p.p_filesz);
            if (!pread_all(m->fd_, m->notes_.data(), p.p_filesz, p.p_offset)) m->notes_.clear();
        }
    }
    if (m->segments_.empty() && m->physical_.empty())
        return make_error(path + " holds no memory (no PT_LOAD with file contents)");
    for (auto* segs : {&m->segments_, &m->physical_}) {
        std::sort(segs->begin(), segs->end(),
                  [](const KernelCoreSegment& a, const KernelCoreSegment& b) { return a.vaddr < b.vaddr; });
        uint64_t reach = 0;
        for (KernelCoreSegment& seg : *segs) seg.reach = reach = std::max(reach, seg.vaddr + seg.size);
    }
    return m;
}

bool KernelCoreMemory::read_file(std::byte* out, size_t len, uint64_t offset) const {
    if (map_ == nullptr) return pread_all(fd_, out, len, offset);
    if (offset > map_size_ || len > map_size_ - offset) return false;
    std::memcpy(out, map_ + offset, len);
    return true;
}

bool KernelCoreMemory::map_file() {
    struct stat st {};
    if (map_ != nullptr) return true;
    if (::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0) return false;
    void* p = ::mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ, MAP_PRIVATE, fd_, 0);
    if (p == MAP_FAILED) return false;
    map_ = static_cast<const std::byte*>(p);
    map_size_ = static_cast<size_t>(st.st_size);
    return true;
}

void KernelCoreMemory::use_page_tables(uint64_t root, bool five_level) {
    root_ = root;
    five_level_ = five_level;
}

std::optional<uint64_t> KernelCoreMemory::read_physical_u64(uint64_t paddr) const {
    uint64_t v = 0;
    auto bytes = std::as_writable_bytes(std::span(&v, 1));
    if (read_from(physical_, paddr, bytes) != bytes.size()) return std::nullopt;
    return v;
}

// arch/x86/include/asm/pgtable_types.h: present bit, PS (a 1 GiB or 2 MiB
// leaf above the last level), the physical frame in bits 12..51.
std::optional<uint64_t> KernelCoreMemory::translate(uint64_t vaddr) const {
    if (!root_) return std::nullopt;
    constexpr uint64_t kPresent = 1, kLarge = 0x80, kFrame = 0x000ffffffffff000;
    const uint64_t page = vaddr & ~uint64_t{0xfff};
    {
        std::lock_guard lock(cache_mutex_);
        if (auto it = page_cache_.find(page); it != page_cache_.end()) return it->second | (vaddr & 0xfff);
    }
    uint64_t table = *root_;
    std::optional<uint64_t> phys;
    for (int shift = five_level_ ? 48 : 39; shift >= 12; shift -= 9) {
        const auto entry = read_physical_u64(table + ((vaddr >> shift) & 511) * 8);
        if (!entry || (*entry & kPresent) == 0) return std::nullopt;
        if (shift == 12 || ((*entry & kLarge) != 0 && (shift == 30 || shift == 21))) {
            const uint64_t span = uint64_t{1} << shift;
            phys = (*entry & kFrame & ~(span - 1)) | (vaddr & (span - 1));
            break;
        }
        table = *entry & kFrame;
    }
    if (!phys) return std::nullopt;
    std::lock_guard lock(cache_mutex_);
    if (page_cache_.size() > (1u << 20)) page_cache_.clear();
    page_cache_.emplace(page, *phys & ~uint64_t{0xfff});
    return phys;
}

size_t KernelCoreMemory::read(uint64_t addr, std::span<std::byte> out) const {
    size_t done = 0;
    while (done < out.size()) {
        const uint64_t at = addr + done;
        size_t n = read_from(segments_, at, out.subspan(done));
        if (n == 0 && root_) {
            // Page by page: contiguous virtual pages need not be physically so.
            const auto phys = translate(at);
            if (!phys) break;
            const size_t in_page = std::min<size_t>(out.size() - done, 0x1000 - (at & 0xfff));
            n = read_from(physical_, *phys, out.subspan(done, in_page));
        }
        if (n == 0) break;
        done += n;
    }
    return done;
}

size_t KernelCoreMemory::read_from(const std::vector<KernelCoreSegment>& segs, uint64_t addr,
                                   std::span<std::byte> out) const {
    size_t done = 0;
    while (done < out.size()) {
        const uint64_t at = addr + done;
        auto it = std::upper_bound(segs.begin(), segs.end(), at,
                                   [](uint64_t a, const KernelCoreSegment& s) { return a < s.vaddr; });
        // The last segment starting at or below `at`, or an earlier one that
        // reaches further (overlapping PT_LOADs: KernelCoreSegment::reach).
        bool found = false;
        while (it != segs.begin()) {
            --it;
            if (at - it->vaddr < it->size) {
                found = true;
                break;
            }
            if (it->reach <= at) break;
        }
        if (!found) break;
        const size_t n = static_cast<size_t>(std::min<uint64_t>(out.size() - done, it->size - (at - it->vaddr)));
        // /proc/kcore answers a read of memory that is not present (a hole
        // in a vmalloc'd range) with zeros or EIO; EIO ends the read here.
        if (!read_file(out.data() + done, n, it->offset + (at - it->vaddr))) break;
        done += n;
    }
    return done;
}

}  // namespace lpsafe::readers
