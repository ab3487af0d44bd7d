#include "s390x_insn.h"

#include <capstone/capstone.h>

#include <cstring>
#include <span>

namespace lpsafe::s390x {
namespace {

constexpr uint64_t kMaxFunction = 256 * 1024;

int64_t sext(uint64_t v, unsigned bits) {
    const uint64_t m = uint64_t{1} << (bits - 1);
    return static_cast<int64_t>((v ^ m) - m);
}

Insn insn_at(std::span<const uint8_t> bytes, uint64_t addr) {
    Insn i;
    i.addr = addr;
    i.length = length_of(bytes[0]);
    std::memcpy(i.b.data(), bytes.data(), i.length);
    return i;
}

// The function holding `addr` (symbol or FDE), in runtime addresses.
std::optional<FunctionExtent> function_of(const ProcessImage& process, uint64_t addr) {
    const Module* m = process.modules.find(addr);
    if (m == nullptr || !m->image || !m->status.usable()) return std::nullopt;
    if (process.on_function_lookup) process.on_function_lookup(*m, addr - m->bias);
    auto fn = m->image->function_at(addr - m->bias);
    if (!fn || fn->size == 0) return std::nullopt;
    fn->start += m->bias;
    return fn;
}

class Decoder {
public:
    Decoder() {
        if (cs_open(CS_ARCH_SYSZ, CS_MODE_BIG_ENDIAN, &handle_) == CS_ERR_OK) insn_ = cs_malloc(handle_);
    }
    ~Decoder() {
        if (insn_ != nullptr) cs_free(insn_, 1);
        if (handle_ != 0) cs_close(&handle_);
    }
    Decoder(const Decoder&) = delete;
    Decoder& operator=(const Decoder&) = delete;
    unsigned id(const Insn& i) {
        if (insn_ == nullptr) return 0;
        const uint8_t* p = i.b.data();
        size_t size = i.length;
        uint64_t addr = i.addr;
        if (!cs_disasm_iter(handle_, &p, &size, &addr, insn_) || insn_->size != i.length) return 0;
        return insn_->id;
    }

private:
    csh handle_ = 0;
    cs_insn* insn_ = nullptr;
};

}  // namespace

unsigned length_of(uint8_t first_byte) {
    switch (first_byte >> 6) {
    case 0: return 2;
    case 3: return 6;
    default: return 4;
    }
}

std::optional<Insn> read_insn(const ProcessImage& process, uint64_t addr) {
    if (addr % 2 != 0) return std::nullopt;
    std::array<std::byte, 6> raw{};
    if (process.read_code(addr, std::span(raw).first(2)) != 2) return std::nullopt;
    const unsigned len = length_of(std::to_integer<uint8_t>(raw[0]));
    if (process.read_code(addr, std::span(raw).first(len)) != len) return std::nullopt;
    return insn_at(std::span(reinterpret_cast<const uint8_t*>(raw.data()), len), addr);
}

Preceding instruction_before(const ProcessImage& process, uint64_t end, uint64_t fn_start, uint64_t fn_size) {
    Preceding out;
    if (end % 2 != 0 || end < 2) return out;
    // A return address may be the function's end (a call to a noreturn
    // function last): `end - fn_start <= fn_size`.
    const bool given = fn_size != 0 && end > fn_start && end - fn_start <= fn_size;
    const auto fn = given ? std::optional<FunctionExtent>(FunctionExtent{fn_start, fn_size, nullptr}) : function_of(process, end - 1);
    if (fn && end > fn->start && end - fn->start <= kMaxFunction) {
        std::vector<std::byte> code(end - fn->start);
        if (process.read_code(fn->start, code) == code.size()) {
            const auto* p = reinterpret_cast<const uint8_t*>(code.data());
            uint64_t at = 0, last = 0;
            while (at < code.size()) {
                last = at;
                at += length_of(p[at]);
            }
            if (at != code.size()) {
                out.kind = Preceding::Kind::not_boundary;
                return out;
            }
            std::array<uint8_t, 6> b{};
            std::memcpy(b.data(), p + last, code.size() - last);
            out.kind = Preceding::Kind::exact;
            out.candidates.push_back(insn_at(b, fn->start + last));
            return out;
        }
    }
    // No bounds: each length whose first byte agrees.
    for (unsigned len : {2u, 4u, 6u}) {
        if (end < len) continue;
        if (const auto insn = read_insn(process, end - len); insn && insn->length == len) out.candidates.push_back(*insn);
    }
    out.kind = out.candidates.empty() ? Preceding::Kind::unreadable : Preceding::Kind::unbounded;
    return out;
}

unsigned insn_id(const Insn& insn) {
    thread_local Decoder decoder;
    return decoder.id(insn);
}

bool is_svc(const Insn& insn) { return insn.length == 2 && insn.b[0] == 0x0a; }

std::optional<Call> call_of(const Insn& i) {
    const unsigned r1 = i.b[1] >> 4, r2 = i.b[1] & 0xf;
    if (i.length == 6 && i.b[0] == 0xc0 && r2 == 5) {  // brasl R1,RI2 (halfwords)
        const uint32_t imm = uint32_t{i.b[2]} << 24 | uint32_t{i.b[3]} << 16 | uint32_t{i.b[4]} << 8 | i.b[5];
        return Call{r1, i.addr + static_cast<uint64_t>(2 * sext(imm, 32)), true};
    }
    if (i.length == 4 && i.b[0] == 0xa7 && r2 == 5) {  // bras R1,RI2
        const uint16_t imm = static_cast<uint16_t>(i.b[2] << 8 | i.b[3]);
        return Call{r1, i.addr + static_cast<uint64_t>(2 * sext(imm, 16)), true};
    }
    if (i.length == 2 && i.b[0] == 0x0d && r2 != 0) return Call{r1, std::nullopt, true};   // basr R1,R2
    if (i.length == 2 && i.b[0] == 0x05 && r2 != 0) return Call{r1, std::nullopt, false};  // balr
    if (i.length == 4 && (i.b[0] == 0x4d || i.b[0] == 0x45)) return Call{r1, std::nullopt, false};  // bas, bal
    return std::nullopt;
}

std::optional<uint64_t> jump_target(const Insn& i) {
    const unsigned mask = i.b[1] >> 4, op2 = i.b[1] & 0xf;
    if (mask == 0) return std::nullopt;  // a nop
    if (i.length == 4 && i.b[0] == 0xa7 && op2 == 4) {
        const uint16_t imm = static_cast<uint16_t>(i.b[2] << 8 | i.b[3]);
        return i.addr + static_cast<uint64_t>(2 * sext(imm, 16));
    }
    if (i.length == 6 && i.b[0] == 0xc0 && op2 == 4) {
        const uint32_t imm = uint32_t{i.b[2]} << 24 | uint32_t{i.b[3]} << 16 | uint32_t{i.b[4]} << 8 | i.b[5];
        return i.addr + static_cast<uint64_t>(2 * sext(imm, 32));
    }
    return std::nullopt;
}

// bcr M,%r14 with any mask: `br %r14` and the conditional returns GCC emits.
bool is_return(const Insn& i) { return i.length == 2 && i.b[0] == 0x07 && (i.b[1] >> 4) != 0 && (i.b[1] & 0xf) == 14; }

bool is_register_jump(const Insn& i) {
    const unsigned mask = i.b[1] >> 4, r2 = i.b[1] & 0xf;
    if (i.length == 2 && i.b[0] == 0x07) return mask != 0 && r2 != 0 && !is_return(i);
    return i.length == 4 && i.b[0] == 0x47 && mask != 0;
}

}  // namespace lpsafe::s390x
