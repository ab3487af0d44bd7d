// The capture archive (docs/kernel-capture-format.md): a fixed header, then
// one zlib stream of records. Every length is checked against what is left,
// so a truncated or corrupt file is an error, never an overread.
#include "readers/kernel/kernel_archive.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>

#include "readers/modules/mapped_file.h"
#include "readers/snapshot/zlib_codec.h"

namespace lpsafe::readers {
namespace {

constexpr size_t kHeaderSize = 32;
constexpr uint32_t kZlib = 1;
constexpr uint64_t kMaxPayload = uint64_t{1} << 31;  // 2 GiB: far above any real system
constexpr uint32_t kMaxPath = 4096;

void put_u32(std::vector<std::byte>& out, uint32_t v) {
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<std::byte>(v >> (8 * i)));
}
void put_u64(std::vector<std::byte>& out, uint64_t v) {
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<std::byte>(v >> (8 * i)));
}
uint64_t get_le(std::span<const std::byte> b, size_t off, size_t n) {
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v |= static_cast<uint64_t>(b[off + i]) << (8 * i);
    return v;
}

bool safe_path(std::string_view p) {
    if (p.empty() || p.front() == '/' || p.find('\0') != std::string_view::npos) return false;
    size_t start = 0;
    while (start <= p.size()) {
        const auto slash = p.find('/', start);
        const std::string_view part = p.substr(start, slash == std::string_view::npos ? p.npos : slash - start);
        if (part.empty() || part == "." || part == "..") return false;
        if (slash == std::string_view::npos) break;
        start = slash + 1;
    }
    return true;
}

Result<std::vector<CaptureFile>> parse_records(std::span<const std::byte> p) {
    std::vector<CaptureFile> files;
    size_t off = 0;
    while (off < p.size()) {
        if (p.size() - off < 12) return make_error("record header cut off at payload offset " + std::to_string(off));
        const uint64_t path_len = get_le(p, off, 4);
        const uint64_t data_len = get_le(p, off + 4, 4);
        const int32_t error = static_cast<int32_t>(get_le(p, off + 8, 4));
        off += 12;
        if (path_len == 0 || path_len > kMaxPath || error < 0 || (error != 0 && data_len != 0) ||
            p.size() - off < path_len || p.size() - off - path_len < data_len) {
            return make_error("corrupt record at payload offset " + std::to_string(off - 12));
        }
        CaptureFile f;
        f.path.assign(reinterpret_cast<const char*>(p.data() + off), path_len);
        f.content.data.assign(reinterpret_cast<const char*>(p.data() + off + path_len), data_len);
        f.content.error = error;
        off += path_len + data_len;
        if (!safe_path(f.path)) return make_error("record with an unsafe path: '" + f.path + "'");
        files.push_back(std::move(f));
    }
    return files;
}

class ArchiveSource final : public ProcSource {
public:
    ArchiveSource(std::string path, std::vector<CaptureFile> files) : path_(std::move(path)) {
        for (auto& f : files) {
            add_to_dirs(f.path);
            files_.emplace(std::move(f.path), std::move(f.content));
        }
        for (auto& [dir, names] : dirs_) {
            std::sort(names.begin(), names.end());
            names.erase(std::unique(names.begin(), names.end()), names.end());
        }
    }
    FileRead read(const std::string& path) const override {
        auto it = files_.find(path);
        return it == files_.end() ? FileRead{{}, ENOENT} : it->second;
    }
    Result<std::vector<std::string>> list(const std::string& dir) const override {
        auto it = dirs_.find(dir);
        if (it == dirs_.end()) return make_error(path_ + ": no directory '" + dir + "' in the capture");
        return it->second;
    }
    FileRead read_meta(const std::string& name) const override { return read("lpsafe-capture/" + name); }
    std::string describe() const override { return path_; }

private:
    void add_to_dirs(const std::string& path) {
        size_t prev = 0;
        std::string dir;
        for (size_t slash = path.find('/');; slash = path.find('/', prev)) {
            const std::string part = path.substr(prev, slash == std::string::npos ? std::string::npos : slash - prev);
            dirs_[dir].push_back(part);
            if (slash == std::string::npos) break;
            dir = path.substr(0, slash);
            prev = slash + 1;
        }
    }
    std::string path_;
    std::map<std::string, FileRead> files_;
    std::map<std::string, std::vector<std::string>> dirs_;
};

}  // namespace

