import Foundation
import Logging
import ServiceLifecycle
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A varlink server on a unix socket, as a swift-service-lifecycle `Service`: one task accepts, one task per
/// connection reads calls and awaits their handlers; no thread is held while anything waits.
///
/// The sockets are non-blocking and their readiness comes from the process's `IOEventLoop` (one thread in
/// `epoll_wait`). Every connection is authorised once, from SO_PEERCRED, before any call. `bind()` creates the
/// socket file (call it first to report a bind error before anything else starts); `run()` serves until graceful
/// shutdown or cancellation, then stops accepting, hangs up every connection (cancelling the calls in flight)
/// and removes the socket file.
public final class VarlinkServer: Service, Sendable {
    /// Decides from the peer's credentials whether it may call anything; nil means allowed, a string says why not.
    public typealias Authorizer = @Sendable (PeerCredentials) -> String?

    public let path: String
    private let mode: mode_t
    private let handlers: [String: any VarlinkInterfaceHandler]
    private let authorize: Authorizer
    private let logger: Logger
    private let listener = Mutex<AsyncUnixSocket?>(nil)
    private let sendTimeout: Duration

    /// Creates a server; `bind()` or `run()` creates its socket.
    ///
    /// - Parameters:
    ///   - mode: the socket file's permission bits.
    ///   - info: what `org.varlink.service.GetInfo` reports; its interface list is filled in here.
    ///   - sendTimeout: a caller that stops reading its replies for this long is hung up on.
    public init(
        path: String, mode: mode_t, info: VarlinkServiceInfo, interfaces: [any VarlinkInterfaceHandler],
        sendTimeout: Duration = .seconds(30), logger: Logger, authorize: @escaping Authorizer
    ) {
        self.path = path
        self.sendTimeout = sendTimeout
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

    /// Creates the socket file and listens; connections wait in the backlog until `run()` accepts them.
    /// Calling it again does nothing.
    public func bind() throws {
        try listener.withLock { listener in
            guard listener == nil else { return }
            listener = try AsyncUnixSocket.listen(path: path, mode: mode)
        }
    }

    /// Serves until graceful shutdown or cancellation; then hangs every connection up and removes the socket file.
    ///
    /// - Throws: the bind error, or an accept failure that is not transient.
    public func run() async throws {
        try bind()
        guard let socket = listener.withLock({ $0 }) else { return }
        defer {
            socket.close()
            listener.withLock { $0 = nil }
            unlink(path)
        }
        // Graceful shutdown cancels the accept loop and with it every connection task (their waits end at once).
        try await cancelWhenGracefulShutdown {
            try await withThrowingDiscardingTaskGroup { group in
                while true {
                    let client: UnixSocket
                    do {
                        client = try await socket.accept()
                    } catch is CancellationError {
                        return
                    } catch let error as Errno
                        where [ECONNABORTED, EMFILE, ENFILE, ENOBUFS, ENOMEM].contains(error.code)
                    {
                        self.logger.warning(
                            "varlink accept failed", metadata: ["varlink.socket": "\(self.path)", "error": "\(error)"])
                        // Out of descriptors: a backoff before the next try, not a polling tick (no wake-up exists
                        // for "a descriptor was freed"). Cancellation during it ends the accept loop at once.
                        do {
                            try await Task.sleep(for: .milliseconds(50))
                        } catch {
                            return
                        }
                        continue
                    }
                    group.addTask { await self.serve(client) }
                }
            }
        }
    }

    private func serve(_ client: UnixSocket) async {
        let socket: AsyncUnixSocket
        do {
            socket = try AsyncUnixSocket(client)
        } catch {
            logger.warning("cannot prepare a varlink connection", metadata: ["error": "\(error)"])
            return
        }
        defer { socket.close() }
        let connection = AsyncVarlinkConnection(socket: socket, sendTimeout: sendTimeout)
        let peer: PeerCredentials
        do {
            peer = try client.peerCredentials()
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
            if (try? await connection.readMessage()) != nil {
                try? await connection.write(VarlinkReply(error: VarlinkError.permissionDenied().name))
            }
            return
        }
        while !Task.isCancelled {
            let message: Data
            do {
                guard let next = try await connection.readMessage() else { return }
                message = next
            } catch is CancellationError {
                return
            } catch {
                logger.notice("varlink connection dropped", metadata: ["error": "\(error)"])
                return
            }
            guard await dispatch(message, on: connection, peer: peer) else { return }
        }
    }

    /// Runs one call; returns false when the connection must be closed.
    private func dispatch(_ message: Data, on connection: AsyncVarlinkConnection, peer: PeerCredentials) async -> Bool {
        let request: VarlinkRequest
        do {
            request = try JSONCoding.decoder.decode(VarlinkRequest.self, from: message)
        } catch {
            // Not a varlink call at all: the stream cannot be trusted any more.
            try? await connection.write(
                VarlinkReply(
                    parameters: .object(["parameter": .string("method")]),
                    error: "org.varlink.service.InvalidParameter"))
            return false
        }
        let parameters = request.parameters ?? .object([:])
        let oneway = request.oneway ?? false
        let more = request.more ?? false
        func sendError(_ error: VarlinkError) async -> Bool {
            if oneway { return true }
            return (try? await connection.write(VarlinkReply(parameters: .object(error.parameters), error: error.name)))
                != nil
        }
        guard parameters.objectValue != nil else {
            return await sendError(.invalidParameter("parameters"))
        }
        let call = VarlinkCall(method: request.method, parameters: parameters, more: more, oneway: oneway, peer: peer)
        guard let handler = handlers[call.interface] else {
            return await sendError(
                call.interface.isEmpty ? .methodNotFound(call.method) : .interfaceNotFound(call.interface))
        }
        let result: JSONValue
        do {
            result = try await handler.handle(call, replier: VarlinkReplier(connection: connection, more: more))
        } catch let error as VarlinkError {
            return await sendError(error)
        } catch is VarlinkReplier.CallerHungUp {
            return false
        } catch is CancellationError {
            return false
        } catch let error as Errno where [EPIPE, ECONNRESET, EBADF].contains(error.code) {
            // The caller hung up in the middle of a streamed reply: not an error of ours, just close.
            return false
        } catch let error as AutonousError where error.code == .timeout {
            logger.notice(
                "varlink caller stopped reading; hanging up",
                metadata: ["varlink.method": "\(call.method)", "error": "\(error)"])
            return false
        } catch {
            if Task.isCancelled { return false }
            logger.error(
                "varlink method failed", metadata: ["varlink.method": "\(call.method)", "error": "\(error)"])
            return await sendError(VarlinkError(call.interface + ".InternalError", ["message": .string("\(error)")]))
        }
        if oneway { return true }
        // A caller that hung up before its reply is not an error of ours: just close.
        return (try? await connection.write(VarlinkReply(parameters: result))) != nil
    }
}
