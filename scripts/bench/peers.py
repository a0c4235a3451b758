#!/usr/bin/env python3
"""Whole-process figures of autonous and of nanobot (its peer), side by side against the same fake Telegram and
OpenAI servers, in alternating rounds:

  peers.py BIN_DIR [--rounds 3] [--messages 20] [--settle 5] [--window 10] [--json FILE] [--no-peer]

BIN_DIR holds autonous-supervisord, autonous-worker and autonous-sandbox (a release build). Each round starts each
daemon afresh (a new state directory, a new nanobot workspace), one daemon at a time, autonous first in even
rounds and nanobot first in odd ones, and measures:

  - start -> first getUpdates: from the spawn of the daemon's first process until the fake Telegram server records
    its first getUpdates call (the fake's own clock);
  - idle memory of the whole process tree after SETTLE seconds and the idle CPU window (below), 15 s in by default:
    autonous gives back its start's pages 3 s after its worker is ready, and its first heartbeat, 5 s in, brings
    back what idling runs, so the figure is its steady idle state, not the moment after the trim: the sum of Rss
    and Pss in /proc/PID/smaps_rollup
    over the root and every descendant (autonous: the supervisor, the worker's sandbox launcher and its pid 1, the
    worker; nanobot: the gateway and any child it has). Pss shares each page among the processes that map it, so
    the tree's Pss is what the tree costs, less what other programs mapping the same files take over; the Rss sum
    counts a page shared by two processes of the tree twice; and the tree's distinct resident pages, each counted
    once (from /proc/PID/pagemap, as root), which no other program changes; and the tree's private dirty memory
    (Private_Dirty: heap, stacks, relocated data, which only swap can reclaim);
  - idle CPU of the whole tree over WINDOW seconds before the first message, and again over the WINDOW seconds
    right after the last answer (a daemon that keeps working after it answered shows up there): utime + stime of
    every live process of the tree plus the cutime + cstime of children they reaped, in cores;
  - MESSAGES messages sent one after the other to a private chat, each once the previous one was answered, with the
    fake OpenAI server answering at once (the echo of the message, streamed in three chunks): message -> first
    visible text (the first sendMessageDraft, sendMessage or editMessageText with the answer's first characters)
    and message -> final reply (the first sendMessage or editMessageText carrying the whole answer), from the
    moment the message was queued in the fake until the fake recorded that call;
  - the memory of the tree again, after the messages and the second CPU window.

nanobot (PyPI nanobot-ai 0.3.5, shared/PEERS.md) is installed into a virtual environment under
~/.cache/autonous-bench/nanobot-venv (AUTONOUS_BENCH_CACHE moves it), reused when its requirements are already
installed. Its Telegram base URL is hard-coded; a sitecustomize module put on its PYTHONPATH makes
python-telegram-bot's ApplicationBuilder use the fake's URL (base_url), which the figures' notes say. It waits
0.2 s per chat before it handles a message (an ordering debounce); its latency includes that wait. When nanobot
cannot be installed or started, the figures are written with the peer marked missing and the reason, and autonous
is still measured; nothing is made up.

Prints a table (median, min, max of each daemon and the ratio autonous / nanobot) and, with --json, writes the
figures in the shared shape of figures.py.
"""
import argparse
import html
import json
import os
import re
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import figures  # noqa: E402
from revisions import FAKES, KEY, TOKEN, USER, Daemon, http  # noqa: E402

NANOBOT_VERSION = "0.3.5"
# nanobot's Telegram channel installs these itself on its first start if they are missing (its manifest's list);
# installing them here keeps that pip run out of the start-up figure.
NANOBOT_REQUIREMENTS = [
    "nanobot-ai==" + NANOBOT_VERSION,
    "python-telegram-bot[socks,webhooks]>=22.6,<23",
    "socksio>=1.0.0,<2.0.0",
    "python-socks[asyncio]>=2.8.0,<3.0.0",
]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
TEXT_METHODS = ("sendMessageDraft", "sendMessage", "editMessageText")
FINAL_METHODS = ("sendMessage", "editMessageText")
DEBOUNCE_MS = 200.0

