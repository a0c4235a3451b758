#!/usr/bin/env python3
MODE = "healthy"
CRASH_AFTER = 10
"""A bad worker revision, for the supervisor's revision-lifecycle tests (stdlib only, Python 3.11).

Tests copy this file, replace the line `MODE = "..."` above (and maybe `CRASH_AFTER = 10`, in seconds), and deploy
the copy as a worker revision: each copy has its own sha256, so the supervisor treats it as a distinct revision. The
supervisor runs it like autonous-worker: under its sandbox launcher, with the worker's environment
(AUTONOUS_WORKER_SOCKET, AUTONOUS_REVISION, PATH=/usr/local/bin:/usr/bin:/bin), speaking io.autonous.Worker
(one JSON object and a NUL byte per message).

`FILE --self-check [--scratch DIR]` prints the self-check report on stdout: it passes (exit 0) in every mode
except fail-self-check (exit 1).

As a worker, like the real one: Hello, Ready on one connection (which then carries the short calls, heartbeats and
chat answers, taking turns), a heartbeat every heartbeatIntervalMs (from Hello's reply) after Ready,
Subscribe(more: true) on a connection of its own, and each call that makes the supervisor work before it answers
(PrepareWorkingCopy, ProposeUpdate, DecideUpdate) on a connection of its own too, so that no heartbeat waits
behind a slow clone. It exits 70 when the supervisor hangs up or stops answering (a
heartbeat or the notice stream fails), 1 when Hello or Ready fails, 0 on SIGTERM. The modes:

  exit-at-once      exits with status 3 before connecting
  exit-125          exits with status 125 before connecting: the status the sandbox launcher uses for "could not
                    set the sandbox up", which the supervisor must still tell apart from its own failure
  never-ready       Hello, then sleeps without Ready or heartbeats
  hang-after-ready  Hello, Ready, then sleeps, the socket open, sending nothing
  no-poll           like healthy, but the heartbeats' lastPollCompletedMs stays at the time of Ready (a wedged
                    Telegram poller)
  crash-after       like healthy, then after CRASH_AFTER seconds kills itself with SIGSEGV
  fail-self-check   fails the self-check; run as a worker anyway, like healthy
  healthy           Hello, Ready, heartbeats with lastPollCompletedMs advancing, Subscribe; answers each chat
                    notice with ChatReply(text: "fake worker: <text>"), logs admins notices, ignores others;
                    a chat "/prepare" or "/propose {json}" is relayed to PrepareWorkingCopy / ProposeUpdate
                    and answered with the reply as JSON

never-ready and hang-after-ready keep the default SIGTERM disposition (the signal ends them) and do not watch the
socket, as a hung process would not; they give up by themselves only after HANG_LIMIT seconds, so that a test run
that died cannot leave them behind for long. Each start, and each misbehaviour, is logged as one line on stderr
("misbehaving-worker: ...").
"""

import hashlib
import json
import os
import resource
import signal
import socket
import sys
import threading
import time

HANG_LIMIT = 3600
# What each chat answer starts with; a self-update test patches it to tell the new revision from the old.
REPLY_PREFIX = "fake worker"
# Seconds the self-check sleeps before it reports; a restart test patches it to catch the pipeline in self_checking.
SELF_CHECK_DELAY = 0
CALL_TIMEOUT = 10.0
# The calls that make the supervisor work (a clone in a sandbox) may take longer on a loaded machine.
SLOW_CALL_TIMEOUT = 120.0
MODES = ("exit-at-once", "exit-125", "never-ready", "hang-after-ready", "no-poll", "crash-after", "fail-self-check", "healthy")
WORKER = "io.autonous.Worker."


def log(line):
    try:
        sys.stderr.write("misbehaving-worker: %s\n" % line)
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def now_ms():
    return int(time.time() * 1000)


def revision_name():
    """AUTONOUS_REVISION, or without it (a self-check run) the sha256 of this file, as the artifact is named."""
    revision = os.environ.get("AUTONOUS_REVISION")
    if revision:
        return revision
    try:
        with open(os.path.abspath(__file__), "rb") as handle:
            return hashlib.sha256(handle.read()).hexdigest()
    except OSError:
        return "unknown"


