#include <zlib.h>

/* inflateInit2 is a macro Swift cannot import. */
static inline int skiff_inflate_init2(z_streamp stream, int window_bits) {
    return inflateInit2(stream, window_bits);
}

/* deflateInit2 is a macro too (tests write gzip with windowBits 31). */
static inline int skiff_deflate_init2(z_streamp stream, int level, int window_bits) {
    return deflateInit2(stream, level, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY);
}
