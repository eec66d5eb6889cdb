#include <sqlite3.h>

/* SQLITE_TRANSIENT is a cast of -1 to a function pointer: Swift cannot import it. */
static inline sqlite3_destructor_type skiff_sqlite_transient(void) {
    return SQLITE_TRANSIENT;
}

/* sqlite3_config is variadic: Swift cannot call it. Turns off SQLite's memory statistics (a
 * global mutex taken on every allocation); nothing reads them. Call before any other use of
 * SQLite in the process: later it fails with SQLITE_MISUSE and changes nothing. */
static inline int skiff_sqlite_disable_memstatus(void) {
    return sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

/* The start of the WAL-index (the -shm file) as this connection has it mapped, through the
 * database file's own xShmMap (bExtend 0: nothing is created or grown). NULL when the file has no
 * shared-memory methods or no region 0 yet. The memory stays valid while the connection is open.
 * Asking SQLite rather than opening the -shm file: closing any descriptor of a file drops every
 * POSIX lock the process holds on it, and SQLite's locks on the -shm (its dead-man switch among
 * them) must stay; without them another process may take itself for the first and truncate the
 * file under this one's mappings. */
static inline const void *skiff_sqlite_wal_index(sqlite3 *db) {
    sqlite3_file *file = 0;
    if (sqlite3_file_control(db, "main", SQLITE_FCNTL_FILE_POINTER, &file) != SQLITE_OK || file == 0) return 0;
    const sqlite3_io_methods *methods = file->pMethods;
    if (methods == 0 || methods->iVersion < 2 || methods->xShmMap == 0) return 0;
    void volatile *region = 0;
    if (methods->xShmMap(file, 0, 32768, 0, &region) != SQLITE_OK) return 0;
    return (const void *)region;
}
