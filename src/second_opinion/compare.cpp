#include "second_opinion/compare.h"

#include <cstdio>

namespace lpsafe::second_opinion {
namespace {

std::string hex(uint64_t v) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "%#llx", static_cast<unsigned long long>(v));
    return buf;
}

std::string lpsafe_end(const StackEnd& end) {
    switch (end.kind) {
    case StackEnd::Kind::outermost: return "outermost";
    case StackEnd::Kind::depth_limit: return "depth-limit";
    case StackEnd::Kind::failed: break;
    }
    return "failed: " + end.detail;
}

}  // namespace

std::string_view peer_end_name(PeerStack::End end) {
    switch (end) {
    case PeerStack::End::outermost: return "outermost";
    case PeerStack::End::error: return "error";
    case PeerStack::End::depth_limit: return "depth-limit";
    }
    return "error";
}

ThreadComparison compare_frames(const TaskVerdict& task, PeerStack peer) {
    ThreadComparison c;
    c.tid = task.tid;
    c.lpsafe_frames = task.frames.size();
    c.lpsafe_end = lpsafe_end(task.end);
    const auto& ours = task.frames;
    const auto& theirs = peer.frames;
    while (c.matching < ours.size() && c.matching < theirs.size() && ours[c.matching].pc == theirs[c.matching].pc &&
           ours[c.matching].sp == theirs[c.matching].sp) {
        ++c.matching;
    }
    c.agree = c.matching == ours.size() && c.matching == theirs.size();
    const size_t k = c.matching;
    if (c.agree) {
        // same frames
    } else if (k < ours.size() && k < theirs.size()) {
        c.detail = "frame #" + std::to_string(k) + ": lpsafe pc " + hex(ours[k].pc) + " sp " + hex(ours[k].sp) +
                   ", libunwind pc " + hex(theirs[k].pc) + " sp " + hex(theirs[k].sp) +
                   (ours[k].pc == theirs[k].pc ? " (same pc, different stack pointer)" : "");
    } else if (k == ours.size()) {
        c.detail = "lpsafe stops after " + std::to_string(k) + " frames (" + c.lpsafe_end + "); libunwind goes on to " +
                   std::to_string(theirs.size()) + " frames (" + std::string(peer_end_name(peer.end)) + ")";
    } else {
        c.detail = "libunwind stops after " + std::to_string(k) + " frames (" +
                   std::string(peer_end_name(peer.end)) + (peer.detail.empty() ? "" : ": " + peer.detail) +
                   "); lpsafe goes on to " + std::to_string(ours.size()) + " frames";
    }
    c.peer = std::move(peer);
    return c;
}

std::vector<ThreadComparison> compare_with_libunwind(const ProcessImage& process, const ProcessReport& report,
                                                     unsigned max_frames) {
    std::vector<ThreadComparison> out;
    for (const TaskVerdict& task : report.tasks) {
        for (const ThreadState& t : process.threads) {
            if (t.tid != task.tid || t.status != CaptureStatus::captured) continue;
            out.push_back(compare_frames(task, libunwind_walk(process, t, max_frames)));
        }
    }
    return out;
}

}  // namespace lpsafe::second_opinion
