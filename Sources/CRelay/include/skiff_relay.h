/*
 * The relay loop (docs/containers.md, "The relay"): one run's output to the log file and to attach
 * clients, stdin from them, resizes from control clients, and the reaping of children (the process
 * is the container's parent and subreaper). skiff-relay (C, the monitor's steady state: skiff-
 * monitor execs it once the container runs) runs it until the container's process exits, then
 * writes the exit file and execs skiff-monitor back; skiff-monitor (Monitor+Relay.swift) runs it
 * for the runs it relays itself. One loop, so the bytes on every socket and in the log are the
 * same either way.
 */
#ifndef SKIFF_RELAY_H
#define SKIFF_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "skiff_protocol.h"

/* Docker's stream bytes (the first byte of an 8-byte frame). */
enum relay_stream { RELAY_STDOUT = 1, RELAY_STDERR = 2 };

/* The attach socket's first byte. */
enum { MASK_STDIN = SKIFF_ATTACH_STDIN, MASK_STDOUT = SKIFF_ATTACH_STDOUT, MASK_STDERR = SKIFF_ATTACH_STDERR,
       MASK_UNKNOWN = -1 };

/* Output read per call (one log append, one frame). */
#define RELAY_CHUNK (16 << 10)
/* A client this far behind holds the output back (the container then blocks on a full pipe). */
#define RELAY_CLIENT_BACKLOG_LIMIT (1 << 20)
/* Never reached while the loop holds output back (at most the limit plus a read of each stream);
 * only the drain after the exit reads without holding back: a client past this is dropped. */
#define RELAY_CLIENT_HARD_LIMIT (8 << 20)
/* Client bytes waiting for the container's stdin before clients are no longer read. */
#define RELAY_STDIN_BACKLOG_LIMIT (64 << 10)
/* What a client that hung up still had queued is read whole (the socket's buffer bounds it);
 * past this it is dropped. */
#define RELAY_STDIN_HARD_LIMIT (4 << 20)
#define RELAY_MAX_CLIENTS 128
/* A control line longer than this is dropped whole. */
#define RELAY_CONTROL_LINE_LIMIT SKIFF_CONTROL_LINE_LIMIT

/* Bytes waiting to be sent: data[start..<end]; freed whenever it empties, so that a burst does
 * not stay with the process. */
struct buffer {
    unsigned char *data;
    size_t start;
    size_t end;
    size_t capacity;
};

static inline size_t buffer_length(const struct buffer *b) {
    return b->end - b->start;
}

/* Appends, growing up to `limit` bytes in all; -1 (ENOBUFS or ENOMEM) when it does not fit. */
int buffer_append(struct buffer *b, const void *bytes, size_t count, size_t limit);
/* Drops the first `count` bytes (count <= length). */
void buffer_consume(struct buffer *b, size_t count);
void buffer_free(struct buffer *b);

/* One connection on the attach socket. */
struct client {
    int fd;
    int mask;          /* MASK_UNKNOWN until its first byte came */
    bool input_closed; /* it half-closed: no more reading */
    bool dead;         /* to be closed */
    struct buffer pending;
};

/* One connection on the control socket, and the line it is sending. */
struct control {
    int fd;
    int passed;       /* a descriptor that came with the line being read (notify); -1: none */
    bool dead;
    bool overlong;
    size_t length;
    char line[RELAY_CONTROL_LINE_LIMIT + 1];
};

/* What the log could not take (a full disk, EIO): the container's bytes per stream (stdout,
 * stderr) not logged since the last marker, and the last write's errno. */
struct log_losses {
    unsigned long long bytes[2];
    int err;
};

/* The marker record written in a stream's place once the log takes records again: bytes, the
 * stream's name, strerror of the failed write. `docker logs` shows it as a line. */
#define LOG_LOSS_MARKER_FORMAT "skiff: %llu bytes of %s were not logged: %s"

/* The healthcheck schedule (docs/healthchecks.md): one probe at a time, a child of this process
 * in its own process group (`argv`: `skiff-monitor --health-probe ...`, which runs the check in
 * the container, enforces its timeout and records the result). The probe's exit code tells
 * whether the status is still `starting` (HEALTH_PROBE_STARTING), which picks the start
 * interval. Times are CLOCK_MONOTONIC nanoseconds; `interval` 0: no healthcheck. */
struct relay_health {
    unsigned long long interval;
    unsigned long long start_period;
    unsigned long long start_interval;
    unsigned long long started; /* the run's start */
    unsigned long long next;    /* when the next probe starts */
    bool starting;
    pid_t probe;                /* the running probe; 0: none */
    char **argv;
};

/* The probe's exit code when the status it recorded is `starting`; 0 for any other status. */
#define HEALTH_PROBE_STARTING 3

