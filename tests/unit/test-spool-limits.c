/* test-spool-limits.c - spool reservations per user and in total
 * (src/net/spool-limits.c): limits, release, the repair of a dead
 * worker's bytes, and counts shared with a forked process. */
#include "unit.h"
#include "config.h"
#include "spool-limits.h"
#include <sys/wait.h>
#include <unistd.h>

static void set(const char *k, const char *v)
{
    char err[256];
    if (!config_set(config_current(), k, v, err, sizeof(err)))
        fprintf(stderr, "config_set: %s\n", err);
}

static void test_per_user_and_total(void)
{
    set("spool_max_per_user", "1000");
    set("spool_max_total", "1500");
    struct spool_resv a = {0}, a2 = {0}, b = {0}, c = {0};
    CHECK_INT(spool_reserve(&a, "alice", 600), SPOOL_OK);
    CHECK_INT(spool_reserve(&a2, "alice", 401), SPOOL_OVER_USER);   /* 1001 > 1000 */
    CHECK_INT(a2.bytes, 0);
    CHECK_INT(spool_reserve(&a2, "alice", 400), SPOOL_OK);          /* exactly 1000 */
    CHECK_INT(spool_reserved_user("alice"), 1000);
    CHECK_INT(spool_reserve(&b, "bob", 500), SPOOL_OK);             /* total 1500 */
    CHECK_INT(spool_reserve(&c, "carol", 1), SPOOL_OVER_TOTAL);
    CHECK_INT(spool_reserved_total(), 1500);
    /* a refused reservation leaves no entry behind */
    CHECK_INT(spool_reserved_user("carol"), 0);
    spool_release(&b);
    CHECK_INT(b.bytes, 0);
    CHECK_INT(spool_reserve(&c, "carol", 500), SPOOL_OK);
    /* one holder accumulates */
    spool_release(&a2);
    CHECK_INT(spool_reserve(&a, "alice", 300), SPOOL_OK);
    CHECK_INT(a.bytes, 900);
    CHECK_INT(spool_reserved_user("alice"), 900);
    spool_release(&a);
    spool_release(&c);
    spool_release(&c);      /* twice: no-op */
    CHECK_INT(spool_reserved_total(), 0);
    CHECK_INT(spool_reserved_user("alice"), 0);
    /* 0 = unlimited; huge values do not overflow */
    set("spool_max_per_user", "0");
    set("spool_max_total", "0");
    CHECK_INT(spool_reserve(&a, "alice", UINT64_MAX / 4), SPOOL_OK);
    spool_release(&a);
    set("spool_max_total", "1000");
    CHECK_INT(spool_reserve(&a, "alice", UINT64_MAX - 10), SPOOL_OVER_TOTAL);
    CHECK_INT(spool_reserved_total(), 0);
}

/* A child "worker" reserves and dies without releasing: the shared
 * counts show its bytes until the master repairs them. */
static void test_worker_exit_repair(void)
{
    set("spool_max_per_user", "1000");
    set("spool_max_total", "0");
    CHECK(spool_limits_init());
    struct spool_resv mine = {0};
    CHECK_INT(spool_reserve(&mine, "alice", 100), SPOOL_OK);
    pid_t pid = fork();
    if (pid == 0) {
        spool_limits_set_worker(3);
        struct spool_resv r = {0}, r2 = {0};
        int ok = spool_reserve(&r, "alice", 800) == SPOOL_OK && spool_reserve(&r2, "bob", 50) == SPOOL_OK;
        _exit(ok ? 0 : 1);     /* "crash": nothing released */
    }
    int st = 0;
    CHECK(pid > 0 && waitpid(pid, &st, 0) == pid);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CHECK_INT(spool_reserved_user("alice"), 900);
    CHECK_INT(spool_reserved_user("bob"), 50);
    CHECK_INT(spool_reserved_total(), 950);
    struct spool_resv r = {0};
    CHECK_INT(spool_reserve(&r, "alice", 200), SPOOL_OVER_USER);
    spool_limits_worker_exited(3);
    CHECK_INT(spool_reserved_user("alice"), 100);      /* ours stays */
    CHECK_INT(spool_reserved_user("bob"), 0);
    CHECK_INT(spool_reserved_total(), 100);
    CHECK_INT(spool_reserve(&r, "alice", 200), SPOOL_OK);
    spool_release(&r);
    spool_release(&mine);
    CHECK_INT(spool_reserved_total(), 0);
}

/* Many users: entries come and go without the tables filling up. */
static void test_churn(void)
{
    set("spool_max_per_user", "10");
    set("spool_max_total", "0");
    struct spool_resv r[300];
    memset(r, 0, sizeof(r));
    char name[32];
    for (int round = 0; round < 50; round++) {
        for (int i = 0; i < 300; i++) {
            snprintf(name, sizeof(name), "user%d.%d", round, i);
            CHECK_INT(spool_reserve(&r[i], name, 10), SPOOL_OK);
            CHECK_INT(spool_reserve(&r[i], name, 1), SPOOL_OVER_USER);
        }
        for (int i = 0; i < 300; i++)
            spool_release(&r[i]);
    }
    CHECK_INT(spool_reserved_total(), 0);
    CHECK_INT(spool_reserved_user("user49.299"), 0);
}

/* No user (LMTP data): the total only, never a per-user entry. */
static void test_total_only(void)
{
    set("spool_max_per_user", "100");
    set("spool_max_total", "1000");
    struct spool_resv r = {0}, a = {0};
    CHECK_INT(spool_reserve(&r, NULL, 500), SPOOL_OK);     /* over the per-user limit: not applied */
    CHECK_INT(r.user_bytes, 0);
    CHECK_INT(spool_reserved_user(""), 0);
    CHECK_INT(spool_reserve(&a, "alice", 101), SPOOL_OVER_USER);
    CHECK_INT(spool_reserve(&a, "alice", 100), SPOOL_OK);
    CHECK_INT(spool_reserve(&r, NULL, 401), SPOOL_OVER_TOTAL);
    CHECK_INT(spool_reserve(&r, NULL, 400), SPOOL_OK);      /* exactly 1000 */
    CHECK_INT(r.bytes, 900);
    spool_release(&a);
    CHECK_INT(spool_reserved_user("alice"), 0);
    spool_release(&r);
    CHECK_INT(spool_reserved_total(), 0);
}

int main(void)
{
    RUN(test_per_user_and_total);
    RUN(test_worker_exit_repair);
    RUN(test_churn);
    RUN(test_total_only);
    return unit_done();
}