def self_check(arguments):
    scratch = None
    if "--scratch" in arguments:
        index = arguments.index("--scratch")
        scratch = arguments[index + 1] if index + 1 < len(arguments) else None
    if SELF_CHECK_DELAY > 0:
        log("self-check: sleeping %d s first" % SELF_CHECK_DELAY)
        time.sleep(min(SELF_CHECK_DELAY, HANG_LIMIT))
    if MODE == "fail-self-check":
        report = {"ok": False, "revision": revision_name(), "checks": [
            {"name": "migrations", "ok": False, "ms": 1, "error": "deliberately failing self-check"}]}
        print(json.dumps(report), flush=True)
        log("failing the self-check deliberately (mode %s, pid %d, scratch %s)" % (MODE, os.getpid(), scratch))
        return 1
    report = {"ok": True, "revision": revision_name(), "checks": [{"name": "fake", "ok": True, "ms": 0}]}
    print(json.dumps(report), flush=True)
    return 0


class Lost(Exception):
    """The supervisor hung up, answered with garbage, or did not answer in time."""


class CallError(Exception):
    """The supervisor answered a call with a varlink error."""

    def __init__(self, method, reply):
        super().__init__("%s failed: %s %s" % (method, reply.get("error"), json.dumps(reply.get("parameters", {}))))
        self.reply = reply


