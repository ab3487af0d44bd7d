// `check --kernel --klp-module` on the committed capture of a real /proc
// tree (fixtures/kernel/*.lpk) with the real livepatch modules in
// fixtures/livepatch: exact verdicts (computed by make-klp-expect.sh with
// awk, not by lpsafe), the objects that are not loaded, and the modules the
// kernel itself would refuse (klp_find_object_symbol() on a sympos).
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <tuple>
#include <vector>

#include "fixture_util.h"

namespace lpsafe::e2e {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string kernel_fixture(const std::string& name) {
    const char* v = std::getenv("LPSAFE_KERNEL_FIXTURES");
    return std::string(v != nullptr ? v : "") + "/" + name;
}

std::string klp_module(const std::string& name) {
    return kernel_fixture("../livepatch/" + name);
}

const std::string kCapture = "6.18.44-fc-v669";

CommandResult check(const std::string& args) {
    return run_command(lpsafe_bin() + " check --kernel --json --proc-root " + kernel_fixture(kCapture + ".lpk") + " " +
                       args);
}

// "pid tid verdict [object:function]" per task, sorted, as in *.expect.
std::string verdict_lines(const json& j) {
    std::vector<std::tuple<int, int, std::string>> lines;
    for (const json& t : j["tasks"]) {
        std::string v = t["verdict"];
        if (v == "blocked") {
            v += " " + t["blocked_by"][0]["object"].get<std::string>() + ":" +
                 t["blocked_by"][0]["function"].get<std::string>();
        }
        lines.emplace_back(t["pid"], t["tid"], v);
    }
    std::sort(lines.begin(), lines.end());
    std::ostringstream out;
    for (const auto& [pid, tid, v] : lines) out << pid << " " << tid << " " << v << "\n";
    return out.str();
}

TEST(KernelKlp, VmlinuxModuleGivesTheExpectedVerdicts) {
    const CommandResult r = check("--klp-module " + klp_module("klp_vmlinux.ko"));
    ASSERT_NE(r.exit_status, 3) << r.err;
    const json j = json::parse(r.out);
    EXPECT_EQ(verdict_lines(j), read_file(kernel_fixture(kCapture + ".klp_vmlinux.expect")));
    // type_show,3 is one of ten type_show symbols: exactly one range for it.
    EXPECT_EQ(j["patch"]["not_loaded"].size(), 0u);
    std::vector<std::string> type_show;
    for (const json& f : j["patch"]["functions"]) {
        if (f["function"] == "type_show") type_show.push_back(f["start"].get<std::string>() + "-" + f["end"].get<std::string>());
    }
    // The third type_show in kallsyms order (make-klp-expect.sh's awk finds the same).
    EXPECT_EQ(type_show, std::vector<std::string>{"0xffffffff813eaf90-0xffffffff813eb010"});
}

TEST(KernelKlp, ObjectsThatAreNotLoadedAreListed) {
    const CommandResult r = check("--klp-module " + klp_module("klp_two_objects.ko"));
    ASSERT_NE(r.exit_status, 3) << r.err;
    const json j = json::parse(r.out);
    EXPECT_EQ(j["patch"]["not_loaded"],
              json({"nfsd:nfsd_open", "nfsd:nfsd_vfs_write", "nfsd:nfsd_proc_getattr,2"}));
    EXPECT_EQ(verdict_lines(j), read_file(kernel_fixture(kCapture + ".klp_two_objects.expect")));
}

TEST(KernelKlp, ASymposTheKernelWouldRefuseIsAnError) {
    // klp_build_style.ko asks for version_proc_show,2; this kernel has one.
    const CommandResult r = check("--klp-module " + klp_module("klp_build_style.ko"));
    EXPECT_EQ(r.exit_status, 3);
    EXPECT_NE(r.err.find("symbol position 2 for symbol 'version_proc_show' in object 'vmlinux' not found"),
              std::string::npos)
        << r.err;
    const CommandResult ambiguous = check("--func vmlinux:type_show");
    EXPECT_EQ(ambiguous.exit_status, 3);
    EXPECT_NE(ambiguous.err.find("unresolvable ambiguity for symbol 'type_show' in object 'vmlinux': 10 symbols"),
              std::string::npos)
        << ambiguous.err;
}

}  // namespace
}  // namespace lpsafe::e2e
