/* test-mime-corpus.c - every message in tests/corpus/ parses with sane
 * invariants, plus a deterministic mutation fuzz over the same corpus.
 *
 * Invariants: part ranges nest inside their parents and never overlap,
 * header+body are contiguous, depth/part limits hold, ENVELOPE and
 * BODYSTRUCTURE are well-formed IMAP (balanced lists, valid strings and
 * literals), every part is reachable by its section number, and the
 * search/decoding helpers run to completion.
 */
#include "unit.h"
#include "mime.h"
#include <dirent.h>
#include <sys/stat.h>

struct msgfile {
    char *name;
    char *data;
    size_t len;
};

static struct msgfile files[256];
static size_t nfiles;

static const char *corpus_dir(void)
{
    static char path[1024];
    const char *env = getenv("DARIUS_CORPUS");
    if (env && *env)
        return env;
    /* __FILE__ is tests/unit/test-mime-corpus.c (relative to the repo root
     * the tests run from) or absolute. */
    snprintf(path, sizeof(path), "%s", __FILE__);
    char *slash = strrchr(path, '/');
    if (slash) {
        *slash = '\0';
        strncat(path, "/../corpus", sizeof(path) - strlen(path) - 1);
    } else {
        snprintf(path, sizeof(path), "../corpus");
    }
    return path;
}

static void load_corpus(void)
{
    const char *dir = corpus_dir();
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "cannot open corpus %s\n", dir);
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) && nfiles < ARRAY_SIZE(files)) {
        size_t nl = strlen(e->d_name);
        if (nl < 5 || strcmp(e->d_name + nl - 4, ".eml") != 0)
            continue;
        char *p = xasprintf("%s/%s", dir, e->d_name);
        FILE *f = fopen(p, "rb");
        free(p);
        if (!f)
            continue;
        struct buf b = BUF_INIT;
        char tmp[4096];
        size_t n;
        while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
            buf_append(&b, tmp, n);
        fclose(f);
        files[nfiles].name = xstrdup(e->d_name);
        files[nfiles].len = b.len;
        files[nfiles].data = b.len ? buf_release(&b) : xstrdup("");
        buf_free(&b);
        nfiles++;
    }
    closedir(d);
}

/* ---------- IMAP syntax checker ---------- */

static bool imap_value(const char *s, size_t n, size_t *i, int depth);

static bool imap_list(const char *s, size_t n, size_t *i, int depth)
{
    if (depth > 200)
        return false;
    (*i)++; /* '(' */
    bool first = true;
    while (*i < n && s[*i] != ')') {
        if (!first) {
            /* items are separated by one space, except lists that follow
             * lists directly (body parts in a multipart) */
            if (s[*i] == ' ')
                (*i)++;
            else if (s[*i] != '(')
                return false;
        }
        if (!imap_value(s, n, i, depth + 1))
            return false;
        first = false;
    }
    if (*i >= n)
        return false;
    (*i)++;
    return true;
}

static bool imap_value(const char *s, size_t n, size_t *i, int depth)
{
    if (*i >= n)
        return false;
    char c = s[*i];
    if (c == '(')
        return imap_list(s, n, i, depth);
    if (c == '"') {
        (*i)++;
        while (*i < n && s[*i] != '"') {
            unsigned char u = (unsigned char)s[*i];
            if (u == '\r' || u == '\n' || u == 0 || u >= 0x80)
                return false;
            if (u == '\\') {
                if (*i + 1 >= n || (s[*i + 1] != '"' && s[*i + 1] != '\\'))
                    return false;
                (*i)++;
            }
            (*i)++;
        }
        if (*i >= n)
            return false;
        (*i)++;
        return true;
    }
    if (c == '{') {
        size_t len = 0;
        (*i)++;
        if (*i >= n || s[*i] < '0' || s[*i] > '9')
            return false;
        while (*i < n && s[*i] >= '0' && s[*i] <= '9')
            len = len * 10 + (size_t)(s[(*i)++] - '0');
        if (*i + 3 > n || s[*i] != '}' || s[*i + 1] != '\r' || s[*i + 2] != '\n')
            return false;
        *i += 3;
        if (len > n - *i)
            return false;
        *i += len;
        return true;
    }
    if (c >= '0' && c <= '9') {
        while (*i < n && s[*i] >= '0' && s[*i] <= '9')
            (*i)++;
        return true;
    }
    if (n - *i >= 3 && !memcmp(s + *i, "NIL", 3)) {
        *i += 3;
        return true;
    }
    return false;
}

