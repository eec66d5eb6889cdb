/* Retrying a system call that a signal interrupted (EINTR), for Skiff's C targets: the rule
 * Platform's `Syscall` keeps on the Swift side, in one place. Header only, no dependencies
 * (skiff-relay and skiff-monitor are static executables). The child side of container creation,
 * between clone and exec, keeps its calls spelled out. */
#ifndef SKIFF_SYSCALL_H
#define SKIFF_SYSCALL_H

#include <errno.h>

/* Evaluates `call` (a system call returning -1 with errno on failure) again while it fails with
 * EINTR; its last result, errno the call's when that is -1. glibc's TEMP_FAILURE_RETRY, without
 * needing _GNU_SOURCE before the first include of every file. */
#define SKIFF_RETRY(call)                                                               \
    __extension__({                                                                     \
        __typeof__(call) skiff_retry_result_;                                           \
        do {                                                                            \
            skiff_retry_result_ = (call);                                               \
        } while (skiff_retry_result_ == -1 && errno == EINTR);                          \
        skiff_retry_result_;                                                            \
    })

#endif
