import AutonousCore
import Foundation

extension SelfCheck {
    /// sysexits(3) codes the command line exits with besides 0 (every check passed) and 1 (one failed).
    static let usageExitCode: Int32 = 64

    static let usage = "usage: autonous-worker --self-check --scratch DIR (DIR: an existing absolute directory)"

    /// A bad command line, said in one sentence.
    struct UsageError: Error, CustomStringConvertible, Equatable {
        let description: String
    }

    /// The scratch directory from the arguments after `--self-check`: exactly `--scratch DIR` (or
    /// `--scratch=DIR`), DIR absolute and an existing directory.
    static func scratchDirectory(from arguments: [String]) -> Result<String, UsageError> {
        let path: String
        switch arguments.count {
        case 1 where arguments[0].hasPrefix("--scratch="):
            path = String(arguments[0].dropFirst("--scratch=".count))
        case 2 where arguments[0] == "--scratch":
            path = arguments[1]
        case 0:
            return .failure(UsageError(description: "--scratch DIR is missing"))
        default:
            return .failure(UsageError(description: "unexpected arguments: \(arguments.joined(separator: " "))"))
        }
        guard path.hasPrefix("/") else {
            return .failure(UsageError(description: "--scratch must be an absolute path, got '\(path)'"))
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
            return .failure(UsageError(description: "--scratch \(path) is not an existing directory"))
        }
        return .success(path)
    }

    /// `autonous-worker --self-check …`: runs the checks, prints the report on stdout and a line per failure on
    /// stderr, and returns the exit status (0 all passed, 1 one failed, 64 bad arguments).
    static func commandLine(_ arguments: [String], environment: [String: String]) async -> Int32 {
        let scratch: String
        switch scratchDirectory(from: arguments) {
        case .success(let path): scratch = path
        case .failure(let error):
            FileHandle.standardError.write(Data("autonous-worker: \(error)\n\(usage)\n".utf8))
            return usageExitCode
        }
        let report = await SelfCheck(scratch: scratch, environment: environment).run()
        FileHandle.standardOutput.write(Data((report.jsonText + "\n").utf8))
        for line in report.failureLines {
            FileHandle.standardError.write(Data("autonous-worker: \(line)\n".utf8))
        }
        return report.ok ? 0 : 1
    }
}
