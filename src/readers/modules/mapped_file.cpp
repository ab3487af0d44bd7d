#include "readers/modules/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace lpsafe::readers {

namespace {

Error os_error(const std::string& what, const std::string& path, int err) {
    return make_error("cannot " + what + " " + path + ": " + std::strerror(err));
}

// Closes the descriptor on every path out of open(); the mapping outlives it.
struct FdGuard {
    int fd;
    ~FdGuard() {
        if (fd >= 0) ::close(fd);
    }
};

}  // namespace

Result<std::shared_ptr<MappedFile>> MappedFile::open(const std::string& path) {
    // O_NONBLOCK: opening a FIFO for reading blocks until a writer appears;
    // this way it opens at once and is refused as not a regular file below.
    FdGuard fd{::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK)};
    if (fd.fd < 0) return os_error("open", path, errno);

    struct stat st {};
    if (::fstat(fd.fd, &st) != 0) return os_error("stat", path, errno);
    // A directory or a FIFO would fail later in mmap with an obscure errno.
    if (!S_ISREG(st.st_mode)) return make_error(path + " is not a regular file");

    const auto size = static_cast<size_t>(st.st_size);
    if (size == 0) return std::shared_ptr<MappedFile>(new MappedFile(path, nullptr, 0));

    // Note: a file truncated by someone else while mapped would raise SIGBUS
    // on access; cores and ELF files are not expected to change under us.
    void* data = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd.fd, 0);
    if (data == MAP_FAILED) return os_error("map", path, errno);
    return std::shared_ptr<MappedFile>(new MappedFile(path, static_cast<const std::byte*>(data), size));
}

MappedFile::~MappedFile() {
    if (data_ != nullptr) ::munmap(const_cast<std::byte*>(data_), size_);
}

}  // namespace lpsafe::readers
