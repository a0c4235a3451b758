import CLinux

#if canImport(Glibc)
import Glibc
#endif

/// Builds the sandbox's root filesystem inside its new mount namespace and switches to it.
///
/// The order follows bubblewrap's: make every mount private, mount a scratch tmpfs and pivot into it (the host
/// root becomes /oldroot there, so host paths stay reachable as sources), assemble the new root under /newroot,
/// make it read-only, then pivot into /newroot and detach everything else, so no path leads back to the host.
struct RootFilesystem {
    let profile: SandboxProfile

    private let new = "/newroot"
    private let old = "/oldroot"
    /// /etc files up to this size are copied into the new root, larger ones bound (measured: a 4 KiB copy and a
    /// read-only bind cost about the same, 25-35 µs; a 72 KiB copy costs 100-120 µs).
    static let largestCopiedFile = 4096

    func build() throws(SandboxError) {
        try Posix.check("make / private", cl_mount(nil, "/", nil, CL_MS_REC | CL_MS_PRIVATE, nil))
        try Posix.check(
            "mount the scratch tmpfs",
            cl_mount("tmpfs", "/tmp", "tmpfs", CL_MS_NOSUID | CL_MS_NODEV, "mode=0755,size=1m"))
        try Posix.makeDirectories("/tmp/newroot")
        try Posix.makeDirectories("/tmp/oldroot")
        try Posix.check("pivot_root into the scratch tmpfs", cl_pivot_root("/tmp", "/tmp/oldroot"))
        try sandboxCall("chdir /") { chdir("/") }
        try Posix.check(
            "mount the new root", cl_mount("tmpfs", new, "tmpfs", CL_MS_NOSUID | CL_MS_NODEV, "mode=0755,size=16m"))

        try systemDirectories()
        try etc()
        try dev()
        try proc()
        try Posix.makeDirectories(new + "/tmp")
        try Posix.check(
            "mount /tmp",
            cl_mount(
                "tmpfs", new + "/tmp", "tmpfs", CL_MS_NOSUID | CL_MS_NODEV, "mode=1777,size=\(profile.tmpSizeBytes)"))
        if let workspace = profile.workspace {
            try bind(workspace, writable: profile.workspaceWritable)
            if profile.workspaceWritable { try protect(workspace) }
        }
        for extra in profile.binds {
            try bind(extra.path, writable: extra.writable, optional: extra.optional, at: extra.target)
            // A writable directory (another tool root) gets the same cover of .git and .autonous.
            let inside = extra.target ?? extra.path
            if extra.writable && Posix.kind(new + inside) == .directory { try protect(inside) }
        }
        for mount in profile.mounts {
            try Posix.makeDirectories(new + mount.target)
            try Posix.check(
                "bind \(mount.source) at \(mount.target)",
                cl_mount(old + mount.source, new + mount.target, nil, CL_MS_BIND, nil))
        }
        try remountReadOnly(new)

        try sandboxCall("chdir \(new)") { chdir(new) }
        try Posix.check("pivot_root into the new root", cl_pivot_root(".", "."))
        try Posix.check("detach the old root", cl_umount2(".", CL_MNT_DETACH))
        try sandboxCall("chdir /") { chdir("/") }
    }

    /// /usr, /lib … read-only; the usrmerge symlinks (/bin -> usr/bin) recreated as symlinks.
    private func systemDirectories() throws(SandboxError) {
        for directory in SandboxProfile.systemDirectories {
            switch Posix.kind(old + directory) {
            case .symlink:
                guard let target = Posix.readLink(old + directory) else { continue }
                try sandboxCall("symlink \(directory)") { symlink(target, new + directory) }
            case .directory:
                try bind(directory, writable: false)
            default:
                continue
            }
        }
    }

