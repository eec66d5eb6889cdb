#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

/* SSL_set_tlsext_host_name is a macro Swift cannot import. */
static inline int skiff_ssl_set_sni(SSL *ssl, const char *name) {
    return (int)SSL_set_tlsext_host_name(ssl, name);
}

/* Client and server contexts: TLS 1.2 at least; a peer that closes without close_notify is an
   end of stream, not an error (HTTP framing finds a truncated body). Both are macros. */
static inline int skiff_ssl_ctx_configure(SSL_CTX *ctx) {
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_COMPRESSION);
    return (int)SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
}
