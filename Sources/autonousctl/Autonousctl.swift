import ArgumentParser
import AutonousCore
import Foundation

/// `autonousctl`: the operator's CLI, speaking varlink to the supervisor's control socket.
@main
struct Autonousctl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "autonousctl",
        abstract: "Operate the autonous daemon over its control socket.",
        version: AutonousVersion.current,
        subcommands: [
            StatusCommand.self, ChatCommand.self, ApprovalsCommand.self, ApproveCommand.self, RejectCommand.self,
            DoctorCommand.self, EventsCommand.self, RevisionsCommand.self, DeployCommand.self, RollbackCommand.self,
            TransactionsCommand.self, TransactionCommand.self, RunsCommand.self, TraceCommand.self,
            UsageCommand.self, BackupCommand.self, RestoreCommand.self,
        ])
}

/// Options every subcommand shares.
struct GlobalOptions: ParsableArguments {
    @Option(name: .customLong("socket"), help: "The control socket (default: $AUTONOUS_RUNTIME_DIR/control.sock).")
    var socketPath: String?

    @Flag(name: .long, help: "Print JSON instead of a table.")
    var json = false

    var resolvedSocketPath: String { Self.socketPath(socketPath) }

    /// `explicit` when given, else `$AUTONOUS_RUNTIME_DIR/control.sock` (default /run/autonous).
    static func socketPath(_ explicit: String?) -> String {
        if let explicit { return explicit }
        let runtime = ProcessInfo.processInfo.environment["AUTONOUS_RUNTIME_DIR"].flatMap { $0.isEmpty ? nil : $0 }
        return (runtime ?? "/run/autonous") + "/control.sock"
    }

    /// Connects, turning the usual failures into a sentence that says what to check.
    func connect() throws -> VarlinkClient {
        let path = resolvedSocketPath
        do {
            return try VarlinkClient(path: path)
        } catch let error as Errno {
            switch error.code {
            case ENOENT, ECONNREFUSED:
                throw ValidationError(
                    "cannot reach autonous at \(path): is the supervisor running? (systemctl status autonous)")
            case EACCES:
                throw ValidationError(
                    "permission denied on \(path): run as root or as a member of the autonous admin group")
            default:
                throw ValidationError("cannot connect to \(path): \(error)")
            }
        }
    }
}

/// Turns a varlink error reply into a one-line CLI failure.
func describe(_ error: VarlinkError) -> String {
    switch error.name {
    case "org.varlink.service.PermissionDenied":
        return "permission denied: run as root or as a member of the autonous admin group"
    case "io.autonous.Control.NoSuchApproval":
        return "no approval has the id \(error.parameters["id"]?.stringValue ?? "?") (autonousctl approvals lists them)"
    case "io.autonous.Control.ApprovalNotPending":
        let id = error.parameters["id"]?.stringValue ?? "?"
        let status = error.parameters["status"]?.stringValue ?? "?"
        let by = error.parameters["decidedBy"]?.stringValue.map { " by \($0)" } ?? ""
        return "approval \(id) is already \(status)\(by)"
    case "io.autonous.Control.ApprovalExpired":
        return
            "approval \(error.parameters["id"]?.stringValue ?? "?") expired before this decision; the call was denied"
    case "io.autonous.Control.InvalidValue", "io.autonous.Control.RevisionRefused":
        return error.parameters["message"]?.stringValue ?? error.message
    case "io.autonous.Control.NoSuchRevision":
        return
            "no revision matches \(error.parameters["revision"]?.stringValue ?? "?") (autonousctl revisions lists them)"
    case "io.autonous.Control.AmbiguousRevision":
        var matches: [String] = []
        if case .array(let list)? = error.parameters["matches"] {
            matches = list.compactMap { $0.stringValue.map { String($0.prefix(12)) } }
        }
        return "\(error.parameters["revision"]?.stringValue ?? "?") matches more than one revision: "
            + matches.joined(separator: ", ")
    case "org.varlink.service.MethodNotFound":
        let method = error.parameters["method"]?.stringValue ?? "this call"
        return "the supervisor does not know \(method): it is older than this autonousctl (restart it after an upgrade)"
    case "io.autonous.Control.TransactionNotFound":
        return "no transaction has the id \(error.parameters["id"]?.stringValue ?? "?") "
            + "(autonousctl transactions lists them)"
    case "io.autonous.Control.NoSuchRun":
        return "no run has the id \(error.parameters["id"]?.stringValue ?? "?") (autonousctl runs lists them)"
    case "io.autonous.Control.UpdateDecisionRefused":
        let id = error.parameters["id"]?.stringValue ?? "?"
        return "refused: " + (error.parameters["message"]?.stringValue ?? "the decision on \(id) was refused")
    default:
        return error.parameters["reason"]?.stringValue ?? error.message
    }
}

/// Writes a line to standard error.
func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}