static bool imap_wellformed(const struct buf *b)
{
    size_t i = 0;
    if (!b->len || b->data[0] != '(')
        return false;
    return imap_value(b->data, b->len, &i, 0) && i == b->len;
}

/* ---------- tree invariants ---------- */

struct walk {
    const struct mime_message *m;
    size_t parts;
    bool ok;
    const char *name;
};

static void fail(struct walk *w, const char *what)
{
    if (w->ok)
        fprintf(stderr, "  %s: invariant failed: %s\n", w->name, what);
    w->ok = false;
}

static void walk_part(struct walk *w, const struct mime_part *p, size_t lo, size_t hi, const char *section,
                      int depth)
{
    w->parts++;
    if (depth > 2 * MIME_MAX_DEPTH + 2)
        fail(w, "depth");
    if (p->hdr_off < lo || p->hdr_off + p->hdr_len != p->body_off || p->body_off + p->body_len > hi ||
        p->body_off > hi)
        fail(w, "offsets");
    if (!p->type || !p->subtype)
        fail(w, "type");
    if (p->nchildren && p->message)
        fail(w, "both children and message");
    if (p->nchildren > MIME_MAX_PARTS)
        fail(w, "too many children");
    if (*section && mime_find_section(w->m, section) != p)
        fail(w, "section lookup");
    size_t prev_end = p->body_off;
    for (size_t i = 0; i < p->nchildren; i++) {
        const struct mime_part *c = &p->children[i];
        if (c->hdr_off < prev_end)
            fail(w, "children overlap");
        prev_end = c->body_off + c->body_len;
        char sub[512];
        snprintf(sub, sizeof(sub), "%s%s%zu", section, *section ? "." : "", i + 1);
        if (strlen(sub) < sizeof(sub) - 12)
            walk_part(w, c, p->body_off, p->body_off + p->body_len, sub, depth + 1);
    }
    if (p->message) {
        if (p->message->hdr_off != p->body_off)
            fail(w, "message start");
        /* the encapsulated root is selected by section.1 only when it is
         * not multipart; walk its children with the section prefix */
        const struct mime_part *r = p->message;
        size_t plo = p->body_off, phi = p->body_off + p->body_len;
        if (r->nchildren) {
            w->parts++;
            if (r->hdr_off + r->hdr_len != r->body_off || r->body_off + r->body_len > phi)
                fail(w, "inner offsets");
            size_t pe = r->body_off;
            for (size_t i = 0; i < r->nchildren; i++) {
                if (r->children[i].hdr_off < pe)
                    fail(w, "inner overlap");
                pe = r->children[i].body_off + r->children[i].body_len;
                char sub[512];
                snprintf(sub, sizeof(sub), "%s%s%zu", section, *section ? "." : "", i + 1);
                if (strlen(sub) < sizeof(sub) - 12)
                    walk_part(w, &r->children[i], r->body_off, r->body_off + r->body_len, sub, depth + 2);
            }
        } else {
            char sub[512];
            snprintf(sub, sizeof(sub), "%s%s1", section, *section ? "." : "");
            if (strlen(sub) < sizeof(sub) - 12)
                walk_part(w, r, plo, phi, sub, depth + 1);
            else
                w->parts++;
        }
    }
}

