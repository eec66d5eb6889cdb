/*
 * Explained denials (docs/denials.md): the run's seccomp listener. The container's filter is its
 * profile's, with every SECCOMP_RET_ERRNO return made SECCOMP_RET_USER_NOTIF (Runtime's
 * Seccomp+Notify.swift), so only refused calls come here; allowed ones never leave the kernel.
 * Each notification is answered with the errno the original program returns for the same
 * seccomp_data (run here, below), so the process sees exactly what it saw without explanation,
 * and recorded in `<run>/denials` within a rate limit and a size bound. If this process dies,
 * the kernel answers a waiting call (and every later one) with ENOSYS: nothing hangs.
 */
#define _GNU_SOURCE
#include "skiff_relay.h"
#include "skiff_syscall.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- the classic BPF the kernel runs for seccomp --------------------------------------------- */

unsigned int notify_run_filter(const unsigned char *program, size_t length, const void *data) {
    const struct sock_filter *code = (const struct sock_filter *)program;
    size_t count = length / sizeof *code;
    const unsigned char *bytes = data;
    unsigned int a = 0, x = 0, mem[BPF_MEMWORDS] = {0};
    /* Jumps go forward only: at most `count` steps. */
    for (size_t pc = 0; pc < count; pc++) {
        const struct sock_filter *in = &code[pc];
        unsigned int k = in->k;
        unsigned int src = BPF_SRC(in->code) == BPF_X ? x : k;
        switch (BPF_CLASS(in->code)) {
        case BPF_LD:
            if (in->code == (BPF_LD | BPF_W | BPF_ABS)) {
                if (k > sizeof(struct seccomp_data) - 4 || k % 4 != 0) return SECCOMP_RET_KILL_PROCESS;
                memcpy(&a, bytes + k, 4);
            } else if (in->code == (BPF_LD | BPF_W | BPF_LEN)) {
                a = sizeof(struct seccomp_data);
            } else if (in->code == (BPF_LD | BPF_IMM)) {
                a = k;
            } else if (in->code == (BPF_LD | BPF_MEM) && k < BPF_MEMWORDS) {
                a = mem[k];
            } else {
                return SECCOMP_RET_KILL_PROCESS;
            }
            break;
        case BPF_LDX:
            if (in->code == (BPF_LDX | BPF_W | BPF_LEN)) {
                x = sizeof(struct seccomp_data);
            } else if (in->code == (BPF_LDX | BPF_IMM)) {
                x = k;
            } else if (in->code == (BPF_LDX | BPF_MEM) && k < BPF_MEMWORDS) {
                x = mem[k];
            } else {
                return SECCOMP_RET_KILL_PROCESS;
            }
            break;
        case BPF_ST:
            if (k >= BPF_MEMWORDS) return SECCOMP_RET_KILL_PROCESS;
            mem[k] = a;
            break;
        case BPF_STX:
            if (k >= BPF_MEMWORDS) return SECCOMP_RET_KILL_PROCESS;
            mem[k] = x;
            break;
        case BPF_ALU:
            switch (BPF_OP(in->code)) {
            case BPF_ADD: a += src; break;
            case BPF_SUB: a -= src; break;
            case BPF_MUL: a *= src; break;
            case BPF_DIV: if (src == 0) return SECCOMP_RET_KILL_PROCESS; a /= src; break;
            case BPF_MOD: if (src == 0) return SECCOMP_RET_KILL_PROCESS; a %= src; break;
            case BPF_OR: a |= src; break;
            case BPF_AND: a &= src; break;
            case BPF_XOR: a ^= src; break;
            case BPF_LSH: a = src < 32 ? a << src : 0; break;
            case BPF_RSH: a = src < 32 ? a >> src : 0; break;
            case BPF_NEG: a = -a; break;
            default: return SECCOMP_RET_KILL_PROCESS;
            }
            break;
        case BPF_JMP: {
            if (BPF_OP(in->code) == BPF_JA) {
                pc += k;
                break;
            }
            bool taken;
            switch (BPF_OP(in->code)) {
            case BPF_JEQ: taken = a == src; break;
            case BPF_JGT: taken = a > src; break;
            case BPF_JGE: taken = a >= src; break;
            case BPF_JSET: taken = (a & src) != 0; break;
            default: return SECCOMP_RET_KILL_PROCESS;
            }
            pc += taken ? in->jt : in->jf;
            break;
        }
        case BPF_RET:
            if (BPF_RVAL(in->code) == BPF_K) return k;
            if (BPF_RVAL(in->code) == BPF_A) return a;
            return SECCOMP_RET_KILL_PROCESS;
        case BPF_MISC:
            if (BPF_MISCOP(in->code) == BPF_TAX) x = a;
            else a = x;
            break;
        default:
            return SECCOMP_RET_KILL_PROCESS;
        }
    }
    return SECCOMP_RET_KILL_PROCESS;
}

