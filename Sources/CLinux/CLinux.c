#define _GNU_SOURCE
#include "CLinux.h"
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/socket.h>
#include <sys/xattr.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

int cl_peer_credentials(int fd, pid_t *pid, uid_t *uid, gid_t *gid) {
    struct ucred cred;
    socklen_t len = sizeof(cred);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return -errno;
    *pid = cred.pid;
    *uid = cred.uid;
    *gid = cred.gid;
    return 0;
}

ssize_t cl_send_with_fd(int sock, const void *buf, size_t len, const void *addr, uint32_t addrlen, int fd) {
    struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } control;
    memset(&control, 0, sizeof(control));
    struct msghdr msg = {
        .msg_name = (void *)addr, .msg_namelen = addrlen,
        .msg_iov = &iov, .msg_iovlen = 1,
        .msg_control = control.buf, .msg_controllen = sizeof(control.buf),
    };
    struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
    ssize_t n;
    do { n = sendmsg(sock, &msg, MSG_NOSIGNAL); } while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : n;
}

int cl_memfd_create(const char *name) {
    int fd = (int)syscall(SYS_memfd_create, name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
    return fd < 0 ? -errno : fd;
}

int cl_memfd_seal(int fd) {
    int r = fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL);
    return r < 0 ? -errno : 0;
}

ssize_t cl_getxattr(const char *path, const char *name, void *value, size_t size) {
    ssize_t result = getxattr(path, name, value, size);
    return result < 0 ? -errno : result;
}

int cl_set_parent_death_signal(int sig) {
    return prctl(PR_SET_PDEATHSIG, (unsigned long)sig, 0, 0, 0) == 0 ? 0 : -errno;
}

pid_t cl_raw_getpid(void) { return (pid_t)syscall(SYS_getpid); }

int cl_cloexec_from(unsigned int first) {
    long r = syscall(SYS_close_range, first, ~0U, CLOSE_RANGE_CLOEXEC);
    return r < 0 ? -errno : 0;
}

int cl_accept_cloexec(int fd) {
    int r = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
    return r < 0 ? -errno : r;
}

void *cl_memmem(const void *haystack, size_t haystack_len, const void *needle, size_t needle_len) {
    return memmem(haystack, haystack_len, needle, needle_len);
}

short cl_pollrdhup(void) { return POLLRDHUP; }

int cl_spawn(const char *path, char *const argv[], char *const envp[], int stdin_fd, int stdout_fd, int stderr_fd,
             int extra_fd, pid_t *pid) {
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    int r = posix_spawn_file_actions_init(&actions);
    if (r != 0) return r;
    r = posix_spawnattr_init(&attr);
    if (r != 0) { posix_spawn_file_actions_destroy(&actions); return r; }
    if (stdin_fd != 0) r = r ? r : posix_spawn_file_actions_adddup2(&actions, stdin_fd, 0);
    if (stdout_fd != 1) r = r ? r : posix_spawn_file_actions_adddup2(&actions, stdout_fd, 1);
    if (stderr_fd != 2) r = r ? r : posix_spawn_file_actions_adddup2(&actions, stderr_fd, 2);
    // glibc's adddup2 with equal descriptors clears close-on-exec, so an extra_fd of 3 is passed on too.
    if (extra_fd >= 0) r = r ? r : posix_spawn_file_actions_adddup2(&actions, extra_fd, 3);
    r = r ? r : posix_spawn_file_actions_addclosefrom_np(&actions, extra_fd >= 0 ? 4 : 3);
    sigset_t all, none;
    sigfillset(&all);
    sigemptyset(&none);
    r = r ? r : posix_spawnattr_setsigdefault(&attr, &all);
    r = r ? r : posix_spawnattr_setsigmask(&attr, &none);
    r = r ? r : posix_spawnattr_setpgroup(&attr, 0);
    r = r ? r : posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP);
    if (r == 0) r = posix_spawn(pid, path, &actions, &attr, argv, envp);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    return r;
}

static const uint32_t cl_sha256_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

#define CL_ROTR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