static bool check_message(const char *name, const char *data, size_t len)
{
    struct mime_message *m = mime_parse(data, len);
    struct walk w = {m, 0, true, name};
    /* A non-multipart root is its own part 1 (RFC 9051 6.4.5). */
    walk_part(&w, &m->root, 0, len, m->root.nchildren ? "" : "1", 0);
    if (m->root.hdr_off != 0 || m->root.body_off + m->root.body_len != len)
        fail(&w, "root covers message");
    if (w.parts > 2 * MIME_MAX_PARTS + 10)
        fail(&w, "part count");
    if (!m->root.nchildren && mime_find_section(m, "1") != &m->root)
        fail(&w, "section 1 of single part");

    struct buf b = BUF_INIT;
    mime_write_bodystructure(&b, data, &m->root, true);
    if (!imap_wellformed(&b))
        fail(&w, "BODYSTRUCTURE syntax");
    buf_reset(&b);
    mime_write_bodystructure(&b, data, &m->root, false);
    if (!imap_wellformed(&b))
        fail(&w, "BODY syntax");
    buf_reset(&b);
    mime_write_envelope(&b, data, &m->root);
    if (!imap_wellformed(&b))
        fail(&w, "ENVELOPE syntax");
    buf_reset(&b);
    mime_search_text_body(&b, m);
    buf_reset(&b);
    static const char *const names[] = {"subject", "from", "content-type"};
    mime_header_filter(&b, data, m->root.hdr_len, names, 3, false);
    if (b.len < 2 || memcmp(b.data + b.len - 2, "\r\n", 2) != 0)
        fail(&w, "header filter end");
    buf_reset(&b);
    mime_header_filter(&b, data, m->root.hdr_len, names, 3, true);
    char *subj = mime_header_get(data, m->root.hdr_len, "subject");
    if (subj) {
        buf_reset(&b);
        mime_decode_header_utf8(&b, subj, strlen(subj));
        free(subj);
    }
    char *date = mime_header_get(data, m->root.hdr_len, "date");
    if (date) {
        int64_t t;
        int tz;
        (void)mime_parse_date(date, &t, &tz);
        free(date);
    }
    /* decode every leaf */
    for (size_t i = 0; i < m->root.nchildren; i++) {
        const struct mime_part *c = &m->root.children[i];
        buf_reset(&b);
        (void)mime_decode_transfer(c->encoding, data + c->body_off, c->body_len, &b);
    }
    buf_free(&b);
    mime_free(m);
    return w.ok;
}

static void test_corpus_invariants(void)
{
    CHECK(nfiles >= 15);
    for (size_t i = 0; i < nfiles; i++)
        CHECK(check_message(files[i].name, files[i].data, files[i].len));
}

static const struct msgfile *find_file(const char *name)
{
    for (size_t i = 0; i < nfiles; i++)
        if (!strcmp(files[i].name, name))
            return &files[i];
    fprintf(stderr, "corpus file %s missing\n", name);
    return NULL;
}

static char *bs_of(const char *name, bool ext)
{
    const struct msgfile *f = find_file(name);
    if (!f)
        return xstrdup("");
    struct mime_message *m = mime_parse(f->data, f->len);
    struct buf b = BUF_INIT;
    mime_write_bodystructure(&b, f->data, &m->root, ext);
    mime_free(m);
    return buf_release(&b);
}

static char *env_of(const char *name)
{
    const struct msgfile *f = find_file(name);
    if (!f)
        return xstrdup("");
    struct mime_message *m = mime_parse(f->data, f->len);
    struct buf b = BUF_INIT;
    mime_write_envelope(&b, f->data, &m->root);
    mime_free(m);
    return buf_release(&b);
}

#define CHECK_HAS(hay, needle)                                                                     \
    do {                                                                                           \
        if (!strstr(hay, needle)) {                                                                \
            fprintf(stderr, "  missing: %s\n  in: %s\n", needle, hay);                             \
            CHECK(!"substring");                                                                   \
        }                                                                                          \
    } while (0)

