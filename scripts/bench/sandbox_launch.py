#!/usr/bin/env python3
"""Launch latency of `autonous-sandbox --profile exec -- /bin/true` against bubblewrap running /bin/true with the
same namespaces (user, mount, pid, net, uts, ipc, cgroup), measured side by side and interleaved in one run, in a
shuffled order each round.

  sandbox_launch.py SANDBOX_BINARY [RUNS] [--json FILE]

Prints the median and p90 of each in milliseconds and the ratio of the medians (autonous / bubblewrap; the target
is <= 1.0); with --json, writes the figures (every launch's time) in the shared shape of figures.py. bubblewrap's
command line is the one in shared/PEERS.md. autonous-sandbox is measured with its default limits (a memory and pids
cgroup, when this host allows it) and with no cgroup limits, which is what bubblewrap does. Each sample runs from
the spawn until stderr is closed and the exit status is in, as for a caller that collects the output;
autonous-sandbox runs from an installed-like copy.

The exec profile needs a workspace, which bubblewrap's command has no counterpart for. It is an empty directory, so
every launch creates the empty read-only .git and .autonous placeholders in it and removes them afterwards. The
main figures put it on tmpfs (/dev/shm), so that they measure the launcher and not the disk; one more line puts it
in the temporary directory (usually on disk), where on some file systems each rmdir waits for a discard of the
freed block on the device (0.1-1 ms per launch on the ext4 of the test machines, depending on the host's load).
"""
import argparse
import os
import random
import shutil
import statistics
import subprocess
import tempfile
import threading
import time

import figures


def measure(command, runs, env):
    """Wall time of each run, from the spawn until its stderr is closed (by every process of the sandbox) and its
    exit status is in: what a caller that collects a command's output waits for.

    The wait must block: Popen.wait(timeout) (and run(timeout=...)) polls with sleeps of 0.5 ms, 1 ms, 2 ms ...,
    which rounds every sample up by an amount that depends on when the process happened to end. A timer kills a run
    that takes longer than 30 s instead.
    """
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, env=env)
        watchdog = threading.Timer(30, process.kill)
        watchdog.start()
        errors = process.stderr.read()
        code = process.wait()
        samples.append((time.perf_counter() - start) * 1000)
        watchdog.cancel()
        process.stderr.close()
        if code != 0:
            raise SystemExit(f"{command[0]} failed ({code}): {errors.decode()[-400:]}")
    return samples


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sandbox")
    parser.add_argument("runs", nargs="?", type=int, default=40)
    parser.add_argument("--json", help="write the figures to this file (figures.py's shape)")
    args = parser.parse_args()
    sandbox, runs = args.sandbox, args.runs
    bwrap = shutil.which("bwrap")
    if not bwrap:
        raise SystemExit("bubblewrap is not installed (apt-get install bubblewrap)")
    memory = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    workspace = tempfile.mkdtemp(prefix="bench-ws-", dir=memory)
    disk_workspace = tempfile.mkdtemp(prefix="bench-ws-")
    # The launcher runs from a copy in a short path, as an install places it (and as bubblewrap runs): here the
    # linker's output, reached through .build/release, takes 5-15% longer per launch than a copy of the same bytes.
    installed = os.path.join(tempfile.mkdtemp(prefix="bench-bin-"), "autonous-sandbox")
    shutil.copy2(sandbox, installed)
    sandbox = installed
    for directory in (workspace, disk_workspace):
        os.chmod(directory, 0o755)
        if os.geteuid() == 0:
            os.chown(directory, 65534, 65534)
    best_effort = [] if os.geteuid() == 0 else ["--best-effort-limits"]
    where = "tmpfs" if memory else "temporary directory"
    env = {"PATH": "/usr/bin:/bin"}
    commands = {
        "bubblewrap": [bwrap, "--unshare-all", "--die-with-parent", "--new-session", "--ro-bind", "/usr", "/usr",
                       "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64", "--symlink", "usr/bin",
                       "/bin", "--proc", "/proc", "--dev", "/dev", "/bin/true"],
        "autonous-sandbox (default limits)": [sandbox, "--profile", "exec", "--workspace", workspace]
        + best_effort + ["--", "/bin/true"],
        "autonous-sandbox (no cgroup)": [sandbox, "--profile", "exec", "--workspace", workspace,
                                         "--no-cgroup-limits", "--", "/bin/true"],
        "autonous-sandbox (default, disk ws)": [sandbox, "--profile", "exec", "--workspace", disk_workspace]
        + best_effort + ["--", "/bin/true"],
    }
    print(f"workspace: an empty directory on {where} ({workspace}); disk ws: {disk_workspace}")
    samples = {name: [] for name in commands}
    for name, command in commands.items():
        measure(command, 3, env)  # warm up the page cache
    # A new order every round (seeded, so a run can be repeated): what ran just before changes a launch's time.
    order = list(commands.items())
    shuffler = random.Random(1)
    for _ in range(runs):
        shuffler.shuffle(order)
        for name, command in order:
            samples[name] += measure(command, 1, env)
    shutil.rmtree(workspace, ignore_errors=True)
    shutil.rmtree(disk_workspace, ignore_errors=True)
    shutil.rmtree(os.path.dirname(installed), ignore_errors=True)
    medians = {}
    for name, values in samples.items():
        values.sort()
        medians[name] = statistics.median(values)
        p90 = values[int(len(values) * 0.9) - 1]
        print(f"{name:36s} median {medians[name]:6.2f} ms   p90 {p90:6.2f} ms   ({len(values)} runs)")
    base = medians["bubblewrap"]
    for name in commands:
        if name != "bubblewrap":
            print(f"ratio {name} / bubblewrap: {medians[name] / base:.2f} (target <= 1.0)")
    version = subprocess.run([bwrap, "--version"], capture_output=True, text=True).stdout.strip()
    bubblewrap = figures.peer("bubblewrap", samples["bubblewrap"], version=version)
    how = ("%d interleaved launches each, in a new order every round, from the spawn until stderr is closed and "
           "the exit status is in. bubblewrap: --unshare-all --die-with-parent --new-session, /usr read-only, "
           "/proc, /dev, then /bin/true. autonous-sandbox: --profile exec -- /bin/true, with an empty workspace on "
           "%s (it creates and removes the empty read-only .git and .autonous placeholders there). " % (runs, where))
    figures.write(args.json, [
        figures.figure(
            "sandbox.launch_no_cgroup", "sandbox launch, no cgroup limits (equal work to bubblewrap)", "ms",
            samples["autonous-sandbox (no cgroup)"], bubblewrap, target=figures.ratio_max(1.0),
            note=how + "--no-cgroup-limits: bubblewrap sets no cgroup limits either."),
        figures.figure(
            "sandbox.launch_default", "sandbox launch, default limits (memory and pids cgroup)", "ms",
            samples["autonous-sandbox (default limits)"], bubblewrap, target=figures.ratio_max(1.0),
            note=how + "With the profile's default memory and pids cgroup, work bubblewrap does not do."),
        figures.figure(
            "sandbox.launch_disk_workspace", "sandbox launch, default limits, workspace on disk", "ms",
            samples["autonous-sandbox (default, disk ws)"], bubblewrap,
            note="As above with the empty workspace in the temporary directory (usually on disk): on some file "
            "systems each rmdir of the placeholders waits for a discard of the freed block on the device."),
    ])


if __name__ == "__main__":
    main()
