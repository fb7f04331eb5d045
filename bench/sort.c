/* sort.c - sort mode: SORT (RFC 5256, RFC 5957) by each key on one large
 * mailbox.
 *
 * The fill APPENDs up to 2,000 distinct messages (subjects with "Re:",
 * "Fwd:", "[list]" and "(fwd)" artifacts and RFC 2047 words, display
 * names, dates over several years, one in twenty without a Date, sizes
 * that vary), then doubles the mailbox with UID COPY 1:* (copies share
 * their sort keys, as they would after a client's copy) and tops it up
 * to exactly -n. Then each of "SORT (KEY) UTF-8 ALL" and the THREAD
 * algorithms runs -r times and the answer must hold every message; then
 * RFC 9394 PARTIAL pages (1:50, -1:-50, and 51:100 right after 1:50),
 * 50 messages each. Before each run an untimed "SORT (ARRIVAL) UTF-8
 * UID 1" replaces the server's cached result, so none is answered from
 * the one before, except the page after the first.
 */
#include "bench.h"

/* Each command runs -r times; its name is the RESULT key (lowercase,
 * '_' for ' ' and '='). */
static const struct {
    const char *name, *cmd;
    long hits;          /* messages in the answer; 0: every message */
    const char *pre;    /* sent (untimed) before each run; NULL: none */
} sort_cmds[] = {
    {"ARRIVAL", "SORT (ARRIVAL) UTF-8 ALL", 0, NULL},
    {"DATE", "SORT (DATE) UTF-8 ALL", 0, NULL},
    {"SUBJECT", "SORT (SUBJECT) UTF-8 ALL", 0, NULL},
    {"FROM", "SORT (FROM) UTF-8 ALL", 0, NULL},
    {"TO", "SORT (TO) UTF-8 ALL", 0, NULL},
    {"CC", "SORT (CC) UTF-8 ALL", 0, NULL},
    {"SIZE", "SORT (SIZE) UTF-8 ALL", 0, NULL},
    {"DISPLAYFROM", "SORT (DISPLAYFROM) UTF-8 ALL", 0, NULL},
    {"DISPLAYTO", "SORT (DISPLAYTO) UTF-8 ALL", 0, NULL},
    {"REVERSE DATE", "SORT (REVERSE DATE) UTF-8 ALL", 0, NULL},
    {"THREAD=REFERENCES", "THREAD REFERENCES UTF-8 ALL", 0, NULL},
    {"THREAD=ORDEREDSUBJECT", "THREAD ORDEREDSUBJECT UTF-8 ALL", 0, NULL},
    /* a webmail's pages (RFC 9394 PARTIAL): the first, the next, the last */
    {"PARTIAL 1:50", "SORT RETURN (PARTIAL 1:50) (REVERSE DATE) UTF-8 ALL", 50, NULL},
    {"PARTIAL -1:-50", "SORT RETURN (PARTIAL -1:-50) (SUBJECT) UTF-8 ALL", 50, NULL},
    /* the next page right after the first (the server may keep the result) */
    {"PARTIAL 51:100", "SORT RETURN (PARTIAL 51:100) (REVERSE DATE) UTF-8 ALL", 50,
     "SORT RETURN (PARTIAL 1:50) (REVERSE DATE) UTF-8 ALL"},
};