# Put on nanobot's PYTHONPATH: when python-telegram-bot's application builder module is first imported, its
# build() is wrapped to set base_url and base_file_url to the fake Telegram server (nanobot has no setting for it).
SITECUSTOMIZE = '''\
"""autonous benchmark: points python-telegram-bot at the fake Telegram server (scripts/bench/peers.py)."""
import importlib.abc
import importlib.util
import os
import sys

_BASE = os.environ.get("AUTONOUS_BENCH_TELEGRAM_BASE_URL")
_MODULE = "telegram.ext._applicationbuilder"


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != _MODULE:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        load = spec.loader.exec_module

        def exec_module(module):
            load(module)
            build = module.ApplicationBuilder.build

            def build_with_fake_url(builder):
                builder.base_url(_BASE + "/bot")
                builder.base_file_url(_BASE + "/file/bot")
                return build(builder)

            module.ApplicationBuilder.build = build_with_fake_url

        spec.loader.exec_module = exec_module
        return spec


if _BASE:
    sys.meta_path.insert(0, _Finder())
'''


class PeerUnavailable(Exception):
    """nanobot could not be installed or started; the message says why."""


# -- process trees ------------------------------------------------------------------------------------------------


def stat_fields(pid):
    """The fields of /proc/PID/stat after the command name (state is [0], ppid [1], utime [11] ...), or None."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    return data[data.rindex(b")") + 2:].split()


def process_tree(root):
    """The root and every descendant of it that is alive now, as a list of pids (the root first)."""
    children = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            fields = stat_fields(int(name))
            if fields is not None:
                children.setdefault(int(fields[1]), []).append(int(name))
    tree = [root] if stat_fields(root) is not None else []
    index = 0
    while index < len(tree):
        tree.extend(children.get(tree[index], []))
        index += 1
    return tree


def process_name(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as handle:
            argv0 = handle.read().split(b"\0")[0].decode("utf-8", "replace")
        return os.path.basename(argv0) or "?"
    except OSError:
        return "?"


def tree_memory(root):
    """(Rss MiB, Pss MiB, [(name, Pss MiB)] per process, Private_Dirty MiB) summed over the whole tree of root."""
    rss = pss = dirty = 0
    parts = []
    for pid in process_tree(root):
        values = {}
        try:
            with open("/proc/%d/smaps_rollup" % pid) as handle:
                for line in handle:
                    key, _, rest = line.partition(":")
                    if key in ("Rss", "Pss", "Private_Dirty"):
                        values[key] = int(rest.split()[0])
        except OSError:
            continue  # it ended between the listing and the read
        rss += values.get("Rss", 0)
        pss += values.get("Pss", 0)
        dirty += values.get("Private_Dirty", 0)
        parts.append((process_name(pid), values.get("Pss", 0) / 1024.0))
    return rss / 1024.0, pss / 1024.0, parts, dirty / 1024.0


def tree_unique_pages(root):
    """MiB of the distinct physical pages the tree's processes have resident, each page counted once however many
    processes of the tree map it, and wholly even when processes outside the tree map it too (unlike Pss, which
    another program using the same libraries lowers). From /proc/PID/pagemap, which shows page frame numbers to
    root only; None when they are hidden."""
    frames = set()
    for pid in process_tree(root):
        ranges = []
        try:
            with open("/proc/%d/smaps" % pid) as handle:
                current = None
                for line in handle:
                    if "-" in line.split(" ", 1)[0] and not line.startswith(("Rss", "Pss")):
                        start, end = line.split(" ", 1)[0].split("-")
                        current = (int(start, 16), int(end, 16))
                    elif line.startswith("Rss:") and current and int(line.split()[1]) > 0:
                        ranges.append(current)
            with open("/proc/%d/pagemap" % pid, "rb") as pagemap:
                for start, end in ranges:
                    pagemap.seek(start // PAGE * 8)
                    data = pagemap.read((end - start) // PAGE * 8)
                    for entry in struct.unpack("%dQ" % (len(data) // 8), data):
                        if entry >> 63:  # present
                            frames.add(entry & ((1 << 55) - 1))
        except OSError:
            continue  # it ended meanwhile
    if frames == {0} or not frames:
        return None
    return len(frames) * PAGE / 1024.0 / 1024.0


def tree_cpu_seconds(root):
    """CPU seconds of the tree so far: its live processes' utime + stime, plus what they reaped (cutime + cstime)."""
    ticks = 0
    for pid in process_tree(root):
        fields = stat_fields(pid)
        if fields is not None:
            ticks += sum(int(value) for value in fields[11:15])
    return ticks / CLOCK_TICKS


