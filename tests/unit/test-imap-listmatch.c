/* test-imap-listmatch.c - the LIST pattern matcher (imap-mailbox-name.c,
 * issue 9 item 6): equivalence with the previous O(pattern x name)
 * matcher and with a plain recursive definition on random patterns and
 * names ('*', '%', the separator, the case-insensitive INBOX level), the
 * cost of hostile patterns (answered, and correctly), and the bounds LIST
 * applies to patterns (imap_list_pattern_limit). */
#include "unit.h"
#include "imap.h"

/* ---- references ----------------------------------------------------------- */

/* The matcher before issue 9, verbatim apart from its name: dynamic
 * programming over (pattern position, name position). Correct, but
 * O(pattern x name) per name. */
static bool old_match(const char *pattern, const char *name, char sep)
{
    size_t m = strlen(pattern), n = strlen(name);
    bool inbox = n >= 5 && memcmp(name, "INBOX", 5) == 0 && (n == 5 || name[5] == sep);
    bool *prev = xmalloc(n + 1), *cur = xmalloc(n + 1), *heap0 = prev, *heap1 = cur;
    memset(prev, 0, n + 1);
    prev[0] = true;
    for (size_t i = 0; i < m; i++) {
        char pc = pattern[i];
        memset(cur, 0, n + 1);
        if (pc == '*') {
            bool any = false;
            for (size_t j = 0; j <= n; j++) {
                any = any || prev[j];
                cur[j] = any;
            }
        } else if (pc == '%') {
            bool any = false;
            for (size_t j = 0; j <= n; j++) {
                if (j > 0 && name[j - 1] == sep)
                    any = false;
                any = any || prev[j];
                cur[j] = any;
            }
        } else {
            for (size_t j = 1; j <= n; j++) {
                if (!prev[j - 1])
                    continue;
                char nc = name[j - 1];
                bool eq = nc == pc;
                if (!eq && inbox && j <= 5 && (unsigned char)pc < 0x80)
                    eq = (nc | 0x20) == (pc | 0x20);
                cur[j] = eq;
            }
        }
        bool *t = prev;
        prev = cur;
        cur = t;
    }
    bool r = prev[n];
    free(heap0);
    free(heap1);
    return r;
}

/* The definition (RFC 9051 6.3.9): '*' matches anything, '%' anything
 * without the separator; exponential, for short inputs only. */
static bool rec_match(const char *p, const char *n, const char *name0, char sep, bool inbox)
{
    if (!*p)
        return !*n;
    if (*p == '*' || *p == '%') {
        for (const char *x = n;; x++) {
            if (rec_match(p + 1, x, name0, sep, inbox))
                return true;
            if (!*x || (*p == '%' && *x == sep))
                return false;
        }
    }
    if (!*n)
        return false;
    bool eq = *p == *n;
    if (!eq && inbox && n - name0 < 5 && (unsigned char)*p < 0x80)
        eq = (*p | 0x20) == (*n | 0x20);
    return eq && rec_match(p + 1, n + 1, name0, sep, inbox);
}

/* ---- random inputs -------------------------------------------------------- */

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint32_t rn(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return n ? (uint32_t)(rng % n) : 0;
}

/* Small alphabets so that literals recur and wildcards have choices to
 * make; periodic names ("abab/abab") exercise the KMP failure links. */
static void gen(char *out, size_t maxlen, bool pattern, char sep)
{
    static const char pch[] = "aab/.%*Ii\x01";
    static const char nch[] = "aab/.Ii";
    size_t n = rn((uint32_t)maxlen + 1);
    size_t i = 0;
    if (!pattern && rn(4) == 0 && maxlen >= 6) {
        memcpy(out, "INBOX", 5);
        i = 5;
        if (n < 5)
            n = 5;
        if (n > 5 && rn(2))
            out[i++] = sep;
    }
    if (!pattern && rn(5) == 0) {
        /* a periodic name */
        size_t per = 1 + rn(3);
        for (; i < n; i++)
            out[i] = i >= per ? out[i - per] : nch[rn(sizeof(nch) - 1)];
    }
    for (; i < n; i++)
        out[i] = pattern ? pch[rn(sizeof(pch) - 1)] : nch[rn(sizeof(nch) - 1)];
    out[n] = '\0';
    if (pattern && rn(5) == 0 && n >= 6)
        memcpy(out, rn(2) ? "inBox%" : "INBOX*", 6);
    /* the separator of this round in place of some '/' or '.' */
    for (size_t k = 0; k < n; k++)
        if ((out[k] == '/' || out[k] == '.') && rn(2))
            out[k] = sep;
}

static long fails;

