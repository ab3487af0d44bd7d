// Live capture stop time (not a test: prints figures for docs/performance.md).
//
//   live_capture_bench MANY_THREADS_BIN [THREADS=1000] [RUNS=5]
//
// Starts fixtures/programs/many_threads.c with THREADS parked threads (64 KiB
// stacks), captures it RUNS times with readers::capture_process and prints
// the distribution of per-thread stop times (PTRACE_INTERRUPT to
// PTRACE_DETACH), the total stop per capture and the capture's wall time.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "readers/ptrace/ptrace_capture.h"

namespace {

double percentile(std::vector<uint64_t> v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    return static_cast<double>(v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))]);
}

pid_t start(const std::string& bin, const std::string& roles, const std::string& threads) {
    std::filesystem::remove(roles);
    const pid_t pid = fork();
    if (pid == 0) {
        execl(bin.c_str(), bin.c_str(), roles.c_str(), threads.c_str(), static_cast<char*>(nullptr));
        _exit(127);
    }
    for (int i = 0; i < 2000 && !std::filesystem::exists(roles); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // let the last threads enter pause()
    return pid;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s MANY_THREADS_BIN [THREADS] [RUNS]\n", argv[0]);
        return 2;
    }
    const std::string threads = argc > 2 ? argv[2] : "1000";
    const int runs = argc > 3 ? std::atoi(argv[3]) : 5;
    const std::string roles = "/tmp/lpsafe-bench-roles." + std::to_string(getpid());
    const pid_t pid = start(argv[1], roles, threads);

    std::vector<uint64_t> per_thread, totals, walls;
    for (int r = 0; r < runs; ++r) {
        const auto t0 = std::chrono::steady_clock::now();
        auto image = lpsafe::readers::capture_process(pid);
        const auto wall = std::chrono::steady_clock::now() - t0;
        if (!image) {
            std::fprintf(stderr, "capture failed: %s\n", image.error().message.c_str());
            break;
        }
        uint64_t total = 0;
        for (const auto& t : image->threads) {
            if (t.status != lpsafe::CaptureStatus::captured) continue;
            per_thread.push_back(t.stop_ns);
            total += t.stop_ns;
        }
        totals.push_back(total);
        walls.push_back(static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(wall).count()));
    }
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    std::filesystem::remove(roles);

    std::printf("live capture of %s threads (+ main), 64 KiB stacks, %d runs, %zu thread stops\n", threads.c_str(),
                runs, per_thread.size());
    std::printf("stop per thread (us): median %.1f  p90 %.1f  p99 %.1f  max %.1f\n", percentile(per_thread, 0.5) / 1e3,
                percentile(per_thread, 0.9) / 1e3, percentile(per_thread, 0.99) / 1e3,
                percentile(per_thread, 1.0) / 1e3);
    std::printf("total stop per capture (ms): median %.2f  max %.2f\n", percentile(totals, 0.5) / 1e6,
                percentile(totals, 1.0) / 1e6);
    std::printf("capture wall time (ms, incl. /proc, modules): median %.1f  max %.1f\n", percentile(walls, 0.5) / 1e6,
                percentile(walls, 1.0) / 1e6);
    return per_thread.empty() ? 1 : 0;
}
