/* test-imap-thread.c - the THREAD algorithms (imap-thread.c) against
 * trees computed by hand from RFC 5256 section 3 and draft-ietf-morg-
 * inthread's REFS. */
#include "unit.h"
#include "imap-thread.h"

/* One message: printed number (0 = its 1-based position), sent date,
 * base subject, reply flag, Message-ID, space-separated references. */
struct spec {
    uint32_t id;
    int64_t sent;
    const char *subj;
    bool reply;
    const char *mid;
    const char *refs;
};

#define MAXR 256

static char *run(enum thread_alg alg, const struct spec *s, size_t n)
{
    struct thread_msg *m = calloc(n, sizeof(*m));
    char **copies = calloc(n, sizeof(*copies));
    const char ***refv = calloc(n, sizeof(*refv));
    for (size_t i = 0; i < n; i++) {
        m[i].id = s[i].id ? s[i].id : (uint32_t)(i + 1);
        m[i].seq = (uint32_t)(i + 1);
        m[i].sent = s[i].sent;
        m[i].subject = s[i].subj;
        m[i].is_reply = s[i].reply;
        m[i].message_id = s[i].mid;
        refv[i] = calloc(MAXR, sizeof(char *));
        if (s[i].refs) {
            copies[i] = strdup(s[i].refs);
            for (char *save = NULL, *t = strtok_r(copies[i], " ", &save); t && m[i].nrefs < MAXR;
                 t = strtok_r(NULL, " ", &save))
                refv[i][m[i].nrefs++] = t;
        }
        m[i].refs = refv[i];
    }
    struct buf out = BUF_INIT;
    thread_run(alg, m, n, &out);
    char *r = strdup(buf_cstr(&out));
    buf_free(&out);
    for (size_t i = 0; i < n; i++) {
        free(copies[i]);
        free(refv[i]);
    }
    free(copies);
    free(refv);
    free(m);
    return r;
}

#define EXPECT(alg, specs, want)                                                \
    do {                                                                        \
        char *got_ = run(alg, specs, sizeof(specs) / sizeof(specs[0]));         \
        CHECK_STR(got_, want);                                                  \
        free(got_);                                                             \
    } while (0)

static void test_alg_names(void)
{
    enum thread_alg a;
    CHECK(thread_alg_parse("REFERENCES", &a) && a == THREAD_REFERENCES);
    CHECK(thread_alg_parse("orderedsubject", &a) && a == THREAD_ORDEREDSUBJECT);
    CHECK(thread_alg_parse("Refs", &a) && a == THREAD_REFS);
    CHECK(!thread_alg_parse("REFERENCE", &a));
    CHECK(!thread_alg_parse("", &a));
}

static void test_empty(void)
{
    struct buf out = BUF_INIT;
    thread_run(THREAD_REFERENCES, NULL, 0, &out);
    CHECK_INT(out.len, 0);
    buf_free(&out);
}

/* RFC 5256 section 4's example response, rebuilt from references. */
static void test_rfc_section4_example(void)
{
    static const struct spec s[] = {
        {2, 1, "two", false, "<2>", NULL},
        {3, 2, "t", false, "<3>", NULL},
        {6, 3, "t", true, "<6>", "<3>"},
        {4, 4, "t", true, "<4>", "<3> <6>"},
        {23, 5, "t", true, "<23>", "<3> <6> <4>"},
        {44, 6, "t", true, "<44>", "<3> <6>"},
        {7, 7, "t", true, "<7>", "<3> <6> <44>"},
        {96, 8, "t", true, "<96>", "<3> <6> <44> <7>"},
    };
    EXPECT(THREAD_REFERENCES, s, "(2)(3 6 (4 23)(44 7 96))");
    EXPECT(THREAD_REFS, s, "(2)(3 6 (4 23)(44 7 96))");
}

