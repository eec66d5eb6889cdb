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
