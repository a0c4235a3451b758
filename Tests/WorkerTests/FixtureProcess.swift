import AutonousCore
import Foundation

/// A Python fixture of Tests/Fixtures (`http_echo.py`, `fakes.py`) serving on 127.0.0.1: it prints one JSON line
/// (its ports) and serves until its stdin closes, which happens when this object goes away.
final class FixtureProcess: @unchecked Sendable {
    /// The JSON line the fixture printed when it was ready.
    let announcement: JSONValue
    private let process = Process()
    private let input = Pipe()

    init(_ script: String) throws {
        let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        let output = Pipe()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = ["-I", fixtures.appendingPathComponent("Fixtures/\(script)").path]
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
        guard let announcement = try? JSONCoding.decoder.decode(JSONValue.self, from: line) else {
            process.terminate()
            process.waitUntilExit()
            throw POSIXError(.EIO)
        }
        self.announcement = announcement
    }

    /// A port the fixture announced under `name`.
    func port(_ name: String) throws -> Int {
        guard let port = announcement[name]?.intValue else { throw POSIXError(.EIO) }
        return Int(port)
    }

    deinit {
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
    }
}
