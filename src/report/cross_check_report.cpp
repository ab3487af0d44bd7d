// `lpsafe stack --cross-check`: lpsafe's frames against libunwind's, as JSON
// (docs/json-format.md, "cross_check") and as text.
#include <fmt/format.h>

#include "report/report.h"

namespace lpsafe::report {

using nlohmann::json;

json cross_check_json(std::span<const second_opinion::ThreadComparison> threads) {
    json list = json::array();
    int agree = 0;
    for (const auto& c : threads) {
        json frames = json::array();
        for (const auto& f : c.peer.frames)
            frames.push_back({{"pc", fmt::format("{:#x}", f.pc)}, {"sp", fmt::format("{:#x}", f.sp)}});
        list.push_back({{"tid", c.tid},
                        {"agree", c.agree},
                        {"matching_frames", c.matching},
                        {"lpsafe_frames", c.lpsafe_frames},
                        {"lpsafe_end", c.lpsafe_end},
                        {"peer_frames", frames},
                        {"peer_end", second_opinion::peer_end_name(c.peer.end)},
                        {"peer_error", c.peer.detail},
                        {"detail", c.detail}});
        agree += c.agree;
    }
    return {{"peer", "libunwind"},
            {"agree", agree},
            {"disagree", static_cast<int>(threads.size()) - agree},
            {"threads", list}};
}

std::string render_cross_check_text(std::span<const second_opinion::ThreadComparison> threads) {
    int agree = 0;
    for (const auto& c : threads) agree += c.agree;
    std::string out = fmt::format("\ncross-check with libunwind: {} of {} threads agree\n", agree, threads.size());
    for (const auto& c : threads) {
        if (c.agree) {
            out += fmt::format("  TID {}: agree, {} frames (lpsafe: {}, libunwind: {})\n", c.tid, c.lpsafe_frames,
                               c.lpsafe_end, second_opinion::peer_end_name(c.peer.end));
        } else {
            out += fmt::format("  TID {}: DIFFER after {} matching frames: {}\n", c.tid, c.matching, c.detail);
        }
    }
    return out;
}

}  // namespace lpsafe::report
