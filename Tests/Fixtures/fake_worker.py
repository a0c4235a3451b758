#!/usr/bin/env python3
"""A misbehaving autonous worker, for the supervisor's health-watch tests.

The supervisor starts it as AUTONOUS_WORKER_BIN. It speaks io.autonous.Worker over the real worker socket
($AUTONOUS_WORKER_SOCKET, NUL-framed varlink JSON) and then misbehaves as AUTONOUS_TEST_FAKE_WORKER_MODE says:

  silent         says Hello, never Ready, then idles (the ready deadline must catch it)
  no-heartbeat   says Hello and Ready, never a Heartbeat (the heartbeat timeout must catch it)
  ignore-term    like silent, and ignores SIGTERM (the supervisor must escalate to SIGKILL)
  crash          says Hello and Ready, then exits with status 3 after a moment

Each start appends its pid to $HOME/fake-worker-starts (the supervisor sets HOME to the worker's own directory, state/worker/, which is
the one directory the sandboxed worker may write). Every wait is bounded: the script
exits by itself after 120 s whatever happens.
"""
import json
import os
import signal
import socket
import sys
import time


def call(sock, method, parameters=None):
    sock.sendall(json.dumps({"method": method, "parameters": parameters or {}}).encode() + b"\0")
    data = b""
    while not data.endswith(b"\0"):
        chunk = sock.recv(65536)
        if not chunk:
            raise SystemExit("supervisor closed the connection")
        data += chunk
    reply = json.loads(data[:-1])
    if "error" in reply:
        raise SystemExit(f"{method} failed: {reply}")
    return reply.get("parameters", {})


def main():
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    mode = os.environ.get("AUTONOUS_TEST_FAKE_WORKER_MODE", "silent")
    log = os.path.join(os.environ.get("HOME", "/tmp"), "fake-worker-starts")
    if True:
        with open(log, "a") as handle:
            handle.write(f"{os.getpid()} {mode}\n")
    if mode == "ignore-term":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(os.environ["AUTONOUS_WORKER_SOCKET"])
    call(sock, "io.autonous.Worker.Hello", {"revision": os.environ.get("AUTONOUS_REVISION", "?"),
                                            "pid": os.getpid(), "version": "fake"})
    if mode in ("no-heartbeat", "crash"):
        call(sock, "io.autonous.Worker.Ready")
    if mode == "crash":
        time.sleep(0.3)
        sys.exit(3)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        time.sleep(0.1)


if __name__ == "__main__":
    main()
