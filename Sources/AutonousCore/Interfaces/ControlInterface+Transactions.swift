/// The self-update part of `io.autonous.Control`: transactions and the operator's decision on a staged one.
extension ControlInterface {
    static let transactionTypes = """
        # A self-update transaction. state is one of created, building, testing, self_checking, staged, approved,
        # deploying, probation, promoted, or an end: build_failed, test_failed, self_check_failed, rejected,
        # expired, superseded, deploy_failed, reverted, rolled_back. artifactSha256 is what an approval must name;
        # expiresMs is the approval deadline of a staged one. Times are Unix milliseconds.
        type Transaction (
          id: string,
          state: string,
          title: string,
          summary: string,
          requestedBy: string,
          runId: ?string,
          baseRevision: string,
          baseCommit: string,
          commit: ?string,
          artifactSha256: ?string,
          diffstat: ?string,
          testsPassed: ?int,
          testsFailed: ?int,
          reason: ?string,
          createdMs: int,
          updatedMs: int,
          expiresMs: ?int
        )

        # One state change of a transaction; from is null for its creation.
        type TransactionStep (
          tsMs: int,
          from: ?string,
          to: string,
          reason: ?string
        )
        """

    static let transactionMethods = """
        # The newest transactions first; limit is 1 to 1000 (default 50).
        method ListTransactions(limit: ?int) -> (transactions: []Transaction)

        # One transaction with its steps and the last lines of its build and test logs.
        method GetTransaction(id: string) -> (
          transaction: Transaction,
          steps: []TransactionStep,
          buildLogTail: []string,
          testLogTail: []string
        )

        # Approves (approve: true) or rejects a staged transaction as the calling user. sha256 must be the staged
        # artifact's (a decision names exactly what it approves). An approved one is deployed at once.
        method DecideUpdate(id: string, approve: bool, sha256: string) -> (transaction: Transaction, message: string)

        # No transaction has this id.
        error TransactionNotFound (id: string)

        # The decision was refused: message names the transaction and why (not staged, already decided, expired,
        # the sha256 does not match).
        error UpdateDecisionRefused (id: string, message: string)
        """

    public struct TransactionInfo: Codable, Sendable, Equatable {
        public var id: String
        public var state: String
        public var title: String
        public var summary: String
        public var requestedBy: String
        public var runId: String?
        public var baseRevision: String
        public var baseCommit: String
        public var commit: String?
        public var artifactSha256: String?
        public var diffstat: String?
        public var testsPassed: Int?
        public var testsFailed: Int?
        public var reason: String?
        public var createdMs: Int64
        public var updatedMs: Int64
        public var expiresMs: Int64?

        public init(
            id: String, state: String, title: String, summary: String, requestedBy: String, runId: String?,
            baseRevision: String, baseCommit: String, commit: String?, artifactSha256: String?, diffstat: String?,
            testsPassed: Int?, testsFailed: Int?, reason: String?, createdMs: Int64, updatedMs: Int64,
            expiresMs: Int64?
        ) {
            self.id = id
            self.state = state
            self.title = title
            self.summary = summary
            self.requestedBy = requestedBy
            self.runId = runId
            self.baseRevision = baseRevision
            self.baseCommit = baseCommit
            self.commit = commit
            self.artifactSha256 = artifactSha256
            self.diffstat = diffstat
            self.testsPassed = testsPassed
            self.testsFailed = testsFailed
            self.reason = reason
            self.createdMs = createdMs
            self.updatedMs = updatedMs
            self.expiresMs = expiresMs
        }
    }

    public struct TransactionStep: Codable, Sendable, Equatable {
        public var tsMs: Int64
        public var from: String?
        public var to: String
        public var reason: String?

        public init(tsMs: Int64, from: String?, to: String, reason: String?) {
            self.tsMs = tsMs
            self.from = from
            self.to = to
            self.reason = reason
        }
    }

    public struct ListTransactionsRequest: Codable, Sendable, Equatable {
        public var limit: Int?
        public init(limit: Int?) { self.limit = limit }
    }

    public struct TransactionList: Codable, Sendable, Equatable {
        public var transactions: [TransactionInfo]
        public init(transactions: [TransactionInfo]) { self.transactions = transactions }
    }

    public struct GetTransactionRequest: Codable, Sendable, Equatable {
        public var id: String
        public init(id: String) { self.id = id }
    }

    public struct TransactionDetail: Codable, Sendable, Equatable {
        public var transaction: TransactionInfo
        public var steps: [TransactionStep]
        public var buildLogTail: [String]
        public var testLogTail: [String]

        public init(
            transaction: TransactionInfo, steps: [TransactionStep], buildLogTail: [String], testLogTail: [String]
        ) {
            self.transaction = transaction
            self.steps = steps
            self.buildLogTail = buildLogTail
            self.testLogTail = testLogTail
        }
    }

    public struct DecideUpdateRequest: Codable, Sendable, Equatable {
        public var id: String
        public var approve: Bool
        public var sha256: String

        public init(id: String, approve: Bool, sha256: String) {
            self.id = id
            self.approve = approve
            self.sha256 = sha256
        }
    }

    public struct DecideUpdateResponse: Codable, Sendable, Equatable {
        public var transaction: TransactionInfo
        public var message: String

        public init(transaction: TransactionInfo, message: String) {
            self.transaction = transaction
            self.message = message
        }
    }
}