/* ---- the listener ----------------------------------------------------------------------------- */

/* The program at `path` (malloc'd), or NULL with errno. */
static unsigned char *read_program(const char *path, size_t *length) {
    int file = SKIFF_RETRY(open(path, O_RDONLY | O_CLOEXEC));
    if (file < 0) return NULL;
    struct stat st;
    if (fstat(file, &st) != 0 || st.st_size <= 0 || st.st_size > (1 << 20) ||
        st.st_size % (off_t)sizeof(struct sock_filter) != 0) {
        close_fd(file);
        errno = EINVAL;
        return NULL;
    }
    unsigned char *program = malloc((size_t)st.st_size);
    size_t got = 0;
    while (program != NULL && got < (size_t)st.st_size) {
        ssize_t k = SKIFF_RETRY(read(file, program + got, (size_t)st.st_size - got));
        if (k <= 0) break;
        got += (size_t)k;
    }
    close_fd(file);
    if (program == NULL || got != (size_t)st.st_size) {
        free(program);
        errno = program == NULL ? ENOMEM : EIO;
        return NULL;
    }
    *length = got;
    return program;
}

int relay_notify_configure(struct relay *r, int fd, const char *run_dir) {
    struct relay_notify *n = &r->notify;
    /* The listener is kept whatever happens: closed, it would make the kernel answer ENOSYS. */
    n->fd = fd;
    n->exec_id[0] = 0;
    n->privileged = false;
    n->tokens = NOTIFY_BURST;
    n->refilled = monotonic_nanos();
    n->answered = n->dropped = 0;
    n->first_nr = -1;
    n->native_arch = 0;
    memset(n->learned, 0, sizeof n->learned);
    n->other_count = 0;
    free(n->program);
    n->program = NULL;
    n->length = 0;
    char path[PATH_MAX];
    int k = snprintf(n->run_dir, sizeof n->run_dir, "%s", run_dir);
    if (k < 0 || (size_t)k >= sizeof n->run_dir ||
        skiff_run_path(path, sizeof path, run_dir, SKIFF_RUN_SECCOMP_PROGRAM) != 0) {
        n->run_dir[0] = 0;
        errno = ENAMETOOLONG;
        return -1;
    }
    n->program = read_program(path, &n->length);
    return n->program == NULL ? -1 : 0;
}

static const char *errno_name(int err) {
    switch (err) {
    case EPERM: return "EPERM";
    case ENOSYS: return "ENOSYS";
    case EACCES: return "EACCES";
    case EINVAL: return "EINVAL";
    case ENOENT: return "ENOENT";
    case EAFNOSUPPORT: return "EAFNOSUPPORT";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    default: return NULL;
    }
}

/* One line: `<time>\t<arch hex>\t<nr>\t<errno>\t<pid>\n` (an exec's: `\t<exec id>\t<privileged 0|1>`
 * before the newline), while the bucket has a token and the
 * file holds fewer than NOTIFY_RECORDS_MAX lines (by size: lines are at most
 * NOTIFY_RECORD_LINE_MAX bytes). */
static void record(struct relay *r, const struct seccomp_notif *req, int err, const char *exec_id, bool privileged) {
    struct relay_notify *n = &r->notify;
    unsigned long long now = monotonic_nanos();
    n->tokens += (double)(now - n->refilled) / 1e9 * NOTIFY_PER_SECOND;
    if (n->tokens > NOTIFY_BURST) n->tokens = NOTIFY_BURST;
    n->refilled = now;
    if (n->tokens < 1) {
        n->dropped++;
        return;
    }
    char path[PATH_MAX];
    if (n->run_dir[0] == 0 || skiff_run_path(path, sizeof path, n->run_dir, SKIFF_RUN_DENIALS) != 0) return;
    int fd = SKIFF_RETRY(open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
    if (fd < 0) return;
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size >= (off_t)NOTIFY_RECORDS_MAX * NOTIFY_RECORD_LINE_MAX) {
        n->dropped++;
        close_fd(fd);
        return;
    }
    n->tokens -= 1;
    struct timespec wall;
    char when[64] = "-";
    if (clock_gettime(CLOCK_REALTIME, &wall) == 0) (void)format_rfc3339_nano(when, sizeof when, &wall);
    char line[NOTIFY_RECORD_LINE_MAX];
    int k = exec_id[0] == 0
        ? snprintf(line, sizeof line, "%s\t%x\t%d\t%d\t%u\n", when, req->data.arch, req->data.nr, err, req->pid)
        : snprintf(line, sizeof line, "%s\t%x\t%d\t%d\t%u\t%s\t%d\n", when, req->data.arch, req->data.nr, err,
                   req->pid, exec_id, privileged ? 1 : 0);
    if (k > 0 && (size_t)k < sizeof line) (void)write_all(fd, line, (size_t)k);
    close_fd(fd);
}