class Connection:
    """One varlink connection: NUL-framed JSON, every read bounded by a timeout; calls take turns."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(CALL_TIMEOUT)
        try:
            self.sock.connect(path)
        except OSError:
            self.sock.close()
            raise
        self.buffer = b""
        self.turn = threading.Lock()

    def send(self, method, parameters=None, more=False):
        message = {"method": WORKER + method, "parameters": parameters or {}}
        if more:
            message["more"] = True
        try:
            self.sock.sendall(json.dumps(message).encode() + b"\0")
        except OSError as error:
            raise Lost("cannot send %s: %s" % (method, error)) from error

    def read(self, method, timeout):
        """The next message; None when `timeout` (seconds, or None for each recv's own CALL_TIMEOUT) passed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while b"\0" not in self.buffer:
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.sock.settimeout(min(left, CALL_TIMEOUT))
            else:
                self.sock.settimeout(CALL_TIMEOUT)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                if deadline is None:
                    continue
                return None
            except OSError as error:
                raise Lost("reading the reply to %s: %s" % (method, error)) from error
            if not chunk:
                raise Lost("the supervisor closed the connection during %s" % method)
            self.buffer += chunk
        frame, self.buffer = self.buffer.split(b"\0", 1)
        try:
            reply = json.loads(frame)
        except ValueError as error:
            raise Lost("the reply to %s is not JSON: %r" % (method, frame[:200])) from error
        if not isinstance(reply, dict):
            raise Lost("the reply to %s is not a JSON object" % method)
        return reply

    def call(self, method, parameters=None, timeout=CALL_TIMEOUT):
        with self.turn:
            self.send(method, parameters)
            reply = self.read(method, timeout)
            if reply is None:
                raise Lost("no answer to %s within %.1f s" % (method, timeout))
            if "error" in reply:
                raise CallError(method, reply)
            return reply.get("parameters") or {}

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def sleep_hung(what):
    """A hung process: sleeps (SIGTERM keeps its default disposition), for at most HANG_LIMIT seconds."""
    log(what)
    deadline = time.monotonic() + HANG_LIMIT
    while time.monotonic() < deadline:
        time.sleep(1)
    log("hung for %d s; giving up" % HANG_LIMIT)
    return 0


def counters(last_poll_ms):
    return {
        "updatesReceived": 0, "messagesAnswered": 0, "modelFailures": 0, "inboxQueued": 0,
        "lastPollCompletedMs": last_poll_ms, "runsInFlight": 0, "outboxBacklog": 0,
    }


def exit_lost(reason):
    log("lost the supervisor; exiting: %s" % reason)
    os._exit(70)


def heartbeats(link, interval, ready_ms):
    """Every interval after Ready, a heartbeat; a failed or unanswered one ends the worker (70), as in the real
    worker's HeartbeatService."""
    answer_timeout = max(5.0, interval * 3)
    try:
        while True:
            time.sleep(interval)
            last_poll = ready_ms if MODE == "no-poll" else now_ms()
            link.call("Heartbeat", {"counters": counters(last_poll)}, timeout=answer_timeout)
    except (Lost, CallError) as error:
        exit_lost("heartbeat failed: %s" % error)
    except Exception as error:  # a bug here must not leave a worker without heartbeats running on
        exit_lost("heartbeat thread failed: %r" % error)


def crash_later(delay):
    time.sleep(delay)
    log("crashing now (SIGSEGV after %s s)" % delay)
    os.kill(os.getpid(), signal.SIGSEGV)
    time.sleep(5)
    os._exit(139)  # not reached: SIGSEGV has its default disposition


def call_alone(link, method, parameters=None):
    """`method` on a connection to `link`'s socket opened for this call alone, as the real worker's
    SupervisorLink.callAlone: `link`, and the heartbeats on it, never wait for the supervisor's slow work."""
    try:
        own = Connection(link.path)
    except OSError as error:
        raise Lost("cannot connect for %s: %s" % (method, error)) from error
    try:
        return own.call(method, parameters, timeout=SLOW_CALL_TIMEOUT)
    finally:
        own.close()


def relay(link, text):
    """A chat line that asks the supervisor something as the real worker's tools do: `/prepare` calls
    PrepareWorkingCopy, `/propose {json}` calls PrepareWorkingCopy and then ProposeUpdate with the JSON's patch,
    summary and title, `/decide TX SHA256 approve|reject USER` relays a Telegram button press (DecideUpdate). The answer is the reply's parameters, or {"error": ..., "parameters": ...}, as JSON."""
    command, _, rest = text.partition(" ")
    try:
        if command == "/decide":
            # /decide TX SHA256 approve|reject USER_ID: a Telegram button press, relayed.
            tx, sha256, verdict, user = rest.split()
            return json.dumps(call_alone(link, "DecideUpdate", {
                "tx": tx, "sha256": sha256, "approve": verdict == "approve", "requestedBy": int(user)}),
                sort_keys=True)
        copy = call_alone(link, "PrepareWorkingCopy")
        if command == "/prepare":
            return json.dumps(copy, sort_keys=True)
        proposal = json.loads(rest)
        return json.dumps(call_alone(link, "ProposeUpdate", {
            "patch": proposal["patch"], "base": copy["commit"], "summary": proposal.get("summary", ""),
            "title": proposal.get("title"), "runId": None,
            "requestedBy": proposal.get("requestedBy", "local")}), sort_keys=True)
    except CallError as error:
        return json.dumps({"error": error.reply.get("error"), "parameters": error.reply.get("parameters")},
                          sort_keys=True)
    except Lost as error:
        # Only this call's own connection failed; the worker's link to the supervisor is still judged by heartbeats.
        return json.dumps({"error": "lost: %s" % error})
    except (ValueError, KeyError) as error:
        return json.dumps({"error": "bad request: %s" % error})


def answer(link, notice):
    kind = notice.get("kind")
    if kind == "chat" and isinstance(notice.get("id"), str):
        said = notice.get("text") or ""
        if said.startswith("/prepare") or said.startswith("/propose ") or said.startswith("/decide "):
            text = relay(link, said)
        else:
            text = "%s: %s" % (REPLY_PREFIX, said)
        try:
            link.call("ChatReply", {"id": notice["id"], "text": text, "error": None, "runId": None})
            log("answered chat %s" % notice["id"])
        except CallError as error:
            log("chat answer not delivered: %s" % error)
        except Lost as error:
            exit_lost("chat answer: %s" % error)
    elif kind == "admins":
        log("admins notice: %s%s" % (json.dumps(notice.get("text")),
                                     " [buttons for %s %s]" % (notice.get("updateTx"), notice.get("updateSha256"))
                                     if notice.get("updateTx") else ""))
    elif kind == "tell":
        log("tell notice for %s: %s" % (notice.get("conversation"), json.dumps(notice.get("text"))))
    else:
        log("ignoring notice %s" % kind)


def receive_notices(path, link):
    """Subscribe(more: true) on a connection of its own; returns when the supervisor ends the stream."""
    try:
        stream = Connection(path)
    except OSError as error:
        raise Lost("cannot open the notice stream: %s" % error) from error
    try:
        stream.send("Subscribe", more=True)
        while True:
            reply = stream.read("Subscribe", None)
            if "error" in reply:
                raise Lost("Subscribe failed: %s %s" % (reply.get("error"), reply.get("parameters")))
            notice = (reply.get("parameters") or {}).get("notice") or {}
            if notice.get("kind") != "end":
                # Answered on the call connection in a thread, as the real worker runs each chat in a task.
                start_thread(answer, link, notice)
            if reply.get("continues") is not True:
                raise Lost("the supervisor ended the notice stream")
    finally:
        stream.close()


def start_thread(target, *args):
    """A daemon thread with SIGTERM and SIGINT blocked, so that the kernel hands them to the main thread, which
    runs the handler at once (a signal caught by another thread waits for the main thread's next bytecode)."""
    signals = {signal.SIGTERM, signal.SIGINT}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, signals)
    try:
        threading.Thread(target=target, args=args, daemon=True).start()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def on_sigterm(signum, frame):
    log("SIGTERM: stopping cleanly")
    os._exit(0)


