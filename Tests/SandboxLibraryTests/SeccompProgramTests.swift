import CLinux
import Glibc
import Testing

@testable import Sandbox

/// The handoff of the seccomp program from the launcher to the command: what the command refuses to load. (A
/// valid program is loaded for real by every sandbox the containment suite starts; loading one here would filter
/// the test runner itself.)
@Suite struct SeccompProgramTests {
    private func pipeWith(_ bytes: [UInt8]) throws -> Int32 {
        var fds: [Int32] = [0, 0]
        try #require(pipe(&fds) == 0)
        _ = bytes.withUnsafeBytes { write(fds[1], $0.baseAddress, $0.count) }
        close(fds[1])
        return fds[0]
    }

    /// The number of seccomp filters on this thread (Seccomp_filters in /proc/thread-self/status, Linux 5.9+).
    private func filterCount() -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/thread-self/status", encoding: .utf8) else { return nil }
        let line = status.split(separator: "\n").first { $0.hasPrefix("Seccomp_filters:") }
        return line.flatMap { Int($0.dropFirst("Seccomp_filters:".count).trimmingCharacters(in: .whitespaces)) }
    }

    /// Nothing is loaded: the thread's filters are the ones it had (none when the suite runs as `make check` runs
    /// it; under autonous.service's options, scripts/e2e-systemd, the test runner starts with systemd's filters).
    @Test(arguments: [0, 7, 12])
    func aMissingOrRaggedProgramIsRefused(length: Int) throws {
        let modeBefore = cl_get_seccomp_mode()
        let filtersBefore = try #require(filterCount(), "no Seccomp_filters in /proc/thread-self/status")
        let fd = try pipeWith([UInt8](repeating: 0, count: length))
        defer { close(fd) }
        #expect {
            _ = try SeccompFilter.install(programFrom: fd, listener: false)
        } throws: { error in
            "\(error)".contains("the launcher sent no valid seccomp program (\(length) bytes)")
        }
        #expect(cl_get_seccomp_mode() == modeBefore, "nothing was loaded")
        #expect(filterCount() == filtersBefore, "nothing was loaded")
    }

    @Test func anOversizedProgramIsRefused() throws {
        let fd = try pipeWith([UInt8](repeating: 0, count: (SeccompFilter.maximumInstructions + 1) * 8))
        defer { close(fd) }
        #expect(throws: SandboxError.self) { _ = try SeccompFilter.install(programFrom: fd, listener: false) }
    }

    @Test func theExportedProgramIsWholeInstructions() throws {
        var fds: [Int32] = [0, 0]
        try #require(pipe(&fds) == 0)
        defer { close(fds[0]) }
        try SeccompFilter.export(.mediatedNetwork, to: fds[1])
        close(fds[1])
        let program = Posix.readAll(fds[0])
        #expect(program.count % 8 == 0 && program.count > 8 * 100, "\(program.count) bytes")
        #expect(program.count <= SeccompFilter.maximumInstructions * 8)
    }
}
