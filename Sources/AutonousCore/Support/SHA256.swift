import CLinux
import Foundation

/// SHA-256 (FIPS 180-4), for content-addressing worker binaries and artifacts and binding approvals to exact
/// arguments. The compression function is in CLinux (`cl_sha256_blocks`); padding and streaming are here.
///
/// Our own rather than swift-crypto's: on Linux swift-crypto compiles BoringSSL, which doubled the CPU time of a
/// clean build (README.md, "Building"). SHA256Tests checks it against the NIST vectors and `sha256sum`.
public struct SHA256: Sendable {
    private var state: [UInt32] = [
        0x6a09_e667, 0xbb67_ae85, 0x3c6e_f372, 0xa54f_f53a, 0x510e_527f, 0x9b05_688c, 0x1f83_d9ab, 0x5be0_cd19,
    ]
    private var pending: [UInt8] = []
    private var length: UInt64 = 0

    public init() {}

    /// Adds bytes to the digest.
    public mutating func update<Bytes: Sequence<UInt8>>(_ bytes: Bytes) {
        let array = Array(bytes)
        array.withUnsafeBytes { update(raw: $0) }
    }

    /// Adds bytes to the digest; whole 64-byte blocks are compressed straight from the buffer.
    public mutating func update(raw buffer: UnsafeRawBufferPointer) {
        length &+= UInt64(buffer.count)
        var offset = 0
        if !pending.isEmpty {
            let take = min(64 - pending.count, buffer.count)
            pending.append(contentsOf: buffer[0 ..< take])
            offset = take
            if pending.count == 64 {
                pending.withUnsafeBytes { compress($0) }
                pending.removeAll(keepingCapacity: true)
            }
        }
        let whole = (buffer.count - offset) / 64
        if whole > 0 {
            compress(UnsafeRawBufferPointer(rebasing: buffer[offset ..< offset + whole * 64]))
            offset += whole * 64
        }
        if offset < buffer.count { pending.append(contentsOf: buffer[offset...]) }
    }

    /// Finishes and returns the 32-byte digest.
    public mutating func finalize() -> [UInt8] {
        let bitLength = length &* 8
        var tail = pending
        tail.append(0x80)
        while tail.count % 64 != 56 { tail.append(0) }
        for shift in stride(from: 56, through: 0, by: -8) {
            tail.append(UInt8(truncatingIfNeeded: bitLength >> UInt64(shift)))
        }
        tail.withUnsafeBytes { compress($0) }
        pending = []
        return state.flatMap { word in (0 ..< 4).map { UInt8(truncatingIfNeeded: word >> UInt32(24 - $0 * 8)) } }
    }

    /// The lowercase hex digest of `data`.
    public static func hex<Bytes: Sequence<UInt8>>(_ data: Bytes) -> String {
        var hasher = SHA256()
        hasher.update(data)
        return Self.lowercaseHex(hasher.finalize())
    }

    /// `bytes` as lowercase hex, two digits a byte (`String(format:)` per byte cost more than the hashing).
    public static func lowercaseHex<Bytes: Sequence<UInt8>>(_ bytes: Bytes) -> String {
        var text: [UInt8] = []
        text.reserveCapacity(bytes.underestimatedCount * 2)
        for byte in bytes {
            text.append(hexDigits[Int(byte >> 4)])
            text.append(hexDigits[Int(byte & 0x0F)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    /// The lowercase hex digest of a file, read in 1 MiB blocks into one reused buffer (never the whole file).
    ///
    /// - Throws: `AutonousError(.notFound)` when the file cannot be opened, `Errno` when a read fails.
    public static func hex(fileAt path: String) throws -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw AutonousError(.notFound, "cannot open \(path) to hash it", cause: Errno(errno, "open \(path)"))
        }
        defer { close(fd) }
        var hasher = SHA256()
        let block = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 64)
        defer { block.deallocate() }
        while true {
            let count = try retryingSyscall("read \(path) to hash it") { read(fd, block.baseAddress, block.count) }
            if count == 0 { break }
            hasher.update(raw: UnsafeRawBufferPointer(rebasing: block[..<count]))
        }
        return Self.lowercaseHex(hasher.finalize())
    }

    /// Compresses every whole 64-byte block of `bytes` (callers pass whole blocks only).
    private mutating func compress(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count >= 64 else { return }
        state.withUnsafeMutableBufferPointer { words in
            guard let state = words.baseAddress else { return }
            cl_sha256_blocks(state, base.assumingMemoryBound(to: UInt8.self), bytes.count / 64)
        }
    }
}