static void test_simple_chain(void)
{
    static const struct spec s[] = {
        {0, 1, "a", false, "<a>", NULL},
        {0, 2, "a", true, "<b>", "<a>"},
        {0, 3, "a", true, "<c>", "<a> <b>"},
        {0, 4, "a", true, "<d>", "<a>"},
    };
    EXPECT(THREAD_REFERENCES, s, "(1 (2 3)(4))");
}

/* Missing parents become dummies; step 3 keeps a root-level dummy with
 * several children and promotes a lone child or an inner dummy's. */
static void test_missing_parents(void)
{
    static const struct spec two[] = {
        {0, 1, "b", true, "<b>", "<x>"},
        {0, 2, "c", true, "<c>", "<x>"},
    };
    EXPECT(THREAD_REFERENCES, two, "((1)(2))");
    static const struct spec one[] = {
        {0, 1, "b", true, "<b>", "<x> <y>"},
    };
    EXPECT(THREAD_REFERENCES, one, "(1)");
    static const struct spec middle[] = {
        {0, 1, "a", false, "<a>", NULL},
        {0, 2, "z", true, "<b>", "<a> <y>"},
    };
    EXPECT(THREAD_REFERENCES, middle, "(1 2)");
    /* Two levels of missing messages above two siblings: the inner
     * dummy is spliced away, the outer one stays and holds both. */
    static const struct spec deep[] = {
        {0, 1, "b", true, "<b>", "<x> <y>"},
        {0, 2, "c", true, "<c>", "<x> <y>"},
    };
    EXPECT(THREAD_REFERENCES, deep, "((1)(2))");
    /* A dummy in the middle with two children under a real message. */
    static const struct spec fork[] = {
        {0, 1, "a", false, "<a>", NULL},
        {0, 2, "q", true, "<b>", "<a> <y>"},
        {0, 3, "r", true, "<c>", "<a> <y>"},
    };
    EXPECT(THREAD_REFERENCES, fork, "(1 (2)(3))");
}

/* A refs B, B refs A: the second link would close a loop and is not made. */
static void test_reference_loop(void)
{
    static const struct spec s[] = {
        {0, 1, "one", false, "<a>", "<b>"},
        {0, 2, "two", false, "<b>", "<a>"},
    };
    EXPECT(THREAD_REFERENCES, s, "(2 1)");
    /* A three-message cycle: a->c, b->a, c->b. */
    static const struct spec c3[] = {
        {0, 1, "p", false, "<a>", "<c>"},
        {0, 2, "q", false, "<b>", "<a>"},
        {0, 3, "r", false, "<c>", "<b>"},
    };
    EXPECT(THREAD_REFERENCES, c3, "(3 1 2)");
}

static void test_self_reference(void)
{
    static const struct spec s[] = {
        {0, 1, "a", false, "<a>", "<a>"},
    };
    EXPECT(THREAD_REFERENCES, s, "(1)");
    /* References naming the message itself before another id: the chain
     * makes <b> its child, so <b> cannot become its parent. */
    static const struct spec s2[] = {
        {0, 1, "a", false, "<a>", "<a> <b>"},
        {0, 2, "z", false, "<z>", NULL},
    };
    EXPECT(THREAD_REFERENCES, s2, "(1)(2)");
}

/* Only the first message with a Message ID owns it; the duplicate is a
 * message of its own and a reference goes to the first. */
static void test_duplicate_ids(void)
{
    static const struct spec s[] = {
        {0, 1, "a", false, "<x>", NULL},
        {0, 2, "b", false, "<x>", NULL},
        {0, 3, "c", true, "<c>", "<x>"},
    };
    EXPECT(THREAD_REFERENCES, s, "(1 3)(2)");
    /* A duplicate referring to the original does not loop onto itself. */
    static const struct spec d2[] = {
        {0, 1, "a", false, "<x>", NULL},
        {0, 2, "b", true, "<x>", "<x>"},
    };
    EXPECT(THREAD_REFERENCES, d2, "(1 2)");
}

