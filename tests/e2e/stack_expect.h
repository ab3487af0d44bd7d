// Assertions on checked stacks of fixtures/programs/parked.c, shared by the
// core tests and the live (ptrace) tests: the same program must get the
// same verdicts whether it is read from a core or from the running process.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "fixture_util.h"
#include "lpsafe/analyze.h"

namespace lpsafe::e2e {

// The roles of parked.c whose threads park reliably in a system call.
extern const std::vector<std::string> kParkedRoles;

int index_of(const std::vector<Frame>& frames, const std::string& function);
std::string dump(const TaskVerdict& t);
// Whether `t` has a finding of `check` at frame `frame`.
bool has_finding(const TaskVerdict& t, Check check, int frame);

// The program's own chain must appear contiguously, innermost first.
void expect_chain(const TaskVerdict& t, const std::vector<std::string>& chain);

// Verdicts for the patch set {parked:spin_outer}, which touches no parked
// chain: parked threads safe, spin/deep/smash unreliable for their reason.
// `no_cfi`: the program was built without unwind tables. `main_outermost`:
// main's last frame (ppc64's _start branches to __libc_start_main instead
// of calling it, so it never appears there).
void expect_untouched_verdicts(const ProcessReport& r, const std::map<int, std::string>& roles,
                               const std::map<std::string, Expectation>& expect, bool no_cfi,
                               const std::string& main_outermost = "_start");

}  // namespace lpsafe::e2e
