import AutonousCore
import Foundation
import Testing

@testable import Worker

/// HTTPTransport against Tests/Fixtures/http_echo.py on loopback.
@Suite(.serialized) struct HTTPTransportTests {
    private let server: EchoServer
    private let transport = HTTPTransport()

    init() throws {
        server = try EchoServer()
    }

    private func url(_ path: String) throws -> URL {
        try #require(URL(string: "http://127.0.0.1:\(server.port)\(path)"))
    }

    @Test func aGetRoundTripsWithHeaders() async throws {
        var request = HTTPRequest(url: try url("/echo"))
        request.setValue("one", forHTTPHeaderField: "X-Test")
        let response = try await transport.send(request, timeout: .seconds(10))
        #expect(response.status == 200)
        #expect(response.header("x-echo") == "yes")
        #expect(response.header("CONTENT-TYPE") == "application/json")
        let echo = try JSONCoding.decoder.decode(JSONValue.self, from: response.body)
        #expect(echo["method"]?.stringValue == "GET")
        #expect(echo["headers"]?["x-test"]?.stringValue == "one")
        #expect(echo["body"]?.stringValue == "")
    }

    @Test func aPostSendsItsJSONBody() async throws {
        let text = String(repeating: "é", count: 100_000)
        var request = HTTPRequest(url: try url("/echo"))
        request.httpMethod = "POST"
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.httpBody = Data(JSONValue.object(["text": .string(text)]).jsonText.utf8)
        let response = try await transport.send(request, timeout: .seconds(10))
        #expect(response.status == 200)
        let echo = try JSONCoding.decoder.decode(JSONValue.self, from: response.body)
        #expect(echo["method"]?.stringValue == "POST")
        #expect(echo["headers"]?["content-type"]?.stringValue == "application/json")
        #expect(echo["headers"]?["expect"] == nil)
        let body = try #require(echo["body"]?.stringValue)
        #expect(try JSONCoding.decoder.decode(JSONValue.self, from: Data(body.utf8))["text"]?.stringValue == text)
    }

    @Test func anErrorStatusIsAResponse() async throws {
        let response = try await transport.send(HTTPRequest(url: try url("/status/429")), timeout: .seconds(10))
        #expect(response.status == 429)
        #expect(response.header("retry-after") == "7")
        #expect(String(decoding: response.body, as: UTF8.self).contains("slow down"))
    }

    @Test func aRefusedConnectionSaysSo() async throws {
        // Port 1 on loopback: nothing listens there.
        let request = HTTPRequest(url: try #require(URL(string: "http://127.0.0.1:1/bot123:secret/getMe")))
        await #expect {
            try await transport.send(request, timeout: .seconds(10))
        } throws: { error in
            guard let error = error as? TransportError, case .connectionFailed = error else { return false }
            return "\(error)" == "connection failed: cannot connect to host (connection refused)"
        }
    }

    @Test func aSlowAnswerTimesOut() async throws {
        let start = ContinuousClock.now
        await #expect {
            try await transport.send(HTTPRequest(url: try url("/delay?seconds=5")), timeout: .seconds(1))
        } throws: { error in
            guard let error = error as? TransportError, case .timedOut = error else { return false }
            return true
        }
        // Before the answer's 5 s: the 1 s timeout ended it, with room for a busy unit test process.
        #expect(ContinuousClock.now - start < .seconds(5))
    }

    @Test func cancellingTheTaskEndsAWaitingRequest() async throws {
        let request = HTTPRequest(url: try url("/delay?seconds=30"))
        let transport = transport
        let task = Task { try await transport.send(request, timeout: .seconds(60)) }
        try await Task.sleep(for: .milliseconds(500))
        let start = ContinuousClock.now
        task.cancel()
        let result = await task.result
        // libcurl sees the cancel in its progress callback, about once a second; the rest is slack for this test
        // process, whose two pool threads the other unit suites keep busy. Well under the 30 s the request waits.
        #expect(ContinuousClock.now - start < .seconds(10))
        guard case .failure(let error) = result, case .cancelled? = error as? TransportError else {
            Issue.record("expected .cancelled, got \(result)")
            return
        }
    }

    /// While a request waits for its answer, the thread that performs it uses no measurable CPU.
    ///
    /// Measured on that thread (named "autonous-http", read from /proc/self/task) rather than the whole process,
    /// which the unit tests running beside this one share; the caller waits on a continuation, holding no thread.
    ///
    /// The server holds the answer far longer than the measurement lasts (a busy machine may wake the test's sleeps
    /// late), and the request is cancelled once measured.
    @Test func aWaitingRequestDoesNotSpin() async throws {
        let request = HTTPRequest(url: try url("/delay?seconds=120"))
        let transport = transport
        let task = Task { try await transport.send(request, timeout: .seconds(180)) }
        try await Task.sleep(for: .seconds(1))
        let before = try #require(ThreadTimes.httpThreadTicks(), "no autonous-http thread")
        let processBefore = ThreadTimes.processSeconds()
        try await Task.sleep(for: .seconds(8))
        let after = try #require(ThreadTimes.httpThreadTicks(), "the autonous-http thread ended early")
        let processSeconds = ThreadTimes.processSeconds() - processBefore
        let seconds = Double(after - before) / Double(sysconf(Int32(_SC_CLK_TCK)))
        print("HTTPTransportTests: a request waiting 8 s: \(seconds) s CPU on its thread, \(processSeconds) s in all")
        #expect(seconds < 0.5, "the request's thread used \(seconds) s of CPU in 8 s")
        task.cancel()
        guard case .failure(let error) = await task.result, case .cancelled? = error as? TransportError else {
            Issue.record("the request was still waiting and should have ended cancelled")
            return
        }
    }
}

/// CPU time read from /proc/self.
private enum ThreadTimes {
    /// utime + stime in clock ticks of the process's threads named "autonous-http"; nil when there is none.
    static func httpThreadTicks() -> Int? {
        guard let tasks = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task") else { return nil }
        var total: Int?
        for task in tasks {
            guard let comm = try? String(contentsOfFile: "/proc/self/task/\(task)/comm", encoding: .utf8),
                comm.trimmingCharacters(in: .whitespacesAndNewlines) == "autonous-http",
                let stat = try? String(contentsOfFile: "/proc/self/task/\(task)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { continue }
            // Fields after the name, from the state (field 3): utime is field 14, stime 15.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 12, let user = Int(fields[11]), let system = Int(fields[12]) else { continue }
            total = (total ?? 0) + user + system
        }
        return total
    }

    /// The whole process's user + system CPU seconds.
    static func processSeconds() -> Double {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        let user = Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
        return user + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
    }
}

/// Tests/Fixtures/http_echo.py on 127.0.0.1; ends when this object goes away.
private final class EchoServer: Sendable {
    let port: Int
    private let fixture: FixtureProcess

    init() throws {
        fixture = try FixtureProcess("http_echo.py")
        port = try fixture.port("port")
    }
}