    /// A minimal /etc: our own passwd and group, and the few host files programs need, read-only.
    private func etc() throws(SandboxError) {
        try Posix.makeDirectories(new + "/etc")
        try Posix.writeFile(
            new + "/etc/passwd",
            "root:x:0:0:sandbox:/tmp:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n")
        try Posix.writeFile(new + "/etc/group", "root:x:0:\nnogroup:x:65534:\n")
        try Posix.writeFile(new + "/etc/hostname", profile.hostname + "\n")
        var files = SandboxProfile.etcFiles
        if profile.hasNetwork { files += SandboxProfile.networkEtcFiles }
        if profile.mediatesNetwork {
            // The network tier has no UDP: the resolver must ask over TCP, whose connections the gate checks.
            files.removeAll { $0 == "/etc/resolv.conf" }
            if let text = Posix.readFile(old + "/etc/resolv.conf") {
                try Posix.writeFile(
                    new + "/etc/resolv.conf",
                    text
                        + "\n# autonous-sandbox: no UDP in the network tier, so names resolve over TCP\noptions use-vc\n"
                )
            }
        }
        for file in files {
            // Files of up to a page are copied into the new root (read-only once it is remounted): that costs less
            // than the two mount calls of a read-only bind. Larger ones (ld.so.cache, mime.types: tens of KiB)
            // and directories are bound read-only, which costs the same whatever the size.
            if Posix.resolvedKind(old + file) == .file,
                Posix.copyFile(from: old + file, to: new + file, maxBytes: Self.largestCopiedFile)
            {
                continue
            } else {
                try bind(file, writable: false, optional: true)
            }
        }
    }

