/*
 * The log file (k8s-file, as Sources/ContainerLogs/LogFile.swift's LogWriter writes it), the exit
 * file, and small helpers.
 */
#define _GNU_SOURCE
#include "skiff_relay.h"
#include "skiff_syscall.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

void close_fd(int fd) {
    if (fd < 0) return;
    /* Linux frees the descriptor even when close reports EINTR or EIO, so it is never retried;
     * and nothing written through these descriptors needs close's report (the exit file's data
     * is complete once write returned, and it is not fsynced: durable is not asked for). */
    (void)close(fd);
}

unsigned long long monotonic_nanos(void) {
    struct timespec now;
    if (clock_gettime(CLOCK_MONOTONIC, &now) != 0) return 0;
    return (unsigned long long)now.tv_sec * 1000000000ULL + (unsigned long long)now.tv_nsec;
}

int write_all(int fd, const void *bytes, size_t count) {
    const unsigned char *p = bytes;
    while (count > 0) {
        ssize_t n = SKIFF_RETRY(write(fd, p, count));
        if (n < 0) return -1;
        p += n;
        count -= (size_t)n;
    }
    return 0;
}

/* writev(2) until every byte of `iov` is written; it is changed on the way. *written counts the
 * bytes written, also when it fails part way. */
static int writev_all(int fd, struct iovec *iov, int count, size_t *written) {
    *written = 0;
    while (count > 0) {
        ssize_t n = SKIFF_RETRY(writev(fd, iov, count));
        if (n < 0) return -1;
        size_t left = (size_t)n;
        *written += left;
        while (count > 0 && left >= iov->iov_len) {
            left -= iov->iov_len;
            iov++;
            count--;
        }
        if (count > 0) {
            iov->iov_base = (unsigned char *)iov->iov_base + left;
            iov->iov_len -= left;
        }
    }
    return 0;
}

/* `2024-01-02T03:04:05.000000001Z stdout F `: the fixed-width time (nine fraction digits) of
 * LogRecord.format, the stream, the record's kind. */
static int format_prefix(char *out, size_t size, const struct tm *parts, long nanos, enum relay_stream stream,
                         char kind) {
    int n = snprintf(out, size, "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ %s %c ", parts->tm_year + 1900,
                     parts->tm_mon + 1, parts->tm_mday, parts->tm_hour, parts->tm_min, parts->tm_sec, nanos,
                     stream == RELAY_STDOUT ? "stdout" : "stderr", kind);
    if (n < 0 || (size_t)n >= size) return -1;
    return n;
}

/* Three iovecs per record (prefix, bytes, newline); whole records per writev, so a reader never
 * sees part of one (the Swift writer makes one write of all of a chunk's records). */
#define RECORDS_PER_WRITE (IOV_MAX / 3)

/* A write of records that failed after `written` of the batch's bytes: the whole records among
 * them stay, the torn one is cut off (the file ends at a record's newline again, where `base`,
 * the file's size before the batch, plus the records kept). The bytes of `source` not logged are
 * returned: from the first record not kept to the end of the chunk. */
static size_t keep_whole_records(int fd, off_t base, const struct iovec *iov, const size_t *record_source, int used,
                                 size_t written, size_t count) {
    size_t kept = 0;
    int records = 0;
    for (int i = 0; i + 2 < used; i += 3) {
        size_t length = iov[i].iov_len + iov[i + 1].iov_len + iov[i + 2].iov_len;
        if (kept + length > written) break;
        kept += length;
        records++;
    }
    if (kept < written && base >= 0) (void)SKIFF_RETRY(ftruncate(fd, base + (off_t)kept));
    return count - (records < used / 3 ? record_source[records] : count);
}

int log_append(int fd, const unsigned char *bytes, size_t count, enum relay_stream stream, size_t *lost) {
    if (lost) *lost = 0;
    if (count == 0) return 0;
    struct timespec now;
    struct tm parts;
    char full[64], partial[64];
    int full_length = -1, partial_length = -1;
    if (clock_gettime(CLOCK_REALTIME, &now) == 0) {
        time_t seconds = now.tv_sec;
        if (gmtime_r(&seconds, &parts) != NULL) {
            full_length = format_prefix(full, sizeof full, &parts, now.tv_nsec, stream, 'F');
            partial_length = format_prefix(partial, sizeof partial, &parts, now.tv_nsec, stream, 'P');
        }
    }
    if (full_length < 0 || partial_length < 0) {
        if (lost) *lost = count;
        errno = EOVERFLOW;
        return -1;
    }
    /* The file's end before each batch (one writer: the file is this process's while it runs). */
    off_t base = lseek(fd, 0, SEEK_END);
    static char newline[1] = {'\n'};
    struct iovec iov[RECORDS_PER_WRITE * 3];
    size_t record_source[RECORDS_PER_WRITE];
    int used = 0;
    size_t start = 0;
    while (start < count) {
        const unsigned char *found = memchr(bytes + start, '\n', count - start);
        size_t end = found ? (size_t)(found - bytes) : count;
        record_source[used / 3] = start;
        iov[used].iov_base = found ? full : partial;
        iov[used].iov_len = (size_t)(found ? full_length : partial_length);
        iov[used + 1].iov_base = (void *)(bytes + start);
        iov[used + 1].iov_len = end - start;
        iov[used + 2].iov_base = newline;
        iov[used + 2].iov_len = 1;
        used += 3;
        start = end + 1;
        if (used == RECORDS_PER_WRITE * 3 || start >= count) {
            struct iovec sent[RECORDS_PER_WRITE * 3];
            memcpy(sent, iov, sizeof(struct iovec) * (size_t)used);
            size_t written = 0;
            if (writev_all(fd, sent, used, &written) != 0) {
                int err = errno;
                size_t missing = keep_whole_records(fd, base, iov, record_source, used, written, count);
                if (lost) *lost = missing;
                errno = err;
                return -1;
            }
            if (base >= 0) base += (off_t)written;
            used = 0;
        }
    }
    return 0;
}

