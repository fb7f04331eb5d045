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

/* A socket bound to addr and listening. reuseport: SO_REUSEPORT, so more
 * sockets of the same owner may bind the same address (a group). */
static int bind_addr(const struct sockaddr *addr, socklen_t alen, int socktype, int protocol, int v6only,
                     bool reuseport, bool do_listen, char *err, size_t errlen, const char *spec)
{
    int fd = socket(addr->sa_family, socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
    if (fd < 0) {
        snprintf(err, errlen, "%s: socket: %s", spec, strerror(errno));
        return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (addr->sa_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only));
    if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0) {
        snprintf(err, errlen, "%s: SO_REUSEPORT: %s", spec, strerror(errno));
        close(fd);
        return -1;
    }
    if (bind(fd, addr, alen) < 0) {
        snprintf(err, errlen, "%s: bind: %s", spec, strerror(errno));
        close(fd);
        return -1;
    }
    if (do_listen && listen(fd, LISTEN_BACKLOG) < 0) {
        snprintf(err, errlen, "%s: listen: %s", spec, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/* n listening sockets on ai's address (listen_tcp_group). */
static int bind_group(const struct addrinfo *ai, int v6only, int *fds, size_t n, char *err, size_t errlen,
                      const char *spec)
{
    if (n == 1) {
        fds[0] = bind_addr(ai->ai_addr, ai->ai_addrlen, ai->ai_socktype, ai->ai_protocol, v6only, false, true, err,
                           errlen, spec);
        return fds[0] < 0 ? -1 : 0;
    }
    /* First an ordinary bind (no SO_REUSEPORT, not listening): it fails
     * with EADDRINUSE when anything listens on the address, including
     * another server (or a second dariusd) whose sockets have
     * SO_REUSEPORT too, which our group would otherwise silently join
     * and share connections with. It also fixes the port when the spec
     * says 0. The probe is closed before the group binds: SO_REUSEPORT
     * must be set on every member before its bind (socket(7)). */
    struct sockaddr_storage ss;
    socklen_t alen = sizeof(ss);
    int probe = bind_addr(ai->ai_addr, ai->ai_addrlen, ai->ai_socktype, ai->ai_protocol, v6only, false, false, err,
                          errlen, spec);
    if (probe < 0)
        return -1;
    if (getsockname(probe, (struct sockaddr *)&ss, &alen) < 0 || alen > sizeof(ss)) {
        snprintf(err, errlen, "%s: getsockname: %s", spec, strerror(errno));
        close(probe);
        return -1;
    }
    close(probe);
    for (size_t i = 0; i < n; i++) {
        fds[i] = bind_addr((struct sockaddr *)&ss, alen, ai->ai_socktype, ai->ai_protocol, v6only, true, true, err,
                           errlen, spec);
        if (fds[i] < 0) {
            while (i > 0)
                close(fds[--i]);
            return -1;
        }
    }
    return 0;
}

int listen_tcp_group(const char *spec, int *fds, size_t n, char *err, size_t errlen)
{
    char buf[300];
    char *host, *port;
    bool v6;
    if (n == 0) {
        snprintf(err, errlen, "%s: no sockets asked for", spec);
        return -1;
    }
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
            int rc = bind_group(res, 0, fds, n, err, errlen, spec);
            freeaddrinfo(res);
            if (rc == 0)
                return 0;
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
    rc = -1;
    for (struct addrinfo *ai = res; ai && rc < 0; ai = ai->ai_next)
        rc = bind_group(ai, 1, fds, n, err, errlen, spec);
    freeaddrinfo(res);
    return rc;
}

int listen_tcp(const char *spec, char *err, size_t errlen)
{
    int fd;
    return listen_tcp_group(spec, &fd, 1, err, errlen) == 0 ? fd : -1;
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
