/* bench/findloop.c — run inside a container by bench/denials.sh (static, bind-mounted): K passes
 * of `find / >/dev/null 2>&1` (busybox's find, a syscall-heavy walk: getdents64, newfstatat, openat
 * per directory and file), each timed here, inside the container, so that neither the container's
 * start nor the exec's is counted; prints `pass_ms=A,B,...` (milliseconds per pass). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

int main(int argc, char **argv) {
    long k = argc > 1 ? atol(argv[1]) : 1;
    if (k <= 0 || k > 1000) return 2;
    printf("pass_ms=");
    for (long i = 0; i < k; i++) {
        double a = now();
        pid_t pid = fork();
        if (pid == 0) {
            int null = open("/dev/null", O_WRONLY);
            if (null < 0) _exit(126);
            dup2(null, 1);
            dup2(null, 2);
            execl("/bin/find", "find", "/", (char *)NULL);
            _exit(127);
        }
        int status = 0;
        if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) > 1) return 1;
        printf("%s%.1f", i ? "," : "", now() - a);
    }
    printf("\n");
    return 0;
}
