// lpsafe's frames against libunwind's, per thread: where the two unwinders
// part ways, and how each walk ended. Pure data for the report.
#pragma once

#include <string>
#include <vector>

#include "lpsafe/analyze.h"
#include "second_opinion/libunwind_walk.h"

namespace lpsafe::second_opinion {

struct ThreadComparison {
    int tid = 0;
    bool agree = false;   // the same frames (pc and sp), in the same order
    size_t matching = 0;  // leading frames both unwinders found alike
    size_t lpsafe_frames = 0;
    std::string lpsafe_end;  // "outermost", "failed: ...", "depth-limit"
    PeerStack peer;
    std::string detail;  // where and how they differ; empty when they agree
};

std::string_view peer_end_name(PeerStack::End end);

ThreadComparison compare_frames(const TaskVerdict& task, PeerStack peer);

// Runs libunwind on every captured thread of `report` (same max_frames).
std::vector<ThreadComparison> compare_with_libunwind(const ProcessImage& process, const ProcessReport& report,
                                                     unsigned max_frames);

}  // namespace lpsafe::second_opinion
