#include <seccomp.h>

/* Function-like macros Swift cannot import. */
static inline uint32_t skiff_scmp_act_errno(uint16_t errno_value) { return SCMP_ACT_ERRNO(errno_value); }
static inline uint32_t skiff_scmp_act_trace(uint16_t msg) { return SCMP_ACT_TRACE(msg); }