def idle_cpu(root, window):
    """Cores the tree used over `window` seconds of doing nothing but sleeping here."""
    before, started = tree_cpu_seconds(root), time.monotonic()
    time.sleep(window)
    return (tree_cpu_seconds(root) - before) / (time.monotonic() - started)


def start_identity(pid):
    """(start time, state) of a process, or None once it is gone."""
    fields = stat_fields(pid)
    return None if fields is None else (fields[19], fields[0])


def kill_leftovers(identities, grace=5.0):
    """Processes of a stopped daemon's tree still running after `grace` seconds (same pid and start time; zombies
    waiting for their reaper do not count) are SIGKILLed; returns their pids."""
    def running():
        result = []
        for pid, identity in identities:
            now = start_identity(pid)
            if identity is not None and now is not None and now[0] == identity[0] and now[1] != b"Z":
                result.append(pid)
        return result

    deadline = time.monotonic() + grace
    while running() and time.monotonic() < deadline:
        time.sleep(0.05)
    left = running()
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    return left


# -- the fake servers ---------------------------------------------------------------------------------------------


def visible(text):
    """The text a user would see of a Bot API text parameter (tags of parse_mode HTML removed)."""
    return html.unescape(re.sub(r"<[^>]+>", "", text or "")).strip()


def wait_for_getupdates(ports, timeout):
    reply = http(ports["telegram"], "POST", "/_fake/wait",
                 {"what": "requests", "method": "getUpdates", "count": 1, "timeout": timeout})
    if not reply.get("ok"):
        return None
    return min(r["ts"] for r in http(ports["telegram"], "GET", "/_fake/requests?method=getUpdates"))


def exchange(ports, text, timeout=60):
    """Sends `text`, waits until the whole answer ("echo: " + text) was sent; returns (first text ms, final ms)."""
    expected = "echo: " + text
    started = time.time()
    http(ports["telegram"], "POST", "/_fake/message", {"from_id": USER, "text": text})
    deadline = time.monotonic() + timeout
    while True:
        requests = http(ports["telegram"], "GET", "/_fake/requests")
        mine = [r for r in requests if r["ts"] >= started and r["method"] in TEXT_METHODS
                and visible(r["params"].get("text"))]
        final = [r["ts"] for r in mine if r["method"] in FINAL_METHODS
                 and visible(r["params"].get("text")) == expected]
        if final:
            first = min(r["ts"] for r in mine)
            return (first - started) * 1000, (min(final) - started) * 1000
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise RuntimeError("no complete answer to %r within %d s; text calls: %s" % (
                text, timeout, [(r["method"], r["params"].get("text")) for r in mine]))
        # Sleeps in the fake until one more Bot API call arrives (no polling loop here).
        http(ports["telegram"], "POST", "/_fake/wait",
             {"what": "requests", "count": len(requests) + 1, "timeout": min(remaining, 30)})


# -- the daemons --------------------------------------------------------------------------------------------------


class Autonous:
    name = "autonous"

    def __init__(self, bin_dir):
        self.bin_dir = bin_dir
        self.daemon = None

    def start(self, ports):
        self.daemon = Daemon(self.bin_dir, ports, {})
        return self.daemon.process.pid

    def alive(self):
        return self.daemon.process.poll() is None

    def log_tail(self):
        with open(self.daemon.directory + "/daemon.log", "rb") as log:
            return log.read()[-2000:].decode("utf-8", "replace")

    def stop(self):
        self.daemon.stop()
        return None


