/*
 * The poll loop of one run: output to the log and to attach clients, stdin from them, resize from
 * control clients, SIGCHLD to find the end. skiff-relay runs it while the container runs, and
 * skiff-monitor for a run it relays itself (Monitor+Relay.swift), so both speak the same bytes.
 */
#define _GNU_SOURCE
#include "skiff_relay.h"
#include "skiff_syscall.h"
#include "fdpass.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

/* read(2) retrying EINTR: bytes, 0 at EOF, -errno. */
static ssize_t read_some(int fd, void *bytes, size_t count) {
    ssize_t n = SKIFF_RETRY(read(fd, bytes, count));
    return n >= 0 ? n : -errno;
}

/* write(2) of what goes now: bytes, -errno. */
static ssize_t write_some(int fd, const void *bytes, size_t count) {
    if (count == 0) return 0;
    ssize_t n = SKIFF_RETRY(write(fd, bytes, count));
    return n >= 0 ? n : -errno;
}

/* send(2) without SIGPIPE, never blocking: bytes, -errno. */
static ssize_t send_some(int fd, const void *bytes, size_t count) {
    ssize_t n = SKIFF_RETRY(send(fd, bytes, count, MSG_NOSIGNAL | MSG_DONTWAIT));
    return n >= 0 ? n : -errno;
}


/* Reaps every child that ended (a subreaper: the container's orphans come here); true when the
 * container's process was among them, with its status. */
static bool reap(struct relay *r, int *status) {
    bool found = false;
    for (;;) {
        int st = 0;
        pid_t pid = SKIFF_RETRY(waitpid(-1, &st, WNOHANG));
        if (pid <= 0) break;
        if (health_reaped(r, pid, st)) continue;
        if (pid == r->pid) {
            found = true;
            *status = st;
        }
    }
    return found;
}

static void drain_signals(int fd) {
    struct signalfd_siginfo info;
    while (SKIFF_RETRY(read(fd, &info, sizeof info)) == (ssize_t)sizeof info) {}
}

/* ---- attach clients -------------------------------------------------------------------------- */

static bool client_wants(const struct client *c, enum relay_stream stream) {
    if (c->mask == MASK_UNKNOWN) return false;
    return (c->mask & (stream == RELAY_STDOUT ? MASK_STDOUT : MASK_STDERR)) != 0;
}

/* Queues output and sends what the socket takes now. */
static void client_enqueue(struct client *c, const unsigned char *bytes, size_t count) {
    if (c->dead || count == 0) return;
    size_t sent = 0;
    if (buffer_length(&c->pending) == 0) {
        ssize_t n = send_some(c->fd, bytes, count);
        if (n < 0 && n != -EAGAIN) {
            c->dead = true;
            return;
        }
        sent = n > 0 ? (size_t)n : 0;
        if (sent == count) return;
    }
    if (buffer_append(&c->pending, bytes + sent, count - sent, RELAY_CLIENT_HARD_LIMIT) != 0) c->dead = true;
}

/* Sends queued output; true when nothing is left. */
static bool client_flush(struct client *c) {
    while (buffer_length(&c->pending) > 0 && !c->dead) {
        ssize_t n = send_some(c->fd, c->pending.data + c->pending.start, buffer_length(&c->pending));
        if (n == -EAGAIN) break;
        if (n <= 0) {
            c->dead = true;
            break;
        }
        buffer_consume(&c->pending, (size_t)n);
    }
    if (c->dead) buffer_free(&c->pending);
    return buffer_length(&c->pending) == 0;
}

static void client_close(struct client *c) {
    /* Fails only when the peer is gone already (ENOTCONN): the close ends it all the same. */
    (void)shutdown(c->fd, SHUT_RDWR);
    close_fd(c->fd);
    c->fd = -1;
    c->dead = true;
    buffer_free(&c->pending);
}

static void accept_clients(struct relay *r) {
    for (;;) {
        int fd = SKIFF_RETRY(accept4(r->attach_listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC));
        if (fd < 0) return;
        if (r->client_count >= RELAY_MAX_CLIENTS) {
            close_fd(fd);
            continue;
        }
        struct client *c = &r->clients[r->client_count++];
        memset(c, 0, sizeof *c);
        c->fd = fd;
        c->mask = MASK_UNKNOWN;
    }
}

static void read_mask(struct client *c) {
    unsigned char byte = 0;
    ssize_t n = read_some(c->fd, &byte, 1);
    if (n == 1) {
        if ((byte & ~7u) == 0) {
            c->mask = byte;
        } else {
            c->dead = true;
        }
    } else if (n != -EAGAIN) {
        c->dead = true;
    }
}