def run_worker():
    log("starting in mode %s, pid %d, revision %s" % (MODE, os.getpid(), os.environ.get("AUTONOUS_REVISION")))
    if MODE not in MODES:
        log("unknown mode %r" % MODE)
        return 2
    if MODE == "exit-at-once":
        log("exiting with status 3 at once")
        return 3
    if MODE == "exit-125":
        log("exiting with status 125 at once")
        return 125
    hangs = MODE in ("never-ready", "hang-after-ready")
    if not hangs:
        signal.signal(signal.SIGTERM, on_sigterm)
    if MODE == "crash-after":
        # A SIGSEGV that nothing catches; and no core file to write (or for systemd-coredump to collect).
        signal.signal(signal.SIGSEGV, signal.SIG_DFL)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    path = os.environ.get("AUTONOUS_WORKER_SOCKET")
    if not path:
        log("AUTONOUS_WORKER_SOCKET is not set")
        return 1
    try:
        link = Connection(path)
    except OSError as error:
        log("cannot connect to %s: %s" % (path, error))
        return 1
    try:
        hello = link.call("Hello", {"revision": os.environ.get("AUTONOUS_REVISION", "unversioned"),
                                    "pid": os.getpid(), "version": "fake"})
    except (Lost, CallError) as error:
        log("Hello failed: %s" % error)
        return 1
    try:
        interval = max(50, int(hello.get("heartbeatIntervalMs", 1000))) / 1000.0
    except (TypeError, ValueError):
        log("Hello's reply has no usable heartbeatIntervalMs: %r" % hello)
        return 1
    if MODE == "never-ready":
        return sleep_hung("said Hello; never saying Ready now")
    try:
        link.call("Ready")
    except (Lost, CallError) as error:
        log("Ready failed: %s" % error)
        return 1
    ready_ms = now_ms()
    if MODE == "hang-after-ready":
        return sleep_hung("said Ready; hanging now (no heartbeats)")
    if MODE == "no-poll":
        log("said Ready; polling wedged now (lastPollCompletedMs stays %d)" % ready_ms)
    start_thread(heartbeats, link, interval, ready_ms)
    if MODE == "crash-after":
        start_thread(crash_later, CRASH_AFTER)
    try:
        receive_notices(path, link)
    except Lost as error:
        exit_lost(str(error))
    return 70


def main():
    # Signals the parent may have blocked stay deliverable (the supervisor's spawn clears the mask anyway).
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    arguments = sys.argv[1:]
    if arguments[:1] == ["--self-check"]:
        return self_check(arguments)
    return run_worker()


if __name__ == "__main__":
    sys.exit(main())