/* Explained denials (docs/denials.md): the seccomp listener of the run's process. Its filter is
 * the container's own with every SECCOMP_RET_ERRNO return turned into SECCOMP_RET_USER_NOTIF;
 * `program` is the original, run here on each notification's seccomp_data to answer with exactly
 * the errno the original returns. Records go to `<run>/denials`, rate-limited and bounded. */
/* Explained denials in exec: the listener of an exec's process, handed over by its supervisor
 * (SKIFF_CONTROL_NOTIFY), served with the run's own (one bucket, one record file, one learned
 * set) until its filter has no process left (POLLHUP) or the run ends. */
#define RELAY_NOTIFY_EXECS 32
struct relay_notify_exec {
    int fd;
    char exec_id[SKIFF_NOTIFY_EXEC_ID_LENGTH + 1];
    bool privileged;
};

struct relay_notify {
    int fd;                      /* the listener; -1: none */
    /* The exec whose listener `fd` is, in an exec's supervisor that answers it itself (the
     * container's supervisor refused it); empty: the container's own. */
    char exec_id[SKIFF_NOTIFY_EXEC_ID_LENGTH + 1];
    bool privileged;
    struct relay_notify_exec execs[RELAY_NOTIFY_EXECS];
    size_t exec_count;
    unsigned char *program;      /* the original struct sock_filter array (malloc'd) */
    size_t length;               /* bytes */
    char run_dir[512];
    double tokens;               /* records allowed now (the bucket) */
    unsigned long long refilled; /* CLOCK_MONOTONIC ns of the last refill */
    unsigned long long answered; /* notifications answered this run */
    unsigned long long dropped;  /* denials not recorded this run (rate or size limit) */
    int first_nr;                /* this run's first refused syscall; -1: none */
    int first_errno;
    unsigned int first_arch;
    /* Learning a profile: each syscall let go on is noted once in `<run>/learned`. */
    unsigned int native_arch;    /* the arch of the first one noted */
    unsigned char learned[1024 / 8];
    unsigned int other[32][2];   /* (arch, nr) of other architectures */
    size_t other_count;
};

struct relay {
    pid_t pid;
    struct relay_notify notify;
    struct relay_health health;
    bool tty;
    bool stdin_open;  /* --stdin: client bytes go to the container */
    bool stdin_once;  /* --stdin-once */
    int signals;      /* signalfd for SIGCHLD */
    int attach_listener;
    int control_listener;
    int log;
    struct log_losses log_lost;
    int stdin_fd;     /* write end of the stdin pipe; -1: none or closed */
    int stdout_fd;    /* read ends; -1 once at EOF */
    int stderr_fd;
    int terminal;     /* pty master; -1 without a TTY */
    bool terminal_closed; /* the master reported EIO: the slave side is closed */
    struct buffer stdin_pending;
    bool close_stdin_when_flushed;
    size_t client_count;
    size_t control_count;
    struct client clients[RELAY_MAX_CLIENTS];
    struct control controls[RELAY_MAX_CLIENTS];
    unsigned char chunk[RELAY_CHUNK];
};

/* loop.c */
/* No run, no clients, every descriptor -1. */
void relay_init(struct relay *r);
/* Before `start`: accepts the attach connections already queued and reads each one's mask (each
 * sends it right after connecting; within 1 s), so they see the first byte of output; then the
 * queued control connections and their lines (an initial resize). */
void relay_accept_queued(struct relay *r);
/* Relays until the container's process exits; its wait status, after its last output. */
int relay_run(struct relay *r);
/* After the exit: sends what clients have not taken (within 5 s), closes every attach connection
 * and the run's descriptors. */
void relay_finish(struct relay *r);
/* Closes the run's descriptors and drops the stdin not yet written (the process is gone, or
 * abandoned). */
void relay_close_run(struct relay *r);
/* Nothing read from the run's clients yet (what skiff-relay can take over: its command line
 * carries the clients' masks, not their pending bytes). */
bool relay_is_fresh(const struct relay *r);
/* Adds a control connection; false when there are RELAY_MAX_CLIENTS already. */
bool relay_add_control(struct relay *r, int fd);
/* Closes every control connection. */
void relay_close_controls(struct relay *r);

static inline int relay_client_fd(const struct relay *r, size_t i) {
    return r->clients[i].fd;
}
/* 0-7, or MASK_UNKNOWN. */
static inline int relay_client_mask(const struct relay *r, size_t i) {
    return r->clients[i].mask;
}
static inline int relay_control_fd(const struct relay *r, size_t i) {
    return r->controls[i].fd;
}
/* The exec listeners adopted (explained denials in exec). */
static inline int relay_notify_exec_fd(const struct relay *r, size_t i) {
    return r->notify.execs[i].fd;
}
static inline const char *relay_notify_exec_id(const struct relay *r, size_t i) {
    return r->notify.execs[i].exec_id;
}
static inline bool relay_notify_exec_privileged(const struct relay *r, size_t i) {
    return r->notify.execs[i].privileged;
}