    /// A tmpfs /dev with the harmless nodes bound from the host, a private devpts and shm; no tty.
    private func dev() throws(SandboxError) {
        try Posix.makeDirectories(new + "/dev")
        try Posix.check(
            "mount /dev", cl_mount("tmpfs", new + "/dev", "tmpfs", CL_MS_NOSUID | CL_MS_NOEXEC, "mode=0755,size=64k"))
        for node in ["null", "zero", "full", "random", "urandom"] {
            try Posix.touch(new + "/dev/" + node)
            try Posix.check(
                "bind /dev/\(node)", cl_mount(old + "/dev/" + node, new + "/dev/" + node, nil, CL_MS_BIND, nil))
        }
        for (name, target) in [
            ("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
            ("stderr", "/proc/self/fd/2"), ("ptmx", "pts/ptmx"),
        ] {
            try sandboxCall("symlink /dev/\(name)") { symlink(target, new + "/dev/" + name) }
        }
        try Posix.makeDirectories(new + "/dev/pts")
        try Posix.check(
            "mount /dev/pts",
            cl_mount(
                "devpts", new + "/dev/pts", "devpts", CL_MS_NOSUID | CL_MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620"
            ))
        try Posix.makeDirectories(new + "/dev/shm")
        try Posix.check(
            "mount /dev/shm",
            cl_mount("tmpfs", new + "/dev/shm", "tmpfs", CL_MS_NOSUID | CL_MS_NODEV, "mode=1777,size=64m"))
    }

    /// A fresh procfs for the sandbox's pid namespace, with the kernel's knobs read-only and its secrets masked.
    private func proc() throws(SandboxError) {
        try Posix.makeDirectories(new + "/proc")
        try Posix.check(
            "mount /proc",
            cl_mount("proc", new + "/proc", "proc", CL_MS_NOSUID | CL_MS_NODEV | CL_MS_NOEXEC, nil))
        guard profile.maskProc else { return }
        for entry in ["sys", "sysrq-trigger", "irq", "bus", "fs"] {
            let path = new + "/proc/" + entry
            guard Posix.kind(path) != .missing else { continue }
            try Posix.check("bind /proc/\(entry)", cl_mount(path, path, nil, CL_MS_BIND | CL_MS_REC, nil))
            try remountReadOnly(path)
        }
        for entry in ["kcore", "keys", "timer_list", "sched_debug", "kallsyms", "latency_stats"] {
            let path = new + "/proc/" + entry
            guard Posix.kind(path) == .file else { continue }
            try Posix.check("mask /proc/\(entry)", cl_mount(new + "/dev/null", path, nil, CL_MS_BIND, nil))
        }
    }

    /// Binds host `path` at the same path inside (or at `inside`); read-only unless `writable`.
    private func bind(_ path: String, writable: Bool, optional: Bool = false, at inside: String? = nil)
        throws(SandboxError)
    {
        let source = old + path
        let target = new + (inside ?? path)
        switch Posix.resolvedKind(source) {
        case .missing:
            if optional { return }
            let code = errno
            if code == EACCES {
                throw SandboxError(
                    .setupFailed,
                    "cannot bind \(path): the sandbox's user (host uid \(profile.hostUID)) may not reach it; make it "
                        + "and its parent directories accessible to that uid", errno: code)
            }
            throw SandboxError(.setupFailed, "cannot bind \(path)", errno: code)
        case .directory:
            try Posix.makeDirectories(target)
        default:
            try Posix.touch(target)
        }
        try Posix.check("bind \(path)", cl_mount(source, target, nil, CL_MS_BIND | CL_MS_REC, nil))
        if !writable { try remountReadOnly(target) }
    }

    /// Paths under a writable workspace (or writable bound directory) that stay read-only: .git/config, .git/hooks, .autonous. A missing one is
    /// created first (empty), so the sandbox cannot create it either; with no .git at all, an empty read-only .git
    /// keeps `git init` from creating hooks. `WorkspacePlaceholders` removes what was created after the run.
    /// A path the sandbox's user cannot create (the directory is not writable for it) needs no cover and is skipped.
    private func protect(_ workspace: String) throws(SandboxError) {
        let root = new + workspace
        if profile.protectedPaths.isEmpty { return }
        let gitKind = Posix.kind(root + "/.git")
        if gitKind == .missing {
            let made = mkdir(root + "/.git", 0o755) == 0
            let code = errno
            // EEXIST: a run on the same workspace made its placeholder between the check and the mkdir; it is just
            // as empty, and is covered just the same.
            if made || (code == EEXIST && Posix.kind(root + "/.git") == .directory) {
                try readOnlyBindOnItself(root + "/.git")
            } else if code != EACCES && code != EPERM {
                throw SandboxError(.setupFailed, "mkdir \(workspace)/.git", errno: code)
            }
        } else if gitKind == .directory {
            // .git becomes a mount point of its own (still writable): a mount point cannot be renamed or removed,
            // so the sandbox cannot move .git aside and create a new one with a writable config or hooks.
            try Posix.check(
                "bind \(workspace)/.git", cl_mount(root + "/.git", root + "/.git", nil, CL_MS_BIND | CL_MS_REC, nil))
        }
        // Everything under a .git created just now is covered by its read-only mount; .autonous still needs one.
        for relative in profile.protectedPaths where !(gitKind == .missing && relative.hasPrefix(".git/")) {
            let path = root + "/" + relative
            switch Posix.kind(path) {
            case .missing:
                let created =
                    relative == ".git/config" ? open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o644) : mkdir(path, 0o755)
                if created >= 0 {
                    if relative == ".git/config" { close(created) }
                } else if errno == EACCES || errno == EPERM {
                    continue
                } else if errno != EEXIST {
                    // EEXIST: a concurrent run on the same workspace created it just now; it is covered below.
                    throw SandboxError(.setupFailed, "create \(workspace)/\(relative)", errno: errno)
                }
            case .symlink:
                // A symlink here could point anywhere; cover it with an empty read-only file.
                throw SandboxError(.setupFailed, "\(workspace)/\(relative) is a symlink; refusing to run")
            default:
                break
            }
            try readOnlyBindOnItself(path)
        }
    }

    private func readOnlyBindOnItself(_ path: String) throws(SandboxError) {
        try Posix.check("bind \(path)", cl_mount(path, path, nil, CL_MS_BIND | CL_MS_REC, nil))
        try remountReadOnly(path)
    }

    /// Remounts a bind mount read-only, keeping the flags the kernel locked on it (nosuid, nodev …).
    private func remountReadOnly(_ path: String) throws(SandboxError) {
        let flags = CL_MS_REMOUNT | CL_MS_BIND | CL_MS_RDONLY | CL_MS_NOSUID | cl_locked_mount_flags(path)
        try Posix.check("remount \(path) read-only", cl_mount(nil, path, nil, flags, nil))
    }
}
