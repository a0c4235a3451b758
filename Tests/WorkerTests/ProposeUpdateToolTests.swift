import AutonousCore
import Foundation
import Testing

@testable import Worker

/// `propose_update` end to end on the worker's side: a real working copy, git in the real sandbox, and the real
/// `SupervisorLink` talking to `FakeSupervisor` over a temporary worker.sock.
@Suite(.serialized) struct ProposeUpdateToolTests {
    private static let origin = ToolCallOrigin(runID: "run-1", requestedBy: "telegram:42")

    /// Calls the tool through the registry, as the agent does, with `supervisor` answering.
    private func propose(
        _ copy: GitWorkingCopy, _ supervisor: FakeSupervisor, summary: String, title: String? = nil,
        maxPatch: Int = 1 << 20
    ) async throws -> ToolResult {
        var arguments: [String: JSONValue] = ["summary": .string(summary)]
        if let title { arguments["title"] = .string(title) }
        var result: ToolResult?
        try await withLink(supervisor) { link, _ in
            let registry = ToolRegistry(
                workspace: copy.workspace, allowlist: [ProposeUpdateTool.name],
                launcher: TestBinaries.path("autonous-sandbox"), updates: link, updateMaxPatch: maxPatch)
            result = await registry.run(
                ToolCall(id: "c", name: ProposeUpdateTool.name, arguments: JSONValue.object(arguments).jsonText),
                origin: Self.origin)
        }
        return try #require(result)
    }

    private static func supervisor(
        _ copy: GitWorkingCopy, created: Bool = false,
        proposal: Result<WorkerInterface.ProposeUpdateReply, VarlinkError> = .success(
            .init(tx: "tx-7", state: "created", message: "The supervisor builds and tests it next."))
    ) -> FakeSupervisor {
        FakeSupervisor(
            workingCopy: .init(commit: copy.base, path: copy.path, created: created), proposal: proposal)
    }

    @Test func aChangeIsProposedForTheRunAndItsSender() async throws {
        let copy = try GitWorkingCopy()
        try copy.write("Sources/Version.swift", "let version = \"2\"\n")
        let supervisor = Self.supervisor(copy)
        let result = try await propose(
            copy, supervisor, summary: "Answer /version with 2\n\nThe users asked for it.")
        #expect(result.ok, "\(result)")
        #expect(result.tier == .exec)
        let request = try #require(supervisor.proposals.withLock { $0.first })
        #expect(request.base == copy.base)
        #expect(request.summary == "Answer /version with 2\n\nThe users asked for it.")
        #expect(request.title == "Answer /version with 2")
        #expect(request.runId == "run-1")
        #expect(request.requestedBy == "telegram:42")
        #expect(request.patch.contains("diff --git a/Sources/Version.swift b/Sources/Version.swift"))
        #expect(
            result.stdout
                == "tx: tx-7\nstate: created\npatch: \(request.patch.utf8.count) bytes against "
                + "\(copy.base.prefix(12))\nThe supervisor builds and tests it next.")
    }

    @Test func aRefusalIsTheSupervisorsMessageVerbatim() async throws {
        let copy = try GitWorkingCopy()
        try copy.write("README.md", "changed\n")
        let message = "the patch touches .git/hooks/pre-commit, outside the repository's files; nothing was created"
        let supervisor = Self.supervisor(
            copy, proposal: .failure(VarlinkError(ProposeUpdateTool.refusedError, ["message": .string(message)])))
        let result = try await propose(copy, supervisor, summary: "Change the README", title: "T")
        #expect(result.ok == false)
        #expect(result.stderr == message)
        #expect(supervisor.proposals.withLock { $0.map(\.title) } == ["T"])
    }

    @Test func noChangesAreRefusedWithoutAProposal() async throws {
        let copy = try GitWorkingCopy()
        let supervisor = Self.supervisor(copy)
        let result = try await propose(copy, supervisor, summary: "Nothing")
        #expect(result.ok == false)
        #expect(
            result.stderr
                == "the working copy at autonous has no changes against \(copy.base.prefix(12)); nothing to propose")
        #expect(supervisor.workingCopyCalls.withLock { $0 } == 1)
        #expect(supervisor.proposals.withLock { $0.isEmpty })

        let created = Self.supervisor(copy, created: true)
        let fresh = try await propose(copy, created, summary: "Nothing")
        #expect(
            fresh.stderr
                == "the working copy at autonous was just created from \(copy.base.prefix(12)) and has no changes "
                + "yet; edit it, then propose again")
    }

    @Test func aPatchOverTheLimitIsRefusedWithItsSizeWithoutAProposal() async throws {
        let copy = try GitWorkingCopy()
        try copy.write("big.txt", String(repeating: "x", count: 5000) + "\n")
        let supervisor = Self.supervisor(copy)
        let result = try await propose(copy, supervisor, summary: "Big", maxPatch: 2048)
        #expect(result.ok == false)
        #expect(result.stderr.hasPrefix("the patch of the working copy at autonous is "), "\(result.stderr)")
        #expect(result.stderr.contains(" bytes, more than the limit of 2048 bytes (AUTONOUS_UPDATE_MAX_PATCH)"))
        #expect(supervisor.proposals.withLock { $0.isEmpty })
    }

    @Test func anEmptySummaryIsRefusedBeforeTheSupervisorIsAsked() async throws {
        let copy = try GitWorkingCopy()
        try copy.write("README.md", "changed\n")
        let supervisor = Self.supervisor(copy)
        let result = try await propose(copy, supervisor, summary: " \n ")
        #expect(result.ok == false)
        #expect(result.stderr == "summary is empty: say what the change does and why, then propose again")
        #expect(supervisor.workingCopyCalls.withLock { $0 } == 0)
        #expect(supervisor.proposals.withLock { $0.isEmpty })
    }

    @Test func theDefaultTitleIsTheSummarysFirstLineCut() {
        let long = String(repeating: "word ", count: 30)
        let title = ProposeUpdateTool.title(.init(summary: "  \(long)\nmore", title: nil))
        #expect(title.count <= ProposeUpdateTool.titleLimit)
        #expect(long.hasPrefix(title))
        #expect(ProposeUpdateTool.title(.init(summary: "first\nsecond", title: "  ")) == "first")
        #expect(ProposeUpdateTool.title(.init(summary: "first", title: " Given ")) == "Given")
    }

    @Test func itIsOfferedOnlyWithALauncherAndASupervisorAndIsAnExecCall() throws {
        let names = [ProposeUpdateTool.name]
        #expect(ToolRegistry(workspace: "/w", allowlist: names, launcher: "/l").allowed.isEmpty)
        #expect(ToolRegistry(workspace: "/w", allowlist: names, launcher: nil, updates: NoUpdates()).allowed.isEmpty)
        let registry = ToolRegistry(workspace: "/w", allowlist: names, launcher: "/l", updates: NoUpdates())
        #expect(registry.allowed == names)
        let call = ToolCall(id: "c", name: ProposeUpdateTool.name, arguments: #"{"summary":"Fix it\nbecause"}"#)
        let prepared = try registry.prepare(call, origin: Self.origin).get()
        #expect(prepared.tier == .exec)
        #expect(prepared.summary == "propose_update: Fix it\nFix it\nbecause")
    }
}

/// A supervisor that is never asked.
private struct NoUpdates: UpdateProposing {
    func prepareWorkingCopy() async throws -> WorkerInterface.WorkingCopy { throw CancellationError() }

    func proposeUpdate(_ request: WorkerInterface.ProposeUpdateRequest) async throws
        -> WorkerInterface.ProposeUpdateReply
    { throw CancellationError() }
}
