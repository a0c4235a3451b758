#!/usr/bin/env python3
"""The agent's own cost, on real processes (a release build) against the fake Telegram and OpenAI servers:

  agent_latency.py BIN_DIR [MESSAGES] [--json FILE]

  - overhead per turn: the agent's time outside the model call and the tools (what `agent.completed` records as
    `overhead_us`) over the run's turns, with the zero-latency scripted model (AUTONOUS_MODEL_PROVIDER=scripted)
    answering every message after TURNS-1 turns that each call the `grep` tool; target under 2 ms at the median.
    Beside it, a one-turn run's overhead and what one more turn adds (the difference of the medians);
  - Telegram message -> first visible text (the first draft of the answer) and -> the final reply, with the fake
    OpenAI server answering at once and streaming; target under 30 ms to first text at the median;
  - /cancel sent while a 30 s bash call runs -> the "Stopped" reply, and -> the command's process gone (5 runs);
    target under 1 s.

BIN_DIR holds autonous-supervisord, autonous-worker and autonous-sandbox. Each figure is the median, min and max
over MESSAGES messages (default 20), sent one after the other to a private chat. Times are taken from the fake
Telegram server's own record of each request, against the time the test put the message in its queue. With
--json, writes the figures in the shared shape of figures.py. scripts/bench/peers.py measures message -> reply
again, beside nanobot's, in alternating rounds.
"""
import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import figures  # noqa: E402
from revisions import FAKES, KEY, TOKEN, USER, Daemon, http  # noqa: E402

TURNS = 5


def wait_sent(port, count, timeout=60):
    reply = http(port, "POST", "/_fake/wait", {"what": "sent", "count": count, "timeout": timeout})
    if not reply.get("ok"):
        raise RuntimeError("only %s of %d answers arrived" % (reply.get("count"), count))


def requests_after(port, method, since):
    return [r for r in http(port, "GET", "/_fake/requests?method=" + method) if r["ts"] >= since]


def run_overheads(bin_dir, ports, messages, scratch, turns):
    """Sends `messages` messages to a daemon whose scripted model calls `grep` turns-1 times, then answers; returns
    each run's own overhead in ms (what `agent.completed` records as `overhead_us`)."""
    steps = []
    for message in range(messages):
        for turn in range(turns - 1):
            # Another pattern each turn: the same call with the same result would be stopped as no progress.
            steps.append({"tool_calls": [{"name": "grep", "arguments": {"pattern": "needle-%d" % turn, "path": "."},
                                          "id": "call_%d_%d" % (message, turn)}]})
        steps.append({"text": "done %d" % message})
    script = os.path.join(scratch, "script.json")
    with open(script, "w") as f:
        json.dump(steps, f)
    # The sandboxed worker runs as an unprivileged uid and reads the script itself.
    os.chmod(scratch, 0o755)
    os.chmod(script, 0o644)
    daemon = Daemon(bin_dir, ports, {
        "AUTONOUS_MODEL_PROVIDER": "scripted", "AUTONOUS_MODEL_SCRIPT": script,
        "AUTONOUS_MAX_TURNS": str(turns + 1), "AUTONOUS_TELEGRAM_STREAMING": "off",
    })
    try:
        daemon.ready()
        http(ports["telegram"], "POST", "/_fake/reset")
        for message in range(messages):
            http(ports["telegram"], "POST", "/_fake/message", {"from_id": USER, "text": "go %d" % message})
            wait_sent(ports["telegram"], message + 1)
        database = sqlite3.connect("file:%s/state/worker/worker.db?mode=ro" % daemon.directory, uri=True)
        rows = database.execute(
            "SELECT payload FROM events WHERE type = 'agent.completed' ORDER BY id").fetchall()
        database.close()
        payloads = [json.loads(p) for (p,) in rows]
        if len(payloads) != messages or any("overhead_us" not in p for p in payloads):
            # A worker built before runs recorded their overhead: say so rather than fail the whole script.
            print("agent_latency: agent.completed has no overhead_us (%s); this worker build does not record it"
                  % (payloads[:1],), file=sys.stderr)
            return []
        taken = [p["turns"] for p in payloads]
        if any(t != turns for t in taken):
            raise RuntimeError("runs took %s turns, not %d each" % (taken, turns))
        return [p["overhead_us"] / 1000.0 for p in payloads]
    finally:
        daemon.stop()


