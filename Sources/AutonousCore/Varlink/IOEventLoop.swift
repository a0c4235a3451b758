import CLinux
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Readiness of non-blocking descriptors for async code: one dedicated thread waits in `epoll_wait` and resumes the
/// tasks waiting for a descriptor to become readable, writable or hung up.
///
/// No task ever blocks a thread of the concurrency pool on a socket: it tries the non-blocking call, and on EAGAIN
/// awaits `readable`/`writable` here. Each descriptor is registered `EPOLLONESHOT` with the union of what its
/// waiters want; after an event the loop resumes the matching waiters and re-arms the descriptor only for the
/// waiters left, so a hung-up socket nobody waits on never makes the loop spin. Call `forget(_:)` before closing a
/// descriptor: it removes it from the epoll set and fails its waiters, so a reused descriptor number never wakes
/// a stranger.
public final class IOEventLoop: Sendable {
    /// What a waiter waits for.
    public enum Interest: Sendable {
        /// Data to read, end of stream, or an error.
        case readable
        /// Room to write, or an error.
        case writable
        /// The peer shut its writing half down or the socket failed; pending data does not count.
        case hangUp
    }

    /// The loop every socket of this process uses (its thread starts on first use and lives as long as the process).
    public static let shared = IOEventLoop()

    private struct Waiter {
        var interest: Interest
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct Descriptor {
        var registered = false
        var waiters: [UInt64: Waiter] = [:]
    }

    private struct State {
        var descriptors: [Int32: Descriptor] = [:]
        var nextID: UInt64 = 0
        var started = false
    }

    private let epoll: Int32
    private let state = Mutex(State())

    private init() {
        epoll = cl_epoll_create()
        precondition(epoll >= 0, "epoll_create1 failed: errno \(-epoll)")
    }

    /// Returns once `fd` is ready for `interest`; throws `CancellationError` when the task is cancelled first, or
    /// `Errno` (EBADF) when the descriptor is forgotten while waiting.
    public func wait(for interest: Interest, on fd: Int32) async throws {
        startIfNeeded()
        let id = state.withLock { state -> UInt64 in
            state.nextID &+= 1
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let failure = state.withLock { state -> (any Error)? in
                    if Task.isCancelled { return CancellationError() }
                    var descriptor = state.descriptors[fd] ?? Descriptor()
                    descriptor.waiters[id] = Waiter(interest: interest, continuation: continuation)
                    if let error = arm(fd, &descriptor) {
                        descriptor.waiters[id] = nil
                        state.descriptors[fd] = descriptor
                        return error
                    }
                    state.descriptors[fd] = descriptor
                    return nil
                }
                if let failure { continuation.resume(throwing: failure) }
            }
        } onCancel: {
            let waiter = state.withLock { state -> Waiter? in
                state.descriptors[fd]?.waiters.removeValue(forKey: id)
            }
            waiter?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Removes `fd` from the epoll set and fails whoever waits on it. Call before `close(fd)`.
    public func forget(_ fd: Int32) {
        let waiters = state.withLock { state -> [Waiter] in
            guard let descriptor = state.descriptors.removeValue(forKey: fd) else { return [] }
            if descriptor.registered { _ = cl_epoll_ctl(epoll, EPOLL_CTL_DEL, fd, 0) }
            return Array(descriptor.waiters.values)
        }
        for waiter in waiters { waiter.continuation.resume(throwing: Errno(EBADF, "wait on a closed socket")) }
    }

    /// Arms `fd` (one-shot) for what its waiters want. Called with the state locked; returns the error, if any.
    private func arm(_ fd: Int32, _ descriptor: inout Descriptor) -> (any Error)? {
        var events = EPOLLONESHOT.rawValue
        for waiter in descriptor.waiters.values {
            switch waiter.interest {
            case .readable: events |= EPOLLIN.rawValue | EPOLLRDHUP.rawValue
            case .writable: events |= EPOLLOUT.rawValue
            case .hangUp: events |= EPOLLRDHUP.rawValue
            }
        }
        var result = cl_epoll_ctl(epoll, descriptor.registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, events)
        // A descriptor closed without `forget` left the set by itself; its number may be in use again.
        if result == -ENOENT && descriptor.registered {
            result = cl_epoll_ctl(epoll, EPOLL_CTL_ADD, fd, events)
        }
        if result != 0 { return Errno(-result, "epoll_ctl") }
        descriptor.registered = true
        return nil
    }

    private func startIfNeeded() {
        let start = state.withLock { state -> Bool in
            defer { state.started = true }
            return !state.started
        }
        guard start else { return }
        let thread = Thread { [self] in run() }
        thread.name = "io-event-loop"
        thread.start()
    }

    private func run() {
        var fds = [Int32](repeating: 0, count: 64)
        var events = [UInt32](repeating: 0, count: 64)
        while true {
            let count = cl_epoll_wait(epoll, &fds, &events, 64, -1)
            if count == -EINTR { continue }
            precondition(count >= 0, "epoll_wait failed: errno \(-count)")
            for index in 0 ..< Int(count) {
                dispatch(fd: fds[index], events: events[index])
            }
        }
    }

    /// Resumes the waiters `events` satisfies and re-arms the descriptor for the others.
    private func dispatch(fd: Int32, events: UInt32) {
        let failed = EPOLLHUP.rawValue | EPOLLERR.rawValue
        let ready = state.withLock { state -> [Waiter] in
            guard var descriptor = state.descriptors[fd] else { return [] }
            var ready: [Waiter] = []
            for (id, waiter) in descriptor.waiters {
                let mask: UInt32
                switch waiter.interest {
                case .readable: mask = EPOLLIN.rawValue | EPOLLRDHUP.rawValue | failed
                case .writable: mask = EPOLLOUT.rawValue | failed
                case .hangUp: mask = EPOLLRDHUP.rawValue | failed
                }
                if events & mask != 0 {
                    ready.append(waiter)
                    descriptor.waiters[id] = nil
                }
            }
            // One-shot: the descriptor is disarmed now; re-arm it only for the waiters left.
            // If that fails, the waiters left are woken too: their next syscall reports what is wrong.
            if !descriptor.waiters.isEmpty, arm(fd, &descriptor) != nil {
                ready += descriptor.waiters.values
                descriptor.waiters.removeAll()
            }
            state.descriptors[fd] = descriptor
            return ready
        }
        for waiter in ready { waiter.continuation.resume() }
    }
}
