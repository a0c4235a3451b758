#ifndef AUTONOUS_CLINUX_NETWORK_GATE_H
#define AUTONOUS_CLINUX_NETWORK_GATE_H
#include <sys/types.h>
#include <stdint.h>
// Seccomp for the sandbox: loading the program the launcher built, and user notification for the sandbox's
// pid 1, which checks the network tier's connect(2) and listen(2) calls. C because the SECCOMP_IOCTL_NOTIF_* requests are function-like macros, struct seccomp_notif must be
// zeroed with its exact kernel size, and pidfd_getfd / process_vm_readv are raw or GNU-only calls.

/// x86_64 syscall numbers the listener is sent (kernel ABI).
static const int CL_SYS_CONNECT = 42;
static const int CL_SYS_LISTEN = 50;

/// One pending notification: the kernel's id, the calling thread (in the listener's pid namespace), the syscall
/// number and its six arguments.
typedef struct {
    uint64_t id;
    pid_t pid;
    int nr;
    uint64_t args[6];
} cl_notification;

/// SECCOMP_IOCTL_NOTIF_RECV: waits for the next notification. Returns 0 or -errno (ENOENT: the caller died
/// before it could be received).
int cl_notify_receive(int listener, cl_notification *out);
/// SECCOMP_IOCTL_NOTIF_SEND: the call returns `value` when `error` is 0, else fails with errno `error` (positive).
/// Returns 0 or -errno (ENOENT: the caller is gone or was interrupted).
int cl_notify_respond(int listener, uint64_t id, int64_t value, int error);
/// SECCOMP_IOCTL_NOTIF_ID_VALID: 0 while the caller still waits for this notification, else -errno.
int cl_notify_id_valid(int listener, uint64_t id);
/// SECCOMP_FILTER_FLAG_NEW_LISTENER (kernel ABI).
static const unsigned int CL_SECCOMP_FILTER_FLAG_NEW_LISTENER = 1U << 3;
/// seccomp(SECCOMP_SET_MODE_FILTER, flags, {count, instructions}): loads a BPF program (`count` 8-byte
/// instructions) into the calling thread. Returns 0, the listener descriptor with FLAG_NEW_LISTENER, or -errno.
int cl_seccomp_set_filter(const void *instructions, unsigned short count, unsigned int flags);
/// pidfd_getfd(2): a duplicate of descriptor `fd` of the process behind `pidfd`, close-on-exec. Returns it or -errno.
int cl_pidfd_getfd(int pidfd, int fd);
/// process_vm_readv(2) of `length` bytes at `remote` in `pid`. Returns the bytes read or -errno.
ssize_t cl_process_vm_read(pid_t pid, uint64_t remote, void *buffer, size_t length);
#endif
