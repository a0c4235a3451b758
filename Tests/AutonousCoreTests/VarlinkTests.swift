import Foundation
import Logging
import Synchronization
import Testing

@testable import AutonousCore

/// A small interface to exercise the server: an echo, a stream, a failing method, and a call that waits until its
/// caller hangs up (reporting on `endings` that it waits, then how it ended).
private struct TestInterface: VarlinkInterfaceHandler {
    var endings: AsyncStream<String>.Continuation?

    var interfaceName: String { "org.example.test" }
    var interfaceDescription: String {
        "interface org.example.test\nmethod Echo(text: string) -> (text: string)\nmethod Count(to: int) -> (n: int)\n"
    }

    struct Echo: Codable { var text: String }
    struct Count: Codable { var to: Int }

    func handle(_ call: VarlinkCall, replier: VarlinkReplier) async throws -> JSONValue {
        switch call.memberName {
        case "Echo":
            let echo = try call.decode(Echo.self)
            return .object(["text": .string(echo.text), "peerUID": .int(Int64(call.peer.uid))])
        case "Count":
            let count = try call.decode(Count.self)
            for n in 1 ..< max(1, count.to) { try await replier.send(["n": n]) }
            return .object(["n": .int(Int64(count.to))])
        case "Fail":
            throw VarlinkError("org.example.test.Broken", ["why": .string("on purpose")])
        case "Flood":
            do {
                while true { try await replier.send(["filler": String(repeating: "x", count: 4096)]) }
            } catch {
                endings?.yield("flood ended")
                throw error
            }
        case "Wait":
            endings?.yield("waiting")
            do {
                try await replier.whileCallerListens { try await Task.sleep(for: .seconds(600)) }
            } catch is VarlinkReplier.CallerHungUp {
                endings?.yield("hung up")
                throw VarlinkReplier.CallerHungUp()
            } catch {
                endings?.yield("cancelled")
                throw error
            }
            return .object([:])
        default:
            throw VarlinkError.methodNotFound(call.method)
        }
    }
}

/// Runs blocking client code on a thread of its own, off the concurrency pool that the server's tasks use.
private func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}

/// The number of threads of this process.
private func threadCount() -> Int {
    let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
    let line = status.split(separator: "\n").first { $0.hasPrefix("Threads:") }
    return line.flatMap { Int($0.dropFirst("Threads:".count).trimmingCharacters(in: .whitespaces)) } ?? -1
}

/// The first element of `stream` within `timeout`, or nil.
private func first<T: Sendable>(_ stream: AsyncStream<T>, within timeout: Duration) async -> T? {
    await withTaskGroup(of: T?.self) { group in
        group.addTask {
            for await element in stream { return element }
            return nil
        }
        group.addTask {
            try? await Task.sleep(for: timeout)
            return nil
        }
        defer { group.cancelAll() }
        return await group.next() ?? nil
    }
}

/// A bound test server in a temporary directory, removed in deinit.
private final class ServerFixture {
    let directory: String
    let path: String
    let server: VarlinkServer

    init(authorize: @escaping VarlinkServer.Authorizer, endings: AsyncStream<String>.Continuation?) throws {
        var template = Array("/tmp/vl-XXXXXX".utf8CString)
        directory = String(cString: try #require(mkdtemp(&template)))
        path = directory + "/test.sock"
        server = VarlinkServer(
            path: path, mode: 0o600,
            info: VarlinkServiceInfo(vendor: "autonous", product: "test", version: "1", url: "https://example.org"),
            interfaces: [TestInterface(endings: endings)], sendTimeout: .milliseconds(300),
            logger: Logger(label: "test"), authorize: authorize)
        try server.bind()
    }

    deinit {
        try? FileManager.default.removeItem(atPath: directory)
    }
}

@Suite(.serialized) struct VarlinkTests {
    private func withServer(
        authorize: @escaping VarlinkServer.Authorizer = { _ in nil },
        endings: AsyncStream<String>.Continuation? = nil, _ body: (String) async throws -> Void
    ) async throws {
        let fixture = try ServerFixture(authorize: authorize, endings: endings)
        defer { withExtendedLifetime(fixture) {} }
        let (server, path) = (fixture.server, fixture.path)
        let running = Task { try await server.run() }
        defer { running.cancel() }
        try await body(path)
        running.cancel()
        try await running.value
        #expect(!FileManager.default.fileExists(atPath: path), "the socket file is removed when the server stops")
    }

