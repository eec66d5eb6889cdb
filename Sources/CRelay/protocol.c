/* skiff_protocol.h: the exit file's text, run-directory paths, control lines. */
#define _GNU_SOURCE
#include "skiff_protocol.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

int skiff_format_exit_file(char *out, size_t size, int code, const char *finished_at, int oom_killed) {
    int n = snprintf(out, size, SKIFF_EXIT_FILE_FORMAT, code, finished_at, oom_killed ? "true" : "false");
    if (n < 0 || (size_t)n >= size) return -1;
    return n;
}

int skiff_run_path(char *out, size_t size, const char *directory, const char *name) {
    int n = snprintf(out, size, "%s/%s", directory, name);
    return n < 0 || (size_t)n >= size ? -1 : 0;
}

int skiff_exit_code(int wait_status) {
    unsigned int s = (unsigned int)wait_status;
    return (s & 0x7fu) == 0 ? (int)((s >> 8) & 0xffu) : 128 + (int)(s & 0x7fu);
}

/* A decimal UInt16 as Swift's UInt16(_:) reads it: an optional sign, ASCII digits. */
static bool parse_u16(const char *text, size_t length, unsigned short *value) {
    size_t i = 0;
    bool negative = false;
    if (length > 0 && (text[0] == '+' || text[0] == '-')) {
        negative = text[0] == '-';
        i = 1;
    }
    if (i == length) return false;
    unsigned long v = 0;
    for (; i < length; i++) {
        if (text[i] < '0' || text[i] > '9') return false;
        v = v * 10 + (unsigned long)(text[i] - '0');
        if (v > 65535) return false;
    }
    if (negative && v != 0) return false;
    *value = (unsigned short)v;
    return true;
}

int skiff_parse_control_line(const char *line, size_t length, unsigned short *rows, unsigned short *columns) {
    if (length > 0 && line[length - 1] == '\r') length--;
    const char *words[3];
    size_t lengths[3];
    size_t count = 0;
    size_t i = 0;
    while (i < length) {
        while (i < length && line[i] == ' ') i++;
        if (i == length) break;
        size_t start = i;
        while (i < length && line[i] != ' ') i++;
        if (count == 3) return 0;
        words[count] = line + start;
        lengths[count] = i - start;
        count++;
    }
    if (count != 3 || lengths[0] != 6 || memcmp(words[0], "resize", 6) != 0 ||
        !parse_u16(words[1], lengths[1], rows) || !parse_u16(words[2], lengths[2], columns)) {
        return 0;
    }
    return 1;
}

int skiff_parse_notify_line(const char *line, size_t length, char *exec_id, size_t size, int *privileged) {
    if (length > 0 && line[length - 1] == '\r') length--;
    size_t word = strlen(SKIFF_CONTROL_NOTIFY);
    if (size <= SKIFF_NOTIFY_EXEC_ID_LENGTH || length < word + 1 ||
        memcmp(line, SKIFF_CONTROL_NOTIFY, word) != 0 || line[word] != ' ') {
        return 0;
    }
    size_t i = word + 1, start = i;
    while (i < length && ((line[i] >= '0' && line[i] <= '9') || (line[i] >= 'a' && line[i] <= 'f'))) i++;
    size_t id_length = i - start;
    if (id_length == 0 || id_length > 64 || i + 2 != length || line[i] != ' ' ||
        (line[i + 1] != '0' && line[i + 1] != '1')) {
        return 0;
    }
    size_t kept = id_length < SKIFF_NOTIFY_EXEC_ID_LENGTH ? id_length : SKIFF_NOTIFY_EXEC_ID_LENGTH;
    memcpy(exec_id, line + start, kept);
    exec_id[kept] = 0;
    *privileged = line[i + 1] == '1';
    return 1;
}
