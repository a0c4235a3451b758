import AutonousCore
import Foundation
import GRDB
import Synchronization
import Testing

@testable import Supervisord

/// The self-update transaction store on a real supervisor database: legal paths, refusals with their exact errors,
/// one write transaction per step, append-only history, queueing and recovery after a restart.
@Suite struct TransactionStoreTests {
    /// The way from `created` to every state, one transition (or decision) at a time.
    static let routes: [TransactionState: [TransactionState]] = {
        let staged: [TransactionState] = [.building, .testing, .selfChecking, .staged]
        let deploying = staged + [.approved, .deploying]
        return [
            .created: [], .building: [.building], .testing: [.building, .testing],
            .selfChecking: [.building, .testing, .selfChecking], .staged: staged, .approved: staged + [.approved],
            .deploying: deploying, .probation: deploying + [.probation],
            .promoted: deploying + [.probation, .promoted],
            .rolledBack: deploying + [.probation, .promoted, .rolledBack],
            .buildFailed: [.building, .buildFailed], .testFailed: [.building, .testing, .testFailed],
            .selfCheckFailed: [.building, .testing, .selfChecking, .selfCheckFailed], .rejected: staged + [.rejected],
            .expired: staged + [.expired], .superseded: [.superseded], .deployFailed: deploying + [.deployFailed],
            .reverted: deploying + [.probation, .reverted],
        ]
    }()

    /// Creates a transaction and moves it along `routes[state]`.
    @discardableResult
    static func drive(_ fixture: TransactionFixture, to state: TransactionState) throws -> Transaction {
        var transaction = try fixture.store.create(TransactionFixture.proposal())
        for next in routes[state] ?? [] {
            switch next {
            case .approved, .rejected:
                transaction = try fixture.decide(
                    TransactionFixture.shell(transaction.id, next == .approved ? .approve : .reject))
            case .staged:
                transaction = try fixture.store.transition(
                    transaction.id, to: .staged, reason: nil, fields: fixture.stagingFields)
            default:
                transaction = try fixture.store.transition(transaction.id, to: next, reason: "to \(next.rawValue)")
            }
        }
        return transaction
    }

    @Test func everyRouteIsLegalAndEveryStateIsReachable() {
        #expect(Set(Self.routes.keys) == Set(TransactionState.allCases))
        for (state, route) in Self.routes {
            var from = TransactionState.created
            for next in route {
                #expect(from.canMove(to: next), "\(from.rawValue) → \(next.rawValue) on the way to \(state.rawValue)")
                from = next
            }
        }
    }

    @Test func theLegalTransitionsAreTheDocumentedOnes() {
        let expected: [TransactionState: Set<TransactionState>] = [
            .created: [.building, .buildFailed, .superseded], .building: [.testing, .buildFailed],
            .testing: [.selfChecking, .testFailed], .selfChecking: [.staged, .selfCheckFailed],
            .staged: [.approved, .rejected, .expired, .superseded], .approved: [.deploying, .expired, .superseded],
            .deploying: [.probation, .deployFailed], .probation: [.promoted, .reverted], .promoted: [.rolledBack],
        ]
        for from in TransactionState.allCases {
            for to in TransactionState.allCases {
                #expect(from.canMove(to: to) == (expected[from]?.contains(to) ?? false), "\(from) → \(to)")
            }
            #expect(from.isTerminal == (expected[from] == nil), "\(from)")
        }
        let inFlight = TransactionState.allCases.filter(\.isInFlight)
        #expect(inFlight == [.building, .testing, .selfChecking, .deploying, .probation])
        #expect(TransactionState.selfChecking.rawValue == "self_checking")
        for state in TransactionState.allCases {
            #expect(state.eventType.rawValue == "update." + state.rawValue, "\(state)")
        }
    }

    @Test func theWayThroughEndsPromotedWithAStepAndAnEventPerState() throws {
        let fixture = try TransactionFixture()
        let promoted = try Self.drive(fixture, to: .rolledBack)
        #expect(promoted.state == .rolledBack && promoted.reason == "to rolled_back")
        #expect(promoted.artifactSHA256 == TransactionFixture.artifact && promoted.testsPassed == 12)
        #expect(try fixture.store.get(promoted.id) == promoted)
        #expect(promoted.proposal == TransactionFixture.proposal())

        let steps = try fixture.store.steps(promoted.id)
        #expect(steps.map(\.to) == [.created] + (Self.routes[.rolledBack] ?? []))
        #expect(steps.first?.from == nil && steps.dropFirst().map(\.from) == steps.dropLast().map(\.to))
        let events = try fixture.events()
        #expect(events.map(\.type) == steps.map(\.to.eventType.rawValue))
        #expect(steps.map(\.eventID) == events.map(\.id))
        let creation = events.first?.id
        for event in events {
            #expect(event.payload.objectValue?["tx"]?.stringValue == promoted.id)
            #expect(event.runID == "run-1")
            if event.id != creation { #expect(event.parentID == creation) }
        }
        let approval = try #require(events.first { $0.type == "update.approved" })
        #expect(approval.payload.objectValue?["decided_by"]?.stringValue == "shell:root")
    }

    @Test(arguments: TransactionState.allCases)
    func everyIllegalTransitionIsRefusedNamingTheState(_ state: TransactionState) throws {
        let fixture = try TransactionFixture()
        let transaction = try Self.drive(fixture, to: state)
        let steps = try fixture.count("transaction_steps")
        for target in TransactionState.allCases where !state.canMove(to: target) && !target.needsDecision {
            let error = #expect(throws: TransactionError.self) {
                try fixture.store.transition(transaction.id, to: target, reason: nil)
            }
            #expect(error == .illegalTransition(transaction.id, from: state, to: target))
        }
        #expect(try fixture.count("transaction_steps") == steps)
        #expect(try fixture.store.get(transaction.id) == transaction)
    }

