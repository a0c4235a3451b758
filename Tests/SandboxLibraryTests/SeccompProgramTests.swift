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

    @Test(arguments: [0, 7, 12])
    func aMissingOrRaggedProgramIsRefused(length: Int) throws {
        let fd = try pipeWith([UInt8](repeating: 0, count: length))
        defer { close(fd) }
        #expect {
            _ = try SeccompFilter.install(programFrom: fd, listener: false)
        } throws: { error in
            "\(error)".contains("the launcher sent no valid seccomp program (\(length) bytes)")
        }
        #expect(cl_get_seccomp_mode() == 0, "nothing was loaded")
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
