/*
 * skiff-relay's command line and the two hand-overs (see docs/containers.md). The relay loop, the
 * log and the exit file are CRelay's (skiff_relay.h, skiff_protocol.h).
 *
 * skiff-monitor execs it, once the container runs, as
 *
 *   skiff-relay --pid PID --monitor PATH --run-dir DIR --log-fd FD --attach-fd FD --ctl-fd FD
 *               [--stdin-fd FD] [--stdout-fd FD] [--stderr-fd FD] [--terminal-fd FD]
 *               [--tty] [--stdin] [--stdin-once] [--clients FD:MASK,...] [--controls FD,...]
 *               [--log-lost STDOUT-BYTES,STDERR-BYTES,ERRNO]
 *               [--health INTERVAL,START-PERIOD,START-INTERVAL,STARTED]
 *               [--notify-fd FD [--notify-first NR,ERRNO]] [--notify-exec FD,EXEC-ID,0|1]...
 *               -- MONITOR-ARGUMENTS...
 *
 * (MASK: 0-7, or `-` for a client whose first byte has not come.) When the container's process
 * has exited and its output is relayed, it writes `<run-dir>/exit` and execs
 *
 *   PATH --exited WAIT-STATUS --finished-at TIME --listeners ATTACH-FD,CTL-FD [--controls FD,...]
 *        [--log-lost STDOUT-BYTES,STDERR-BYTES,ERRNO] MONITOR-ARGUMENTS...
 *
 * With --health (nanoseconds; STARTED: the run's start, CLOCK_MONOTONIC) it runs the container's
 * healthcheck probes on that schedule (health.c), each as
 *
 *   PATH --health-probe MONITOR-ARGUMENTS...
 *
 * `skiff-relay --keep-userns SOCKET-PATH IDLE-SECONDS` is another program: the user namespace
 * keeper of rootless containers (keeper.c); `skiff-relay --keep-netns ...` the per-user network
 * namespace of user-defined networks (netns.c); `skiff-relay --forward-ports ...` the TCP
 * forwarder of a container's published ports (portfwd.c).
 *
 * Every descriptor it is given is made close-on-exec at once; the listening sockets and the
 * control connections lose that flag again just before the exec back.
 */
#define _GNU_SOURCE
#include "relay.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <unistd.h>

/* swiftc links every executable with Swift's image registration (swiftrt.o); this program has no
 * Swift code, so it has nothing to register, and these keep the Swift runtime out of it. */
void swift_addNewDSOImage(const void *image);
void swift_addNewDSOImage(const void *image) {
    (void)image;
}
int _swift_backtrace_isThunkFunction(const char *name);
int _swift_backtrace_isThunkFunction(const char *name) {
    (void)name;
    return 0;
}

static struct relay relay;

struct options {
    pid_t pid;
    bool health;
    unsigned long long health_times[4];
    const char *monitor;
    const char *run_dir;
    char **monitor_arguments;
    int notify_fd;
    int notify_first[2];
    struct relay_notify_exec notify_execs[RELAY_NOTIFY_EXECS];
    size_t notify_exec_count;
    int monitor_argument_count;
};

static void __attribute__((noreturn, format(printf, 1, 2))) usage(const char *format, ...);

static void usage(const char *format, ...) {
    va_list args;
    va_start(args, format);
    (void)fputs("skiff-relay: ", stderr);
    (void)vfprintf(stderr, format, args);
    (void)fputc('\n', stderr);
    va_end(args);
    exit(2);
}

/* A decimal in [minimum, maximum]; the whole text. */
static bool parse_number(const char *text, long minimum, long maximum, long *value) {
    if (*text == 0) return false;
    char *end = NULL;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno != 0 || *end != 0 || v < minimum || v > maximum) return false;
    *value = v;
    return true;
}

/* A descriptor this process holds: made close-on-exec and non-blocking. */
static int adopt_fd(const char *name, const char *text) {
    long value;
    if (!parse_number(text, 0, INT_MAX, &value)) usage("%s: not a descriptor: '%s'", name, text);
    int fd = (int)value;
    int flags = fcntl(fd, F_GETFD);
    if (flags < 0) usage("%s %d: %s", name, fd, strerror(errno));
    if (fcntl(fd, F_SETFD, flags | FD_CLOEXEC) != 0) usage("%s %d: F_SETFD: %s", name, fd, strerror(errno));
    int status = fcntl(fd, F_GETFL);
    if (status < 0 || fcntl(fd, F_SETFL, status | O_NONBLOCK) != 0) {
        usage("%s %d: F_SETFL: %s", name, fd, strerror(errno));
    }
    return fd;
}

