#ifndef AUTONOUS_CLINUX_H
#define AUTONOUS_CLINUX_H
#include <sys/types.h>
#include <stdint.h>
#include "CLinuxNamespaces.h"
#include "CLinuxNetworkGate.h"
#include "CLinuxEpoll.h"

/// Reads SO_PEERCRED of a connected AF_UNIX socket. C because `struct ucred` is only declared with _GNU_SOURCE,
/// which Swift's Glibc module does not define. Returns 0 or -errno.
int cl_peer_credentials(int fd, pid_t *pid, uid_t *uid, gid_t *gid);

/// Sends a datagram with one file descriptor attached (SCM_RIGHTS). C because the CMSG_* accessors are macros.
/// Returns bytes sent or -errno.
ssize_t cl_send_with_fd(int sock, const void *buf, size_t len, const void *addr, uint32_t addrlen, int fd);

/// memfd_create(2) with MFD_CLOEXEC | MFD_ALLOW_SEALING. C because glibc's wrapper and MFD_* are not imported.
int cl_memfd_create(const char *name);

/// Seals a memfd against writes, growth and shrinking (F_ADD_SEALS). C because F_SEAL_* are not imported.
int cl_memfd_seal(int fd);

/// prctl(PR_SET_PDEATHSIG, sig). C because prctl is variadic.
int cl_set_parent_death_signal(int sig);

/// Number of the calling thread's process-wide threads is not needed; this returns getpid() via syscall so the value
/// is right after a raw clone. C because syscall(2) is variadic.
pid_t cl_raw_getpid(void);

/// close_range(first, ~0U, CLOSE_RANGE_CLOEXEC): marks every descriptor from `first` up close-on-exec.
/// C because close_range has no glibc 2.36 wrapper in Swift's view and syscall(2) is variadic. Returns 0 or -errno.
int cl_cloexec_from(unsigned int first);

/// accept4(fd, NULL, NULL, SOCK_CLOEXEC), so no accepted descriptor leaks into a child spawned meanwhile.
/// C because accept4 is a GNU extension Swift's Glibc module does not import. Returns the fd or -errno.
int cl_accept_cloexec(int fd);

/// getxattr(2) of `name` on `path` into `value`. C because <sys/xattr.h> is not part of Swift's Glibc module.
/// Returns the value's length or -errno.
ssize_t cl_getxattr(const char *path, const char *name, void *value, size_t size);

/// memmem(3): the first occurrence of `needle` in `haystack`, or NULL. C because memmem is a GNU extension Swift's
/// Glibc module does not import.
void *cl_memmem(const void *haystack, size_t haystack_len, const void *needle, size_t needle_len);

/// The POLLRDHUP bit (peer closed its writing half). C because it is declared only with _GNU_SOURCE.
short cl_pollrdhup(void);

/// posix_spawn of `path` with stdin/stdout/stderr set to the given descriptors, `extra_fd` (when >= 0) as its
/// descriptor 3, every other descriptor closed, default signal dispositions, an empty signal mask and a new process
/// group (so the whole group can be signalled).
/// C because posix_spawn_file_actions_addclosefrom_np is a GNU extension and the sigset macros are not imported.
/// Returns 0 and sets *pid, or an errno value.
int cl_spawn(const char *path, char *const argv[], char *const envp[], int stdin_fd, int stdout_fd, int stderr_fd,
             int extra_fd, pid_t *pid);

/// The SHA-256 compression function over `blocks` consecutive 64-byte blocks. C because Swift debug builds run
/// it at a few MB/s, which made every supervisor start hash its 30 MB worker binary for seconds. With the CPU's
/// SHA extensions where it has them (x86-64 SHA-NI, about ten times the portable code): the supervisor hashes the
/// worker's binary before every spawn, and a slow hash held its loop and the watchdog pings behind it.
void cl_sha256_blocks(uint32_t state[8], const unsigned char *data, size_t blocks);

/// The portable compression function alone, which `cl_sha256_blocks` uses without the SHA extensions (for the
/// tests that compare the two).
void cl_sha256_blocks_portable(uint32_t state[8], const unsigned char *data, size_t blocks);

/// Unblocks every signal and resets SIGPIPE-style inherited "ignore" dispositions for SIGTERM, SIGINT and SIGHUP.
/// A daemon may be started by a parent that handed down a blocked mask (a thread that spawned it); then SIGTERM
/// would never arrive. C because the sigset_t macros are not importable.
void cl_reset_signals(void);

/// prctl(PR_CAPBSET_READ, cap): 1 if `cap` is in the bounding set, 0 if not, -errno (EINVAL past the last
/// capability). C because prctl is variadic.
int cl_capbset_read(int cap);

/// prctl(PR_CAPBSET_DROP, cap); needs CAP_SETPCAP. C because prctl is variadic. Returns 0 or -errno.
int cl_capbset_drop(int cap);

/// prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL). C because prctl is variadic. Returns 0 or -errno.
int cl_cap_ambient_clear_all(void);

/// prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, cap): 1, 0 or -errno. C because prctl is variadic.
int cl_cap_ambient_is_set(int cap);

/// prctl(PR_SET_DUMPABLE, value). C because prctl is variadic. Returns 0 or -errno.
int cl_set_dumpable(int value);
/// prctl(PR_SET_NO_NEW_PRIVS, 1). C because prctl is variadic. Returns 0 or -errno.
int cl_set_no_new_privs(void);

/// prctl(PR_GET_NO_NEW_PRIVS): 1, 0 or -errno. C because prctl is variadic.
int cl_get_no_new_privs(void);

/// prctl(PR_GET_SECCOMP): 0 (no filter), 2 (filtered) or -errno (EINVAL: a kernel without seccomp).
/// C because prctl is variadic.
int cl_get_seccomp_mode(void);

/// `cl_release_executable_pages` options.
enum {
    /// The shared libraries' code and read-only data too.
    CL_RELEASE_LIBRARIES = 1,
    /// Code mappings are split into one-page areas (within a quarter of vm.max_map_count), so that a fault maps
    /// its own page only, rather than the cached pages around it: for a process that goes on running after the
    /// release (each area costs the kernel about 200 bytes).
    CL_RELEASE_SPLIT_CODE = 2,
};

/// Lets go of the running executable's pages that are still the file's own (code, read-only data, data never
/// written): page table entries dropped where the page can no longer be written, reclaimed elsewhere, so nothing a
/// process wrote is ever lost. Its mappings get MADV_RANDOM, so what it runs later comes back without read-around.
/// Returns how many mappings it went over (pieces of one mapping counted once), or -errno.
int cl_release_executable_pages(int options);


#endif
