// Reading a whole range of a file at an offset: the dump readers' one
// primitive (KernelCoreMemory, KdumpFileMemory). pread returns short counts
// on large reads and on signals; this loops until done, EOF or an error.
#pragma once

#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>

namespace lpsafe::readers {

// False at end of file or on an error other than EINTR.
inline bool pread_all(int fd, void* buf, size_t len, uint64_t off) {
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

}  // namespace lpsafe::readers