/* Where stdin bytes go: the pipe or the pty master; -1 when nowhere. */
static int stdin_target(const struct relay *r) {
    if (r->terminal >= 0) return r->terminal_closed ? -1 : r->terminal;
    return r->stdin_fd;
}

/* --stdin-once: the container's stdin closes when the client that fed it stops. */
static void stdin_ended(struct relay *r, const struct client *c) {
    if (!r->stdin_once || c->mask == MASK_UNKNOWN || (c->mask & MASK_STDIN) == 0) return;
    r->close_stdin_when_flushed = true;
}

/* Bytes a client sent after its mask: the container's stdin when it asked for stdin and the
 * container has one; dropped otherwise. With `all` (it hung up) everything it had sent. */
static void read_input(struct relay *r, struct client *c, bool all) {
    do {
        size_t room = sizeof r->chunk;
        if (!all) {
            size_t pending = buffer_length(&r->stdin_pending);
            size_t left = pending < RELAY_STDIN_BACKLOG_LIMIT ? RELAY_STDIN_BACKLOG_LIMIT - pending : 0;
            if (left < room) room = left;
        }
        if (room == 0) return;
        ssize_t n = read_some(c->fd, r->chunk, room);
        if (n > 0) {
            if ((c->mask & MASK_STDIN) != 0 && r->stdin_open && stdin_target(r) >= 0) {
                /* Past the hard limit (only a hung-up client's last bytes can get there): dropped. */
                (void)buffer_append(&r->stdin_pending, r->chunk, (size_t)n, RELAY_STDIN_HARD_LIMIT);
            }
            continue;
        }
        if (n == 0) {
            c->input_closed = true;
            stdin_ended(r, c);
        } else if (n != -EAGAIN) {
            c->dead = true;
            stdin_ended(r, c);
        }
        return;
    } while (all);
}

static void serve_client(struct relay *r, struct client *c, short revents) {
    if (revents & POLLOUT) (void)client_flush(c);
    bool hung_up = (revents & (POLLHUP | POLLERR)) != 0;
    if ((revents & POLLIN) || hung_up) {
        if (c->mask == MASK_UNKNOWN) {
            read_mask(c);
            if (hung_up) c->dead = true;
            return;
        }
        read_input(r, c, hung_up);
    }
    if (hung_up) {
        /* Gone both ways: its stdin ends too. */
        stdin_ended(r, c);
        c->dead = true;
    }
}

/* ---- control clients ------------------------------------------------------------------------- */

static void accept_controls(struct relay *r) {
    for (;;) {
        int fd = SKIFF_RETRY(accept4(r->control_listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC));
        if (fd < 0) return;
        if (r->control_count >= RELAY_MAX_CLIENTS) {
            close_fd(fd);
            continue;
        }
        struct control *c = &r->controls[r->control_count++];
        c->fd = fd;
        c->passed = -1;
        c->dead = false;
        c->overlong = false;
        c->length = 0;
    }
}

/* `notify <exec id> <0|1>` with an exec's seccomp listener (docs/denials.md): adopted, and the
 * answer written back (the connection is non-blocking: a line this short fits). */
