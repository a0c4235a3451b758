import Foundation
import Testing

@testable import AutonousCore

/// Non-blocking sockets over the event loop: reads, writes, hang-ups and close wake their waiters.
@Suite struct AsyncUnixSocketTests {
    /// A connected pair (the listener is closed once accepted) in a temporary directory.
    private func pair() async throws -> (AsyncUnixSocket, AsyncUnixSocket) {
        var template = Array("/tmp/aus-XXXXXX".utf8CString)
        let directory = String(cString: try #require(mkdtemp(&template)))
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let listener = try AsyncUnixSocket.listen(path: directory + "/s.sock", mode: 0o600)
        defer { listener.close() }
        let client = try AsyncUnixSocket.connect(path: directory + "/s.sock")
        let server = try AsyncUnixSocket(try await listener.accept())
        return (client, server)
    }

    @Test func aReadWaitsForDataAndEndsAtEndOfStream() async throws {
        let (client, server) = try await pair()
        let reading = Task { try await server.receive() }
        try await client.send(Data("ping".utf8))
        #expect(try await reading.value == Data("ping".utf8))
        client.close()
        #expect(try await server.receive().isEmpty)
        server.close()
    }

    @Test func dataWaitingToBeReadIsNotAHangUp() async throws {
        let (client, server) = try await pair()
        try await client.send(Data("a pipelined call".utf8))
        await #expect(throws: AutonousError.self) {
            try await withDeadline(.milliseconds(200), "the hang-up") { try await server.waitForHangUp() }
        }
        client.socket.shutdown()
        try await withDeadline(.seconds(10), "the hang-up") { try await server.waitForHangUp() }
        client.close()
        server.close()
    }

    @Test func closingASocketFailsWhoeverWaitsOnIt() async throws {
        let (client, server) = try await pair()
        let reading = Task { try await server.receive() }
        // The read waits once the event loop has it; closing then must end it with an error, not leave it hanging.
        try await Task.sleep(for: .milliseconds(100))
        server.close()
        await #expect(throws: Errno.self) { _ = try await reading.value }
        client.close()
    }

    @Test func cancellingAWaitEndsItAtOnce() async throws {
        let (client, server) = try await pair()
        let reading = Task { try await server.receive() }
        reading.cancel()
        await #expect(throws: CancellationError.self) { _ = try await reading.value }
        client.close()
        server.close()
    }
}
