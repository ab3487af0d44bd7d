// Facts about code addresses that do not change while a process image is
// checked: which module and function hold an address, its CFI row, whether
// its function sets up a frame pointer, whether a call ends at a return
// address, whether it is executable. Threads of one process share their
// code, so the same few hundred return sites come back on thousands of
// stacks; each is looked up and decoded once per cache instead of once per
// frame.
//
// Ownership: one SiteCache per pass over one ProcessImage, per worker thread
// (check_process makes one for each of its workers; the public
// unwind_thread/check_all make a private one per call). It is not
// thread-safe and needs no lock; it must not outlive the image, nor be used
// with another image: its entries point into that image's modules.
#pragma once

#include <cstdint>
#include <optional>
#include <unordered_map>
#include <utility>

#include "lpsafe/arch.h"
#include "lpsafe/checks.h"
#include "lpsafe/process.h"
#include "lpsafe/unwind.h"
#include "symbolize.h"

namespace lpsafe {

class SiteCache {
public:
    // What check_fp_prologue says of the function holding an address.
    struct Prologue {
        bool bounded = false;  // a symbol or FDE bounds the function holding the address
        RuleOutcome outcome;
    };

    explicit SiteCache(const ProcessImage& process) : process_(process), arch_(arch_of(process.arch)) {}
    SiteCache(const SiteCache&) = delete;
    SiteCache& operator=(const SiteCache&) = delete;

    const ProcessImage& process() const { return process_; }

    // locate(process, addr), remembered.
    const CodeLocation& location(uint64_t addr) { return site(addr).loc; }
    // The CFI row of a usable module's address (`addr` at runtime).
    const CfiLookup& cfi(uint64_t addr);
    // Arch::check_fp_prologue for the function holding `addr`, up to `addr`.
    const Prologue& fp_prologue(uint64_t addr);
    // Arch::check_call_before for return address `ret`.
    const RuleOutcome& call_before(uint64_t ret);
    // ProcessImage::is_executable(addr).
    bool executable(uint64_t addr);
    // call_reaches_callee(ret, callee) (checks.cpp): a return site and the
    // pc of the frame it called; both recur on every thread parked alike.
    const RuleOutcome& call_reaches(uint64_t ret, uint64_t callee);

private:
    struct Site {
        CodeLocation loc;
        std::optional<CfiLookup> cfi;
        std::optional<Prologue> prologue;
        std::optional<RuleOutcome> call_before;  // for the return address addr + 1
        std::optional<bool> executable;
    };
    Site& site(uint64_t addr);

    const ProcessImage& process_;
    const Arch& arch_;
    std::unordered_map<uint64_t, Site> sites_;  // node-based: references stay valid
    struct PairHash {
        size_t operator()(const std::pair<uint64_t, uint64_t>& p) const {
            return std::hash<uint64_t>{}(p.first * 0x9e3779b97f4a7c15ULL ^ p.second);
        }
    };
    std::unordered_map<std::pair<uint64_t, uint64_t>, RuleOutcome, PairHash> call_reaches_;
};

// The call-target rule of return-after-call: the call before `ret` must reach
// the function holding `callee_addr` (the called frame's lookup address).
RuleOutcome call_reaches_callee(const ProcessImage& process, uint64_t ret, uint64_t callee_addr);
// Code entered at `target` (by a call, or as a thread's start) reaches the
// frame at `at`: it is in that function or in one its tail calls reach.
RuleOutcome control_reaches(const ProcessImage& process, uint64_t target, uint64_t at, std::string_view what);

// The engine's passes with a caller-owned cache (the public functions in
// unwind.h and checks.h make a private cache and call these).
UnwoundStack unwind_thread(SiteCache& cache, const ThreadState& thread, const UnwindOptions& options);
std::vector<Finding> check_return_after_call(SiteCache& cache, const UnwoundStack& stack);
std::vector<Finding> check_executable(SiteCache& cache, const UnwoundStack& stack);
std::vector<Finding> check_modules(SiteCache& cache, const UnwoundStack& stack);
std::vector<Finding> check_all(SiteCache& cache, const ThreadState& thread, const UnwoundStack& stack);
void symbolize(SiteCache& cache, Frame& frame);

}  // namespace lpsafe