/* Learning: the syscall is noted the first time it is seen. */
static void learn(struct relay *r, const struct seccomp_notif *req) {
    struct relay_notify *n = &r->notify;
    unsigned int arch = req->data.arch, nr = (unsigned int)req->data.nr;
    if (n->native_arch == 0) n->native_arch = arch;
    if (arch == n->native_arch && nr < 1024) {
        if (n->learned[nr / 8] & (1u << (nr % 8))) return;
        n->learned[nr / 8] |= (unsigned char)(1u << (nr % 8));
    } else {
        for (size_t i = 0; i < n->other_count; i++) {
            if (n->other[i][0] == arch && n->other[i][1] == nr) return;
        }
        if (n->other_count < sizeof n->other / sizeof n->other[0]) {
            n->other[n->other_count][0] = arch;
            n->other[n->other_count][1] = nr;
            n->other_count++;
        }
    }
    char path[PATH_MAX];
    if (n->run_dir[0] == 0 || skiff_run_path(path, sizeof path, n->run_dir, SKIFF_RUN_LEARNED) != 0) return;
    int fd = SKIFF_RETRY(open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
    if (fd < 0) return;
    char line[48];
    int k = snprintf(line, sizeof line, "%x %u\n", arch, nr);
    if (k > 0 && (size_t)k < sizeof line) (void)write_all(fd, line, (size_t)k);
    close_fd(fd);
}

/* Answers one notification of `fd`: the original program's errno, or on (learning). A refusal
 * is recorded before it is answered, so that its record is there when the call returns (an
 * exec's supervisor reads its records when the exec ends); `primary`: the run's own listener
 * (its first refusal is the hint's). */
static void serve(struct relay *r, int fd, const char *exec_id, bool privileged, bool primary) {
    struct relay_notify *n = &r->notify;
    struct seccomp_notif req;
    memset(&req, 0, sizeof req);
    if (ioctl(fd, SECCOMP_IOCTL_NOTIF_RECV, &req) != 0) {
        /* EINTR, or ENOENT: the caller went away before we read it. */
        return;
    }
    /* Without the program (it could not be read): EPERM, the usual refusal. */
    unsigned int action = n->program != NULL ? notify_run_filter(n->program, n->length, &req.data)
                                             : SECCOMP_RET_ERRNO | EPERM;
    struct seccomp_notif_resp resp;
    memset(&resp, 0, sizeof resp);
    resp.id = req.id;
    int err = -1;
    if ((action & SECCOMP_RET_ACTION_FULL) == SECCOMP_RET_ERRNO) {
        err = (int)(action & SECCOMP_RET_DATA);
        if (err > 4095) err = 4095;  /* as the kernel caps it */
        resp.error = -err;
    } else {
        /* Not a refusal of the original (a filter this listener did not make): let it go on. */
        resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
    }
    if (err < 0) {
        /* ENOENT: the caller was killed meanwhile. Nothing to do. */
        (void)ioctl(fd, SECCOMP_IOCTL_NOTIF_SEND, &resp);
        n->answered++;
        learn(r, &req);
        return;
    }
    if (primary && n->first_nr < 0) {
        n->first_nr = req.data.nr;
        n->first_errno = err;
        n->first_arch = req.data.arch;
    }
    record(r, &req, err, exec_id, privileged);
    (void)ioctl(fd, SECCOMP_IOCTL_NOTIF_SEND, &resp);
    n->answered++;
}

void relay_notify_serve(struct relay *r) {
    struct relay_notify *n = &r->notify;
    serve(r, n->fd, n->exec_id, n->privileged, n->exec_id[0] == 0);
}

void relay_notify_label(struct relay *r, const char *exec_id, bool privileged) {
    struct relay_notify *n = &r->notify;
    (void)snprintf(n->exec_id, sizeof n->exec_id, "%s", exec_id);
    n->privileged = privileged;
}

/* A seccomp listener is an anonymous inode named so (kernel/seccomp.c). */
static bool is_listener(int fd) {
    char path[64], target[64];
    (void)snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    ssize_t k = readlink(path, target, sizeof target - 1);
    if (k <= 0) return false;
    target[k] = 0;
    return strcmp(target, "anon_inode:seccomp notify") == 0;
}

int relay_notify_adopt_exec(struct relay *r, int fd, const char *exec_id, bool privileged) {
    struct relay_notify *n = &r->notify;
    if (n->fd < 0 || n->run_dir[0] == 0) {
        errno = ENOTCONN;
        return -1;
    }
    if (fd < 0 || exec_id[0] == 0 || !is_listener(fd)) {
        errno = EINVAL;
        return -1;
    }
    if (n->exec_count >= RELAY_NOTIFY_EXECS) {
        errno = EBUSY;
        return -1;
    }
    struct relay_notify_exec *e = &n->execs[n->exec_count++];
    e->fd = fd;
    (void)snprintf(e->exec_id, sizeof e->exec_id, "%s", exec_id);
    e->privileged = privileged;
    return 0;
}

void relay_notify_serve_exec(struct relay *r, size_t index) {
    struct relay_notify_exec *e = &r->notify.execs[index];
    if (e->fd >= 0) serve(r, e->fd, e->exec_id, e->privileged, false);
}

void relay_notify_drop_exec(struct relay *r, size_t index) {
    struct relay_notify_exec *e = &r->notify.execs[index];
    if (e->fd >= 0) close_fd(e->fd);
    e->fd = -1;
}

void relay_notify_prune(struct relay *r) {
    struct relay_notify *n = &r->notify;
    size_t kept = 0;
    for (size_t i = 0; i < n->exec_count; i++) {
        if (n->execs[i].fd < 0) continue;
        if (kept != i) n->execs[kept] = n->execs[i];
        kept++;
    }
    n->exec_count = kept;
}

/* The value after `key ` on a header line of the reasons file, or NULL. */
static const char *header_value(const char *line, const char *key) {
    size_t k = strlen(key);
    return strncmp(line, key, k) == 0 && line[k] == ' ' ? line + k + 1 : NULL;
}

int relay_notify_hint(const struct relay *r, char *out, size_t size) {
    const struct relay_notify *n = &r->notify;
    if (n->first_nr < 0) return -1;
    char path[PATH_MAX];
    if (skiff_run_path(path, sizeof path, n->run_dir, SKIFF_RUN_DENIAL_REASONS) != 0) return -1;
    FILE *file = fopen(path, "re");
    if (file == NULL) return -1;
    char line[2048], name[128] = "", reason[1536] = "", fallback[1536] = "", container[160] = "";
    char number[16];
    (void)snprintf(number, sizeof number, "%d\t", n->first_nr);
    bool hint = true;
    while (fgets(line, sizeof line, file) != NULL) {
        line[strcspn(line, "\n")] = 0;
        const char *value;
        if ((value = header_value(line, "hint")) != NULL) {
            hint = strcmp(value, "0") != 0;
        } else if ((value = header_value(line, "container")) != NULL) {
            (void)snprintf(container, sizeof container, "%s", value);
        } else if (strncmp(line, "*\t\t", 3) == 0) {
            (void)snprintf(fallback, sizeof fallback, "%s", line + 3);
        } else if (strncmp(line, number, strlen(number)) == 0) {
            const char *rest = line + strlen(number);
            const char *tab = strchr(rest, '\t');
            if (tab == NULL) continue;
            (void)snprintf(name, sizeof name, "%.*s", (int)(tab - rest), rest);
            (void)snprintf(reason, sizeof reason, "%s", tab + 1);
        }
    }
    fclose(file);
    if (!hint) return -1;
    if (name[0] == 0) (void)snprintf(name, sizeof name, "syscall %d", n->first_nr);
    const char *errname = errno_name(n->first_errno);
    char err[32];
    if (errname != NULL) (void)snprintf(err, sizeof err, "%s", errname);
    else (void)snprintf(err, sizeof err, "errno %d", n->first_errno);
    int k = snprintf(out, size, "skiff: %s was refused (%s): %s; see `skiff explain %s`", name, err,
                     reason[0] ? reason : fallback, container[0] ? container : "CONTAINER");
    return k > 0 && (size_t)k < size ? 0 : -1;
}

void relay_notify_end(struct relay *r) {
    struct relay_notify *n = &r->notify;
    /* The run is over: an exec's process ended with the container's (its pid namespace), or,
     * sharing the host's, gets ENOSYS for its refused calls from now on. */
    for (size_t i = 0; i < n->exec_count; i++) relay_notify_drop_exec(r, i);
    n->exec_count = 0;
    if (n->fd < 0) return;
    if (n->dropped > 0) {
        char path[PATH_MAX];
        if (skiff_run_path(path, sizeof path, n->run_dir, SKIFF_RUN_DENIALS) == 0) {
            int fd = SKIFF_RETRY(open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
            if (fd >= 0) {
                char line[64];
                int k = snprintf(line, sizeof line, "#dropped\t%llu\n", n->dropped);
                if (k > 0 && (size_t)k < sizeof line) (void)write_all(fd, line, (size_t)k);
                close_fd(fd);
            }
        }
    }
    close_fd(n->fd);
    n->fd = -1;
}