static void test_no_message_id(void)
{
    static const struct spec s[] = {
        {0, 1, "a", false, NULL, NULL},
        {0, 2, "b", false, "", NULL},
        {0, 3, "c", true, NULL, ""},
    };
    EXPECT(THREAD_REFERENCES, s, "(1)(2)(3)");
    EXPECT(THREAD_REFS, s, "(1)(2)(3)");
}

/* A truncated References made C a child of a dummy; C's own References
 * (step 1.B) moves it. */
static void test_step1b_reparent(void)
{
    static const struct spec s[] = {
        {0, 1, "d", true, "<d>", "<a> <b> <c>"},
        {0, 2, "a", false, "<a>", NULL},
        {0, 3, "c", true, "<c>", "<a>"},
    };
    EXPECT(THREAD_REFERENCES, s, "(2 3 1)");
    /* A later message does not undo an existing parent (step 1.A). */
    static const struct spec t[] = {
        {0, 1, "a", false, "<a>", NULL},
        {0, 2, "b", true, "<b>", "<a>"},
        {0, 3, "c", true, "<c>", "<b>"},
        {0, 4, "d", true, "<d>", "<a> <c>"},
    };
    EXPECT(THREAD_REFERENCES, t, "(1 2 3 4)");
}

/* Missing or unparsable dates arrive as the earliest time (or the
 * INTERNALDATE, applied by the caller): ties go by sequence number. */
static void test_dates(void)
{
    static const struct spec ties[] = {
        {0, 0, "x", false, "<a>", NULL},
        {0, 0, "y", false, "<b>", NULL},
        {0, 0, "z", false, "<c>", NULL},
    };
    EXPECT(THREAD_REFERENCES, ties, "(1)(2)(3)");
    static const struct spec kids[] = {
        {0, 10, "a", false, "<a>", NULL},
        {0, 30, "a", true, "<b>", "<a>"},
        {0, 20, "a", true, "<c>", "<a>"},
        {0, INT64_MIN, "a", true, "<d>", "<a>"},
    };
    EXPECT(THREAD_REFERENCES, kids, "(1 (4)(3)(2))");
    /* Threads by their root's date, not by sequence. */
    static const struct spec roots[] = {
        {0, 50, "x", false, "<a>", NULL},
        {0, -5, "y", false, "<b>", NULL},
        {0, 7, "z", false, "<c>", NULL},
    };
    EXPECT(THREAD_REFERENCES, roots, "(2)(3)(1)");
}

/* Step 5: merging by base subject. */
static void test_subject_merge(void)
{
    static const struct spec reply_under[] = {
        {0, 1, "foo", false, "<a>", NULL},
        {0, 2, "foo", true, "<b>", NULL},
    };
    EXPECT(THREAD_REFERENCES, reply_under, "(1 2)");
    static const struct spec both_plain[] = {
        {0, 1, "foo", false, "<a>", NULL},
        {0, 2, "foo", false, "<b>", NULL},
    };
    EXPECT(THREAD_REFERENCES, both_plain, "((1)(2))");
    static const struct spec both_reply[] = {
        {0, 1, "foo", true, "<a>", NULL},
        {0, 2, "foo", true, "<b>", NULL},
    };
    EXPECT(THREAD_REFERENCES, both_reply, "((1)(2))");
    /* The reply is older: the original still becomes the parent. */
    static const struct spec reply_first[] = {
        {0, 1, "foo", true, "<a>", NULL},
        {0, 2, "foo", false, "<b>", NULL},
    };
    EXPECT(THREAD_REFERENCES, reply_first, "(2 1)");
    /* A dummy thread takes the same-subject message as another child. */
    static const struct spec dummy[] = {
        {0, 1, "foo", true, "<b>", "<x>"},
        {0, 2, "foo", true, "<c>", "<x>"},
        {0, 3, "foo", false, "<d>", NULL},
    };
    EXPECT(THREAD_REFERENCES, dummy, "((1)(2)(3))");
    /* Two dummy threads of one subject merge their children. */
    static const struct spec dummies[] = {
        {0, 1, "foo", true, "<b>", "<x>"},
        {0, 2, "foo", true, "<c>", "<x>"},
        {0, 3, "foo", true, "<d>", "<y>"},
        {0, 4, "foo", true, "<e>", "<y>"},
    };
    EXPECT(THREAD_REFERENCES, dummies, "((1)(2)(3)(4))");
    /* Empty base subjects never merge. */
    static const struct spec empty[] = {
        {0, 1, "", false, "<a>", NULL},
        {0, 2, NULL, true, "<b>", NULL},
    };
    EXPECT(THREAD_REFERENCES, empty, "(1)(2)");
    /* Three plain messages: one dummy holds all, in date order. */
    static const struct spec three[] = {
        {0, 3, "foo", false, "<a>", NULL},
        {0, 1, "foo", false, "<b>", NULL},
        {0, 2, "foo", false, "<c>", NULL},
        {0, 0, "bar", false, "<d>", NULL},
    };
    EXPECT(THREAD_REFERENCES, three, "(4)((2)(3)(1))");
    /* Only the thread's subject counts: a reply deep in another thread
     * with the subject stays where its references put it. */
    static const struct spec deep[] = {
        {0, 1, "foo", false, "<a>", NULL},
        {0, 2, "bar", false, "<b>", NULL},
        {0, 3, "foo", true, "<c>", "<b>"},
    };
    EXPECT(THREAD_REFERENCES, deep, "(1)(2 3)");
}