def first_text_and_reply(bin_dir, ports, messages):
    """Sends `messages` messages, one at a time, to a daemon whose model (the fake OpenAI) answers at once."""
    daemon = Daemon(bin_dir, ports, {})
    first, final = [], []
    try:
        daemon.ready()
        http(ports["telegram"], "POST", "/_fake/reset")
        for message in range(messages):
            started = time.time()
            http(ports["telegram"], "POST", "/_fake/message", {"from_id": USER, "text": "hello %d" % message})
            wait_sent(ports["telegram"], message + 1)
            drafts = requests_after(ports["telegram"], "sendMessageDraft", started)
            sent = requests_after(ports["telegram"], "sendMessage", started)
            final.append((sent[0]["ts"] - started) * 1000)
            first.append((min([d["ts"] for d in drafts] + [sent[0]["ts"]]) - started) * 1000)
        return first, final
    finally:
        daemon.stop()


def processes_with(marker):
    count = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                count += marker.encode() in f.read()
        except OSError:
            pass
    return count


def cancel_latency(bin_dir, ports, runs):
    """/cancel sent while a 30 s bash call runs -> the "Stopped" reply, and -> the command gone."""
    daemon = Daemon(bin_dir, ports, {})
    replies, killed = [], []
    try:
        daemon.ready()
        for run in range(runs):
            http(ports["telegram"], "POST", "/_fake/reset")
            http(ports["openai"], "POST", "/_fake/reset")
            marker = "autonous-bench-cancel-%d-%d" % (os.getpid(), run)
            http(ports["openai"], "POST", "/_fake/script", {"responses": [
                {"tool_calls": [{"id": "call_%d" % run, "name": "bash",
                                 "arguments": {"command": "sleep 30 # " + marker, "timeout_seconds": 60}}]},
                {"content": "never asked for"},
            ]})
            http(ports["telegram"], "POST", "/_fake/message", {"from_id": USER, "text": "sleep %d" % run})
            deadline = time.monotonic() + 60
            while processes_with(marker) == 0:
                if time.monotonic() > deadline:
                    raise RuntimeError("the bash call did not start")
                time.sleep(0.01)
            started = time.time()
            http(ports["telegram"], "POST", "/_fake/message", {"from_id": USER, "text": "/cancel"})
            wait_sent(ports["telegram"], 1)
            sent = requests_after(ports["telegram"], "sendMessage", started)
            replies.append((sent[0]["ts"] - started) * 1000)
            while processes_with(marker) > 0:
                if time.monotonic() > deadline + 30:
                    raise RuntimeError("the bash call outlived /cancel")
                time.sleep(0.005)
            killed.append((time.time() - started) * 1000)
            http(ports["openai"], "POST", "/_fake/reset")
        return replies, killed
    finally:
        daemon.stop()


def summary(name, samples, target=None):
    if not samples:
        return "| %s | - | - | - | 0 | %s |" % (name, target or "")
    return "| %s | %.2f | %.2f | %.2f | %d | %s |" % (
        name, statistics.median(samples), min(samples), max(samples), len(samples), target or "")


OVERHEAD_NO_PEER = ("nanobot records no overhead of its own per run; what compares is the whole message -> reply, "
                    "which peers.py measures beside nanobot's.")
