import Foundation

/// A process and all its descendants as /proc shows them: CPU time, memory, threads and descriptors.
struct ProcessTree {
    /// One process of the tree.
    struct Member {
        let pid: Int32
        let name: String
        /// utime + stime of the process itself, in clock ticks.
        let ownTicks: Int
        /// cutime + cstime: the time of its children it has reaped (waited for), in clock ticks.
        let reapedTicks: Int
        let threads: Int
        let descriptors: Int
        let rssKiB: Int
    }

    /// Clock ticks per second (`sysconf(_SC_CLK_TCK)`), the unit of /proc/<pid>/stat times.
    static let ticksPerSecond = Int(sysconf(Int32(_SC_CLK_TCK)))

    let members: [Member]

    /// Reads `root` and every descendant, found through `/proc/<pid>/task/<tid>/children` of each thread.
    /// A process that ends while it is read is left out.
    init(root: Int32) {
        var members: [Member] = []
        var pending = [root]
        var seen = Set<Int32>()
        while let pid = pending.popLast() {
            guard seen.insert(pid).inserted, let member = Self.read(pid) else { continue }
            members.append(member)
            pending += Self.children(of: pid)
        }
        self.members = members.sorted { $0.pid < $1.pid }
    }

    /// The CPU time the whole tree has used so far, in clock ticks: each live process's own time plus what it
    /// has reaped of its children. A process that ended during a window is still counted, through the process
    /// that waited for it; so the difference of two readings is the tree's CPU time in between (all of its
    /// processes reap their children).
    var cpuTicks: Int { members.reduce(0) { $0 + $1.ownTicks + $1.reapedTicks } }

    /// One line per process: pid, name, CPU ticks since `earlier` (own and reaped), threads, descriptors, RSS.
    func table(since earlier: ProcessTree? = nil) -> String {
        members.map { member in
            let before = earlier?.members.first { $0.pid == member.pid }
            let own = member.ownTicks - (before?.ownTicks ?? 0)
            let reaped = member.reapedTicks - (before?.reapedTicks ?? 0)
            return "\(member.pid) \(member.name): cpu \(own)+\(reaped) ticks, threads \(member.threads), "
                + "fds \(member.descriptors), rss \(member.rssKiB) KiB"
        }.joined(separator: "\n")
    }

    /// The children of every thread of `pid`.
    static func children(of pid: Int32) -> [Int32] {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        return tasks.flatMap { task in
            ((try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/children", encoding: .utf8)) ?? "")
                .split(separator: " ").compactMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        }
    }

    /// Reads one process; nil when it is gone.
    static func read(_ pid: Int32) -> Member? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let open = stat.firstIndex(of: "("), let close = stat.lastIndex(of: ")")
        else { return nil }
        let name = String(stat[stat.index(after: open) ..< close])
        // After the name: state (field 3) … utime (14), stime (15), cutime (16), cstime (17).
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 14, let utime = Int(fields[11]), let stime = Int(fields[12]),
            let cutime = Int(fields[13]), let cstime = Int(fields[14])
        else { return nil }
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        func field(_ key: String) -> Int {
            guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix(key + ":") }) else { return 0 }
            return Int(line.dropFirst(key.count + 1).split(whereSeparator: \.isWhitespace).first ?? "") ?? 0
        }
        let descriptors = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd"))?.count ?? 0
        return Member(
            pid: pid, name: name, ownTicks: utime + stime, reapedTicks: cutime + cstime, threads: field("Threads"),
            descriptors: descriptors, rssKiB: field("VmRSS"))
    }
}