static void test_corpus_expected(void)
{
    char *s = bs_of("thunderbird-alternative-attachment.eml", true);
    CHECK_HAS(s, "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"UTF-8\" \"FORMAT\" \"flowed\") NIL NIL \"8BIT\" ");
    CHECK_HAS(s, "(\"ATTACHMENT\" (\"FILENAME*\" \"UTF-8''%51%31%20%72%65%70%6F%72%74%20%E2%82%AC.pdf\"))");
    CHECK_HAS(s, "\"ALTERNATIVE\" (\"BOUNDARY\" \"------------Kq3uK0pZt7mLw2nB9yVf1sXc\") NIL NIL NIL)");
    CHECK_HAS(s, "\"MIXED\" (\"BOUNDARY\" \"------------0gJPk3XnY1qLx5Q0pVd8rT2A\") NIL \"en-US\" NIL)");
    free(s);
    s = env_of("thunderbird-alternative-attachment.eml");
    CHECK_HAS(s, "((\"Bob Example\" NIL \"bob\" \"example.net\"))");
    free(s);

    s = bs_of("calendar-invite.eml", false);
    CHECK_HAS(s, "(\"TEXT\" \"CALENDAR\" (\"CHARSET\" \"UTF-8\" \"METHOD\" \"REQUEST\") NIL NIL \"7BIT\" ");
    CHECK_HAS(s, "(\"APPLICATION\" \"ICS\" (\"NAME\" \"invite.ics\") NIL NIL \"BASE64\" ");
    free(s);
    s = env_of("calendar-invite.eml");
    CHECK_HAS(s, "((\"Google Calendar\" NIL \"calendar-notification\" \"google.com\")) "
                 "((NIL NIL \"heidi\" \"example.com\")) ((NIL NIL \"ivan\" \"example.net\")) NIL NIL NIL");
    free(s);

    s = bs_of("forwarded-rfc822.eml", false);
    CHECK_HAS(s, "(\"MESSAGE\" \"RFC822\" (\"NAME\" \"Lunch.eml\") NIL NIL \"7BIT\" ");
    CHECK_HAS(s, "\"Lunch?\" ((\"Oscar\" NIL \"oscar\" \"example.com\"))");
    CHECK_HAS(s, "\"<earlier@example.org>\" \"<lunch-1@example.com>\")");
    free(s);

    s = bs_of("digest.eml", false);
    CHECK_HAS(s, "(\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" ");
    CHECK_HAS(s, "\"DIGEST\")");
    CHECK_HAS(s, "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"iso-8859-1\") NIL NIL \"QUOTED-PRINTABLE\" 18 1)");
    free(s);

    s = env_of("group-addresses.eml");
    CHECK_HAS(s, "((NIL NIL \"Sales Team\" NIL)(NIL NIL \"alpha\" \"example.com\")(\"Beta\" NIL \"beta\" "
                 "\"example.com\")(NIL NIL NIL NIL)(NIL NIL \"undisclosed-recipients\" NIL)(NIL NIL NIL NIL))");
    CHECK_HAS(s, "((NIL \"@relay.example.com\" \"route\" \"example.com\"))");
    CHECK_HAS(s, "((NIL NIL \"nobody\" \"MISSING_DOMAIN\"))");
    CHECK_HAS(s, "(\"Ursula (Sales)\" NIL \"ursula\" \"example.com\")");
    free(s);

    s = bs_of("encoded-rfc822-base64.eml", false);
    CHECK_HAS(s, "(\"APPLICATION\" \"OCTET-STREAM\" NIL NIL NIL \"BASE64\" ");
    free(s);

    s = bs_of("global-utf8-headers.eml", false);
    CHECK_HAS(s, "(\"MESSAGE\" \"GLOBAL\" NIL NIL NIL \"7BIT\" ");
    CHECK_HAS(s, "{17}\r\ninner \xc3\xbcn\xc3\xaf" "c\xc3\xb6" "d\xc3\xa9");
    free(s);

    s = bs_of("malformed-missing-close.eml", false);
    CHECK_HAS(s, "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 27 0) \"ALTERNATIVE\")");
    CHECK_HAS(s, "(\"TEXT\" \"PLAIN\" NIL NIL NIL \"7BIT\" 39 2) \"MIXED\")");
    free(s);

    /* Search text of the Outlook message: QP + Latin-1 decoded, HTML stripped. */
    const struct msgfile *f = find_file("outlook-related-inline-image.eml");
    if (f) {
        struct mime_message *m = mime_parse(f->data, f->len);
        struct buf b = BUF_INIT;
        mime_search_text_body(&b, m);
        CHECK(mime_utf8_contains_ci(b.data, b.len, "N\xc3\x84" "CHSTE WOCHE", 13));
        CHECK(mime_utf8_contains_ci(b.data, b.len, "bringt eure", 11));
        CHECK(!mime_utf8_contains_ci(b.data, b.len, "MsoNormal", 9));
        buf_free(&b);
        mime_free(m);
    }
}

/* ---------- mutation fuzz ---------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

static void mutate(struct buf *b)
{
    static const char *const snippets[] = {
        "\r\n", "\n", "\r\n\r\n", "--", "--b\r\n", "\r\n--", "Content-Type: multipart/mixed; boundary=b\r\n",
        "Content-Type: message/rfc822\r\n\r\n", "=?utf-8?q?", "?=", "=?gb2312?b?", "(", ")", "\"", "\\",
        "<", ">", "@", ":", ";", ",", "*0*=", "''%", "=\r\n", "=4", "\xff\xfe", "\0",
        "Content-Transfer-Encoding: base64\r\n", " ", "\t",
    };
    int nmut = 1 + (int)(rnd() % 6);
    for (int k = 0; k < nmut; k++) {
        size_t pos = b->len ? (size_t)(rnd() % (b->len + 1)) : 0;
        switch (rnd() % 6) {
        case 0: /* flip a byte */
            if (b->len)
                b->data[pos % b->len] ^= (char)(1 + rnd() % 255);
            break;
        case 1: { /* insert a snippet */
            const char *s = snippets[rnd() % ARRAY_SIZE(snippets)];
            size_t sl = s[0] ? strlen(s) : 1;
            struct buf n = BUF_INIT;
            buf_append(&n, b->data, pos);
            buf_append(&n, s, sl);
            buf_append(&n, b->data + pos, b->len - pos);
            buf_free(b);
            *b = n;
            break;
        }
        case 2: { /* delete a range */
            size_t l = (size_t)(rnd() % 64);
            if (pos + l > b->len)
                l = b->len - pos;
            memmove(b->data + pos, b->data + pos + l, b->len - pos - l);
            buf_truncate(b, b->len - l);
            break;
        }
        case 3: { /* duplicate a range */
            size_t l = (size_t)(rnd() % 200);
            if (pos + l > b->len)
                l = b->len - pos;
            struct buf n = BUF_INIT;
            buf_append(&n, b->data, pos + l);
            buf_append(&n, b->data + pos, l);
            buf_append(&n, b->data + pos + l, b->len - pos - l);
            buf_free(b);
            *b = n;
            break;
        }
        case 4: /* truncate */
            if (rnd() % 4 == 0)
                buf_truncate(b, pos);
            break;
        default: /* replace a line end by a bare LF */
            if (pos + 1 < b->len && b->data[pos] == '\r')
                b->data[pos] = ' ';
            break;
        }
    }
}

