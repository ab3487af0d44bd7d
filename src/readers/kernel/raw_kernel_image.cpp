#include "readers/kernel/raw_kernel_image.h"

#include <elf.h>

#include <algorithm>
#include <array>
#include <cstring>

#include <fmt/format.h>

#include "readers/modules/elf_bytes.h"

namespace lpsafe::readers {
namespace {

// arm64: the 64-byte header (Documentation/arch/arm64/booting.rst): code0, code1,
// text_offset, image_size, flags, three reserved words, magic, res5 (with
// CONFIG_EFI the offset of the PE header).
constexpr uint64_t kHeaderSize = 64;
constexpr uint64_t kMagicOffset = 0x38;
constexpr uint32_t kMagic = 0x644d5241;  // "ARM\x64"

constexpr uint64_t kPageSize = 4096;
constexpr uint64_t kImageAt = kPageSize;  // the Image's place in the wrapper ELF

std::string hex(std::span<const std::byte> b) {
    std::string s;
    for (std::byte c : b) s += fmt::format("{:02x}", static_cast<unsigned>(c));
    return s;
}

// `b label` (imm26, opcode 0b000101): where it branches, relative to itself.
std::optional<int64_t> branch_target(uint32_t insn) {
    if ((insn >> 26) != 0b000101) return std::nullopt;
    const int64_t imm26 = static_cast<int64_t>(static_cast<uint64_t>(insn & 0x03ffffff) << 38) >> 38;
    return imm26 * 4;
}

// `_stext`'s offset from the EFI stub's PE header, when the Image has one:
// arch/arm64/kernel/efi-header.S gives the first section (".text") the
// VirtualAddress `efi_header_end - _head`, and vmlinux.lds.S starts `.text`
// (`_stext = .`) there, right after `.head.text`.
std::optional<uint64_t> pe_text_start(std::span<const std::byte> image) {
    const auto pe = load<uint32_t>(image, 0x3c);
    if (!pe || load<uint32_t>(image, *pe) != 0x00004550) return std::nullopt;  // "PE\0\0"
    const auto sections = load<uint16_t>(image, uint64_t{*pe} + 6);
    const auto optional_size = load<uint16_t>(image, uint64_t{*pe} + 20);
    if (!sections || !optional_size || *sections == 0) return std::nullopt;
    const uint64_t table = uint64_t{*pe} + 24 + *optional_size;
    const auto name = load<uint64_t>(image, table);
    const auto vaddr = load<uint32_t>(image, table + 12);
    if (!name || !vaddr || std::memcmp(&*name, ".text", 6) != 0) return std::nullopt;
    if (*vaddr == 0 || *vaddr >= image.size()) return std::nullopt;
    return *vaddr;
}

// Does the note at `at` belong to an ELF file embedded in the image? The
// vDSOs (arch/arm64/kernel/vdso-wrap.S, vdso32-wrap.S; arch/s390/kernel/
// vdso64/vdso64_wrapper.S, vdso32: page-aligned data) carry build-id notes
// of their own; a PT_NOTE of such a file that starts at `at` gives it away.
// The embedded file's own EI_CLASS and EI_DATA say how to read it.
bool in_embedded_elf(std::span<const std::byte> image, uint64_t at) {
    constexpr uint64_t kLookBack = 64 * 1024;  // a vDSO is a few KiB
    for (uint64_t start = at - at % kPageSize;; start -= kPageSize) {
        if (load<uint32_t>(image, start) == 0x464c457f) {
            const auto cls = load<uint8_t>(image, start + EI_CLASS);
            const bool big = elf_is_big_endian(image.subspan(start));
            const bool is64 = cls == ELFCLASS64;
            const auto phoff = is64 ? load<uint64_t>(image, start + 0x20, big)
                                    : std::optional<uint64_t>(load<uint32_t>(image, start + 0x1c, big));
            const auto phnum = load<uint16_t>(image, start + (is64 ? 0x38 : 0x2c), big);
            const uint64_t entsize = is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
            if (phoff && *phoff && phnum && *phoff < kLookBack) {
                for (uint16_t i = 0; i < *phnum && i < 64; ++i) {
                    const uint64_t ph = start + *phoff + i * entsize;
                    const auto type = load<uint32_t>(image, ph, big);
                    const auto off = is64 ? load<uint64_t>(image, ph + 8, big)
                                          : std::optional<uint64_t>(load<uint32_t>(image, ph + 4, big));
                    if (type == PT_NOTE && off && start + *off == at) return true;
                }
            }
        }
        if (start < kPageSize || at - start >= kLookBack) return false;
    }
}

struct BuildIdNote {
    uint64_t offset = 0;  // of the note header
    std::string id;
};

// The kernel's GNU build-id note (its `.notes`, which the image carries): the
// one header {namesz 4, descsz 20, NT_GNU_BUILD_ID, "GNU\0"}, in the
// kernel's byte order, not inside an embedded ELF. Several or none: no id,
// and a sentence saying so.
Result<BuildIdNote> find_build_id(std::span<const std::byte> image, bool big) {
    std::array<std::byte, 16> header{};
    uint32_t words[3] = {4, 20, NT_GNU_BUILD_ID};
    for (uint32_t& w : words) {
        if (big) to_big_endian(w);
    }
    std::memcpy(header.data(), words, sizeof(words));
    std::memcpy(header.data() + 12, "GNU", 4);
    constexpr uint64_t kNoteSize = 16 + 20;
    std::vector<BuildIdNote> found;
    // Notes are 4-byte aligned (ELF note layout).
    for (uint64_t at = 0; at + kNoteSize <= image.size(); at += 4) {
        if (std::memcmp(image.data() + at, header.data(), header.size()) != 0) continue;
        if (in_embedded_elf(image, at)) continue;
        found.push_back({at, hex(image.subspan(at + header.size(), 20))});
    }
    if (found.size() == 1) return found.front();
    if (found.empty()) return make_error("it holds no GNU build-id note");
    std::string where;
    for (const auto& f : found) where += fmt::format("{}{:#x}", where.empty() ? "" : ", ", f.offset);
    return make_error(fmt::format("it holds {} GNU build-id notes (at {}): which is the kernel's is unknown",
                                  found.size(), where));
}

// Writes `v` at `at` in the target's byte order.
template <typename T>
void put(std::vector<std::byte>& out, uint64_t at, T v, bool big) {
    if (big) to_big_endian(v);
    std::memcpy(out.data() + at, &v, sizeof(T));
}

}  // namespace

WrappedImage wrap_raw_image(std::span<const std::byte> image, const RawImageArch& arch, uint64_t memsz) {
    const bool big = arch.big_endian;
    WrappedImage w;
    auto note = find_build_id(image, big);
    if (note) {
        w.build_id = note->id;
    } else {
        w.note = fmt::format("{}: no build-id ({})", arch.name, note.error().message);
    }

    // ELF header, a PT_LOAD (R+X) over the image, a PT_NOTE over the note.
    w.elf.resize(kImageAt + image.size());
    Elf64_Ehdr eh{};
    std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
    eh.e_ident[EI_CLASS] = ELFCLASS64;
    eh.e_ident[EI_DATA] = big ? ELFDATA2MSB : ELFDATA2LSB;
    eh.e_ident[EI_VERSION] = EV_CURRENT;
    eh.e_type = ET_EXEC;
    eh.e_machine = arch.machine;
    eh.e_version = EV_CURRENT;
    eh.e_entry = arch.link_base;
    eh.e_phoff = sizeof(Elf64_Ehdr);
    eh.e_ehsize = sizeof(Elf64_Ehdr);
    eh.e_phentsize = sizeof(Elf64_Phdr);
    eh.e_phnum = note ? 2 : 1;
    put(w.elf, 0, eh, big);
    Elf64_Phdr load_ph{};
    load_ph.p_type = PT_LOAD;
    load_ph.p_flags = PF_R | PF_X;
    load_ph.p_offset = kImageAt;
    load_ph.p_vaddr = load_ph.p_paddr = arch.link_base;
    load_ph.p_filesz = image.size();
    load_ph.p_memsz = std::max<uint64_t>(image.size(), memsz);
    load_ph.p_align = kPageSize;
    put(w.elf, sizeof(Elf64_Ehdr), load_ph, big);
    if (note) {
        Elf64_Phdr note_ph{};
        note_ph.p_type = PT_NOTE;
        note_ph.p_flags = PF_R;
        note_ph.p_offset = kImageAt + note->offset;
        note_ph.p_vaddr = note_ph.p_paddr = arch.link_base + note->offset;
        note_ph.p_filesz = note_ph.p_memsz = 16 + 20;
        note_ph.p_align = 4;
        put(w.elf, sizeof(Elf64_Ehdr) + sizeof(Elf64_Phdr), note_ph, big);
    }
    std::memcpy(w.elf.data() + kImageAt, image.data(), image.size());
    w.anchors.push_back({"_text", arch.link_base, 0, true});
    return w;
}

bool is_arm64_image(std::span<const std::byte> bytes) { return load<uint32_t>(bytes, kMagicOffset) == kMagic; }

Result<WrappedImage> wrap_arm64_image(std::span<const std::byte> image) {
    if (!is_arm64_image(image) || image.size() < kHeaderSize)
        return make_error("not an arm64 Image (no \"ARM\\x64\" magic at 0x38, or a header shorter than 64 bytes)");
    const uint64_t image_size = *load<uint64_t>(image, 16);
    const uint64_t flags = *load<uint64_t>(image, 24);
    // Bit 0 of flags: the kernel's endianness (1: big-endian).
    if ((flags & 1) != 0) return make_error("a big-endian arm64 Image is not supported");
    // image_size is the kernel's whole footprint, .bss included (0 before
    // Linux 3.17): a file longer than that is not what the header says.
    if (image_size != 0 && image.size() > image_size) {
        return make_error(fmt::format("arm64 Image header says {:#x} bytes but the file holds {:#x}: corrupt header",
                                      image_size, image.size()));
    }

    WrappedImage w = wrap_raw_image(image, kArm64Image, image_size);
    if (const auto stext = pe_text_start(image)) w.anchors.push_back({"_stext", kArm64ImageLinkBase + *stext, 0, true});
    // code0 is the branch without an EFI stub; with one, code0 is the "MZ"
    // no-op and code1 the branch (arch/arm64/kernel/head.S, efi_signature_nop).
    for (uint64_t word : {0, 4}) {
        const auto target = branch_target(*load<uint32_t>(image, word));
        if (!target) continue;
        const int64_t at = static_cast<int64_t>(word) + *target;
        if (at > 0 && static_cast<uint64_t>(at) < image.size())
            w.anchors.push_back({"primary_entry", kArm64ImageLinkBase + static_cast<uint64_t>(at), 0, true});
        break;
    }
    return w;
}

bool is_s390_boot_image(std::span<const std::byte> bytes) {
    // arch/s390/boot/head.S: after the IPL PSW (8 bytes, its address is
    // iplstart's) come two read CCWs, `.long 0x02000018,0x60000050` and
    // `.long 0x02000068,0x60000050`; at EP_OFFSET 0x10008 the entry table
    // EP_STRING "S390EP".
    constexpr uint8_t kCcws[16] = {0x02, 0x00, 0x00, 0x18, 0x60, 0x00, 0x00, 0x50,
                                   0x02, 0x00, 0x00, 0x68, 0x60, 0x00, 0x00, 0x50};
    constexpr uint64_t kEpOffset = 0x10008;
    return in_bounds(kEpOffset, 6, bytes.size()) && std::memcmp(bytes.data() + 8, kCcws, sizeof(kCcws)) == 0 &&
           std::memcmp(bytes.data() + kEpOffset, "S390EP", 6) == 0;
}

}  // namespace lpsafe::readers
