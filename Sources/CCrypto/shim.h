/* libcrypto's SHA-256 (assembly with SHA-NI / AVX2 dispatch). The one-shot SHA256_* calls are
 * deprecated in OpenSSL 3 in favour of EVP, but they keep a plain copyable context, which is
 * what a Swift value type needs; the block function underneath is the same. */
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <openssl/sha.h>