static void test_fuzz(void)
{
    if (!nfiles)
        return;
    const char *it = getenv("DARIUS_FUZZ_ITERATIONS");
    long iters = it ? atol(it) : 3000;
    const char *seed = getenv("DARIUS_FUZZ_SEED");
    if (seed && strtoull(seed, NULL, 10))
        rng_state = strtoull(seed, NULL, 10);
    long bad = 0;
    for (long i = 0; i < iters; i++) {
        const struct msgfile *f = &files[rnd() % nfiles];
        struct buf b = BUF_INIT;
        buf_append(&b, f->data, f->len);
        mutate(&b);
        /* Exact-size heap copy so ASan catches any read past the end. */
        char *copy = xmalloc(b.len ? b.len : 1);
        if (b.len)
            memcpy(copy, b.data, b.len);
        char name[300];
        snprintf(name, sizeof(name), "%s (mutation %ld)", f->name, i);
        if (!check_message(name, copy, b.len))
            bad++;
        free(copy);
        buf_free(&b);
    }
    CHECK_INT(bad, 0);
}

/* ---------- generated well-formed trees ---------- */

static int gen_boundary_counter;

static void gen_part(struct buf *msg, struct buf *exp, int depth)
{
    int kind = depth >= 4 ? 0 : (int)(rnd() % 4);
    if (kind <= 1) {
        buf_puts(msg, rnd() % 2 ? "Content-Type: text/plain; charset=utf-8\r\n\r\n" : "\r\n");
        int lines = (int)(rnd() % 4);
        for (int i = 0; i < lines; i++)
            buf_printf(msg, "line %d -- not a boundary\r\n", i);
        buf_puts(exp, "T");
    } else if (kind == 2) {
        int b = gen_boundary_counter++;
        buf_printf(msg, "Content-Type: multipart/mixed; boundary=\"=_b%d\"\r\n\r\n", b);
        if (rnd() % 2)
            buf_puts(msg, "preamble text\r\n");
        int n = 1 + (int)(rnd() % 4);
        buf_putc(exp, '(');
        for (int i = 0; i < n; i++) {
            buf_printf(msg, "--=_b%d\r\n", b);
            gen_part(msg, exp, depth + 1);
            buf_puts(msg, "\r\n");
        }
        buf_printf(msg, "--=_b%d--\r\n", b);
        if (rnd() % 2)
            buf_puts(msg, "epilogue\r\n");
        buf_putc(exp, ')');
    } else {
        buf_puts(msg, "Content-Type: message/rfc822\r\n\r\nSubject: inner\r\n");
        buf_puts(exp, "M[");
        gen_part(msg, exp, depth + 1);
        buf_putc(exp, ']');
    }
}

