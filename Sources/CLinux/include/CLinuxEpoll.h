#ifndef AUTONOUS_CLINUX_EPOLL_H
#define AUTONOUS_CLINUX_EPOLL_H
#include <errno.h>
#include <stdint.h>
#include <sys/epoll.h>

// epoll(7) for the async sockets' event loop. C because Swift's Glibc module does not include <sys/epoll.h>, and
// `struct epoll_event` is packed on x86-64: these wrappers take and return plain values instead.

/// epoll_create1(EPOLL_CLOEXEC). Returns the descriptor or -errno.
static inline int cl_epoll_create(void) {
    int fd = epoll_create1(EPOLL_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

/// epoll_ctl(epfd, op, fd, {events, data.fd = fd}); `event` is ignored for EPOLL_CTL_DEL. Returns 0 or -errno.
static inline int cl_epoll_ctl(int epfd, int op, int fd, uint32_t events) {
    struct epoll_event event = {.events = events, .data = {.fd = fd}};
    return epoll_ctl(epfd, op, fd, &event) == 0 ? 0 : -errno;
}

/// epoll_wait(epfd, …, max, timeout_ms) into two arrays of `max` entries: each ready descriptor and its events.
/// Returns the count or -errno (EINTR included; the caller retries).
static inline int cl_epoll_wait(int epfd, int *fds, uint32_t *events, int max, int timeout_ms) {
    struct epoll_event ready[64];
    if (max > 64) max = 64;
    int count = epoll_wait(epfd, ready, max, timeout_ms);
    if (count < 0) return -errno;
    for (int i = 0; i < count; i++) {
        fds[i] = ready[i].data.fd;
        events[i] = ready[i].events;
    }
    return count;
}
#endif
