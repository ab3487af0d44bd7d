// The snapshot file as plain data: what the writer fills from a
// ProcessImage, what is encoded and decoded, what the reader turns
// back into a ProcessImage. Layout and meaning: docs/snapshot-format.md.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "lpsafe/module.h"
#include "lpsafe/process.h"
#include "lpsafe/result.h"

#include "readers/kernel/kernel_archive.h"

namespace lpsafe::readers::snapshot {

// "LPSAFE" + kind + 0x1a (stops `type`ing a binary file on a terminal).
inline constexpr char kUserMagic[8] = {'L', 'P', 'S', 'A', 'F', 'E', 'U', '\x1a'};
// Reserved for kernel captures (/proc stacks + kallsyms extract): a reader of
// user snapshots refuses them with a message naming the kernel reader.
// Kernel captures (kernel_archive.h) are the kernel's snapshots; one magic for both.
inline constexpr const auto& kKernelMagic = kCaptureMagic;
inline constexpr uint16_t kVersionMajor = 1;  // incompatible changes
// 1.2 added the pointer_auth record (aarch64 PAC masks); 1.1 readers skip it.
inline constexpr uint16_t kVersionMinor = 2;  // additions readers may skip
inline constexpr size_t kHeaderSize = 24;

enum class RecordType : uint16_t { process = 1, mapping = 2, thread = 3, memory = 4, module = 5, pointer_auth = 6 };
inline constexpr uint16_t kLastRecordType = 6;
enum class SectionKind : uint8_t { eh_frame_hdr = 1, eh_frame = 2, debug_frame = 3 };

struct Bytes {
    uint64_t addr = 0;  // runtime address (memory) or file address (module)
    std::vector<std::byte> bytes;
};

struct Section {
    SectionKind kind = SectionKind::eh_frame;
    uint64_t addr = 0;  // sh_addr in the original file
    uint64_t size = 0;  // the original section's size
    // Pieces of the section, at offsets into it. A section recorded whole is
    // one piece at 0; a pruned .eh_frame keeps only the entries lookups use,
    // and the rest reads as poison (an error), never as "no entry".
    std::vector<Bytes> pieces;
};

// An ELF object as the engine used it; enough to rebuild an in-memory ELF
// that ElfImage::from_bytes reads back to the same answers.
struct ImageRecord {
    uint16_t machine = 0;
    bool executable_type = false;  // ET_EXEC
    std::string soname;
    std::string build_id;  // lower-case hex
    std::vector<ElfSegment> segments;  // PT_LOAD: vaddr, memsz, flags
    std::vector<Section> sections;
    std::vector<Bytes> code;  // file bytes read_code fell back to, by file address
    std::vector<Symbol> symbols;
};

struct ModuleRecord {
    std::string path;
    std::string name;
    uint64_t start = 0;
    uint64_t end = 0;
    uint64_t bias = 0;
    ModuleStatus status;
    bool has_image = false;
    ImageRecord image;
};

struct ThreadRecord {
    ThreadState state;
    uint64_t stack_low = 0;   // first recorded stack byte (sp minus the red zone)
    uint64_t stack_end = 0;   // end of the thread's stack mapping
    bool stack_truncated = false;
};

struct SnapshotData {
    ArchId arch = ArchId::x86_64;
    int pid = 0;
    std::string comm;
    std::vector<Mapping> mappings;
    std::vector<ThreadRecord> threads;
    std::vector<Bytes> memory;  // sorted, disjoint
    std::vector<ModuleRecord> modules;
};

// Header flag: the records are deflate-compressed (zlib), preceded by their
// uncompressed size as a u64.
inline constexpr uint32_t kFlagDeflate = 1;
// A compressed body may not claim more than this once inflated.
inline constexpr uint64_t kMaxInflated = 512ull << 20;

// Encoding and decoding (snapshot_encode.cpp, snapshot_decode.cpp).
struct EncodeOptions {
    bool compress = true;  // off: the fuzz seeds, whose mutations should reach the parser
};
std::vector<std::byte> encode(const SnapshotData& data, const EncodeOptions& options = {});
struct DecodeOptions {
    // The fuzz target turns this off so that mutated inputs reach the parser.
    bool verify_checksum = true;
};
Result<SnapshotData> decode(std::span<const std::byte> file, const DecodeOptions& options = {});

}  // namespace lpsafe::readers::snapshot
