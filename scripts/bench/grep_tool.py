#!/usr/bin/env python3
"""The native grep tool against GNU grep over the same generated tree of about 50,000 lines, in one run.

  grep_tool.py WORKER_BINARY [RUNS]

Generates 500 files of 100 lines (about 3 MB) in a temporary directory, runs `grep -rn PATTERN` (GNU grep) and
`autonous-worker --bench-grep` (the tool's own code path, in-process) RUNS times each, and prints both medians and
the ratio (target: native / GNU <= 2.0). The pattern matches about 1 line in 50, capped by the tool at 2000 matches.
"""
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

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
    worker = sys.argv[1]
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 15
    root = tempfile.mkdtemp(prefix="bench-grep-")
    try:
        make_tree(root)
        pattern = "TODO\\(needle\\)"
        gnu = []
        for _ in range(runs):
            start = time.perf_counter()
            subprocess.run(["grep", "-rnE", pattern, root], stdout=subprocess.DEVNULL, check=False)
            gnu.append((time.perf_counter() - start) * 1000)
        result = subprocess.run([worker, "--bench-grep", root, pattern, str(runs)], capture_output=True, text=True,
                                check=True)
        native = json.loads(result.stdout)
        gnu_median = statistics.median(gnu)
        print(f"GNU grep -rn            median {gnu_median:7.2f} ms")
        print(f"autonous grep tool      median {native['median_ms']:7.2f} ms ({native['matches']} matches)")
        print(f"ratio native / GNU grep: {native['median_ms'] / gnu_median:.2f} (target <= 2.0)")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
