/* SHA-256 from libcrypto, loaded on first use with dlopen: the digest code of every pull and
 * load runs at libcrypto's speed (SHA-NI where the CPU has it) while `skiff service`, which
 * rarely hashes, does not map libcrypto at start-up. */
#include <dlfcn.h>
#include <pthread.h>
#include <stddef.h>
#include "clinux.h"

static int (*sha256_init)(void *);
static int (*sha256_update)(void *, const void *, size_t);
static int (*sha256_final)(unsigned char *, void *);
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;
static int sha256_loaded;

static void sha256_load_once(void) {
    const char *names[] = {"libcrypto.so.3", "libcrypto.so"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        void *library = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
        if (!library)
            continue;
        sha256_init = (int (*)(void *))dlsym(library, "SHA256_Init");
        sha256_update = (int (*)(void *, const void *, size_t))dlsym(library, "SHA256_Update");
        sha256_final = (int (*)(unsigned char *, void *))dlsym(library, "SHA256_Final");
        if (sha256_init && sha256_update && sha256_final) {
            sha256_loaded = 1;
            return;
        }
        dlclose(library);
    }
}

int skiff_sha256_load(void) {
    pthread_once(&sha256_once, sha256_load_once);
    return sha256_loaded;
}

void skiff_sha256_init(skiff_sha256_ctx *context) {
    sha256_init(context->bytes);
}

void skiff_sha256_update(skiff_sha256_ctx *context, const void *bytes, size_t count) {
    sha256_update(context->bytes, bytes, count);
}

void skiff_sha256_final(skiff_sha256_ctx *context, unsigned char digest[32]) {
    sha256_final(digest, context->bytes);
}
