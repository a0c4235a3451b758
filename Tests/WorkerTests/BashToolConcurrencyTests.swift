import Foundation
import Testing

@testable import Worker

/// The bash tool waits for its sandbox without holding a thread of the concurrency pool, and cancelling a call stops
/// its sandbox. Run against the real launcher, like `BashToolTests`.
///
/// The pool has one thread per core (two on the build machines): a call that blocked a pool thread while its command
/// ran would let only two of the eight calls below start, and stall everything else in the process meanwhile.
@Suite(.serialized) struct BashToolConcurrencyTests {
    /// The command of call `index`: says and marks that it started, then sleeps as a process whose command line
    /// carries `marker` (so the test can look for it in /proc), and marks that it finished if it ever gets there.
    /// With `ignoringSIGTERM`, bash ignores the SIGTERM passed on to it, so only the SIGKILL after the grace ends it.
    private static func command(_ index: Int, marker: String, ignoringSIGTERM: Bool = false) -> String {
        (ignoringSIGTERM ? "trap '' TERM; " : "")
            + "echo begun; touch started-\(index); (exec -a \(marker)-sleep sleep 25); touch finished-\(index)"
    }

    /// The pids of live processes whose command line contains `marker` (the launcher, the bash processes and the
    /// sleep of a call), or with `argv0`, only those whose first argument is `marker` (the sleep).
    private static func processes(containing marker: String, argv0: Bool = false) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { entry -> Int32? in
            guard let pid = Int32(entry), pid != getpid(),
                let cmdline = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline")
            else { return nil }
            let arguments = cmdline.split(separator: 0, omittingEmptySubsequences: false).map {
                String(decoding: $0, as: UTF8.self)
            }
            let found = argv0 ? arguments.first == marker : arguments.contains { $0.contains(marker) }
            return found ? pid : nil
        }
    }

    /// Waits, bounded, until `count` files named `started-*` exist in `workspace` and `count` sleeps of `marker`
    /// run (a call touches its file just before its sleep starts); returns how many of each were seen last. The
    /// files are made inside other sandboxes (their own mount and pid namespaces): the workspace and /proc are the
    /// only channels back, so this looks at them every 50 ms instead of waiting for a wake-up.
    private static func waitForStarted(
        _ count: Int, in workspace: String, marker: String, within limit: Duration
    ) async throws -> (started: Int, sleeping: Int) {
        let deadline = ContinuousClock.now + limit
        var seen = (started: 0, sleeping: 0)
        while ContinuousClock.now < deadline {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: workspace)) ?? []
            seen.started = names.filter { $0.hasPrefix("started-") }.count
            seen.sleeping = processes(containing: marker + "-sleep", argv0: true).count
            if seen.started >= count && seen.sleeping >= count { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        return seen
    }

    /// Waits, bounded, until no process carries `marker`; returns those still left.
    private static func waitForNoProcess(containing marker: String, within limit: Duration) async throws -> [Int32] {
        let deadline = ContinuousClock.now + limit
        var left = processes(containing: marker)
        while !left.isEmpty && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
            left = processes(containing: marker)
        }
        return left
    }

    @Test func eightCallsRunAtOnceAndCancellingThemStopsEverySandbox() async throws {
        let workspace = try BashToolTests.Workspace()
        let tool = BashToolTests.tool(workspace)
        let marker = "autonous-pool-\(UUID().uuidString.prefix(8).lowercased())"
        let calls = 8
        // How long a cancelled call may take to come back: SIGTERM, the launcher's grace, SIGKILL, and slack for
        // this test process, whose two pool threads are shared with the 500 other unit tests running at the same
        // time (the calls resume only when a pool thread is free). It stays well under the commands' own 25 s sleep,
        // so a call that was not stopped fails it; how fast /cancel answers a user is measured end to end
        // (`cancelStopsARunInTheMiddleOfALongBashCall`, and `make bench`).
        let prompt = BashTool.cancelGrace + .seconds(13)
        let started = try await withThrowingTaskGroup(
            of: (index: Int, result: ToolResult, returned: ContinuousClock.Instant).self
        ) { group in
            for index in 0 ..< calls {
                group.addTask {
                    let result = await tool.run(
                        .init(command: Self.command(index, marker: marker), timeoutSeconds: 30, network: nil))
                    return (index, result, ContinuousClock.now)
                }
            }
            let seen = try await Self.waitForStarted(calls, in: workspace.path, marker: marker, within: .seconds(30))
            #expect(seen.sleeping == calls, "\(seen.sleeping) of the \(calls) commands' sleeps run at once")
            let cancelledAt = ContinuousClock.now
            group.cancelAll()
            var returned = 0
            for try await call in group {
                returned += 1
                #expect(call.result.ok == false, "call \(call.index): \(call.result)")
                #expect(call.result.exitCode == nil, "call \(call.index): \(call.result)")
                #expect(call.result.stderr.hasSuffix(BashTool.cancelledNote), "call \(call.index): \(call.result)")
                #expect(call.returned - cancelledAt < prompt, "call \(call.index) took \(call.returned - cancelledAt)")
            }
            #expect(returned == calls)
            return seen.started
        }
        #expect(started == calls, "only \(started) of \(calls) calls started within 30 s")
        let left = try await Self.waitForNoProcess(containing: marker, within: .seconds(5))
        #expect(left.isEmpty, "processes of the cancelled calls still alive: \(left)")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: workspace.path)) ?? []
        #expect(names.filter { $0.hasPrefix("finished-") }.isEmpty, "\(names)")
    }

    /// Cancelling sends SIGTERM to the launcher (passed on to the command); a command that ignores it is killed
    /// with the whole sandbox by the SIGKILL `BashTool.cancelGrace` later. Either way the result says the call was
    /// cancelled and keeps the output so far.
    @Test(arguments: [false, true])
    func cancellingOneRunningCallKillsItsCommand(ignoringSIGTERM: Bool) async throws {
        let workspace = try BashToolTests.Workspace()
        let tool = BashToolTests.tool(workspace)
        let marker = "autonous-cancel-\(UUID().uuidString.prefix(8).lowercased())"
        let command = Self.command(0, marker: marker, ignoringSIGTERM: ignoringSIGTERM)
        let call = Task {
            let result = await tool.run(.init(command: command, timeoutSeconds: 30, network: nil))
            return (result, ContinuousClock.now)
        }
        let seen = try await Self.waitForStarted(1, in: workspace.path, marker: marker, within: .seconds(30))
        #expect(seen.started == 1, "the call did not start within 30 s")
        #expect(seen.sleeping == 1, "the command's sleep is not running")
        let cancelledAt = ContinuousClock.now
        call.cancel()
        let (result, returned) = await call.value
        let took = returned - cancelledAt
        // Well short of the call's 30 s timeout, which is what a missed cancellation would wait for; the margin is
        // wide because a loaded machine (the suite's other tests) slows the sandbox's teardown.
        #expect(took < BashTool.cancelGrace + .seconds(15), "took \(took)")
        if ignoringSIGTERM {
            #expect(took >= BashTool.cancelGrace, "a command ignoring SIGTERM ended after \(took), before the SIGKILL")
        } else {
            #expect(took < BashTool.cancelGrace, "SIGTERM alone should have ended it; took \(took)")
        }
        #expect(result.stdout == "begun\n")
        #expect(result.ok == false)
        #expect(result.exitCode == nil)
        #expect(result.stderr.hasSuffix(BashTool.cancelledNote), "\(result.stderr)")
        let left = try await Self.waitForNoProcess(containing: marker, within: .seconds(5))
        #expect(left.isEmpty, "processes of the cancelled call still alive: \(left)")
        #expect(!FileManager.default.fileExists(atPath: workspace.path + "/finished-0"))
    }
}
