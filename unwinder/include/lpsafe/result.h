// Errors that stop an operation (unreadable file, malformed core) are values of
// one type carrying a message a user can act on. Facts about a stack are not
// errors: they are Findings (finding.h).
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace lpsafe {

struct Error {
    std::string message;
};

// A minimal expected<T, Error> (std::expected is C++23; we target C++20).
template <typename T>
class Result {
public:
    Result(T value) : v_(std::move(value)) {}
    Result(Error error) : v_(std::move(error)) {}

    bool ok() const { return std::holds_alternative<T>(v_); }
    explicit operator bool() const { return ok(); }

    T& value() & { return std::get<T>(v_); }
    const T& value() const& { return std::get<T>(v_); }
    T&& value() && { return std::get<T>(std::move(v_)); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }

    const Error& error() const { return std::get<Error>(v_); }

private:
    std::variant<T, Error> v_;
};

struct Ok {};
using Status = Result<Ok>;

inline Error make_error(std::string message) { return Error{std::move(message)}; }

}  // namespace lpsafe
