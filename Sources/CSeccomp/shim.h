#ifndef AUTONOUS_CSECCOMP_SHIM_H
#define AUTONOUS_CSECCOMP_SHIM_H
#include <seccomp.h>
#include <errno.h>

// SCMP_ACT_ERRNO is a function-like macro: Swift cannot import it.
static inline uint32_t cs_act_errno(uint16_t err) { return SCMP_ACT_ERRNO(err); }
// SCMP_ACT_KILL_PROCESS / SCMP_ACT_ALLOW are plain constants but wrapped for symmetry and clarity.
static inline uint32_t cs_act_kill_process(void) { return SCMP_ACT_KILL_PROCESS; }
static inline uint32_t cs_act_allow(void) { return SCMP_ACT_ALLOW; }
static inline uint32_t cs_act_notify(void) { return SCMP_ACT_NOTIFY; }
// SCMP_CMP / SCMP_A0.. are macros building struct scmp_arg_cmp: build one here instead.
static inline struct scmp_arg_cmp cs_arg_cmp(unsigned int arg, enum scmp_compare op, scmp_datum_t a, scmp_datum_t b) {
    struct scmp_arg_cmp c = { .arg = arg, .op = op, .datum_a = a, .datum_b = b };
    return c;
}
#endif
