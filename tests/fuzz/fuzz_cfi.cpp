// libFuzzer target: CFI rows and DWARF expressions built from arbitrary
// bytes, applied to fixed registers over a small stack. The evaluator must
// stay bounded and never read outside what Memory returns.
//
// Input: [ra column][flags] then records
//   [target: 0xff = CFA, else register % 40][rule kind % 4][op count % 16]
//   op count × [atom][ULEB128 number][ULEB128 number2]
#include <cstdint>
#include <cstdlib>
#include <span>

#include "lpsafe/cfi.h"

namespace {

constexpr uint64_t kStack = 0x7ffe0000;
constexpr size_t kStackSize = 256;

class Reader {
public:
    explicit Reader(std::span<const uint8_t> in) : in_(in) {}
    bool done() const { return pos_ >= in_.size(); }
    uint8_t byte() { return done() ? 0 : in_[pos_++]; }
    uint64_t uleb() {
        uint64_t v = 0;
        for (unsigned shift = 0; !done(); shift += 7) {
            const uint8_t b = byte();
            if (shift < 64) v |= uint64_t{b & 0x7fu} << shift;
            if ((b & 0x80) == 0) break;
        }
        return v;
    }

private:
    std::span<const uint8_t> in_;
    size_t pos_ = 0;
};

lpsafe::DwarfExpr read_expr(Reader& r) {
    lpsafe::DwarfExpr expr(r.byte() % 16);
    for (auto& op : expr) {
        op.atom = r.byte();
        op.number = r.uleb();
        op.number2 = r.uleb();
    }
    return expr;
}

// A stack whose words point further up the stack, like saved frame pointers.
const lpsafe::BufferMemory& stack_memory() {
    static const lpsafe::BufferMemory memory = [] {
        lpsafe::BufferMemory m;
        std::vector<std::byte> bytes(kStackSize);
        for (size_t i = 0; i + 8 <= kStackSize; i += 8) {
            const uint64_t v = kStack + i + 16;
            for (unsigned b = 0; b < 8; ++b) bytes[i + b] = std::byte(v >> (8 * b));
        }
        m.add(kStack, std::move(bytes));
        return m;
    }();
    return memory;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    Reader r({data, size});
    lpsafe::CfiRow row;
    row.ra_column = r.byte();  // deliberately unbounded: rule() must cope
    row.signal_frame = r.byte() & 1;
    row.regs.resize(17);
    while (!r.done()) {
        const uint8_t target = r.byte();
        const auto kind = static_cast<lpsafe::RegRule::Kind>(r.byte() % 4);
        lpsafe::DwarfExpr expr = read_expr(r);
        if (target == 0xff) {
            row.cfa = std::move(expr);
            continue;
        }
        const unsigned reg = target % lpsafe::kMaxDwarfRegs;
        if (reg >= row.regs.size()) row.regs.resize(reg + 1);
        row.regs[reg] = {kind, std::move(expr)};
    }
    lpsafe::Regs regs(lpsafe::ArchId::x86_64);
    regs.set(7, kStack + 0x40);  // rsp
    regs.set(6, kStack + 0x80);  // rbp
    regs.set(16, 0x401000);      // rip
    regs.set(3, 0xffffffffffffffff);
    const auto& memory = stack_memory();
    (void)lpsafe::eval_dwarf_expr(row.cfa, regs, kStack + 0x50, memory);
    for (const auto& rule : row.regs) (void)lpsafe::eval_dwarf_expr(rule.expr, regs, std::nullopt, memory);
    auto step = lpsafe::apply_cfi_row(row, regs, 7, memory);
    // A step that succeeds must have recovered a return address that its
    // row says is saved or computed.
    const auto ra_kind = row.rule(row.ra_column).kind;
    const bool ra_needed = ra_kind == lpsafe::RegRule::Kind::location || ra_kind == lpsafe::RegRule::Kind::value;
    if (step && ra_needed && row.ra_column < lpsafe::kMaxDwarfRegs && !step->caller.has(row.ra_column)) std::abort();
    return 0;
}
