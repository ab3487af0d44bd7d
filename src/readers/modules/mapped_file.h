// A whole file mapped read-only. Cores can be gigabytes; mapping them lets the
// reader hand out views (notes, segment bytes) without ever copying the file.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string>

#include "lpsafe/result.h"

namespace lpsafe::readers {

class MappedFile {
public:
    // Maps `path` (MAP_PRIVATE, PROT_READ). An empty file is allowed: it maps
    // to an empty span, and the caller says why that is wrong for its input.
    static Result<std::shared_ptr<MappedFile>> open(const std::string& path);

    ~MappedFile();
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;

    const std::string& path() const { return path_; }
    std::span<const std::byte> bytes() const { return {data_, size_}; }

private:
    MappedFile(std::string path, const std::byte* data, size_t size)
        : path_(std::move(path)), data_(data), size_(size) {}

    std::string path_;
    const std::byte* data_ = nullptr;
    size_t size_ = 0;
};

}  // namespace lpsafe::readers
