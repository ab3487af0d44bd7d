// Opening sources and recording them. Files (cores, snapshots) are read at
// open, so a bad file fails there; live processes and the live /proc are
// read at each check, so every check sees the present.
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <new>

#include "handles.h"

using lpsafe::capi::fail;
using lpsafe::capi::guarded;
using lpsafe::capi::missing;
using lpsafe::capi::optional_string;

namespace {

lpsafe_status hand_out(std::unique_ptr<lpsafe_source> s, lpsafe_source** out) {
    *out = s.release();
    return LPSAFE_OK;
}

// `memory`: --kernel-memory's file; `dump`: --vmcore's (both empty: /proc).
lpsafe_status open_kernel(const std::string& proc_root, const lpsafe_kernel_options* options, lpsafe_source** out,
                          const std::string& memory = {}, const std::string& dump = {}) {
    auto s = std::make_unique<lpsafe_source>();
    s->kind = lpsafe_source::Kind::kernel;
    s->kernel.proc_root = proc_root;
    s->kernel.kernel_memory = memory;
    s->kernel.vmcore = dump;
    if ((!memory.empty() || !dump.empty()) && options != nullptr && options->no_kernel_image != 0) {
        return fail(LPSAFE_ERR_INVALID, "kernel memory is walked with the image's ORC tables: no_kernel_image excludes it");
    }
    if (!dump.empty()) {
        auto st = lpsafe::pipeline::check_kernel_dump_file(dump);
        if (!st) return fail(LPSAFE_ERR_INPUT, st.error());
    } else if (!memory.empty() && ::access(memory.c_str(), R_OK) != 0) {
        return fail(LPSAFE_ERR_INPUT, lpsafe::Error{"cannot read " + memory + ": " + std::strerror(errno)});
    }
    if (options != nullptr) {
        s->kernel.vmlinux = optional_string(options->vmlinux);
        s->kernel.boot_dir = optional_string(options->boot_dir);
        s->kernel.modules_dir = optional_string(options->modules_dir);
        s->kernel.no_kernel_image = options->no_kernel_image != 0;
    }
    // A capture that cannot be opened fails now; its tasks are read per check.
    if (!proc_root.empty()) {
        auto source = lpsafe::pipeline::open_kernel_source(s->kernel);
        if (!source) return fail(LPSAFE_ERR_INPUT, source.error());
    }
    return hand_out(std::move(s), out);
}

lpsafe_status open_file(lpsafe::pipeline::ProcessInput input, lpsafe_source** out) {
    auto s = std::make_unique<lpsafe_source>();
    auto image = lpsafe::pipeline::read_process_file(input);
    if (!image) return fail(LPSAFE_ERR_INPUT, image.error());
    lpsafe::pipeline::note_symbol_sources(*image, [&](const std::string& n) { s->open_notes.push_back(n); });
    s->input = std::move(input);
    s->image = std::move(*image);
    return hand_out(std::move(s), out);
}

// Copies `options` into `in`; false (with `st` set) when they are not valid
// for this kind of source.
bool take_file_options(const lpsafe_file_options* options, bool core, lpsafe::pipeline::ProcessInput& in,
                       lpsafe_status& st) {
    if (options == nullptr) return true;
    if (options->exe != nullptr && !core) {
        st = fail(LPSAFE_ERR_INVALID, "exe is for cores: a live process names its own executable");
        return false;
    }
    if (options->debug_dir_count > 0 && options->debug_dirs == nullptr) {
        st = fail(LPSAFE_ERR_INVALID, "debug_dirs is NULL but debug_dir_count is not 0");
        return false;
    }
    in.exe = optional_string(options->exe);
    in.sysroot = optional_string(options->sysroot);
    for (size_t i = 0; i < options->debug_dir_count; ++i) {
        if (options->debug_dirs[i] == nullptr) {
            st = fail(LPSAFE_ERR_INVALID, "debug_dirs[" + std::to_string(i) + "] is NULL");
            return false;
        }
        in.debug_dirs.emplace_back(options->debug_dirs[i]);
    }
    return true;
}

lpsafe_status open_live(lpsafe::pipeline::ProcessInput input, lpsafe_source** out) {
    auto s = std::make_unique<lpsafe_source>();
    s->kind = lpsafe_source::Kind::live;
    s->input = std::move(input);
    return hand_out(std::move(s), out);
}

}  // namespace