std::vector<std::byte> encode_capture_archive(const std::vector<CaptureFile>& files) {
    std::vector<std::byte> payload;
    for (const CaptureFile& f : files) {
        put_u32(payload, static_cast<uint32_t>(f.path.size()));
        put_u32(payload, static_cast<uint32_t>(f.content.ok() ? f.content.data.size() : 0));
        put_u32(payload, static_cast<uint32_t>(f.content.error));
        const auto* p = reinterpret_cast<const std::byte*>(f.path.data());
        payload.insert(payload.end(), p, p + f.path.size());
        if (f.content.ok()) {
            const auto* d = reinterpret_cast<const std::byte*>(f.content.data.data());
            payload.insert(payload.end(), d, d + f.content.data.size());
        }
    }
    const std::vector<std::byte> stored = zlib_compress(payload);
    std::vector<std::byte> out;
    out.reserve(kHeaderSize + stored.size());
    for (char c : kCaptureMagic) out.push_back(static_cast<std::byte>(c));
    put_u32(out, kCaptureVersion);
    put_u32(out, kZlib);
    put_u64(out, payload.size());
    put_u64(out, stored.size());
    out.insert(out.end(), stored.begin(), stored.end());
    return out;
}

Result<std::vector<CaptureFile>> decode_capture_archive(std::span<const std::byte> bytes) {
    if (bytes.size() < kHeaderSize || std::memcmp(bytes.data(), kCaptureMagic, sizeof kCaptureMagic) != 0) {
        return make_error("not an lpsafe kernel capture (bad magic or shorter than its header)");
    }
    const uint64_t version = get_le(bytes, 8, 4);
    const uint64_t compression = get_le(bytes, 12, 4);
    const uint64_t payload_size = get_le(bytes, 16, 8);
    const uint64_t stored = get_le(bytes, 24, 8);
    if (version != kCaptureVersion) return make_error("capture format version " + std::to_string(version) +
                                                      " is not supported (this lpsafe reads version 1)");
    if (compression != kZlib) return make_error("unknown capture compression " + std::to_string(compression));
    if (stored != bytes.size() - kHeaderSize) {
        return make_error("capture is truncated or has trailing bytes (header says " + std::to_string(stored) +
                          " stored bytes, file has " + std::to_string(bytes.size() - kHeaderSize) + ")");
    }
    auto payload = zlib_inflate(bytes.subspan(kHeaderSize), payload_size, kMaxPayload);
    if (!payload) return make_error("capture payload " + payload.error().message);
    return parse_records(*payload);
}

Status write_capture_archive(const std::string& path, const std::vector<CaptureFile>& files) {
    const auto bytes = encode_capture_archive(files);
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    if (!out) return make_error("cannot write " + path);
    return Ok{};
}

Status write_capture_dir(const std::string& dir, const std::vector<CaptureFile>& files) {
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
        return make_error("cannot create " + dir + ": " + std::strerror(errno));
    }
    for (const CaptureFile& f : files) {
        const std::string target = dir + "/" + f.path + (f.content.ok() ? "" : ".errno");
        for (size_t slash = target.find('/', dir.size() + 1); slash != std::string::npos;
             slash = target.find('/', slash + 1)) {
            if (::mkdir(target.substr(0, slash).c_str(), 0755) != 0 && errno != EEXIST) {
                return make_error("cannot create " + target.substr(0, slash) + ": " + std::strerror(errno));
            }
        }
        std::ofstream out(target, std::ios::binary | std::ios::trunc);
        out << (f.content.ok() ? f.content.data : errno_name(f.content.error) + "\n");
        if (!out) return make_error("cannot write " + target);
    }
    return Ok{};
}

Result<std::unique_ptr<ProcSource>> open_capture_archive(const std::string& path) {
    auto file = MappedFile::open(path);
    if (!file) return file.error();
    auto files = decode_capture_archive((*file)->bytes());
    if (!files) return make_error(path + ": " + files.error().message);
    return std::unique_ptr<ProcSource>(std::make_unique<ArchiveSource>(path, std::move(*files)));
}

}  // namespace lpsafe::readers
