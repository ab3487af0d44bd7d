// What the oracle guest recorded for one scenario (fixtures/kernel-guest/
// guest-init.sh writes these files; run-oracle.sh unpacks them into
// RESULTS/<scenario>/), read into plain values. No judgement here:
// oracle_compare.cpp decides.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace lpsafe::oracle {

// One line of scenarios.txt.
struct ScenarioSpec {
    std::string name;
    std::string action;  // "insmod" (patch) or "disable" (unpatch)
    std::string patch;   // module / patch name
    std::string parkers, expect, end;
};
std::vector<ScenarioSpec> read_scenarios(const std::string& path);

// One task as lpsafe judged it (docs/json-format.md, kernel mode).
struct LpsafeTask {
    int pid = 0, tid = 0;
    std::string comm, verdict, reason;
    std::vector<std::string> blocked_by;  // functions
    std::vector<std::string> findings;    // "check: detail"
    std::vector<std::string> frames;      // function+offset, innermost first
    std::string forecast;                 // blocked tasks: converges / waits / never
};

// One `lpsafe check --kernel --klp-module M.ko --json` run in the guest.
struct LpsafeRun {
    bool present = false;             // the guest ran it (wrote its exit status)
    int exit_status = -1;             // as the guest shell saw it: 128+N for signal N
    std::string error;                // its standard error
    std::string json_error;           // why the JSON could not be read, if it could not
    std::map<int, LpsafeTask> tasks;  // by tid
    // Idle tasks (pid 0, all with tid 0), by comm ("swapper/1"): only the
    // runs from kernel memory list them.
    std::map<std::string, LpsafeTask> idle;
    std::string seconds;              // how long it ran in the guest, when recorded
};

// The kernel's refusal of one task in the first round of the transition
// (kernel/livepatch/transition.c, klp_try_switch_task() pr_debug lines).
struct KernelRefusal {
    std::string comm;
    std::string reason;    // "sleeping", "unreliable stack", "running", "error"
    std::string function;  // for "sleeping": the patched function's old_name
};

struct ScenarioRecord {
    ScenarioSpec spec;
    bool present = false;    // the guest sent the scenario's files
    int action_status = -1;  // of insmod, or of the write to "enabled"
    std::string action_output;
    bool first_round_found = false;        // both kmsg markers around the action seen
    std::map<int, KernelRefusal> refused;  // by tid, first round only
    std::map<std::string, KernelRefusal> idle_refused;  // idle tasks (pid 0), by comm
    std::string transition_after_action;   // "1" or "0"
    // "PID TID VALUE" per task, by tid: schedstat before lpsafe's first run
    // [0], after the action [1], after lpsafe's second run [2].
    std::map<int, std::string> schedstat[3];
    // patch_state after the action [0] and after lpsafe's second run [1].
    std::map<int, int> patch_state[2];
    std::map<int, std::string> parked;  // tid -> comm of the scenario's parked tasks
    // Before the action (/proc only), before it again with --vmlinux (when
    // the guest had the image), and during the transition.
    LpsafeRun before, image, memory, vmcore, dump, physdump, kdump, during;
    std::string end;  // how the transition ended (end.txt)
};

ScenarioRecord read_scenario(const std::string& results_dir, const ScenarioSpec& spec);

// The guest's CPU count (system/cpus.txt), 0 when it did not say.
int read_guest_cpus(const std::string& results_dir);

// The real kdump at the end of the run (RESULTS/crash/: guest-init.sh's
// crash_dump, crash-init.sh, run-oracle.sh's step 7).
struct CrashRecord {
    bool present = false;               // the first kernel sent its "crash" block
    int kexec_status = -1;              // lpo-kexec's exit status
    std::string kexec_error;            // its output
    int crasher_pid = 0;                // the shell that wrote c to sysrq-trigger
    std::map<int, std::string> parked;  // tid -> comm, parked again for the dump
    std::map<int, std::string> tasks;   // tid -> comm of every thread just before the panic
    std::string parkers;                // the parker spec (the do_nanosleep scenario's)
    // Per dump form ("elf", "lzo"): makedumpfile's exit status in the crash
    // kernel (-1: it did not run), its guest seconds and messages, the
    // rebuilt file's size (0: none), and lpsafe's check of it on the host.
    struct Form {
        int makedumpfile_status = -1;
        std::string makedumpfile_seconds, makedumpfile_log;
        long long bytes = 0;
        LpsafeRun check;
    };
    std::map<std::string, Form> forms;
    std::string unflatten_error;  // why the files could not be rebuilt
};
CrashRecord read_crash(const std::string& results_dir, const std::vector<std::string>& forms);

}  // namespace lpsafe::oracle