class Nanobot:
    name = "nanobot"

    def __init__(self, venv, scratch):
        self.venv = venv
        self.scratch = scratch
        self.site = os.path.join(scratch, "site")
        os.makedirs(self.site, exist_ok=True)
        with open(os.path.join(self.site, "sitecustomize.py"), "w") as handle:
            handle.write(SITECUSTOMIZE)
        self.process = None
        self.directory = None
        self.log = None

    def start(self, ports):
        self.directory = tempfile.mkdtemp(prefix="round-", dir=self.scratch)
        data = os.path.join(self.directory, "data")
        os.makedirs(data)
        os.makedirs(os.path.join(self.directory, "home"))
        config = {
            "agents": {"defaults": {"workspace": os.path.join(data, "workspace"), "model": "gpt-fake",
                                    "provider": "custom", "timezone": "UTC"}},
            "providers": {"custom": {"apiKey": KEY, "apiBase": "http://127.0.0.1:%d/v1" % ports["openai"]}},
            "channels": {"telegram": {"enabled": True, "token": TOKEN, "allowFrom": [str(USER)]},
                         # Its default local WebSocket channel stays on, on a free port (as autonous keeps its
                         # control socket).
                         "websocket": {"port": free_port()}},
            "gateway": {"port": free_port()},
        }
        path = os.path.join(data, "config.json")
        with open(path, "w") as handle:
            json.dump(config, handle)
        env = {
            "PATH": os.path.join(self.venv, "bin") + ":/usr/local/bin:/usr/bin:/bin",
            "HOME": os.path.join(self.directory, "home"), "LANG": "C.UTF-8",
            "PYTHONPATH": self.site,
            "AUTONOUS_BENCH_TELEGRAM_BASE_URL": "http://127.0.0.1:%d" % ports["telegram"],
        }
        self.log = open(os.path.join(self.directory, "nanobot.log"), "wb")
        self.process = subprocess.Popen(
            [os.path.join(self.venv, "bin", "nanobot"), "gateway", "--foreground", "--config", path],
            env=env, cwd=self.directory, stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log,
            start_new_session=True)
        return self.process.pid

    def alive(self):
        return self.process.poll() is None

    def log_tail(self):
        with open(os.path.join(self.directory, "nanobot.log"), "rb") as log:
            return log.read()[-2000:].decode("utf-8", "replace")

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)  # its own session: only its processes
            self.process.wait()
        self.log.close()
        problem = None
        with open(os.path.join(self.directory, "nanobot.log"), "rb") as log:
            installed = b"Installing optional feature" in log.read()
        if installed:
            problem = "nanobot pip-installed a missing dependency at its start (the start figure would include it)"
        shutil.rmtree(self.directory, ignore_errors=True)
        return problem


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def nanobot_venv(cache):
    """The venv with nanobot installed (made or completed when needed); raises PeerUnavailable with the reason."""
    venv = os.path.join(cache, "nanobot-venv")
    marker = os.path.join(venv, "autonous-bench-requirements.txt")
    wanted = "\n".join(NANOBOT_REQUIREMENTS) + "\n"
    try:
        with open(marker) as handle:
            if handle.read() == wanted and os.access(os.path.join(venv, "bin", "nanobot"), os.X_OK):
                return venv
    except OSError:
        pass
    try:
        os.makedirs(cache, exist_ok=True)
    except OSError as error:
        raise PeerUnavailable("cannot make the cache directory %s: %s" % (cache, error))
    steps = []
    if not os.path.exists(os.path.join(venv, "bin", "python")):
        steps.append([sys.executable, "-m", "venv", venv])
    steps.append([os.path.join(venv, "bin", "python"), "-m", "pip", "install", "--quiet",
                  "--disable-pip-version-check"] + NANOBOT_REQUIREMENTS)
    print("peers: installing nanobot %s into %s (about a minute) ..." % (NANOBOT_VERSION, venv), flush=True)
    for command in steps:
        try:
            result = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=900)
        except (OSError, subprocess.TimeoutExpired) as error:
            raise PeerUnavailable("%s failed: %s" % (" ".join(command[:4]), error))
        if result.returncode != 0:
            tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
            hint = " (Debian: apt-get install python3-venv)" if "ensurepip" in result.stdout + result.stderr else ""
            raise PeerUnavailable("`%s` failed with status %d%s: %s" % (
                " ".join(command[:5]), result.returncode, hint, " / ".join(tail)))
    with open(marker, "w") as handle:
        handle.write(wanted)
    return venv


def installed_version(venv):
    result = subprocess.run([os.path.join(venv, "bin", "python"), "-c",
                             "import importlib.metadata as m; print(m.version('nanobot-ai'), "
                             "m.version('python-telegram-bot'))"], capture_output=True, text=True, timeout=60)
    parts = result.stdout.split()
    if result.returncode != 0 or len(parts) != 2:
        raise PeerUnavailable("the venv's nanobot cannot be imported: %s" % result.stderr.strip()[-300:])
    return "nanobot-ai %s (python-telegram-bot %s)" % tuple(parts)


