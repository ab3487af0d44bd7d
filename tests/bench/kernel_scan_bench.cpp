// Whole-system kernel scan with 10,000 sleeping threads (not a timed test:
// it prints figures; docs/performance.md records them). The threads belong
// to one kparked process (fixtures/programs/kparked.cpp, 16 KiB stacks),
// parked in pipe reads; the scan reads every task of the machine.
#include <benchmark/benchmark.h>

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>

#include "lpsafe/kernel_stack.h"
#include "readers/kernel/kernel_scan.h"

namespace {

constexpr int kThreads = 10000;

size_t task_count(int pid) {
    size_t n = 0;
    std::error_code ec;
    for (auto it = std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec);
         !ec && it != std::filesystem::directory_iterator(); ++it) {
        ++n;
    }
    return n;
}

int start_threads() {
    const char* bin = std::getenv("LPSAFE_KPARKED");
    if (bin == nullptr) return -1;
    const int pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (std::freopen("/dev/null", "w", stdout) == nullptr) _exit(127);
        execl(bin, bin, "threads", std::to_string(kThreads).c_str(), nullptr);
        _exit(127);
    }
    for (int i = 0; i < 600 && task_count(pid) < kThreads + 1; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));  // let the last ones park
    return pid;
}

lpsafe::PatchSet pipe_patch() {
    lpsafe::PatchSet set;
    (void)set.add_spec("vmlinux:anon_pipe_read");
    return set;
}

// Everything `lpsafe check --kernel` does before rendering.
void BM_WholeSystemKernelScan(benchmark::State& state) {
    const auto patch = pipe_patch();
    size_t tasks = 0, blocked = 0;
    for (auto _ : state) {
        auto source = lpsafe::readers::open_live_proc();
        auto capture = lpsafe::readers::capture_kernel(*source);
        if (!capture) return state.SkipWithError(capture.error().message.c_str());
        auto input = lpsafe::readers::to_kernel_input(*capture);
        if (!input) return state.SkipWithError(input.error().message.c_str());
        auto report = lpsafe::check_kernel(input->tasks, input->kallsyms, patch);
        if (!report) return state.SkipWithError(report.error().message.c_str());
        tasks = report->tasks.size();
        blocked = static_cast<size_t>(report->summary.blocked);
    }
    state.counters["tasks"] = static_cast<double>(tasks);
    state.counters["blocked"] = static_cast<double>(blocked);
}
BENCHMARK(BM_WholeSystemKernelScan)->Unit(benchmark::kMillisecond)->UseRealTime()->MeasureProcessCPUTime()->MinTime(3);

// The parts: reading /proc only, and parsing kallsyms only.
void BM_ReadProcOnly(benchmark::State& state) {
    for (auto _ : state) {
        auto source = lpsafe::readers::open_live_proc();
        auto capture = lpsafe::readers::capture_kernel(*source);
        benchmark::DoNotOptimize(capture);
    }
}
BENCHMARK(BM_ReadProcOnly)->Unit(benchmark::kMillisecond)->UseRealTime()->MeasureProcessCPUTime()->MinTime(3);

void BM_ParseKallsyms(benchmark::State& state) {
    auto source = lpsafe::readers::open_live_proc();
    const auto text = source->read("kallsyms");
    for (auto _ : state) benchmark::DoNotOptimize(lpsafe::Kallsyms::parse(text.data));
}
BENCHMARK(BM_ParseKallsyms)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
    const int pid = start_threads();
    if (pid <= 0) {
        std::fprintf(stderr, "kernel_scan_bench: set LPSAFE_KPARKED to the kparked program\n");
        return 1;
    }
    std::fprintf(stderr, "kernel_scan_bench: %zu threads parked in pid %d\n", task_count(pid), pid);
    benchmark::Initialize(&argc, argv);
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    return 0;
}
