// The architecture table: one row per supported architecture, defined in its
// arch/<name>/ folder.
#include <elf.h>

#include "lpsafe/arch.h"

namespace lpsafe {

extern const Arch kX86_64Arch;  // arch/x86_64/x86_64_arch.cpp
extern const Arch kAarch64Arch;  // arch/aarch64/aarch64_arch.cpp
extern const Arch kPpc64leArch;  // arch/ppc64le/ppc64le_arch.cpp
extern const Arch kS390xArch;  // arch/s390x/s390x_arch.cpp

namespace {
const Arch* const kArches[] = {&kX86_64Arch, &kAarch64Arch, &kPpc64leArch, &kS390xArch};
}

const Arch& arch_of(ArchId id) {
    for (const Arch* a : kArches) {
        if (a->id == id) return *a;
    }
    return kX86_64Arch;
}

std::span<const Arch* const> all_arches() { return kArches; }

const Arch* arch_for_elf_machine(uint16_t machine) {
    for (const Arch* a : kArches) {
        if (a->elf_machine == machine) return a;
    }
    return nullptr;
}

}  // namespace lpsafe