    @Test func callsAndRepliesRoundTrip() async throws {
        try await withServer { path in
            let client = try AsyncVarlinkClient(path: path)
            defer { client.close() }
            let reply = try await client.call("org.example.test.Echo", ["text": "héllo\u{0}?"], as: JSONValue.self)
            #expect(reply["text"] == .string("héllo\u{0}?"))
            #expect(reply["peerUID"] == .int(Int64(getuid())))
            // Several calls on one connection.
            let again = try await client.call("org.example.test.Echo", ["text": "again"], as: JSONValue.self)
            #expect(again["text"] == .string("again"))
        }
    }

    @Test func theBlockingClientTalksToTheServer() async throws {
        try await withServer { path in
            let seen = try await onThread {
                let client = try VarlinkClient(path: path)
                defer { client.close() }
                let echo = try client.call("org.example.test.Echo", ["text": "x"], as: JSONValue.self)
                var seen: [Int64] = []
                try client.stream("org.example.test.Count", ["to": 3]) { reply in
                    seen.append(reply["n"]?.intValue ?? -1)
                    return true
                }
                return [echo["text"]?.stringValue == "x" ? 0 : -1] + seen
            }
            #expect(seen == [0, 1, 2, 3])
        }
    }

    @Test func moreStreamsContinuesRepliesUntilTheLast() async throws {
        try await withServer { path in
            let client = try AsyncVarlinkClient(path: path)
            defer { client.close() }
            let seen = Mutex<[Int64]>([])
            try await client.stream("org.example.test.Count", ["to": 4]) { reply in
                seen.withLock { $0.append(reply["n"]?.intValue ?? -1) }
                return true
            }
            #expect(seen.withLock { $0 } == [1, 2, 3, 4])
        }
    }

