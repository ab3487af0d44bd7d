// Does a module's code take a function's address, so that a call through a
// register can enter it (Arch::check_address_taken)? Each architecture
// says how its code builds an address in a register (x86_64: a
// rip-relative lea; aarch64: adrp then add, or adr); what they share is
// here: the per-image index of such sites, the confirmation of a hit
// through read_code (reported to the snapshot recorder, so that replay's
// search of the image finds the same bytes), a global symbol counting as
// taken (another module may hold its address), and a non-PIE executable's
// absolute words.
//
// The indexes over-approximate on purpose: any bytes that decode as such a
// site count, even inside data or another instruction, so a function looks
// reachable more often than it is: a missed refutation, never a false one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string_view>

#include "lpsafe/arch.h"
#include "lpsafe/module.h"

namespace lpsafe::arch_common {

struct AddressSites {
    std::string_view index_key;  // ElfImage::derived_table key
    // How many bytes from a site show what address it makes.
    size_t window;
    // (address made, site) of every site in the image, file addresses, sorted.
    ElfImage::AddressPairs (*index)(const ElfImage& image);
    // Do the `window` bytes at `site` make `entry`? (runtime addresses)
    bool (*makes)(std::span<const std::byte> window, uint64_t site, uint64_t entry);
};

RuleOutcome check_address_taken(const ProcessImage& process, uint64_t entry, const AddressSites& sites);

// fn(file address, bytes) for each executable PT_LOAD's file bytes, and for
// each code chunk of a replayed snapshot (segments without permissions,
// src/readers/snapshot/snapshot_elf.h).
void for_each_code_segment(const ElfImage& image, const std::function<void(uint64_t, std::span<const std::byte>)>& fn);

}  // namespace lpsafe::arch_common
