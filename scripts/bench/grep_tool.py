#!/usr/bin/env python3
"""The native grep tool against GNU grep over the same generated tree of about 50,000 lines, in one run.

  grep_tool.py WORKER_BINARY [ROUNDS] [--json FILE]

Generates 500 files of 100 lines (about 3 MB) in a temporary directory, then, ROUNDS times, interleaved: runs
`grep -rnE PATTERN` (GNU grep, a process per search, as a tool would spawn it) PER_ROUND times and takes the median,
and runs `autonous-worker --bench-grep DIR PATTERN PER_ROUND` (the tool's own code path, in-process, after the
worker's start) which prints its own median. Prints both medians over the rounds and the ratio (target: native /
GNU <= 1.5); with --json, writes the figure (each round's median as a sample) in the shared shape of figures.py.
The pattern matches about 1 line in 50, capped by the tool at 2000 matches.

`--bench-grep` reports its median to the microsecond.
"""
import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import tempfile
import time

import figures

PER_ROUND = 5
WORDS = ["alpha", "beta", "gamma", "delta", "request", "response", "config", "value", "error", "handler"]


def make_tree(root):
    rng = random.Random(42)
    for directory in range(10):
        path = os.path.join(root, f"dir{directory}")
        os.makedirs(path)
        for index in range(50):
            with open(os.path.join(path, f"file{index}.txt"), "w") as handle:
                for line in range(100):
                    words = " ".join(rng.choice(WORDS) for _ in range(8))
                    marker = " TODO(needle)" if rng.random() < 0.02 else ""
                    handle.write(f"{line}: {words}{marker}\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("worker")
    parser.add_argument("rounds", nargs="?", type=int, default=15)
    parser.add_argument("--json", help="write the figure to this file (figures.py's shape)")
    args = parser.parse_args()
    root = tempfile.mkdtemp(prefix="bench-grep-")
    try:
        make_tree(root)
        pattern = "TODO\\(needle\\)"
        gnu, native, matches = [], [], None
        for round_index in range(args.rounds + 1):  # the first round warms the page cache and is dropped
            runs = []
            for _ in range(PER_ROUND):
                start = time.perf_counter()
                subprocess.run(["grep", "-rnE", pattern, root], stdout=subprocess.DEVNULL, check=False)
                runs.append((time.perf_counter() - start) * 1000)
            result = subprocess.run([args.worker, "--bench-grep", root, pattern, str(PER_ROUND)],
                                    capture_output=True, text=True, check=True)
            report = json.loads(result.stdout)
            if round_index > 0:
                gnu.append(statistics.median(runs))
                native.append(float(report["median_ms"]))
                matches = report["matches"]
        gnu_median, native_median = statistics.median(gnu), statistics.median(native)
        print(f"GNU grep -rn            median {gnu_median:7.2f} ms ({args.rounds} rounds of {PER_ROUND})")
        print(f"autonous grep tool      median {native_median:7.2f} ms ({matches} matches)")
        print(f"ratio native / GNU grep: {native_median / gnu_median:.2f} (target <= 1.5)")
        version = subprocess.run(["grep", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
        figures.write(args.json, [figures.figure(
            "grep.native", "native grep tool over 500 files, 50,000 lines (%d matches)" % matches, "ms", native,
            figures.peer("GNU grep", gnu, version=version), target=figures.ratio_max(1.5),
            note="Each sample is the median of %d searches: GNU grep -rnE as a process per search (spawn included, "
            "as a tool would run it); the native tool in-process (autonous-worker --bench-grep, timed to the "
            "microsecond). %d rounds, interleaved, after one warm-up round." % (PER_ROUND, args.rounds))])
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
