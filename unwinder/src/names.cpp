// The spellings used in reports and JSON; one place, so they cannot drift.
#include "lpsafe/arch_id.h"
#include "lpsafe/finding.h"
#include "lpsafe/frame.h"
#include "lpsafe/verdict.h"

namespace lpsafe {

std::string_view arch_name(ArchId arch) {
    switch (arch) {
    case ArchId::x86_64: return "x86_64";
    case ArchId::aarch64: return "aarch64";
    case ArchId::ppc64le: return "ppc64le";
    case ArchId::s390x: return "s390x";
    }
    return "unknown";
}

std::string_view method_name(UnwindMethod method) {
    switch (method) {
    case UnwindMethod::initial: return "regs";
    case UnwindMethod::cfi: return "cfi";
    case UnwindMethod::fp: return "fp";
    case UnwindMethod::listed: return "procfs";
    case UnwindMethod::inferred: return "inferred";
    case UnwindMethod::orc: return "orc";
    }
    return "unknown";
}

std::string_view check_name(Check check) {
    switch (check) {
    case Check::top: return "top";
    case Check::bottom: return "bottom";
    case Check::return_after_call: return "return-after-call";
    case Check::stack_bounds: return "stack-bounds";
    case Check::sp_monotonic: return "sp-monotonic";
    case Check::repeated_frame: return "repeated-frame";
    case Check::executable: return "executable";
    case Check::module: return "module";
    case Check::unwind: return "unwind";
    case Check::cross_check: return "cross-check";
    case Check::signal_frame: return "signal-frame";
    case Check::elided: return "elided";
    }
    return "unknown";
}

std::string_view forecast_name(Forecast::Kind kind) {
    switch (kind) {
    case Forecast::Kind::converges: return "converges";
    case Forecast::Kind::waits: return "waits";
    case Forecast::Kind::never: return "never";
    }
    return "unknown";
}

std::string_view verdict_name(VerdictKind kind) {
    switch (kind) {
    case VerdictKind::safe: return "safe";
    case VerdictKind::blocked: return "blocked";
    case VerdictKind::unreliable: return "unreliable";
    case VerdictKind::running: return "running";
    case VerdictKind::gone: return "gone";
    case VerdictKind::unreadable: return "unreadable";
    }
    return "unknown";
}

}  // namespace lpsafe
