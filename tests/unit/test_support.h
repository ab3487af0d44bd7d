// Shared by unit tests that ask an independent tool (nm, eu-readelf,
// readelf) for the expected values.
#pragma once

#include <stdlib.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

namespace lpsafe::test {

inline constexpr const char* kLibc = "/lib/x86_64-linux-gnu/libc.so.6";

// Standard output of a shell command ("" when it cannot be started).
inline std::string run(const std::string& cmd) {
    std::string out;
    FILE* f = popen(cmd.c_str(), "r");
    if (f == nullptr) return out;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
    pclose(f);
    return out;
}

// Whether a command is on PATH (tests that compare with a peer tool skip
// without it).
inline bool have(const std::string& tool) {
    return std::system(("command -v " + tool + " >/dev/null 2>&1").c_str()) == 0;
}

inline void write_file(const std::filesystem::path& path, const std::string& bytes) {
    std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

inline std::string read_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
}

// A fresh directory, removed with everything in it when it goes out of scope.
class TempDir {
public:
    TempDir() {
        std::string tmpl = (std::filesystem::temp_directory_path() / "lpsafe-test.XXXXXX").string();
        if (mkdtemp(tmpl.data()) != nullptr) path_ = tmpl;
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    ~TempDir() {
        std::error_code ec;
        if (!path_.empty()) std::filesystem::remove_all(path_, ec);
    }
    const std::string& path() const { return path_; }
    // Writes `content` to `name` in the directory; returns its path.
    std::string file(const std::string& name, const std::string& content) const {
        const std::string p = path_ + "/" + name;
        write_file(p, content);
        return p;
    }

private:
    std::string path_;
};

}  // namespace lpsafe::test