void cl_sha256_blocks_portable(uint32_t state[8], const unsigned char *data, size_t blocks) {
    uint32_t w[64];
    for (size_t n = 0; n < blocks; n++, data += 64) {
        for (int i = 0; i < 16; i++) {
            w[i] = (uint32_t)data[i * 4] << 24 | (uint32_t)data[i * 4 + 1] << 16 | (uint32_t)data[i * 4 + 2] << 8 |
                   (uint32_t)data[i * 4 + 3];
        }
        for (int i = 16; i < 64; i++) {
            uint32_t s0 = CL_ROTR(w[i - 15], 7) ^ CL_ROTR(w[i - 15], 18) ^ (w[i - 15] >> 3);
            uint32_t s1 = CL_ROTR(w[i - 2], 17) ^ CL_ROTR(w[i - 2], 19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16] + s0 + w[i - 7] + s1;
        }
        uint32_t a = state[0], b = state[1], c = state[2], d = state[3];
        uint32_t e = state[4], f = state[5], g = state[6], h = state[7];
        for (int i = 0; i < 64; i++) {
            uint32_t t1 = h + (CL_ROTR(e, 6) ^ CL_ROTR(e, 11) ^ CL_ROTR(e, 25)) + ((e & f) ^ (~e & g)) + cl_sha256_k[i] + w[i];
            uint32_t t2 = (CL_ROTR(a, 2) ^ CL_ROTR(a, 13) ^ CL_ROTR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
            h = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
        }
        state[0] += a; state[1] += b; state[2] += c; state[3] += d;
        state[4] += e; state[5] += f; state[6] += g; state[7] += h;
    }
}

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>

/// Whether the CPU has the SHA extensions (and the SSSE3/SSE4.1 the routine below also uses).
static int cl_sha256_has_sha_ni(void) {
    unsigned int eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return 0;
    int ssse3 = (ecx >> 9) & 1, sse41 = (ecx >> 19) & 1;
    if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return 0;
    return ssse3 && sse41 && ((ebx >> 29) & 1);
}

/// The compression function with the SHA extensions: four rounds per step, the message schedule by
/// sha256msg1/sha256msg2. The state is kept as the instructions want it, ABEF and CDGH, and converted back after.
__attribute__((target("sha,sse4.1,ssse3")))
static void cl_sha256_blocks_sha_ni(uint32_t state[8], const unsigned char *data, size_t blocks) {
    // Reverses the bytes of each 32-bit word: the message words are big-endian.
    const __m128i byteswap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
    __m128i dcba = _mm_loadu_si128((const __m128i *)&state[0]);
    __m128i hgfe = _mm_loadu_si128((const __m128i *)&state[4]);
    __m128i badc = _mm_shuffle_epi32(dcba, 0xB1);
    __m128i efgh = _mm_shuffle_epi32(hgfe, 0x1B);
    __m128i abef = _mm_alignr_epi8(badc, efgh, 8);
    __m128i cdgh = _mm_blend_epi16(efgh, badc, 0xF0);
    for (size_t n = 0; n < blocks; n++, data += 64) {
        const __m128i abef_saved = abef, cdgh_saved = cdgh;
        __m128i w[16];
        for (int i = 0; i < 16; i++) {
            if (i < 4) {
                w[i] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(data + 16 * i)), byteswap);
            } else {
                // W[t] = W[t-16] + s0(W[t-15]) + W[t-7] + s1(W[t-2]), four words at a time.
                __m128i partial = _mm_add_epi32(_mm_sha256msg1_epu32(w[i - 4], w[i - 3]),
                                                _mm_alignr_epi8(w[i - 1], w[i - 2], 4));
                w[i] = _mm_sha256msg2_epu32(partial, w[i - 1]);
            }
            __m128i wk = _mm_add_epi32(w[i], _mm_loadu_si128((const __m128i *)&cl_sha256_k[4 * i]));
            cdgh = _mm_sha256rnds2_epu32(cdgh, abef, wk);
            abef = _mm_sha256rnds2_epu32(abef, cdgh, _mm_shuffle_epi32(wk, 0x0E));
        }
        abef = _mm_add_epi32(abef, abef_saved);
        cdgh = _mm_add_epi32(cdgh, cdgh_saved);
    }
    __m128i feba = _mm_shuffle_epi32(abef, 0x1B);
    __m128i dchg = _mm_shuffle_epi32(cdgh, 0xB1);
    _mm_storeu_si128((__m128i *)&state[0], _mm_blend_epi16(feba, dchg, 0xF0));
    _mm_storeu_si128((__m128i *)&state[4], _mm_alignr_epi8(dchg, feba, 8));
}
#endif

void cl_sha256_blocks(uint32_t state[8], const unsigned char *data, size_t blocks) {
#if defined(__x86_64__)
    // Decided once (threads that race here compute the same answer).
    static int sha_ni = -1;
    int known = __atomic_load_n(&sha_ni, __ATOMIC_RELAXED);
    if (known < 0) {
        known = cl_sha256_has_sha_ni();
        __atomic_store_n(&sha_ni, known, __ATOMIC_RELAXED);
    }
    if (known) {
        cl_sha256_blocks_sha_ni(state, data, blocks);
        return;
    }
#endif
    cl_sha256_blocks_portable(state, data, blocks);
}

