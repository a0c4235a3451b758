#define _GNU_SOURCE
#include "CLinuxNamespaces.h"
#include <errno.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

int cl_unshare(int flags) { return unshare(flags) == 0 ? 0 : -errno; }

int cl_mount(const char *source, const char *target, const char *fstype, unsigned long flags, const char *data) {
    return mount(source, target, fstype, flags, data) == 0 ? 0 : -errno;
}

int cl_umount2(const char *target, int flags) { return umount2(target, flags) == 0 ? 0 : -errno; }

int cl_pivot_root(const char *new_root, const char *put_old) {
    return syscall(SYS_pivot_root, new_root, put_old) == 0 ? 0 : -errno;
}

unsigned long cl_locked_mount_flags(const char *path) {
    struct statvfs info;
    if (statvfs(path, &info) != 0) return 0;
    unsigned long flags = 0;
    if (info.f_flag & ST_NOSUID) flags |= MS_NOSUID;
    if (info.f_flag & ST_NODEV) flags |= MS_NODEV;
    if (info.f_flag & ST_NOEXEC) flags |= MS_NOEXEC;
    if (info.f_flag & ST_NOATIME) flags |= MS_NOATIME;
    if (info.f_flag & ST_NODIRATIME) flags |= MS_NODIRATIME;
    if (info.f_flag & ST_RELATIME) flags |= MS_RELATIME;
    return flags;
}

int cl_setresuid(uid_t r, uid_t e, uid_t s) { return setresuid(r, e, s) == 0 ? 0 : -errno; }
int cl_setresgid(gid_t r, gid_t e, gid_t s) { return setresgid(r, e, s) == 0 ? 0 : -errno; }
int cl_clear_groups(void) { return setgroups(0, NULL) == 0 ? 0 : -errno; }
int cl_sethostname(const char *name) { return sethostname(name, strlen(name)) == 0 ? 0 : -errno; }

int cl_pidfd_open(pid_t pid) {
    long fd = syscall(SYS_pidfd_open, pid, 0);
    return fd < 0 ? -errno : (int)fd;
}

// The launcher is single-threaded; the remembered mask reaches pid 1 as part of its copy of the memory.
static cpu_set_t remembered_affinity;
static int affinity_remembered;

int cl_affinity_remember(void) {
    if (sched_getaffinity(0, sizeof remembered_affinity, &remembered_affinity) != 0) return -errno;
    affinity_remembered = 1;
    return CPU_COUNT(&remembered_affinity);
}

int cl_affinity_start_elsewhere(pid_t child) {
    if (!affinity_remembered) return 0;
    int here = sched_getcpu();
    if (here < 0) return -errno;
    cpu_set_t others = remembered_affinity;
    CPU_CLR(here, &others);
    if (CPU_COUNT(&others) == 0) return 0;
    return sched_setaffinity(child, sizeof others, &others) == 0 ? 1 : -errno;
}

int cl_affinity_restore(void) {
    if (!affinity_remembered) return 0;
    return sched_setaffinity(0, sizeof remembered_affinity, &remembered_affinity) == 0 ? 0 : -errno;
}

int cl_pidfd_send_signal(int pidfd, int sig) {
    return syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) == 0 ? 0 : -errno;
}

pid_t cl_clone_namespaces(int flags) {
    // No new stack: like fork, the child continues on a copy of the caller's. The caller is single-threaded.
    long pid = syscall(SYS_clone, (unsigned long)flags | SIGCHLD, NULL, NULL, NULL, NULL);
    return pid < 0 ? -errno : (pid_t)pid;
}

pid_t cl_clone3_into_cgroup(int flags, int cgroup_fd) {
    // struct clone_args of Linux 5.7 (CLONE_ARGS_SIZE_VER2), laid out here so older headers do not matter.
    struct {
        uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size,
            cgroup;
    } args;
    memset(&args, 0, sizeof args);
    args.flags = (uint64_t)(unsigned int)flags | 0x200000000ULL;  // CLONE_INTO_CGROUP
    args.exit_signal = SIGCHLD;
    args.cgroup = (uint64_t)cgroup_fd;
    long pid = syscall(435 /* SYS_clone3 */, &args, sizeof args);
    return pid < 0 ? -errno : (pid_t)pid;
}

