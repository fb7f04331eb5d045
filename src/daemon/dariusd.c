/* dariusd.c - the Darius server daemon: command line and shared helpers.
 *
 *   dariusd [-C FILE] [-t] [-h] [-v]
 *
 * Without -C the embedded default configuration is used (datadir ./var,
 * IMAP on 127.0.0.1:1143, IMAPS on 127.0.0.1:1993, POP3 on 127.0.0.1:1110,
 * POP3S on 127.0.0.1:1995, LMTP on 127.0.0.1:1024, ManageSieve on
 * 127.0.0.1:4190), so "make run" gives a
 * working server with no set-up at all.
 */
#include "daemon.h"
#include "log.h"
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <unistd.h>

static void set_or_die(struct config *c, const char *key, const char *value)
{
    char err[512];
    if (!config_set(c, key, value, err, sizeof(err)))
        fatal("internal configuration error: %s", err);
}

void daemon_fixup_config(struct config *c)
{
    const char *dd = cfg_str(c, CFG_DATADIR);
    if (*dd != '/') {
        /* Workers, the notify sockets and the TLS paths must not depend
         * on the current directory at the time something is opened. */
        char cwd[PATH_MAX];
        if (getcwd(cwd, sizeof(cwd))) {
            const char *rel = dd;
            while (rel[0] == '.' && rel[1] == '/')
                rel += 2;
            char *abs = strcmp(rel, ".") == 0 || !*rel ? xstrdup(cwd) : xasprintf("%s/%s", cwd, rel);
            set_or_die(c, "datadir", abs);
            free(abs);
            dd = cfg_str(c, CFG_DATADIR);
        }
    }
    if (!*cfg_str(c, CFG_TLS_SERVER_CERT) && !*cfg_str(c, CFG_TLS_SERVER_KEY)) {
        char *crt = xasprintf("%s/tls/server.crt", dd);
        char *key = xasprintf("%s/tls/server.key", dd);
        set_or_die(c, "tls_server_cert", crt);
        set_or_die(c, "tls_server_key", key);
        free(crt);
        free(key);
    }
}

struct config *daemon_load_config(const char *path, char *err, size_t errlen)
{
    struct config *c = config_load(path, err, errlen);
    if (!c)
        return NULL;
    if ((*cfg_str(c, CFG_TLS_SERVER_CERT) != '\0') != (*cfg_str(c, CFG_TLS_SERVER_KEY) != '\0')) {
        snprintf(err, errlen, "%s: tls_server_cert and tls_server_key must be set together", path ? path : "(defaults)");
        config_free(c);
        return NULL;
    }
    char **v;
    size_t n;
    static const enum config_key listen_keys[] = {CFG_LISTEN_IMAP, CFG_LISTEN_IMAPS, CFG_LISTEN_POP3,
                                                  CFG_LISTEN_POP3S};
    for (size_t k = 0; k < ARRAY_SIZE(listen_keys); k++) {
        enum config_key key = listen_keys[k];
        n = listen_split(cfg_str(c, key), &v);
        for (size_t i = 0; i < n; i++) {
            /* Syntax only here; binding happens in the master. */
            if (!strchr(v[i], ':')) {
                snprintf(err, errlen, "%s: %s: \"%s\" is not host:port", path ? path : "(defaults)",
                         config_describe(key)->name, v[i]);
                listen_split_free(v, n);
                config_free(c);
                return NULL;
            }
        }
        listen_split_free(v, n);
    }
    daemon_fixup_config(c);
    return c;
}

void daemon_setup_logging(const char *role)
{
    log_init(role, true, config_bool(CFG_SYSLOG), config_str(CFG_SYSLOG_FACILITY));
    log_set_level(config_bool(CFG_DEBUG) ? LOG_LVL_DEBUG : LOG_LVL_INFO);
}

struct tls_ctx *daemon_tls_ctx_alpn(const char *alpn, char *err, size_t errlen)
{
    struct tls_ctx *t =
        tls_ctx_new(config_str(CFG_TLS_SERVER_CERT), config_str(CFG_TLS_SERVER_KEY), config_str(CFG_TLS_CIPHERS),
                    config_str(CFG_TLS_CIPHERSUITES), (long)config_int(CFG_TLS_SESSION_TIMEOUT) * 60, err, errlen);
    if (t)
        tls_ctx_set_alpn(t, alpn);
    return t;
}

struct tls_ctx *daemon_tls_ctx(char *err, size_t errlen)
{
    return daemon_tls_ctx_alpn("imap", err, errlen);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: dariusd [-C FILE] [-t] [-h] [-v]\n"
            "  -C FILE  configuration file (default: built-in configuration,\n"
            "           datadir ./var, IMAP 127.0.0.1:1143, IMAPS 127.0.0.1:1993,\n"
            "           POP3 127.0.0.1:1110, POP3S 127.0.0.1:1995, LMTP 127.0.0.1:1024,\n"
            "           ManageSieve 127.0.0.1:4190)\n"
            "  -t       check the configuration and exit\n"
            "  -h       this help\n"
            "  -v       print the version and exit\n");
}

int main(int argc, char **argv)
{
    const char *file = NULL;
    bool test_only = false;
    int opt;
    while ((opt = getopt(argc, argv, "C:thv")) != -1) {
        switch (opt) {
        case 'C':
            file = optarg;
            break;
        case 't':
            test_only = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'v':
            printf("dariusd %s\n", DARIUS_VERSION);
            return 0;
        default:
            usage(stderr);
            return 64; /* EX_USAGE */
        }
    }
    if (optind < argc) {
        usage(stderr);
        return 64;
    }
    log_init("master", true, false, NULL);
    char err[1024];
    struct config *c = daemon_load_config(file, err, sizeof(err));
    if (!c) {
        fprintf(stderr, "dariusd: configuration error: %s\n", err);
        return EX_CONFIG_ERR;
    }
    config_install(c);
    if (test_only) {
        printf("dariusd: configuration %s OK\n", file ? file : "(built-in)");
        return 0;
    }
    daemon_setup_logging("master");
    return master_run(file);
}