static void make_sort_message(struct buf *b, unsigned long seq, uint64_t *rng)
{
    static const char *const words[] = {"budget", "meeting", "release", "agenda", "report", "server",
                                        "question", "draft", "schedule", "customer", "update", "notes"};
    static const char *const names[] = {"Alice Martin", "=?UTF-8?Q?J=C3=B6rg_M=C3=BCller?=", "bob",
                                        "\"Smith, Carol\"", "=?ISO-8859-1?Q?=C9mile?=", "Dave"};
    static const char *const prefixes[] = {"", "Re: ", "Fwd: ", "[list] Re: ", "RE: re: ", "[fwd: "};
    static const char *const mons[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    uint64_t r = bench_rng_next(rng);
    buf_reset(b);
    if (seq % 20 != 7)
        buf_printf(b, "Date: %u %s %u %02u:%02u:%02u %+05d\r\n", (unsigned)(r % 28) + 1, mons[(r >> 5) % 12],
                   2015u + (unsigned)((r >> 9) % 10), (unsigned)((r >> 13) % 24), (unsigned)((r >> 18) % 60),
                   (unsigned)((r >> 24) % 60), (int)((r >> 30) % 5) * 100 - 200);
    r = bench_rng_next(rng);
    const char *pre = prefixes[r % ARRAY_SIZE(prefixes)];
    buf_printf(b, "Subject: %s%s %s %lu%s%s\r\n", pre, words[(r >> 4) % ARRAY_SIZE(words)],
               words[(r >> 8) % ARRAY_SIZE(words)], (unsigned long)((r >> 12) % 500),
               strcmp(pre, "[fwd: ") == 0 ? "]" : "", (r >> 20) % 7 == 0 ? " (fwd)" : "");
    buf_printf(b, "From: %s <user%lu@example.org>\r\n", names[(r >> 24) % ARRAY_SIZE(names)],
               (unsigned long)((r >> 28) % 300));
    buf_printf(b, "To: %s <rcpt%lu@example.com>\r\n", names[(r >> 36) % ARRAY_SIZE(names)],
               (unsigned long)((r >> 40) % 50));
    if ((r >> 48) % 3 == 0)
        buf_printf(b, "Cc: cc%lu@example.net\r\n", (unsigned long)((r >> 50) % 40));
    buf_printf(b, "Message-ID: <sort%lu@bench.example>\r\n\r\n", seq);
    size_t body = 200 + (size_t)((r >> 54) % 2000);
    for (size_t i = 0; i < body; i += 60)
        buf_puts(b, "Lorem ipsum dolor sit amet, consectetur adipiscing elit.\r\n");
}

static bool sort_fill(struct bconn *c, unsigned long n)
{
    double t0 = bench_now_sec();
    unsigned long distinct = n < 2000 ? n : 2000;
    uint64_t rng = 4242;
    struct buf msg = BUF_INIT;
    while (c->exists < distinct) {
        make_sort_message(&msg, c->exists, &rng);
        if (bsync_append(c, &msg) != ST_OK) {
            fprintf(stderr, "dariusbench: APPEND failed: %s\n", c->status_text);
            buf_free(&msg);
            return false;
        }
        if (bsync_cmd(c, NULL, OP_NOOP, "NOOP") != ST_OK)
            break;
    }
    buf_free(&msg);
    while (c->exists < n) {
        unsigned long have = c->exists;
        enum cstatus st = have * 2 <= n ? bsync_cmd(c, NULL, OP_COPY, "UID COPY 1:* INBOX")
                                        : bsync_cmd(c, NULL, OP_COPY, "COPY 1:%lu INBOX", n - have);
        if (st != ST_OK || bsync_cmd(c, NULL, OP_NOOP, "NOOP") != ST_OK || c->exists <= have) {
            fprintf(stderr, "dariusbench: COPY failed at %lu messages: %s\n", have, c->status_text);
            return false;
        }
    }
    printf("sort: filled to %lu messages in %.1f s\n", c->exists, bench_now_sec() - t0);
    return true;
}

int bench_mode_sort(void)
{
    char user[256];
    bench_user_name(0, user, sizeof user);
    unsigned long n = bench_opts.count > 0 ? (unsigned long)bench_opts.count : 100000ul;
    int runs = bench_opts.runs > 0 ? bench_opts.runs : 5;
    struct bconn c;
    bconn_init(&c, 0);
    printf("sort: user %s, %lu messages, %d runs per key, %s:%d\n", user, n, runs, bench_opts.host,
           bench_opts.port);
    fflush(stdout);
    int rc = 1;
    size_t nk = ARRAY_SIZE(sort_cmds);
    double *t = xcalloc((size_t)runs, sizeof *t);
    struct buf res = BUF_INIT;
    bool count_ok = true;
    if (!bsync_login_select(&c, user, "INBOX"))
        goto out;
    if (c.exists < n && !sort_fill(&c, n))
        goto out;
    printf("%-22s %10s %10s %10s\n", "command (wall clock)", "min ms", "median ms", "messages");
    buf_printf(&res, "RESULT mode=sort messages=%lu", c.exists);
    for (size_t k = 0; k < nk; k++) {
        for (int r = 0; r < runs; r++) {
            /* Before each run a tiny SORT of another program (untimed):
             * it replaces the server's cached result (one a view,
             * docs/architecture.md), so every run does the whole work
             * with the same program text, except where a page follows
             * its first page (pre). */
            const char *pre = sort_cmds[k].pre ? sort_cmds[k].pre : "SORT (ARRIVAL) UTF-8 UID 1";
            if (bsync_cmd(&c, NULL, OP_SORT, "%s", pre) != ST_OK) {
                fprintf(stderr, "dariusbench: %s failed: %s\n", pre, c.status_text);
                goto out;
            }
            c.search_hits = -1;
            if (bsync_cmd(&c, &t[r], OP_SORT, "%s", sort_cmds[k].cmd) != ST_OK) {
                fprintf(stderr, "dariusbench: %s failed: %s\n", sort_cmds[k].cmd, c.status_text);
                goto out;
            }
            if (c.search_hits != (sort_cmds[k].hits ? sort_cmds[k].hits : (long)c.exists))
                count_ok = false;
        }
        qsort(t, (size_t)runs, sizeof *t, bench_cmp_double);
        double med = runs % 2 ? t[runs / 2] : (t[runs / 2 - 1] + t[runs / 2]) / 2;
        printf("%-22s %10.1f %10.1f %10ld\n", sort_cmds[k].name, t[0] * 1e3, med * 1e3, c.search_hits);
        fflush(stdout);
        char name[32];
        snprintf(name, sizeof name, "%s", sort_cmds[k].name);
        for (char *p = name; *p; p++)
            *p = (*p == ' ' || *p == '=' || *p == ':') ? '_' : (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
        buf_printf(&res, " %s_min_ms=%.1f %s_median_ms=%.1f", name, t[0] * 1e3, name, med * 1e3);
    }
    bsync_cmd(&c, NULL, OP_LOGOUT, "LOGOUT");
    printf("%s count_ok=%s\n", buf_cstr(&res), count_ok ? "yes" : "no");
    rc = count_ok ? 0 : 2;
out:
    if (rc == 1)
        printf("RESULT mode=sort failed=yes\n");
    buf_free(&res);
    free(t);
    bconn_free(&c);
    return rc;
}
