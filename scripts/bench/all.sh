#!/usr/bin/env bash
# Every benchmark of `make bench`, one after the other (never two at once: they would disturb each other's
# figures), against the release binaries in BIN_DIR; each writes its figures as JSON (scripts/bench/figures.py's
# shape), then scripts/bench/report.py writes BENCHMARKS.md and benchmarks.svg at the repository's root.
#
#   scripts/bench/all.sh BIN_DIR
#
# BIN_DIR holds autonous-supervisord, autonous-worker, autonous-sandbox and autonous-bench. Environment:
#   BENCH_NOTE        a sentence for the head of BENCHMARKS.md (e.g. that the machine was shared and loaded)
#   BENCH_COMMAND     what the report says produced it (make bench sets "make bench")
#   BENCH_EXTRA_JSON  more JSON files of figures to report (space-separated), e.g. from the Swift benchmarks
#   BENCH_JSON_DIR    keep the JSON files there (default: a scratch directory, removed at the end)
#   BENCH_BUILD_DIR   where `build_times.py clean` left its copy of the checkout and its scratch directory (make
#                     bench); without it the build_times step makes its own, clean build included
#   BENCH_LAUNCHES (150), BENCH_GREP_ROUNDS (15), BENCH_ROUNDS (3), BENCH_MESSAGES (20), BENCH_REVISION_RUNS (5),
#   BENCH_EVENT_RUNS (5), BENCH_CLEAN_BUILD_RUNS (1), BENCH_INCREMENTAL_BUILD_RUNS (3),
#   BENCH_DEFAULT_RUNS (3): run counts (the last: revisions.py with the default thresholds, about 45 s a run);
#                     published figures keep at least 3 runs each and 20 messages, but the clean build (one
#                     run by default: it takes minutes on two cores)
# A benchmark that fails does not stop the others: the report says which one failed, and the script exits 1.
# Prints how long each step took.
set -euo pipefail

if [[ $# -ne 1 || ! -x $1/autonous-supervisord ]]; then
    echo "usage: $0 BIN_DIR (a directory with autonous-supervisord, autonous-worker, autonous-sandbox)" >&2
    exit 64
fi
bin_dir=$(cd "$1" && pwd)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [[ -n ${BENCH_JSON_DIR:-} ]]; then
    out=$BENCH_JSON_DIR
    mkdir -p "$out"
else
    out=$(mktemp -d "${TMPDIR:-/tmp}/autonous-bench.XXXXXX")
    trap 'rm -rf "$out"' EXIT
fi

started=$(date +%s)
times=()
notes=()
failed=0

# step NAME COMMAND...: runs one benchmark, times it, and remembers a failure instead of stopping.
step() {
    local name=$1 begin status=0
    shift
    echo
    echo "== $name"
    begin=$(date +%s)
    "$@" || status=$?
    local outcome=""
    ((status == 0)) || outcome=" (FAILED, status $status)"
    times+=("$(printf '%-16s %4d s%s' "$name" $(($(date +%s) - begin)) "$outcome")")
    if ((status != 0)); then
        failed=1
        rm -f "$out/$name.json"
        notes+=(--note "$name failed in this run (status $status): its figures are missing from this report.")
    fi
}

step sandbox_launch python3 "$here/sandbox_launch.py" "$bin_dir/autonous-sandbox" "${BENCH_LAUNCHES:-150}" \
    --json "$out/sandbox_launch.json"
step grep_tool python3 "$here/grep_tool.py" "$bin_dir/autonous-worker" "${BENCH_GREP_ROUNDS:-15}" \
    --json "$out/grep_tool.json"
step peers python3 "$here/peers.py" "$bin_dir" --rounds "${BENCH_ROUNDS:-3}" --messages "${BENCH_MESSAGES:-20}" \
    --json "$out/peers.json"
step agent_latency python3 "$here/agent_latency.py" "$bin_dir" "${BENCH_MESSAGES:-20}" --json "$out/agent_latency.json"
step events "$bin_dir/autonous-bench" events "$out/events-scratch" --seconds 2 --runs "${BENCH_EVENT_RUNS:-5}" \
    --json "$out/events.json"
rm -rf "$out/events-scratch"
step trace "$bin_dir/autonous-bench" trace "$out/trace-scratch" --events 1000000 --samples 50 --json "$out/trace.json"
rm -rf "$out/trace-scratch"
step revisions python3 "$here/revisions.py" "$bin_dir" "${BENCH_REVISION_RUNS:-5}" \
    --default-runs "${BENCH_DEFAULT_RUNS:-3}" --json "$out/revisions.json"
# Last: with BENCH_BUILD_DIR (make bench), the incremental builds rebuild that directory's worker, which every
# benchmark above has used; its clean build ran before them.
if [[ -n ${BENCH_BUILD_DIR:-} ]]; then
    step build_times python3 "$here/build_times.py" incremental "$BENCH_BUILD_DIR" \
        --runs "${BENCH_INCREMENTAL_BUILD_RUNS:-3}" --json "$out/build_times.json"
else
    step build_times python3 "$here/build_times.py" all --clean-runs "${BENCH_CLEAN_BUILD_RUNS:-1}" \
        --incremental-runs "${BENCH_INCREMENTAL_BUILD_RUNS:-3}" --json "$out/build_times.json"
fi

inputs=("$out")
for extra in ${BENCH_EXTRA_JSON:-}; do
    inputs+=("$extra")
done
if [[ -n ${BENCH_NOTE:-} ]]; then
    notes+=(--note "$BENCH_NOTE")
fi
echo
python3 "$here/report.py" --bin-dir "$bin_dir" --duration $(($(date +%s) - started)) \
    --command "${BENCH_COMMAND:-scripts/bench/all.sh $1}" "${notes[@]}" "${inputs[@]}"
echo
echo "== time per step"
printf '%s\n' "${times[@]}"
printf '%-16s %4d s\n' total $(($(date +%s) - started))
exit $failed