/* `FD:MASK,...`; MASK 0-7 or `-`. */
static void parse_clients(char *text) {
    for (char *item = strtok(text, ","); item != NULL; item = strtok(NULL, ",")) {
        char *colon = strchr(item, ':');
        if (colon == NULL) usage("--clients: '%s' is not FD:MASK", item);
        *colon = 0;
        const char *mask = colon + 1;
        if (relay.client_count >= RELAY_MAX_CLIENTS) usage("--clients: more than %d", RELAY_MAX_CLIENTS);
        struct client *c = &relay.clients[relay.client_count];
        memset(c, 0, sizeof *c);
        c->fd = adopt_fd("--clients", item);
        if (strcmp(mask, "-") == 0) {
            c->mask = MASK_UNKNOWN;
        } else {
            long value;
            if (!parse_number(mask, 0, 7, &value)) usage("--clients: bad mask '%s'", mask);
            c->mask = (int)value;
        }
        relay.client_count++;
    }
}

static void parse_controls(char *text) {
    for (char *item = strtok(text, ","); item != NULL; item = strtok(NULL, ",")) {
        if (!relay_add_control(&relay, adopt_fd("--controls", item))) {
            usage("--controls: more than %d", RELAY_MAX_CLIENTS);
        }
    }
}

/* `STDOUT-BYTES,STDERR-BYTES,ERRNO`: what the log lost before and has not marked yet. */
static void parse_log_lost(const char *text) {
    unsigned long long out, err;
    int code, consumed = 0;
    if (sscanf(text, "%llu,%llu,%d%n", &out, &err, &code, &consumed) != 3 || text[consumed] != 0 || code < 0) {
        usage("--log-lost: not STDOUT-BYTES,STDERR-BYTES,ERRNO: '%s'", text);
    }
    relay.log_lost.bytes[0] = out;
    relay.log_lost.bytes[1] = err;
    relay.log_lost.err = code;
}

