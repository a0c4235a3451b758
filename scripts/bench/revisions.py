#!/usr/bin/env python3
"""Recovery times of the supervisor on real processes, against the fake Telegram and OpenAI servers:

  revisions.py BIN_DIR [RUNS] [--default-runs N] [--json FILE]

  - worker killed (SIGKILL) -> a new worker ready, with the default backoff (1 s first restart) and with a low one;
  - a bad revision deployed -> the last-known-good answering Telegram messages again, for a revision that exits at
    once and one that hangs after Ready, with the default thresholds and with low ones (the target with low
    thresholds is under 5 s).

BIN_DIR holds autonous-supervisord, autonous-worker and autonous-sandbox (a release build). Each figure is the
median, min and max over its runs, in seconds: RUNS runs with low thresholds, --default-runs (3) with the default
ones, where each kill runs in a supervisor of its own (three kills within a minute are a crash loop by default).
"Answering again" is measured from the Deploy call until the fake Telegram server received the answer to a message
sent once the supervisor reported the revert. With --json, writes the figures in the shared shape of figures.py.
"""
import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

import figures

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FAKES = os.path.join(ROOT, "Tests", "Fixtures", "fakes.py")
MISBEHAVING = os.path.join(ROOT, "Tests", "Fixtures", "misbehaving-worker.py")
TOKEN = "123456:bench-token"
KEY = "sk-bench"
USER = 111

LOW = {
    "AUTONOUS_RESTART_BACKOFF_INITIAL": "10ms", "AUTONOUS_RESTART_BACKOFF_MAX": "10ms",
    "AUTONOUS_WORKER_READY_TIMEOUT": "2s", "AUTONOUS_WORKER_HEARTBEAT_INTERVAL": "200ms",
    "AUTONOUS_WORKER_HEARTBEAT_TIMEOUT": "1s", "AUTONOUS_PROBATION": "3s", "AUTONOUS_WORKER_STOP_TIMEOUT": "1s",
    "AUTONOUS_TELEGRAM_POLL_TIMEOUT": "1s", "AUTONOUS_WORKER_STUCK_AFTER": "3s",
    # Repeated kills are the measurement here, not a crash loop to revert.
    "AUTONOUS_CRASH_LOOP": "100/1s",
}


