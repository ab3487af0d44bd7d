// lpsafe for C++: RAII wrappers over the C API of lpsafe.h, header-only, so
// the library's ABI stays the C one (a client built with another compiler or
// standard library still links). lpsafe(3), docs/library.md.
//
// Errors are exceptions (lpsafe::error, carrying the lpsafe_status and the
// message). C++20 has no std::expected, and a home-made one in a public
// header would be one more type to keep stable; the C API is the
// status-returning interface for callers that want no exceptions. Verdicts
// are not errors: a blocked or unreliable task is a value (task::verdict()).
//
// Views (process, task, frame ranges) borrow from their lpsafe::result and
// are valid while it lives, like the C API's.
#pragma once

#include <cstddef>
#include <iterator>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "lpsafe.h"

namespace lpsafe {

class error : public std::runtime_error {
public:
    error(lpsafe_status status, const std::string& message) : std::runtime_error(message), status_(status) {}
    lpsafe_status status() const noexcept { return status_; }

private:
    lpsafe_status status_;
};

namespace detail {

inline void check(lpsafe_status st) {
    if (st != LPSAFE_OK) throw error(st, std::string(lpsafe_status_name(st)) + ": " + lpsafe_last_error());
}

inline const char* c_str_or_null(const std::string& s) { return s.empty() ? nullptr : s.c_str(); }

template <auto Free>
struct deleter {
    template <typename T>
    void operator()(T* p) const noexcept {
        Free(p);
    }
};

// A random-access range over the index-th items of a C handle, each made by
// Get(handle, index) on demand.
template <typename Handle, typename Item, Item (*Get)(Handle, size_t)>
class indexed_range {
public:
    class iterator {
    public:
        using iterator_category = std::forward_iterator_tag;
        using value_type = Item;
        using difference_type = std::ptrdiff_t;
        iterator() = default;
        iterator(Handle h, size_t i) : h_(h), i_(i) {}
        Item operator*() const { return Get(h_, i_); }
        iterator& operator++() {
            ++i_;
            return *this;
        }
        iterator operator++(int) {
            iterator old = *this;
            ++i_;
            return old;
        }
        bool operator==(const iterator& o) const { return i_ == o.i_; }

    private:
        Handle h_{};
        size_t i_ = 0;
    };
    indexed_range(Handle h, size_t n) : h_(h), n_(n) {}
    iterator begin() const { return {h_, 0}; }
    iterator end() const { return {h_, n_}; }
    size_t size() const { return n_; }
    bool empty() const { return n_ == 0; }
    Item operator[](size_t i) const { return Get(h_, i); }

private:
    Handle h_;
    size_t n_;
};

}  // namespace detail

inline std::string_view version() { return lpsafe_version(); }
inline std::string_view name(lpsafe_verdict v) { return lpsafe_verdict_name(v); }

class options {
public:
    options() { detail::check(lpsafe_options_init(&o_)); }
    options& max_frames(unsigned n) {
        o_.max_frames = n;
        return *this;
    }
    options& cross_check(bool on) {
        o_.no_cross_check = on ? 0 : 1;
        return *this;
    }
    options& strict(bool on) {
        o_.strict = on ? 1 : 0;
        return *this;
    }
    const lpsafe_options* get() const { return &o_; }

private:
    lpsafe_options o_{};
};

// Where a process's files are found (lpsafe_file_options).
struct files {
    std::string exe;      // cores only
    std::string sysroot;
    std::vector<std::string> debug_dirs;
};

class source {
public:
    static source core(const std::string& core, const std::string& exe = {}, const std::string& sysroot = {}) {
        return open([&](lpsafe_source** s) {
            return lpsafe_source_open_core(core.c_str(), detail::c_str_or_null(exe), detail::c_str_or_null(sysroot), s);
        });
    }
    static source core(const std::string& core, const files& f) {
        return with_files(f, [&](const lpsafe_file_options* o, lpsafe_source** s) {
            return lpsafe_source_open_core_with(core.c_str(), o, s);
        });
    }
    static source pids(const std::vector<int>& pids, const files& f) {
        return with_files(f, [&](const lpsafe_file_options* o, lpsafe_source** s) {
            return lpsafe_source_open_pids_with(pids.data(), pids.size(), o, s);
        });
    }
    static source all_user(const files& f) {
        return with_files(f, [&](const lpsafe_file_options* o, lpsafe_source** s) {
            return lpsafe_source_open_all_user_with(o, s);
        });
    }
    static source snapshot(const std::string& path) {
        return open([&](lpsafe_source** s) { return lpsafe_source_open_snapshot(path.c_str(), s); });
    }
    static source pids(const std::vector<int>& pids, const std::string& sysroot = {}) {
        return open([&](lpsafe_source** s) {
            return lpsafe_source_open_pids(pids.data(), pids.size(), detail::c_str_or_null(sysroot), s);
        });
    }
    static source all_user(const std::string& sysroot = {}) {
        return open([&](lpsafe_source** s) { return lpsafe_source_open_all_user(detail::c_str_or_null(sysroot), s); });
    }
    // proc_root empty: the live /proc.
    static source kernel(const std::string& proc_root = {}, const lpsafe_kernel_options* options = nullptr) {
        return open(
            [&](lpsafe_source** s) { return lpsafe_source_open_kernel(detail::c_str_or_null(proc_root), options, s); });
    }

