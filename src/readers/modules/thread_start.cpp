#include "readers/modules/thread_start.h"

#include <elf.h>

#include <algorithm>
#include <array>
#include <map>
#include <cstring>
#include <optional>

#include "lpsafe/arch.h"

namespace lpsafe::readers {
namespace {

// A libthread_db field descriptor (glibc nptl_db/db-symbols.h, DB_FIELD):
// u32 size in bits, u32 element count, u32 offset in the structure.
struct FieldDesc {
    uint32_t bits = 0;
    uint32_t count = 0;
    uint32_t offset = 0;
};

// The libthread_db object `name` as the file holds it: a FieldDesc, or one
// u32 for `_thread_db_sizeof_*` (the structure's size in bytes).
template <typename T>
std::optional<T> thread_db_object(const ElfImage& image, const char* name) {
    const auto at = image.thread_db_symbol(name);
    if (!at) return std::nullopt;
    std::array<std::byte, sizeof(T)> raw{};
    if (image.read(*at, raw) != raw.size()) return std::nullopt;
    T v{};
    std::memcpy(&v, raw.data(), sizeof v);
    // The fields are u32s in the object's byte order (big on s390x).
    const auto file = image.file_bytes();
    if (file.size() > EI_DATA && file[EI_DATA] == std::byte{ELFDATA2MSB}) {
        auto* words = reinterpret_cast<uint32_t*>(&v);
        for (size_t i = 0; i < sizeof v / 4; ++i) words[i] = __builtin_bswap32(words[i]);
    }
    return v;
}

std::optional<FieldDesc> field(const ElfImage& image, const char* name) { return thread_db_object<FieldDesc>(image, name); }
std::optional<uint32_t> struct_size(const ElfImage& image, const char* name) {
    return thread_db_object<uint32_t>(image, name);
}

struct Layout {
    FieldDesc tid;
    FieldDesc start_routine;
    uint32_t size = 0;
};

// The C library's module: the one verified file that publishes the layout.
std::optional<Layout> glibc_layout(const ProcessImage& process) {
    for (const Module& m : process.modules.modules()) {
        if (!m.status.usable() || !m.image) continue;
        const auto tid = field(*m.image, "_thread_db_pthread_tid");
        const auto start = field(*m.image, "_thread_db_pthread_start_routine");
        const auto size = struct_size(*m.image, "_thread_db_sizeof_pthread");
        if (!tid || !start || !size) continue;
        // Only the shapes glibc has used: a 32-bit pid_t, a pointer.
        if (tid->bits != 32 || tid->count != 1 || start->bits != 64 || start->count != 1) return std::nullopt;
        if (tid->offset + 4 > *size || start->offset + 8 > *size) return std::nullopt;
        return Layout{*tid, *start, *size};
    }
    return std::nullopt;
}

// A verified module's libthread_db object `name`, as a runtime address.
std::optional<uint64_t> runtime_symbol(const ProcessImage& process, const char* name, const Module** in = nullptr) {
    for (const Module& m : process.modules.modules()) {
        if (!m.status.usable() || !m.image) continue;
        if (const auto at = m.image->thread_db_symbol(name)) {
            if (in != nullptr) *in = &m;
            return m.bias + *at;
        }
    }
    return std::nullopt;
}

// Without a thread pointer (qemu-user's aarch64 cores carry no NT_ARM_TLS),
// the descriptors are found the way libthread_db lists threads
// (nptl_db/td_ta_thr_iter.c): the dynamic linker's `_dl_stack_used` and
// `_dl_stack_user` lists in `_rtld_global` link every descriptor through
// its `list` field. tid -> start routine, for descriptors whose fields read.
std::map<int, uint64_t> starts_from_thread_lists(const ProcessImage& process, const Layout& layout) {
    std::map<int, uint64_t> out;
    const Module* libc = nullptr;
    const auto rtld = runtime_symbol(process, "_rtld_global");
    const auto next_at = runtime_symbol(process, "_thread_db_list_t_next", &libc);
    if (!rtld || !next_at || libc == nullptr) return out;
    const auto next = field(*libc->image, "_thread_db_list_t_next");
    const auto list = field(*libc->image, "_thread_db_pthread_list");
    if (!next || !list || next->bits != 64 || list->offset >= layout.size) return out;
    constexpr int kMaxThreads = 1 << 16;
    for (const char* head_name : {"_thread_db_rtld_global__dl_stack_used", "_thread_db_rtld_global__dl_stack_user"}) {
        const auto head_field = field(*libc->image, head_name);
        if (!head_field) continue;
        const uint64_t head = *rtld + head_field->offset;
        auto node = process.memory->read_u64(head + next->offset);
        for (int n = 0; node && *node != head && *node != 0 && n < kMaxThreads; ++n) {
            const uint64_t pd = *node - list->offset;
            const auto tid = process.memory->read_u32(pd + layout.tid.offset);
            const auto start = process.memory->read_u64(pd + layout.start_routine.offset);
            if (tid && start && *start != 0) out.emplace(static_cast<int32_t>(*tid), *start);
            node = process.memory->read_u64(*node + next->offset);
        }
    }
    return out;
}

}  // namespace

void learn_thread_starts(ProcessImage& process) {
    if (!process.memory) return;
    const auto layout = glibc_layout(process);
    if (!layout) return;
    const Arch& arch = arch_of(process.arch);
    const bool any_without_pointer = std::any_of(process.threads.begin(), process.threads.end(),
                                                 [](const ThreadState& t) { return !t.regs.thread_pointer; });
    const std::map<int, uint64_t> listed =
        any_without_pointer ? starts_from_thread_lists(process, *layout) : std::map<int, uint64_t>{};
    for (ThreadState& t : process.threads) {
        if (!t.regs.thread_pointer) {
            if (const auto it = listed.find(t.tid); it != listed.end()) t.start_routine = it->second;
            continue;
        }
        if (*t.regs.thread_pointer == 0) continue;
        const uint64_t pd = arch.glibc_thread_descriptor(*t.regs.thread_pointer, layout->size);
        const auto tid = process.memory->read_u32(pd + layout->tid.offset);
        // A thread pointer a program moved (its own TLS, a green-thread
        // runtime) points at something else: the tid field tells.
        if (!tid || static_cast<int32_t>(*tid) != t.tid) continue;
        const auto start = process.memory->read_u64(pd + layout->start_routine.offset);
        if (start && *start != 0) t.start_routine = *start;
    }
}

}  // namespace lpsafe::readers
