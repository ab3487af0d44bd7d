// Loopback HTTP for the debuginfod tests: a real debuginfod server started
// and always stopped by the test, a responder that answers every request
// with the same bytes (a server returning garbage), and a port nothing
// listens on (a server that is down). Everything binds 127.0.0.1 only;
// debuginfod itself (0.188) has no listen-address option, so the tests first
// move into a network namespace of their own where only loopback exists.
#pragma once

#include <gtest/gtest.h>
#include <sys/types.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace lpsafe::e2e {

// unshare(CLONE_NEWNET) and bring "lo" up, once per process; false (and
// why) when not permitted, in which case the tests run on the host's loopback.
bool private_network(std::string& why);

// A test suite whose children (debuginfod, lpsafe, eu-stack) run in that
// private network: entered before its first test.
class PrivateNetworkSuite : public ::testing::Test {
protected:
    static void SetUpTestSuite();
};

// A TCP port on 127.0.0.1 that nothing listens on (bound, then closed).
int closed_port();

// The status code of GET http://127.0.0.1:PORT/PATH, -1 when no answer.
int http_get_status(int port, const std::string& path);

class ServedBytes {
public:
    explicit ServedBytes(std::string body);  // listens on 127.0.0.1, a free port
    ~ServedBytes();
    ServedBytes(const ServedBytes&) = delete;
    ServedBytes& operator=(const ServedBytes&) = delete;
    int port() const { return port_; }
    int requests() const { return requests_; }

private:
    void serve();
    std::string body_;
    int listen_fd_ = -1;
    int port_ = 0;
    std::atomic<bool> stop_{false};
    std::atomic<int> requests_{0};
    std::thread thread_;
};

// `debuginfod -F DIR` on a free port with its database in `work`; killed
// (and reaped) by the destructor, and by the kernel if the test dies.
class DebuginfodServer {
public:
    DebuginfodServer(const std::string& scan_dir, const std::string& work);
    ~DebuginfodServer();
    DebuginfodServer(const DebuginfodServer&) = delete;
    DebuginfodServer& operator=(const DebuginfodServer&) = delete;
    // Polls until GET /buildid/ID/debuginfo answers 200 (the scan indexed
    // it), at most `seconds`.
    bool wait_indexed(const std::string& build_id, double seconds);
    int port() const { return port_; }
    std::string log() const;

private:
    pid_t pid_ = -1;
    int port_ = 0;
    std::string log_;
};

}  // namespace lpsafe::e2e
