#include "loopback_http.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fcntl.h>

#include "fixture_util.h"

namespace lpsafe::e2e {

namespace {

sockaddr_in loopback(int port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

int listen_loopback(int& port) {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    sockaddr_in a = loopback(0);
    socklen_t len = sizeof a;
    if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(fd, 16) != 0 ||
        getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
        close(fd);
        return -1;
    }
    port = ntohs(a.sin_port);
    return fd;
}

}  // namespace

namespace {

bool enter_private_network(std::string& why) {
    if (unshare(CLONE_NEWNET) != 0) {
        why = std::string("unshare(CLONE_NEWNET): ") + std::strerror(errno);
        return false;
    }
    const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ifreq req{};
    std::strncpy(req.ifr_name, "lo", IFNAMSIZ - 1);
    const bool up = fd >= 0 && ioctl(fd, SIOCGIFFLAGS, &req) == 0 &&
                    (req.ifr_flags = static_cast<short>(req.ifr_flags | IFF_UP), ioctl(fd, SIOCSIFFLAGS, &req) == 0);
    if (!up) why = std::string("cannot bring lo up: ") + std::strerror(errno);
    if (fd >= 0) close(fd);
    return up;
}

}  // namespace

// Once per process, whichever test suite asks first: a second namespace
// would cut the test off from servers started in the first.
bool private_network(std::string& why) {
    static std::string first_why;
    static const bool entered = enter_private_network(first_why);
    why = first_why;
    return entered;
}

void PrivateNetworkSuite::SetUpTestSuite() {
    std::string why;
    if (!private_network(why)) std::printf("note: host loopback used: %s\n", why.c_str());
}

int closed_port() {
    int port = 0;
    const int fd = listen_loopback(port);
    if (fd >= 0) close(fd);
    return port;
}

int http_get_status(int port, const std::string& path) {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    sockaddr_in a = loopback(port);
    int status = -1;
    if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
        const std::string req = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
        if (write(fd, req.data(), req.size()) == static_cast<ssize_t>(req.size())) {
            char buf[64] = {};
            pollfd p{fd, POLLIN, 0};
            if (poll(&p, 1, 2000) == 1 && read(fd, buf, sizeof buf - 1) > 12)
                status = std::atoi(buf + 9);  // "HTTP/1.x NNN"
        }
    }
    close(fd);
    return status;
}

ServedBytes::ServedBytes(std::string body) : body_(std::move(body)) {
    listen_fd_ = listen_loopback(port_);
    if (listen_fd_ >= 0) thread_ = std::thread([this] { serve(); });
}

ServedBytes::~ServedBytes() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    if (listen_fd_ >= 0) close(listen_fd_);
}

void ServedBytes::serve() {
    while (!stop_) {
        pollfd p{listen_fd_, POLLIN, 0};
        if (poll(&p, 1, 50) != 1) continue;
        const int c = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) continue;
        // Read the request head (up to the blank line), then answer.
        std::string head;
        char buf[1024];
        pollfd q{c, POLLIN, 0};
        while (head.find("\r\n\r\n") == std::string::npos && poll(&q, 1, 1000) == 1) {
            const ssize_t n = read(c, buf, sizeof buf);
            if (n <= 0) break;
            head.append(buf, static_cast<size_t>(n));
        }
        ++requests_;
        const std::string reply = "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: " +
                                  std::to_string(body_.size()) + "\r\nConnection: close\r\n\r\n" + body_;
        for (size_t done = 0; done < reply.size();) {
            const ssize_t n = write(c, reply.data() + done, reply.size() - done);
            if (n <= 0) break;
            done += static_cast<size_t>(n);
        }
        close(c);
    }
}

DebuginfodServer::DebuginfodServer(const std::string& scan_dir, const std::string& work) {
    port_ = closed_port();
    log_ = work + "/debuginfod.log";
    const std::string db = work + "/debuginfod.sqlite";
    const std::string port = std::to_string(port_);
    pid_ = fork();
    if (pid_ == 0) {
        // Dies with the test, whatever ends it.
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        const int fd = open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        // -t 0 -g 0: one scan at start, no grooming; -c 1: one scanner.
        execlp("debuginfod", "debuginfod", "-p", port.c_str(), "-d", db.c_str(), "-F", "-t", "0", "-g", "0", "-c",
               "1", scan_dir.c_str(), static_cast<char*>(nullptr));
        _exit(127);
    }
}

DebuginfodServer::~DebuginfodServer() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    for (int i = 0; i < 100; ++i) {
        if (waitpid(pid_, nullptr, WNOHANG) == pid_) return;
        usleep(20000);
    }
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
}

bool DebuginfodServer::wait_indexed(const std::string& build_id, double seconds) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < until) {
        if (pid_ <= 0 || waitpid(pid_, nullptr, WNOHANG) == pid_) {
            pid_ = -1;
            return false;
        }
        if (http_get_status(port_, "/buildid/" + build_id + "/debuginfo") == 200) return true;
        usleep(50000);
    }
    return false;
}

std::string DebuginfodServer::log() const { return read_file(log_); }

}  // namespace lpsafe::e2e
