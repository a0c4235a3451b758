import CLinux
import Glibc

/// Searches over raw file bytes for grep's fast path: the work that decoding every file into a String and splitting
/// it into lines used to do, done on the bytes with memchr and memmem instead.
enum ByteScan {
    /// The offset of the first occurrence of `needle` in `haystack`, or nil; an empty needle is never found.
    static func firstIndex(of needle: [UInt8], in haystack: UnsafeBufferPointer<UInt8>) -> Int? {
        guard let base = haystack.baseAddress, !needle.isEmpty, needle.count <= haystack.count else { return nil }
        let found = needle.withUnsafeBytes { cl_memmem(base, haystack.count, $0.baseAddress, $0.count) }
        return found.map { UnsafeRawPointer(base).distance(to: $0) }
    }

    /// The offset of the first `byte` in `haystack`, or nil.
    static func firstIndex(of byte: UInt8, in haystack: UnsafeBufferPointer<UInt8>) -> Int? {
        guard let base = haystack.baseAddress, let found = memchr(base, Int32(byte), haystack.count) else {
            return nil
        }
        return UnsafeRawPointer(base).distance(to: found)
    }

    /// How many times `byte` occurs in `haystack`.
    static func count(of byte: UInt8, in haystack: UnsafeBufferPointer<UInt8>) -> Int {
        let raw = UnsafeRawBufferPointer(haystack)
        let repeated = UInt64(byte) &* 0x0101_0101_0101_0101
        let low = UInt64(0x7f7f_7f7f_7f7f_7f7f)
        var total = 0
        var offset = 0
        // Eight bytes at a time: in `word` the bytes equal to `byte` are zero, and `found` has the high bit of
        // exactly those bytes set (no carry crosses a byte); the multiplication adds up the bytes' flags.
        while offset + 8 <= raw.count {
            let word = raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self) ^ repeated
            let found = ~(((word & low) &+ low) | word | low)
            total &+= Int(truncatingIfNeeded: ((found >> 7) &* 0x0101_0101_0101_0101) >> 56)
            offset += 8
        }
        while offset < raw.count {
            if raw[offset] == byte { total += 1 }
            offset += 1
        }
        return total
    }

    /// The offset of the first byte that is not ASCII (0x80 or above), or nil.
    static func firstNonASCII(in haystack: UnsafeBufferPointer<UInt8>) -> Int? {
        let raw = UnsafeRawBufferPointer(haystack)
        var offset = 0
        // Eight bytes at a time until a word has a high bit set; then the byte within it.
        while offset + 8 <= raw.count,
            raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self) & 0x8080_8080_8080_8080 == 0
        {
            offset += 8
        }
        while offset < raw.count {
            if raw[offset] >= 0x80 { return offset }
            offset += 1
        }
        return nil
    }

    /// True when every byte is ASCII.
    static func isASCII(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        firstNonASCII(in: bytes) == nil
    }

    /// `byte` with an ASCII capital letter turned into its small letter; every other byte unchanged.
    @inline(__always)
    static func lowercasedASCII(_ byte: UInt8) -> UInt8 {
        byte &- 0x41 < 26 ? byte | 0x20 : byte
    }
}
