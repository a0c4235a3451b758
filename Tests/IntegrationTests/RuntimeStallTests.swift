import AutonousCore
import Foundation
import Testing

/// The runtime under load and at rest, end to end: long tool calls running at once do not hold up the worker's
/// heartbeats or the supervisor's answers, and a daemon with nothing to do uses no measurable CPU, before and after
/// it has answered a message (a Doorbell bug once kept the worker spinning at 1.4 cores after its first message).
@Suite("Runtime stalls", .serialized, .timeLimit(.minutes(5)))
struct RuntimeStallTests {
    /// How many bash calls run at once in `eightConcurrentBashCallsDoNotStallTheWorker`.
    static let concurrentCalls = 8

    /// A model answer with one bash call that marks its start and end with files in the workspace. Between them it
    /// waits (at most 90 s) until all the calls have started, then sleeps 20 s: so all of them sleep at once
    /// however long a loaded machine takes to start the eight sandboxes, and a call that never saw the others
    /// leaves a `timedout-N` mark.
    static func sleepingBashCall(_ n: Int) -> JSONValue {
        .object([
            "tool_calls": .array([
                .object([
                    "id": .string("call_sleep_\(n)"), "name": .string("bash"),
                    "arguments": .object([
                        "command": .string(
                            "touch started-\(n); i=0; "
                                + "while [ $(ls started-* | wc -l) -lt \(concurrentCalls) ] && [ $i -lt 900 ]; do "
                                + "sleep 0.1; i=$((i+1)); done; [ $i -lt 900 ] || touch timedout-\(n); "
                                + "sleep 20; touch finished-\(n)"),
                        "timeout_seconds": .int(150),
                    ]),
                ])
            ])
        ])
    }