    @Test func refusalsSayWhatIsWrong() throws {
        let fixture = try TransactionFixture()
        let testing = try Self.drive(fixture, to: .testing)
        #expect(
            TransactionError.illegalTransition(testing.id, from: .testing, to: .staged).description
                == "transaction \(testing.id) is testing and cannot become staged")
        let decision = #expect(throws: TransactionError.self) {
            try fixture.store.transition(testing.id, to: .approved, reason: nil)
        }
        #expect(decision == .decisionRequired(testing.id, to: .approved))
        #expect(throws: TransactionError.notFound("tx-aaaaaaaa")) {
            try fixture.store.transition("tx-aaaaaaaa", to: .building, reason: nil)
        }
        try fixture.store.transition(testing.id, to: .selfChecking, reason: nil)
        var fields = fixture.stagingFields
        fields.expiresMs = nil
        #expect(throws: TransactionError.missingField(testing.id, state: .staged, field: "an approval deadline")) {
            try fixture.store.transition(testing.id, to: .staged, reason: nil, fields: fields)
        }
        fields = Transaction.Update(artifactSHA256: "ABC")
        let malformed = #expect(throws: AutonousError.self) {
            try fixture.store.transition(testing.id, to: .staged, reason: nil, fields: fields)
        }
        #expect(malformed?.code == .invalidArgument)
        #expect(try fixture.store.get(testing.id)?.state == .selfChecking)
    }

    @Test func aMalformedProposalCreatesNothing() throws {
        let fixture = try TransactionFixture()
        var proposal = TransactionFixture.proposal()
        proposal.patchSHA256 = "not a sha"
        let error = #expect(throws: AutonousError.self) { try fixture.store.create(proposal) }
        #expect(error?.message == "cannot record the proposal: the patch sha256 'not a sha' is not a sha256")
        proposal = TransactionFixture.proposal("  ")
        #expect(throws: AutonousError.self) { try fixture.store.create(proposal) }
        #expect(try fixture.count("transactions") == 0 && fixture.events().isEmpty)
    }

    @Test func onePipelineRunsAtATimeAndTheOldestProposalIsNext() throws {
        let fixture = try TransactionFixture()
        #expect(try fixture.store.nextQueued() == nil && fixture.store.inFlight() == nil)
        let first = try fixture.store.create(TransactionFixture.proposal("first"))
        fixture.clock.advance(by: 1)
        let second = try fixture.store.create(TransactionFixture.proposal("second"))
        let third = try fixture.store.create(TransactionFixture.proposal("third"))
        #expect(try fixture.store.nextQueued()?.id == first.id)

        try fixture.store.transition(first.id, to: .building, reason: nil)
        #expect(try fixture.store.nextQueued() == nil)
        #expect(try fixture.store.inFlight()?.id == first.id)
        let busy = #expect(throws: TransactionError.self) {
            try fixture.store.transition(second.id, to: .building, reason: nil)
        }
        #expect(busy == .busy(second.id, running: first.id, state: .building))
        #expect(
            busy?.description
                == "transaction \(second.id) must wait: \(first.id) is building, and one update runs at a time")

        try fixture.store.transition(first.id, to: .buildFailed, reason: "error: cannot find 'x' in scope")
        #expect(try fixture.store.inFlight() == nil)
        #expect(try fixture.store.nextQueued()?.id == second.id)
        try fixture.store.transition(second.id, to: .superseded, reason: "the base is no longer current")
        #expect(try fixture.store.nextQueued()?.id == third.id)
        #expect(try fixture.store.list(limit: 2).map(\.id) == [third.id, second.id])
        #expect(try fixture.store.list(limit: 10).map(\.proposal.title) == ["third", "second", "first"])
    }

    @Test func idsAreShortAndNeverLookLikeToolApprovalIDs() throws {
        for _ in 0 ..< 2000 {
            let id = Transaction.newID()
            #expect(Transaction.isWellFormedID(id), "\(id)")
            #expect(!Approvals.isWellFormedID(id), "\(id)")
            #expect(id.count == 11 && id.hasPrefix("tx-"))
        }
        for bad in ["tx-ABCDEFGH", "tx-abcdefg", "tx-abcdefgh1", "tx-abcdefg1", "txabcdefghi", "abcdefgh"] {
            #expect(!Transaction.isWellFormedID(bad), "\(bad)")
        }
        let fixture = try TransactionFixture(newID: { "abcdefgh" })
        let refused = #expect(throws: AutonousError.self) { try fixture.store.create(TransactionFixture.proposal()) }
        #expect(refused?.code == .database)
    }

    @Test func aTakenIDIsNeverReused() throws {
        let ids = Mutex(["tx-aaaaaaaa", "tx-aaaaaaaa", "tx-bbbbbbbb"])
        let fixture = try TransactionFixture(newID: { ids.withLock { $0.removeFirst() } })
        #expect(try fixture.store.create(TransactionFixture.proposal()).id == "tx-aaaaaaaa")
        #expect(try fixture.store.create(TransactionFixture.proposal()).id == "tx-bbbbbbbb")
    }
}
