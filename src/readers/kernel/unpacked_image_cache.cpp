#include "readers/kernel/unpacked_image_cache.h"

#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "readers/modules/mapped_file.h"

namespace lpsafe::readers {
namespace {

namespace fs = std::filesystem;

std::string hash_of(std::span<const std::byte> bytes) {
    return fmt::format("{:016x}", XXH3_64bits(bytes.data(), bytes.size()));
}

constexpr std::string_view kSuffix = ".vmlinux";

// The entries of `dir` for the packed file hashed `packed`.
std::vector<fs::path> entries_for(const std::string& dir, const std::string& packed) {
    std::vector<fs::path> out;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
        const std::string name = e.path().filename().string();
        if (name.size() == 16 + 1 + 16 + kSuffix.size() && name.starts_with(packed + "-") && name.ends_with(kSuffix)) {
            out.push_back(e.path());
        }
    }
    return out;
}

// Whether files in `dir` can be trusted to be what lpsafe wrote: a
// directory others may write to could hold a planted "kernel" whose code
// and ORC tables say what its author wants, build-id included. As ssh does
// with its keys: owned by this user, writable by no one else.
Status trusted_dir(const std::string& dir) {
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0) return make_error(fmt::format("cannot stat {}: {}", dir, std::strerror(errno)));
    if (!S_ISDIR(st.st_mode)) return make_error(dir + " is not a directory");
    if (st.st_uid != ::geteuid()) return make_error(fmt::format("{} belongs to uid {}, not this user", dir, st.st_uid));
    if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) return make_error(dir + " is writable by others");
    return Ok{};
}

bool owned_by_me(const fs::path& file) {
    struct stat st {};
    return ::lstat(file.c_str(), &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == ::geteuid();
}

// Whether the entry's content still hashes to `want` (the second half of
// its name).
bool intact(const fs::path& entry, const std::string& want) {
    auto mapped = MappedFile::open(entry.string());
    return mapped && hash_of((*mapped)->bytes()) == want;
}

// Removes all but the kKeep newest entries.
void prune(const std::string& dir) {
    std::vector<std::pair<fs::file_time_type, fs::path>> entries;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
        if (!e.path().filename().string().ends_with(kSuffix)) continue;
        entries.emplace_back(e.last_write_time(ec), e.path());
    }
    if (entries.size() <= UnpackedImageCache::kKeep) return;
    std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    for (size_t i = UnpackedImageCache::kKeep; i < entries.size(); ++i) fs::remove(entries[i].second, ec);
}

}  // namespace

std::shared_ptr<ElfImage> UnpackedImageCache::find(std::span<const std::byte> packed, const std::string& name) const {
    if (dir_.empty() || !trusted_dir(dir_)) return nullptr;
    for (const fs::path& entry : entries_for(dir_, hash_of(packed))) {
        std::error_code ec;
        if (!owned_by_me(entry)) continue;
        if (!intact(entry, entry.filename().string().substr(17, 16))) {
            fs::remove(entry, ec);  // cut short or changed on disk: never read as code
            continue;
        }
        auto elf = ElfImage::open(entry.string(), name);
        if (elf) {
            fs::last_write_time(entry, fs::file_time_type::clock::now(), ec);  // recently used: kept longest
            return *elf;
        }
        fs::remove(entry, ec);
    }
    return nullptr;
}

Status UnpackedImageCache::store(std::span<const std::byte> packed, std::span<const std::byte> unpacked) const {
    if (dir_.empty()) return Ok{};
    std::error_code ec;
    if (fs::create_directories(dir_, ec)) fs::permissions(dir_, fs::perms::owner_all, ec);
    if (ec) return make_error(fmt::format("cannot create {}: {}", dir_, ec.message()));
    if (auto st = trusted_dir(dir_); !st) return st.error();
    const fs::path final_path = fs::path(dir_) / (hash_of(packed) + "-" + hash_of(unpacked) + std::string(kSuffix));
    const fs::path tmp = fs::path(dir_) / fmt::format(".{}.{}.tmp", final_path.filename().string(), ::getpid());
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        out.write(reinterpret_cast<const char*>(unpacked.data()), static_cast<std::streamsize>(unpacked.size()));
        out.close();
        if (!out) {
            fs::remove(tmp, ec);
            return make_error(fmt::format("cannot write {}: {}", tmp.string(), std::strerror(errno)));
        }
    }
    fs::rename(tmp, final_path, ec);
    if (ec) {
        fs::remove(tmp, ec);
        return make_error(fmt::format("cannot rename into {}: {}", final_path.string(), ec.message()));
    }
    prune(dir_);
    return Ok{};
}

std::string default_image_cache_dir() {
    if (const char* set = std::getenv("LPSAFE_IMAGE_CACHE")) return set;
    if (::geteuid() == 0) return "/var/cache/lpsafe/vmlinux";
    if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg != nullptr && *xdg == '/') {
        return std::string(xdg) + "/lpsafe/vmlinux";
    }
    if (const char* home = std::getenv("HOME"); home != nullptr && *home == '/') {
        return std::string(home) + "/.cache/lpsafe/vmlinux";
    }
    return {};
}

}  // namespace lpsafe::readers
