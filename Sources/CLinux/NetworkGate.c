#define _GNU_SOURCE
#include "CLinuxNetworkGate.h"
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif

int cl_notify_receive(int listener, cl_notification *out) {
    struct seccomp_notif request;
    // The kernel refuses a request structure that is not zeroed.
    memset(&request, 0, sizeof request);
    while (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &request) != 0) {
        if (errno != EINTR) return -errno;
        memset(&request, 0, sizeof request);
    }
    out->id = request.id;
    out->pid = (pid_t)request.pid;
    out->nr = request.data.nr;
    for (int i = 0; i < 6; i++) out->args[i] = request.data.args[i];
    return 0;
}

int cl_notify_respond(int listener, uint64_t id, int64_t value, int error) {
    struct seccomp_notif_resp response;
    memset(&response, 0, sizeof response);
    response.id = id;
    response.val = error == 0 ? value : 0;
    response.error = error == 0 ? 0 : -error;
    while (ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &response) != 0) {
        if (errno != EINTR) return -errno;
    }
    return 0;
}

int cl_notify_id_valid(int listener, uint64_t id) {
    return ioctl(listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &id) == 0 ? 0 : -errno;
}

int cl_seccomp_set_filter(const void *instructions, unsigned short count, unsigned int flags) {
    struct sock_fprog program = {.len = count, .filter = (struct sock_filter *)instructions};
    long result = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &program);
    return result < 0 ? -errno : (int)result;
}

int cl_pidfd_getfd(int pidfd, int fd) {
    long result = syscall(SYS_pidfd_getfd, pidfd, fd, 0);
    return result < 0 ? -errno : (int)result;
}

ssize_t cl_process_vm_read(pid_t pid, uint64_t remote, void *buffer, size_t length) {
    struct iovec local = {.iov_base = buffer, .iov_len = length};
    struct iovec far = {.iov_base = (void *)(uintptr_t)remote, .iov_len = length};
    ssize_t result = process_vm_readv(pid, &local, 1, &far, 1, 0);
    return result < 0 ? -errno : result;
}
