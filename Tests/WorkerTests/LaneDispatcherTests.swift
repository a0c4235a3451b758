import AutonousCore
import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import Testing

@testable import Worker

/// The Telegram commander's dispatcher: lanes per chat, a bound on runs at once, postponed rows, shutdown.
@Suite("Lane dispatcher", .timeLimit(.minutes(1)))
struct LaneDispatcherTests {
    /// A database in a fresh temporary directory, removed afterwards.
    final class Scratch {
        let directory: String
        let database: AppDatabase
        var inbox: Inbox { Inbox(database: database) }

        init() throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("lanes-" + UUID().uuidString).path
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            database = try AppDatabase(path: directory + "/worker.db", role: .worker)
        }

        func store(_ messages: [(update: Int64, chat: Int64)]) throws {
            _ = try inbox.store(
                messages.map {
                    NewInboxItem(
                        updateID: $0.update, kind: "message", chatID: $0.chat, userID: $0.chat, text: "m\($0.update)",
                        payload: "{}")
                })
        }

        deinit { try? FileManager.default.removeItem(atPath: directory) }
    }

    /// Holds every run until the test releases it, and records what ran when.
    final class Probe: Sendable {
        struct State {
            var active = 0
            var peak = 0
            var started: [Int64] = []
            var held: [Int64: CheckedContinuation<Void, Never>] = [:]
        }
        let state = Mutex(State())

        /// The handler: counts itself in, waits for `release`, finishes its row, counts itself out.
        func handle(_ item: InboxItem, inbox: Inbox) async {
            await withCheckedContinuation { continuation in
                state.withLock {
                    $0.active += 1
                    $0.peak = max($0.peak, $0.active)
                    $0.started.append(item.updateID)
                    $0.held[item.updateID] = continuation
                }
            }
            try? inbox.finish(item.id, status: .done, outcome: "answered")
            state.withLock { $0.active -= 1 }
        }

        var held: Set<Int64> { state.withLock { Set($0.held.keys) } }
        var started: [Int64] { state.withLock { $0.started } }
        var peak: Int { state.withLock { $0.peak } }

        func release(_ update: Int64) {
            state.withLock { $0.held.removeValue(forKey: update) }?.resume()
        }
    }

    /// Waits (checking every 10 ms, up to 10 s) until `condition` holds.
    func eventually(_ condition: () throws -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            if try condition() { return true }
            try await Task.sleep(for: .milliseconds(10))
        }
        return try condition()
    }

    func dispatcher(_ scratch: Scratch, limit: Int, doorbell: Doorbell, runs: RunsInFlight = RunsInFlight())
        -> LaneDispatcher
    {
        LaneDispatcher(
            inbox: scratch.inbox, limit: limit, doorbell: doorbell, runs: runs, logger: Logger(label: "test"))
    }

    @Test func noMoreThanTheLimitRunAtOnceAndEveryChatIsServed() async throws {
        let scratch = try Scratch()
        try scratch.store((1 ... 6).map { (update: $0, chat: 100 + $0) })
        let probe = Probe()
        let runs = RunsInFlight()
        let doorbell = Doorbell()
        let inbox = scratch.inbox
        let task = Task {
            await dispatcher(scratch, limit: 2, doorbell: doorbell, runs: runs).run {
                await probe.handle($0, inbox: inbox)
            }
        }
        defer { task.cancel() }
        #expect(try await eventually { probe.held.count == 2 })
        // Give a dispatcher that ignored the bound every chance to start a third run.
        doorbell.ring()
        try await Task.sleep(for: .milliseconds(200))
        #expect(probe.held == [1, 2])
        #expect(runs.count == 2)
        #expect(try inbox.counts() == InboxCounts(queued: 4, inProgress: 2))
        // Each run that ends frees a slot for the next chat, oldest first.
        for update: Int64 in 1 ... 6 {
            probe.release(update)
            #expect(
                try await eventually { probe.held.count == min(2, 6 - Int(update)) && !probe.held.contains(update) })
        }
        #expect(try await eventually { try inbox.counts() == InboxCounts(done: 6) && runs.count == 0 })
        #expect(probe.peak == 2)
        // The first two start side by side (in either order); each later one only when a slot came free.
        #expect(probe.started.prefix(2).sorted() == [1, 2])
        #expect(Array(probe.started.dropFirst(2)) == [3, 4, 5, 6])
    }

    @Test func aChatsNextMessageStartsOnlyAfterItsRunEnded() async throws {
        let scratch = try Scratch()
        try scratch.store([(1, 7), (2, 7), (3, 8), (4, 7)])
        let probe = Probe()
        let inbox = scratch.inbox
        let task = Task {
            await dispatcher(scratch, limit: 4, doorbell: Doorbell()).run { await probe.handle($0, inbox: inbox) }
        }
        defer { task.cancel() }
        #expect(try await eventually { probe.held == [1, 3] })
        probe.release(3)
        try await Task.sleep(for: .milliseconds(200))
        // Chat 8 is done; chat 7 still runs update 1, so update 2 waits although three slots are free.
        #expect(probe.held == [1])
        probe.release(1)
        #expect(try await eventually { probe.held == [2] })
        probe.release(2)
        #expect(try await eventually { probe.held == [4] })
        probe.release(4)
        #expect(try await eventually { try inbox.counts() == InboxCounts(done: 4) })
        #expect(probe.started.prefix(2).sorted() == [1, 3])
        #expect(Array(probe.started.dropFirst(2)) == [2, 4])
    }

    @Test func aPostponedMessageIsTakenWhenDueWithoutARingAndWithoutSpinning() async throws {
        let scratch = try Scratch()
        try scratch.store([(1, 7)])
        let inbox = scratch.inbox
        let claimed = try #require(try inbox.claimNext(runID: "earlier"))
        let due = AppDatabase.nowMilliseconds() + 400
        try await scratch.database.pool.write { db in
            try Inbox.postpone(db, claimed.id, until: due, now: AppDatabase.nowMilliseconds())
        }
        let rounds = Mutex(0)
        let handledAt = Mutex<Int64?>(nil)
        var dispatcher = dispatcher(scratch, limit: 4, doorbell: Doorbell())
        dispatcher.reportQueued = { _ in rounds.withLock { $0 += 1 } }
        let task = Task {
            await dispatcher.run { item in
                handledAt.withLock { $0 = AppDatabase.nowMilliseconds() }
                try? inbox.finish(item.id, status: .done, outcome: "answered")
            }
        }
        defer { task.cancel() }
        #expect(try await eventually { handledAt.withLock { $0 } != nil })
        #expect(try #require(handledAt.withLock { $0 }) >= due)
        // One round at the start, one when it came due (two if the sleep ended a rounding error early), one after the
        // run ended (its ring); a busy loop would make hundreds in those 400 ms.
        #expect(rounds.withLock { $0 } <= 8, "claim rounds: \(rounds.withLock { $0 })")
    }

    @Test func gracefulShutdownStopsClaimingAndLetsTheRunInFlightFinish() async throws {
        let scratch = try Scratch()
        try scratch.store([(1, 7)])
        let probe = Probe()
        let doorbell = Doorbell()
        let inbox = scratch.inbox
        let service = DispatcherService(
            dispatcher: dispatcher(scratch, limit: 4, doorbell: doorbell), probe: probe, inbox: inbox)
        var configuration = ServiceGroupConfiguration(services: [service], logger: Logger(label: "test"))
        configuration.maximumGracefulShutdownDuration = .seconds(30)
        let group = ServiceGroup(configuration: configuration)
        let running = Task { try await group.run() }
        #expect(try await eventually { probe.held == [1] })
        await group.triggerGracefulShutdown()
        try scratch.store([(2, 8)])
        doorbell.ring()
        try await Task.sleep(for: .milliseconds(200))
        // Stopping: the new message is not claimed, and the run in flight goes on until it ends by itself.
        #expect(probe.held == [1])
        #expect(try inbox.counts() == InboxCounts(queued: 1, inProgress: 1))
        probe.release(1)
        try await running.value
        #expect(try inbox.counts() == InboxCounts(queued: 1, done: 1))
    }

    @Test func aRunStillGoingAfterTheGracePeriodIsCancelledAndItsRowStaysRecoverable() async throws {
        let scratch = try Scratch()
        try scratch.store([(1, 7)])
        let inbox = scratch.inbox
        let cancelled = Mutex(false)
        let started = Mutex(false)
        let service = ClosureService(
            dispatcher: dispatcher(scratch, limit: 4, doorbell: Doorbell()),
            handle: { _ in
                started.withLock { $0 = true }
                // Stands in for a run waiting for an approval: it only ends by cancellation.
                while !Task.isCancelled { try? await Task.sleep(for: .seconds(60)) }
                cancelled.withLock { $0 = true }
            })
        var configuration = ServiceGroupConfiguration(services: [service], logger: Logger(label: "test"))
        configuration.maximumGracefulShutdownDuration = .milliseconds(300)
        let group = ServiceGroup(configuration: configuration)
        let running = Task { try await group.run() }
        #expect(try await eventually { started.withLock { $0 } })
        await group.triggerGracefulShutdown()
        _ = try? await running.value
        #expect(cancelled.withLock { $0 })
        #expect(try inbox.counts() == InboxCounts(inProgress: 1))
        #expect(try inbox.requeueInterrupted() == 1)
        #expect(try inbox.claimNext(runID: "next")?.updateID == 1)
    }

    struct DispatcherService: Service {
        let dispatcher: LaneDispatcher
        let probe: Probe
        let inbox: Inbox

        func run() async throws {
            await dispatcher.run { await probe.handle($0, inbox: inbox) }
        }
    }

    struct ClosureService: Service {
        let dispatcher: LaneDispatcher
        let handle: @Sendable (InboxItem) async -> Void

        func run() async throws {
            await dispatcher.run(handle)
        }
    }
}