CANCEL_NO_PEER = ("nanobot has a /stop command, but this harness does not drive a long tool call in nanobot (its "
                  "exec tool would run unsandboxed on this host), so there is no peer figure yet.")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bin_dir")
    parser.add_argument("messages", nargs="?", type=int, default=20)
    parser.add_argument("--cancel-runs", type=int, default=5)
    parser.add_argument("--json", help="write the figures to this file (figures.py's shape)")
    args = parser.parse_args()
    bin_dir = os.path.abspath(args.bin_dir)
    messages = args.messages
    fakes = subprocess.Popen([sys.executable, FAKES, "--telegram-token", TOKEN, "--openai-key", KEY],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    ports = json.loads(fakes.stdout.readline())
    scratch = tempfile.mkdtemp(prefix="aut-bench-agent-")
    try:
        long_runs = run_overheads(bin_dir, ports, messages, scratch, TURNS)
        short_runs = run_overheads(bin_dir, ports, messages, scratch, 1)
        per_turn = [run / TURNS for run in long_runs]
        # What one more turn adds: the runs' start and end (history, the first and last transactions, the reply)
        # are paid once per run, whatever its turns.
        marginal = None
        if long_runs and short_runs:
            marginal = (statistics.median(long_runs) - statistics.median(short_runs)) / (TURNS - 1)
        first, final = first_text_and_reply(bin_dir, ports, messages)
        replies, killed = cancel_latency(bin_dir, ports, args.cancel_runs)
    finally:
        fakes.stdin.close()
        fakes.wait(timeout=10)
        subprocess.run(["rm", "-rf", scratch], check=False)
    print("| figure | median ms | min ms | max ms | runs | target |")
    print("|---|---|---|---|---|---|")
    print(summary("agent overhead per turn (scripted model, run overhead / %d turns with `grep`)" % TURNS, per_turn,
                  "< 2 ms"))
    print(summary("agent overhead of a one-turn run (scripted model, answer only)", short_runs))
    print("| agent overhead of one more turn (medians: (%d-turn run - 1-turn run) / %d) | %s | | | | |"
          % (TURNS, TURNS - 1, "-" if marginal is None else "%.2f" % marginal))
    print(summary("Telegram message -> first visible text (zero-latency model)", first, "< 30 ms"))
    print(summary("Telegram message -> final reply (zero-latency model)", final))
    print(summary("/cancel during a 30 s bash call -> the \"Stopped\" reply", replies, "< 1000 ms"))
    print(summary("/cancel during a 30 s bash call -> its command gone", killed))
    overhead = ("What agent.completed records as overhead_us: the agent's time outside the model call and the "
                "tools, with the zero-latency scripted model. ")
    unrecorded = None if long_runs else "this worker build records no overhead_us in agent.completed"
    figures.write(args.json, [
        figures.figure("agent.overhead_per_turn",
                       "agent overhead per turn (%d-turn runs calling `grep`, / %d)" % (TURNS, TURNS), "ms",
                       per_turn, target=figures.absolute_max(2.0), note=overhead, missing=unrecorded,
                       no_peer=OVERHEAD_NO_PEER),
        figures.figure("agent.overhead_one_turn", "agent overhead of a one-turn run (answer only)", "ms",
                       short_runs, note=overhead, missing=unrecorded, no_peer=OVERHEAD_NO_PEER),
        figures.figure("agent.overhead_marginal_turn", "agent overhead of one more turn (from the two medians)",
                       "ms", [] if marginal is None else [marginal], missing=unrecorded,
                       note="(median of the %d-turn runs - median of the one-turn runs) / %d: one derived number, "
                       "not a median of runs." % (TURNS, TURNS - 1)),
        figures.figure("agent.first_text", "Telegram message -> first visible text (one daemon alone)", "ms",
                       first, target=figures.absolute_max(30.0),
                       note="The first sendMessageDraft or sendMessage after the message; the fake OpenAI server "
                       "answers at once, streaming. peers.py measures this again beside nanobot."),
        figures.figure("agent.reply", "Telegram message -> final reply (one daemon alone)", "ms", final),
        figures.figure("agent.cancel_reply", "/cancel during a 30 s bash call -> the \"Stopped\" reply", "ms",
                       replies, target=figures.absolute_max(1000.0), no_peer=CANCEL_NO_PEER),
        figures.figure("agent.cancel_killed", "/cancel during a 30 s bash call -> its command gone", "ms", killed,
                       no_peer=CANCEL_NO_PEER),
    ])


if __name__ == "__main__":
    main()