pid_t cl_fork(void) {
    pid_t pid = fork();
    return pid < 0 ? -errno : pid;
}

int cl_waitpid(pid_t pid, int *status, int flags) {
    pid_t r;
    do { r = waitpid(pid, status, flags | __WALL); } while (r < 0 && errno == EINTR);
    return r < 0 ? -errno : r;
}

pid_t cl_wait_any(int *status, int flags) {
    pid_t r = waitpid(-1, status, flags | __WALL);
    return r < 0 ? -errno : r;
}

int cl_set_signal_handler(int sig, void (*handler)(int)) {
    struct sigaction action;
    memset(&action, 0, sizeof(action));
    action.sa_handler = handler;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    return sigaction(sig, &action, NULL) == 0 ? 0 : -errno;
}

#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#endif

int cl_landlock_abi_version(void) {
    long version = syscall(SYS_landlock_create_ruleset, NULL, 0, 1U << 0);
    return version < 0 ? -errno : (int)version;
}

#ifndef SYS_openat2
#define SYS_openat2 437
#endif

struct cl_open_how {
    unsigned long long flags;
    unsigned long long mode;
    unsigned long long resolve;
};

int cl_openat2_beneath(int dirfd, const char *path, int flags, unsigned int mode, unsigned long long extra_resolve) {
    struct cl_open_how how = {
        .flags = (unsigned long long)(unsigned int)flags,
        .mode = mode,
        .resolve = 0x08 /* RESOLVE_BENEATH */ | 0x02 /* RESOLVE_NO_MAGICLINKS */ | extra_resolve,
    };
    long fd;
    do { fd = syscall(SYS_openat2, dirfd, path, &how, sizeof(how)); } while (fd < 0 && errno == EINTR);
    return fd < 0 ? -errno : (int)fd;
}

int cl_send_fds(int sock, const void *buf, size_t len, const int *fds, int count) {
    if (count < 0 || count > CL_MAX_PASSED_FDS) return -EINVAL;
    struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
    union {
        char buf[CMSG_SPACE(sizeof(int) * CL_MAX_PASSED_FDS)];
        struct cmsghdr align;
    } control;
    memset(&control, 0, sizeof(control));
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
    if (count > 0) {
        msg.msg_control = control.buf;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)count);
        struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
        cmsg->cmsg_level = SOL_SOCKET;
        cmsg->cmsg_type = SCM_RIGHTS;
        cmsg->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)count);
        memcpy(CMSG_DATA(cmsg), fds, sizeof(int) * (size_t)count);
    }
    ssize_t n;
    do { n = sendmsg(sock, &msg, MSG_NOSIGNAL); } while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : 0;
}

ssize_t cl_recv_fds(int sock, void *buf, size_t len, int *fds, int max, int *count) {
    *count = 0;
    struct iovec iov = { .iov_base = buf, .iov_len = len };
    union {
        char buf[CMSG_SPACE(sizeof(int) * CL_MAX_PASSED_FDS)];
        struct cmsghdr align;
    } control;
    struct msghdr msg = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf, .msg_controllen = sizeof(control.buf),
    };
    ssize_t n;
    do { n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC); } while (n < 0 && errno == EINTR);
    if (n < 0) return -errno;
    for (struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg); cmsg != NULL; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
        if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS) continue;
        int received = (int)((cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        int *data = (int *)CMSG_DATA(cmsg);
        for (int i = 0; i < received; i++) {
            if (*count < max) {
                fds[(*count)++] = data[i];
            } else {
                close(data[i]);
            }
        }
    }
    if (msg.msg_flags & (MSG_CTRUNC | MSG_TRUNC)) {
        for (int i = 0; i < *count; i++) close(fds[i]);
        *count = 0;
        return -EMSGSIZE;
    }
    return n;
}
