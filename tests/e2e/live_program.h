// Fixture programs run as live processes for the ptrace tests: started,
// waited for until every thread is where the program says it parks, and
// killed at the end of the test.
#pragma once

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

namespace lpsafe::e2e {

class LiveProgram {
public:
    // Runs `argv` (argv[1] must be the roles file the program writes, as
    // parked.c and many_threads.c do) and waits until the roles file exists
    // and every role but "spin" and "churn" sits in a system call.
    explicit LiveProgram(std::vector<std::string> argv);
    ~LiveProgram();
    LiveProgram(const LiveProgram&) = delete;
    LiveProgram& operator=(const LiveProgram&) = delete;

    bool ok() const { return ok_; }
    const std::string& error() const { return error_; }
    pid_t pid() const { return pid_; }
    const std::map<int, std::string>& roles() const { return roles_; }

private:
    std::string roles_path_;
    pid_t pid_ = -1;
    bool ok_ = false;
    std::string error_;
    std::map<int, std::string> roles_;
};

// Every thread of `pid` that is stopped ('t'/'T') or traced, as
// "tid: State ..., TracerPid N" lines; empty when none is.
std::string stopped_or_traced_threads(pid_t pid);

// Runs argv in a new process (standard output and error to /dev/null).
pid_t spawn(const std::vector<std::string>& argv);

}  // namespace lpsafe::e2e
