import Foundation

/// Tests/Fixtures/sandbox/tcp_server.py on the host's 127.0.0.1: answers "pong" and logs every accepted
/// connection. Ends when this object goes away (its stdin closes) or on `stop()`.
final class LoopbackServer: @unchecked Sendable {
    let port: UInt16
    private let process = Process()
    private let input = Pipe()
    private let logPath: String

    /// Starts a server; `directory` holds its connection log.
    init(directory: String) throws {
        logPath = directory + "/server-\(UInt32.random(in: 0 ... .max)).log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let output = Pipe()
        process.executableURL = URL(fileURLWithPath: TestPaths.python)
        process.arguments = ["-I", TestPaths.fixtures + "/tcp_server.py", logPath]
        process.environment = ["PATH": "/usr/bin:/bin"]
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        var line = Data()
        let handle = output.fileHandleForReading
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = handle.availableData
            if chunk.isEmpty { break }
            line.append(chunk)
        }
        guard let port = JSON.parse(String(decoding: line, as: UTF8.self))?["port"].int,
            let port = UInt16(exactly: port)
        else {
            process.terminate()
            throw POSIXError(.EIO)
        }
        self.port = port
    }

    deinit {
        stop()
    }

    /// How many connections the server accepted so far.
    var connections: Int {
        (HostFile.contents(logPath) ?? "").split(separator: "\n").count
    }

    func stop() {
        try? input.fileHandleForWriting.close()
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }
}
