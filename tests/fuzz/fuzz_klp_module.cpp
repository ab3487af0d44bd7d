// libFuzzer harness: any bytes handed to the livepatch module reader must give
// targets or an error, never a crash, hang or out-of-bounds read.
// Seeds: fixtures/fuzz-seeds/klp_module/ (the real fixture modules).
#include <cstddef>
#include <cstdint>
#include <span>

#include "readers/livepatch/klp_module.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
    auto m = lpsafe::readers::read_klp_module_bytes(bytes, "fuzz-input");
    if (m.ok()) {
        // Exercise what callers use: the flattened targets and their specs.
        for (const auto& t : m->targets()) {
            if (t.spec().empty()) __builtin_trap();
        }
    }
    return 0;
}
