// Where return-after-call on kernel stacks gets kernel code from, found
// without being told: the running release's image (/boot/vmlinuz-R, or an
// uncompressed vmlinux where debug packages put one) checked against the
// running kernel's build-id, and the files of the modules whose frames are
// listed, each checked against the loaded module's build-id. Nothing here
// fails the check: what cannot be used is recorded with the reason, and
// return-after-call is skipped (or, for a file of another build, unreliable)
// on the frames it would have covered.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "lpsafe/kernel_stack.h"
#include "lpsafe/result.h"
#include "readers/kernel/kernel_scan.h"

namespace lpsafe::readers {

struct KernelCodeOptions {
    // An image named by the user: used even when it cannot be verified (a
    // mismatch still makes every verdict unreliable); one that cannot be
    // read is an error.
    std::string vmlinux;
    // Where vmlinux-R / vmlinuz-R are looked for; empty: /boot and the
    // places debug packages and build trees use.
    std::string boot_dir;
    std::string modules_dir = "/lib/modules";  // holds R/ with the module files
    // Where compressed images are kept unpacked (unpacked_image_cache.h);
    // empty: unpacked every time.
    std::string image_cache_dir;
};

// The image files tried, in order, for release `release`.
std::vector<std::string> kernel_image_candidates(const KernelCodeOptions& options, const std::string& release);

// The modules named in the tasks' stack listings.
std::set<std::string> modules_in_stacks(const std::vector<KernelTask>& tasks);
// Every loaded module kallsyms lists: a walk of kernel memory can enter any.
std::set<std::string> modules_in_kallsyms(const Kallsyms& kallsyms);

// The kernel's code for `input`, with `modules` placed when their files are
// found and verified.
Result<KernelImage> load_kernel_code(const KernelCodeOptions& options, const KernelInput& input,
                                     const std::set<std::string>& modules);
// Adds those of `modules` that `image` does not list yet (--watch: a module
// that shows up in a later round's stacks).
void add_module_code(const KernelCodeOptions& options, const KernelInput& input, const std::set<std::string>& modules,
                     KernelImage& image);

}  // namespace lpsafe::readers
