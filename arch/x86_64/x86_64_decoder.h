// One capstone x86-64 decoder per thread (capstone handles are not safe to
// share), for every x86_64 rule that reads instructions.
#pragma once

#include <capstone/capstone.h>

#include <cstddef>
#include <cstdint>

namespace lpsafe::x86_64 {

class Decoder {
public:
    Decoder() {
        if (cs_open(CS_ARCH_X86, CS_MODE_64, &handle_) != CS_ERR_OK) return;
        insn_ = cs_malloc(handle_);
    }
    ~Decoder() {
        if (insn_ != nullptr) cs_free(insn_, 1);
        if (handle_ != 0) cs_close(&handle_);
    }
    Decoder(const Decoder&) = delete;
    Decoder& operator=(const Decoder&) = delete;

    bool ready() const { return insn_ != nullptr; }
    // Decodes one instruction at `addr` from `code`; advances both.
    const cs_insn* next(const uint8_t*& code, size_t& size, uint64_t& addr) {
        if (!cs_disasm_iter(handle_, &code, &size, &addr, insn_)) return nullptr;
        return insn_;
    }

private:
    csh handle_ = 0;
    cs_insn* insn_ = nullptr;
};

inline Decoder& decoder() {
    thread_local Decoder d;
    return d;
}

}  // namespace lpsafe::x86_64