static void parse(int argc, char **argv, struct options *options) {
    memset(options, 0, sizeof *options);
    options->notify_fd = -1;
    options->notify_first[0] = -1;
    relay_init(&relay);
    int i = 1;
    for (; i < argc; i++) {
        const char *name = argv[i];
        if (strcmp(name, "--") == 0) {
            i++;
            break;
        }
        if (strcmp(name, "--tty") == 0) {
            relay.tty = true;
            continue;
        }
        if (strcmp(name, "--stdin") == 0) {
            relay.stdin_open = true;
            continue;
        }
        if (strcmp(name, "--stdin-once") == 0) {
            relay.stdin_once = true;
            continue;
        }
        if (i + 1 >= argc) usage("%s needs a value", name);
        char *value = argv[++i];
        long number;
        if (strcmp(name, "--pid") == 0) {
            if (!parse_number(value, 1, INT_MAX, &number)) usage("--pid: bad pid '%s'", value);
            options->pid = (pid_t)number;
        } else if (strcmp(name, "--monitor") == 0) {
            options->monitor = value;
        } else if (strcmp(name, "--run-dir") == 0) {
            options->run_dir = value;
        } else if (strcmp(name, "--log-fd") == 0) {
            relay.log = adopt_fd(name, value);
        } else if (strcmp(name, "--attach-fd") == 0) {
            relay.attach_listener = adopt_fd(name, value);
        } else if (strcmp(name, "--ctl-fd") == 0) {
            relay.control_listener = adopt_fd(name, value);
        } else if (strcmp(name, "--stdin-fd") == 0) {
            relay.stdin_fd = adopt_fd(name, value);
        } else if (strcmp(name, "--stdout-fd") == 0) {
            relay.stdout_fd = adopt_fd(name, value);
        } else if (strcmp(name, "--stderr-fd") == 0) {
            relay.stderr_fd = adopt_fd(name, value);
        } else if (strcmp(name, "--terminal-fd") == 0) {
            relay.terminal = adopt_fd(name, value);
        } else if (strcmp(name, "--clients") == 0) {
            parse_clients(value);
        } else if (strcmp(name, "--controls") == 0) {
            parse_controls(value);
        } else if (strcmp(name, "--log-lost") == 0) {
            parse_log_lost(value);
        } else if (strcmp(name, "--notify-fd") == 0) {
            options->notify_fd = adopt_fd(name, value);
        } else if (strcmp(name, "--notify-exec") == 0) {
            /* An exec's listener the monitor had adopted (docs/denials.md): kept with the run's. */
            int fd = -1, privileged = -1, consumed = 0;
            char id[SKIFF_NOTIFY_EXEC_ID_LENGTH + 1];
            if (sscanf(value, "%d,%12[0-9a-f],%d%n", &fd, id, &privileged, &consumed) != 3 || value[consumed] != 0 ||
                fd < 0 || (privileged != 0 && privileged != 1)) {
                usage("--notify-exec: not FD,EXEC-ID,0|1: '%s'", value);
            }
            char number[16];
            (void)snprintf(number, sizeof number, "%d", fd);
            if (options->notify_exec_count < RELAY_NOTIFY_EXECS) {
                struct relay_notify_exec *e = &options->notify_execs[options->notify_exec_count++];
                e->fd = adopt_fd(name, number);
                (void)snprintf(e->exec_id, sizeof e->exec_id, "%s", id);
                e->privileged = privileged == 1;
            }
        } else if (strcmp(name, "--notify-first") == 0) {
            int consumed = 0;
            if (sscanf(value, "%d,%d%n", &options->notify_first[0], &options->notify_first[1], &consumed) != 2 ||
                value[consumed] != 0 || options->notify_first[0] < 0) {
                usage("--notify-first: not NR,ERRNO: '%s'", value);
            }
        } else if (strcmp(name, "--health") == 0) {
            unsigned long long *t = options->health_times;
            int consumed = 0;
            if (sscanf(value, "%llu,%llu,%llu,%llu%n", &t[0], &t[1], &t[2], &t[3], &consumed) != 4 ||
                value[consumed] != 0 || t[0] == 0) {
                usage("--health: not INTERVAL,START-PERIOD,START-INTERVAL,STARTED: '%s'", value);
            }
            options->health = true;
        } else {
            usage("unknown argument '%s'", name);
        }
    }
    if (options->pid <= 0 || options->monitor == NULL || options->run_dir == NULL || relay.log < 0 ||
        relay.attach_listener < 0 || relay.control_listener < 0) {
        usage("--pid, --monitor, --run-dir, --log-fd, --attach-fd and --ctl-fd are required");
    }
    relay.pid = options->pid;
    if (options->notify_fd >= 0) {
        /* The listener stays open even without its program: a refused call then gets EPERM. */
        if (relay_notify_configure(&relay, options->notify_fd, options->run_dir) != 0) {
            (void)fprintf(stderr, "skiff-relay: %s/%s: %s\n", options->run_dir, SKIFF_RUN_SECCOMP_PROGRAM,
                          strerror(errno));
        }
        relay.notify.first_nr = options->notify_first[0];
        relay.notify.first_errno = options->notify_first[1];
        for (size_t k = 0; k < options->notify_exec_count; k++) {
            const struct relay_notify_exec *e = &options->notify_execs[k];
            if (relay_notify_adopt_exec(&relay, e->fd, e->exec_id, e->privileged) != 0) close_fd(e->fd);
        }
    } else {
        for (size_t k = 0; k < options->notify_exec_count; k++) close_fd(options->notify_execs[k].fd);
    }
    options->monitor_arguments = argv + i;
    options->monitor_argument_count = argc - i;
    if (options->health) {
        /* The probe's command line: the monitor with this run's own arguments. */
        char **probe = calloc((size_t)options->monitor_argument_count + 3, sizeof *probe);
        if (probe == NULL) usage("--health: %s", strerror(ENOMEM));
        probe[0] = (char *)options->monitor;
        probe[1] = "--health-probe";
        for (int k = 0; k < options->monitor_argument_count; k++) probe[k + 2] = options->monitor_arguments[k];
        const unsigned long long *t = options->health_times;
        relay_health_configure(&relay, t[0], t[1], t[2], t[3], probe);
    }
}

/* SIGCHLD through a signalfd (it stayed blocked across the exec: none is lost), SIGPIPE
 * ignored, and the subreaper flag (kept across exec; set again in case). */
static void set_up_signals(void) {
    sigset_t set;
    if (sigemptyset(&set) != 0 || sigaddset(&set, SIGCHLD) != 0) usage("sigset: %s", strerror(errno));
    if (sigprocmask(SIG_BLOCK, &set, NULL) != 0) usage("sigprocmask: %s", strerror(errno));
    relay.signals = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (relay.signals < 0) usage("signalfd: %s", strerror(errno));
    struct sigaction ignore;
    memset(&ignore, 0, sizeof ignore);
    ignore.sa_handler = SIG_IGN;
    if (sigemptyset(&ignore.sa_mask) != 0 || sigaction(SIGPIPE, &ignore, NULL) != 0) {
        usage("SIGPIPE: %s", strerror(errno));
    }
    if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) usage("PR_SET_CHILD_SUBREAPER: %s", strerror(errno));
}

static int clear_cloexec(int fd) {
    int flags = fcntl(fd, F_GETFD);
    if (flags < 0) return -1;
    return fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC);
}

/* The exec back did not happen: the exit file is written (the service records the exit from it
 * when it sees this process gone); the sockets go. */