# -- one round of one daemon --------------------------------------------------------------------------------------


def measure(daemon, ports, round_index, args):
    """Starts `daemon`, measures it, stops it; returns a dict of its samples for this round."""
    http(ports["telegram"], "POST", "/_fake/reset")
    http(ports["openai"], "POST", "/_fake/reset")
    started = time.time()
    root = daemon.start(ports)
    try:
        first_poll = wait_for_getupdates(ports, 120)
        if first_poll is None or not daemon.alive():
            raise RuntimeError("%s made no getUpdates call within 120 s; its log ends:\n%s" % (
                daemon.name, daemon.log_tail()))
        result = {"start": (first_poll - started) * 1000}
        time.sleep(args.settle)
        result["cpu_before"] = idle_cpu(root, args.window)
        # Read after the idle CPU window, SETTLE + WINDOW seconds in: the steady idle state (see the docstring).
        result["rss"], result["pss"], result["parts"], result["dirty"] = tree_memory(root)
        result["unique"] = tree_unique_pages(root)
        result["processes"] = len(process_tree(root))
        first, final = [], []
        for index in range(args.messages):
            text_ms, reply_ms = exchange(ports, "hello %d %d" % (round_index, index))
            first.append(text_ms)
            final.append(reply_ms)
        result["first"], result["final"] = first, final
        result["cpu_after"] = idle_cpu(root, args.window)
        result["rss_after"], result["pss_after"], _, _ = tree_memory(root)
        result["unique_after"] = tree_unique_pages(root)
        if not daemon.alive():
            raise RuntimeError("%s exited during the round; its log ends:\n%s" % (daemon.name, daemon.log_tail()))
        return result
    finally:
        identities = [(pid, start_identity(pid)) for pid in process_tree(root)]
        problem = daemon.stop()
        left = kill_leftovers(identities)
        if left:
            raise RuntimeError("%s left processes behind after its stop: %s" % (daemon.name, left))
        if problem:
            raise PeerUnavailable(problem)


# -- main ---------------------------------------------------------------------------------------------------------


def breakdown(parts):
    """'autonous-supervisord 12.3, autonous-sandbox 2 x 1.1, ...' (MiB of Pss per process name)."""
    totals = {}
    for name, pss in parts:
        count, total = totals.get(name, (0, 0.0))
        totals[name] = (count + 1, total + pss)
    return ", ".join("%s %s%.1f" % (name, "%d x " % count if count > 1 else "", total / count)
                     for name, (count, total) in sorted(totals.items(), key=lambda item: -item[1][1]))