/* The marker record for the bytes of one stream the log lost, in that stream: what `docker logs`
 * shows where output is missing (as journald's "Suppressed N messages"). */
static int write_loss_marker(int fd, enum relay_stream stream, unsigned long long bytes, int err) {
    char text[160];
    int n = snprintf(text, sizeof text, LOG_LOSS_MARKER_FORMAT, bytes,
                     stream == RELAY_STDOUT ? "stdout" : "stderr", strerror(err));
    if (n < 0 || (size_t)n >= sizeof text - 1) return -1;
    text[n++] = '\n';
    return log_append(fd, (const unsigned char *)text, (size_t)n, stream, NULL);
}

int log_write_losses(struct relay *r) {
    for (int i = 0; i < 2; i++) {
        if (r->log_lost.bytes[i] == 0) continue;
        if (write_loss_marker(r->log, i == 0 ? RELAY_STDOUT : RELAY_STDERR, r->log_lost.bytes[i],
                              r->log_lost.err) != 0) {
            return -1;
        }
        r->log_lost.bytes[i] = 0;
    }
    return 0;
}

void log_output(struct relay *r, const unsigned char *bytes, size_t count, enum relay_stream stream) {
    if (count == 0 || r->log < 0) return;
    size_t lost = count;
    errno = 0;
    /* Earlier losses are marked first: no record follows a gap that does not say so. */
    if (log_write_losses(r) == 0 && log_append(r->log, bytes, count, stream, &lost) == 0) return;
    r->log_lost.bytes[stream == RELAY_STDOUT ? 0 : 1] += lost;
    r->log_lost.err = errno != 0 ? errno : EIO;
}

int format_rfc3339_nano(char *out, size_t size, const struct timespec *time) {
    struct tm parts;
    time_t seconds = time->tv_sec;
    if (gmtime_r(&seconds, &parts) == NULL) return -1;
    int n = snprintf(out, size, "%04d-%02d-%02dT%02d:%02d:%02d", parts.tm_year + 1900, parts.tm_mon + 1,
                     parts.tm_mday, parts.tm_hour, parts.tm_min, parts.tm_sec);
    if (n < 0 || (size_t)n >= size) return -1;
    size_t length = (size_t)n;
    if (time->tv_nsec > 0) {
        char fraction[16];
        int digits = snprintf(fraction, sizeof fraction, "%09ld", time->tv_nsec);
        if (digits != 9) return -1;
        while (digits > 0 && fraction[digits - 1] == '0') digits--;
        fraction[digits] = 0;
        n = snprintf(out + length, size - length, ".%s", fraction);
        if (n < 0 || (size_t)n >= size - length) return -1;
        length += (size_t)n;
    }
    if (length + 2 > size) return -1;
    out[length] = 'Z';
    out[length + 1] = 0;
    return 0;
}

int write_exit_file(const char *directory, int code, const char *finished_at) {
    char path[PATH_MAX], temporary[PATH_MAX], json[256];
    int k = skiff_format_exit_file(json, sizeof json, code, finished_at, 0);
    if (skiff_run_path(path, sizeof path, directory, SKIFF_RUN_EXIT) != 0 ||
        skiff_run_path(temporary, sizeof temporary, directory, SKIFF_RUN_EXIT_TEMPORARY) != 0 || k < 0) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int fd = SKIFF_RETRY(open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (fd < 0) return -1;
    if (write_all(fd, json, (size_t)k) != 0) {
        int err = errno;
        close_fd(fd);
        (void)unlink(temporary);
        errno = err;
        return -1;
    }
    close_fd(fd);
    if (rename(temporary, path) != 0) {
        int err = errno;
        (void)unlink(temporary);
        errno = err;
        return -1;
    }
    return 0;
}

int buffer_append(struct buffer *b, const void *bytes, size_t count, size_t limit) {
    if (count == 0) return 0;
    size_t length = buffer_length(b);
    if (count > limit || length > limit - count) {
        errno = ENOBUFS;
        return -1;
    }
    if (b->capacity - b->end < count) {
        if (b->start > 0) {
            memmove(b->data, b->data + b->start, length);
            b->start = 0;
            b->end = length;
        }
        if (b->capacity - b->end < count) {
            size_t wanted = b->capacity > 0 ? b->capacity : 4096;
            while (wanted < length + count) wanted = wanted > limit / 2 ? limit : wanted * 2;
            unsigned char *grown = realloc(b->data, wanted);
            if (grown == NULL) return -1;
            b->data = grown;
            b->capacity = wanted;
        }
    }
    memcpy(b->data + b->end, bytes, count);
    b->end += count;
    return 0;
}

void buffer_consume(struct buffer *b, size_t count) {
    b->start += count;
    if (b->start >= b->end) buffer_free(b);
}

void buffer_free(struct buffer *b) {
    free(b->data);
    b->data = NULL;
    b->start = 0;
    b->end = 0;
    b->capacity = 0;
}
