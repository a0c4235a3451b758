/// The error type at AutonousCore's boundary: a code to branch on, a message for people, and the cause.
public struct AutonousError: Error, CustomStringConvertible, Sendable {
    /// What kind of failure this is.
    public enum Code: String, Sendable {
        case invalidArgument
        case notFound
        case io
        case database
        case protocolViolation
        case permissionDenied
        case timeout
        case unavailable
        case internalError
    }

    public let code: Code
    public let message: String
    public let cause: (any Error & Sendable)?

    public init(_ code: Code, _ message: String, cause: (any Error & Sendable)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    public var description: String {
        if let cause { return "\(message): \(cause)" }
        return message
    }
}

/// An errno with the operation that failed, thrown by the small syscall wrappers.
public struct Errno: Error, CustomStringConvertible, Sendable, Equatable {
    public let code: Int32
    public let operation: String

    public init(_ code: Int32, _ operation: String) {
        self.code = code
        self.operation = operation
    }

    public var description: String {
        "\(operation): \(String(cString: strerror(code))) (errno \(code))"
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Runs a syscall wrapper, retrying on EINTR, and throws `Errno` when it returns -1.
@discardableResult
public func retryingSyscall<T: FixedWidthInteger>(_ operation: String, _ body: () -> T) throws -> T {
    while true {
        let result = body()
        if result != -1 { return result }
        let code = errno
        if code == EINTR { continue }
        throw Errno(code, operation)
    }
}
