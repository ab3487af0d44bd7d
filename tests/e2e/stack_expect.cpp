#include "stack_expect.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace lpsafe::e2e {

const std::vector<std::string> kParkedRoles = {"main", "pause", "nanosleep", "piperead", "condvar", "epoll"};

int index_of(const std::vector<Frame>& frames, const std::string& function) {
    for (size_t i = 0; i < frames.size(); ++i) {
        if (frames[i].function == function) return static_cast<int>(i);
    }
    return -1;
}

bool has_finding(const TaskVerdict& t, Check check, int frame) {
    return std::any_of(t.findings.begin(), t.findings.end(),
                       [&](const Finding& f) { return f.check == check && f.frame == frame; });
}

std::string dump(const TaskVerdict& t) {
    std::string s = "tid " + std::to_string(t.tid) + " verdict " + std::string(verdict_name(t.verdict)) + "\n";
    for (size_t i = 0; i < t.frames.size(); ++i) s += "  #" + std::to_string(i) + " " + t.frames[i].function + " (" + t.frames[i].object + ")\n";
    for (const auto& f : t.findings) s += "  ! " + std::string(check_name(f.check)) + "@" + std::to_string(f.frame) + ": " + f.detail + "\n";
    return s;
}

// The program's own chain must appear contiguously, innermost first.
void expect_chain(const TaskVerdict& t, const std::vector<std::string>& chain) {
    const int first = index_of(t.frames, chain.front());
    ASSERT_GE(first, 0) << dump(t);
    for (size_t k = 0; k < chain.size(); ++k) {
        ASSERT_LT(first + k, t.frames.size()) << dump(t);
        EXPECT_EQ(t.frames[first + k].function, chain[k]) << dump(t);
    }
}

void expect_untouched_verdicts(const ProcessReport& r, const std::map<int, std::string>& roles,
                               const std::map<std::string, Expectation>& expect, bool no_cfi,
                               const std::string& main_outermost) {
    ASSERT_EQ(r.tasks.size(), 9u);
    for (const TaskVerdict& t : r.tasks) {
        const std::string role = roles.at(t.tid);
        SCOPED_TRACE(role);
        if (std::find(kParkedRoles.begin(), kParkedRoles.end(), role) != kParkedRoles.end()) {
            EXPECT_EQ(t.verdict, VerdictKind::safe) << dump(t);
            EXPECT_TRUE(t.findings.empty()) << dump(t);
            EXPECT_EQ(t.end.kind, StackEnd::Kind::outermost) << dump(t);
            expect_chain(t, expect.at(role).chain);
            if (role == "main") {
                EXPECT_EQ(t.frames.back().function, main_outermost) << dump(t);
            }
        } else if (role == "spin") {
            EXPECT_EQ(t.verdict, VerdictKind::unreliable) << dump(t);
            const bool top = std::any_of(t.findings.begin(), t.findings.end(), [](const Finding& f) {
                return f.check == Check::top && f.frame == 0;
            });
            EXPECT_TRUE(top) << dump(t);
            if (no_cfi) {
                // A running thread's innermost frame without CFI cannot be
                // unwound at all: it may be mid-prologue.
                EXPECT_EQ(t.frames.size(), 1u) << dump(t);
                EXPECT_EQ(t.end.kind, StackEnd::Kind::failed);
            } else {
                // Reliable walk, but not parked: blocked_by has spin_outer,
                // the verdict is still unreliable (klp_check_stack order).
                ASSERT_EQ(t.findings.size(), 1u) << dump(t);
                ASSERT_EQ(t.blocked_by.size(), 1u);
                EXPECT_EQ(t.blocked_by[0].function, "spin_outer");
                expect_chain(t, expect.at(role).chain);
            }
        } else if (role == "deep") {
            EXPECT_EQ(t.verdict, VerdictKind::unreliable) << dump(t);
            EXPECT_EQ(t.end.kind, StackEnd::Kind::depth_limit);
            EXPECT_EQ(t.frames.size(), 128u);
            ASSERT_EQ(t.findings.size(), 1u) << dump(t);
            EXPECT_EQ(t.findings[0].check, Check::bottom);
        } else {
            ASSERT_EQ(role, "smash");
            EXPECT_EQ(t.verdict, VerdictKind::unreliable) << dump(t);
        }
    }
}

}  // namespace lpsafe::e2e
