#!/usr/bin/env python3
"""Self-test for misbehaving-worker.py (a bad worker revision). Run: python3 test_misbehaving_worker.py

A tiny io.autonous.Worker server on a temporary unix socket stands in for the supervisor. Each test deploys a copy
of the fixture with its MODE line replaced, runs it directly (as the supervisor does: its shebang, a minimal
environment, another working directory) and checks what the supervisor would observe.
"""

import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURE = os.path.join(HERE, "misbehaving-worker.py")
INTERVAL_MS = 100
REVISION = "0" * 64


class FakeSupervisor:
    """Accepts connections on `path` and answers the worker's calls; records each call with its connection."""

    def __init__(self, path, hello_error=None, chat="hi", prepare_delay=0.0):
        self.path = path
        self.hello_error = hello_error
        self.chat = chat
        self.prepare_delay = prepare_delay
        self.calls = []  # (time.monotonic(), connection number, peer pid, request)
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)
        self.connections = []
        self.closed = False
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(path)
        self.listener.listen(8)
        self.listener.settimeout(0.2)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        number = 0
        while not self.closed:
            try:
                connection, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            number += 1
            with self.lock:
                self.connections.append(connection)
            threading.Thread(target=self._serve, args=(connection, number), daemon=True).start()

    def _serve(self, connection, number):
        credentials = connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        pid = struct.unpack("3i", credentials)[0]
        connection.settimeout(0.2)
        buffer = b""
        try:
            while not self.closed:
                try:
                    chunk = connection.recv(65536)
                except socket.timeout:
                    continue
                if not chunk:
                    return
                buffer += chunk
                while b"\0" in buffer:
                    frame, buffer = buffer.split(b"\0", 1)
                    request = json.loads(frame)
                    with self.changed:
                        self.calls.append((time.monotonic(), number, pid, request))
                        self.changed.notify_all()
                    connection.sendall(json.dumps(self._reply(request)).encode() + b"\0")
        except OSError:
            return

    def _reply(self, request):
        method = request.get("method", "")
        if method == "io.autonous.Worker.Hello":
            if self.hello_error:
                return {"error": self.hello_error, "parameters": {"expected": "a", "claimed": "b"}}
            return {"parameters": {"parentEventId": 1, "heartbeatIntervalMs": INTERVAL_MS}}
        if method == "io.autonous.Worker.Subscribe":
            # Held open: one chat notice, and the stream continues.
            return {"parameters": {"notice": {"kind": "chat", "id": "n1", "text": self.chat}}, "continues": True}
        if method == "io.autonous.Worker.PrepareWorkingCopy":
            # The supervisor clones a repository before it answers; this connection waits, no other.
            time.sleep(self.prepare_delay)
            return {"parameters": {"commit": "c" * 40, "path": "autonous", "created": True}}
        if method in ("io.autonous.Worker.Ready", "io.autonous.Worker.Heartbeat", "io.autonous.Worker.ChatReply"):
            return {"parameters": {}}
        return {"error": "org.varlink.service.MethodNotFound", "parameters": {"method": method}}

    def methods(self):
        with self.lock:
            return [request["method"].rsplit(".", 1)[-1] for _, _, _, request in self.calls]

    def requests(self, method):
        with self.lock:
            return [(at, number, pid, request) for at, number, pid, request in self.calls
                    if request["method"] == "io.autonous.Worker." + method]

    def wait_for(self, method, count=1, timeout=3.0):
        """The first `count` calls of `method`, waiting at most `timeout` seconds for them."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                found = [entry for entry in self.calls if entry[3]["method"] == "io.autonous.Worker." + method]
                left = deadline - time.monotonic()
                if len(found) >= count or left <= 0:
                    return found
                self.changed.wait(left)

    def hang_up(self):
        """Closes every connection and stops accepting, as a supervisor that went away."""
        self.closed = True
        self.listener.close()
        with self.lock:
            for connection in self.connections:
                try:
                    connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                connection.close()


class MisbehavingWorkerTest(unittest.TestCase):
    def setUp(self):
        self.directory = tempfile.mkdtemp(prefix="misbehaving-worker-")
        self.elsewhere = os.path.join(self.directory, "cwd")
        os.mkdir(self.elsewhere)
        self.socket_path = os.path.join(self.directory, "worker.sock")
        self.supervisor = None
        self.proc = None
        self.stderr = None

    def tearDown(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=5)
        errors = ""
        if self.stderr is not None:
            errors = self.errors()
            self.stderr.close()
        if self.supervisor is not None:
            self.supervisor.hang_up()
        shutil.rmtree(self.directory, ignore_errors=True)
        # Whatever the test did, the fixture must not fail with an exception of its own.
        self.assertNotIn("Traceback", errors)

    # -- helpers ---------------------------------------------------------------
    def revision_file(self, mode, crash_after=None):
        """A copy of the fixture with its MODE (and CRASH_AFTER) line replaced, executable, as a test deploys it."""
        with open(FIXTURE) as handle:
            text = handle.read()
        text, count = re.subn(r'^MODE = ".*"$', 'MODE = "%s"' % mode, text, flags=re.M)
        self.assertEqual(count, 1)
        if crash_after is not None:
            text, count = re.subn(r"^CRASH_AFTER = .*$", "CRASH_AFTER = %s" % crash_after, text, flags=re.M)
            self.assertEqual(count, 1)
        path = os.path.join(self.directory, "revision-%s" % mode)
        with open(path, "w") as handle:
            handle.write(text)
        os.chmod(path, 0o755)
        return path

    def environment(self):
        return {"PATH": "/usr/local/bin:/usr/bin:/bin", "AUTONOUS_WORKER_SOCKET": self.socket_path,
                "AUTONOUS_REVISION": REVISION, "HOME": self.directory}

    def start(self, mode, crash_after=None, hello_error=None, **supervisor):
        path = self.revision_file(mode, crash_after)
        self.supervisor = FakeSupervisor(self.socket_path, hello_error=hello_error, **supervisor)
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([path], cwd=self.elsewhere, env=self.environment(), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=self.stderr)
        return self.proc

    def errors(self):
        # pread, not seek + read: the worker shares this open file description, so moving its offset back to 0
        # while the worker still writes would make the worker overwrite what it logged first.
        chunks, offset = [], 0
        while True:
            chunk = os.pread(self.stderr.fileno(), 65536, offset)
            if not chunk:
                return b"".join(chunks).decode("utf-8", "replace")
            chunks.append(chunk)
            offset += len(chunk)

    def self_check(self, mode):
        path = self.revision_file(mode)
        scratch = os.path.join(self.directory, "scratch")
        os.makedirs(scratch, exist_ok=True)
        done = subprocess.run([path, "--self-check", "--scratch", scratch], cwd=self.elsewhere,
                              env={"PATH": "/usr/local/bin:/usr/bin:/bin"}, capture_output=True, timeout=10)
        return done.returncode, json.loads(done.stdout), done.stderr.decode()

    def assert_alive(self):
        self.assertIsNone(self.proc.poll(), self.errors())

    def assert_heartbeats(self, count):
        beats = self.supervisor.wait_for("Heartbeat", count)
        self.assertGreaterEqual(len(beats), count, self.errors())
        return [request["parameters"]["counters"] for _, _, _, request in beats]

    def assert_said_hello(self):
        hello = self.supervisor.wait_for("Hello")
        self.assertEqual(len(hello), 1, self.errors())
        _, _, peer, request = hello[0]
        self.assertEqual(request["parameters"], {"revision": REVISION, "pid": self.proc.pid, "version": "fake"})
        # The process the supervisor spawned is the one that connects (the shebang's env execs python3).
        self.assertEqual(peer, self.proc.pid)
        return hello[0]

    # -- self-check -----------------------------------------------------------
    def test_self_check_passes(self):
        for mode in ("healthy", "no-poll", "crash-after", "exit-at-once", "exit-125"):
            code, report, _ = self.self_check(mode)
            self.assertEqual(code, 0, mode)
            self.assertTrue(report["ok"])
            self.assertRegex(report["revision"], "^[0-9a-f]{64}$")
            self.assertEqual(report["checks"], [{"name": "fake", "ok": True, "ms": 0}])

    def test_self_check_fails(self):
        code, report, errors = self.self_check("fail-self-check")
        self.assertEqual(code, 1)
        self.assertFalse(report["ok"])
        self.assertEqual(report["checks"], [
            {"name": "migrations", "ok": False, "ms": 1, "error": "deliberately failing self-check"}])
        self.assertIn("misbehaving-worker:", errors)

    def test_copies_differ(self):
        with open(self.revision_file("healthy"), "rb") as one, open(self.revision_file("no-poll"), "rb") as two:
            self.assertNotEqual(one.read(), two.read())

    # -- modes ----------------------------------------------------------------
    def test_exit_at_once(self):
        proc = self.start("exit-at-once")
        self.assertEqual(proc.wait(timeout=5), 3)
        self.assertEqual(self.supervisor.methods(), [])
        self.assertIn("mode exit-at-once, pid %d" % proc.pid, self.errors())

    def test_exit_125(self):
        proc = self.start("exit-125")
        self.assertEqual(proc.wait(timeout=5), 125)
        self.assertEqual(self.supervisor.methods(), [])
        self.assertIn("exiting with status 125 at once", self.errors())

    def test_never_ready(self):
        self.start("never-ready")
        self.assert_said_hello()
        time.sleep(0.5)
        self.assert_alive()
        self.assertEqual(self.supervisor.methods(), ["Hello"])
        self.assertIn("never saying Ready", self.errors())
        # A hung process: SIGTERM's default disposition ends it.
        self.proc.terminate()
        self.assertEqual(self.proc.wait(timeout=5), -signal.SIGTERM)

    def test_hang_after_ready(self):
        self.start("hang-after-ready")
        self.assertEqual(len(self.supervisor.wait_for("Ready")), 1, self.errors())
        time.sleep(0.5)  # five heartbeat intervals
        self.assert_alive()
        self.assertEqual(self.supervisor.methods(), ["Hello", "Ready"])
        self.assertIn("hanging now", self.errors())

    def test_no_poll(self):
        self.start("no-poll")
        ready_at = time.time() * 1000
        self.supervisor.wait_for("Ready")
        counters = self.assert_heartbeats(4)
        polls = {entry["lastPollCompletedMs"] for entry in counters}
        self.assertEqual(len(polls), 1, counters)
        self.assertLess(abs(polls.pop() - ready_at), 3000)
        beats = self.supervisor.requests("Heartbeat")
        gaps = [later[0] - earlier[0] for earlier, later in zip(beats, beats[1:])]
        self.assertTrue(all(0.05 < gap < 1.0 for gap in gaps), gaps)
        self.assertIn("polling wedged", self.errors())
        self.proc.terminate()
        self.assertEqual(self.proc.wait(timeout=5), 0)

    def test_crash_after(self):
        self.start("crash-after", crash_after=1)
        counters = self.assert_heartbeats(3)
        self.assertLess(counters[0]["lastPollCompletedMs"], counters[2]["lastPollCompletedMs"])
        self.assertEqual(self.proc.wait(timeout=5), -signal.SIGSEGV)
        self.assertIn("crashing now", self.errors())
        self.assertFalse(any(name.startswith("core") for name in os.listdir(self.elsewhere)))

    def test_healthy(self):
        self.start("healthy")
        _, hello_connection, _, _ = self.assert_said_hello()
        replies = self.supervisor.wait_for("ChatReply")
        self.assertEqual(len(replies), 1, self.errors())
        _, reply_connection, _, reply = replies[0]
        self.assertEqual(reply["parameters"], {"id": "n1", "text": "fake worker: hi", "error": None, "runId": None})
        counters = self.assert_heartbeats(3)
        self.assertLess(counters[0]["lastPollCompletedMs"], counters[2]["lastPollCompletedMs"])
        self.assertEqual(counters[0]["updatesReceived"], 0)
        # Like the real worker: calls on the Hello connection, the notice stream on a connection of its own.
        _, subscribe_connection, _, subscribe = self.supervisor.requests("Subscribe")[0]
        self.assertIs(subscribe.get("more"), True)
        self.assertNotEqual(subscribe_connection, hello_connection)
        self.assertEqual(reply_connection, hello_connection)
        self.assertEqual({number for _, number, _, _ in self.supervisor.requests("Heartbeat")}, {hello_connection})
        methods = self.supervisor.methods()
        self.assertEqual(methods[:2], ["Hello", "Ready"])
        self.proc.terminate()
        self.assertEqual(self.proc.wait(timeout=5), 0)
        self.assertIn("mode healthy, pid %d" % self.proc.pid, self.errors())

    def test_heartbeats_go_on_while_the_supervisor_prepares_a_working_copy(self):
        # A slow clone must not hold the heartbeats up, or the supervisor would take the worker for hung.
        self.start("healthy", chat="/prepare", prepare_delay=1.0)
        _, hello_connection, _, _ = self.assert_said_hello()
        replies = self.supervisor.wait_for("ChatReply", timeout=5.0)
        self.assertEqual(len(replies), 1, self.errors())
        self.assertEqual(json.loads(replies[0][3]["parameters"]["text"]),
                         {"commit": "c" * 40, "path": "autonous", "created": True})
        (asked_at, prepare_connection, _, _), = self.supervisor.requests("PrepareWorkingCopy")
        self.assertNotIn(prepare_connection, (hello_connection, self.supervisor.requests("Subscribe")[0][1]))
        during = [at for at, _, _, _ in self.supervisor.requests("Heartbeat") if asked_at < at < asked_at + 1.0]
        self.assertGreaterEqual(len(during), 5, self.supervisor.requests("Heartbeat"))
        self.proc.terminate()
        self.assertEqual(self.proc.wait(timeout=5), 0)

    def test_fail_self_check_runs_healthy(self):
        self.start("fail-self-check")
        self.assertEqual(len(self.supervisor.wait_for("ChatReply")), 1, self.errors())
        self.assert_heartbeats(2)
        self.proc.terminate()
        self.assertEqual(self.proc.wait(timeout=5), 0)

    def test_exits_when_the_supervisor_hangs_up(self):
        self.start("healthy")
        self.assert_heartbeats(1)
        self.supervisor.hang_up()
        self.assertEqual(self.proc.wait(timeout=5), 70)
        self.assertIn("lost the supervisor", self.errors())

    def test_hello_refused(self):
        proc = self.start("healthy", hello_error="io.autonous.Worker.WrongRevision")
        self.assertEqual(proc.wait(timeout=5), 1)
        self.assertEqual(self.supervisor.methods(), ["Hello"])
        self.assertIn("Hello failed: io.autonous.Worker.WrongRevision", self.errors())


if __name__ == "__main__":
    unittest.main()
