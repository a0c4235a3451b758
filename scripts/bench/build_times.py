#!/usr/bin/env python3
"""How long the self-update's build takes: the worker built the way the build sandbox builds it.

  build_times.py [--clean-runs N] [--incremental-runs N] [--json FILE]

The command is the build sandbox's (Sources/Supervisord/Updates/UpdateBuildSandbox.swift, defaultBuildCommand):
`swift build -c release --product autonous-worker --scratch-path SCRATCH --skip-update`, offline, the
dependencies taken from git clones in SCRATCH/repositories, which are copied from this checkout's
.build/repositories as the supervisor copies them into its build cache. It runs on a copy of the checkout's tracked
files (git archive of HEAD), so the checkout's own .build is left alone.

  - clean: an empty scratch directory apart from those clones, so every module and dependency is compiled: the
    first self-update of an installation, or one after the cache was cleared;
  - incremental: after a clean build, one line appended to a Worker source file (what a small patch of the
    agent's changes), then the same command: every later self-update.

A clean release build takes minutes on two cores, so the default is one clean run (the report shows one sample)
and three incremental runs. With --json, writes the figures in the shared shape of figures.py.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import figures  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The file each incremental run changes: the worker's entry point, in the module a patch of the agent's most often
# touches.
TOUCHED = "Sources/Worker/WorkerMain.swift"


def build(tree, scratch, swift):
    """Runs the build sandbox's build command in `tree`; returns its wall time in seconds."""
    command = [swift, "build", "-c", "release", "--product", "autonous-worker", "--scratch-path", scratch,
               "--skip-update"]
    started = time.monotonic()
    result = subprocess.run(command, cwd=tree, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    elapsed = time.monotonic() - started
    if result.returncode != 0:
        raise RuntimeError("%s failed (status %d):\n%s" % (" ".join(command), result.returncode,
                                                           result.stdout[-3000:]))
    return elapsed


def fresh_tree(base):
    """A copy of HEAD's tracked files in a new directory under `base`."""
    tree = tempfile.mkdtemp(prefix="tree-", dir=base)
    archive = subprocess.run(["git", "-C", ROOT, "archive", "--format=tar", "HEAD"], stdout=subprocess.PIPE,
                             check=True).stdout
    subprocess.run(["tar", "-x", "-C", tree], input=archive, check=True)
    return tree


def fresh_scratch(base, repositories):
    """A scratch directory holding only the dependencies' git clones, as the build cache's first use has."""
    scratch = tempfile.mkdtemp(prefix="scratch-", dir=base)
    shutil.copytree(repositories, os.path.join(scratch, "repositories"), symlinks=True)
    return scratch


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clean-runs", type=int, default=1)
    parser.add_argument("--incremental-runs", type=int, default=3)
    parser.add_argument("--json", help="write the figures to this file (figures.py's shape)")
    args = parser.parse_args()
    if args.clean_runs < 1 or args.incremental_runs < 1:
        parser.error("--clean-runs and --incremental-runs must be at least 1")
    swift = os.environ.get("SWIFT", "swift")
    repositories = os.path.join(ROOT, ".build", "repositories")
    if not os.path.isdir(repositories):
        sys.exit("build_times: %s is missing: build this checkout once (swift build) so the dependencies' clones "
                 "are there, as the supervisor's build cache needs them" % repositories)
    base = tempfile.mkdtemp(prefix="autonous-bench-build-")
    clean, incremental = [], []
    try:
        tree = fresh_tree(base)
        for run in range(args.clean_runs):
            scratch = fresh_scratch(base, repositories)
            clean.append(build(tree, scratch, swift))
            print("build_times: clean build %d: %.1f s" % (run + 1, clean[-1]), flush=True)
            if run + 1 < args.clean_runs:
                shutil.rmtree(scratch)
        for run in range(args.incremental_runs):
            with open(os.path.join(tree, TOUCHED), "a") as source:
                source.write("// build_times.py: incremental run %d\n" % (run + 1))
            incremental.append(build(tree, scratch, swift))
            print("build_times: incremental build %d: %.1f s" % (run + 1, incremental[-1]), flush=True)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    how = ("the build sandbox's command (swift build -c release --product autonous-worker --scratch-path S "
           "--skip-update), outside the sandbox, on a copy of HEAD")
    figures.write(args.json, [
        figures.figure(
            "build.worker_clean", "self-update build of the worker, clean (every module and dependency)", "s",
            clean, no_peer="the peers are not built: nanobot is Python, installed from PyPI",
            note="%s, with a scratch directory holding only the dependencies' clones. %d run(s): a clean release "
            "build takes minutes on two cores." % (how, len(clean))),
        figures.figure(
            "build.worker_incremental", "self-update build of the worker after a one-line change in %s" % TOUCHED,
            "s", incremental, no_peer="the peers are not built",
            note="%s, after the clean build, with one line appended to %s before each run." % (how, TOUCHED)),
    ])
    print("| figure | median s | min s | max s | runs |")
    print("|---|---|---|---|---|")
    for title, samples in (("clean", clean), ("incremental", incremental)):
        print("| %s | %.1f | %.1f | %.1f | %d |" % (title, sorted(samples)[len(samples) // 2], min(samples),
                                                    max(samples), len(samples)))


if __name__ == "__main__":
    main()