def varlink(path, method, parameters=None, timeout=600):
    """One varlink call over a fresh connection; returns the reply's parameters or raises with its error."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(path)
        sock.sendall(json.dumps({"method": method, "parameters": parameters or {}}).encode() + b"\0")
        data = b""
        while not data.endswith(b"\0"):
            chunk = sock.recv(65536)
            if not chunk:
                raise RuntimeError("%s: connection closed" % method)
            data += chunk
    reply = json.loads(data[:-1])
    if "error" in reply:
        raise RuntimeError("%s: %s %s" % (method, reply["error"], reply.get("parameters")))
    return reply.get("parameters", {})


def http(port, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read() or b"null")


class Daemon:
    def __init__(self, bin_dir, ports, extra):
        self.directory = tempfile.mkdtemp(prefix="aut-bench-")
        os.chmod(self.directory, 0o755)
        self.control = self.directory + "/run/control.sock"
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin", "AUTONOUS_STATE_DIR": self.directory + "/state",
            "AUTONOUS_RUNTIME_DIR": self.directory + "/run", "AUTONOUS_CONFIG_DIR": self.directory + "/etc",
            "AUTONOUS_WORKER_BIN": bin_dir + "/autonous-worker", "AUTONOUS_SANDBOX_BIN": bin_dir + "/autonous-sandbox",
            "AUTONOUS_LOG": "stderr", "AUTONOUS_SANDBOX_LIMITS": "best-effort",
            "AUTONOUS_TELEGRAM_TOKEN": TOKEN, "AUTONOUS_TELEGRAM_API_URL": "http://127.0.0.1:%d" % ports["telegram"],
            "AUTONOUS_TELEGRAM_ALLOWED_USERS": str(USER), "AUTONOUS_TELEGRAM_ADMINS": str(USER),
            "OPENAI_API_KEY": KEY, "AUTONOUS_OPENAI_BASE_URL": "http://127.0.0.1:%d/v1" % ports["openai"],
            "AUTONOUS_MODEL": "gpt-fake",
        }
        env.update(extra)
        self.log = open(self.directory + "/daemon.log", "wb")
        self.process = subprocess.Popen([bin_dir + "/autonous-supervisord"], env=env, stdin=subprocess.DEVNULL,
                                        stdout=self.log, stderr=self.log)

    def status(self):
        try:
            return varlink(self.control, "io.autonous.Control.GetStatus", timeout=10)
        except (OSError, RuntimeError):
            return None

    def wait(self, condition, timeout=300, what="a condition"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.status()
            if status is not None and condition(status):
                return status
            if self.process.poll() is not None:
                break
            time.sleep(0.005)
        with open(self.directory + "/daemon.log", "rb") as log:
            tail = log.read()[-3000:].decode("utf-8", "replace")
        raise RuntimeError("timed out waiting for %s (supervisor %s); the log ends:\n%s" % (
            what, "exited" if self.process.poll() is not None else "running", tail))

    def ready(self, timeout=300):
        return self.wait(lambda s: s["worker"]["state"] == "ready" and not s.get("revisions", {}).get("probation"),
                         timeout, "a ready worker")

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()
        subprocess.run(["rm", "-rf", self.directory], check=False)


def answered_again(daemon, telegram_port, started, label):
    """Seconds from `started` until the answer to a message sent after the revert reached the fake Telegram."""
    text = "are you back? %s %f" % (label, time.monotonic())
    http(telegram_port, "POST", "/_fake/message", {"from_id": USER, "text": text})
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if any(m.get("text") == "echo: " + text for m in http(telegram_port, "GET", "/_fake/sent")):
            return time.monotonic() - started
        time.sleep(0.005)
    raise RuntimeError("no answer to %r" % text)


def bad_revision(directory, mode, index):
    with open(MISBEHAVING) as source:
        text = source.read().replace('\nMODE = "healthy"\n', '\nMODE = "%s"\n' % mode)
    path = os.path.join(directory, "bad-%s-%d.py" % (mode, index))
    with open(path, "w") as target:
        # A comment line of its own: another sha256 per run, so each deploy is a new revision.
        target.write(text + "\n# run %d %f\n" % (index, time.time()))
    os.chmod(path, 0o755)
    return path


NO_PEER = ("nanobot has no supervisor, no worker revisions and no revert; a crashed nanobot is "
           "restarted (or not) by whatever started it.")


def summary(name, samples):
    if not samples:
        return "| %s | - | - | - | 0 |" % name
    return "| %s | %.2f | %.2f | %.2f | %d |" % (
        name, statistics.median(samples), min(samples), max(samples), len(samples))


def kill_restart(daemon):
    """Seconds from a SIGKILL of the ready worker until a new worker is ready."""
    status = daemon.ready()
    pid = status["worker"]["pid"]
    started = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    daemon.wait(lambda s: s["worker"]["state"] == "ready" and s["worker"]["pid"] != pid,
                what="the restarted worker")
    return time.monotonic() - started


def deploy_revert(daemon, ports, scratch, mode, index):
    """Seconds from the Deploy of a bad revision until the last-good worker answered a message again."""
    daemon.ready()
    path = bad_revision(scratch, mode, index)
    started = time.monotonic()
    reply = varlink(daemon.control, "io.autonous.Control.Deploy", {"path": path})
    sha = reply["revision"]["sha256"]
    daemon.wait(lambda s: s["revisions"].get("probation") is None
                and s["revisions"]["current"] != sha and s["worker"]["state"] == "ready",
                what="the revert of %s" % mode)
    return answered_again(daemon, ports["telegram"], started, mode)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bin_dir")
    parser.add_argument("runs", nargs="?", type=int, default=5)
    parser.add_argument("--default-runs", type=int, default=3)
    parser.add_argument("--json", help="write the figures to this file (figures.py's shape)")
    args = parser.parse_args()
    bin_dir = os.path.abspath(args.bin_dir)
    fakes = subprocess.Popen([sys.executable, FAKES, "--telegram-token", TOKEN, "--openai-key", KEY],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    ports = json.loads(fakes.stdout.readline())
    http(ports["openai"], "GET", "/_fake/script")
    scratch = tempfile.mkdtemp(prefix="aut-bench-revs-")
    rows, results = [], []
    try:
        for label, extra, runs in [("low thresholds", LOW, args.runs), ("default thresholds", {}, args.default_runs)]:
            restarts = []
            if extra is LOW:
                daemon = Daemon(bin_dir, ports, extra)
                try:
                    restarts = [kill_restart(daemon) for _ in range(runs)]
                finally:
                    daemon.stop()
            else:
                for _ in range(runs):
                    daemon = Daemon(bin_dir, ports, extra)
                    try:
                        restarts.append(kill_restart(daemon))
                    finally:
                        daemon.stop()
            name = "worker killed -> new worker ready (%s)" % label
            rows.append(summary(name, restarts))
            results.append(figures.figure(
                "revisions.kill_%s" % label.split()[0], name, "s", restarts,
                note="SIGKILL of the ready worker until the supervisor reports a new worker ready; " + (
                    "restart backoff 10 ms, every kill in the same supervisor." if extra is LOW else
                    "the default first restart backoff (1 s), a supervisor of its own for each kill."),
                no_peer=NO_PEER))
            daemon = Daemon(bin_dir, ports, extra)
            try:
                for mode in ("exit-at-once", "hang-after-ready"):
                    samples = [deploy_revert(daemon, ports, scratch, mode, index) for index in range(runs)]
                    name = "bad revision (%s) deployed -> last-good answering (%s)" % (mode, label)
                    rows.append(summary(name, samples))
                    results.append(figures.figure(
                        "revisions.%s_%s" % (mode.replace("-", "_"), label.split()[0]), name, "s", samples,
                        target=figures.absolute_max(5.0) if extra is LOW else None,
                        note=("Low thresholds (ready timeout 2 s, heartbeat timeout 1 s, probation 3 s); target "
                              "under 5 s. " if extra is LOW else
                              "Default thresholds (ready timeout 30 s, heartbeat timeout 30 s, probation 60 s). ")
                        + "From the Deploy call until the fake Telegram server received the answer to a message "
                        "sent once the revert was reported.", no_peer=NO_PEER))
            finally:
                daemon.stop()
    finally:
        fakes.stdin.close()
        fakes.wait(timeout=10)
        subprocess.run(["rm", "-rf", scratch], check=False)
    print("| figure | median s | min s | max s | runs |")
    print("|---|---|---|---|---|")
    for row in rows:
        print(row)
    figures.write(args.json, results)


if __name__ == "__main__":
    main()