def build_figures(ours, theirs, version, missing, args):
    """The figures in the shared shape from the rounds' results (theirs is empty when nanobot is missing)."""
    def samples(results, key):
        values = []
        for result in results:
            value = result[key]
            values += value if isinstance(value, list) else [] if value is None else [value]
        return values

    def pair(key):
        return samples(ours, key), figures.peer("nanobot", samples(theirs, key), version=version, missing=missing)

    url_note = ("nanobot's Telegram base URL is hard-coded; a sitecustomize module on its PYTHONPATH sets "
                "python-telegram-bot's ApplicationBuilder.base_url to the fake server.")
    tree_note = ("Sum of /proc/PID/smaps_rollup over every process of the tree (autonous: %s; nanobot: %s), "
                 "%d s after the first getUpdates (after the idle CPU window), when autonous has given back its "
                 "start's pages and its first heartbeat has brought back what idling runs. " % (
                     breakdown(ours[-1]["parts"]) if ours else "-",
                     breakdown(theirs[-1]["parts"]) if theirs else "-", args.settle + args.window))
    result = []
    ours_values, peer = pair("start")
    result.append(figures.figure(
        "peers.start", "start -> first getUpdates (whole daemon, fresh state)", "ms", ours_values, peer,
        note="From the spawn of the first process until the fake Telegram server records the first getUpdates. "
        "autonous: supervisor, then the worker in its sandbox; nanobot: `nanobot gateway`. " + url_note))
    ours_values, peer = pair("pss")
    result.append(figures.figure(
        "peers.idle_pss", "idle PSS of the whole process tree", "MiB", ours_values, peer,
        target=figures.ratio_max(0.2), note=tree_note + "Pss in MiB per process, last round."))
    ours_values, peer = pair("unique")
    unique_note = ("Every physical page resident in a process of the tree, counted once (from /proc/PID/pagemap): "
                   "what the tree holds whatever else runs. Pss splits a page among all the processes that map it, "
                   "inside the tree or not, so it drops when other programs map the same files: on a shared "
                   "machine, other autonous test runs mapping the same Swift libraries, and the fake servers and "
                   "this harness, which run the same Python interpreter as nanobot.")
    hidden = None if ours_values else "page frame numbers are shown to root only"
    result.append(figures.figure(
        "peers.idle_unique", "idle resident memory of the whole tree, each page once", "MiB", ours_values, peer,
        note=unique_note, missing=hidden))
    ours_values, peer = pair("dirty")
    result.append(figures.figure(
        "peers.idle_private_dirty", "idle private dirty memory of the whole tree", "MiB", ours_values, peer,
        note="The sum of Private_Dirty over the tree: pages a process of the tree wrote and shares with no other "
        "process (heap, thread stacks, relocated data). The kernel can reclaim them only by swapping them out; "
        "the rest of Pss is file pages of executables and libraries, which it can drop and read again."))
    ours_values, peer = pair("rss")
    result.append(figures.figure(
        "peers.idle_rss", "idle RSS of the whole process tree (sum)", "MiB", ours_values, peer,
        note="The sum of each process's Rss counts a page shared by two processes of the tree twice."))
    ours_values, peer = pair("processes")
    result.append(figures.figure("peers.processes", "processes in the tree when idle", "processes",
                                 ours_values, peer))
    ours_values, peer = pair("cpu_before")
    result.append(figures.figure(
        "peers.idle_cpu_before", "idle CPU of the tree before the first message (%d s window)" % args.window,
        "cores", ours_values, peer, target=figures.ratio_max(1.0),
        note="utime + stime of every process of the tree (and what they reaped), over the window, from "
        "/proc/PID/stat in clock ticks of %.0f ms." % (1000.0 / CLOCK_TICKS)))
    ours_values, peer = pair("cpu_after")
    result.append(figures.figure(
        "peers.idle_cpu_after", "idle CPU of the tree in the %d s after the last answer" % args.window,
        "cores", ours_values, peer, target=figures.ratio_max(1.0),
        note="The window starts when the last answer reached the fake Telegram server: work a daemon keeps "
        "doing after it answered shows up here."))
    debounce = ("nanobot waits %.1f s per chat before it handles a message (an ordering debounce in its Telegram "
                "channel); its figure includes that wait. " % (DEBOUNCE_MS / 1000))
    ours_values, peer = pair("first")
    result.append(figures.figure(
        "peers.first_text", "Telegram message -> first visible text (zero-latency streaming model)", "ms",
        ours_values, peer,
        note=debounce + "autonous shows drafts (sendMessageDraft, at most one every 250 ms) while an answer streams; "
        "an answer complete before its first draft went out is sent as the reply at once, which is then also its "
        "first visible text (what the zero-latency model mostly gives here). nanobot sends its first chunk as a "
        "message (sendMessage) that it then edits (editMessageText). %d messages per round, one after the other." % args.messages))
    ours_values, peer = pair("final")
    less = ""
    if theirs and ours:
        theirs_median = statistics.median(samples(theirs, "final"))
        less = ("Without the debounce nanobot's median would be about %.0f ms, and the ratio %.2f. " % (
            theirs_median - DEBOUNCE_MS, statistics.median(ours_values) / max(1.0, theirs_median - DEBOUNCE_MS)))
    result.append(figures.figure(
        "peers.reply", "Telegram message -> final reply (zero-latency streaming model)", "ms", ours_values, peer,
        target=figures.ratio_max(0.1),
        note=debounce + less + "Final reply: the first sendMessage or editMessageText whose text is the whole "
        "answer. Both daemons ask the same fake OpenAI server for a streamed (SSE) answer."))
    ours_values, peer = pair("pss_after")
    result.append(figures.figure(
        "peers.pss_after", "PSS of the whole process tree after the messages and the idle window", "MiB",
        ours_values, peer))
    ours_values, peer = pair("unique_after")
    result.append(figures.figure(
        "peers.unique_after", "resident memory of the whole tree after the messages, each page once", "MiB",
        ours_values, peer, note=unique_note, missing=hidden))
    ours_values, peer = pair("rss_after")
    result.append(figures.figure(
        "peers.rss_after", "RSS of the whole process tree after the messages (sum)", "MiB", ours_values, peer))
    return result


