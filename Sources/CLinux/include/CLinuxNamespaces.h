#ifndef AUTONOUS_CLINUX_NAMESPACES_H
#define AUTONOUS_CLINUX_NAMESPACES_H
#include <sys/types.h>
#include <stdint.h>

// Namespace, mount and identity calls for the single-threaded sandbox launcher. Each is C because Swift's Glibc
// module either does not import it (unshare, setresuid, pivot_root, pidfd_open are GNU or raw syscalls) or
// imports its flag macros badly (CLONE_*, MS_*), as ARCHITECTURE.md's gotchas note.

// CLONE_* namespace flags (their values are kernel ABI).
static const int CL_CLONE_NEWNS = 0x00020000;
static const int CL_CLONE_NEWCGROUP = 0x02000000;
static const int CL_CLONE_NEWUTS = 0x04000000;
static const int CL_CLONE_NEWIPC = 0x08000000;
static const int CL_CLONE_NEWUSER = 0x10000000;
static const int CL_CLONE_NEWPID = 0x20000000;
static const int CL_CLONE_NEWNET = 0x40000000;

// mount(2) flags.
static const unsigned long CL_MS_RDONLY = 1;
static const unsigned long CL_MS_NOSUID = 2;
static const unsigned long CL_MS_NODEV = 4;
static const unsigned long CL_MS_NOEXEC = 8;
static const unsigned long CL_MS_REMOUNT = 32;
static const unsigned long CL_MS_BIND = 4096;
static const unsigned long CL_MS_REC = 16384;
static const unsigned long CL_MS_PRIVATE = 1UL << 18;
static const unsigned long CL_MS_SLAVE = 1UL << 19;
static const int CL_MNT_DETACH = 2;

/// unshare(2). Returns 0 or -errno.
int cl_unshare(int flags);
/// mount(2). Returns 0 or -errno.
int cl_mount(const char *source, const char *target, const char *fstype, unsigned long flags, const char *data);
/// umount2(2). Returns 0 or -errno.
int cl_umount2(const char *target, int flags);
/// pivot_root(2), a raw syscall without a glibc wrapper. Returns 0 or -errno.
int cl_pivot_root(const char *new_root, const char *put_old);
/// The MS_* flags a mount must keep when it is remounted inside a user namespace (the kernel locks nosuid, nodev,
/// noexec, noatime … that the mount had when the namespace was created), read with statvfs. Returns 0 on error.
unsigned long cl_locked_mount_flags(const char *path);
/// setresuid / setresgid. Returns 0 or -errno.
int cl_setresuid(uid_t r, uid_t e, uid_t s);
int cl_setresgid(gid_t r, gid_t e, gid_t s);
/// setgroups(0, NULL): drop supplementary groups. Returns 0 or -errno.
int cl_clear_groups(void);
/// sethostname(2). Returns 0 or -errno.
int cl_sethostname(const char *name);
/// Remembers the calling process's CPU affinity (sched_getaffinity), for `cl_affinity_start_elsewhere` and
/// `cl_affinity_restore`; a process forked or cloned afterwards inherits the remembered mask with its memory.
/// Returns the number of CPUs in it or -errno. C because cpu_set_t's CPU_* accessors are macros.
int cl_affinity_remember(void);
/// Restricts `child` to the remembered CPUs other than the one the caller runs on, so that it starts at once on
/// another CPU instead of queueing behind its still-busy parent. Returns 1 when it did, 0 when there is no other
/// CPU (or nothing was remembered), -errno when the kernel refused.
int cl_affinity_start_elsewhere(pid_t child);
/// Sets the calling process's affinity back to the remembered mask. Returns 0 (also when nothing was remembered)
/// or -errno.
int cl_affinity_restore(void);
/// pidfd_open(2), a raw syscall. Returns the fd or -errno.
int cl_pidfd_open(pid_t pid);
/// pidfd_send_signal(2), a raw syscall: signals the process the pidfd pins, never a later owner of its pid.
/// Returns 0 or -errno (ESRCH once it has exited).
int cl_pidfd_send_signal(int pidfd, int sig);
/// clone(2) with CLONE_NEW* `flags` and SIGCHLD, fork-like (the child runs on a copy of the stack): the child is
/// created inside the new namespaces at once (pid 1 of a new pid namespace). A raw syscall: glibc's clone wants a
/// new stack and a function. glibc's cached thread id stays the parent's in the child, so the child must not use
/// pthread_kill or raise. Returns the pid (0 in the child) or -errno.
pid_t cl_clone_namespaces(int flags);
/// clone3(2) like `cl_clone_namespaces`, with CLONE_INTO_CGROUP: the child starts in the cgroup v2 directory open
/// at `cgroup_fd`, so no migration (and none of its RCU wait) is needed. Linux 5.7+; returns the pid (0 in the
/// child) or -errno (ENOSYS, E2BIG or EINVAL on older kernels; EBUSY/EACCES when the cgroup cannot take it).
pid_t cl_clone3_into_cgroup(int flags, int cgroup_fd);
/// fork(2) wrapper: Swift marks fork unavailable; the launcher is single-threaded, where fork is safe.
/// Returns the pid (0 in the child) or -errno.
pid_t cl_fork(void);
/// Waits for `pid` (retrying on EINTR); the raw wait status goes to *status. Returns the pid, 0 with WNOHANG, or -errno.
int cl_waitpid(pid_t pid, int *status, int flags);
/// Waits for any child (the sandbox's pid 1 reaps orphans). Returns the pid, 0 with WNOHANG, or -errno.
pid_t cl_wait_any(int *status, int flags);
/// Installs `handler` for `sig` with SA_RESTART and an empty mask. Returns 0 or -errno.
int cl_set_signal_handler(int sig, void (*handler)(int));
/// The Landlock ABI version the kernel offers (landlock_create_ruleset with LANDLOCK_CREATE_RULESET_VERSION), or
/// -errno when Landlock is unavailable. A raw syscall: glibc has no wrapper.
int cl_landlock_abi_version(void);
/// openat2(dirfd, path, {flags, mode, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | extra}): opens `path` only if its
/// resolution stays beneath `dirfd` (no "..", absolute path or symlink leads out) and crosses no /proc magic link.
/// A raw syscall with struct open_how: glibc 2.36 has no wrapper. Returns the fd or -errno.
int cl_openat2_beneath(int dirfd, const char *path, int flags, unsigned int mode, unsigned long long extra_resolve);
/// O_PATH (a GNU flag Swift does not import): a descriptor that only names a directory.
static const int CL_O_PATH = 010000000;
/// RESOLVE_NO_SYMLINKS, for callers that refuse every symlink.
static const unsigned long long CL_RESOLVE_NO_SYMLINKS = 0x04;
/// WNOHANG.
static const int CL_WNOHANG = 1;

/// The most descriptors one `cl_send_fds` message carries.
#define CL_MAX_PASSED_FDS 16
/// Sends `len` bytes with `count` descriptors attached (SCM_RIGHTS) on a connected socket, without SIGPIPE.
/// C because the CMSG_* accessors are macros. Returns 0 or -errno (EINVAL for more than CL_MAX_PASSED_FDS).
int cl_send_fds(int sock, const void *buf, size_t len, const int *fds, int count);
/// Receives one message of at most `len` bytes and keeps up to `max` of its descriptors (close-on-exec; extra
/// ones are closed); *count gets how many. Returns the byte count (0 at end of file) or -errno (EMSGSIZE when the
/// message or its descriptors were cut short, with none kept).
ssize_t cl_recv_fds(int sock, void *buf, size_t len, int *fds, int max, int *count);

#endif
