// Before a user-space live patcher rewrites a library function in a running
// process: is any thread inside it (or is any stack untrustworthy)?
//
//   check_process PID [OBJECT:]FUNCTION...     e.g. 1234
//   libc.so.6:clock_nanosleep
// Exit: 0 patch now, 1 not now (why printed), 2 error.
//
// Build: c++ -std=c++20 check_process.cpp $(pkg-config --cflags --libs lpsafe)
#include <cstdlib>
#include <iostream>

#include <lpsafe.hpp>

int main(int argc, char** argv) {
    if (argc < 3) {
        std::cerr << "usage: check_process PID [OBJECT:]FUNCTION...\n";
        return 2;
    }
    try {
        auto source = lpsafe::source::pids({std::atoi(argv[1])});
        lpsafe::patch patch;
        for (int i = 2; i < argc; ++i) patch.function(argv[i]);
        const lpsafe::result result = lpsafe::check(source, patch);
        for (const std::string& note : result.notes()) std::cerr << "note: " << note << "\n";
        for (const lpsafe::process& p : result.processes()) {
            for (const lpsafe::task& t : p.tasks()) {
                std::cout << t.tid() << " " << t.comm() << ": " << lpsafe::name(t.verdict());
                for (const lpsafe::blocked_by& b : t.blocked()) {
                    std::cout << " in " << b.object << ":" << b.function << " (frame " << b.frame << ")";
                }
                for (const lpsafe::finding& f : t.findings()) std::cout << " [" << f.check << ": " << f.detail << "]";
                std::cout << "\n";
                if (!t.safe()) {
                    for (const lpsafe::frame& f : t.frames()) {
                        std::cout << "    " << std::hex << "0x" << f.pc << std::dec << " " << f.object << ":"
                                  << (*f.function ? f.function : "??") << "+" << f.offset << "\n";
                    }
                }
            }
        }
        const bool now = result.all_safe();
        std::cout << (now ? "patch now\n" : "not now\n");
        return now ? 0 : 1;
    } catch (const lpsafe::error& e) {
        std::cerr << "check_process: " << e.what() << "\n";
        return 2;
    }
}
