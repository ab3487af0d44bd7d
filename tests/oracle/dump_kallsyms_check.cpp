// Runs in the oracle guest: decodes the kernel's kallsyms tables out of
// /proc/kcore, found through its VMCOREINFO note, exactly as `lpsafe check
// --vmcore` does for a dump, and compares every symbol with what the kernel
// itself prints in /proc/kallsyms (the image's lines; modules, BPF and
// kprobe pages carry a "[name]" suffix and are not in these tables).
// Exit 0 only when both lists are identical, line for line.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "readers/kernel/dump_kallsyms.h"
#include "readers/kernel/kernel_core_memory.h"
#include "readers/kernel/vmcoreinfo.h"

namespace {

std::vector<std::string> lines_of(const std::string& text, bool image_only) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        if (image_only && line.find('[') != std::string::npos) continue;
        out.push_back(line);
    }
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    const std::string core = argc > 1 ? argv[1] : "/proc/kcore";
    const std::string listing = argc > 2 ? argv[2] : "/proc/kallsyms";
    using namespace lpsafe::readers;
    const auto started = std::chrono::steady_clock::now();
    auto memory = KernelCoreMemory::open(core);
    if (!memory) return std::fprintf(stderr, "%s\n", memory.error().message.c_str()), 2;
    auto info = VmcoreInfo::from_notes((*memory)->notes());
    if (!info) return std::fprintf(stderr, "%s\n", info.error().message.c_str()), 2;
    auto text = kallsyms_from_memory(**memory, *info);
    if (!text) return std::fprintf(stderr, "%s\n", text.error().message.c_str()), 2;
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
    std::ifstream f(listing);
    std::stringstream kernel_text;
    kernel_text << f.rdbuf();
    const auto decoded = lines_of(*text, false);
    const auto kernel = lines_of(kernel_text.str(), true);
    size_t mismatches = 0;
    for (size_t i = 0; i < std::max(decoded.size(), kernel.size()); ++i) {
        const std::string a = i < decoded.size() ? decoded[i] : "(none)";
        const std::string b = i < kernel.size() ? kernel[i] : "(none)";
        if (a == b) continue;
        if (++mismatches <= 5) std::printf("line %zu: decoded '%s', %s '%s'\n", i + 1, a.c_str(), listing.c_str(), b.c_str());
    }
    std::printf("kallsyms from %s: %zu symbols decoded in %.0f ms; %s lists %zu for the image; %zu differ\n",
                core.c_str(), decoded.size(), ms, listing.c_str(), kernel.size(), mismatches);
    return mismatches == 0 && !decoded.empty() ? 0 : 1;
}