void cl_reset_signals(void) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
}

int cl_capbset_read(int cap) {
    int r = prctl(PR_CAPBSET_READ, (unsigned long)cap, 0, 0, 0);
    return r < 0 ? -errno : r;
}

int cl_capbset_drop(int cap) { return prctl(PR_CAPBSET_DROP, (unsigned long)cap, 0, 0, 0) == 0 ? 0 : -errno; }

int cl_cap_ambient_clear_all(void) {
    return prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) == 0 ? 0 : -errno;
}

int cl_cap_ambient_is_set(int cap) {
    int r = prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, (unsigned long)cap, 0, 0);
    return r < 0 ? -errno : r;
}

int cl_set_dumpable(int value) { return prctl(PR_SET_DUMPABLE, value, 0, 0, 0) == 0 ? 0 : -errno; }

int cl_set_no_new_privs(void) { return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 ? 0 : -errno; }

int cl_get_no_new_privs(void) {
    int r = prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);
    return r < 0 ? -errno : r;
}

int cl_get_seccomp_mode(void) {
    int r = prctl(PR_GET_SECCOMP, 0, 0, 0, 0);
    return r < 0 ? -errno : r;
}

/// `advice` over the pages of [start, end) that still hold the file's own contents (present and file-backed in
/// pagemap), in runs.
static void cl_advise_file_pages(int pagemap, unsigned long start, unsigned long end, int advice) {
    const unsigned long page = (unsigned long)sysconf(_SC_PAGESIZE);
    uint64_t entries[512];
    unsigned long run_start = 0;
    for (unsigned long address = start; address < end;) {
        size_t count = (end - address) / page;
        if (count > 512) count = 512;
        ssize_t got = pread(pagemap, entries, count * sizeof(uint64_t), (off_t)(address / page * sizeof(uint64_t)));
        if (got <= 0) break;
        count = (size_t)got / sizeof(uint64_t);
        for (size_t index = 0; index < count; index++, address += page) {
            int file_page = (entries[index] >> 63 & 1) && (entries[index] >> 61 & 1);
            if (file_page && run_start == 0) run_start = address;
            if (!file_page && run_start != 0) {
                (void)madvise((void *)run_start, address - run_start, advice);
                run_start = 0;
            }
        }
    }
    if (run_start != 0) (void)madvise((void *)run_start, end - run_start, advice);
}

/// A private file mapping `cl_release_executable_pages` goes over: the pieces maps lists one after another for the
/// same file with the same permissions are one (the release itself splits code mappings into pieces).
struct cl_file_mapping {
    unsigned long start, end, anonymous_kb, pieces;
    dev_t device;
    unsigned long inode;
    char perms[5];
};

/// Code mappings are split into areas of one page each (every other page marked MADV_NOHUGEPAGE, which keeps the
/// kernel from merging the areas again and changes nothing else for a file's code). A fault then maps only its
/// own page: the kernel maps the cached pages around a fault (fault-around, 64 KiB) and, since Linux 6.16, reads
/// ahead in an executable mapping whatever MADV_RANDOM says, both within the area of the fault only.
static void cl_split_into_pages(unsigned long start, unsigned long end) {
    const unsigned long page = (unsigned long)sysconf(_SC_PAGESIZE);
    for (unsigned long address = start + page; address < end; address += 2 * page)
        if (madvise((void *)address, page, MADV_NOHUGEPAGE) != 0) return;  // a kernel without THP: not split
}

/// How many more mappings the split may make: a quarter of what the kernel allows a process
/// (vm.max_map_count), less what the process has. The rest stays for what the process maps later.
static long cl_split_budget(long mappings) {
    long limit = 65530;
    FILE *sysctl = fopen("/proc/sys/vm/max_map_count", "re");
    if (sysctl != NULL) {
        if (fscanf(sysctl, "%ld", &limit) != 1) limit = 65530;
        fclose(sysctl);
    }
    return limit / 4 - mappings;
}

