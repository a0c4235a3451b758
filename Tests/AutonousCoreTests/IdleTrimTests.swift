import CLinux
import Foundation
import Testing

@testable import AutonousCore

@Suite struct IdleTrimTests {
    /// Waits (at most 10 s) until `trim` has run `count` trims; returns whether it did.
    private func waitForTrims(_ trim: IdleTrim, _ count: Int) async throws -> Bool {
        for _ in 0 ..< 1000 where trim.trims < count { try await Task.sleep(for: .milliseconds(10)) }
        return trim.trims >= count
    }

    @Test func aDisabledTrimNeverRuns() async throws {
        let trim = IdleTrim()
        trim.noteActivity()
        try await Task.sleep(for: .milliseconds(300))
        #expect(trim.trims == 0)
    }

    @Test func theTrimAfterStartIsNotPostponedByActivity() async throws {
        let trim = IdleTrim()
        trim.enable(afterStart: .milliseconds(100), quiet: .seconds(30))
        trim.noteActivity()
        #expect(try await waitForTrims(trim, 1))
        // Activity after it waits for a quiet spell of 30 s: no second trim meanwhile.
        trim.noteActivity()
        try await Task.sleep(for: .milliseconds(300))
        #expect(trim.trims == 1)
    }

    @Test func activityPostponesTheNextTrimUntilAQuietSpell() async throws {
        let trim = IdleTrim()
        let quiet = Duration.seconds(2)
        trim.enable(afterStart: .milliseconds(10), quiet: quiet)
        #expect(try await waitForTrims(trim, 1))
        // Activity every 100 ms keeps the 2 s quiet spell from coming, then the trim comes. A loaded machine can
        // stall a 100 ms sleep past the quiet spell, and then a trim in it is right: such a round is measured,
        // and tried again (at most 3 rounds), so that one round shows the postponement.
        let clock = ContinuousClock()
        var shown = false
        for round in 1 ... 3 where !shown {
            var last = clock.now
            var longestGap = Duration.zero
            for _ in 0 ..< 8 {
                trim.noteActivity()
                longestGap = max(longestGap, clock.now - last)
                last = clock.now
                try await Task.sleep(for: .milliseconds(100))
            }
            let trimsMeanwhile = trim.trims
            longestGap = max(longestGap, clock.now - last)
            if longestGap < quiet {
                #expect(trimsMeanwhile == round)
                shown = true
            }
            #expect(try await waitForTrims(trim, round + 1))
        }
        #expect(shown, "every round stalled for longer than the quiet spell")
    }

    /// One mapping of /proc/self/smaps (or maps, without VmFlags): its range, permissions, file and VmFlags.
    private struct Mapping {
        var start: UInt64, end: UInt64, perms: Substring, path: Substring, flags: [Substring]
    }

    private func ownMappings(_ listing: String = "smaps") throws -> [Mapping] {
        var mappings: [Mapping] = []
        // Read to the end: a file of /proc has no size to read up to.
        let smaps = try #require(FileHandle(forReadingAtPath: "/proc/self/\(listing)"))
        defer { try? smaps.close() }
        let text = String(decoding: try smaps.readToEnd() ?? Data(), as: UTF8.self)
        for line in text.split(separator: "\n") {
            // A mapping's line starts with its range in lowercase hex; the lines about it, with a capital.
            guard let first = line.utf8.first else { continue }
            if (UInt8(ascii: "0") ... UInt8(ascii: "9")).contains(first)
                || (UInt8(ascii: "a") ... UInt8(ascii: "f")).contains(first)
            {
                let fields = line.split(separator: " ", omittingEmptySubsequences: true)
                let bounds = fields[0].split(separator: "-").compactMap { UInt64($0, radix: 16) }
                mappings.append(
                    Mapping(
                        start: bounds[0], end: bounds[1], perms: fields[1], path: fields.count > 5 ? fields[5] : "",
                        flags: []))
            } else if line.hasPrefix("VmFlags:") && !mappings.isEmpty {
                mappings[mappings.count - 1].flags = Array(line.split(separator: " ").dropFirst())
            }
        }
        return mappings
    }

    /// The release itself, in this process: it marks the executable's mappings for random access (no read-around),
    /// splits its code into one-page areas, drops what it may, and the process goes on running its code and reading
    /// its data. Asked for, the libraries' code too.
    @Test func releasingTheExecutablesPagesKeepsTheProcessRunning() throws {
        let released = cl_release_executable_pages(Int32(CL_RELEASE_LIBRARIES | CL_RELEASE_SPLIT_CODE))
        #expect(released > 0)
        let exe = Substring(try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
        let page = UInt64(sysconf(Int32(_SC_PAGESIZE)))
        let mappings = try ownMappings()
        let executable = mappings.filter { $0.path == exe }
        #expect(!executable.isEmpty)
        #expect(executable.allSatisfy { $0.flags.contains("rr") })
        // Code: one page per area, every other one marked so that the kernel does not merge them back.
        let code = executable.filter { $0.perms == "r-xp" }
        #expect(code.count > 100)
        #expect(code.allSatisfy { $0.end - $0.start == page })
        #expect(code.filter { $0.flags.contains("nh") }.count == code.count / 2)
        // The libraries' code too: each marked random-access, and split as far as the budget goes after the
        // executable (this test process maps dozens of libraries, more pages of code than the budget covers).
        // Their writable data is left as it was.
        let libc = mappings.filter { $0.path.hasSuffix("/libc.so.6") }
        #expect(libc.contains { $0.perms == "r-xp" && $0.flags.contains("rr") })
        #expect(libc.filter { $0.perms == "rw-p" }.allSatisfy { !$0.flags.contains("rr") })
        #expect(
            mappings.contains {
                $0.path.hasPrefix("/") && $0.path != exe && $0.perms == "r-xp" && $0.end - $0.start == page
            })
        // Code and read-only data come back as they are used.
        #expect(SHA256.hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        // A second release finds the areas it made, and leaves them as they are. (How many mappings it goes over
        // may differ: other tests in this process map files and load libraries meanwhile.)
        #expect(cl_release_executable_pages(Int32(CL_RELEASE_LIBRARIES | CL_RELEASE_SPLIT_CODE)) > 0)
        #expect(try ownMappings("maps").filter { $0.path == exe && $0.perms == "r-xp" }.count == code.count)
    }
}