extern "C" {

LPSAFE_API lpsafe_status lpsafe_source_open_core_with(const char* core, const lpsafe_file_options* options,
                                                      lpsafe_source** out) {
    return guarded([&] {
        lpsafe_status st = LPSAFE_OK;
        if (missing(out, "out", st)) return st;
        *out = nullptr;
        if (missing(core, "core", st)) return st;
        lpsafe::pipeline::ProcessInput in;
        in.core = core;
        if (!take_file_options(options, true, in, st)) return st;
        return open_file(std::move(in), out);
    });
}

LPSAFE_API lpsafe_status lpsafe_source_open_core(const char* core, const char* exe, const char* sysroot,
                                                 lpsafe_source** out) {
    const lpsafe_file_options options{exe, sysroot, nullptr, 0};
    return lpsafe_source_open_core_with(core, &options, out);
}

LPSAFE_API lpsafe_status lpsafe_source_open_snapshot(const char* path, lpsafe_source** out) {
    return guarded([&] {
        lpsafe_status st = LPSAFE_OK;
        if (missing(out, "out", st)) return st;
        *out = nullptr;
        if (missing(path, "path", st)) return st;
        // A kernel capture is the kernel's snapshot, as for `--snapshot`.
        if (lpsafe::pipeline::is_kernel_capture(path)) return open_kernel(path, nullptr, out);
        lpsafe::pipeline::ProcessInput in;
        in.snapshot = path;
        return open_file(std::move(in), out);
    });
}

LPSAFE_API lpsafe_status lpsafe_source_open_pids_with(const int* pids, size_t count,
                                                      const lpsafe_file_options* options, lpsafe_source** out) {
    return guarded([&] {
        lpsafe_status st = LPSAFE_OK;
        if (missing(out, "out", st)) return st;
        *out = nullptr;
        if (missing(pids, "pids", st)) return st;
        if (count == 0) return fail(LPSAFE_ERR_INVALID, "no pids: give at least one");
        lpsafe::pipeline::ProcessInput in;
        if (!take_file_options(options, false, in, st)) return st;
        for (size_t i = 0; i < count; ++i) {
            if (pids[i] <= 0)
                return fail(LPSAFE_ERR_INVALID, "pid " + std::to_string(pids[i]) + " is not a process id");
            in.pids.push_back(pids[i]);
        }
        return open_live(std::move(in), out);
    });
}

LPSAFE_API lpsafe_status lpsafe_source_open_pids(const int* pids, size_t count, const char* sysroot,
                                                 lpsafe_source** out) {
    const lpsafe_file_options options{nullptr, sysroot, nullptr, 0};
    return lpsafe_source_open_pids_with(pids, count, &options, out);
}

LPSAFE_API lpsafe_status lpsafe_source_open_all_user_with(const lpsafe_file_options* options, lpsafe_source** out) {
    return guarded([&] {
        lpsafe_status st = LPSAFE_OK;
        if (missing(out, "out", st)) return st;
        *out = nullptr;
        lpsafe::pipeline::ProcessInput in;
        if (!take_file_options(options, false, in, st)) return st;
        in.all_user = true;
        return open_live(std::move(in), out);
    });
}

LPSAFE_API lpsafe_status lpsafe_source_open_all_user(const char* sysroot, lpsafe_source** out) {
    const lpsafe_file_options options{nullptr, sysroot, nullptr, 0};
    return lpsafe_source_open_all_user_with(&options, out);
}

LPSAFE_API lpsafe_status lpsafe_source_open_kernel(const char* proc_root, const lpsafe_kernel_options* options,
                                                   lpsafe_source** out) {
    return guarded([&] {
        lpsafe_status st = LPSAFE_OK;
        if (missing(out, "out", st)) return st;
        *out = nullptr;
        return open_kernel(optional_string(proc_root), options, out);
    });
}

LPSAFE_API lpsafe_status lpsafe_source_open_kernel_memory(const char* kcore, const lpsafe_kernel_options* options,
                                                          lpsafe_source** out) {
    return guarded([&] {
        lpsafe_status st = LPSAFE_OK;
        if (missing(out, "out", st) || missing(kcore, "kcore", st)) return st;
        *out = nullptr;
        return open_kernel({}, options, out, kcore);
    });
}

LPSAFE_API lpsafe_status lpsafe_source_open_kernel_dump(const char* dump, const lpsafe_kernel_options* options,
                                                        lpsafe_source** out) {
    return guarded([&] {
        lpsafe_status st = LPSAFE_OK;
        if (missing(out, "out", st) || missing(dump, "dump", st)) return st;
        *out = nullptr;
        return open_kernel({}, options, out, {}, dump);
    });
}

LPSAFE_API void lpsafe_source_free(lpsafe_source* source) { delete source; }

LPSAFE_API lpsafe_status lpsafe_record(lpsafe_source* source, const char* path, const lpsafe_options* options) {
    return guarded([&] {
        lpsafe_status st = LPSAFE_OK;
        if (missing(source, "source", st) || missing(path, "path", st)) return st;
        lpsafe_options o;
        lpsafe_options_init(&o);
        if (options != nullptr) o = *options;
        std::lock_guard hold(source->lock);
        if (source->kind == lpsafe_source::Kind::kernel) {
            auto tasks =
                lpsafe::pipeline::record_kernel(source->kernel, path, std::string("liblpsafe ") + LPSAFE_VERSION);
            return tasks ? LPSAFE_OK : fail(LPSAFE_ERR_INPUT, tasks.error());
        }
        lpsafe::readers::RecordOptions record;
        record.check = lpsafe::pipeline::make_check_options(o.max_frames, o.no_cross_check == 0);
        if (source->image) {
            auto done = lpsafe::pipeline::record_process(*source->image, record, path);
            return done ? LPSAFE_OK : fail(LPSAFE_ERR_INPUT, done.error());
        }
        if (source->input.all_user || source->input.pids.size() != 1) {
            return fail(LPSAFE_ERR_USAGE, "record writes one process: open one pid, a core or a snapshot");
        }
        auto done = lpsafe::pipeline::for_each_process(
            source->input,
            [&](const lpsafe::ProcessImage& image) -> lpsafe::Status {
                auto r = lpsafe::pipeline::record_process(image, record, path);
                if (!r) return r.error();
                return lpsafe::Ok{};
            },
            [](const std::string&) {});
        return done ? LPSAFE_OK : fail(LPSAFE_ERR_INPUT, done.error());
    });
}

}  // extern "C"