/* notify.c */
/* Records kept in `<run>/denials` at most (a line each); later ones are counted, not written. */
#define NOTIFY_RECORDS_MAX 256
#define NOTIFY_RECORD_LINE_MAX 128
/* The rate limit of records: a bucket of this many, refilled by this many a second. */
#define NOTIFY_BURST 32
#define NOTIFY_PER_SECOND 10
/* Takes the listener `fd` (kept even on failure) and the original program from
 * `<run_dir>/seccomp-filter.bpf`. 0, or -1 with errno when the program could not be read (then
 * every notification is answered EPERM). */
int relay_notify_configure(struct relay *r, int fd, const char *run_dir);
/* Answers one notification (never blocks: the listener is polled first) and records it. */
void relay_notify_serve(struct relay *r);
/* Marks the run's listener as exec `exec_id`'s (its supervisor answers it itself). */
void relay_notify_label(struct relay *r, const char *exec_id, bool privileged);
/* Takes an exec's listener `fd` (SKIFF_CONTROL_NOTIFY). 0, or -1 with errno, `fd` left to the
 * caller: EBUSY (RELAY_NOTIFY_EXECS listeners already), ENOTCONN (this run explains nothing:
 * no listener of its own), EINVAL (not a seccomp listener). */
int relay_notify_adopt_exec(struct relay *r, int fd, const char *exec_id, bool privileged);
/* Answers one notification of exec listener `index`. */
void relay_notify_serve_exec(struct relay *r, size_t index);
/* Closes exec listener `index` (its filter has no process left); `relay_notify_prune` drops it. */
void relay_notify_drop_exec(struct relay *r, size_t index);
void relay_notify_prune(struct relay *r);
/* The action the original program returns for `data` (a struct seccomp_data), or
 * SECCOMP_RET_KILL_PROCESS when the program is malformed. */
unsigned int notify_run_filter(const unsigned char *program, size_t length, const void *data);
/* The hint line for the run's first denial (no newline), from `<run>/denial-reasons`; 0 when
 * one was written to `out`, -1 when there is none to give (none refused, hints off). */
int relay_notify_hint(const struct relay *r, char *out, size_t size);
/* The run is over: the count of dropped records to the file, the listener closed. */
void relay_notify_end(struct relay *r);

/* health.c */
/* Turns the schedule on for this run: durations in nanoseconds (interval > 0), the run's start,
 * the probe's command line (kept, not copied, until the run ends). */
void relay_health_configure(struct relay *r, unsigned long long interval, unsigned long long start_period,
                            unsigned long long start_interval, unsigned long long started, char **argv);
/* Milliseconds until the next probe is due (0: now), or -1 when none is waited for. */
int health_poll_timeout(const struct relay *r);
/* Starts the probe when it is due and none runs. */
void health_tick(struct relay *r);
/* A reaped child: true when it was the probe (the next one is scheduled from its end). */
bool health_reaped(struct relay *r, pid_t pid, int status);
/* The run is over: the running probe's process group is killed and the probe reaped. */
void health_stop(struct relay *r);

/* log.c */
/* Appends the records for `count` bytes read from `stream` now: a record per line, and a
 * partial one for what follows the last newline. 0, or -1 with errno; a write that fails part
 * way (a full disk) leaves the file at the end of the last whole record (the next record starts
 * clean, no reader sees a torn one), and *lost (when not NULL) is the number of `bytes` not
 * logged. */
int log_append(int fd, const unsigned char *bytes, size_t count, enum relay_stream stream, size_t *lost);
/* The run's output to the log (r->log): first the markers for what was lost before
 * (LOG_LOSS_MARKER_FORMAT), then the records; what cannot be written is counted in r->log_lost,
 * never retried. */
void log_output(struct relay *r, const unsigned char *bytes, size_t count, enum relay_stream stream);
/* Writes the markers of r->log_lost; 0 when nothing is left to mark, -1 with errno. */
int log_write_losses(struct relay *r);
/* `2024-01-02T03:04:05.123Z`: RFC 3339 in UTC, the fraction without trailing zeros (none at
 * all when zero), as Platform's Timestamp.rfc3339Nano(utc: true). 0, or -1 when it does not fit. */
int format_rfc3339_nano(char *out, size_t size, const struct timespec *time);
/* SKIFF_EXIT_FILE_FORMAT (OOMKilled false) at `<dir>/exit`, through `exit.tmp` and rename. 0, or
 * -1 with errno. */
int write_exit_file(const char *directory, int code, const char *finished_at);
/* write(2) until done, retrying EINTR; 0, or -1 with errno. */
int write_all(int fd, const void *bytes, size_t count);
/* CLOCK_MONOTONIC in nanoseconds. */
unsigned long long monotonic_nanos(void);
/* close(2) where nothing can be done about a failure (Linux frees the descriptor anyway). */
void close_fd(int fd);

#endif
