// Micro-benchmarks of the engine on real cores (core_inputs.h): opening a
// core, unwinding with CFI and with frame pointers (cold and warm caches),
// return-after-call decoding, symbol lookup, whole checks and the reports.
// Per-frame figures are the `per_frame` counter (seconds per frame).
// Run: scripts/bench.sh (or `ninja -C build bench`); docs/performance.md.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <functional>
#include <map>
#include <memory>

#include "core_inputs.h"
#include "lpsafe/analyze.h"
#include "lpsafe/arch.h"
#include "readers/core/core_file.h"
#include "report/report.h"
#include "site_cache.h"

namespace lpsafe::bench {
namespace {

// One image per core, opened once and shared by the warm benchmarks.
const ProcessImage& image_of(const CoreInput& in) {
    static std::map<std::string, std::unique_ptr<ProcessImage>> images;
    auto& slot = images[in.core];
    if (!slot) {
        auto r = readers::read_core(in.core, {in.exe, {}});
        if (!r) {
            std::fprintf(stderr, "%s: %s\n", in.core.c_str(), r.error().message.c_str());
            std::abort();
        }
        slot = std::make_unique<ProcessImage>(std::move(*r));
    }
    return *slot;
}

void per_frame(benchmark::State& state, int64_t frames) {
    state.SetItemsProcessed(frames);
    state.counters["per_frame"] =
        benchmark::Counter(static_cast<double>(frames), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

size_t unwind_all(SiteCache& cache, const UnwindOptions& options) {
    size_t frames = 0;
    for (const ThreadState& t : cache.process().threads) {
        UnwoundStack s = unwind_thread(cache, t, options);
        frames += s.frames.size();
        benchmark::DoNotOptimize(s);
    }
    return frames;
}

void BM_ReadCore(benchmark::State& state, const CoreInput& in) {
    for (auto _ : state) {
        auto image = readers::read_core(in.core, {in.exe, {}});
        if (!image) state.SkipWithError(image.error().message.c_str());
        benchmark::DoNotOptimize(image);
    }
}

// Warm: the image's CFI rows and the SiteCache are filled by the first
// iteration; later ones pay only for the walk itself.
void BM_UnwindWarm(benchmark::State& state, const CoreInput& in) {
    SiteCache cache(image_of(in));
    int64_t frames = 0;
    for (auto _ : state) frames += static_cast<int64_t>(unwind_all(cache, {}));
    per_frame(state, frames);
}

// Cold: a freshly read image (empty libdw and CFI-row caches, untouched ELF
// files) and an empty SiteCache every iteration; reading is not timed.
void BM_UnwindCold(benchmark::State& state, const CoreInput& in) {
    int64_t frames = 0;
    for (auto _ : state) {
        state.PauseTiming();
        auto image = readers::read_core(in.core, {in.exe, {}});
        state.ResumeTiming();
        SiteCache cache(*image);
        frames += static_cast<int64_t>(unwind_all(cache, {}));
    }
    per_frame(state, frames);
}

// The frame-pointer walker alone, from every thread's rbp until it stops.
void BM_FpStep(benchmark::State& state, const CoreInput& in) {
    const ProcessImage& image = image_of(in);
    const Arch& arch = arch_of(image.arch);
    int64_t steps = 0;
    for (auto _ : state) {
        for (const ThreadState& t : image.threads) {
            auto fp = t.regs.get(arch.fp_reg);
            for (int i = 0; fp && i < 512; ++i, ++steps) {
                auto s = arch.fp_step(*image.memory, *fp);
                if (!s || s->caller_fp <= *fp) break;
                fp = s->caller_fp;
            }
        }
    }
    per_frame(state, steps);
}

// The return addresses of every stack in the image (the decoding workload).
std::vector<uint64_t> return_addresses(const ProcessImage& image) {
    SiteCache cache(image);
    std::vector<uint64_t> out;
    for (const ThreadState& t : image.threads) {
        for (const Frame& f : unwind_thread(cache, t, {}).frames) {
            if (f.pc_is_return_address) out.push_back(f.pc);
        }
    }
    return out;
}

// Arch::check_call_before with no cache: capstone decodes every time.
void BM_CallBeforeDecode(benchmark::State& state, const CoreInput& in) {
    const ProcessImage& image = image_of(in);
    const auto rets = return_addresses(image);
    const Arch& arch = arch_of(image.arch);
    SiteCache where(image);
    int64_t n = 0;
    for (auto _ : state) {
        for (uint64_t ret : rets) {
            const CodeLocation& loc = where.location(ret - 1);
            benchmark::DoNotOptimize(arch.check_call_before(image, ret, loc.function_start, loc.function_size));
        }
        n += static_cast<int64_t>(rets.size());
    }
    per_frame(state, n);
}

// The same through a warm SiteCache: what a frame costs once its site is known.
void BM_CallBeforeCached(benchmark::State& state, const CoreInput& in) {
    const ProcessImage& image = image_of(in);
    const auto rets = return_addresses(image);
    SiteCache cache(image);
    int64_t n = 0;
    for (auto _ : state) {
        for (uint64_t ret : rets) benchmark::DoNotOptimize(cache.call_before(ret));
        n += static_cast<int64_t>(rets.size());
    }
    per_frame(state, n);
}

// Module and symbol lookup (binary searches) for every frame's address.
void BM_SymbolLookup(benchmark::State& state, const CoreInput& in) {
    const ProcessImage& image = image_of(in);
    const auto rets = return_addresses(image);
    int64_t n = 0;
    for (auto _ : state) {
        for (uint64_t ret : rets) benchmark::DoNotOptimize(locate(image, ret - 1));
        n += static_cast<int64_t>(rets.size());
    }
    per_frame(state, n);
}

// check_process: unwind, every check and the verdict, with `workers` threads.
void BM_CheckProcess(benchmark::State& state, const CoreInput& in) {
    const ProcessImage& image = image_of(in);
    CheckOptions options;
    options.workers = static_cast<unsigned>(state.range(0));
    int64_t frames = 0;
    for (auto _ : state) {
        auto r = check_process(image, PatchSet{}, options);
        for (const TaskVerdict& t : r->tasks) frames += static_cast<int64_t>(t.frames.size());
        benchmark::DoNotOptimize(r);
    }
    per_frame(state, frames);
}

void BM_Render(benchmark::State& state, const CoreInput& in, bool json) {
    const ProcessImage& image = image_of(in);
    auto r = check_process(image, PatchSet{}, {});
    int64_t frames = 0;
    for (const TaskVerdict& t : r->tasks) frames += static_cast<int64_t>(t.frames.size());
    const std::span<const ProcessReport> reports(&*r, 1);
    for (auto _ : state) {
        if (json) {
            std::string doc;
            report::JsonOut out(doc);
            report::write_json(out, reports, report::Mode::stack);
            benchmark::DoNotOptimize(doc);
        } else {
            benchmark::DoNotOptimize(report::render_text(reports, report::Mode::stack));
        }
    }
    per_frame(state, frames * static_cast<int64_t>(state.iterations()));
}

using Fn = void (*)(benchmark::State&, const CoreInput&);

void register_all() {
    const std::pair<const char*, Fn> on_cfi_cores[] = {
        {"read_core", BM_ReadCore},
        {"unwind_cfi_warm", BM_UnwindWarm},
        {"unwind_cfi_cold", BM_UnwindCold},
        {"call_before_decode", BM_CallBeforeDecode},
        {"call_before_cached", BM_CallBeforeCached},
        {"symbol_lookup", BM_SymbolLookup},
    };
    for (const CoreInput& in : cfi_cores()) {
        for (const auto& [name, fn] : on_cfi_cores) {
            benchmark::RegisterBenchmark((std::string(name) + "/" + in.name).c_str(), fn, in)->Unit(benchmark::kMicrosecond);
        }
        benchmark::RegisterBenchmark(("check_process/" + in.name).c_str(), BM_CheckProcess, in)
            ->Arg(1)->Arg(2)->ArgName("workers")->Unit(benchmark::kMillisecond)->UseRealTime();
        benchmark::RegisterBenchmark(("render_text/" + in.name).c_str(), BM_Render, in, false)->Unit(benchmark::kMillisecond);
        benchmark::RegisterBenchmark(("render_json/" + in.name).c_str(), BM_Render, in, true)->Unit(benchmark::kMillisecond);
    }
    for (const CoreInput& in : fp_cores()) {
        benchmark::RegisterBenchmark(("unwind_fp_warm/" + in.name).c_str(), BM_UnwindWarm, in)->Unit(benchmark::kMicrosecond);
        benchmark::RegisterBenchmark(("unwind_fp_cold/" + in.name).c_str(), BM_UnwindCold, in)->Unit(benchmark::kMicrosecond);
        benchmark::RegisterBenchmark(("fp_step/" + in.name).c_str(), BM_FpStep, in)->Unit(benchmark::kMicrosecond);
    }
}

}  // namespace
}  // namespace lpsafe::bench

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    lpsafe::bench::register_all();
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
