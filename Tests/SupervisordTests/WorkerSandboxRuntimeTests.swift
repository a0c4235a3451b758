import CLinux
import Foundation
import Testing

@testable import Supervisord

/// The directories of the Swift runtime the supervisor binds into a worker's sandbox (a development build loads the
/// runtime from the toolchain), found in /proc/self/maps however many mappings the process has.
@Suite struct WorkerSandboxRuntimeTests {
    @Test func theRuntimesDirectoryIsFoundAfterTheIdleTrimSplitTheCodeIntoPages() throws {
        // Where this process loaded libswiftCore.so from, unless the runtime is linked statically.
        let library = try Self.maps().first { $0.hasSuffix("/libswiftCore.so") }.map { line in
            String(line[try #require(line.firstIndex(of: "/"))...])
        }
        // What the idle trim does in a daemon: thousands of one-page mappings, more than one read of maps returns.
        #expect(cl_release_executable_pages(Int32(CL_RELEASE_LIBRARIES | CL_RELEASE_SPLIT_CODE)) > 0)
        #expect(try Self.maps().count > 2000)
        if let library {
            #expect(
                WorkerSandbox.swiftRuntimeDirectories() == [
                    URL(fileURLWithPath: library).deletingLastPathComponent().path
                ])
        } else {
            #expect(WorkerSandbox.swiftRuntimeDirectories().isEmpty)
        }
    }

    private static func maps() throws -> [Substring] {
        let maps = try #require(FileHandle(forReadingAtPath: "/proc/self/maps"))
        defer { try? maps.close() }
        return String(decoding: try maps.readToEnd() ?? Data(), as: UTF8.self).split(separator: "\n")
    }
}
