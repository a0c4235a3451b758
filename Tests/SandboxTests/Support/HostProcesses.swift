import Foundation

/// One process of the host as /proc shows it to the (root) test process.
struct HostProcess: Sendable, Equatable, CustomStringConvertible {
    let pid: pid_t
    let parent: pid_t
    let state: Character
    let command: String
    let startTime: UInt64
    let commandLine: String

    /// Reads /proc/<pid>; nil if the process is gone.
    init?(pid: pid_t) {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let open = stat.firstIndex(of: "("), let close = stat.lastIndex(of: ")")
        else { return nil }
        // Fields after "comm)": state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime stime
        // cutime cstime priority nice num_threads itrealvalue starttime ...
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 19, let state = fields[0].first, let parent = pid_t(fields[1]),
            let startTime = UInt64(fields[19])
        else { return nil }
        self.pid = pid
        self.parent = parent
        self.state = state
        self.command = String(stat[stat.index(after: open) ..< close])
        self.startTime = startTime
        let raw = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline"))) ?? Data()
        self.commandLine = String(decoding: raw.map { $0 == 0 ? UInt8(ascii: " ") : $0 }, as: UTF8.self)
            .trimmingCharacters(in: .whitespaces)
    }

    var isZombie: Bool { state == "Z" }

    /// The same process (same pid and start time) still exists.
    var stillExists: Bool { HostProcess(pid: pid)?.startTime == startTime }

    var description: String { "pid \(pid) ppid \(parent) state \(state) (\(command)) \(commandLine)" }

    /// Every process of the host.
    static func all() -> [HostProcess] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return names.compactMap { pid_t($0) }.compactMap { HostProcess(pid: $0) }
    }

    /// Processes whose command line contains `token`.
    static func matching(_ token: String) -> [HostProcess] {
        all().filter { $0.commandLine.contains(token) }
    }

    /// `pid` and all its descendants.
    static func tree(of pid: pid_t) -> [HostProcess] {
        let processes = all()
        var result = processes.filter { $0.pid == pid }
        var frontier: Set<pid_t> = [pid]
        while !frontier.isEmpty {
            let children = processes.filter { frontier.contains($0.parent) }
            result += children
            frontier = Set(children.map(\.pid))
        }
        return result
    }
}

/// Polls `condition` every 50 ms until it holds or `timeout` passes; returns whether it held.
func eventually(timeout: Duration, _ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(50))
    }
    return condition()
}

/// A random decimal token to find a test's own processes by their command line.
func uniqueToken() -> String {
    String(UInt32.random(in: 100_000_000 ... 999_999_999))
}

/// Spawns /bin/true from the test process: the host can still fork.
func hostCanStillFork() -> Bool {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/true")
    process.standardInput = FileHandle.nullDevice
    guard (try? process.run()) != nil else { return false }
    process.waitUntilExit()
    return process.terminationStatus == 0
}

/// prctl(PR_SET_CHILD_SUBREAPER): orphans of this process's descendants are reparented to it instead of pid 1.
/// prctl is variadic in C, so Swift cannot import it; it is called through its address with a fixed signature.
func setChildSubreaper(_ on: Bool) {
    typealias Prctl = @convention(c) (Int32, UInt, UInt, UInt, UInt) -> Int32
    guard let symbol = dlsym(nil, "prctl") else { return }
    let prctl = unsafeBitCast(symbol, to: Prctl.self)
    _ = prctl(36, on ? 1 : 0, 0, 0, 0)  // PR_SET_CHILD_SUBREAPER
}
