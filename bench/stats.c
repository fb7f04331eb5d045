/* stats.c - latency samples and the per-operation report.
 *
 * Every completed command stores its latency (microseconds, uint32) so the
 * percentiles are exact rather than bucketed; a 20 s run at 100k ops/s is
 * 8 MB of samples, which is fine for a benchmark tool.
 */
#include "bench.h"

static const char *const names[OP__COUNT] = {
    [OP_CONNECT] = "connect",      [OP_LOGIN] = "login",         [OP_SELECT] = "select",
    [OP_FETCH_ENV] = "fetch_env",  [OP_FETCH_BODY] = "fetch_body", [OP_STORE] = "store",
    [OP_APPEND] = "append",        [OP_APPEND_BIG] = "append_big", [OP_EXPUNGE] = "uid_expunge",
    [OP_IDLE] = "idle",            [OP_NOOP] = "noop",           [OP_LOGOUT] = "logout",
    [OP_COPY] = "copy",            [OP_FETCH_FLAGS] = "fetch_flags", [OP_SEARCH] = "search",
    [OP_FETCH_RANGE] = "fetch_range", [OP_EXPUNGE_ALL] = "expunge", [OP_SORT] = "sort",
};

const char *bench_op_name(enum op op)
{
    return (unsigned)op < OP__COUNT ? names[op] : "?";
}

void bstats_add(struct stats *s, enum op op, double seconds)
{
    double us = seconds * 1e6;
    if (us < 0)
        us = 0;
    if (us > 4e9)
        us = 4e9;
    ARRAY_GROW(s->lat[op], s->n[op], s->cap[op]);
    s->lat[op][s->n[op]++] = (uint32_t)us;
}

void bstats_merge(struct stats *into, const struct stats *from)
{
    for (int i = 0; i < OP__COUNT; i++) {
        for (size_t k = 0; k < from->n[i]; k++) {
            ARRAY_GROW(into->lat[i], into->n[i], into->cap[i]);
            into->lat[i][into->n[i]++] = from->lat[i][k];
        }
        into->no[i] += from->no[i];
        into->bad[i] += from->bad[i];
        into->lost[i] += from->lost[i];
    }
    into->connect_fail += from->connect_fail;
    into->disconnects += from->disconnects;
    into->timeouts += from->timeouts;
    into->protocol_errors += from->protocol_errors;
    into->no_expungeissued += from->no_expungeissued;
    into->search_mismatch += from->search_mismatch;
}

void bstats_free(struct stats *s)
{
    for (int i = 0; i < OP__COUNT; i++)
        free(s->lat[i]);
    memset(s, 0, sizeof *s);
}

unsigned long bstats_errors(const struct stats *s)
{
    unsigned long e = s->connect_fail + s->disconnects + s->timeouts + s->protocol_errors +
                      s->search_mismatch;
    for (int i = 0; i < OP__COUNT; i++)
        e += s->no[i] + s->bad[i];
    return e;
}

int bench_cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double bench_percentile_ms(uint32_t *sorted, size_t n, double p)
{
    if (n == 0)
        return 0;
    /* Nearest-rank percentile. */
    size_t rank = (size_t)(p / 100.0 * (double)n + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return sorted[rank - 1] / 1000.0;
}

void bstats_report(struct stats *s, double elapsed, struct buf *res)
{
    if (elapsed <= 0)
        elapsed = 1e-9;
    printf("%-12s %9s %10s %9s %9s %9s %9s %6s %6s\n", "operation", "count", "ops/s", "p50ms",
           "p90ms", "p99ms", "maxms", "NO", "BAD");
    size_t total = 0;
    for (int i = 0; i < OP__COUNT; i++) {
        if (s->n[i] == 0 && s->no[i] == 0 && s->bad[i] == 0)
            continue;
        if (s->n[i] > 1)
            qsort(s->lat[i], s->n[i], sizeof(uint32_t), bench_cmp_u32);
        double p50 = bench_percentile_ms(s->lat[i], s->n[i], 50);
        double p90 = bench_percentile_ms(s->lat[i], s->n[i], 90);
        double p99 = bench_percentile_ms(s->lat[i], s->n[i], 99);
        double mx = bench_percentile_ms(s->lat[i], s->n[i], 100);
        printf("%-12s %9zu %10.1f %9.2f %9.2f %9.2f %9.2f %6lu %6lu\n", names[i], s->n[i],
               (double)s->n[i] / elapsed, p50, p90, p99, mx, s->no[i], s->bad[i]);
        if (i != OP_CONNECT)
            total += s->n[i];
        buf_printf(res, " %s_n=%zu %s_p50=%.2f %s_p99=%.2f", names[i], s->n[i], names[i], p50,
                   names[i], p99);
        if (s->no[i] + s->bad[i])
            buf_printf(res, " %s_err=%lu", names[i], s->no[i] + s->bad[i]);
    }
    printf("%-12s %9zu %10.1f   (commands, excluding connect)\n", "total", total,
           (double)total / elapsed);
    unsigned long errs = bstats_errors(s);
    printf("errors: %lu  (connect failures %lu, disconnects %lu, timeouts %lu, protocol %lu)\n",
           errs, s->connect_fail, s->disconnects, s->timeouts, s->protocol_errors);
    if (s->search_mismatch)
        printf("errors include %lu SEARCH answers with an unexpected number of hits\n",
               s->search_mismatch);
    buf_printf(res, " ops=%zu ops_per_s=%.1f errors=%lu", total, (double)total / elapsed, errs);
}
