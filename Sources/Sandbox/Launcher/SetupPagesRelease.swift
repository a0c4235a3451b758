import CLinux

#if canImport(Glibc)
import Glibc
#endif

/// Gives back the launcher's pages that setting the sandbox up touched (its code and read-only data:
/// `cl_release_executable_pages`) once the sandbox has run for a while. The worker's sandbox runs for days with
/// two launchers waiting in it; a tool's command is usually over before the release is due. The file's page cache
/// stays, since the next launch needs it, and the code is not split into pages: a launcher runs little afterwards.
struct SetupPagesRelease {
    private var due: Int64?

    init(afterMilliseconds delay: Int64 = 3000) {
        due = Self.monotonicMilliseconds() + delay
    }

    /// `timeout` (milliseconds, -1 for none) for a poll(2), shortened to when the release is due; releases when it
    /// is due.
    mutating func pollTimeout(_ timeout: Int32) -> Int32 {
        guard let due else { return timeout }
        let left = due - Self.monotonicMilliseconds()
        if left > 0 { return timeout < 0 ? Int32(min(left, Int64(Int32.max))) : Int32(min(Int64(timeout), left)) }
        self.due = nil
        _ = cl_release_executable_pages(0)
        return timeout
    }

    static func monotonicMilliseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
    }
}
