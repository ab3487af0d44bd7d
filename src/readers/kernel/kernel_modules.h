// The files of the loaded kernel modules: found under /lib/modules/<release>
// (modules.dep, or a walk of the tree when depmod has not run), checked
// against the loaded module's build-id (/sys/module/<m>/notes/
// .note.gnu.build-id), and placed at the addresses the module loader gave
// their code sections, as kallsyms shows them.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "lpsafe/kallsyms.h"
#include "lpsafe/kernel_stack.h"
#include "lpsafe/result.h"

namespace lpsafe::readers {

// The name the kernel gives a module file (scripts/Makefile.lib modname:
// the file name without .ko[.*], '-' as '_'), or of a module name.
std::string module_name_of(std::string_view file_or_name);

// Module name -> file, for one release's directory (/lib/modules/R):
// modules.dep when present, else every *.ko, *.ko.xz, *.ko.zst, *.ko.gz below
// it; a file under updates/ wins over others of the same name (depmod's
// default search order). A missing directory is an error.
Result<std::map<std::string, std::string>> index_module_files(const std::string& release_dir);

// Reads the module file, compares its build-id with `loaded_build_id` (empty:
// unknown, so the file is unverified), and places every code section whose
// function symbols kallsyms lists for `module`: runtime start = kallsyms
// address - st_value, agreed by all of the section's uniquely named
// functions. The state says whether the regions may be used.
struct PlacedModule {
    KernelModuleCode code;
    std::vector<CodeRegion> regions;
    // Its .orc_unwind table with every ip relocated to where the module's
    // code lies; absent without one (or when an ip cannot be placed).
    std::optional<OrcTable> orc;
};
PlacedModule place_module(const std::string& module, const std::string& path, std::string_view loaded_build_id,
                          const Kallsyms& kallsyms);

}  // namespace lpsafe::readers
