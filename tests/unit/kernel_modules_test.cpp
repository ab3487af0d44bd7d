// Module files on real data: af_key.ko from Debian 12's kernel package,
// placed by a kallsyms that readelf(1) writes from the file's own symbol
// table (each code section at a base of our choosing, as the module loader
// would), then return-after-call on listed module frames whose return
// addresses objdump(1) finds after real call instructions.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "debian_kernel.h"
#include "lpsafe/arch.h"
#include "lpsafe/kernel_stack.h"
#include "lpsafe/patch_set.h"
#include "readers/kernel/kernel_archive.h"
#include "readers/kernel/kernel_code.h"
#include "readers/kernel/proc_source.h"
#include "readers/kernel/kernel_modules.h"
#include "test_support.h"

namespace lpsafe::test {
namespace {

namespace fs = std::filesystem;
using State = KernelModuleCode::State;

constexpr uint64_t kModuleBase = 0xffffffffc0a00000;
uint64_t section_base(unsigned ndx) { return kModuleBase + uint64_t{ndx} * 0x100000; }

std::string ko_path(const std::string& rel) {
    const DebianKernel& k = debian_kernel();
    return k.modules() + "/" + k.release + "/kernel/" + rel;
}

// readelf -sW: "Num: Value Size Type Bind Vis Ndx Name" -> kallsyms lines.
std::string kallsyms_for(const std::string& ko, const std::string& module) {
    std::vector<std::pair<uint64_t, std::string>> lines{{0xffffffff81000000, "T _text"}};
    std::istringstream in(run("readelf -sW " + ko));
    for (std::string line; std::getline(in, line);) {
        std::istringstream f(line);
        std::string num, value, size, type, bind, vis, ndx, name;
        if (!(f >> num >> value >> size >> type >> bind >> vis >> ndx >> name)) continue;
        if (ndx == "UND") {  // a kernel function the module calls: somewhere in vmlinux
            lines.emplace_back(0xffffffff81100000 + lines.size() * 0x40, "T " + name);
            continue;
        }
        if (type != "FUNC") continue;
        if (ndx.find_first_not_of("0123456789") != std::string::npos) continue;
        lines.emplace_back(section_base(std::stoul(ndx)) + std::stoull(value, nullptr, 16), "t " + name + "\t[" + module + "]");
    }
    std::sort(lines.begin(), lines.end());
    std::string out;
    for (const auto& [addr, rest] : lines) out += fmt::format("{:016x} {}\n", addr, rest);
    return out;
}

std::string build_id_of(const std::string& file) {
    std::string id = run("readelf -n " + file + " | awk '/Build ID/ { print $3; exit }'");
    while (!id.empty() && id.back() == '\n') id.pop_back();
    return id;
}

// Section index by name, from readelf -SW ("[ 3] .text PROGBITS ...").
std::map<std::string, unsigned> section_indexes(const std::string& ko) {
    std::map<std::string, unsigned> out;
    std::istringstream in(run("readelf -SW " + ko));
    const std::regex row(R"(^\s*\[\s*(\d+)\]\s+(\S+)\s)");
    for (std::string line; std::getline(in, line);) {
        std::smatch m;
        if (std::regex_search(line, m, row)) out[m[2]] = static_cast<unsigned>(std::stoul(m[1]));
    }
    return out;
}

// readelf -rW: offsets of R_X86_64_PC32/PLT32 relocations in `section`.
std::vector<uint64_t> pc_relocations(const std::string& ko, const std::string& section) {
    std::vector<uint64_t> out;
    std::istringstream in(run("readelf -rW " + ko));
    bool inside = false;
    for (std::string line; std::getline(in, line);) {
        if (line.starts_with("Relocation section")) inside = line.find("'.rela" + section + "'") != std::string::npos;
        std::istringstream f(line);
        std::string off, info, type;
        if (inside && (f >> off >> info >> type) && (type == "R_X86_64_PLT32" || type == "R_X86_64_PC32")) {
            out.push_back(std::stoull(off, nullptr, 16));
        }
    }
    return out;
}

struct Insn {
    uint64_t addr, len;
    bool call;
};
// objdump -d of .text: function name -> (start, instructions).
std::map<std::string, std::pair<uint64_t, std::vector<Insn>>> disassembly(const std::string& ko) {
    std::map<std::string, std::pair<uint64_t, std::vector<Insn>>> out;
    std::istringstream in(run("objdump -d --insn-width=16 --section=.text " + ko));
    const std::regex head(R"(^([0-9a-f]+) <([^>+]+)>:)");
    const std::regex insn(R"(^\s+([0-9a-f]+):\t([0-9a-f ]+)\t(\S+))");
    std::vector<Insn>* cur = nullptr;
    for (std::string line; std::getline(in, line);) {
        std::smatch m;
        if (std::regex_search(line, m, head)) {
            auto& f = out[m[2]];
            f.first = std::stoull(m[1], nullptr, 16);
            cur = &f.second;
        } else if (cur != nullptr && std::regex_search(line, m, insn)) {
            std::istringstream bytes(m[2]);
            uint64_t n = 0;
            for (std::string b; bytes >> b;) ++n;
            cur->push_back({std::stoull(m[1], nullptr, 16), n, m[3] == "call"});
        }
    }
    return out;
}

struct AfKey : testing::Test {
    void SetUp() override {
        ASSERT_TRUE(debian_kernel().ok());
        ko = ko_path("net/key/af_key.ko");
        ASSERT_TRUE(fs::exists(ko)) << ko;
        auto k = Kallsyms::parse(kallsyms_for(ko, "af_key"));
        ASSERT_TRUE(k.ok()) << k.error().message;
        kallsyms = std::move(*k);
        build_id = build_id_of(ko);
        ASSERT_EQ(build_id.size(), 40u);
    }
    // A task sleeping with one listed frame: `fn`+`offset` in af_key.
    KernelTask task(const std::string& fn, uint64_t offset) const {
        const auto named = kallsyms.named(fn, "af_key");
        EXPECT_EQ(named.size(), 1u) << fn;
        KernelTask t;
        t.pid = t.tid = 42;
        t.comm = "t";
        t.state = "S";
        t.stack = fmt::format("[<0>] {}+{:#x}/{:#x} [af_key]\n", fn, offset, named.empty() ? 0 : named.front()->size);
        return t;
    }
    std::vector<Finding> ret_findings(const TaskVerdict& v) const {
        std::vector<Finding> out;
        for (const Finding& f : v.findings) {
            if (f.check == Check::return_after_call) out.push_back(f);
        }
        return out;
    }
    std::string ko, build_id;
    Kallsyms kallsyms;
};

TEST_F(AfKey, CodeSectionsArePlacedWhereKallsymsPutsTheirFunctions) {
    const readers::PlacedModule placed = readers::place_module("af_key", ko, build_id, kallsyms);
    ASSERT_EQ(placed.code.state, State::used) << placed.code.detail;
    EXPECT_EQ(placed.code.build_id, build_id);
    const auto index = section_indexes(ko);
    std::set<std::string> placed_names;
    TempDir tmp;
    for (const CodeRegion& r : placed.regions) {
        placed_names.insert(r.section);
        ASSERT_TRUE(index.count(r.section)) << r.section;
        EXPECT_EQ(r.start, section_base(index.at(r.section))) << r.section;
        const std::string dump = tmp.path() + "/section";
        run("objcopy --dump-section " + r.section + "=" + dump + " " + ko + " " + tmp.path() + "/copy.ko");
        std::string expect = read_file(dump);
        ASSERT_EQ(expect.size(), r.bytes.size()) << r.section;
        // The PC-relative relocations readelf lists are linked (S + A - P):
        // those words are the only ones that may differ from the file.
        size_t linked = 0;
        for (uint64_t off : pc_relocations(ko, r.section)) {
            for (int i = 0; i < 4; ++i) expect[off + i] = static_cast<char>(r.bytes[off + i]);
            ++linked;
        }
        EXPECT_TRUE(std::equal(r.bytes.begin(), r.bytes.end(), reinterpret_cast<const std::byte*>(expect.data())))
            << r.section << " differs from objcopy's copy outside its " << linked << " relocations";
    }
    // Every section holding functions (readelf), and no other; .init.text,
    // freed once the module is live, is not placed even though kallsyms
    // (here, as a livepatch module's) names its functions.
    std::set<std::string> with_functions;
    std::istringstream syms(run("readelf -sW " + ko + " | awk '$4 == \"FUNC\" && $7 ~ /^[0-9]+$/ { print $7 }' | sort -u"));
    for (std::string ndx; syms >> ndx;) {
        for (const auto& [name, i] : index) {
            if (std::to_string(i) == ndx && !name.starts_with(".init")) with_functions.insert(name);
        }
    }
    EXPECT_TRUE(index.count(".init.text")) << "af_key has an init function";
    EXPECT_EQ(placed_names, with_functions);
}

// A livepatch module's kallsyms keeps its init functions at the freed init
// memory, where another module may be loaded since. Placing .init.text there
// once spread this module's ORC range over the other module's code, whose
// walks then ended in this module's table (found on a real kdump of the
// oracle guest with several patches loaded). The init function is not
// placed, and the module's code and ORC range stay its own.
TEST_F(AfKey, StaleInitFunctionsAreNotPlaced) {
    std::string text = kallsyms_for(ko, "af_key");
    const auto init = kallsyms.named("ipsec_pfkey_init", "af_key");
    ASSERT_EQ(init.size(), 1u);
    // The freed init text, now another module's .text, far below af_key's.
    const uint64_t stale = 0xffffffffc0001000;
    text += fmt::format("{:016x} t ipsec_pfkey_init\t[af_key]\n{:016x} t other_fn\t[other]\n", stale, stale);
    const std::string old_line = fmt::format("{:016x} t ipsec_pfkey_init\t[af_key]\n", init.front()->addr);
    ASSERT_NE(text.find(old_line), std::string::npos);
    text.erase(text.find(old_line), old_line.size());
    auto k = Kallsyms::parse(text);
    ASSERT_TRUE(k.ok());
    const readers::PlacedModule placed = readers::place_module("af_key", ko, build_id, *k);
    ASSERT_EQ(placed.code.state, State::used) << placed.code.detail;
    for (const CodeRegion& r : placed.regions) {
        EXPECT_FALSE(r.section.starts_with(".init")) << r.section;
        EXPECT_FALSE(r.start <= stale && stale < r.start + r.bytes.size()) << r.section << " covers the stale address";
    }
    ASSERT_TRUE(placed.orc.has_value());
    EXPECT_GT(placed.regions.front().start, stale);
}

// The module's ORC table, its ips placed through their relocations: at the
// first byte of every af_key function objtool describes the entry state (a
// call frame with only the return address on the stack, sp + 8), and right
// after its `push %rbp`-free prologue nothing claims a different function.
TEST_F(AfKey, OrcTableIsPlacedWithTheModulesCode) {
    const readers::PlacedModule placed = readers::place_module("af_key", ko, build_id, kallsyms);
    ASSERT_EQ(placed.code.state, State::used) << placed.code.detail;
    ASSERT_TRUE(placed.orc.has_value()) << "af_key.ko has .orc_unwind";
    EXPECT_GT(placed.orc->size(), 100u);
    int functions = 0, entry_state = 0;
    for (const char* fn : {"check_reqid", "pfkey_reserved", "pfkey_send_notify", "pfkey_release"}) {
        const auto named = kallsyms.named(fn, "af_key");
        if (named.size() != 1) continue;
        ++functions;
        const auto e = placed.orc->find(named.front()->addr);
        ASSERT_TRUE(e.has_value()) << fn;
        if (e->type == OrcEntry::Type::call && e->sp_reg == static_cast<uint8_t>(OrcEntry::Reg::sp) && e->sp_offset == 8)
            ++entry_state;
    }
    ASSERT_GT(functions, 0);
    EXPECT_EQ(entry_state, functions) << "an entry at a function's first byte is the entry state";
    // Every ip lies in a placed code region.
    for (size_t i = 0; i < placed.orc->size(); ++i) {
        const uint64_t ip = placed.orc->ip_at(i);
        const bool inside = std::any_of(placed.regions.begin(), placed.regions.end(), [&](const CodeRegion& r) {
            return ip >= r.start && ip <= r.start + r.bytes.size();
        });
        ASSERT_TRUE(inside) << std::hex << ip;
    }
}

TEST_F(AfKey, ReturnAddressesAfterCallsPassAndOthersAreFindings) {
    readers::PlacedModule placed = readers::place_module("af_key", ko, build_id, kallsyms);
    ASSERT_EQ(placed.code.state, State::used) << placed.code.detail;
    KernelImage image = kernel_image_without_vmlinux(ArchId::x86_64, "none in this test");
    add_kernel_module(image, std::move(placed.code), std::move(placed.regions));
    KernelCheckOptions options;
    options.image = &image;
    int after_call = 0, after_other = 0;
    for (const auto& [fn, body] : disassembly(ko)) {
        const auto& [start, insns] = body;
        if (kallsyms.named(fn, "af_key").size() != 1) continue;
        for (size_t i = 0; i + 1 < insns.size() && after_call + after_other < 40; ++i) {
            const uint64_t ret = insns[i].addr + insns[i].len;
            if (ret == start) continue;
            const TaskVerdict v = check_kernel_task(task(fn, ret - start), kallsyms, {}, options);
            for (const SkippedCheck& s : v.skipped) EXPECT_NE(s.check, Check::return_after_call) << s.reason;
            const auto found = ret_findings(v);
            if (insns[i].call) {
                EXPECT_TRUE(found.empty()) << fn << "+" << ret - start << ": " << found.front().detail;
                ++after_call;
            } else if (i % 7 == 0) {
                ASSERT_EQ(found.size(), 1u) << fn << "+" << ret - start << " follows no call";
                EXPECT_NE(found.front().detail.find("not a call"), std::string::npos) << found.front().detail;
                ++after_other;
            }
        }
    }
    EXPECT_GE(after_call, 10);
    EXPECT_GE(after_other, 3);
}

// objdump -dr: every `call` in .text followed by its R_X86_64_PLT32 line
// ("call ... \n R_X86_64_PLT32 name-0x4"): calls out of the module, to
// functions kallsyms lists once.
std::vector<std::pair<uint64_t, std::string>> local_calls(const std::string& ko, const Kallsyms& kallsyms) {
    std::vector<std::pair<uint64_t, std::string>> out;  // (return address offset in .text, callee)
    std::istringstream in(run("objdump -dr --insn-width=16 --section=.text " + ko));
    const std::regex insn(R"(^\s+([0-9a-f]+):\t([0-9a-f ]+)\tcall)");
    const std::regex reloc(R"(R_X86_64_PLT32\s+([A-Za-z0-9_.]+)-0x4$)");
    std::optional<uint64_t> pending;
    for (std::string line; std::getline(in, line);) {
        std::smatch m;
        if (std::regex_search(line, m, insn)) {
            std::istringstream bytes(m[2]);
            uint64_t n = 0;
            for (std::string b; bytes >> b;) ++n;
            pending = std::stoull(m[1], nullptr, 16) + n;
        } else if (pending && std::regex_search(line, m, reloc)) {
            if (kallsyms.named_anywhere(m[1].str()).size() == 1) out.emplace_back(*pending, m[1]);
            pending.reset();
        } else if (line.find("R_X86_64") == std::string::npos) {
            pending.reset();
        }
    }
    return out;
}

TEST_F(AfKey, CallsOutOfTheModuleNameTheirCalleeOnceLinked) {
    readers::PlacedModule placed = readers::place_module("af_key", ko, build_id, kallsyms);
    ASSERT_EQ(placed.code.state, State::used) << placed.code.detail;
    EXPECT_GT(placed.code.linked_calls, 0u);
    KernelImage image = kernel_image_without_vmlinux(ArchId::x86_64, "none in this test");
    add_kernel_module(image, std::move(placed.code), std::move(placed.regions));
    const uint64_t text = section_base(section_indexes(ko).at(".text"));
    const auto calls = local_calls(ko, kallsyms);
    ASSERT_GE(calls.size(), 5u);
    const Arch& arch = arch_of(ArchId::x86_64);
    for (const auto& [ret, callee] : calls) {
        if (ret < 6) continue;  // call_target reads 6 bytes before the return address: none before .text
        const auto target = arch.call_target(image.process, text + ret);
        ASSERT_TRUE(target.has_value()) << "call before .text+" << ret;
        EXPECT_EQ(*target, kallsyms.named_anywhere(callee).front()->addr) << callee;
    }
}

TEST_F(AfKey, AnotherBuildMakesModuleFramesUnreliableAndAnUnknownOneSkipsThem) {
    const std::string other(40, 'a');
    readers::PlacedModule wrong = readers::place_module("af_key", ko, other, kallsyms);
    EXPECT_EQ(wrong.code.state, State::mismatch);
    EXPECT_TRUE(wrong.regions.empty());
    KernelImage image = kernel_image_without_vmlinux(ArchId::x86_64, "none in this test");
    add_kernel_module(image, std::move(wrong.code), std::move(wrong.regions));
    KernelCheckOptions options;
    options.image = &image;
    const auto dis = disassembly(ko);
    const auto& [start, insns] = dis.at("check_reqid");
    const TaskVerdict v = check_kernel_task(task("check_reqid", insns[0].addr + insns[0].len - start), kallsyms, {}, options);
    const auto found = ret_findings(v);
    ASSERT_EQ(found.size(), 1u);
    EXPECT_NE(found.front().detail.find("but the loaded module has " + other), std::string::npos) << found.front().detail;

    readers::PlacedModule unknown = readers::place_module("af_key", ko, "", kallsyms);
    EXPECT_EQ(unknown.code.state, State::unverified);
    KernelImage image2 = kernel_image_without_vmlinux(ArchId::x86_64, "none in this test");
    add_kernel_module(image2, std::move(unknown.code), {});
    options.image = &image2;
    const TaskVerdict v2 = check_kernel_task(task("check_reqid", insns[0].addr + insns[0].len - start), kallsyms, {}, options);
    EXPECT_TRUE(ret_findings(v2).empty());
    ASSERT_EQ(v2.skipped.size(), 1u);
    EXPECT_NE(v2.skipped[0].reason.find("cannot be verified"), std::string::npos) << v2.skipped[0].reason;
}

// Discovery: a modules tree with a compressed module, a file name with '-',
// and a module that has no file; no vmlinuz in the boot directory.
TEST_F(AfKey, ModuleFilesAreFoundCompressedAndByNormalisedName) {
    TempDir tmp;
    const std::string rel = "9.9.9-test";
    const std::string dir = tmp.path() + "/modules/" + rel + "/kernel/net";
    fs::create_directories(dir);
    fs::create_directories(tmp.path() + "/boot");
    run("xz --check=crc32 -c " + ko + " > " + dir + "/af_key.ko.xz");
    fs::copy_file(ko_path("net/can/can-raw.ko"), dir + "/can-raw.ko");
    auto index = readers::index_module_files(tmp.path() + "/modules/" + rel);
    ASSERT_TRUE(index.ok()) << index.error().message;
    EXPECT_EQ(index->size(), 2u);
    EXPECT_EQ(index->count("can_raw"), 1u);

    readers::KernelInput input;
    input.kallsyms = std::move(kallsyms);
    input.release = rel;
    input.build_id = "0123";
    input.module_build_ids["af_key"] = build_id;
    readers::KernelCodeOptions options;
    options.boot_dir = tmp.path() + "/boot";
    options.modules_dir = tmp.path() + "/modules";
    auto image = readers::load_kernel_code(options, input, {"af_key", "can_raw", "nosuch"});
    ASSERT_TRUE(image.ok()) << image.error().message;
    EXPECT_FALSE(image->has_vmlinux());
    EXPECT_NE(image->missing.find("boot/vmlinuz-" + rel + " not found"), std::string::npos) << image->missing;
    ASSERT_EQ(image->modules.size(), 3u);
    EXPECT_EQ(image->module("af_key")->state, State::used) << image->module("af_key")->detail;
    EXPECT_EQ(image->module("af_key")->path, dir + "/af_key.ko.xz");
    EXPECT_EQ(image->module("can_raw")->state, State::unverified);
    EXPECT_EQ(image->module("nosuch")->state, State::not_found);
    EXPECT_FALSE(image->process.mappings.empty());
}

// A capture whose tasks sleep in af_key, with the loaded module's build-id
// note as /sys/module/af_key/notes gives it (the file's own note section,
// copied out by objcopy), checked as `check --kernel --proc-root` does, then
// recorded into an archive and checked again: the note travels with it.
TEST_F(AfKey, CapturedModuleFramesAreCheckedWithTheVerifiedModuleFile) {
    const DebianKernel& k = debian_kernel();
    TempDir tmp;
    const std::string root = tmp.path() + "/capture";
    fs::create_directories(root + "/lpsafe-capture/sys-module-notes");
    fs::create_directories(root + "/sys/kernel");
    write_file(root + "/kallsyms", kallsyms_for(ko, "af_key"));
    write_file(root + "/sys/kernel/osrelease", k.release + "\n");
    run("objcopy --dump-section .note.gnu.build-id=" + root + "/lpsafe-capture/sys-module-notes/af_key " + ko + " " +
        tmp.path() + "/copy.ko");
    const auto dis = disassembly(ko);
    const auto& [start, insns] = dis.at("check_reqid");
    ASSERT_TRUE(insns[0].call);
    const auto size = kallsyms.named("check_reqid", "af_key").front()->size;
    const std::string stat_tail = " S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 4242 0 0\n";
    for (const auto& [tid, off] : {std::pair{100, insns[0].addr + insns[0].len - start}, std::pair{101, insns[1].addr + 1 - start}}) {
        const std::string dir = root + "/" + std::to_string(tid) + "/task/" + std::to_string(tid);
        fs::create_directories(dir);
        write_file(dir + "/stat", std::to_string(tid) + " (t)" + stat_tail);
        write_file(dir + "/wchan", "check_reqid");
        write_file(dir + "/stack", fmt::format("[<0>] check_reqid+{:#x}/{:#x} [af_key]\n", off, size));
    }
    PatchSet patch;
    ASSERT_TRUE(patch.add_spec("af_key:pfkey_reserved").ok());
    const auto check = [&](const std::string& from) -> std::pair<KernelImage, ProcessReport> {
        auto source = readers::open_proc_root(from);
        EXPECT_TRUE(source.ok());
        auto capture = readers::capture_kernel(**source);
        EXPECT_TRUE(capture.ok()) << capture.error().message;
        auto input = readers::to_kernel_input(*capture);
        EXPECT_TRUE(input.ok());
        EXPECT_EQ(input->module_build_ids["af_key"], build_id);
        readers::KernelCodeOptions options;
        options.boot_dir = tmp.path();
        options.modules_dir = k.modules();
        auto image = readers::load_kernel_code(options, *input, readers::modules_in_stacks(input->tasks));
        EXPECT_TRUE(image.ok());
        KernelCheckOptions check_options;
        check_options.image = &*image;
        auto report = check_kernel(input->tasks, input->kallsyms, patch, check_options);
        EXPECT_TRUE(report.ok()) << report.error().message;
        return {std::move(*image), std::move(*report)};
    };
    for (const std::string& from : {root, tmp.path() + "/capture.lpk"}) {
        if (from.ends_with(".lpk")) {
            auto source = readers::open_proc_root(root);
            auto capture = readers::capture_kernel(**source);
            ASSERT_TRUE(readers::write_capture_archive(from, readers::capture_files(*capture, "test")).ok());
        }
        const auto [image, report] = check(from);
        ASSERT_EQ(image.modules.size(), 1u) << from;
        EXPECT_EQ(image.modules[0].state, State::used) << image.modules[0].detail;
        EXPECT_EQ(image.modules[0].path, ko_path("net/key/af_key.ko"));
        ASSERT_EQ(report.tasks.size(), 2u);
        for (const TaskVerdict& t : report.tasks) {
            for (const SkippedCheck& s : t.skipped) EXPECT_NE(s.check, Check::return_after_call) << s.reason;
            const auto found = ret_findings(t);
            if (t.tid == 100) {
                EXPECT_TRUE(found.empty()) << found.front().detail;
            } else {
                ASSERT_EQ(found.size(), 1u) << from;
                EXPECT_NE(found[0].detail.find("inside an instruction"), std::string::npos) << found[0].detail;
            }
        }
    }
}

TEST(KernelModules, TheWholeDebianTreeIsIndexedByModuleName) {
    const DebianKernel& k = debian_kernel();
    ASSERT_TRUE(k.ok());
    auto index = readers::index_module_files(k.modules() + "/" + k.release);
    ASSERT_TRUE(index.ok()) << index.error().message;
    const std::string names = run("find " + k.modules() + "/" + k.release + " -name '*.ko*' -printf '%f\\n' | "
                                  "sed 's/\\.ko.*//; s/-/_/g' | sort -u | wc -l");
    EXPECT_EQ(std::to_string(index->size()) + "\n", names);
    EXPECT_TRUE(index->count("snd_hda_intel"));
    EXPECT_FALSE(readers::index_module_files(k.modules() + "/no-such-release").ok());
}

}  // namespace
}  // namespace lpsafe::test
