import Foundation
import Sandbox

/// Walks a directory tree under a confined root, depth first in name order, never following symlinks (a link is
/// reported as a link, not entered), so the walk cannot leave the root.
struct TreeWalker {
    struct Entry {
        /// The path relative to the root, as the tools print it.
        var path: String
        /// `f`, `d`, `l` or `?`.
        var kind: Character
        var size: Int64
        var depth: Int
    }

    /// How a walk ended.
    enum End: Equatable {
        /// Every entry was visited, or the visitor asked to stop.
        case finished
        /// The walk hit its entry or time bound before the end of the tree; the reason, for the tool's stderr.
        case cut(String)
        /// The start could not be walked; the message.
        case failed(String)
    }

    let root: ConfinedRoot
    /// Bounds the walk; a tree larger than this is reported as cut.
    let maximumEntries: Int
    /// When the walk gives up (the tool's time limit), if any.
    var deadline: ContinuousClock.Instant? = nil

    /// Visits every entry under `start` up to `maxDepth` (1 = the directory's own entries); `visit` returns false to
    /// stop.
    func walk(_ start: String, maxDepth: Int, visit: (Entry) -> Bool) -> End {
        let origin: String
        do {
            origin = try root.normalize(start)
        } catch {
            return .failed("\(error)")
        }
        var stack: [(path: String, depth: Int)] = [(origin, 0)]
        var seen = 0
        while let (directory, depth) = stack.popLast() {
            let fd: Int32
            do {
                fd = try root.open(directory, flags: O_RDONLY | O_DIRECTORY, followSymlinks: false)
            } catch let error where error.errno == ENOTDIR && directory == origin {
                return .failed("\(start) is not a directory")
            } catch {
                if directory == origin { return .failed("\(error)") }
                continue
            }
            if let deadline, ContinuousClock.now > deadline {
                return .cut("the tool's time limit passed")
            }
            guard let handle = fdopendir(fd) else {
                close(fd)
                continue
            }
            var children: [Entry] = []
            while let entry = readdir(handle) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                    String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
                }
                if name == "." || name == ".." { continue }
                var info = stat()
                var kind: Character = "?"
                if fstatat(dirfd(handle), name, &info, AT_SYMLINK_NOFOLLOW) == 0 {
                    switch info.st_mode & S_IFMT {
                    case S_IFDIR: kind = "d"
                    case S_IFREG: kind = "f"
                    case S_IFLNK: kind = "l"
                    default: kind = "?"
                    }
                }
                let path = directory == "." ? name : directory + "/" + name
                children.append(Entry(path: path, kind: kind, size: Int64(info.st_size), depth: depth + 1))
            }
            closedir(handle)
            children.sort { $0.path < $1.path }
            for child in children {
                seen += 1
                if seen > maximumEntries { return .cut("the walk stopped after \(maximumEntries) entries") }
                if !visit(child) { return .finished }
            }
            for child in children.reversed() where child.kind == "d" && child.depth < maxDepth {
                stack.append((child.path, child.depth))
            }
        }
        return .finished
    }

    /// The note a tool adds to stderr when its walk was cut: its results are incomplete.
    static func cutNote(_ reason: String) -> String {
        "the search did not cover the whole tree (\(reason)); results are incomplete: narrow the path"
    }
}
