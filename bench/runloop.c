/*
 * runloop: runs one command N times, one after the other, and prints how long each run
 * took (from just before posix_spawn to the parent's waitpid returning), for the OCI
 * runtime benchmark (bench/runtime.sh). Each run's exit status is checked: a run that
 * does not exit 0 is reported as failed, not as a (fast) run.
 *
 * usage: runloop [-n RUNS] [-w WARMUPS] [-s FIRST_INDEX] [-p ID_PREFIX] [-l LOGFILE]
 *                [-T TIMEOUT_S] -- COMMAND [ARGS...]
 *   Every argument that is exactly "{}" is replaced by ID_PREFIX followed by the run's
 *   index (warm-ups use "w" + index), so each run can name a fresh container.
 *   The command's stdin is /dev/null; stdout and stderr are appended to LOGFILE
 *   (default /dev/null).
 * output, one line per measured run:  ok US  |  fail STATUS US  |  timeout US
 *   STATUS is the exit status, or 128+N when killed by signal N.
 * exit: 0 when the warm-ups succeeded (measured runs may still have failed: see the
 *   lines), 3 when a warm-up failed or timed out, 2 on a usage or system error.
 *
 * Build: gcc -O2 -Wall -o runloop runloop.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/* one run: returns 0 ok, 1 failed (status in *st), 2 timed out; -1 on a system error */
static int run_once(char **argv, const char *log, int timeout_s, int *st, double *us) {
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    sigset_t empty, def;
    pid_t pid;
    int rc, status;

    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_APPEND | O_CREAT, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    posix_spawnattr_init(&at);
    sigemptyset(&empty);
    sigemptyset(&def);
    sigaddset(&def, SIGCHLD);
    sigaddset(&def, SIGPIPE);
    posix_spawnattr_setsigmask(&at, &empty);
    posix_spawnattr_setsigdefault(&at, &def);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

    double t0 = now_us();
    rc = posix_spawn(&pid, argv[0], &fa, &at, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    if (rc != 0) { fprintf(stderr, "runloop: spawn %s: %s\n", argv[0], strerror(rc)); return -1; }

    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    struct timespec deadline = { .tv_sec = timeout_s, .tv_nsec = 0 };
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid) break;
        if (w < 0 && errno != EINTR) { perror("runloop: waitpid"); return -1; }
        if (w == 0) {
            double left = timeout_s * 1e6 - (now_us() - t0);
            if (left <= 0) {
                kill(pid, SIGKILL);
                waitpid(pid, &status, 0);
                *us = now_us() - t0;
                return 2;
            }
            deadline.tv_sec = (time_t)(left / 1e6);
            deadline.tv_nsec = (long)((left - deadline.tv_sec * 1e6) * 1e3);
            sigtimedwait(&chld, NULL, &deadline);
        }
    }
    *us = now_us() - t0;
    *st = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return *st == 0 ? 0 : 1;
}

int main(int argc, char **argv) {
    int runs = 100, warmups = 1, first = 0, timeout_s = 30, opt;
    const char *prefix = "bench-", *log = "/dev/null";
    while ((opt = getopt(argc, argv, "+n:w:s:p:l:T:")) != -1) {
        switch (opt) {
        case 'n': runs = atoi(optarg); break;
        case 'w': warmups = atoi(optarg); break;
        case 's': first = atoi(optarg); break;
        case 'p': prefix = optarg; break;
        case 'l': log = optarg; break;
        case 'T': timeout_s = atoi(optarg); break;
        default: goto usage;
        }
    }
    if (optind >= argc || runs < 0 || warmups < 0 || timeout_s <= 0) goto usage;

    /* SIGCHLD blocked, so sigtimedwait can wait for it (the child gets an empty mask) */
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, NULL);

    int n = argc - optind;
    char **cmd = calloc(n + 1, sizeof(char *));
    int *slots = calloc(n, sizeof(int));
    char ids[2][256];
    if (!cmd || !slots) { perror("runloop"); return 2; }
    for (int i = 0; i < n; i++) {
        cmd[i] = argv[optind + i];
        slots[i] = strcmp(cmd[i], "{}") == 0;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);

    for (int k = 0; k < warmups + runs; k++) {
        int warm = k < warmups;
        snprintf(ids[warm], sizeof ids[warm], "%s%s%d", prefix, warm ? "w" : "", warm ? first + k : first + k - warmups);
        for (int i = 0; i < n; i++) if (slots[i]) cmd[i] = ids[warm];
        int st = 0;
        double us = 0;
        int r = run_once(cmd, log, timeout_s, &st, &us);
        if (r < 0) return 2;
        if (warm) {
            if (r == 1) { fprintf(stderr, "runloop: warm-up run exited with status %d\n", st); return 3; }
            if (r == 2) { fprintf(stderr, "runloop: warm-up run timed out after %d s\n", timeout_s); return 3; }
            continue;
        }
        if (r == 0) printf("ok %.1f\n", us);
        else if (r == 1) printf("fail %d %.1f\n", st, us);
        else printf("timeout %.1f\n", us);
    }
    return 0;

usage:
    fprintf(stderr, "usage: runloop [-n RUNS] [-w WARMUPS] [-s FIRST_INDEX] [-p ID_PREFIX] [-l LOGFILE] "
                    "[-T TIMEOUT_S] -- COMMAND [ARGS...]\n");
    return 2;
}
