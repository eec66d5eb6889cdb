/*
 * The healthcheck schedule of one run (docs/healthchecks.md): the relay loop waits for the next
 * probe as it waits for output, starts it as a child in its own process group, and schedules the
 * next one from the end of the last, as moby's health monitor does. The probe itself
 * (`skiff-monitor --health-probe`) joins the container, enforces the timeout and records the
 * result; nothing of it stays in this process but its pid.
 */
#define _GNU_SOURCE
#include "skiff_relay.h"
#include "skiff_syscall.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

/* moby's getInterval: the start interval while the status is `starting` within the start
 * period, the rest of the start period when that is shorter than the interval, else the interval. */
static unsigned long long next_interval(const struct relay_health *h, unsigned long long now) {
    unsigned long long elapsed = now - h->started;
    if (elapsed >= h->start_period) return h->interval;
    unsigned long long remaining = h->start_period - elapsed;
    if (remaining < h->interval) return remaining;
    return h->starting ? h->start_interval : h->interval;
}

void relay_health_configure(struct relay *r, unsigned long long interval, unsigned long long start_period,
                            unsigned long long start_interval, unsigned long long started, char **argv) {
    struct relay_health *h = &r->health;
    h->interval = interval;
    h->start_period = start_period;
    h->start_interval = start_interval;
    h->started = started;
    h->starting = true;
    h->probe = 0;
    h->argv = argv;
    h->next = monotonic_nanos() + next_interval(h, monotonic_nanos());
}

int health_poll_timeout(const struct relay *r) {
    const struct relay_health *h = &r->health;
    if (h->interval == 0 || h->probe != 0 || h->argv == NULL) return -1;
    unsigned long long now = monotonic_nanos();
    if (now >= h->next) return 0;
    unsigned long long ms = (h->next - now + 999999ULL) / 1000000ULL;
    return ms > 0x7fffffffULL ? 0x7fffffff : (int)ms;
}

void health_tick(struct relay *r) {
    struct relay_health *h = &r->health;
    if (h->interval == 0 || h->probe != 0 || h->argv == NULL || monotonic_nanos() < h->next) return;
    pid_t pid = fork();
    if (pid == 0) {
        /* The probe: its own process group (what health_stop kills), SIGCHLD as usual, no stdin. */
        (void)setpgid(0, 0);
        sigset_t none;
        (void)sigemptyset(&none);
        (void)sigprocmask(SIG_SETMASK, &none, NULL);
        int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (null >= 0) (void)dup2(null, 0);
        execv(h->argv[0], h->argv);
        _exit(127);
    }
    if (pid < 0) {
        /* No process now (EAGAIN, ENOMEM): tried again after an interval. */
        h->next = monotonic_nanos() + next_interval(h, monotonic_nanos());
        return;
    }
    /* Set on both sides, so that it holds before either runs on. */
    (void)setpgid(pid, pid);
    h->probe = pid;
}

bool health_reaped(struct relay *r, pid_t pid, int status) {
    struct relay_health *h = &r->health;
    if (h->probe == 0 || pid != h->probe) return false;
    h->probe = 0;
    if (WIFEXITED(status)) h->starting = WEXITSTATUS(status) == HEALTH_PROBE_STARTING;
    unsigned long long now = monotonic_nanos();
    h->next = now + next_interval(h, now);
    return true;
}

void health_stop(struct relay *r) {
    struct relay_health *h = &r->health;
    if (h->probe != 0) {
        pid_t probe = h->probe;
        (void)kill(-probe, SIGKILL);
        int status = 0;
        (void)SKIFF_RETRY(waitpid(probe, &status, 0));
        /* Members of its group that were left to this process (a subreaper). */
        while (SKIFF_RETRY(waitpid(-probe, &status, WNOHANG)) > 0) {}
        h->probe = 0;
    }
    h->interval = 0;
    h->argv = NULL;
}