static void __attribute__((noreturn)) give_up(const struct options *options, const char *what, int err) {
    (void)fprintf(stderr, "skiff-relay: %s %s: %s\n", what, options->monitor, strerror(err));
    close_fd(relay.attach_listener);
    close_fd(relay.control_listener);
    const char *names[] = {SKIFF_RUN_ATTACH, SKIFF_RUN_CONTROL};
    for (size_t i = 0; i < 2; i++) {
        char path[PATH_MAX];
        if (skiff_run_path(path, sizeof path, options->run_dir, names[i]) == 0 && unlink(path) != 0 &&
            errno != ENOENT) {
            (void)fprintf(stderr, "skiff-relay: unlink %s: %s\n", path, strerror(errno));
        }
    }
    exit(1);
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--keep-userns") == 0) return keeper_main(argc, argv);
    if (argc > 1 && strcmp(argv[1], "--keep-netns") == 0) return netns_keeper_main(argc, argv);
    if (argc > 1 && strcmp(argv[1], "--forward-ports") == 0) return portfwd_main(argc, argv);
    struct options options;
    parse(argc, argv, &options);
    set_up_signals();

    int status = relay_run(&relay);
    relay_finish(&relay);

    struct timespec now;
    char finished_at[64];
    if (clock_gettime(CLOCK_REALTIME, &now) != 0 || format_rfc3339_nano(finished_at, sizeof finished_at, &now) != 0) {
        give_up(&options, "the time for", errno != 0 ? errno : EOVERFLOW);
    }
    if (write_exit_file(options.run_dir, skiff_exit_code(status), finished_at) != 0) {
        /* skiff-monitor records the exit in the Store all the same. */
        (void)fprintf(stderr, "skiff-relay: %s/exit: %s\n", options.run_dir, strerror(errno));
    }
    close_fd(relay.log);
    close_fd(relay.signals);

    /* Back to skiff-monitor with the listening sockets and the control connections. */
    static char status_text[16], listeners[32], controls[RELAY_MAX_CLIENTS * 12 + 1];
    int n = snprintf(status_text, sizeof status_text, "%d", status);
    int m = snprintf(listeners, sizeof listeners, "%d,%d", relay.attach_listener, relay.control_listener);
    if (n < 0 || (size_t)n >= sizeof status_text || m < 0 || (size_t)m >= sizeof listeners) {
        give_up(&options, "the arguments for", EOVERFLOW);
    }
    if (clear_cloexec(relay.attach_listener) != 0 || clear_cloexec(relay.control_listener) != 0) {
        give_up(&options, "the listeners for", errno);
    }
    size_t used = 0;
    for (size_t i = 0; i < relay.control_count; i++) {
        if (clear_cloexec(relay.controls[i].fd) != 0) {
            close_fd(relay.controls[i].fd);
            continue;
        }
        int k = snprintf(controls + used, sizeof controls - used, "%s%d", used > 0 ? "," : "", relay.controls[i].fd);
        if (k < 0 || (size_t)k >= sizeof controls - used) give_up(&options, "the arguments for", EOVERFLOW);
        used += (size_t)k;
    }
    /* Losses the log could not mark yet (the disk is still full) go back with the run. */
    static char lost[64];
    bool has_losses = relay.log_lost.bytes[0] > 0 || relay.log_lost.bytes[1] > 0;
    if (has_losses) {
        int k = snprintf(lost, sizeof lost, "%llu,%llu,%d", relay.log_lost.bytes[0], relay.log_lost.bytes[1],
                         relay.log_lost.err);
        if (k < 0 || (size_t)k >= sizeof lost) give_up(&options, "the arguments for", EOVERFLOW);
    }
    /* The program, three named values, --controls and --log-lost with their values, the rest, NULL. */
    size_t count = 7 + 2 + 2 + (size_t)options.monitor_argument_count + 1;
    char **args = calloc(count, sizeof *args);
    if (args == NULL) give_up(&options, "the arguments for", ENOMEM);
    size_t a = 0;
    args[a++] = (char *)options.monitor;
    args[a++] = "--exited";
    args[a++] = status_text;
    args[a++] = "--finished-at";
    args[a++] = finished_at;
    args[a++] = "--listeners";
    args[a++] = listeners;
    if (used > 0) {
        args[a++] = "--controls";
        args[a++] = controls;
    }
    if (has_losses) {
        args[a++] = "--log-lost";
        args[a++] = lost;
    }
    for (int i = 0; i < options.monitor_argument_count; i++) args[a++] = options.monitor_arguments[i];
    args[a] = NULL;
    execv(options.monitor, args);
    give_up(&options, "exec", errno);
}
