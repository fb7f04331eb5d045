/* cli-expire.c - `darius expire [-E DAYS]`: prune the duplicate delivery
 * database (DATADIR/duplicate.db) of entries older than DAYS days
 * (default duplicate_expire). Safe from cron while dariusd runs: one
 * short DELETE under SQLite's busy timeout (WAL mode).
 */
#include "cli.h"
#include "config.h"
#include "delivery.h"

#include <time.h>

static void expire_usage(FILE *f)
{
    fprintf(f, "Usage: darius [-C FILE] expire [-E DAYS]\n\n"
               "Remove duplicate-suppression entries older than DAYS days (default: duplicate_expire),\n"
               "old vacation response records and expired Sieve duplicate-test entries.\n");
}

int cli_expire_main(const char *config_file, int argc, char **argv)
{
    long days = -1;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            expire_usage(stdout);
            return 0;
        }
        const char *v = NULL;
        if (strcmp(argv[i], "-E") == 0 && i + 1 < argc)
            v = argv[++i];
        else if (strncmp(argv[i], "-E", 2) == 0 && argv[i][2])
            v = argv[i] + 2;
        if (!v) {
            cli_error("expire: unexpected argument: %s", argv[i]);
            expire_usage(stderr);
            return EX_USAGE;
        }
        char *end;
        days = strtol(v, &end, 10);
        if (*v == '\0' || *end != '\0' || days < 0 || days > 3650) {
            cli_error("expire: invalid number of days: %s", v);
            return EX_USAGE;
        }
    }
    int r = cli_drop_to_user(config_file);
    if (r == 0)
        r = cli_setup(config_file);
    if (r != 0)
        return r;
    if (days < 0)
        days = (long)config_int(CFG_DUPLICATE_EXPIRE);
    long n = duplicate_prune((int)days);
    /* Vacation replies are remembered for at most the longest period a
     * script may ask for (sieve_vacation_max_response; 0 = no maximum:
     * then for a year, the largest :days that makes sense). */
    long long keep = config_int(CFG_SIEVE_VACATION_MAX_RESPONSE);
    long nv = vacation_prune((int64_t)time(NULL) - (keep > 0 ? keep : 365LL * 86400));
    /* Sieve duplicate-test entries carry their own expiry (RFC 7352 3.3). */
    long ns = sieve_dup_prune((int64_t)time(NULL));
    duplicate_close();
    cli_teardown();
    if (n < 0 || nv < 0 || ns < 0) {
        cli_error("expire: cannot prune the duplicate database");
        return EX_IOERR;
    }
    printf("expire: removed %ld duplicate delivery entr%s older than %ld day%s\n", n, n == 1 ? "y" : "ies", days,
           days == 1 ? "" : "s");
    printf("expire: removed %ld vacation response record%s\n", nv, nv == 1 ? "" : "s");
    printf("expire: removed %ld expired sieve duplicate entr%s\n", ns, ns == 1 ? "y" : "ies");
    return 0;
}