    void record(const std::string& path, const options& o = {}) {
        detail::check(lpsafe_record(h_.get(), path.c_str(), o.get()));
    }
    lpsafe_source* get() const { return h_.get(); }

private:
    template <typename Open>
    static source open(Open&& f) {
        lpsafe_source* s = nullptr;
        detail::check(f(&s));
        return source(s);
    }
    // The C view of `f` lives for the call only (the library copies it).
    template <typename Open>
    static source with_files(const files& f, Open&& open_with) {
        std::vector<const char*> dirs;
        for (const std::string& d : f.debug_dirs) dirs.push_back(d.c_str());
        const lpsafe_file_options o{detail::c_str_or_null(f.exe), detail::c_str_or_null(f.sysroot), dirs.data(),
                                    dirs.size()};
        return open([&](lpsafe_source** s) { return open_with(&o, s); });
    }
    explicit source(lpsafe_source* s) : h_(s) {}
    std::unique_ptr<lpsafe_source, detail::deleter<lpsafe_source_free>> h_;
};

class patch {
public:
    patch() {
        lpsafe_patch* p = nullptr;
        detail::check(lpsafe_patch_new(&p));
        h_.reset(p);
    }
    patch& function(const std::string& spec) {
        detail::check(lpsafe_patch_add_function(h_.get(), spec.c_str()));
        return *this;
    }
    patch& file(const std::string& path) {
        detail::check(lpsafe_patch_add_file(h_.get(), path.c_str()));
        return *this;
    }
    patch& klp_module(const std::string& ko) {
        detail::check(lpsafe_patch_add_klp_module(h_.get(), ko.c_str()));
        return *this;
    }
    const lpsafe_patch* get() const { return h_.get(); }

private:
    std::unique_ptr<lpsafe_patch, detail::deleter<lpsafe_patch_free>> h_;
};

namespace detail {

template <typename Out, lpsafe_status (*Fn)(const lpsafe_task*, size_t, Out*)>
Out task_item(const lpsafe_task* t, size_t i) {
    Out o{};
    check(Fn(t, i, &o));
    return o;
}

// The wrapper (View) of the index-th child handle of a parent handle.
template <typename View, typename Parent, typename Child, lpsafe_status (*Fn)(const Parent*, size_t, const Child**)>
View child_at(const Parent* parent, size_t i) {
    const Child* c = nullptr;
    check(Fn(parent, i, &c));
    return View(c);
}

}  // namespace detail

using frame = lpsafe_frame;
using finding = lpsafe_finding;
using blocked_by = lpsafe_blocked_by;
using skipped_check = lpsafe_skipped_check;

class task {
public:
    explicit task(const lpsafe_task* t) : t_(t) { detail::check(lpsafe_task_info_get(t, &info_)); }
    int pid() const { return info_.pid; }
    int tid() const { return info_.tid; }
    std::string_view comm() const { return info_.comm; }
    std::string_view state() const { return info_.state; }
    lpsafe_verdict verdict() const { return info_.verdict; }
    bool safe() const { return info_.verdict == LPSAFE_VERDICT_SAFE; }
    bool reliable() const { return info_.reliable != 0; }
    std::string_view reason() const { return info_.reason; }
    std::string_view end() const { return info_.end; }

