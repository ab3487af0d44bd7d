#include "second_opinion/libunwind_walk.h"

#include <elf.h>
#include <libunwind.h>

#include <array>
#include <cstring>
#include <map>
#include <optional>

// Exported by libunwind-x86_64 but not declared by its headers (perf
// declares it the same way): binary search of a remote .eh_frame_hdr table.
extern "C" int _Ux86_64_dwarf_search_unwind_table(unw_addr_space_t as, unw_word_t ip, unw_dyn_info_t* di,
                                                  unw_proc_info_t* pi, int need_unwind_info, void* arg);

namespace lpsafe::second_opinion {
namespace {

// .eh_frame_hdr's binary-search table, as libunwind wants it described.
struct HdrTable {
    uint64_t hdr = 0;    // runtime address of .eh_frame_hdr (the table's datarel base)
    uint64_t table = 0;  // runtime address of the first entry
    uint64_t fde_count = 0;
};

template <typename T>
std::optional<T> image_load(const ElfImage& image, uint64_t vaddr) {
    std::array<std::byte, sizeof(T)> buf{};
    if (image.read(vaddr, buf) != buf.size()) return std::nullopt;
    T v;
    std::memcpy(&v, buf.data(), sizeof v);
    return v;
}

// PT_GNU_EH_FRAME of `image`, read through its first PT_LOAD (which maps the
// ELF and program headers for every linker output we know).
std::optional<HdrTable> find_hdr_table(const Module& module) {
    const ElfImage& image = *module.image;
    const ElfSegment* first = nullptr;
    for (const ElfSegment& s : image.segments()) {
        if (s.offset == 0) first = &s;
    }
    if (first == nullptr) return std::nullopt;
    const auto ehdr = image_load<Elf64_Ehdr>(image, first->vaddr);
    if (!ehdr || ehdr->e_phentsize != sizeof(Elf64_Phdr) || ehdr->e_phnum > 256) return std::nullopt;
    for (unsigned i = 0; i < ehdr->e_phnum; ++i) {
        const auto ph = image_load<Elf64_Phdr>(image, first->vaddr + ehdr->e_phoff + i * sizeof(Elf64_Phdr));
        if (!ph || ph->p_type != PT_GNU_EH_FRAME) continue;
        // version 1; eh_frame_ptr pcrel|sdata4; fde_count udata4; table datarel|sdata4.
        const auto head = image_load<std::array<uint8_t, 12>>(image, ph->p_vaddr);
        if (!head || (*head)[0] != 1 || (*head)[2] != 0x03 || (*head)[3] != 0x3b) return std::nullopt;
        uint32_t count;
        std::memcpy(&count, head->data() + 8, sizeof count);
        const uint64_t hdr = module.bias + ph->p_vaddr;
        return HdrTable{hdr, hdr + 12, count};
    }
    return std::nullopt;
}

struct Context {
    const ProcessImage& process;
    const ThreadState& thread;
    std::map<const Module*, std::optional<HdrTable>> tables;
};

int find_proc_info(unw_addr_space_t as, unw_word_t ip, unw_proc_info_t* pi, int need_unwind_info, void* arg) {
    auto& ctx = *static_cast<Context*>(arg);
    const Module* module = ctx.process.modules.find(ip);
    if (module == nullptr || !module->image || !module->status.usable()) return -UNW_ENOINFO;
    auto [it, inserted] = ctx.tables.try_emplace(module);
    if (inserted) it->second = find_hdr_table(*module);
    if (!it->second) return -UNW_ENOINFO;
    unw_dyn_info_t di{};
    di.format = UNW_INFO_FORMAT_REMOTE_TABLE;
    di.start_ip = module->start;
    di.end_ip = module->end;
    di.u.rti.segbase = it->second->hdr;
    di.u.rti.table_data = it->second->table;
    di.u.rti.table_len = it->second->fde_count * 8 / sizeof(unw_word_t);  // two int32 per entry
    return _Ux86_64_dwarf_search_unwind_table(as, ip, &di, pi, need_unwind_info, arg);
}

// libunwind's remote DWARF parser keeps the unwind info in its own pools.
void put_unwind_info(unw_addr_space_t, unw_proc_info_t*, void*) {}

int get_dyn_info_list_addr(unw_addr_space_t, unw_word_t*, void*) { return -UNW_ENOINFO; }

int access_mem(unw_addr_space_t, unw_word_t addr, unw_word_t* valp, int write, void* arg) {
    if (write) return -UNW_EINVAL;
    auto& ctx = *static_cast<Context*>(arg);
    std::array<std::byte, sizeof(unw_word_t)> buf{};
    // Memory first, then the verified module file (code and tables that a
    // core does not hold), exactly as lpsafe reads code.
    if (ctx.process.read_code(addr, buf) != buf.size()) return -UNW_EINVAL;
    std::memcpy(valp, buf.data(), sizeof *valp);
    return 0;
}

// libunwind's x86_64 register numbers are the DWARF numbers lpsafe uses.
int access_reg(unw_addr_space_t, unw_regnum_t reg, unw_word_t* valp, int write, void* arg) {
    if (write) return -UNW_EREADONLYREG;
    const auto v = static_cast<Context*>(arg)->thread.regs.get(static_cast<unsigned>(reg));
    if (!v) return -UNW_EBADREG;
    *valp = *v;
    return 0;
}

int access_fpreg(unw_addr_space_t, unw_regnum_t, unw_fpreg_t*, int, void*) { return -UNW_EBADREG; }
int resume(unw_addr_space_t, unw_cursor_t*, void*) { return -UNW_EINVAL; }
int get_proc_name(unw_addr_space_t, unw_word_t, char*, size_t, unw_word_t*, void*) { return -UNW_ENOINFO; }

unw_accessors_t accessors() {
    unw_accessors_t a{};
    a.find_proc_info = find_proc_info;
    a.put_unwind_info = put_unwind_info;
    a.get_dyn_info_list_addr = get_dyn_info_list_addr;
    a.access_mem = access_mem;
    a.access_reg = access_reg;
    a.access_fpreg = access_fpreg;
    a.resume = resume;
    a.get_proc_name = get_proc_name;
    return a;
}

PeerStack fail(PeerStack out, const char* what, int code) {
    out.end = PeerStack::End::error;
    out.detail = std::string(what) + ": " + unw_strerror(code);
    return out;
}

}  // namespace

PeerStack libunwind_walk(const ProcessImage& process, const ThreadState& thread, unsigned max_frames) {
    PeerStack out;
    // The library linked here is libunwind's x86_64 remote unwinder: another
    // architecture's registers and code would only give it nonsense.
    if (process.arch != ArchId::x86_64) {
        out.detail = "libunwind's x86_64 unwinder cannot walk an " + std::string(arch_name(process.arch)) + " process";
        return out;
    }
    static unw_accessors_t table = accessors();
    // One address space per walk: no cache outlives the image it describes.
    unw_addr_space_t as = unw_create_addr_space(&table, 0);
    if (as == nullptr) return fail(std::move(out), "unw_create_addr_space", UNW_EUNSPEC);
    unw_set_caching_policy(as, UNW_CACHE_NONE);
    Context ctx{process, thread, {}};
    unw_cursor_t cursor;
    if (const int rc = unw_init_remote(&cursor, as, &ctx); rc < 0) {
        unw_destroy_addr_space(as);
        return fail(std::move(out), "unw_init_remote", -rc);
    }
    for (;;) {
        unw_word_t ip = 0, sp = 0;
        unw_get_reg(&cursor, UNW_REG_IP, &ip);
        unw_get_reg(&cursor, UNW_REG_SP, &sp);
        out.frames.push_back({ip, sp});
        if (out.frames.size() >= max_frames) {
            out.end = PeerStack::End::depth_limit;
            break;
        }
        const int rc = unw_step(&cursor);
        if (rc > 0) continue;
        if (rc == 0) {
            out.end = PeerStack::End::outermost;
        } else {
            out = fail(std::move(out), "unw_step", -rc);
        }
        break;
    }
    unw_destroy_addr_space(as);
    return out;
}

}  // namespace lpsafe::second_opinion
