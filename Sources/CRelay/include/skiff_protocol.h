/*
 * What skiff-relay shares with the service and the monitor, in C: the names in a container's run
 * directory and bundle, the exit file's text, the attach mask's bits and the control line's
 * limit. Sources/MonitorProtocol is the Swift side (ContainerPaths, ExitFile, AttachMask,
 * ControlCommand); Tests/MonitorProtocolTests/ProtocolHeaderTests.swift fails when the two differ.
 */
#ifndef SKIFF_PROTOCOL_H
#define SKIFF_PROTOCOL_H

#include <stddef.h>

/* In `<run>/containers/<id>`: the attach socket, the control socket, the exit file and the
 * temporary file it is written through. */
#define SKIFF_RUN_ATTACH "attach"
#define SKIFF_RUN_CONTROL "ctl"
#define SKIFF_RUN_EXIT "exit"
/* Explained denials (docs/denials.md): the original seccomp program, the reasons by syscall
 * number (the monitor writes both), the records (the relay appends). */
#define SKIFF_RUN_SECCOMP_PROGRAM "seccomp-filter.bpf"
#define SKIFF_RUN_DENIAL_REASONS "denial-reasons"
#define SKIFF_RUN_DENIALS "denials"
/* Learning a profile: `<arch hex> <nr>` per syscall seen, once each (the relay appends). */
#define SKIFF_RUN_LEARNED "learned"
#define SKIFF_RUN_EXIT_TEMPORARY "exit.tmp"
/* In `<skiff root>/containers/<id>`: the log file. */
#define SKIFF_BUNDLE_LOG "ctr.log"

/* The exit file: the exit code, the RFC 3339 time, OOMKilled (`true` or `false`). */
#define SKIFF_EXIT_FILE_FORMAT "{\"ExitCode\":%d,\"FinishedAt\":\"%s\",\"OOMKilled\":%s}"

/* The attach socket's first byte. */
#define SKIFF_ATTACH_STDIN 1
#define SKIFF_ATTACH_STDOUT 2
#define SKIFF_ATTACH_STDERR 4

/* A control line longer than this (without its newline) is dropped whole. */
#define SKIFF_CONTROL_LINE_LIMIT 256

/* Explained denials in exec (docs/denials.md): an exec's supervisor hands its process's seccomp
 * listener to the container's supervisor on the control socket, as the line
 * `notify <exec id> <privileged 0|1>` with the descriptor attached (SCM_RIGHTS, on the line's
 * first byte). The answer comes back on the same connection, one line: `notify ok`, or
 * `notify refused <errno>` (the exec's supervisor then answers the listener itself). */
#define SKIFF_CONTROL_NOTIFY "notify"
#define SKIFF_NOTIFY_REPLY_OK "notify ok"
#define SKIFF_NOTIFY_REPLY_REFUSED "notify refused"
/* The exec id's first characters a denial record carries. */
#define SKIFF_NOTIFY_EXEC_ID_LENGTH 12

/* The exit file's text for `code`, `finished_at` and `oom_killed` in `out`; its length, or -1
 * when it does not fit. */
int skiff_format_exit_file(char *out, size_t size, int code, const char *finished_at, int oom_killed);

/* `<directory>/<name>` in `out`; 0, or -1 when it does not fit. */
int skiff_run_path(char *out, size_t size, const char *directory, const char *name);

/* Docker's exit code for a wait status: the status, or 128 + the signal. */
int skiff_exit_code(int wait_status);

/* A control line (without its newline; a trailing \r ignored): 1 and the size for
 * `resize <rows> <cols>`, 0 for anything else. */
int skiff_parse_control_line(const char *line, size_t length, unsigned short *rows, unsigned short *columns);

/* A `notify <exec id> <0|1>` line (the id: 1 to 64 lowercase hex digits): 1 with the id
 * (NUL-terminated, at most SKIFF_NOTIFY_EXEC_ID_LENGTH characters kept; `size` must exceed that)
 * and the privileged flag, 0 for any other line. */
int skiff_parse_notify_line(const char *line, size_t length, char *exec_id, size_t size, int *privileged);

#endif
