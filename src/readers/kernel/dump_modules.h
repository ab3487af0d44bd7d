// The loaded modules of a kernel, read from its memory: the `modules` list
// (kernel/module/main.c), each module's name, its symbols as /proc/kallsyms
// prints them (struct mod_kallsyms: symtab, strtab, typetab; kernel/module/
// kallsyms.c) and its build-id (the .note.gnu.build-id section the module
// loader exposes in /sys/module/M/notes, struct module_notes_attrs). With
// them a dump's module frames are named and its modules' .ko files placed
// and verified exactly as for the live /proc (kernel_modules.h).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "lpsafe/kallsyms.h"
#include "lpsafe/memory.h"
#include "lpsafe/result.h"
#include "readers/kernel/kernel_btf.h"

namespace lpsafe::readers {

struct DumpModules {
    std::vector<std::string> names;                // in list order
    std::string kallsyms;                          // "addr t name\t[module]" lines
    std::map<std::string, std::string> build_ids;  // module -> lower-case hex, when its note was readable
    std::vector<std::string> notes;                // what could not be read, per module
};

// `vmlinux` locates the list head (the image symbol `modules`).
Result<DumpModules> modules_from_memory(const Memory& memory, const Kallsyms& vmlinux, const KernelBtf& btf);

}  // namespace lpsafe::readers
