// return-after-call on kernel stacks with a kernel image (--vmlinux): a
// real ELF (fixtures/programs/kimage.cpp) relocated by a KASLR offset, its
// kallsyms made by nm (an independent reader), its listing from the
// return addresses the running program saw. The x86_64 decoder that checks
// user stacks checks these too.
#include <gtest/gtest.h>

#include <elf.h>

#include <algorithm>
#include <sstream>

#include "fixture_util.h"
#include "lpsafe/kernel_stack.h"

namespace lpsafe::e2e {
namespace {

constexpr uint64_t kKaslr = 0x3a00000;

std::string kimage_bin() {
    const char* v = std::getenv("LPSAFE_KIMAGE");
    return v != nullptr ? v : "";
}

struct Fixture {
    std::shared_ptr<ElfImage> elf;
    Kallsyms kallsyms;
    std::map<std::string, uint64_t> ret_offset;  // function -> offset of its return address
};

// kallsyms as the running "kernel" would show it: nm's symbols moved by the
// KASLR offset, plus _text at the image's text start.
std::string kallsyms_text(const ElfImage& elf, uint64_t shift) {
    uint64_t text = UINT64_MAX;
    for (const ElfSegment& s : elf.segments()) {
        if ((s.flags & PF_X) != 0) text = std::min(text, s.vaddr);
    }
    std::ostringstream out;
    out << std::hex << text + shift << " T _text\n";
    std::istringstream nm(run_command("nm -n --defined-only " + kimage_bin()).out);
    for (std::string addr, type, name; nm >> addr >> type >> name;) {
        // The linker's bounds of section sched_text play the kernel's.
        if (name == "__start_sched_text") name = "__sched_text_start";
        if (name == "__stop_sched_text") name = "__sched_text_end";
        out << std::hex << std::stoull(addr, nullptr, 16) + shift << " " << type << " " << name << "\n";
    }
    return out.str();
}

Fixture load(uint64_t shift) {
    Fixture f;
    auto elf = ElfImage::open(kimage_bin());
    EXPECT_TRUE(elf.ok()) << kimage_bin();
    f.elf = *elf;
    auto k = Kallsyms::parse(kallsyms_text(*f.elf, shift));
    EXPECT_TRUE(k.ok()) << (k.ok() ? "" : k.error().message);
    f.kallsyms = std::move(*k);
    std::istringstream run(run_command(kimage_bin()).out);
    for (std::string fn, off; run >> fn >> off;) f.ret_offset[fn] = std::stoull(off, nullptr, 16);
    EXPECT_EQ(f.ret_offset.size(), 3u);
    return f;
}

std::string listing(const Fixture& f, uint64_t nudge_middle = 0) {
    std::ostringstream out;
    for (const char* fn : {"middle", "outer", "entry_SYSCALL_64_after_hwframe"}) {
        const auto syms = f.kallsyms.named(fn, "vmlinux");
        EXPECT_EQ(syms.size(), 1u) << fn;
        const uint64_t off = f.ret_offset.at(fn) - (std::string(fn) == "middle" ? nudge_middle : 0);
        out << "[<0>] " << fn << "+0x" << std::hex << off << "/0x" << syms[0]->size << "\n";
    }
    return out.str();
}

TaskVerdict check(const Fixture& f, const KernelImage* image, const std::string& stack, const char* patched = nullptr) {
    KernelTask t;
    t.pid = t.tid = 42;
    t.state = "S";
    t.stack = stack;
    KernelCheckOptions options;
    options.image = image;
    ResolvedPatchSet patch;
    if (patched != nullptr) {
        PatchSet set;
        EXPECT_TRUE(set.add_spec(std::string("vmlinux:") + patched).ok());
        auto r = resolve_kernel_patch_set(set, f.kallsyms);
        EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
        patch = std::move(*r);
    }
    return check_kernel_task(t, f.kallsyms, patch, options);
}
TaskVerdict check(const Fixture& f, const KernelImage& image, const std::string& stack) {
    return check(f, &image, stack);
}

TEST(KernelImage, ReturnAddressesFollowCallsAfterRelocation) {
    Fixture f = load(kKaslr);
    auto image = make_kernel_image(f.elf, f.kallsyms, f.elf->build_id());
    ASSERT_TRUE(image.ok()) << image.error().message;
    EXPECT_EQ(image->kaslr_offset, static_cast<int64_t>(kKaslr));
    EXPECT_TRUE(image->mismatch.empty());
    const TaskVerdict v = check(f, *image, listing(f));
    EXPECT_EQ(v.verdict, VerdictKind::safe) << (v.findings.empty() ? "" : v.findings[0].detail);
    EXPECT_TRUE(v.skipped.empty());
}

TEST(KernelImage, AnAddressThatDoesNotFollowACallIsUnreliable) {
    Fixture f = load(kKaslr);
    auto image = make_kernel_image(f.elf, f.kallsyms, "");
    ASSERT_TRUE(image.ok());
    const TaskVerdict v = check(f, *image, listing(f, 1));
    EXPECT_EQ(v.verdict, VerdictKind::unreliable);
    ASSERT_FALSE(v.findings.empty());
    EXPECT_EQ(v.findings[0].check, Check::return_after_call);
    EXPECT_EQ(v.findings[0].frame, 0);
}

TEST(KernelImage, AnotherKernelsImageMakesEveryVerdictUnreliable) {
    Fixture f = load(kKaslr);
    auto image = make_kernel_image(f.elf, f.kallsyms, "4a5a9b0affb66c437abcd455d2738af879985fa9");
    ASSERT_TRUE(image.ok());
    ASSERT_FALSE(image->mismatch.empty());
    EXPECT_NE(image->mismatch.find(kimage_bin()), std::string::npos);
    const TaskVerdict v = check(f, *image, listing(f));
    EXPECT_EQ(v.verdict, VerdictKind::unreliable);
    EXPECT_EQ(v.findings[0].check, Check::return_after_call);
}

// A patched function in scheduler text is never in the listing: without
// the image nothing bounds the hidden frames above frame 0, so no safe.
TEST(KernelElided, APatchedSchedFunctionMakesTheListingUnreliableWithoutAnImage) {
    Fixture f = load(kKaslr);
    ASSERT_TRUE(f.kallsyms.in_sched_functions(f.kallsyms.named("leaf", "vmlinux")[0]->addr));
    for (const char* fn : {"leaf", "other_sleeper"}) {
        const TaskVerdict v = check(f, nullptr, listing(f), fn);
        EXPECT_EQ(v.verdict, VerdictKind::unreliable) << fn;
        ASSERT_FALSE(v.findings.empty());
        EXPECT_EQ(v.findings.back().check, Check::elided);
        EXPECT_NE(v.findings.back().detail.find(fn), std::string::npos) << v.findings.back().detail;
        EXPECT_NE(v.findings.back().detail.find("no kernel image"), std::string::npos);
    }
}

// With the image: middle's call goes straight to leaf, which has no tail
// jump, so leaf is on the stack (blocked, an inferred frame 0); nothing on
// the chain reaches other_sleeper, so a patch of it is safe.
TEST(KernelElided, TheImageProvesTheHiddenCalleeAndExcludesTheRest) {
    Fixture f = load(kKaslr);
    auto image = make_kernel_image(f.elf, f.kallsyms, f.elf->build_id());
    ASSERT_TRUE(image.ok());
    const TaskVerdict blocked = check(f, &*image, listing(f), "leaf");
    EXPECT_EQ(blocked.verdict, VerdictKind::blocked) << (blocked.findings.empty() ? "" : blocked.findings[0].detail);
    ASSERT_EQ(blocked.frames.size(), 4u);
    EXPECT_EQ(blocked.frames[0].function, "leaf");
    EXPECT_EQ(blocked.frames[0].method, UnwindMethod::inferred);
    ASSERT_EQ(blocked.blocked_by.size(), 1u);
    EXPECT_EQ(blocked.blocked_by[0].frame, 0);
    ASSERT_TRUE(blocked.forecast.has_value());
    EXPECT_EQ(blocked.forecast->kind, Forecast::Kind::converges);

    const TaskVerdict other = check(f, &*image, listing(f), "other_sleeper");
    EXPECT_EQ(other.verdict, VerdictKind::safe) << (other.findings.empty() ? "" : other.findings[0].detail);
    // The inferred frame is shown even when it blocks nothing.
    EXPECT_EQ(other.frames.front().function, "leaf");
}

// A nudged return address gives no call target to bound the hidden frames:
// a patched sched function could be anywhere above, so unreliable.
TEST(KernelElided, AnUnknownCalleeLeavesTheHiddenFramesUnbounded) {
    Fixture f = load(kKaslr);
    auto image = make_kernel_image(f.elf, f.kallsyms, f.elf->build_id());
    ASSERT_TRUE(image.ok());
    const TaskVerdict v = check(f, &*image, listing(f, 1), "other_sleeper");
    EXPECT_EQ(v.verdict, VerdictKind::unreliable);
    EXPECT_TRUE(std::any_of(v.findings.begin(), v.findings.end(), [](const Finding& x) { return x.check == Check::elided; }));
}

TEST(KernelImage, WithoutTextInKallsymsTheImageCannotBeRelocated) {
    auto elf = ElfImage::open(kimage_bin());
    ASSERT_TRUE(elf.ok());
    auto k = Kallsyms::parse("ffffffff81000000 T schedule\n");
    ASSERT_TRUE(k.ok());
    EXPECT_FALSE(make_kernel_image(*elf, *k, "").ok());
}

}  // namespace
}  // namespace lpsafe::e2e