/* Section 3's ORDEREDSUBJECT: grouped by subject, first message parent of
 * the rest, threads by their first message's date. */
static void test_ordered_subject(void)
{
    static const struct spec s[] = {
        {0, 5, "b", false, "<1>", NULL},
        {0, 3, "a", false, "<2>", NULL},
        {0, 1, "b", true, "<3>", NULL},
        {0, 4, "a", true, "<4>", "<2>"},
        {0, 2, "c", false, "<5>", NULL},
        {0, 6, "b", true, "<6>", "<3>"},
    };
    EXPECT(THREAD_ORDEREDSUBJECT, s, "(3 (1)(6))(5)(2 4)");
    /* References are ignored; the same date ties by sequence. */
    static const struct spec t[] = {
        {0, 9, "x", false, "<a>", "<b>"},
        {0, 9, "x", false, "<b>", NULL},
        {0, 9, "", false, "<c>", NULL},
    };
    EXPECT(THREAD_ORDEREDSUBJECT, t, "(1 2)(3)");
}

/* REFS: references only, no subject merging, threads ordered by their
 * newest message. */
static void test_refs(void)
{
    static const struct spec s[] = {
        {0, 1, "x", false, "<a>", NULL},
        {0, 2, "y", false, "<b>", NULL},
        {0, 3, "x", true, "<c>", "<a>"},
    };
    EXPECT(THREAD_REFERENCES, s, "(1 3)(2)");
    EXPECT(THREAD_REFS, s, "(2)(1 3)");
    static const struct spec subj[] = {
        {0, 1, "foo", false, "<a>", NULL},
        {0, 2, "foo", true, "<b>", NULL},
    };
    EXPECT(THREAD_REFERENCES, subj, "(1 2)");
    EXPECT(THREAD_REFS, subj, "(1)(2)");
    /* A dummy-rooted thread is placed by its newest message too. */
    static const struct spec dummy[] = {
        {0, 1, "p", true, "<b>", "<x>"},
        {0, 2, "q", false, "<q>", NULL},
        {0, 9, "r", true, "<c>", "<x>"},
    };
    EXPECT(THREAD_REFERENCES, dummy, "((1)(3))(2)");
    EXPECT(THREAD_REFS, dummy, "(2)((1)(3))");
}

/* A thread far deeper than any stack: 20000 replies each naming only
 * its parent, in order and in reverse mailbox order. */