static void describe(const struct mime_part *p, struct buf *out)
{
    if (p->nchildren) {
        buf_putc(out, '(');
        for (size_t i = 0; i < p->nchildren; i++)
            describe(&p->children[i], out);
        buf_putc(out, ')');
    } else if (p->message) {
        buf_puts(out, "M[");
        describe(p->message, out);
        buf_putc(out, ']');
    } else {
        buf_putc(out, 'T');
    }
}

static void test_generated(void)
{
    int bad = 0;
    for (int i = 0; i < 500; i++) {
        struct buf msg = BUF_INIT, exp = BUF_INIT, got = BUF_INIT;
        buf_puts(&msg, "From: gen@example.com\r\nMIME-Version: 1.0\r\n");
        gen_part(&msg, &exp, 0);
        struct mime_message *m = mime_parse(msg.data, msg.len);
        describe(&m->root, &got);
        if (strcmp(buf_cstr(&exp), buf_cstr(&got)) != 0) {
            if (bad++ < 3)
                fprintf(stderr, "  generated %d: want %s got %s\n", i, buf_cstr(&exp), buf_cstr(&got));
        }
        mime_free(m);
        if (!check_message("generated", msg.data, msg.len))
            bad++;
        buf_free(&msg);
        buf_free(&exp);
        buf_free(&got);
    }
    CHECK_INT(bad, 0);
}

int main(void)
{
    load_corpus();
    RUN(test_corpus_invariants);
    RUN(test_corpus_expected);
    RUN(test_fuzz);
    RUN(test_generated);
    for (size_t i = 0; i < nfiles; i++) {
        free(files[i].name);
        free(files[i].data);
    }
    return unit_done();
}