    /// The agent runs the tool calls of one turn one after another, so the calls come from eight chats, each in a
    /// lane of its own (eight runs at once). Every command sleeps 20 s; while all eight sleep, the supervisor keeps
    /// getting heartbeats on schedule and answers GetStatus quickly, and the worker is never judged unhealthy.
    @Test func eightConcurrentBashCallsDoNotStallTheWorker() async throws {
        let fakes = try Fakes()
        // Each chat's first model call pops one bash call; every later call is answered "echo: <its text>".
        try await fakes.scriptOpenAI((1 ... Self.concurrentCalls).map(Self.sleepingBashCall))
        let daemon = try Daemon(
            fakes: fakes,
            overrides: [
                "AUTONOUS_MAX_CONCURRENT_RUNS": "\(Self.concurrentCalls)",
                "AUTONOUS_WORKER_HEARTBEAT_INTERVAL": "500ms",
                "AUTONOUS_WORKER_STOP_TIMEOUT": "30s",
            ])
        let workerPID = try #require(await daemon.waitUntilReady()?.worker.pid, "\(daemon.log)")
        // From the first heartbeat on, every status carries the age of the last one.
        let beating = await eventually(timeout: .seconds(10)) { daemon.status()?.worker.heartbeatAgeMs != nil }
        try #require(beating, "no heartbeat arrived\n\(daemon.log)")
        let chats = (1 ... Self.concurrentCalls).map { Int64(1000 + $0) }
        for chat in chats { try await fakes.sendUserMessage(from: 111, chat: chat, text: "sleep in \(chat)") }

        let workspace = daemon.stateDirectory + "/workspace/"
        @Sendable func marked(_ prefix: String) -> Int {
            (1 ... Self.concurrentCalls).count { FileManager.default.fileExists(atPath: workspace + "\(prefix)-\($0)") }
        }
        let allStarted = await eventually(timeout: .seconds(60)) { marked("started") == Self.concurrentCalls }
        try #require(allStarted, "only \(marked("started")) calls started\n\(daemon.log)")
        #expect(marked("finished") == 0, "a call finished before the last one started: they did not run at once")
        #expect(marked("timedout") == 0, "a call waited 90 s for the others to start: they did not run at once")

        // Until the sleeps end (about 20 s): time every GetStatus round trip (connect included, as autonousctl
        // does it) and keep the heartbeat ages the supervisor reports. The sampler runs on a thread of its own:
        // on the test process's 2-thread pool, other suites' blocking helpers would starve it (13 samples in 20 s
        // in one CI run), and what is measured is the daemon, not the test's pool.
        struct Samples: Sendable {
            var roundTrips: [Duration] = []
            var heartbeatAges: [Int?] = []
            var runsInFlight: [Int] = []
            var unanswered = 0
        }
        let samples = await withCheckedContinuation { (continuation: CheckedContinuation<Samples, Never>) in
            Thread {
                var samples = Samples()
                let clock = ContinuousClock()
                let deadline = clock.now + .seconds(60)
                while marked("finished") < Self.concurrentCalls && clock.now < deadline {
                    let start = clock.now
                    let status = daemon.status()
                    samples.roundTrips.append(clock.now - start)
                    if let worker = status?.worker {
                        samples.heartbeatAges.append(worker.heartbeatAgeMs)
                        samples.runsInFlight.append(worker.progress?.runsInFlight ?? -1)
                    } else {
                        samples.unanswered += 1
                    }
                    usleep(100_000)
                }
                continuation.resume(returning: samples)
            }.start()
        }
        let (roundTrips, heartbeatAges, runsInFlight, unanswered) =
            (samples.roundTrips, samples.heartbeatAges, samples.runsInFlight, samples.unanswered)
        #expect(marked("finished") == Self.concurrentCalls, "the calls did not finish\n\(daemon.log)")

        // All eight answers arrive; that the worker answered them is what proves it was never replaced.
        #expect(try await fakes.waitForSent(Self.concurrentCalls, timeout: 60), "\(daemon.log)")
        let sent = try await fakes.sentMessages()
        for chat in chats {
            #expect(ConversationLaneTests.texts(to: chat, in: sent) == ["echo: sleep in \(chat)"], "\(sent)")
        }
        #expect(daemon.status()?.worker.pid == workerPID)
        #expect(try daemon.events("worker.unhealthy").isEmpty, "\(daemon.log)")
        #expect(try daemon.events("worker.exited").isEmpty, "\(daemon.log)")

        let slowest = roundTrips.max() ?? .zero
        let oldestHeartbeat = heartbeatAges.map { $0 ?? Int.max }.max() ?? Int.max
        let summary =
            "\(roundTrips.count) GetStatus samples over the sleeps: slowest round trip \(slowest), "
            + "median \(roundTrips.sorted()[roundTrips.count / 2]); oldest heartbeat \(oldestHeartbeat) ms; "
            + "runs in flight \(Set(runsInFlight).sorted())"
        print("RuntimeStallTests: \(summary)")
        #expect(roundTrips.count >= 50, "\(summary)")
        #expect(unanswered == 0, "GetStatus failed \(unanswered) times; \(summary)")
        // A stalled runtime holds GetStatus for as long as a blocking call lasts (the sleeps take seconds); a
        // loaded 2-core machine alone delays a round trip by tens of milliseconds, so the margin is wide.
        #expect(slowest < .seconds(1), "\(summary)")
        #expect(
            oldestHeartbeat < 1500,
            "heartbeats every 500 ms fell behind; \(summary); ages \(heartbeatAges.map { $0 ?? -1 })")
        #expect(runsInFlight.contains(Self.concurrentCalls), "\(summary)")
        #expect(await daemon.stop() == 0, "\(daemon.log)")
    }

    /// CPU time the supervisor's whole process tree uses over `window`: readings of the tree (each live process
    /// with what it has reaped of its children) at both ends.
    static func cpuSeconds(of daemon: Daemon, over window: Duration) async throws -> (seconds: Double, tree: String) {
        let root = daemon.process.processIdentifier
        let before = ProcessTree(root: root)
        try await Task.sleep(for: window)
        let after = ProcessTree(root: root)
        let ticks = after.cpuTicks - before.cpuTicks
        return (Double(ticks) / Double(ProcessTree.ticksPerSecond), after.table(since: before))
    }

    /// With realistic settings (a 30 s Telegram long poll, heartbeats every 5 s, info logs) an idle daemon (the
    /// supervisor, its launchers and the worker) uses under 1% of one core over 30 s, before its first message and
    /// after answering one, and during its first long poll.
    ///
    /// The first long poll guards against a regression of the URLSession-based transport, which spun the worker at
    /// most of a core while a request on a new connection waited for its answer (29 s of CPU in this window).
    @Test func anIdleDaemonUsesNoMeasurableCPUBeforeAndAfterAnswering() async throws {
        let fakes = try Fakes()
        let daemon = try Daemon(
            fakes: fakes,
            overrides: [
                "AUTONOUS_TELEGRAM_POLL_TIMEOUT": nil, "AUTONOUS_WORKER_HEARTBEAT_INTERVAL": nil,
                "AUTONOUS_WORKER_HEARTBEAT_TIMEOUT": nil, "AUTONOUS_LOG_LEVEL": "info",
            ])
        let ready = try #require(await daemon.waitUntilReady(), "\(daemon.log)")
        let window = Duration.seconds(30)
        let limit = 0.01 * 30
        let root = daemon.process.processIdentifier

        // The first long poll, on a new connection, until the second one goes out (30 s later).
        let start = ProcessTree(root: root)
        let secondPoll = try await fakes.request(
            port: fakes.telegramPort, "POST", "/_fake/wait",
            .object([
                "what": .string("requests"), "method": .string("getUpdates"), "count": .int(2), "timeout": .int(60),
            ]))
        #expect(secondPoll["ok"] == .bool(true), "\(daemon.log)")
        let firstPoll = Double(ProcessTree(root: root).cpuTicks - start.cpuTicks) / Double(ProcessTree.ticksPerSecond)
        print("RuntimeStallTests: during the first long poll (a new connection): \(firstPoll) s CPU")
        #expect(firstPoll < limit, "the first long poll: \(firstPoll) s CPU")

        try await Task.sleep(for: .seconds(1))
        let idle = try await Self.cpuSeconds(of: daemon, over: window)
        print("RuntimeStallTests: idle before a message: \(idle.seconds) s CPU in \(window)\n\(idle.tree)")
        #expect(idle.seconds < limit, "idle before any message: \(idle.seconds) s CPU in \(window)\n\(idle.tree)")

        try await fakes.sendUserMessage(from: 111, text: "hello")
        #expect(try await fakes.waitForSent(1), "\(daemon.log)")
        try await Task.sleep(for: .seconds(2))
        let after = try await Self.cpuSeconds(of: daemon, over: window)
        print("RuntimeStallTests: idle after a message: \(after.seconds) s CPU in \(window)\n\(after.tree)")
        #expect(after.seconds < limit, "idle after answering: \(after.seconds) s CPU in \(window)\n\(after.tree)")

        #expect(daemon.status()?.worker.pid == ready.worker.pid)
        #expect(await daemon.stop() == 0, "\(daemon.log)")
    }
}
