#include "readers/kernel/kernel_dump.h"

#include <linux/magic.h>
#include <sys/statfs.h>

#include "readers/kernel/kdump_memory.h"
#include "readers/kernel/kernel_core_memory.h"

namespace lpsafe::readers {

bool is_live_kernel_memory(const std::string& path) {
    struct statfs fs {};
    return ::statfs(path.c_str(), &fs) == 0 && fs.f_type == PROC_SUPER_MAGIC;
}

Result<KernelDump> open_kernel_dump(const std::string& path) {
    if (looks_like_kdump_file(path)) {
        auto kd = KdumpFileMemory::open(path);
        if (!kd) return kd.error();
        KernelDump out{*kd, VmcoreInfo::parse((*kd)->vmcoreinfo()), (*kd)->format()};
        return out;
    }
    auto memory = KernelCoreMemory::open(path);
    if (!memory) return memory.error();
    auto info = VmcoreInfo::from_notes((*memory)->notes());
    if (!info) return make_error(path + ": " + info.error().message);
    if (!is_live_kernel_memory(path)) (void)(*memory)->map_file();
    // x86_64 (arch/x86/kernel/machine_kexec_64.c): what the PT_LOADs do not
    // map virtually is found through init_top_pgt, at its physical address
    // __pa_symbol() = vaddr - __START_KERNEL_map + phys_base.
    const auto pgt = info->symbol("init_top_pgt");
    const auto phys_base = info->number("phys_base");
    if (pgt && phys_base) {
        constexpr uint64_t kStartKernelMap = 0xffffffff80000000;
        (*memory)->use_page_tables(*pgt - kStartKernelMap + *phys_base, info->number("pgtable_l5_enabled") == 1u);
    }
    return KernelDump{std::move(*memory), std::move(*info), "ELF"};
}

}  // namespace lpsafe::readers
