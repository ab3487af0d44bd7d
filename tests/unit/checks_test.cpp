// The reliability checks (checks.h) on hand-made processes and stacks.
// Code bytes are hand-assembled (checked with objdump); expected findings
// follow from docs/verdict-rules.md, not from running the checks.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <regex>
#include <set>

#include "test_support.h"
#include "lpsafe/checks.h"
#include "lpsafe/memory.h"
#include "lpsafe/process.h"

namespace lpsafe {
namespace {

constexpr unsigned kRbp = 6, kRsp = 7, kRip = 16;

// The program's code at 0x401000 (16 bytes of int3 padding first):
//   401010: 55                push %rbp
//   401011: 48 89 e5          mov %rsp,%rbp
//   401014: e8 10 00 00 00    call +0x10
//   401019: 5d                pop %rbp           <- kAfterCall
//   40101a: c3                ret
//   40101b: cc x5
//   401020: b8 22 00 00 00    mov $0x22,%eax
//   401025: 0f 05             syscall
//   401027: c3                ret                <- kAfterSyscall
//   401028: eb 05             jmp +5
//   40102a: cc ...                               <- kAfterJmp
//   401030: ff d2             call *%rdx
//   401032: cc ...                               <- kAfterIndirectCall
constexpr uint64_t kAfterCall = 0x401019, kAfterSyscall = 0x401027, kAfterJmp = 0x40102a;
constexpr uint64_t kAfterIndirectCall = 0x401032;
constexpr uint64_t kStackLo = 0x7ffd0000, kStackHi = 0x7ffe0000;
constexpr uint64_t kThreadSp = 0x7ffdf000;
// libfoo (a build-id mismatch) at 0x500000; its code ends in a call at 0x500010.
constexpr uint64_t kFooCall = 0x500010;

std::vector<std::byte> bytes(std::initializer_list<int> v) {
    std::vector<std::byte> out;
    for (int b : v) out.push_back(static_cast<std::byte>(b));
    return out;
}

Mapping mapping(uint64_t start, uint64_t end, std::string path, bool r, bool w, bool x) {
    Mapping m;
    m.start = start;
    m.end = end;
    m.path = std::move(path);
    m.readable = r;
    m.writable = w;
    m.executable = x;
    return m;
}

Module module(std::string path, uint64_t start, uint64_t end, ModuleStatus::Kind status = ModuleStatus::Kind::ok) {
    Module m;
    m.path = path;
    m.name = path.substr(path.rfind('/') + 1);
    m.start = start;
    m.end = end;
    m.bias = start;
    m.status.kind = status;
    if (status != ModuleStatus::Kind::ok) m.status.detail = "build-id differs from the core's";
    return m;
}

ProcessImage make_process() {
    ProcessImage p;
    p.pid = 100;
    p.comm = "prog";
    p.mappings = {
        mapping(0x400000, 0x402000, "/usr/bin/prog", true, false, true),
        mapping(0x500000, 0x501000, "/usr/lib/libfoo.so.1", true, false, true),
        mapping(0x600000, 0x601000, "", true, true, false),
        mapping(kStackLo, kStackHi, "", true, true, false),
    };
    p.modules.add(module("/usr/bin/prog", 0x400000, 0x402000));
    p.modules.add(module("/usr/lib/libfoo.so.1", 0x500000, 0x501000, ModuleStatus::Kind::build_id_mismatch));
    auto mem = std::make_shared<BufferMemory>();
    std::vector<std::byte> code(16, std::byte{0xcc});
    for (std::byte b : bytes({0x55, 0x48, 0x89, 0xe5, 0xe8, 0x10, 0x00, 0x00, 0x00, 0x5d, 0xc3, 0xcc, 0xcc, 0xcc, 0xcc,
                              0xcc, 0xb8, 0x22, 0x00, 0x00, 0x00, 0x0f, 0x05, 0xc3, 0xeb, 0x05}))
        code.push_back(b);
    code.resize(0x40, std::byte{0xcc});
    code[0x30] = std::byte{0xff};
    code[0x31] = std::byte{0xd2};
    mem->add(0x401000, code);
    std::vector<std::byte> foo(11, std::byte{0xcc});
    for (std::byte b : bytes({0xe8, 0x00, 0x00, 0x00, 0x00, 0xc3})) foo.push_back(b);  // call; ret
    mem->add(0x500000, foo);
    p.memory = mem;
    return p;
}

ThreadState thread_at(uint64_t pc, int64_t syscall_nr, uint64_t sp = kThreadSp) {
    ThreadState t;
    t.tid = 101;
    t.regs = Regs(ArchId::x86_64);
    t.regs.set(kRip, pc);
    t.regs.set(kRsp, sp);
    t.regs.syscall_nr = syscall_nr;
    return t;
}

Frame frame(uint64_t pc, uint64_t sp, uint64_t cfa, bool ret_addr, std::string function = {}, uint64_t offset = 0) {
    Frame f;
    f.pc = pc;
    f.sp = sp;
    f.cfa = cfa;
    f.pc_is_return_address = ret_addr;
    f.method = ret_addr ? UnwindMethod::cfi : UnwindMethod::initial;
    f.function = std::move(function);
    f.offset = offset;
    return f;
}

// A plausible 3-frame stack from a thread parked in pause(): every check passes.
UnwoundStack good_stack() {
    UnwoundStack s;
    s.frames = {
        frame(kAfterSyscall, kThreadSp, kThreadSp + 0x10, false, "pause_like", 7),
        frame(kAfterCall, kThreadSp + 0x10, kThreadSp + 0x40, true, "caller", 9),
        frame(kAfterCall, kThreadSp + 0x40, 0, true, "main", 9),
    };
    s.end.kind = StackEnd::Kind::outermost;
    s.outermost_regs = Regs(ArchId::x86_64);
    s.outermost_regs.set(kRbp, 0);  // psABI 3.4.1: the deepest frame's mark
    return s;
}

std::vector<int> frames_of(const std::vector<Finding>& fs, Check check) {
    std::vector<int> out;
    for (const Finding& f : fs) {
        if (f.check == check) out.push_back(f.frame);
    }
    return out;
}

std::string dump(const std::vector<Finding>& fs) {
    std::string s;
    for (const Finding& f : fs) s += std::string(check_name(f.check)) + "@" + std::to_string(f.frame) + ": " + f.detail + "\n";
    return s;
}

class ChecksTest : public ::testing::Test {
protected:
    ProcessImage process = make_process();
};

TEST_F(ChecksTest, GoodStackHasNoFindings) {
    const auto fs = check_all(process, thread_at(kAfterSyscall, 34), good_stack());
    EXPECT_TRUE(fs.empty()) << dump(fs);
}

// ---- top

TEST_F(ChecksTest, TopParked) {
    EXPECT_TRUE(check_top(process, thread_at(kAfterSyscall, 34), good_stack()).empty());
}

TEST_F(ChecksTest, TopNotParkedNamesTheFunction) {
    UnwoundStack s = good_stack();
    s.frames[0] = frame(kAfterCall, kThreadSp, kThreadSp + 0x10, false, "spin", 9);
    const auto fs = check_top(process, thread_at(kAfterCall, 34), s);
    ASSERT_EQ(fs.size(), 1u) << dump(fs);
    EXPECT_EQ(fs[0].check, Check::top);
    EXPECT_EQ(fs[0].frame, 0);
    EXPECT_NE(fs[0].detail.find("spin+0x9"), std::string::npos) << fs[0].detail;
}

TEST_F(ChecksTest, TopAfterSyscallButReturnedToUserSpace) {
    const auto fs = check_top(process, thread_at(kAfterSyscall, -1), good_stack());
    ASSERT_EQ(fs.size(), 1u);
    EXPECT_EQ(fs[0].frame, 0);
}

TEST_F(ChecksTest, TopWithUnreadableCodeIsAFinding) {
    UnwoundStack s = good_stack();
    s.frames[0].pc = 0x7f0000001000;
    const auto fs = check_top(process, thread_at(0x7f0000001000, 34), s);
    // A rule that cannot run is a finding of its own (fail closed).
    ASSERT_EQ(fs.size(), 1u);
    EXPECT_EQ(fs[0].check, Check::top);
    EXPECT_EQ(fs[0].frame, 0);
    EXPECT_NE(fs[0].detail.find("pause_like+0x7"), std::string::npos) << fs[0].detail;
}

TEST_F(ChecksTest, TopWithoutFramesStillReports) {
    UnwoundStack s;
    const auto fs = check_top(process, thread_at(kAfterCall, 34), s);
    ASSERT_EQ(fs.size(), 1u);
    EXPECT_EQ(fs[0].check, Check::top);
}

// ---- bottom

TEST_F(ChecksTest, BottomOutermostInsideTheStack) {
    EXPECT_TRUE(check_bottom(process, thread_at(kAfterSyscall, 34), good_stack()).empty());
}

TEST_F(ChecksTest, BottomEndKindsOtherThanOutermost) {
    for (auto kind : {StackEnd::Kind::failed, StackEnd::Kind::depth_limit}) {
        UnwoundStack s = good_stack();
        s.end.kind = kind;
        s.end.detail = "the reason it stopped";
        const auto fs = check_bottom(process, thread_at(kAfterSyscall, 34), s);
        ASSERT_EQ(fs.size(), 1u);
        EXPECT_EQ(fs[0].check, Check::bottom);
        EXPECT_EQ(fs[0].frame, 2);  // the last frame
        EXPECT_NE(fs[0].detail.find("the reason it stopped"), std::string::npos) << fs[0].detail;
    }
}

TEST_F(ChecksTest, BottomOutermostFrameOutsideTheStackMapping) {
    UnwoundStack s = good_stack();
    s.frames[2].sp = 0x600800;  // in the data mapping
    const auto fs = check_bottom(process, thread_at(kAfterSyscall, 34), s);
    ASSERT_EQ(fs.size(), 1u);
    EXPECT_EQ(fs[0].frame, 2);
    EXPECT_NE(fs[0].detail.find("0x600800"), std::string::npos) << fs[0].detail;
}

TEST_F(ChecksTest, BottomOutermostFrameMustCarryTheZeroFramePointer) {
    UnwoundStack s = good_stack();
    s.outermost_regs.set(kRbp, kThreadSp + 0x30);  // the rbp of a frame cut off
    auto fs = check_bottom(process, thread_at(kAfterSyscall, 34), s);
    ASSERT_EQ(fs.size(), 1u);
    EXPECT_EQ(fs[0].frame, 2);
    EXPECT_NE(fs[0].detail.find("psABI 3.4.1"), std::string::npos) << fs[0].detail;
    s.outermost_regs.clear(kRbp);  // unknown is not zero
    fs = check_bottom(process, thread_at(kAfterSyscall, 34), s);
    ASSERT_EQ(fs.size(), 1u);
    EXPECT_NE(fs[0].detail.find("unknown"), std::string::npos) << fs[0].detail;
}

// An outermost frame made by an indirect call (clone's `call *%rdx`) needs
// the thread's recorded start routine; without one nothing shows the stack
// was not cut short there.
TEST_F(ChecksTest, BottomAfterAnIndirectCallNeedsTheThreadsStart) {
    UnwoundStack s = good_stack();
    s.frames[2].pc = kAfterIndirectCall;
    ThreadState t = thread_at(kAfterSyscall, 34);
    auto fs = check_bottom(process, t, s);
    ASSERT_EQ(fs.size(), 1u);
    EXPECT_NE(fs[0].detail.find("where the thread started is unknown"), std::string::npos) << fs[0].detail;
    // A direct call's outermost frame does not need it (its callee is fixed).
    EXPECT_TRUE(check_bottom(process, t, good_stack()).empty());
    // Two frames: no room for start_thread and the start routine.
    t.start_routine = 0x401010;
    s.frames.erase(s.frames.begin() + 1);
    fs = check_bottom(process, t, s);
    ASSERT_EQ(fs.size(), 1u);
    EXPECT_NE(fs[0].detail.find("no frame of the thread's start routine"), std::string::npos) << fs[0].detail;
}

TEST_F(ChecksTest, BottomThreadSpInNoMapping) {
    const auto fs = check_bottom(process, thread_at(kAfterSyscall, 34, 0x10000), good_stack());
    ASSERT_EQ(fs.size(), 1u);
    EXPECT_EQ(fs[0].check, Check::bottom);
}

// ---- return-after-call

TEST_F(ChecksTest, ReturnAfterCallReportsExactlyTheBadFrame) {
    UnwoundStack s = good_stack();
    s.frames = {
        frame(kAfterSyscall, kThreadSp, kThreadSp + 0x10, false),
        frame(kAfterCall, kThreadSp + 0x10, kThreadSp + 0x20, true),
        frame(kAfterJmp, kThreadSp + 0x20, kThreadSp + 0x30, true, "bogus", 0x1a),  // after a jmp
        frame(kAfterJmp, kThreadSp + 0x30, kThreadSp + 0x40, false),  // exact pc (after a signal): skipped
        frame(kAfterCall, kThreadSp + 0x40, 0, true),
    };
    const auto fs = check_return_after_call(process, s);
    ASSERT_EQ(fs.size(), 1u) << dump(fs);
    EXPECT_EQ(fs[0].check, Check::return_after_call);
    EXPECT_EQ(fs[0].frame, 2);
    EXPECT_NE(fs[0].detail.find("bogus+0x1a"), std::string::npos) << fs[0].detail;
}

TEST_F(ChecksTest, ReturnAfterCallNeverJudgesFrameZero) {
    UnwoundStack s = good_stack();
    s.frames[0] = frame(kAfterJmp, kThreadSp, kThreadSp + 0x10, false);
    EXPECT_TRUE(check_return_after_call(process, s).empty());
}

TEST_F(ChecksTest, ReturnAfterCallUnreadableCodeIsAFinding) {
    UnwoundStack s = good_stack();
    s.frames[1].pc = 0x600100;  // readable nowhere
    const auto fs = check_return_after_call(process, s);
    ASSERT_EQ(fs.size(), 1u);
    EXPECT_EQ(fs[0].frame, 1);
}

// ---- stack bounds

TEST_F(ChecksTest, StackBoundsInside) {
    UnwoundStack s = good_stack();
    s.frames[2].sp = kStackHi;  // an empty stack: sp at the mapping's end is fine
    EXPECT_TRUE(check_stack_bounds(process, thread_at(kAfterSyscall, 34), s).empty());
}

TEST_F(ChecksTest, StackBoundsSpOrCfaOutside) {
    UnwoundStack s = good_stack();
    s.frames[1].sp = 0x600100;
    s.frames[2].cfa = kStackHi + 0x1000;
    const auto fs = check_stack_bounds(process, thread_at(kAfterSyscall, 34), s);
    EXPECT_EQ(frames_of(fs, Check::stack_bounds), (std::vector<int>{1, 2})) << dump(fs);
}

TEST_F(ChecksTest, StackBoundsThreadSpInNoMapping) {
    const auto fs = check_stack_bounds(process, thread_at(kAfterSyscall, 34, 0x10000), good_stack());
    ASSERT_EQ(fs.size(), 1u);
    EXPECT_EQ(fs[0].frame, 0);
}

// ---- executable

TEST_F(ChecksTest, ExecutableByMappingPermissions) {
    UnwoundStack s = good_stack();
    s.frames[1].pc = 0x600101;        // rw- data (lookup address 0x600100)
    s.frames[2].pc = 0x300001;        // no mapping at all
    const auto fs = check_executable(process, s);
    EXPECT_EQ(frames_of(fs, Check::executable), (std::vector<int>{1, 2})) << dump(fs);
}

TEST_F(ChecksTest, ReturnAddressJustPastAnExecutableMappingIsExecutable) {
    // A return address is looked up at pc-1 (a call to a noreturn function at
    // the very end of the text).
    UnwoundStack s = good_stack();
    s.frames[1].pc = 0x402000;
    EXPECT_TRUE(check_executable(process, s).empty());
    s.frames[0].pc = 0x402000;  // frame 0's pc is exact: not executable
    EXPECT_EQ(frames_of(check_executable(process, s), Check::executable), (std::vector<int>{0}));
}

TEST_F(ChecksTest, UnknownPermissionsWithoutAnImageAreNotExecutable) {
    process.mappings[0].permissions_known = false;
    const auto fs = check_executable(process, good_stack());
    EXPECT_EQ(frames_of(fs, Check::executable), (std::vector<int>{0, 1, 2})) << dump(fs);
}

// ---- modules

TEST_F(ChecksTest, ModuleWithBuildIdMismatchNamesTheFile) {
    UnwoundStack s = good_stack();
    s.frames[1].pc = kFooCall;
    const auto fs = check_modules(process, s);
    ASSERT_EQ(fs.size(), 1u) << dump(fs);
    EXPECT_EQ(fs[0].check, Check::module);
    EXPECT_EQ(fs[0].frame, 1);
    EXPECT_NE(fs[0].detail.find("/usr/lib/libfoo.so.1"), std::string::npos) << fs[0].detail;
}

TEST_F(ChecksTest, ModuleMissingForAnonymousCode) {
    UnwoundStack s = good_stack();
    s.frames[2].pc = 0x600101;
    const auto fs = check_modules(process, s);
    EXPECT_EQ(frames_of(fs, Check::module), (std::vector<int>{2})) << dump(fs);
}

TEST_F(ChecksTest, ModuleLookupUsesTheCallingFunctionsAddress) {
    UnwoundStack s = good_stack();
    s.frames[1].pc = 0x501000;  // return address just past libfoo's end: in libfoo
    EXPECT_EQ(frames_of(check_modules(process, s), Check::module), (std::vector<int>{1}));
    s.frames[1].pc = 0x500000;  // return address at libfoo's start: the caller is before it
    EXPECT_EQ(frames_of(check_modules(process, s), Check::module), (std::vector<int>{1}));
    s.frames[1].pc = 0x402000;  // just past prog's end: in prog, which is fine
    EXPECT_TRUE(check_modules(process, s).empty());
}

// ---- repeated frames

TEST_F(ChecksTest, RepeatedFrameIsALoop) {
    UnwoundStack s = good_stack();
    s.frames.push_back(s.frames[1]);
    const auto fs = check_repeated_frames(s);
    EXPECT_EQ(frames_of(fs, Check::repeated_frame), (std::vector<int>{3})) << dump(fs);
}

TEST_F(ChecksTest, RecursionIsNotARepeat) {
    UnwoundStack s = good_stack();
    Frame again = s.frames[1];
    again.sp += 0x100;
    s.frames.push_back(again);
    EXPECT_TRUE(check_repeated_frames(s).empty());
}

// ---- check_all

TEST_F(ChecksTest, CheckAllDeduplicatesAndOrdersByFrame) {
    UnwoundStack s;
    s.frames = {
        frame(kAfterCall, kThreadSp, kThreadSp + 0x10, false, "spin", 9),  // not parked
        frame(kAfterJmp, kThreadSp + 0x10, kThreadSp + 0x20, true),        // not after a call
        frame(kFooCall, kThreadSp + 0x20, 0, true),                        // libfoo: mismatch
    };
    s.end.kind = StackEnd::Kind::failed;
    s.end.detail = "cannot unwind through libfoo";
    s.findings = {
        {Check::module, 2, "unwinder: cannot unwind through /usr/lib/libfoo.so.1"},
        {Check::unwind, -1, "something about the whole stack"},
    };
    const auto fs = check_all(process, thread_at(kAfterCall, 34), s);

    EXPECT_TRUE(std::is_sorted(fs.begin(), fs.end(), [](const Finding& a, const Finding& b) { return a.frame < b.frame; }))
        << dump(fs);
    std::set<std::pair<int, Check>> pairs;
    for (const Finding& f : fs) EXPECT_TRUE(pairs.insert({f.frame, f.check}).second) << "duplicate\n" << dump(fs);
    const std::set<std::pair<int, Check>> expected = {
        {-1, Check::unwind}, {0, Check::top}, {1, Check::return_after_call}, {2, Check::module}, {2, Check::bottom},
    };
    EXPECT_EQ(pairs, expected) << dump(fs);
    EXPECT_EQ(fs.size(), expected.size()) << dump(fs);
}

// ---- executable with a real ELF image (mapping permissions unknown)

using test::run;

using test::kLibc;

TEST(ChecksWithElf, UnknownPermissionsFallBackToSegmentFlags) {
    // Independent facts from binutils: pause's address (nm) and a segment
    // without PF_X (readelf -l).
    const std::string nm = run(std::string("nm -D -S ") + kLibc + " 2>/dev/null");
    std::smatch m;
    if (!std::regex_search(nm, m, std::regex(R"(([0-9a-f]+) [0-9a-f]+ [TtWi] pause@)"))) {
        GTEST_SKIP() << "nm or libc.so.6 unavailable";
    }
    const uint64_t pause = std::stoull(m[1], nullptr, 16);
    const std::string phdrs = run(std::string("readelf -lW ") + kLibc);
    std::regex load(R"(LOAD\s+0x[0-9a-f]+\s+0x([0-9a-f]+)\s+0x[0-9a-f]+\s+0x[0-9a-f]+\s+0x([0-9a-f]+)\s+([RWE ]+?)\s+0x)");
    std::optional<uint64_t> data_addr;
    for (auto it = std::sregex_iterator(phdrs.begin(), phdrs.end(), load); it != std::sregex_iterator(); ++it) {
        if ((*it)[3].str().find('E') == std::string::npos) {
            data_addr = std::stoull((*it)[1], nullptr, 16) + 0x10;
            break;
        }
    }
    ASSERT_TRUE(data_addr.has_value()) << phdrs;

    auto image = ElfImage::open(kLibc);
    ASSERT_TRUE(image.ok()) << image.error().message;
    constexpr uint64_t bias = 0x7f1200000000;
    ProcessImage p;
    p.memory = std::make_shared<BufferMemory>();
    Mapping all = mapping(bias, bias + 0x400000, kLibc, false, false, false);
    all.permissions_known = false;
    p.mappings = {all};
    Module libc = module(kLibc, bias, bias + 0x400000);
    libc.image = *image;
    p.modules.add(libc);

    UnwoundStack s;
    s.frames = {frame(bias + pause + 4, 0, 0, false), frame(bias + *data_addr, 0, 0, false)};
    EXPECT_EQ(frames_of(check_executable(p, s), Check::executable), (std::vector<int>{1}));
}

}  // namespace
}  // namespace lpsafe
