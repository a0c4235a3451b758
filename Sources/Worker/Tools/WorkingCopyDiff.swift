import Foundation

/// The diff of the agent's working copy of autonous against the commit it started from, taken with git inside the
/// Exec sandbox: the agent controls that repository's `.git/config` (filters, diff drivers, fsmonitor …), so git
/// run on it outside the sandbox would run the agent's code outside the sandbox.
///
/// The patch covers everything git sees in the working copy: commits made there, staged and unstaged changes, and
/// new files that are not ignored. It is made with a scratch index and object directory in the sandbox's private
/// /tmp (seeded from the working copy's index), so the working copy's own index and objects are never written, and
/// nothing is left behind when the sandbox ends. The patch comes back on stdout, so no file in the workspace (which
/// the agent's other commands can change meanwhile) is ever read by the worker.
struct WorkingCopyDiff: Sendable {
    let sandbox: SandboxCommand
    /// The largest patch accepted, in bytes (`AUTONOUS_UPDATE_MAX_PATCH`).
    let maxPatch: Int
    let timeoutSeconds: Int

    /// What came of it.
    enum Outcome: Equatable, Sendable {
        /// `git diff --binary --full-index` output, UTF-8 text, at most `maxPatch` bytes.
        case patch(String)
        /// Nothing differs from the base.
        case empty
        /// The patch has `bytes` bytes, more than `maxPatch`.
        case tooLarge(bytes: Int)
        /// git failed, or the patch is not text; the message says why, for the model.
        case failed(String)
    }

    /// The exit status of the script's own refusals, whose stderr is the whole message.
    static let refusedStatus: Int32 = 3

    /// The bytes of git's stderr kept for an error message.
    static let stderrKept = 4096

    /// Takes the diff of `workspace/path` against `base`. `path` must be relative, inside the workspace.
    func take(path: String, base: String) async -> Outcome {
        guard Self.isPlainRelative(path) else {
            return .failed("the working copy's path '\(path)' is not a plain path inside the workspace")
        }
        let outcome: SandboxCommand.Outcome
        do {
            outcome = try await sandbox.run(
                ["/bin/bash", "-c", Self.script, "propose_update", path, base], timeoutSeconds: timeoutSeconds,
                keepStdout: maxPatch + 1, keepStderr: Self.stderrKept)
        } catch {
            return .failed("cannot run the sandbox \(sandbox.launcher) to take the diff: \(error)")
        }
        guard let code = outcome.exitCode else { return .failed("the call was cancelled while git took the diff") }
        guard code == 0 else {
            let reason = outcome.stderr.text.trimmingCharacters(in: .whitespacesAndNewlines)
            switch code {
            case 124: return .failed("git did not finish taking the diff within \(timeoutSeconds) s")
            case 125: return .failed("the sandbox for git could not be set up: \(reason)")
            case Self.refusedStatus: return .failed(reason)
            default: return .failed("git could not take the diff of \(path) (exit \(code)): \(reason)")
            }
        }
        let total = outcome.stdout.total
        if total == 0 { return .empty }
        if total > maxPatch { return .tooLarge(bytes: total) }
        guard let patch = String(validating: outcome.stdout.bytes, as: UTF8.self) else {
            let files = Self.nonUTF8Files(outcome.stdout.bytes)
            return .failed(
                "the diff of \(files.isEmpty ? "some files" : files.joined(separator: ", ")) is not UTF-8 text, "
                    + "and a patch travels as text; convert them to UTF-8, or mark them binary in .gitattributes "
                    + "(e.g. `path/to/file binary`)")
        }
        return .patch(patch)
    }

    /// True for a non-empty relative path without `.` or `..` components.
    static func isPlainRelative(_ path: String) -> Bool {
        guard !path.isEmpty, !path.hasPrefix("/") else { return false }
        return path.split(separator: "/").allSatisfy { $0 != "." && $0 != ".." }
    }

