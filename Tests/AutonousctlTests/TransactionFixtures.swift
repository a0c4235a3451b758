import AutonousCore

/// Fixed transactions for the rendering tests, around a fixed now: 2026-12-05 12:00:00 UTC.
enum TransactionFixtures {
    static let nowMs: Int64 = 1_796_472_000_000
    static let sha256 = "3f1c9a2e4b5d6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8"

    /// Staged 5 minutes after it was proposed 1 h ago; its approval deadline is 23h55m away.
    static let staged = ControlInterface.TransactionInfo(
        id: "tx-k3m7qa2z", state: "staged", title: "Reply to /version with the running revision",
        summary: "Adds a /version command.\nIt answers with the revision's sha256 prefix.",
        requestedBy: "telegram:111", runId: "3f1c9a2e-0000-4000-8000-000000000001",
        baseRevision: "aa11bb22cc33dd44ee55ff6600112233445566778899aabbccddeeff00112233",
        baseCommit: "0123456789abcdef0123456789abcdef01234567", commit: "89abcdef0123456789abcdef0123456789abcdef",
        artifactSha256: sha256,
        diffstat: " Sources/Worker/Commands.swift | 12 ++++++++++--\n 1 file changed, 10 insertions(+), 2 deletions(-)",
        testsPassed: 41, testsFailed: 0, reason: nil, createdMs: nowMs - 3_600_000, updatedMs: nowMs - 3_300_000,
        expiresMs: nowMs + 86_100_000)

    /// Proposed 2 h ago, its tests failed: no artifact.
    static let testFailed = ControlInterface.TransactionInfo(
        id: "tx-abcdefgh", state: "test_failed",
        title: "Make the grep tool follow symbolic links inside the workspace", summary: "grep follows links.",
        requestedBy: "telegram:111", runId: nil, baseRevision: "aa11bb22cc33dd44", baseCommit: "0123456789abcdef",
        commit: "fedcba9876543210", artifactSha256: nil, diffstat: nil, testsPassed: 39, testsFailed: 2,
        reason: "2 tests failed", createdMs: nowMs - 7_200_000, updatedMs: nowMs - 7_000_000, expiresMs: nil)

    /// Proposed 30 s ago and still building.
    static let building = ControlInterface.TransactionInfo(
        id: "tx-zz22zz22", state: "building", title: "Shorter replies", summary: "Shorter.",
        requestedBy: "telegram:222",
        runId: nil, baseRevision: "aa11bb22cc33dd44", baseCommit: "0123456789abcdef", commit: "0011223344556677",
        artifactSha256: nil, diffstat: nil, testsPassed: nil, testsFailed: nil, reason: nil,
        createdMs: nowMs - 30_000, updatedMs: nowMs - 29_000, expiresMs: nil)

    /// The staged transaction's steps, from its creation on.
    static let stagedSteps = [
        ControlInterface.TransactionStep(tsMs: nowMs - 3_600_000, from: nil, to: "created", reason: nil),
        ControlInterface.TransactionStep(tsMs: nowMs - 3_599_000, from: "created", to: "building", reason: nil),
        ControlInterface.TransactionStep(tsMs: nowMs - 3_480_000, from: "building", to: "testing", reason: nil),
        ControlInterface.TransactionStep(tsMs: nowMs - 3_310_000, from: "testing", to: "self_checking", reason: nil),
        ControlInterface.TransactionStep(
            tsMs: nowMs - 3_300_000, from: "self_checking", to: "staged", reason: "41 tests passed"),
    ]
}
