// What a reader captured of one process: its threads' registers, its memory,
// its mappings and the modules behind them. Readers (core files, ptrace,
// snapshots) produce it; the unwinder and checks only read it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "lpsafe/arch_id.h"
#include "lpsafe/memory.h"
#include "lpsafe/module.h"
#include "lpsafe/regs.h"

namespace lpsafe {

struct Mapping {
    uint64_t start = 0;
    uint64_t end = 0;
    uint64_t file_offset = 0;
    std::string path;  // empty for anonymous memory
    bool readable = false;
    bool writable = false;
    bool executable = false;
    // gcore leaves unsaved mappings out of its program headers; they are known
    // only from NT_FILE, without permissions.
    bool permissions_known = true;
    bool contains(uint64_t addr) const { return addr >= start && addr < end; }
};

// One thread as a reader found it. A live reader may fail to capture a thread
// (it exited, or permission was refused): that is recorded here, not dropped,
// so the verdict says `gone`/`unreadable` instead of silently omitting it.
enum class CaptureStatus { captured, gone, unreadable };

// aarch64 pointer authentication (ARMv8.3 FEAT_PAuth): the bits of a user
// pointer that hold its PAC once signed (paciasp signs x30 before a
// function saves it; autiasp/retaa check it). The kernel reports them per
// thread as struct user_pac_mask {data_mask, insn_mask}
// (arch/arm64/include/uapi/asm/ptrace.h): the NT_ARM_PAC_MASK core note and
// PTRACE_GETREGSET regset. Every return address the unwinder reads is
// stripped with insn_mask (lpsafe/pointer_auth.h); docs/verdict-rules.md
// says why that is sound.
struct PointerAuthMask {
    enum class Source : uint8_t {
        none,       // no mask known: nothing is stripped
        core_note,  // NT_ARM_PAC_MASK of a core
        ptrace,     // PTRACE_GETREGSET NT_ARM_PAC_MASK of a live thread
        // No note, but AT_HWCAP says the process could sign (qemu-user's
        // cores): bits 54 down to the highest bit any mapping of the
        // process uses (derive_pac_mask, lpsafe/pointer_auth.h).
        derived,
    };
    Source source = Source::none;
    uint64_t data_mask = 0;
    uint64_t insn_mask = 0;
    bool operator==(const PointerAuthMask&) const = default;
};

struct ThreadState {
    int tid = 0;
    Regs regs;
    std::string comm;   // the thread's own name when known; else the process's
    std::string state;  // scheduler state letter when known ("S", "D", "R", ...)
    CaptureStatus status = CaptureStatus::captured;
    std::string status_reason;  // why gone/unreadable
    uint64_t stop_ns = 0;       // live capture: how long the thread was stopped
    // The function the thread library started this thread in (glibc: its
    // descriptor's start_routine, readers/modules/thread_start.h), when known: the
    // anchor of a stack whose outermost frame an indirect call made
    // (check_bottom, docs/verdict-rules.md).
    std::optional<uint64_t> start_routine;
    PointerAuthMask pac;  // aarch64 only; Source::none elsewhere
};

struct ProcessImage {
    ArchId arch = ArchId::x86_64;
    int pid = 0;
    std::string comm;
    std::vector<ThreadState> threads;
    std::vector<Mapping> mappings;  // sorted by start, non-overlapping
    ModuleMap modules;
    std::shared_ptr<const Memory> memory;
    // Called with every module-file address whose function (symbol or FDE)
    // the engine looks up; the snapshot recorder logs them so that replay
    // finds the same extents (src/readers/snapshot/snapshot_writer.cpp). Unset
    // otherwise.
    std::function<void(const Module&, uint64_t file_addr)> on_function_lookup;
    // Called with module-file bytes a check found by searching the module's
    // own image (Arch::check_address_taken's index of address-building
    // sites: x86_64's lea, aarch64's adrp/add), whatever
    // served the read that confirmed them: the snapshot recorder keeps them
    // in the module's image, where replay's search looks. Unset otherwise.
    std::function<void(const Module&, uint64_t file_addr, size_t size)> on_image_search_hit;

    const Mapping* mapping_at(uint64_t addr) const;
    // Memory first (it is what the process really had, e.g. patched code),
    // then the module's file on disk when the module is verified.
    size_t read_code(uint64_t addr, std::span<std::byte> out) const;
    // Executable per the mapping, or per the module's ELF segment flags when the
    // mapping's permissions are unknown (gcore drops unsaved mappings).
    bool is_executable(uint64_t addr) const;
};

}  // namespace lpsafe