static void test_deep_chain(void)
{
    enum { N = 20000 };
    static struct spec s[N];
    static char mids[N][16], refs[N][16];
    for (int i = 0; i < N; i++) {
        snprintf(mids[i], sizeof(mids[i]), "<%d>", i);
        snprintf(refs[i], sizeof(refs[i]), "<%d>", i - 1);
        s[i] = (struct spec){0, i, "t", i > 0, mids[i], i > 0 ? refs[i] : NULL};
    }
    char *got = run(THREAD_REFERENCES, s, N);
    CHECK(got && strncmp(got, "(1 2 3 4 ", 9) == 0);
    CHECK(got && strstr(got, " 19999 20000)") != NULL);
    CHECK(got && strchr(got + 1, '(') == NULL);
    free(got);
    /* Reverse: message k (1-based) replies to message k+1. */
    for (int i = 0; i < N; i++) {
        snprintf(mids[i], sizeof(mids[i]), "<%d>", i);
        snprintf(refs[i], sizeof(refs[i]), "<%d>", i + 1);
        s[i] = (struct spec){0, N - i, "t", i < N - 1, mids[i], i < N - 1 ? refs[i] : NULL};
    }
    got = run(THREAD_REFS, s, N);
    CHECK(got && strncmp(got, "(20000 19999 19998 ", 19) == 0);
    CHECK(got && strstr(got, " 2 1)") != NULL);
    free(got);
}

/* Only the last THREAD_MAX_REFS references count: an original named
 * only before them is not found. */
static void test_reference_cap(void)
{
    static char refs[8192];
    size_t off = (size_t)snprintf(refs, sizeof(refs), "<a>");
    for (int i = 0; i < THREAD_MAX_REFS; i++)
        off += (size_t)snprintf(refs + off, sizeof(refs) - off, " <r%d>", i);
    struct spec s[] = {
        {0, 1, "a", false, "<a>", NULL},
        {0, 2, "b", true, "<b>", refs},
    };
    EXPECT(THREAD_REFERENCES, s, "(1)(2)");
    /* Within the cap the chain is followed. */
    struct spec t[] = {
        {0, 1, "a", false, "<a>", NULL},
        {0, 2, "b", true, "<b>", "<a> <r1> <r2>"},
    };
    EXPECT(THREAD_REFERENCES, t, "(1 2)");
}

/* Many references forming cycles among dummies and messages: whatever
 * the tree, each message is printed exactly once. */
static void test_tangle(void)
{
    enum { N = 300 };
    static struct spec s[N];
    static char mids[N][16], refs[N][64];
    for (int i = 0; i < N; i++) {
        snprintf(mids[i], sizeof(mids[i]), "<%d>", i % 250);
        snprintf(refs[i], sizeof(refs[i]), "<%d> <%d> <%d> <%d>", (i * 7) % N, (i * 13 + 5) % N,
                 (i + 1) % N, (i * 3) % N);
        s[i] = (struct spec){0, (i * 37) % 11, (i % 3) ? "s" : "", i % 2, mids[i], refs[i]};
    }
    for (int alg = THREAD_ORDEREDSUBJECT; alg <= THREAD_REFS; alg++) {
        char *got = run((enum thread_alg)alg, s, N);
        int seen[N + 1] = {0};
        int depth = 0, bad = 0;
        for (const char *p = got; *p; p++) {
            if (*p == '(')
                depth++;
            else if (*p == ')')
                bad |= --depth < 0;
            else if (*p >= '0' && *p <= '9') {
                long v = strtol(p, (char **)&p, 10);
                p--;
                if (v < 1 || v > N)
                    bad = 1;
                else
                    seen[v]++;
            }
        }
        CHECK(!bad && depth == 0);
        for (int i = 1; i <= N; i++)
            CHECK(seen[i] == 1);
        free(got);
    }
}

