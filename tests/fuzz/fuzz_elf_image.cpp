// libFuzzer target: ElfImage::from_bytes (libelf + libdw on untrusted bytes,
// as for a vDSO read out of a core), then every lookup the unwinder makes:
// symbols, function extents, CFI rows at addresses in and around each
// segment, code reads.
#include <cstdint>
#include <vector>

#include "lpsafe/module.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::vector<std::byte> bytes(size);
    for (size_t i = 0; i < size; ++i) bytes[i] = std::byte(data[i]);
    auto image = lpsafe::ElfImage::from_bytes("fuzz", std::move(bytes));
    if (!image) return 0;
    const auto& elf = **image;
    (void)elf.has_cfi();
    (void)elf.symbols_named("tiny_outer");
    size_t probes = 0;
    for (const auto& seg : elf.segments()) {
        // A handful of addresses per segment: its edges and a few inside.
        for (uint64_t at : {seg.vaddr, seg.vaddr + seg.memsz / 3, seg.vaddr + seg.memsz / 2, seg.vaddr + seg.memsz - 1,
                            seg.vaddr + seg.memsz}) {
            if (++probes > 64) return 0;
            std::byte code[16];
            (void)elf.read(at, code);
            if (const auto* sym = elf.symbol_at(at)) (void)elf.symbols_named(sym->name);
            // Function extents parse .eh_frame_hdr and .eh_frame themselves
            // (fde_index.cpp) where no symbol covers the address.
            if (const auto fn = elf.function_at(at)) (void)elf.function_at(fn->start + fn->size);
            const auto row = elf.cfi_at(at);
            (void)row;
        }
    }
    return 0;
}
