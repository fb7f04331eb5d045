/* fuzz-imap-parser.c - the IMAP tokenizer (imap-parser.c) and the small
 * grammars built on it: flag lists as STORE and APPEND take them
 * (imap_parse_flags), STATUS items, sequence sets (with membership
 * queries), dates and date-times, LIST patterns.
 *
 * Input: byte 0 = flags (bit 0: UTF-8 allowed in quoted strings, as after
 * ENABLE UTF8=ACCEPT / IMAP4rev2), byte 1 = the number n of operation
 * bytes that follow (0..15), then n operation bytes, then the command text
 * as the reader would hand it over (literals inline: "{N}\r\n" + N bytes).
 * The operations are applied in a cycle until one fails or the text is
 * consumed. Checked besides the sanitizers: the cursor stays inside the
 * text and never moves back, tokens lie inside the text, atoms are atoms,
 * nz-numbers are not 0 and accepted sequence sets hold no 0. */
#include "support.h"
#include "imap.h"
#include "imap-fetch.h"

struct tp {
    struct imap_cmd cmd;
    struct imap_parser ps;
};

static void tp_init(struct tp *t, const uint8_t *data, size_t len, bool utf8)
{
    memset(t, 0, sizeof(*t));
    fuzz_imap_cmd_init(&t->cmd, &t->ps, data, len, utf8);
}

static void tp_free(struct tp *t)
{
    fuzz_imap_cmd_free(&t->cmd);
}

static void check(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz-imap-parser: invariant violated: %s\n", what);
        abort();
    }
}

static bool in_text(const struct tp *t, const char *p)
{
    const char *s = t->cmd.ct.text.data;
    return p >= s && p <= s + t->cmd.ct.text.len;
}

/* One operation; false when it failed (or the text ended). */
static bool op(struct tp *t, uint8_t code)
{
    struct imap_parser *ps = &t->ps;
    struct imap_cmd *cmd = &t->cmd;
    const char *a;
    struct imap_str s;
    bool ok = false, nil;
    uint32_t u;
    uint64_t u64;
    int64_t tm;
    int tz;
    switch (code % 22) {
    case 0: ok = imap_p_sp(ps); break;
    case 1: ok = imap_p_char(ps, "()[]<>.{}*%\\\" "[(code >> 5) % 15]); break;
    case 2:
        a = imap_p_atom(ps, cmd);
        ok = a != NULL;
        if (a) {
            check(*a != '\0', "empty atom");
            for (const char *x = a; *x; x++)
                check(imap_is_atom_char((unsigned char)*x), "atom with a non-atom character");
        }
        break;
    case 3: ok = imap_p_astring_chars(ps, cmd) != NULL; break;
    case 4: case 5: case 6:
        memset(&s, 0, sizeof(s));
        if (code % 22 == 4)
            ok = imap_p_string(ps, cmd, &s);
        else if (code % 22 == 5)
            ok = imap_p_astring(ps, cmd, &s);
        else
            ok = imap_p_nstring(ps, cmd, &s, &nil);
        if (ok && s.literal)
            check(s.s && in_text(t, s.s) && in_text(t, s.s + s.len), "literal outside the text");
        if (ok && !s.literal && s.len)
            check(s.s != NULL, "string without data");
        break;
    case 7: ok = imap_p_astring_cstr(ps, cmd) != NULL; break;
    case 8: ok = imap_p_number(ps, &u); break;
    case 9:
        ok = imap_p_nznumber(ps, &u);
        check(!ok || u != 0, "nz-number 0");
        break;
    case 10: ok = imap_p_number64(ps, &u64); break;
    case 11: {
        struct seqset set = {0};
        ok = imap_p_seqset(ps, &set);
        if (ok && !set.dollar) {
            check(set.n > 0, "empty sequence set accepted");
            for (size_t i = 0; i < set.n; i++)
                check(set.star || (set.r[i].lo && set.r[i].hi), "0 in a sequence set");  /* 0 is SEQ_STAR */
            (void)seqset_contains(&set, 1, 1);
            (void)seqset_contains(&set, code, 1000);
            (void)seqset_contains(&set, UINT32_MAX, UINT32_MAX);
        }
        seqset_free(&set);
        break;
    }
    case 12: {
        char *f = NULL;
        ok = imap_p_flag(ps, cmd, &f);
        check(!ok || (f && *f), "empty flag");
        break;
    }
    case 13: ok = imap_p_date(ps, &tm); break;
    case 14: ok = imap_p_datetime(ps, &tm, &tz); break;
    case 15: ok = imap_p_list_mailbox(ps, cmd) != NULL; break;
    case 16: {
        unsigned items = 0;
        ok = imap_p_status_items(ps, cmd, &items);
        break;
    }
    case 17: case 18: {
        /* STORE: "(flags)" or "flags"; APPEND: "(flags)" */
        uint32_t flags = 0;
        struct buf kw = BUF_INIT;
        const char *err = NULL;
        ok = imap_parse_flags(ps, cmd, code % 22 == 17, &flags, &kw, &err);
        check(ok || err != NULL, "imap_parse_flags failed without a reason");
        buf_free(&kw);
        break;
    }
    case 19: ok = imap_p_peek(ps, "( )"[(code >> 5) % 3]); break;
    case 20: ok = !imap_p_end(ps); break;
    default: {
        /* a tag as the reader checks it */
        size_t n = (size_t)(ps->end - ps->p);
        (void)imap_valid_tag(ps->p, n > IMAP_MAX_TAG + 8 ? IMAP_MAX_TAG + 8 : n);
        ok = imap_p_sp(ps) || imap_p_char(ps, 'x');
        break;
    }
    }
    return ok;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet("fuzz-imap-parser");
    fuzz_config(NULL);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    bool utf8 = data[0] & 1;
    size_t nops = data[1] % 16;
    if (size < 2 + nops)
        return 0;
    const uint8_t *ops = data + 2;
    const uint8_t *text = data + 2 + nops;
    size_t len = size - 2 - nops;
    static const uint8_t default_ops[] = {2, 0, 5, 0, 11, 0, 17};
    if (nops == 0) {
        ops = default_ops;
        nops = sizeof(default_ops);
    }

    struct tp t;
    tp_init(&t, text, len, utf8);
    const char *prev = t.ps.p;
    for (size_t i = 0; i < 256; i++) {
        bool ok = op(&t, ops[i % nops]);
        check(in_text(&t, t.ps.p), "cursor outside the text");
        check(t.ps.p >= prev, "cursor moved backwards");
        prev = t.ps.p;
        if (!ok || t.ps.p >= t.ps.end)
            break;
    }
    tp_free(&t);
    return 0;
}