    @Test func errorsCarryTheirNameAndParameters() async throws {
        try await withServer { path in
            let client = try AsyncVarlinkClient(path: path)
            defer { client.close() }
            await #expect(throws: VarlinkError("org.example.test.Broken", ["why": .string("on purpose")])) {
                _ = try await client.call("org.example.test.Fail", NoParameters(), as: JSONValue.self)
            }
            await #expect(throws: VarlinkError.methodNotFound("org.example.test.Nope")) {
                _ = try await client.call("org.example.test.Nope", NoParameters(), as: JSONValue.self)
            }
            await #expect(throws: VarlinkError.interfaceNotFound("org.example.other")) {
                _ = try await client.call("org.example.other.Echo", NoParameters(), as: JSONValue.self)
            }
            await #expect(throws: VarlinkError.invalidParameter("text")) {
                _ = try await client.call("org.example.test.Echo", ["text": 5], as: JSONValue.self)
            }
            await #expect(throws: VarlinkError.invalidParameter("text")) {
                _ = try await client.call("org.example.test.Echo", NoParameters(), as: JSONValue.self)
            }
            await #expect(throws: VarlinkError.expectedMore()) {
                _ = try await client.call("org.example.test.Count", ["to": 3], as: JSONValue.self)
            }
            // The connection survives error replies.
            let ok = try await client.call("org.example.test.Echo", ["text": "ok"], as: JSONValue.self)
            #expect(ok["text"] == .string("ok"))
        }
    }

    @Test func introspectionListsInterfacesAndDescriptions() async throws {
        try await withServer { path in
            let client = try AsyncVarlinkClient(path: path)
            defer { client.close() }
            let info = try await client.call(
                "org.varlink.service.GetInfo", NoParameters(), as: VarlinkServiceInfo.self)
            #expect(info.interfaces == ["org.varlink.service", "org.example.test"])
            #expect(info.vendor == "autonous")
            let description = try await client.call(
                "org.varlink.service.GetInterfaceDescription", ["interface": "org.example.test"], as: JSONValue.self)
            #expect(description["description"]?.stringValue?.hasPrefix("interface org.example.test") == true)
            await #expect(throws: VarlinkError.interfaceNotFound("org.example.none")) {
                _ = try await client.call(
                    "org.varlink.service.GetInterfaceDescription", ["interface": "org.example.none"], as: JSONValue.self
                )
            }
        }
    }

    @Test func aRefusedPeerGetsPermissionDenied() async throws {
        let refusals = Mutex(0)
        let refuse: VarlinkServer.Authorizer = { peer in
            refusals.withLock { $0 += 1 }
            return "uid \(peer.uid) may not"
        }
        try await withServer(authorize: refuse) { path in
            let client = try AsyncVarlinkClient(path: path)
            defer { client.close() }
            await #expect(throws: VarlinkError.permissionDenied()) {
                _ = try await client.call("org.example.test.Echo", ["text": "x"], as: JSONValue.self)
            }
        }
        #expect(refusals.withLock { $0 } == 1)
    }

    @Test func garbageOnTheWireClosesTheConnectionWithAnError() async throws {
        try await withServer { path in
            let socket = try AsyncUnixSocket.connect(path: path)
            defer { socket.close() }
            try await socket.send(Data("this is not json\0".utf8))
            let connection = AsyncVarlinkConnection(socket: socket)
            let reply = try #require(try await connection.readMessage())
            let decoded = try JSONDecoder().decode(VarlinkReply.self, from: reply)
            #expect(decoded.error == "org.varlink.service.InvalidParameter")
            #expect(try await connection.readMessage() == nil)
        }
    }

    @Test func aCallerThatHangsUpEndsItsWaitingCallAtOnce() async throws {
        let (endings, sink) = AsyncStream.makeStream(of: String.self)
        try await withServer(endings: sink) { path in
            let client = try AsyncVarlinkClient(path: path)
            let call = Task { try await client.call("org.example.test.Wait", NoParameters(), as: JSONValue.self) }
            #expect(await first(endings, within: .seconds(10)) == "waiting")
            client.connection.socket.socket.shutdown()
            #expect(await first(endings, within: .seconds(10)) == "hung up")
            _ = await call.result
            client.close()
        }
    }

    @Test func stoppingTheServerHangsUpConnectionsAndCancelsTheirCalls() async throws {
        let (endings, sink) = AsyncStream.makeStream(of: String.self)
        let fixture = try ServerFixture(authorize: { _ in nil }, endings: sink)
        defer { withExtendedLifetime(fixture) {} }
        let (server, path) = (fixture.server, fixture.path)
        let running = Task { try await server.run() }
        let client = try AsyncVarlinkClient(path: path)
        defer { client.close() }
        let call = Task { try await client.call("org.example.test.Wait", NoParameters(), as: JSONValue.self) }
        #expect(await first(endings, within: .seconds(10)) == "waiting")
        let other = try AsyncVarlinkClient(path: path)
        _ = try await other.call("org.example.test.Echo", ["text": "x"], as: JSONValue.self)
        running.cancel()
        try await running.value
        #expect(await first(endings, within: .seconds(10)) == "cancelled")
        // The waiting caller sees the connection close.
        await #expect(throws: AutonousError.self) { _ = try await call.value }
        await #expect(throws: (any Error).self) {
            _ = try await other.call("org.example.test.Echo", ["text": "x"], as: JSONValue.self)
        }
        other.close()
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    @Test func aCallerThatStopsReadingIsHungUpOnAfterTheSendTimeout() async throws {
        let (endings, sink) = AsyncStream.makeStream(of: String.self)
        try await withServer(endings: sink) { path in
            let socket = try AsyncUnixSocket.connect(path: path)
            defer { socket.close() }
            let call = VarlinkRequest(method: "org.example.test.Flood", parameters: .object([:]), more: true)
            try await AsyncVarlinkConnection(socket: socket).write(call)
            // Nothing is read: the socket buffers fill up and the server's write waits, then gives up.
            #expect(await first(endings, within: .seconds(20)) == "flood ended")
        }
    }

    @Test func waitingConnectionsHoldNoThreads() async throws {
        let (endings, sink) = AsyncStream.makeStream(of: String.self)
        try await withServer(endings: sink) { path in
            let before = threadCount()
            var clients: [AsyncVarlinkClient] = []
            var calls: [Task<JSONValue, any Error>] = []
            for _ in 0 ..< 100 {
                let client = try AsyncVarlinkClient(path: path)
                clients.append(client)
                calls.append(
                    Task { try await client.call("org.example.test.Wait", NoParameters(), as: JSONValue.self) })
            }
            var waiting = 0
            for await ending in endings where ending == "waiting" {
                waiting += 1
                if waiting == 100 { break }
            }
            let during = threadCount()
            #expect(during - before < 10, "\(before) threads before, \(during) with 100 waiting calls")
            for client in clients { client.close() }
            for call in calls { _ = await call.result }
        }
    }

    @Test func theSocketFileGetsTheRequestedModeAndAStaleOneIsReplaced() async throws {
        try await withServer { path in
            var info = stat()
            #expect(stat(path, &info) == 0)
            #expect(info.st_mode & 0o777 == 0o600)
        }
        var template = Array("/tmp/vl-XXXXXX".utf8CString)
        let directory = String(cString: try #require(mkdtemp(&template)))
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let regular = directory + "/file"
        FileManager.default.createFile(atPath: regular, contents: Data("keep".utf8))
        #expect(throws: AutonousError.self) { _ = try UnixSocket.listen(path: regular, mode: 0o600) }
        #expect(FileManager.default.contents(atPath: regular) == Data("keep".utf8))
    }
}