static void adopt_listener(struct relay *r, struct control *c, const char *exec_id, bool privileged) {
    char reply[64];
    int fd = c->passed;
    c->passed = -1;
    /* A supervisor that hung up gave up waiting for the answer (this process was stopped): it
     * answers the listener itself, so this one does not take it. */
    struct pollfd peer = {.fd = c->fd, .events = POLLRDHUP};
    bool gone = SKIFF_RETRY(poll(&peer, 1, 0)) > 0 && (peer.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
    if (fd < 0 || gone) {
        errno = fd < 0 ? EINVAL : ECONNRESET;
    } else if (relay_notify_adopt_exec(r, fd, exec_id, privileged) == 0) {
        (void)snprintf(reply, sizeof reply, "%s\n", SKIFF_NOTIFY_REPLY_OK);
        (void)SKIFF_RETRY(send(c->fd, reply, strlen(reply), MSG_NOSIGNAL | MSG_DONTWAIT));
        return;
    }
    int err = errno;
    if (fd >= 0) close_fd(fd);
    (void)snprintf(reply, sizeof reply, "%s %d\n", SKIFF_NOTIFY_REPLY_REFUSED, err);
    (void)SKIFF_RETRY(send(c->fd, reply, strlen(reply), MSG_NOSIGNAL | MSG_DONTWAIT));
}

/* `resize <rows> <cols>`: TIOCSWINSZ on the pty master; `notify ...` (an exec's listener);
 * anything else is ignored (a descriptor that came with it is closed). */
static void apply_line(struct relay *r, struct control *c, const char *line, size_t length) {
    char exec_id[SKIFF_NOTIFY_EXEC_ID_LENGTH + 1];
    int privileged = 0;
    if (skiff_parse_notify_line(line, length, exec_id, sizeof exec_id, &privileged)) {
        adopt_listener(r, c, exec_id, privileged != 0);
        return;
    }
    if (c->passed >= 0) {
        close_fd(c->passed);
        c->passed = -1;
    }
    unsigned short rows, columns;
    if (!skiff_parse_control_line(line, length, &rows, &columns) || r->terminal < 0) return;
    struct winsize size;
    memset(&size, 0, sizeof size);
    size.ws_row = rows;
    size.ws_col = columns;
    /* A terminal that went away refuses it (EIO): nothing to resize then. */
    if (ioctl(r->terminal, TIOCSWINSZ, &size) != 0) return;
}

static void serve_control(struct relay *r, struct control *c) {
    char bytes[512];
    for (;;) {
        /* A descriptor comes with the first byte of its line (SKIFF_CONTROL_NOTIFY). */
        int passed = -1;
        ssize_t n = skiff_fd_recv(c->fd, bytes, sizeof bytes, &passed);
        if (passed >= 0) {
            if (c->passed >= 0) close_fd(c->passed);
            c->passed = passed;
        }
        if (n == -EAGAIN) return;
        if (n <= 0) {
            c->dead = true;
            return;
        }
        for (ssize_t i = 0; i < n; i++) {
            char byte = bytes[i];
            if (byte == '\n') {
                if (!c->overlong) apply_line(r, c, c->line, c->length);
                c->length = 0;
                c->overlong = false;
            } else if (!c->overlong) {
                c->line[c->length++] = byte;
                if (c->length > RELAY_CONTROL_LINE_LIMIT) {
                    c->overlong = true;
                    c->length = 0;
                }
            }
        }
    }
}

static void prune(struct relay *r) {
    size_t kept = 0;
    for (size_t i = 0; i < r->client_count; i++) {
        if (r->clients[i].dead) {
            if (r->clients[i].fd >= 0) client_close(&r->clients[i]);
            continue;
        }
        if (kept != i) r->clients[kept] = r->clients[i];
        kept++;
    }
    r->client_count = kept;
    kept = 0;
    for (size_t i = 0; i < r->control_count; i++) {
        if (r->controls[i].dead) {
            close_fd(r->controls[i].fd);
            if (r->controls[i].passed >= 0) close_fd(r->controls[i].passed);
            continue;
        }
        if (kept != i) r->controls[kept] = r->controls[i];
        kept++;
    }
    r->control_count = kept;
}

/* ---- output and stdin ------------------------------------------------------------------------ */

/* One chunk of the container's output: to the log, then to every client that asked for the
 * stream (raw with a terminal, else in Docker's 8-byte frames). */
static void relay_output(struct relay *r, const unsigned char *bytes, size_t count, enum relay_stream stream) {
    /* A log that cannot be written (a full disk) loses the record, and says so once it can
     * write again; the clients still get it. */
    log_output(r, bytes, count, stream);
    unsigned char header[8] = {(unsigned char)stream, 0, 0, 0, (unsigned char)(count >> 24),
                               (unsigned char)(count >> 16), (unsigned char)(count >> 8), (unsigned char)count};
    for (size_t i = 0; i < r->client_count; i++) {
        struct client *c = &r->clients[i];
        if (!client_wants(c, stream)) continue;
        if (!r->tty) client_enqueue(c, header, sizeof header);
        client_enqueue(c, bytes, count);
    }
}

/* EOF (pipe) or EIO (pty: the slave side is closed). */
static void output_ended(struct relay *r, int fd) {
    if (fd == r->terminal) {
        r->terminal_closed = true;
    } else if (fd == r->stdout_fd) {
        close_fd(fd);
        r->stdout_fd = -1;
    } else if (fd == r->stderr_fd) {
        close_fd(fd);
        r->stderr_fd = -1;
    }
}

static void read_output(struct relay *r, int fd, enum relay_stream stream) {
    ssize_t n = read_some(fd, r->chunk, sizeof r->chunk);
    if (n > 0) {
        relay_output(r, r->chunk, (size_t)n, stream);
    } else if (n != -EAGAIN) {
        output_ended(r, fd);
    }
}

/* Writes pending client bytes to the container's stdin; closes it after them when asked. */
static void flush_stdin(struct relay *r) {
    int target = stdin_target(r);
    if (target >= 0 && buffer_length(&r->stdin_pending) > 0) {
        ssize_t n = write_some(target, r->stdin_pending.data + r->stdin_pending.start,
                               buffer_length(&r->stdin_pending));
        if (n > 0) {
            buffer_consume(&r->stdin_pending, (size_t)n);
        } else if (n != -EAGAIN) {
            /* The reader is gone (EPIPE): nothing more can be written. */
            buffer_free(&r->stdin_pending);
            if (r->terminal < 0 && r->stdin_fd >= 0) {
                close_fd(r->stdin_fd);
                r->stdin_fd = -1;
            }
        }
    }
    if (buffer_length(&r->stdin_pending) == 0 && r->close_stdin_when_flushed && r->terminal < 0 &&
        r->stdin_fd >= 0) {
        close_fd(r->stdin_fd);
        r->stdin_fd = -1;
    }
}

/* After the process ended: what is left in the pipes or the pty, until EOF or until nothing
 * came for 100 ms (a process that outlived it may hold a pipe open), within 2 s. */
static void drain_output(struct relay *r) {
    unsigned long long deadline = monotonic_nanos() + 2000000000ULL;
    while (monotonic_nanos() < deadline) {
        struct pollfd fds[3];
        enum relay_stream streams[3];
        nfds_t count = 0;
        if (r->stdout_fd >= 0) {
            fds[count] = (struct pollfd){.fd = r->stdout_fd, .events = POLLIN};
            streams[count++] = RELAY_STDOUT;
        }
        if (r->stderr_fd >= 0) {
            fds[count] = (struct pollfd){.fd = r->stderr_fd, .events = POLLIN};
            streams[count++] = RELAY_STDERR;
        }
        if (r->terminal >= 0 && !r->terminal_closed) {
            fds[count] = (struct pollfd){.fd = r->terminal, .events = POLLIN};
            streams[count++] = RELAY_STDOUT;
        }
        if (count == 0 || SKIFF_RETRY(poll(fds, count, 100)) <= 0) break;
        for (nfds_t i = 0; i < count; i++) {
            if (fds[i].revents != 0) read_output(r, fds[i].fd, streams[i]);
        }
    }
}

/* ---- the loop -------------------------------------------------------------------------------- */

enum slot_kind {
    SLOT_SIGNALS,
    SLOT_ATTACH_LISTENER,
    SLOT_CONTROL_LISTENER,
    SLOT_STDOUT,
    SLOT_STDERR,
    SLOT_TERMINAL,
    SLOT_STDIN,
    SLOT_CLIENT,
    SLOT_CONTROL,
    SLOT_NOTIFY,
    SLOT_NOTIFY_EXEC,
};

struct slot {
    enum slot_kind kind;
    size_t index;
};

#define MAX_SLOTS (8 + 2 * RELAY_MAX_CLIENTS + RELAY_NOTIFY_EXECS)

struct poll_set {
    struct pollfd fds[MAX_SLOTS];
    struct slot slots[MAX_SLOTS];
    nfds_t count;
};

static void add(struct poll_set *set, int fd, short events, enum slot_kind kind, size_t index) {
    set->fds[set->count] = (struct pollfd){.fd = fd, .events = events};
    set->slots[set->count] = (struct slot){.kind = kind, .index = index};
    set->count++;
}

int relay_run(struct relay *r) {
    int status = 0;
    bool exited = reap(r, &status);
    struct poll_set set;
    while (!exited) {
        set.count = 0;
        add(&set, r->signals, POLLIN, SLOT_SIGNALS, 0);
        add(&set, r->attach_listener, POLLIN, SLOT_ATTACH_LISTENER, 0);
        add(&set, r->control_listener, POLLIN, SLOT_CONTROL_LISTENER, 0);
        /* A refused syscall waits for its answer: never held back. */
        if (r->notify.fd >= 0) add(&set, r->notify.fd, POLLIN, SLOT_NOTIFY, 0);
        for (size_t i = 0; i < r->notify.exec_count; i++) {
            add(&set, r->notify.execs[i].fd, POLLIN, SLOT_NOTIFY_EXEC, i);
        }
        /* A client this far behind holds the output back (the container then blocks on a full
         * pipe), as Docker's attach does; nothing piles up here. */
        bool held = false;
        for (size_t i = 0; i < r->client_count; i++) {
            if (buffer_length(&r->clients[i].pending) >= RELAY_CLIENT_BACKLOG_LIMIT) held = true;
        }
        if (!held) {
            if (r->stdout_fd >= 0) add(&set, r->stdout_fd, POLLIN, SLOT_STDOUT, 0);
            if (r->stderr_fd >= 0) add(&set, r->stderr_fd, POLLIN, SLOT_STDERR, 0);
        }
        bool stdin_waiting = buffer_length(&r->stdin_pending) > 0;
        if (r->terminal >= 0 && !r->terminal_closed) {
            short events = held ? 0 : POLLIN;
            if (stdin_waiting) events |= POLLOUT;
            if (events != 0) add(&set, r->terminal, events, SLOT_TERMINAL, 0);
        } else if (r->stdin_fd >= 0 && stdin_waiting) {
            add(&set, r->stdin_fd, POLLOUT, SLOT_STDIN, 0);
        }
        bool takes_stdin = buffer_length(&r->stdin_pending) < RELAY_STDIN_BACKLOG_LIMIT;
        for (size_t i = 0; i < r->client_count; i++) {
            const struct client *c = &r->clients[i];
            short events = 0;
            if (!c->input_closed && (c->mask == MASK_UNKNOWN || takes_stdin)) events |= POLLIN;
            if (buffer_length(&c->pending) > 0) events |= POLLOUT;
            add(&set, c->fd, events, SLOT_CLIENT, i);
        }
        for (size_t i = 0; i < r->control_count; i++) add(&set, r->controls[i].fd, POLLIN, SLOT_CONTROL, i);

        /* Until the next healthcheck probe is due, if one is. */
        int ready = SKIFF_RETRY(poll(set.fds, set.count, health_poll_timeout(r)));
        health_tick(r);
        if (ready <= 0) continue;
        for (nfds_t i = 0; i < set.count; i++) {
            short revents = set.fds[i].revents;
            if (revents == 0) continue;
            switch (set.slots[i].kind) {
            case SLOT_SIGNALS:
                drain_signals(r->signals);
                if (reap(r, &status)) exited = true;
                break;
            case SLOT_ATTACH_LISTENER:
                accept_clients(r);
                break;
            case SLOT_CONTROL_LISTENER:
                accept_controls(r);
                break;
            case SLOT_STDOUT:
                read_output(r, set.fds[i].fd, RELAY_STDOUT);
                break;
            case SLOT_STDERR:
                read_output(r, set.fds[i].fd, RELAY_STDERR);
                break;
            case SLOT_TERMINAL:
                if (revents & (POLLIN | POLLHUP | POLLERR)) read_output(r, r->terminal, RELAY_STDOUT);
                if (revents & POLLOUT) flush_stdin(r);
                break;
            case SLOT_STDIN:
                flush_stdin(r);
                break;
            case SLOT_CLIENT:
                serve_client(r, &r->clients[set.slots[i].index], revents);
                break;
            case SLOT_CONTROL:
                serve_control(r, &r->controls[set.slots[i].index]);
                break;
            case SLOT_NOTIFY:
                if (revents & POLLIN) relay_notify_serve(r);
                break;
            case SLOT_NOTIFY_EXEC:
                /* POLLHUP: no process is left under the exec's filter (Linux 5.10+). */
                if (revents & POLLIN) {
                    relay_notify_serve_exec(r, set.slots[i].index);
                } else if (revents & (POLLHUP | POLLERR | POLLNVAL)) {
                    relay_notify_drop_exec(r, set.slots[i].index);
                }
                break;
            }
        }
        flush_stdin(r);
        prune(r);
        relay_notify_prune(r);
    }
    /* No probe outlives its run (moby stops the health monitor when the container stops). */
    health_stop(r);
    drain_output(r);
    /* After its last output, in the log only (attached clients get the container's bytes and
     * nothing else): what was refused and why, when the run failed after a denial. */
    char hint[2048];
    if (skiff_exit_code(status) != 0 && r->log >= 0 && relay_notify_hint(r, hint, sizeof hint - 1) == 0) {
        size_t length = strlen(hint);
        hint[length++] = '\n';
        log_output(r, (const unsigned char *)hint, length, r->tty ? RELAY_STDOUT : RELAY_STDERR);
    }
    relay_notify_end(r);
    return status;
}

void relay_finish(struct relay *r) {
    unsigned long long deadline = monotonic_nanos() + 5000000000ULL;
    while (monotonic_nanos() < deadline) {
        struct pollfd fds[RELAY_MAX_CLIENTS];
        nfds_t behind = 0;
        for (size_t i = 0; i < r->client_count; i++) {
            struct client *c = &r->clients[i];
            if (!c->dead && !client_flush(c)) fds[behind++] = (struct pollfd){.fd = c->fd, .events = POLLOUT};
        }
        if (behind == 0) break;
        /* Only a wait: the next round sends, or finds the client dead. */
        (void)SKIFF_RETRY(poll(fds, behind, 100));
    }
    for (size_t i = 0; i < r->client_count; i++) {
        if (r->clients[i].fd >= 0) client_close(&r->clients[i]);
    }
    r->client_count = 0;
    relay_close_run(r);
    /* The run's last word in the log: what it lost, if the disk takes it now. */
    if (r->log >= 0) (void)log_write_losses(r);
}

void relay_init(struct relay *r) {
    r->pid = 0;
    memset(&r->notify, 0, sizeof r->notify);
    r->notify.fd = -1;
    r->notify.first_nr = -1;
    memset(&r->health, 0, sizeof r->health);
    r->tty = false;
    r->stdin_open = false;
    r->stdin_once = false;
    r->signals = r->attach_listener = r->control_listener = r->log = -1;
    memset(&r->log_lost, 0, sizeof r->log_lost);
    r->stdin_fd = r->stdout_fd = r->stderr_fd = r->terminal = -1;
    r->terminal_closed = false;
    memset(&r->stdin_pending, 0, sizeof r->stdin_pending);
    r->close_stdin_when_flushed = false;
    r->client_count = 0;
    r->control_count = 0;
}

void relay_close_run(struct relay *r) {
    buffer_free(&r->stdin_pending);
    int *run[] = {&r->stdin_fd, &r->stdout_fd, &r->stderr_fd, &r->terminal};
    for (size_t i = 0; i < sizeof run / sizeof run[0]; i++) {
        close_fd(*run[i]);
        *run[i] = -1;
    }
    r->terminal_closed = false;
    r->close_stdin_when_flushed = false;
    close_fd(r->notify.fd);
    r->notify.fd = -1;
}

void relay_accept_queued(struct relay *r) {
    accept_clients(r);
    unsigned long long deadline = monotonic_nanos() + 1000000000ULL;
    while (monotonic_nanos() < deadline) {
        struct pollfd fds[RELAY_MAX_CLIENTS];
        size_t which[RELAY_MAX_CLIENTS];
        nfds_t count = 0;
        for (size_t i = 0; i < r->client_count; i++) {
            const struct client *c = &r->clients[i];
            if (c->mask != MASK_UNKNOWN || c->dead) continue;
            fds[count] = (struct pollfd){.fd = c->fd, .events = POLLIN};
            which[count++] = i;
        }
        if (count == 0 || SKIFF_RETRY(poll(fds, count, 50)) < 0) break;
        for (nfds_t i = 0; i < count; i++) {
            if (fds[i].revents != 0) read_mask(&r->clients[which[i]]);
        }
    }
    prune(r);
    accept_controls(r);
    for (size_t i = 0; i < r->control_count; i++) serve_control(r, &r->controls[i]);
    prune(r);
}

bool relay_is_fresh(const struct relay *r) {
    if (buffer_length(&r->stdin_pending) > 0 || r->close_stdin_when_flushed || r->terminal_closed) return false;
    for (size_t i = 0; i < r->client_count; i++) {
        const struct client *c = &r->clients[i];
        if (c->dead || c->input_closed || buffer_length(&c->pending) > 0) return false;
    }
    return true;
}

bool relay_add_control(struct relay *r, int fd) {
    if (r->control_count >= RELAY_MAX_CLIENTS) return false;
    struct control *c = &r->controls[r->control_count++];
    c->fd = fd;
    c->passed = -1;
    c->dead = false;
    c->overlong = false;
    c->length = 0;
    return true;
}

void relay_close_controls(struct relay *r) {
    for (size_t i = 0; i < r->control_count; i++) {
        close_fd(r->controls[i].fd);
        if (r->controls[i].passed >= 0) close_fd(r->controls[i].passed);
    }
    r->control_count = 0;
}
