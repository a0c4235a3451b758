import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Wakes a task when named files of one directory are written, created or moved in: an inotify watch on the
/// directory, whose descriptor becomes readable in the process's `IOEventLoop`. No polling.
///
/// The directory is watched rather than the files, so a file that is deleted and created again (SQLite removes
/// `-wal` when its last connection closes) stays watched. Writes through a bind mount (the worker's sandbox)
/// count too: inotify watches the inode.
public final class FileChangeWatch: Sendable {
    private let fd: Int32
    private let names: Set<String>
    private let loop: IOEventLoop
    private let closed = Atomic<Bool>(false)

    /// Starts watching `directory` for changes to the files called `names`.
    ///
    /// - Throws: `Errno` when inotify cannot be set up (no such directory, too many watches).
    public init(directory: String, names: Set<String>, loop: IOEventLoop = .shared) throws {
        let fd = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard fd >= 0 else { throw Errno(errno, "inotify_init1") }
        let mask = UInt32(IN_MODIFY | IN_CREATE | IN_MOVED_TO)
        guard inotify_add_watch(fd, directory, mask) >= 0 else {
            let code = errno
            Glibc.close(fd)
            throw Errno(code, "inotify_add_watch \(directory)")
        }
        self.fd = fd
        self.names = names
        self.loop = loop
    }

    deinit {
        close()
    }

    /// Returns once a watched file changed since the previous call (or since the watch started). A burst of
    /// changes is one wake-up: everything queued is read before returning.
    ///
    /// - Throws: `CancellationError` when cancelled while waiting; `Errno` when the descriptor fails.
    public func next() async throws {
        while true {
            if try drain() { return }
            try await loop.wait(for: .readable, on: fd)
        }
    }

    /// Reads every queued inotify event; true when one was about a watched file (or the queue overflowed).
    private func drain() throws -> Bool {
        var relevant = false
        var buffer = [UInt8](repeating: 0, count: 8192)
        while true {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                switch errno {
                case EINTR: continue
                case EAGAIN, EWOULDBLOCK: return relevant
                case let code: throw Errno(code, "read inotify")
                }
            }
            var offset = 0
            let header = MemoryLayout<inotify_event>.size
            while offset + header <= count {
                let (mask, length) = buffer.withUnsafeBytes { raw in
                    let event = raw.loadUnaligned(fromByteOffset: offset, as: inotify_event.self)
                    return (event.mask, Int(event.len))
                }
                let nameBytes = buffer[(offset + header) ..< min(count, offset + header + length)]
                let name = String(decoding: nameBytes.prefix { $0 != 0 }, as: UTF8.self)
                if mask & UInt32(IN_Q_OVERFLOW) != 0 || names.contains(name) { relevant = true }
                offset += header + length
            }
        }
    }

    /// Stops watching and closes the descriptor (failing a waiter). Call it from the task that waits, or after it.
    public func close() {
        guard closed.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged
        else { return }
        loop.forget(fd)
        Glibc.close(fd)
    }
}
