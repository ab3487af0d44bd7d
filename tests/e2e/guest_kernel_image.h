// Return-after-call on a foreign guest's /proc capture with its kernel's
// code (--vmlinux): what the arm64 and s390x guest tests share. Debian ships
// both kernels without an ELF header (arm64's raw Image, s390x's
// decompressor holding the raw kernel), which lpsafe wraps as an ELF
// (src/readers/kernel/raw_kernel_image.cpp); each guest commits an excerpt
// (fixtures/make-image-excerpt.py).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace lpsafe::e2e {

// `lpsafe check --kernel --json --proc-root CAPTURE --func vmlinux:pipe_read`
// with IMAGE as --vmlinux, or --no-kernel-image when IMAGE is empty. Exit
// status 3 (an error) is a failure and gives an empty document.
nlohmann::json check_with_image(const std::string& capture, const std::string& image);

// Does the task's verdict list return-after-call among its skipped checks?
bool skips_return_after_call(const nlohmann::json& task);

// A guest's kernel image and what lpsafe must make of it.
struct GuestImage {
    std::string path;
    std::string format;    // kernel.image_format
    std::string build_id;  // the image's, which the capture's running kernel has
};

// With the image every task keeps the verdict it has without one, and
// return-after-call runs on every task (without the image it is skipped on
// the `judged` tasks, all but the running ones); the running build-id is the
// image's. Returns the check made with the image.
nlohmann::json expect_image_keeps_verdicts(const std::string& capture, const GuestImage& image, int judged);

// A listed return address moved off its call: `from` ("kthread+0x10c/")
// replaced by `to` in the stack file `stack_file` (relative to the capture)
// of task `tid`, in `copy`, a fresh copy of the capture (removed after).
// With the image only that task is unreliable, by return-after-call at
// `frame`; without it the check is skipped and nothing is unreliable.
struct MovedReturn {
    const char* from;
    const char* to;
    int frame;
};
void expect_moved_return_caught(const std::string& copy, const std::string& stack_file, int tid, const MovedReturn& m,
                                const std::string& image);

// One byte of the running build-id in `copy` (a fresh copy of the capture,
// removed after) changed: every judged task is unreliable and the mismatch
// names the image's build-id.
void expect_other_build_id_caught(const std::string& copy, const GuestImage& image, int judged);

}  // namespace lpsafe::e2e