    auto frames() const {
        return detail::indexed_range<const lpsafe_task*, frame, detail::task_item<frame, lpsafe_task_frame>>(
            t_, info_.frame_count);
    }
    auto blocked() const {
        return detail::indexed_range<const lpsafe_task*, blocked_by,
                                     detail::task_item<blocked_by, lpsafe_task_blocked_by>>(t_, info_.blocked_count);
    }
    auto findings() const {
        return detail::indexed_range<const lpsafe_task*, finding, detail::task_item<finding, lpsafe_task_finding>>(
            t_, info_.finding_count);
    }
    auto skipped() const {
        return detail::indexed_range<const lpsafe_task*, skipped_check,
                                     detail::task_item<skipped_check, lpsafe_task_skipped>>(t_, info_.skipped_count);
    }

private:
    const lpsafe_task* t_;
    lpsafe_task_info info_{};
};

class process {
public:
    explicit process(const lpsafe_process* p) : p_(p) { detail::check(lpsafe_process_info_get(p, &info_)); }
    int pid() const { return info_.pid; }
    std::string_view comm() const { return info_.comm; }
    auto tasks() const {
        return detail::indexed_range<const lpsafe_process*, task,
                                     detail::child_at<task, lpsafe_process, lpsafe_task, lpsafe_process_task>>(
            p_, info_.task_count);
    }

private:
    const lpsafe_process* p_;
    lpsafe_process_info info_{};
};

class result {
public:
    lpsafe_summary summary() const {
        lpsafe_summary s{};
        detail::check(lpsafe_result_summary(h_.get(), &s));
        return s;
    }
    // True only when every task is safe (the command's exit status 0).
    bool all_safe() const { return summary().exit_status == 0; }
    std::string_view json() const {
        const char* j = nullptr;
        detail::check(lpsafe_result_json(h_.get(), &j));
        return j;
    }
    std::vector<std::string> notes() const {
        size_t n = 0;
        detail::check(lpsafe_result_note_count(h_.get(), &n));
        std::vector<std::string> out;
        for (size_t i = 0; i < n; ++i) {
            const char* s = nullptr;
            detail::check(lpsafe_result_note(h_.get(), i, &s));
            out.emplace_back(s);
        }
        return out;
    }
    auto processes() const {
        size_t n = 0;
        detail::check(lpsafe_result_process_count(h_.get(), &n));
        return detail::indexed_range<const lpsafe_result*, process,
                                     detail::child_at<process, lpsafe_result, lpsafe_process, lpsafe_result_process>>(
            h_.get(), n);
    }

private:
    friend result check(source&, const patch&, const options&);
    friend result stack(source&, const options&);
    explicit result(lpsafe_result* r) : h_(r) {}
    std::unique_ptr<lpsafe_result, detail::deleter<lpsafe_result_free>> h_;
};

inline result check(source& s, const patch& p, const options& o = {}) {
    lpsafe_result* r = nullptr;
    detail::check(lpsafe_check(s.get(), p.get(), o.get(), &r));
    return result(r);
}

inline result stack(source& s, const options& o = {}) {
    lpsafe_result* r = nullptr;
    detail::check(lpsafe_stack(s.get(), o.get(), &r));
    return result(r);
}

}  // namespace lpsafe