static void check_one(const char *pat, const char *name, char sep, bool with_rec)
{
    bool want = old_match(pat, name, sep);
    bool got = imap_list_match(pat, name, sep);
    if (with_rec) {
        size_t nl = strlen(name);
        bool inbox = nl >= 5 && memcmp(name, "INBOX", 5) == 0 && (nl == 5 || name[5] == sep);
        bool def = rec_match(pat, name, name, sep, inbox);
        if (def != want) {
            fails++;
            fprintf(stderr, "reference disagreement: \"%s\" vs \"%s\"\n", pat, name);
        }
    }
    if (want != got) {
        if (++fails <= 10)
            fprintf(stderr, "imap_list_match(\"%s\", \"%s\", '%c') = %d, old matcher %d\n", pat, name, sep, got,
                    want);
    }
}

static void test_random_equivalence(void)
{
    const char *e = getenv("DARIUS_FUZZ_ITERATIONS");
    long iters = e ? strtol(e, NULL, 10) : 300000;
    if (iters <= 0)
        iters = 300000;
    char pat[64], name[96];
    for (long it = 0; it < iters; it++) {
        char sep = rn(2) ? '/' : '.';
        bool small = rn(2);
        gen(pat, small ? 10 : 40, true, sep);
        gen(name, small ? 12 : 80, false, sep);
        check_one(pat, name, sep, small);
    }
    /* one compiled pattern against many names (how LIST uses it) */
    for (int it = 0; it < 2000; it++) {
        char sep = '/';
        gen(pat, 24, true, sep);
        struct imap_list_pattern *p = imap_list_pattern_new(pat, sep);
        for (int k = 0; k < 50; k++) {
            gen(name, 60, false, sep);
            if (imap_list_pattern_match(p, name) != old_match(pat, name, sep) && ++fails <= 10)
                fprintf(stderr, "compiled \"%s\" on \"%s\" differs\n", pat, name);
        }
        imap_list_pattern_free(p);
    }
    CHECK_INT(fails, 0);
    fails = 0;
}

static void test_known(void)
{
    CHECK(imap_list_match("*", "", '/'));
    CHECK(imap_list_match("", "", '/'));
    CHECK(!imap_list_match("", "a", '/'));
    CHECK(imap_list_match("%", "INBOX", '/'));
    CHECK(!imap_list_match("%", "a/b", '/'));
    CHECK(imap_list_match("%/%", "a/b", '/'));
    CHECK(imap_list_match("*", "a/b/c", '/'));
    CHECK(imap_list_match("a*c", "a/b/c", '/'));
    CHECK(!imap_list_match("a%c", "a/b/c", '/'));
    CHECK(imap_list_match("inbox", "INBOX", '/'));
    CHECK(imap_list_match("InBoX/%", "INBOX/x", '/'));
    CHECK(!imap_list_match("inbox/X", "INBOX/x", '/'));     /* only INBOX itself is case-insensitive */
    CHECK(!imap_list_match("inboxx", "INBOXX", '/'));       /* "INBOXX" is not INBOX */
    CHECK(imap_list_match("*x", "INBOX/x", '/'));
    CHECK(imap_list_match("%B%", "INBOX", '/'));
    CHECK(imap_list_match("%b%", "INBOX", '/'));
    CHECK(imap_list_match("a%%%b", "ab", '/'));
    CHECK(imap_list_match("%*%", "a/b", '/'));
    CHECK(imap_list_match("abab*abab", "ababab", '/') == false);
    CHECK(imap_list_match("aba*aba", "ababa", '/') == false);
    CHECK(imap_list_match("ab*ab", "abab", '/'));
    CHECK(imap_list_match("*aab", "aaaab", '/'));
    CHECK(imap_list_match("%aab%", "aaaab", '/'));
    CHECK(!imap_list_match("%aab%", "aa/aab", '/'));
    CHECK(imap_list_match("*/aab%", "aa/aab", '/'));
    CHECK(imap_list_match("Other Users/%", "Other Users/bob", '/'));
    CHECK(!imap_list_match("Other Users/%", "Other Users/bob/x", '/'));
    CHECK(imap_list_match("\x01", "\x01", '/'));
}

/* Patterns that made the old matcher slow, and names made to keep every
 * position alive: answered, and answered correctly. (Time is not asserted;
 * the system test checks that LIST refuses such patterns anyway.) */
