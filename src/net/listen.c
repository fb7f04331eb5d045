/* listen.c - listening TCP sockets from "host:port" specs (conn.h). */
#include "conn.h"
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <unistd.h>

#define LISTEN_BACKLOG 1024

/* Split spec into host (NULL = wildcard) and port. Returns false with err
 * on a malformed spec. host/port point into buf. */
static bool split_spec(const char *spec, char *buf, size_t buflen, char **host, char **port, bool *v6, char *err,
                       size_t errlen)
{
    size_t n = strlen(spec);
    if (n == 0 || n >= buflen) {
        snprintf(err, errlen, "\"%s\": invalid listen address", spec);
        return false;
    }
    memcpy(buf, spec, n + 1);
    *v6 = false;
    char *colon;
    if (buf[0] == '[') {
        char *close = strchr(buf, ']');
        if (!close || close[1] != ':' || close == buf + 1) {
            snprintf(err, errlen, "\"%s\": expected \"[address]:port\"", spec);
            return false;
        }
        *close = '\0';
        *host = buf + 1;
        *v6 = true;
        colon = close + 1;
    } else {
        colon = strrchr(buf, ':');
        if (!colon) {
            snprintf(err, errlen, "\"%s\": expected \"host:port\"", spec);
            return false;
        }
        if (memchr(buf, ':', (size_t)(colon - buf))) {
            snprintf(err, errlen, "\"%s\": IPv6 addresses must be written as \"[address]:port\"", spec);
            return false;
        }
        *colon = '\0';
        *host = buf;
        if (**host == '\0' || strcmp(*host, "*") == 0)
            *host = NULL;
    }
    *port = colon + 1;
    char *end;
    errno = 0;
    long p = strtol(*port, &end, 10);
    /* Port 0 (kernel's choice) is allowed: tests use it. */
    if (!**port || *end || errno || p < 0 || p > 65535 || !(**port >= '0' && **port <= '9')) {
        snprintf(err, errlen, "\"%s\": port must be a number from 0 to 65535", spec);
        return false;
    }
    return true;
}

static int bind_one(const struct addrinfo *ai, int v6only, char *err, size_t errlen, const char *spec)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
        snprintf(err, errlen, "%s: socket: %s", spec, strerror(errno));
        return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (ai->ai_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only));
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
        snprintf(err, errlen, "%s: bind: %s", spec, strerror(errno));
        close(fd);
        return -1;
    }
    if (listen(fd, LISTEN_BACKLOG) < 0) {
        snprintf(err, errlen, "%s: listen: %s", spec, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

int listen_tcp(const char *spec, char *err, size_t errlen)
{
    char buf[300];
    char *host, *port;
    bool v6;
    if (!split_spec(spec, buf, sizeof(buf), &host, &port, &v6, err, errlen))
        return -1;
    struct addrinfo hints = {0};
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    struct addrinfo *res = NULL;
    if (!host) {
        /* Wildcard: one dual-stack IPv6 socket when the host has IPv6,
         * else IPv4 only. */
        hints.ai_family = AF_INET6;
        if (getaddrinfo(NULL, port, &hints, &res) == 0) {
            int fd = bind_one(res, 0, err, errlen, spec);
            freeaddrinfo(res);
            if (fd >= 0)
                return fd;
        }
        hints.ai_family = AF_INET;
        res = NULL;
    } else if (v6) {
        hints.ai_family = AF_INET6;
        hints.ai_flags |= AI_NUMERICHOST;
    } else {
        hints.ai_family = AF_UNSPEC;
    }
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "%s: %s", spec, gai_strerror(rc));
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next)
        fd = bind_one(ai, 1, err, errlen, spec);
    freeaddrinfo(res);
    return fd;
}

size_t listen_split(const char *list, char ***out)
{
    char **v = NULL;
    size_t n = 0, cap = 0;
    const char *p = list ? list : "";
    while (*p) {
        while (*p == ',' || *p == ' ' || *p == '\t')
            p++;
        const char *e = p;
        while (*e && *e != ',' && *e != ' ' && *e != '\t')
            e++;
        if (e > p) {
            ARRAY_GROW(v, n, cap);
            v[n++] = xstrndup(p, (size_t)(e - p));
        }
        p = e;
    }
    *out = v;
    return n;
}

void listen_split_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}
