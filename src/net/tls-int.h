/* tls-int.h - TLS context internals shared by tls.c and conn.c only. */
#ifndef DARIUS_TLS_INT_H
#define DARIUS_TLS_INT_H

#include "conn.h"
#include <openssl/ssl.h>

struct tls_ctx {
    SSL_CTX *ctx;
    int refs;
    unsigned char alpn[32];   /* ALPN protocol id we speak; alpn_len 0 = none */
    size_t alpn_len;
};

/* Log and clear the OpenSSL error queue with a prefix (debug level for
 * client-caused failures). */
void tls_log_errors(bool client_caused, const char *what);

#endif