int cl_release_executable_pages(int options) {
    const unsigned long page = (unsigned long)sysconf(_SC_PAGESIZE);
    int exe = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    if (exe < 0) return -errno;
    struct stat file;
    if (fstat(exe, &file) != 0) {
        int error = errno;
        close(exe);
        return -error;
    }
    // pagemap says, page by page, which pages are still the file's own. It is refused to a process that is not
    // dumpable (the sandbox's pid 1): then smaps (readable by every process for itself) says which mappings hold
    // written pages. maps is read otherwise: a line per mapping, where smaps walks each mapping's pages.
    int pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    FILE *listing = fopen(pagemap >= 0 ? "/proc/self/maps" : "/proc/self/smaps", "re");
    if (listing == NULL) {
        int error = errno;
        if (pagemap >= 0) close(pagemap);
        close(exe);
        return -error;
    }
    struct cl_file_mapping *mappings = NULL;
    int count = 0, capacity = 0;
    char line[4096];
    struct cl_file_mapping *current = NULL;
    long all_mappings = 0;
    while (fgets(line, sizeof line, listing) != NULL) {
        unsigned long start, end, offset, inode, kb;
        unsigned int major_dev, minor_dev;
        char perms[5];
        if (sscanf(line, "%lx-%lx %4s %lx %x:%x %lu", &start, &end, perms, &offset, &major_dev, &minor_dev, &inode)
            == 7) {
            all_mappings++;
            dev_t device = makedev(major_dev, minor_dev);
            int executable = inode == (unsigned long)file.st_ino && device == file.st_dev;
            // A library's code and read-only data (its writable data holds relocated, written pages).
            int library = !executable && (options & CL_RELEASE_LIBRARIES) && inode != 0 && perms[0] == 'r'
                          && perms[1] == '-' && perms[3] == 'p';
            current = NULL;
            if (!executable && !library) continue;
            struct cl_file_mapping *last = count > 0 ? &mappings[count - 1] : NULL;
            if (last != NULL && last->end == start && last->inode == inode && last->device == device
                && memcmp(last->perms, perms, 4) == 0) {
                last->end = end;
                last->pieces++;
                current = last;
                continue;
            }
            if (count == capacity) {
                int grown = capacity == 0 ? 64 : capacity * 2;
                struct cl_file_mapping *more = realloc(mappings, (size_t)grown * sizeof *mappings);
                if (more == NULL) break;  // what was read so far is still released
                mappings = more;
                capacity = grown;
            }
            current = &mappings[count++];
            *current = (struct cl_file_mapping){start, end, 0, 1, device, inode, {0}};
            memcpy(current->perms, perms, sizeof perms);
        } else if (current != NULL && sscanf(line, "Anonymous: %lu kB", &kb) == 1) {
            current->anonymous_kb += kb;
        }
    }
    fclose(listing);
    long budget = cl_split_budget(all_mappings);
    for (int index = 0; index < count; index++) {
        const struct cl_file_mapping *m = &mappings[index];
        // No read-around for the pages it touches later: each comes in alone, as a page of its own in the page
        // cache (before Linux 6.16 for code too; since, code mappings read ahead within their area only).
        (void)madvise((void *)m->start, m->end - m->start, MADV_RANDOM);
        if (m->perms[1] != 'w') {
            // Code and read-only data: a page still the file's (not written before the mapping was made read-only,
            // by a relocation or a debugger's breakpoint) can no longer be written, so dropping it loses nothing,
            // and a later access faults it in again. Without pagemap, whole mappings smaps shows no written page in.
            if (pagemap >= 0)
                cl_advise_file_pages(pagemap, m->start, m->end, MADV_DONTNEED);
            else if (m->anonymous_kb == 0)
                (void)madvise((void *)m->start, m->end - m->start, MADV_DONTNEED);
            // A mapping the release split before is one piece per page still. The executable comes first (it is
            // mapped below the libraries), then what the budget leaves room for.
            long pages = (long)((m->end - m->start) / page);
            if ((options & CL_RELEASE_SPLIT_CODE) && m->perms[2] == 'x' && (long)m->pieces < pages
                && pages - (long)m->pieces <= budget) {
                cl_split_into_pages(m->start, m->end);
                budget -= pages - (long)m->pieces;
            }
        } else if (pagemap >= 0) {
            // Writable (data, and the read-only data Swift's compiler marks writable, which the linker puts here):
            // the pages still the file's are only reclaimed, which never changes what a page holds, so one written
            // meanwhile is skipped.
            cl_advise_file_pages(pagemap, m->start, m->end, MADV_PAGEOUT);
        }
    }
    if (pagemap >= 0) close(pagemap);
    free(mappings);
    // The page cache stays: what the process runs again is a minor fault, not a read from the disk (dropping the
    // executable's cache made the tree's first heartbeats after a trim cost 0.003 cores more, for 1-1.5 MiB less
    // PSS: the cached pages fault-around maps next to the read-only data, which is not split).
    close(exe);
    return count;
}