/* RFC 5256 section 4's grammar, on our own output (small inputs: the
 * recursion is the test's, bounded by its sizes):
 *   thread-list    = "(" (thread-members / thread-nested) ")"
 *   thread-members = nz-number *(SP nz-number) [SP thread-nested]
 *   thread-nested  = 2*thread-list */
static bool g_list(const char **p, int *seen, int n);

static bool g_nested(const char **p, int *seen, int n)
{
    int k = 0;
    while (**p == '(') {
        if (!g_list(p, seen, n))
            return false;
        k++;
    }
    return k >= 2;
}

static bool g_list(const char **p, int *seen, int n)
{
    if (**p != '(')
        return false;
    (*p)++;
    if (**p == '(') {
        if (!g_nested(p, seen, n))
            return false;
    } else {
        for (;;) {
            if (**p < '1' || **p > '9')
                return false;
            char *e;
            long v = strtol(*p, &e, 10);
            if (v < 1 || v > n)
                return false;
            seen[v]++;
            *p = e;
            if (**p != ' ')
                break;
            (*p)++;
            if (**p == '(') {
                if (!g_nested(p, seen, n))
                    return false;
                break;
            }
        }
    }
    if (**p != ')')
        return false;
    (*p)++;
    return true;
}

/* Random mailboxes (seeded): ids drawn from a small pool (duplicates,
 * loops, self-references, missing parents), subjects from a few (merges),
 * dates with ties. Every answer follows the grammar and names each
 * message exactly once. */
static void test_random_grammar(void)
{
    enum { MAXN = 60, POOL = 40 };
    static char ids[POOL][16];
    static const char *subjects[] = {"", "a", "b", "c", NULL};
    for (int i = 0; i < POOL; i++)
        snprintf(ids[i], sizeof(ids[i]), "<%d@x>", i);
    unsigned seed = 12345;
#define RND(m) ((seed = seed * 1103515245u + 12345u), (int)((seed >> 16) % (unsigned)(m)))
    for (int iter = 0; iter < 400; iter++) {
        int n = 1 + RND(MAXN);
        struct thread_msg m[MAXN];
        const char *refs[MAXN][8];
        for (int i = 0; i < n; i++) {
            int nr = RND(6);
            for (int r = 0; r < nr; r++)
                refs[i][r] = ids[RND(POOL)];
            m[i] = (struct thread_msg){
                .id = (uint32_t)(i + 1), .seq = (uint32_t)(i + 1), .sent = RND(5) - 2,
                .subject = subjects[RND(5)], .is_reply = RND(2),
                .message_id = RND(8) ? ids[RND(POOL)] : NULL, .refs = refs[i], .nrefs = (size_t)nr};
        }
        for (int alg = THREAD_ORDEREDSUBJECT; alg <= THREAD_REFS; alg++) {
            struct buf out = BUF_INIT;
            thread_run((enum thread_alg)alg, m, (size_t)n, &out);
            int seen[MAXN + 1] = {0};
            const char *p = buf_cstr(&out);
            bool ok = true;
            while (ok && *p)
                ok = g_list(&p, seen, n);
            CHECK(ok);
            for (int i = 1; i <= n; i++)
                CHECK(seen[i] == 1);
            if (!ok)
                fprintf(stderr, "iter %d alg %d: %s\n", iter, alg, buf_cstr(&out));
            buf_free(&out);
        }
    }
#undef RND
}

int main(void)
{
    unit_deadline(60);
    RUN(test_alg_names);
    RUN(test_empty);
    RUN(test_rfc_section4_example);
    RUN(test_simple_chain);
    RUN(test_missing_parents);
    RUN(test_reference_loop);
    RUN(test_self_reference);
    RUN(test_duplicate_ids);
    RUN(test_no_message_id);
    RUN(test_step1b_reparent);
    RUN(test_dates);
    RUN(test_subject_merge);
    RUN(test_ordered_subject);
    RUN(test_refs);
    RUN(test_deep_chain);
    RUN(test_reference_cap);
    RUN(test_tangle);
    RUN(test_random_grammar);
    return unit_done();
}
