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

/* writev(2) until every byte of `iov` is written; it is changed on the way. */
static int writev_all(int fd, struct iovec *iov, int count) {
    while (count > 0) {
        ssize_t n = SKIFF_RETRY(writev(fd, iov, count));
        if (n < 0) return -1;
        size_t left = (size_t)n;
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

int log_append(int fd, const unsigned char *bytes, size_t count, enum relay_stream stream) {
    if (count == 0) return 0;
    struct timespec now;
    if (clock_gettime(CLOCK_REALTIME, &now) != 0) return -1;
    struct tm parts;
    time_t seconds = now.tv_sec;
    if (gmtime_r(&seconds, &parts) == NULL) return -1;
    char full[64], partial[64];
    int full_length = format_prefix(full, sizeof full, &parts, now.tv_nsec, stream, 'F');
    int partial_length = format_prefix(partial, sizeof partial, &parts, now.tv_nsec, stream, 'P');
    if (full_length < 0 || partial_length < 0) {
        errno = EOVERFLOW;
        return -1;
    }
    static char newline[1] = {'\n'};
    struct iovec iov[RECORDS_PER_WRITE * 3];
    int used = 0;
    size_t start = 0;
    while (start < count) {
        const unsigned char *found = memchr(bytes + start, '\n', count - start);
        size_t end = found ? (size_t)(found - bytes) : count;
        iov[used].iov_base = found ? full : partial;
        iov[used].iov_len = (size_t)(found ? full_length : partial_length);
        iov[used + 1].iov_base = (void *)(bytes + start);
        iov[used + 1].iov_len = end - start;
        iov[used + 2].iov_base = newline;
        iov[used + 2].iov_len = 1;
        used += 3;
        start = end + 1;
        if (used == RECORDS_PER_WRITE * 3) {
            if (writev_all(fd, iov, used) != 0) return -1;
            used = 0;
        }
    }
    if (used > 0 && writev_all(fd, iov, used) != 0) return -1;
    return 0;
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
