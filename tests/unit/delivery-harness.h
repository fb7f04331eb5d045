/* delivery-harness.h - the set-up shared by the delivery and LMTP tests: a
 * config, a store and a user database in a fresh temporary datadir, removed
 * again at the end.
 *
 *   #include "unit.h"
 *   #include "delivery-harness.h"
 *   int main(void) {
 *       if (delivery_harness_init("test-x", "mx.test") != 0) return 2;
 *       userdb_add(...); set("some_key", "value");
 *       RUN(...);
 *       delivery_harness_done();
 *       return unit_done();
 *   }
 *
 * Everything is static inline so that a test using only part of it
 * still builds with -Werror (no -Wunused-function). */
#ifndef DARIUS_DELIVERY_HARNESS_H
#define DARIUS_DELIVERY_HARNESS_H

#include "auth.h"
#include "config.h"
#include "delivery.h"
#include "log.h"
#include "storage.h"
#include <ftw.h>
#include <sys/stat.h>

static const char *g_dir;        /* DATADIR of the test */

/* Set K=V in the installed config (reported when refused). */
static inline void set(const char *k, const char *v)
{
    char err[256];
    if (!config_set(config_current(), k, v, err, sizeof(err)))
        fprintf(stderr, "config_set %s: %s\n", k, err);
}

static inline int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *f)
{
    (void)st;
    (void)flag;
    (void)f;
    return remove(path);
}

/* Logging (errors only), a default config with datadir = g_dir = a new
 * temporary directory and SERVERNAME, storage and the user database on
 * it. 0, or -1 when any of it fails. */
static inline int delivery_harness_init(const char *name, const char *servername)
{
    log_init(name, true, false, NULL);
    log_set_level(LOG_LVL_ERR);
    char err[256];
    struct config *c = config_load(NULL, err, sizeof(err));
    if (!c)
        return -1;
    config_install(c);
    g_dir = unit_tmpdir();
    set("datadir", g_dir);
    set("servername", servername);
    if (storage_init(g_dir) != 0 || userdb_open(g_dir) != AUTH_OK) {
        fprintf(stderr, "setup failed\n");
        return -1;
    }
    return 0;
}

/* Close what delivery_harness_init opened (and the duplicate database
 * delivery opens on demand), then remove the datadir. */
static inline void delivery_harness_done(void)
{
    duplicate_close();
    userdb_close();
    storage_shutdown();
    nftw(g_dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
