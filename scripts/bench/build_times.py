#!/usr/bin/env python3
"""How long the self-update's build takes: the worker built the way the build sandbox builds it.

  build_times.py clean DIR [--runs N]                   the clean build, in DIR/tree with DIR/scratch
  build_times.py incremental DIR [--runs N] --json FILE  then the incremental builds, and the figures of both
  build_times.py all [--clean-runs N] [--incremental-runs N] [--json FILE]   both, in a scratch directory

`make bench` runs `clean` first and benchmarks the release products built on top of DIR/scratch (so a fresh clone
compiles everything once, not twice), then `incremental` last: its builds replace DIR/scratch's autonous-worker
after every other benchmark has used it.

The command is the build sandbox's (Sources/Supervisord/Updates/UpdateBuildSandbox.swift, defaultBuildCommand):
`swift build -c release --static-swift-stdlib --product autonous-worker --scratch-path SCRATCH --skip-update`
(the Swift runtime linked in, as every revision is), offline, the
dependencies taken from git clones in SCRATCH/repositories, which are copied from this checkout's
.build/repositories as the supervisor copies them into its build cache. It runs on a copy of the checkout's files
(tracked and untracked, not ignored: what `git ls-files -co --exclude-standard` lists), so the checkout's own .build
is left alone.

  - clean: an empty scratch directory apart from those clones, so every module and dependency is compiled: the
    first self-update of an installation, or one after the cache was cleared;
  - incremental: after a clean build, one line appended to a Worker source file (what a small patch of the
    agent's changes), then the same command: every later self-update.

A clean release build takes minutes on two cores, so the default is one clean run (the report shows one sample)
and three incremental runs. With --json, writes the figures in the shared shape of figures.py.
"""
import argparse
import json
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
    command = [swift, "build", "-c", "release", "--static-swift-stdlib", "--product", "autonous-worker",
               "--scratch-path", scratch, "--skip-update"]
    started = time.monotonic()
    result = subprocess.run(command, cwd=tree, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    elapsed = time.monotonic() - started
    if result.returncode != 0:
        raise RuntimeError("%s failed (status %d):\n%s" % (" ".join(command), result.returncode,
                                                           result.stdout[-3000:]))
    return elapsed


def copy_tree(tree):
    """Copies the checkout's files (tracked and untracked, not ignored) to `tree`."""
    os.makedirs(tree)
    listed = subprocess.run(["git", "-C", ROOT, "ls-files", "-z", "-co", "--exclude-standard"],
                            stdout=subprocess.PIPE, check=True).stdout
    packed = subprocess.run(["tar", "-C", ROOT, "--null", "-T", "-", "-cf", "-"], input=listed,
                            stdout=subprocess.PIPE, check=True).stdout
    subprocess.run(["tar", "-x", "-C", tree], input=packed, check=True)


def fresh_scratch(scratch, repositories):
    """A scratch directory holding only the dependencies' git clones, as the build cache's first use has."""
    shutil.rmtree(scratch, ignore_errors=True)
    os.makedirs(scratch)
    shutil.copytree(repositories, os.path.join(scratch, "repositories"), symlinks=True)


def clean_builds(directory, runs, swift):
    """Copies the checkout to DIRECTORY/tree and builds the worker clean `runs` times; the last build stays in
    DIRECTORY/scratch. Returns the wall times."""
    repositories = os.path.join(ROOT, ".build", "repositories")
    if not os.path.isdir(repositories):
        sys.exit("build_times: %s is missing: resolve this checkout's dependencies once (swift package resolve) "
                 "so their clones are there, as the supervisor's build cache needs them" % repositories)
    shutil.rmtree(directory, ignore_errors=True)
    tree, scratch = os.path.join(directory, "tree"), os.path.join(directory, "scratch")
    copy_tree(tree)
    samples = []
    for run in range(runs):
        fresh_scratch(scratch, repositories)
        samples.append(build(tree, scratch, swift))
        print("build_times: clean build %d: %.1f s" % (run + 1, samples[-1]), flush=True)
    with open(os.path.join(directory, "clean.json"), "w") as handle:
        json.dump(samples, handle)
    return samples


def incremental_builds(directory, runs, swift):
    """Appends one line to the copy's TOUCHED before each of `runs` builds in DIRECTORY/scratch; returns the wall
    times."""
    tree, scratch = os.path.join(directory, "tree"), os.path.join(directory, "scratch")
    samples = []
    for run in range(runs):
        with open(os.path.join(tree, TOUCHED), "a") as source:
            source.write("// build_times.py: incremental run %d\n" % (run + 1))
        samples.append(build(tree, scratch, swift))
        print("build_times: incremental build %d: %.1f s" % (run + 1, samples[-1]), flush=True)
    return samples


def report(clean, incremental, path):
    how = ("the build sandbox's command (swift build -c release --static-swift-stdlib --product autonous-worker "
           "--scratch-path S --skip-update), outside the sandbox, on a copy of the checkout")
    figures.write(path, [
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


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    clean = commands.add_parser("clean")
    clean.add_argument("directory")
    clean.add_argument("--runs", type=int, default=1)
    incremental = commands.add_parser("incremental")
    incremental.add_argument("directory")
    incremental.add_argument("--runs", type=int, default=3)
    incremental.add_argument("--json", help="write the figures to this file (figures.py's shape)")
    both = commands.add_parser("all")
    both.add_argument("--clean-runs", type=int, default=1)
    both.add_argument("--incremental-runs", type=int, default=3)
    both.add_argument("--json", help="write the figures to this file (figures.py's shape)")
    args = parser.parse_args()
    for name in ("runs", "clean_runs", "incremental_runs"):
        if getattr(args, name, 1) < 1:
            parser.error("run counts must be at least 1")
    swift = os.environ.get("SWIFT", "swift")
    if args.command == "clean":
        clean_builds(os.path.abspath(args.directory), args.runs, swift)
    elif args.command == "incremental":
        directory = os.path.abspath(args.directory)
        with open(os.path.join(directory, "clean.json")) as handle:
            clean_samples = json.load(handle)
        report(clean_samples, incremental_builds(directory, args.runs, swift), args.json)
    else:
        directory = tempfile.mkdtemp(prefix="autonous-bench-build-")
        try:
            clean_samples = clean_builds(os.path.join(directory, "build"), args.clean_runs, swift)
            report(clean_samples, incremental_builds(os.path.join(directory, "build"), args.incremental_runs, swift),
                   args.json)
        finally:
            shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
