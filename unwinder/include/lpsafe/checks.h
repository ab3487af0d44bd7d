// The reliability checks (docs/verdict-rules.md): top, bottom,
// return-after-call, stack bounds, executable pcs, module verification.
#pragma once

#include <vector>

#include "lpsafe/finding.h"
#include "lpsafe/process.h"
#include "lpsafe/unwind.h"

namespace lpsafe {

std::vector<Finding> check_top(const ProcessImage& process, const ThreadState& thread, const UnwoundStack& stack);
std::vector<Finding> check_bottom(const ProcessImage& process, const ThreadState& thread,
                                  const UnwoundStack& stack);
std::vector<Finding> check_return_after_call(const ProcessImage& process, const UnwoundStack& stack);
std::vector<Finding> check_stack_bounds(const ProcessImage& process, const ThreadState& thread,
                                        const UnwoundStack& stack);
std::vector<Finding> check_executable(const ProcessImage& process, const UnwoundStack& stack);
std::vector<Finding> check_modules(const ProcessImage& process, const UnwoundStack& stack);
std::vector<Finding> check_repeated_frames(const UnwoundStack& stack);

// All of the above plus the unwinder's own findings, in frame order.
std::vector<Finding> check_all(const ProcessImage& process, const ThreadState& thread,
                               const UnwoundStack& stack);

}  // namespace lpsafe