    /// The files whose section of `patch` is not UTF-8, as `diff --git` names them (quoted when git quotes).
    static func nonUTF8Files(_ patch: [UInt8]) -> [String] {
        let marker = Array("diff --git ".utf8)
        var starts: [Int] = []
        var index = 0
        while index + marker.count <= patch.count {
            if (index == 0 || patch[index - 1] == UInt8(ascii: "\n"))
                && patch[index ..< index + marker.count].elementsEqual(marker)
            {
                starts.append(index)
            }
            index += 1
        }
        return zip(starts, starts.dropFirst() + [patch.count]).compactMap { start, end in
            let section = patch[start ..< end]
            guard String(validating: section, as: UTF8.self) == nil else { return nil }
            let header = section.prefix { $0 != UInt8(ascii: "\n") }.dropFirst(marker.count)
            let names = String(decoding: header, as: UTF8.self)
            // `a/X b/X`: the new side's name.
            guard let split = names.range(of: " b/", options: .backwards) else { return names }
            return String(names[split.upperBound...])
        }
    }

    /// The script git runs in the sandbox, with the working copy's path as $1 and the base commit as $2. Every
    /// git call disables hooks and fsmonitor, ignores system and global configuration, trusts the directory
    /// whoever owns it inside the sandbox, and stops looking for a repository above the working copy (the
    /// workspace itself may be one). Only the final diff writes to stdout; it overrides the settings of the
    /// repository's configuration that would make a patch `git apply` cannot read (no prefix, relative paths,
    /// external diff drivers, text conversion, colour, no context, submodule logs).
    static let script = #"""
        set -euo pipefail
        cd -P -- "$1" 2>/dev/null || { echo "there is no directory $1 in the workspace" >&2; exit 3; }
        export GIT_CEILING_DIRECTORIES="$(dirname -- "$PWD")" GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
        export GIT_TERMINAL_PROMPT=0 GIT_OPTIONAL_LOCKS=0 GIT_PAGER=cat
        unset GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE GIT_OBJECT_DIRECTORY GIT_ALTERNATE_OBJECT_DIRECTORIES
        g=(git -c core.hooksPath=/dev/null -c core.fsmonitor=false -c safe.directory='*' -c core.splitIndex=false
           -c core.quotePath=true -c core.untrackedCache=false -c gc.auto=0 -c maintenance.auto=false)
        top="$("${g[@]}" rev-parse --show-toplevel 2>/dev/null)" || top=
        aside="move it aside, and the next propose_update makes a fresh working copy there"
        if [ "$top" != "$(pwd -P)" ]; then echo "$1 is not the top of a git repository; $aside" >&2; exit 3; fi
        "${g[@]}" rev-parse --verify --quiet "$2^{commit}" >/dev/null ||
            { echo "the working copy at $1 does not have the base commit $2; $aside" >&2; exit 3; }
        index="$("${g[@]}" rev-parse --path-format=absolute --git-path index)"
        objects="$("${g[@]}" rev-parse --path-format=absolute --git-path objects)"
        scratch="$(mktemp -d)"
        mkdir "$scratch/objects"
        export GIT_INDEX_FILE="$scratch/index" GIT_OBJECT_DIRECTORY="$scratch/objects"
        export GIT_ALTERNATE_OBJECT_DIRECTORIES="$objects"
        if [ -f "$index" ]; then
            cp -- "$index" "$GIT_INDEX_FILE"
            # A file marked assume-unchanged would keep its change out of the patch.
            "${g[@]}" ls-files -z | xargs -0 -r "${g[@]}" update-index --no-assume-unchanged -- >&2
        else
            "${g[@]}" read-tree HEAD >/dev/null 2>&1 || true
        fi
        "${g[@]}" add --all >&2
        "${g[@]}" -c diff.noprefix=false -c diff.mnemonicPrefix=false -c diff.suppressBlankEmpty=false \
            diff --cached --binary --full-index --unified=3 --submodule=short --no-color --no-ext-diff \
            --no-textconv --no-relative --src-prefix=a/ --dst-prefix=b/ "$2" --
        """#
}