def print_table(result):
    print("| figure | unit | autonous median (min-max) | nanobot median (min-max) | ratio | target |")
    print("|---|---|---|---|---|---|")
    for fig in result:
        median, low, high = figures.summary(fig["samples"])
        peer = fig.get("peer", {})
        peer_median, peer_low, peer_high = figures.summary(peer.get("samples", []))
        ours = "%.4g (%.4g-%.4g)" % (median, low, high) if median is not None else "-"
        theirs = "%.4g (%.4g-%.4g)" % (peer_median, peer_low, peer_high) if peer_median is not None else (
            "missing" if peer.get("missing") else "-")
        ratio = "%.3f" % (median / peer_median) if median is not None and peer_median else "-"
        target = fig.get("target", {})
        print("| %s | %s | %s | %s | %s | %s |" % (fig["title"], fig["unit"], ours, theirs, ratio,
                                                  "<= %sx" % target["value"] if target else ""))
    missing = next((fig["peer"]["missing"] for fig in result if fig.get("peer", {}).get("missing")), None)
    if missing:
        print("nanobot is missing: %s" % missing)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bin_dir")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--messages", type=int, default=20)
    parser.add_argument("--settle", type=float, default=5.0,
                        help="seconds idle before the idle CPU window (the idle memory is read after that window)")
    parser.add_argument("--window", type=float, default=10.0, help="seconds of each idle CPU window")
    parser.add_argument("--json", help="write the figures to this file (figures.py's shape)")
    parser.add_argument("--no-peer", action="store_true", help="measure autonous only (nanobot marked missing)")
    parser.add_argument("--cache", default=os.environ.get("AUTONOUS_BENCH_CACHE",
                                                          os.path.expanduser("~/.cache/autonous-bench")))
    args = parser.parse_args()
    bin_dir = os.path.abspath(args.bin_dir)

    missing = version = venv = None
    if args.no_peer:
        missing = "not measured in this run (--no-peer)"
    else:
        try:
            venv = nanobot_venv(args.cache)
            version = installed_version(venv)
        except PeerUnavailable as error:
            missing = "nanobot could not be installed: %s" % error
            print("peers: %s; measuring autonous alone" % missing, file=sys.stderr)

    fakes = subprocess.Popen([sys.executable, FAKES, "--telegram-token", TOKEN, "--openai-key", KEY],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    scratch = tempfile.mkdtemp(prefix="aut-bench-peers-")
    ours, theirs = [], []
    try:
        ports = json.loads(fakes.stdout.readline())
        autonous = Autonous(bin_dir)
        nanobot = Nanobot(venv, scratch) if venv else None
        for round_index in range(args.rounds):
            order = [autonous, nanobot] if round_index % 2 == 0 else [nanobot, autonous]
            for daemon in order:
                if daemon is None or (daemon is nanobot and missing):
                    continue
                try:
                    result = measure(daemon, ports, round_index, args)
                except (PeerUnavailable, RuntimeError) as error:
                    if daemon is autonous:
                        raise
                    missing = "nanobot failed in round %d: %s" % (round_index + 1, str(error)[:600])
                    print("peers: %s" % missing, file=sys.stderr)
                    theirs = []
                    continue
                (ours if daemon is autonous else theirs).append(result)
                print("peers: round %d %s: start %.0f ms, idle PSS %.1f MiB, idle CPU %.4f/%.4f cores, "
                      "reply median %.1f ms" % (
                          round_index + 1, daemon.name, result["start"], result["pss"], result["cpu_before"],
                          result["cpu_after"], sorted(result["final"])[len(result["final"]) // 2]), flush=True)
    finally:
        fakes.stdin.close()
        fakes.wait(timeout=10)
        shutil.rmtree(scratch, ignore_errors=True)
    result = build_figures(ours, [] if missing else theirs, version, missing, args)
    print_table(result)
    figures.write(args.json, result)


if __name__ == "__main__":
    main()
