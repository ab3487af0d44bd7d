// A std::thread pool as ordinary C++ programs park it: workers waiting on a
// condition variable, one blocked on a mutex its owner holds while sleeping,
// one in sleep_for. Prints "ready" once every thread is parked, then waits
// for stdin to close. Built by tests/e2e/real_software_test.cpp with the
// distribution's default flags (g++ -O2, PIE; lazy binding and -z now).
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>
#include <unistd.h>
#include <vector>

namespace {
std::mutex queue_lock;
std::condition_variable queue_ready;
bool stop = false;
std::mutex held;

void worker() {
    std::unique_lock lock(queue_lock);
    queue_ready.wait(lock, [] { return stop; });
}

void sleeper() { std::this_thread::sleep_for(std::chrono::hours(1)); }

void contender() {
    std::lock_guard lock(held);  // blocks: main holds it
}
}  // namespace

int main() {
    std::unique_lock own(held);
    std::vector<std::thread> pool;
    for (int i = 0; i < 4; ++i) pool.emplace_back(worker);
    pool.emplace_back(sleeper);
    pool.emplace_back(contender);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    std::puts("ready");
    std::fflush(stdout);
    char c;
    while (read(0, &c, 1) > 0) {
    }
    _exit(0);
}
