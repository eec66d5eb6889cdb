/*
 * bench/cgroup-spawn.c — what putting a new process into a cgroup v2 cgroup costs on this kernel,
 * the two ways Skiff's runtime can do it (bench/cgroups.sh builds and runs it; docs/cgroups.md):
 *
 *   plain   fork (clone), the child exits at once: the baseline;
 *   clone3  clone3 with CLONE_INTO_CGROUP and the cgroup's directory: made in it;
 *   move    fork, the parent writes the child's pid to cgroup.procs, then lets it go on (what
 *           the runtime did before, and still does where clone3 is refused, and on cgroup v1).
 *
 * Each round is timed from before the clone to the child's exit reaped (so a move's wait for the
 * kernel's migration lock counts), modes interleaved, N rounds each, GAP_MS of sleep before each
 * timed call. The gap matters: the migration lock (cgroup_threadgroup_rwsem, a per-cpu rwsem)
 * makes a writer wait for an RCU grace period only when no other writer used it within about a
 * grace period before; back-to-back moves (GAP_MS 0) share one wait, while a container start
 * (one move now and then) pays it each time. Prints, per mode, the median, the 90th percentile
 * and the maximum in microseconds.
 *
 * Usage: cgroup-spawn CGROUP_DIR [ROUNDS [GAP_MS]]   (CGROUP_DIR: an empty leaf cgroup on a
 * cgroup2 mount (on a cgroup v1 hierarchy only plain and move are measured), writable by the caller, as is the cgroup.procs of the common ancestor of it and
 * the caller's cgroup: a delegated subtree)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_clone3
#define SYS_clone3 435
#endif
#define INTO_CGROUP 0x200000000ULL

struct clone_args_v2 {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size, cgroup;
};

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int compare(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void reap(pid_t pid) {
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
}

static double plain(void) {
    double t0 = now_us();
    pid_t pid = (pid_t)syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
    if (pid == 0) _exit(0);
    if (pid < 0) { perror("clone"); exit(1); }
    reap(pid);
    return now_us() - t0;
}

static double into(int cgroup_fd) {
    struct clone_args_v2 args;
    memset(&args, 0, sizeof args);
    args.flags = INTO_CGROUP;
    args.exit_signal = SIGCHLD;
    args.cgroup = (uint64_t)cgroup_fd;
    double t0 = now_us();
    pid_t pid = (pid_t)syscall(SYS_clone3, &args, sizeof args);
    if (pid == 0) _exit(0);
    if (pid < 0) return -errno; /* a cgroup v1 directory, or an old kernel */
    reap(pid);
    return now_us() - t0;
}

static double move(int procs_fd) {
    int go[2];
    if (pipe2(go, O_CLOEXEC) < 0) { perror("pipe"); exit(1); }
    double t0 = now_us();
    pid_t pid = (pid_t)syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
    if (pid == 0) {
        char byte;
        close(go[1]);
        (void)!read(go[0], &byte, 1);
        _exit(0);
    }
    if (pid < 0) { perror("clone"); exit(1); }
    char text[16];
    int n = snprintf(text, sizeof text, "%d", pid);
    if (write(procs_fd, text, (size_t)n) != n) { perror("write cgroup.procs"); exit(1); }
    (void)!write(go[1], "g", 1);
    close(go[0]);
    close(go[1]);
    reap(pid);
    return now_us() - t0;
}

static void report(const char *name, double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, compare);
    printf("%-7s median %8.1f us  p90 %8.1f us  max %8.1f us  (%d rounds)\n", name, v[n / 2], v[(n * 9) / 10],
           v[n - 1], n);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s CGROUP_DIR [ROUNDS]\n", argv[0]);
        return 2;
    }
    int rounds = argc > 2 ? atoi(argv[2]) : 200;
    if (rounds < 1) rounds = 1;
    int gap_ms = argc > 3 ? atoi(argv[3]) : 50;
    if (gap_ms < 0) gap_ms = 0;
    struct timespec gap = {gap_ms / 1000, (long)(gap_ms % 1000) * 1000000L};
    int cgroup_fd = open(argv[1], O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (cgroup_fd < 0) { perror(argv[1]); return 1; }
    char procs[4096];
    snprintf(procs, sizeof procs, "%s/cgroup.procs", argv[1]);
    int procs_fd = open(procs, O_WRONLY | O_CLOEXEC);
    if (procs_fd < 0) { perror(procs); return 1; }
    double *p = calloc((size_t)rounds, sizeof *p), *c = calloc((size_t)rounds, sizeof *c),
           *m = calloc((size_t)rounds, sizeof *m);
    if (!p || !c || !m) return 1;
    int refused = 0;
    for (int i = 0; i < rounds; i++) {
        nanosleep(&gap, NULL);
        p[i] = plain();
        nanosleep(&gap, NULL);
        if (!refused) c[i] = into(cgroup_fd);
        if (c[i] < 0) {
            refused = (int)-c[i];
            printf("clone3  refused: %s (not cgroup v2, or a kernel before 5.7)\n", strerror(refused));
        }
        nanosleep(&gap, NULL);
        m[i] = move(procs_fd);
    }
    report("plain", p, rounds);
    if (!refused) report("clone3", c, rounds);
    report("move", m, rounds);
    return 0;
}
