import Foundation
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A varlink server on a unix socket: one thread accepts, one thread per connection reads calls and runs handlers.
///
/// Handlers run synchronously on their connection's thread, so a streaming method (`more: true`) may block there
/// waiting for the next item. Connections are few (the worker, operators' CLIs), which keeps thread-per-connection
/// cheap and the code free of callbacks. Every connection is authorised once, from SO_PEERCRED, before any call.
public final class VarlinkServer: Sendable {
    /// Decides from the peer's credentials whether it may call anything; nil means allowed, a string says why not.
    public typealias Authorizer = @Sendable (PeerCredentials) -> String?

    public let path: String
    private let mode: mode_t
    private let handlers: [String: any VarlinkInterfaceHandler]
    private let authorize: Authorizer
    private let logger: Logger
    private let state = Mutex<State>(State())

    private struct State {
        var listener: UnixSocket?
        var connections: [Int32: UnixSocket] = [:]
        var threads = 0
        var stopping = false
    }

    /// Creates a server; `start()` binds it.
    ///
    /// - Parameters:
    ///   - mode: the socket file's permission bits.
    ///   - info: what `org.varlink.service.GetInfo` reports; its interface list is filled in here.
    public init(
        path: String, mode: mode_t, info: VarlinkServiceInfo, interfaces: [any VarlinkInterfaceHandler],
        logger: Logger, authorize: @escaping Authorizer
    ) {
        self.path = path
        self.mode = mode
        self.logger = logger
        self.authorize = authorize
        var serviceInfo = info
        serviceInfo.interfaces = ["org.varlink.service"] + interfaces.map(\.interfaceName)
        var descriptions: [String: String] = [:]
        for handler in interfaces { descriptions[handler.interfaceName] = handler.interfaceDescription }
        let introspection = VarlinkIntrospection(info: serviceInfo, descriptions: descriptions)
        descriptions[introspection.interfaceName] = introspection.interfaceDescription
        var table: [String: any VarlinkInterfaceHandler] = [:]
        for handler in interfaces { table[handler.interfaceName] = handler }
        table[introspection.interfaceName] = VarlinkIntrospection(info: serviceInfo, descriptions: descriptions)
        self.handlers = table
    }

    /// Binds the socket and starts accepting.
    public func start() throws {
        let listener = try UnixSocket.listen(path: path, mode: mode)
        state.withLock {
            $0.listener = listener
            $0.threads += 1
        }
        let thread = Thread { [self] in
            acceptLoop(listener)
        }
        thread.name = "varlink-accept"
        thread.start()
    }

    /// Stops accepting, hangs up every connection, waits (bounded) for their threads and removes the socket file.
    public func stop(timeout: Duration = .seconds(5)) {
        let sockets: [UnixSocket] = state.withLock { state in
            state.stopping = true
            return (state.listener.map { [$0] } ?? []) + Array(state.connections.values)
        }
        for socket in sockets { socket.shutdown() }
        let deadline = ContinuousClock.now + timeout
        while state.withLock({ $0.threads }) > 0 && ContinuousClock.now < deadline {
            Thread.sleep(forTimeInterval: 0.01)
        }
        unlink(path)
    }

    private func acceptLoop(_ listener: UnixSocket) {
        defer {
            state.withLock { $0.threads -= 1 }
            listener.close()
        }
        while !state.withLock({ $0.stopping }) {
            let client: UnixSocket
            do {
                client = try listener.accept()
            } catch let error as Errno where error.code == ECONNABORTED || error.code == EMFILE || error.code == ENFILE
            {
                logger.warning("varlink accept failed", metadata: ["varlink.socket": "\(path)", "error": "\(error)"])
                Thread.sleep(forTimeInterval: 0.05)
                continue
            } catch {
                if !state.withLock({ $0.stopping }) {
                    logger.error(
                        "varlink accept stopped", metadata: ["varlink.socket": "\(path)", "error": "\(error)"])
                }
                return
            }
            let admitted = state.withLock { state -> Bool in
                guard !state.stopping else { return false }
                state.connections[client.fd] = client
                state.threads += 1
                return true
            }
            guard admitted else {
                client.close()
                return
            }
            client.setSendTimeout(.seconds(30))
            let thread = Thread { [self] in
                serve(client)
            }
            thread.name = "varlink-conn"
            thread.start()
        }
    }

    private func serve(_ socket: UnixSocket) {
        defer {
            state.withLock { state in
                state.connections[socket.fd] = nil
                state.threads -= 1
            }
            socket.close()
        }
        let connection = VarlinkConnection(socket: socket)
        let peer: PeerCredentials
        do {
            peer = try socket.peerCredentials()
        } catch {
            logger.warning("cannot read peer credentials", metadata: ["error": "\(error)"])
            return
        }
        if let reason = authorize(peer) {
            logger.notice(
                "varlink caller refused",
                metadata: [
                    "varlink.socket": "\(path)", "peer.pid": "\(peer.pid)", "peer.uid": "\(peer.uid)",
                    "reason": "\(reason)",
                ])
            if (try? connection.readMessage()) != nil {
                try? connection.write(VarlinkReply(error: VarlinkError.permissionDenied().name))
            }
            return
        }
        while true {
            let message: Data
            do {
                guard let next = try connection.readMessage() else { return }
                message = next
            } catch {
                logger.notice("varlink connection dropped", metadata: ["error": "\(error)"])
                return
            }
            guard dispatch(message, on: connection, peer: peer) else { return }
        }
    }

    /// Runs one call; returns false when the connection must be closed.
    private func dispatch(_ message: Data, on connection: VarlinkConnection, peer: PeerCredentials) -> Bool {
        let request: VarlinkRequest
        do {
            request = try JSONCoding.decoder.decode(VarlinkRequest.self, from: message)
        } catch {
            // Not a varlink call at all: the stream cannot be trusted any more.
            try? connection.write(
                VarlinkReply(
                    parameters: .object(["parameter": .string("method")]),
                    error: "org.varlink.service.InvalidParameter"))
            return false
        }
        let parameters = request.parameters ?? .object([:])
        let oneway = request.oneway ?? false
        let more = request.more ?? false
        func sendError(_ error: VarlinkError) -> Bool {
            if oneway { return true }
            return (try? connection.write(VarlinkReply(parameters: .object(error.parameters), error: error.name)))
                != nil
        }
        guard parameters.objectValue != nil else {
            return sendError(.invalidParameter("parameters"))
        }
        let call = VarlinkCall(method: request.method, parameters: parameters, more: more, oneway: oneway, peer: peer)
        guard let handler = handlers[call.interface] else {
            return sendError(call.interface.isEmpty ? .methodNotFound(call.method) : .interfaceNotFound(call.interface))
        }
        let result: JSONValue
        do {
            result = try handler.handle(call, replier: VarlinkReplier(connection: connection, more: more))
        } catch let error as VarlinkError {
            return sendError(error)
        } catch {
            logger.error(
                "varlink method failed", metadata: ["varlink.method": "\(call.method)", "error": "\(error)"])
            return sendError(VarlinkError(call.interface + ".InternalError", ["message": .string("\(error)")]))
        }
        if oneway { return true }
        // A caller that hung up before its reply is not an error of ours: just close.
        return (try? connection.write(VarlinkReply(parameters: result))) != nil
    }
}
