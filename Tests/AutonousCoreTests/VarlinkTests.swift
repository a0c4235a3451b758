import Foundation
import Logging
import Synchronization
import Testing

@testable import AutonousCore

/// A small interface to exercise the server: an echo, a stream, and a failing method.
private struct TestInterface: VarlinkInterfaceHandler {
    var interfaceName: String { "org.example.test" }
    var interfaceDescription: String {
        "interface org.example.test\nmethod Echo(text: string) -> (text: string)\nmethod Count(to: int) -> (n: int)\n"
    }

    struct Echo: Codable { var text: String }
    struct Count: Codable { var to: Int }

    func handle(_ call: VarlinkCall, replier: VarlinkReplier) throws -> JSONValue {
        switch call.memberName {
        case "Echo":
            let echo = try call.decode(Echo.self)
            return .object(["text": .string(echo.text), "peerUID": .int(Int64(call.peer.uid))])
        case "Count":
            let count = try call.decode(Count.self)
            for n in 1 ..< max(1, count.to) { try replier.send(["n": n]) }
            return .object(["n": .int(Int64(count.to))])
        case "Fail":
            throw VarlinkError("org.example.test.Broken", ["why": .string("on purpose")])
        default:
            throw VarlinkError.methodNotFound(call.method)
        }
    }
}

@Suite(.serialized) struct VarlinkTests {
    private func withServer(
        authorize: @escaping VarlinkServer.Authorizer = { _ in nil }, _ body: (String) throws -> Void
    ) throws {
        var template = Array("/tmp/vl-XXXXXX".utf8CString)
        let directory = String(cString: try #require(mkdtemp(&template)))
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/test.sock"
        let server = VarlinkServer(
            path: path, mode: 0o600,
            info: VarlinkServiceInfo(vendor: "autonous", product: "test", version: "1", url: "https://example.org"),
            interfaces: [TestInterface()], logger: Logger(label: "test"), authorize: authorize)
        try server.start()
        defer { server.stop() }
        try body(path)
    }

    @Test func callsAndRepliesRoundTrip() throws {
        try withServer { path in
            let client = try VarlinkClient(path: path)
            defer { client.close() }
            let reply = try client.call("org.example.test.Echo", ["text": "héllo\u{0}?"], as: JSONValue.self)
            #expect(reply["text"] == .string("héllo\u{0}?"))
            #expect(reply["peerUID"] == .int(Int64(getuid())))
            // Several calls on one connection.
            let again = try client.call("org.example.test.Echo", ["text": "again"], as: JSONValue.self)
            #expect(again["text"] == .string("again"))
        }
    }

    @Test func moreStreamsContinuesRepliesUntilTheLast() throws {
        try withServer { path in
            let client = try VarlinkClient(path: path)
            defer { client.close() }
            var seen: [Int64] = []
            try client.stream("org.example.test.Count", ["to": 4]) { reply in
                seen.append(reply["n"]?.intValue ?? -1)
                return true
            }
            #expect(seen == [1, 2, 3, 4])
        }
    }

    @Test func errorsCarryTheirNameAndParameters() throws {
        try withServer { path in
            let client = try VarlinkClient(path: path)
            defer { client.close() }
            #expect(throws: VarlinkError("org.example.test.Broken", ["why": .string("on purpose")])) {
                _ = try client.call("org.example.test.Fail", NoParameters(), as: JSONValue.self)
            }
            #expect(throws: VarlinkError.methodNotFound("org.example.test.Nope")) {
                _ = try client.call("org.example.test.Nope", NoParameters(), as: JSONValue.self)
            }
            #expect(throws: VarlinkError.interfaceNotFound("org.example.other")) {
                _ = try client.call("org.example.other.Echo", NoParameters(), as: JSONValue.self)
            }
            #expect(throws: VarlinkError.invalidParameter("text")) {
                _ = try client.call("org.example.test.Echo", ["text": 5], as: JSONValue.self)
            }
            #expect(throws: VarlinkError.invalidParameter("text")) {
                _ = try client.call("org.example.test.Echo", NoParameters(), as: JSONValue.self)
            }
            #expect(throws: VarlinkError.expectedMore()) {
                _ = try client.call("org.example.test.Count", ["to": 3], as: JSONValue.self)
            }
            // The connection survives error replies.
            #expect(
                try client.call("org.example.test.Echo", ["text": "ok"], as: JSONValue.self)["text"] == .string("ok"))
        }
    }

    @Test func introspectionListsInterfacesAndDescriptions() throws {
        try withServer { path in
            let client = try VarlinkClient(path: path)
            defer { client.close() }
            let info = try client.call("org.varlink.service.GetInfo", NoParameters(), as: VarlinkServiceInfo.self)
            #expect(info.interfaces == ["org.varlink.service", "org.example.test"])
            #expect(info.vendor == "autonous")
            let description = try client.call(
                "org.varlink.service.GetInterfaceDescription", ["interface": "org.example.test"], as: JSONValue.self)
            #expect(description["description"]?.stringValue?.hasPrefix("interface org.example.test") == true)
            #expect(throws: VarlinkError.interfaceNotFound("org.example.none")) {
                _ = try client.call(
                    "org.varlink.service.GetInterfaceDescription", ["interface": "org.example.none"], as: JSONValue.self
                )
            }
        }
    }

    @Test func aRefusedPeerGetsPermissionDenied() throws {
        let refusals = Mutex(0)
        let refuse: VarlinkServer.Authorizer = { peer in
            refusals.withLock { $0 += 1 }
            return "uid \(peer.uid) may not"
        }
        try withServer(authorize: refuse) { path in
            let client = try VarlinkClient(path: path)
            defer { client.close() }
            #expect(throws: VarlinkError.permissionDenied()) {
                _ = try client.call("org.example.test.Echo", ["text": "x"], as: JSONValue.self)
            }
        }
        #expect(refusals.withLock { $0 } == 1)
    }

    @Test func garbageOnTheWireClosesTheConnectionWithAnError() throws {
        try withServer { path in
            let socket = try UnixSocket.connect(path: path)
            defer { socket.close() }
            try socket.send(Data("this is not json\0".utf8))
            let connection = VarlinkConnection(socket: socket)
            let reply = try #require(try connection.readMessage())
            let decoded = try JSONDecoder().decode(VarlinkReply.self, from: reply)
            #expect(decoded.error == "org.varlink.service.InvalidParameter")
            #expect(try connection.readMessage() == nil)
        }
    }

    @Test func theSocketFileGetsTheRequestedModeAndAStaleOneIsReplaced() throws {
        try withServer { path in
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
