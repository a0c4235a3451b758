import CLinux
import Foundation
import Testing

@testable import AutonousCore

/// SHA-256 against the NIST FIPS 180-4 example vectors, and files hashed in blocks against `sha256sum`.
@Suite struct SHA256Tests {
    @Test(arguments: [
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        // 448 bits: the padding needs a second block.
        (
            "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        ),
        // 896 bits.
        (
            "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrs"
                + "mnopqrstnopqrstu",
            "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"
        ),
    ])
    func nistVectors(_ input: String, _ digest: String) {
        #expect(SHA256.hex(Array(input.utf8)) == digest)
        var hasher = SHA256()
        input.utf8.withContiguousStorageIfAvailable { hasher.update(raw: UnsafeRawBufferPointer($0)) }
        #expect(hasher.finalize().map { String(format: "%02x", $0) }.joined() == digest)
    }

    /// The compression function `SHA256` uses (with the CPU's SHA extensions where it has them) and the portable
    /// one agree on random blocks, one block or many at a time.
    @Test func theAcceleratedAndThePortableCompressionAgree() {
        var generator = SystemRandomNumberGenerator()
        for blocks in [1, 2, 3, 7, 64, 257] {
            let data = (0 ..< blocks * 64).map { _ in UInt8.random(in: 0 ... 255, using: &generator) }
            var start: [UInt32] = (0 ..< 8).map { _ in UInt32.random(in: 0 ... .max, using: &generator) }
            var portable = start
            data.withUnsafeBufferPointer { bytes in
                cl_sha256_blocks(&start, bytes.baseAddress, blocks)
                cl_sha256_blocks_portable(&portable, bytes.baseAddress, blocks)
            }
            #expect(start == portable, "\(blocks) blocks")
        }
    }

    @Test func aMillionAsInUnevenPieces() {
        var hasher = SHA256()
        var remaining = 1_000_000
        var piece = 1
        while remaining > 0 {
            let size = min(piece, remaining)
            hasher.update(Array(repeating: UInt8(ascii: "a"), count: size))
            remaining -= size
            piece = piece * 3 % 997 + 1
        }
        let digest = hasher.finalize().map { String(format: "%02x", $0) }.joined()
        #expect(digest == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test func aFileHashesLikeItsBytes() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent(UUID().uuidString).path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let bytes = (0 ..< 3_000_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        FileManager.default.createFile(atPath: path, contents: Data(bytes))
        #expect(try SHA256.hex(fileAt: path) == SHA256.hex(bytes))
        #expect(throws: AutonousError.self) { _ = try SHA256.hex(fileAt: path + ".missing") }
    }

    /// A file of 1 GiB and 13 bytes (sparse: zeros, with a pattern written at a few offsets, the last bytes
    /// included) hashes as `sha256sum` says, without the file ever being held in memory: the process's peak
    /// resident size grows by far less than the file.
    @Test func aGibibyteFileIsStreamedAndMatchesSha256sum() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("sha-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let size: UInt64 = (1 << 30) + 13
        FileManager.default.createFile(atPath: path, contents: nil)
        let handle = try #require(FileHandle(forWritingAtPath: path))
        try handle.truncate(atOffset: size)
        for offset in [0, 4095, 1 << 20, (1 << 29) + 7, size - 9] as [UInt64] {
            try handle.seek(toOffset: offset)
            try handle.write(contentsOf: Data("autonous\(offset % 10)".utf8.prefix(Int(size - offset))))
        }
        try handle.close()
        #expect(try FileManager.default.attributesOfItem(atPath: path)[.size] as? UInt64 == size)

        let peakBefore = try peakResidentBytes()
        let digest = try await onOwnThread { try SHA256.hex(fileAt: path) }
        let growth = try peakResidentBytes() - peakBefore
        #expect(growth < 256 << 20, "the peak resident size grew by \(growth >> 20) MiB while hashing")
        let expected = try await onOwnThread { try Self.sha256sum(path) }
        #expect(digest == expected)
    }

    @Test func anApprovalIsBoundToTheSHA256OfItsCanonicalArguments() {
        let canonical = Approvals.canonical(
            .object(["network": .array([.string("example.com:443")]), "command": .string("curl x")]))
        #expect(canonical.text == #"{"command":"curl x","network":["example.com:443"]}"#)
        // printf '%s' "$text" | sha256sum
        #expect(canonical.sha256 == "e975fb6ca3aa8be29276e2a366cf19f534075e05ba76a3a83396df0ce0d4516b")
    }

    /// VmHWM of /proc/self/status, in bytes.
    private func peakResidentBytes() throws -> Int {
        let status = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
        let line = try #require(status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") })
        let kibibytes = try #require(Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]))
        return kibibytes << 10
    }

    /// The digest coreutils' `sha256sum` prints for `path`. Read through popen(3), not Foundation's `Process`,
    /// whose run loop needs AF_INET loopback sockets that a sandbox with no network refuses (the self-update
    /// pipeline runs this test in one).
    private static func sha256sum(_ path: String) throws -> String {
        guard let stream = popen("/usr/bin/sha256sum '\(path)'", "r") else { throw Errno(errno, "popen sha256sum") }
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 256)
        while true {
            let count = fread(&buffer, 1, buffer.count, stream)
            if count == 0 { break }
            output += buffer[0 ..< count]
        }
        let status = pclose(stream)
        guard status == 0 else { throw Errno(EIO, "sha256sum \(path) ended with wait status \(status)") }
        return String(String(decoding: output, as: UTF8.self).prefix(64))
    }
}
