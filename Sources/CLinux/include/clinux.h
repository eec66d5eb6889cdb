#ifndef SKIFF_CLINUX_H
#define SKIFF_CLINUX_H
/* glibc functions Swift's Glibc module does not export. */
#include <malloc.h>

static inline int skiff_malloc_trim(void) {
    return malloc_trim(0);
}
#endif
