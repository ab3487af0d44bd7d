#include "site_cache.h"

namespace lpsafe {

SiteCache::Site& SiteCache::site(uint64_t addr) {
    auto [it, inserted] = sites_.try_emplace(addr);
    if (inserted) it->second.loc = locate(process_, addr);
    return it->second;
}

const CfiLookup& SiteCache::cfi(uint64_t addr) {
    Site& s = site(addr);
    if (!s.cfi) {
        const Module* m = s.loc.module;
        s.cfi = m != nullptr && m->image ? m->image->cfi_at(addr - m->bias)
                                         : CfiLookup{CfiLookup::Status::no_tables, {}, "no module"};
    }
    return *s.cfi;
}

const SiteCache::Prologue& SiteCache::fp_prologue(uint64_t addr) {
    Site& s = site(addr);
    if (!s.prologue) {
        if (!s.loc.has_function()) {
            s.prologue = Prologue{false, RuleOutcome::cannot("no symbol or FDE bounds the frame's function")};
        } else {
            s.prologue = Prologue{true,
                                  arch_.check_fp_prologue(process_, s.loc.function_start, s.loc.function_size, addr)};
        }
    }
    return *s.prologue;
}

const RuleOutcome& SiteCache::call_before(uint64_t ret) {
    // The function is the one holding ret - 1: a call to a noreturn function
    // may end its caller, so ret itself can lie past the end (frame.h).
    Site& s = site(ret - 1);
    if (!s.call_before) {
        s.call_before = arch_.check_call_before(process_, ret, s.loc.function_start, s.loc.function_size);
    }
    return *s.call_before;
}

const RuleOutcome& SiteCache::call_reaches(uint64_t ret, uint64_t callee) {
    auto [it, inserted] = call_reaches_.try_emplace({ret, callee});
    if (inserted) it->second = call_reaches_callee(process_, ret, callee);
    return it->second;
}

bool SiteCache::executable(uint64_t addr) {
    Site& s = site(addr);
    if (!s.executable) s.executable = process_.is_executable(addr);
    return *s.executable;
}

}  // namespace lpsafe
