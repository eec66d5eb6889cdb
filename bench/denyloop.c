/* bench/denyloop.c — run inside a container by bench/denials.sh (static, bind-mounted): N calls of
 * a syscall the profile refuses (chroot, without CAP_SYS_CHROOT) and N of one it allows (getppid);
 * prints `refused_ns=R allowed_ns=A errno=E`: nanoseconds per call, and the refused call's errno. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 10000;
    if (n <= 0) return 2;
    int err = 0;
    double a = now();
    for (long i = 0; i < n; i++) {
        if (syscall(SYS_chroot, "/") != 0) err = errno;
    }
    double b = now();
    for (long i = 0; i < n; i++) (void)syscall(SYS_getppid);
    double c = now();
    printf("refused_ns=%.0f allowed_ns=%.1f errno=%d\n", (b - a) / (double)n, (c - b) / (double)n, err);
    return 0;
}
