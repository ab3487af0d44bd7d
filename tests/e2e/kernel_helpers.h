// Helper processes parked in known system calls (fixtures/programs/kparked.cpp)
// for live kernel tests: started, waited for until the kernel shows them
// sleeping inside the call, killed and reaped on destruction.
#pragma once

#include <string>

namespace lpsafe::e2e {

class ParkedHelper {
public:
    // mode: pause | nanosleep | pipe | "threads N"
    explicit ParkedHelper(const std::string& mode);
    ~ParkedHelper();
    ParkedHelper(const ParkedHelper&) = delete;
    ParkedHelper& operator=(const ParkedHelper&) = delete;

    int pid() const { return pid_; }
    bool parked() const { return parked_; }
    // The function the kernel lists first in /proc/<pid>/stack ("" when unreadable).
    std::string top_function() const;
    void kill_and_reap();

private:
    int pid_ = -1;
    bool parked_ = false;
};

std::string kparked_bin();  // $LPSAFE_KPARKED
// errno of reading /proc/<pid>/stack (0 when readable).
int stack_read_error(int pid);

}  // namespace lpsafe::e2e