static void test_hostile(void)
{
    struct buf pat = BUF_INIT;
    /* 1 MiB of alternating wildcards and a literal */
    for (size_t i = 0; i < 512 * 1024; i++)
        buf_puts(&pat, "%*");
    buf_putc(&pat, 'x');
    char name[1600];
    memset(name, 'a', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    for (size_t i = 20; i < sizeof(name) - 1; i += 20)
        name[i] = '/';
    struct imap_list_pattern *p = imap_list_pattern_new(buf_cstr(&pat), '/');
    for (int k = 0; k < 1000; k++)
        CHECK(!imap_list_pattern_match(p, name));
    CHECK(imap_list_pattern_match(p, "aaax"));
    imap_list_pattern_free(p);

    /* 1 MiB literal-heavy pattern: "a%a%a%..." against a name of a's */
    buf_reset(&pat);
    for (size_t i = 0; i < 512 * 1024; i++)
        buf_puts(&pat, "a%");
    p = imap_list_pattern_new(buf_cstr(&pat), '/');
    CHECK(!imap_list_pattern_match(p, name));
    imap_list_pattern_free(p);

    /* the most a bounded pattern can do: 32 wildcards between literals
     * against a name where every position stays alive */
    buf_reset(&pat);
    for (int i = 0; i < IMAP_LIST_MAX_WILDCARDS; i++)
        buf_puts(&pat, i % 2 ? "a*" : "a%");
    buf_puts(&pat, "b");
    char aname[1600];
    memset(aname, 'a', sizeof(aname) - 1);
    aname[sizeof(aname) - 1] = '\0';
    p = imap_list_pattern_new(buf_cstr(&pat), '/');
    for (int k = 0; k < 1000; k++)
        CHECK(!imap_list_pattern_match(p, aname));
    aname[sizeof(aname) - 2] = 'b';
    CHECK(imap_list_pattern_match(p, aname));
    CHECK(old_match(buf_cstr(&pat), aname, '/'));
    aname[30] = '/';   /* a '%' may not cross it, a '*' may */
    CHECK(imap_list_pattern_match(p, aname) == old_match(buf_cstr(&pat), aname, '/'));
    imap_list_pattern_free(p);

    /* a long literal with a long near-match (KMP failure links) */
    buf_reset(&pat);
    buf_putc(&pat, '*');
    for (int i = 0; i < 700; i++)
        buf_putc(&pat, 'a');
    buf_puts(&pat, "b*");
    memset(aname, 'a', sizeof(aname) - 1);
    aname[699] = 'b';   /* 699 a's before it: one short */
    CHECK(!imap_list_match(buf_cstr(&pat), aname, '/'));
    CHECK(!old_match(buf_cstr(&pat), aname, '/'));
    aname[1400] = 'b';   /* 700 a's before it */
    CHECK(imap_list_match(buf_cstr(&pat), aname, '/'));
    CHECK(old_match(buf_cstr(&pat), aname, '/'));
    buf_free(&pat);
}

static const char *limit1(const char *ref, const char *pat)
{
    return imap_list_pattern_limit(ref, &pat, 1);
}

static void test_limits(void)
{
    CHECK(limit1("", "*") == NULL);
    CHECK(limit1("Other Users/", "%/%") == NULL);
    struct buf b = BUF_INIT;
    for (int i = 0; i < IMAP_LIST_MAX_WILDCARDS; i++)
        buf_puts(&b, "%/");
    CHECK(limit1("", buf_cstr(&b)) == NULL);
    CHECK(limit1("*", buf_cstr(&b)) != NULL);   /* the reference counts too */
    buf_putc(&b, '*');
    const char *why = limit1("", buf_cstr(&b));
    CHECK(why && strstr(why, "[LIMIT]"));
    /* wildcards count over all the patterns of one command */
    const char *many[IMAP_LIST_MAX_PATTERNS + 1];
    for (int i = 0; i <= IMAP_LIST_MAX_PATTERNS; i++)
        many[i] = "a*";
    CHECK(imap_list_pattern_limit("", many, IMAP_LIST_MAX_WILDCARDS) == NULL);
    CHECK(imap_list_pattern_limit("", many, IMAP_LIST_MAX_PATTERNS + 1) != NULL);
    for (int i = 0; i <= IMAP_LIST_MAX_PATTERNS; i++)
        many[i] = "INBOX";
    CHECK(imap_list_pattern_limit("", many, IMAP_LIST_MAX_PATTERNS) == NULL);
    CHECK(imap_list_pattern_limit("", many, IMAP_LIST_MAX_PATTERNS + 1) != NULL);
    CHECK(imap_list_pattern_limit("x*", many, IMAP_LIST_MAX_WILDCARDS) == NULL);
    CHECK(imap_list_pattern_limit("x*", many, IMAP_LIST_MAX_WILDCARDS + 1) != NULL);
    buf_reset(&b);
    for (int i = 0; i < IMAP_LIST_MAX_PATTERN_LEN; i++)
        buf_putc(&b, 'a');
    CHECK(limit1("", buf_cstr(&b)) == NULL);
    CHECK(limit1("x", buf_cstr(&b)) != NULL);
    buf_putc(&b, 'a');
    why = limit1("", buf_cstr(&b));
    CHECK(why && strstr(why, "[LIMIT]"));
    /* every name LIST can show fits, with wildcards: the longest
     * internal client name in the longest form imap_resolve accepts as
     * sent (modified UTF-7 expands by at most that much) */
    CHECK(IMAP_LIST_MAX_PATTERN_LEN >= 4 * IMAP_MAX_CLIENT_NAME + IMAP_LIST_MAX_WILDCARDS);
    buf_free(&b);
}

int main(void)
{
    const char *seed = getenv("DARIUS_FUZZ_SEED");
    if (seed)
        rng = strtoull(seed, NULL, 0) | 1;
    RUN(test_known);
    RUN(test_random_equivalence);
    RUN(test_hostile);
    RUN(test_limits);
    return unit_done();
}
