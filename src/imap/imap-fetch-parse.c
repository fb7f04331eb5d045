/* imap-fetch-parse.c - FETCH attribute list parsing into struct fetch_req
 * (RFC 9051 6.4.5 and 9 "fetch-att", RFC 3516 BINARY, RFC 7162
 * CHANGEDSINCE/VANISHED, RFC 8514 SAVEDATE, RFC 8474 EMAILID/THREADID).
 * Kept apart from execution (imap-cmd-fetch.c) for unit tests.
 */
#include "imap-fetch.h"
#include "imap-search.h"

#include <strings.h>
#include <ctype.h>
#include <time.h>

#define FETCH_MAX_ITEMS 200

static int peekc(const struct imap_parser *ps)
{
    return ps->p < ps->end ? (unsigned char)*ps->p : -1;
}

/* Letters, digits and '.': item names and section keywords. Returns the
 * length (0 if none), advancing ps. */
static size_t read_word(struct imap_parser *ps, char *out, size_t outsz)
{
    size_t n = 0;
    while (ps->p < ps->end && (isalnum((unsigned char)*ps->p) || *ps->p == '.')) {
        if (n + 1 >= outsz)
            return 0;
        out[n++] = (char)toupper((unsigned char)*ps->p);
        ps->p++;
    }
    out[n] = '\0';
    return n;
}

static void free_section(struct fetch_section *sec)
{
    for (size_t i = 0; i < sec->nfields; i++)
        free(sec->fields[i]);
    free(sec->fields);
    sec->fields = NULL;
    sec->nfields = 0;
}

void fetch_req_free(struct fetch_req *req)
{
    for (size_t i = 0; i < req->nitems; i++) {
        free_section(&req->items[i].sec);
        free(req->items[i].name);
    }
    free(req->items);
    req->items = NULL;
    req->nitems = 0;
}

static bool valid_field_name(const char *s, size_t len)
{
    if (len == 0 || len > 200)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 32 || c >= 127 || c == ':')
            return false;
    }
    return true;
}

bool fetch_parse_section(struct imap_parser *ps, struct imap_cmd *cmd, bool binary, struct fetch_section *sec,
                         const char **err)
{
    memset(sec, 0, sizeof(*sec));
    sec->kind = SEC_ALL;
    size_t plen = 0;
    int depth = 0;
    /* section-part: nz-number *("." nz-number) */
    while (peekc(ps) >= '0' && peekc(ps) <= '9') {
        uint32_t n = 0;
        if (*ps->p == '0') {
            *err = "Section part numbers start at 1";
            return false;
        }
        while (peekc(ps) >= '0' && peekc(ps) <= '9') {
            if (n > 100000000u) {
                *err = "Section part number too large";
                return false;
            }
            n = n * 10 + (uint32_t)(*ps->p - '0');
            ps->p++;
        }
        if (++depth > FETCH_MAX_PART_DEPTH) {
            *err = "Section nested too deeply";
            return false;
        }
        plen += (size_t)snprintf(sec->part + plen, sizeof(sec->part) - plen, "%s%u", plen ? "." : "", n);
        if (peekc(ps) == '.') {
            ps->p++;
            if (!(peekc(ps) >= '0' && peekc(ps) <= '9')) {
                if (!isalpha(peekc(ps))) {
                    *err = "Invalid section";
                    return false;
                }
                break;  /* a section-msgtext / MIME keyword follows */
            }
        } else if (peekc(ps) != ']') {
            *err = "Invalid section";
            return false;
        }
    }
    if (peekc(ps) != ']') {
        char word[32];
        if (binary) {
            *err = "BINARY takes only part numbers";
            return false;
        }
        if (read_word(ps, word, sizeof(word)) == 0) {
            *err = "Invalid section";
            return false;
        }
        if (strcmp(word, "HEADER") == 0)
            sec->kind = SEC_HEADER;
        else if (strcmp(word, "HEADER.FIELDS") == 0)
            sec->kind = SEC_HEADER_FIELDS;
        else if (strcmp(word, "HEADER.FIELDS.NOT") == 0)
            sec->kind = SEC_HEADER_FIELDS_NOT;
        else if (strcmp(word, "TEXT") == 0)
            sec->kind = SEC_TEXT;
        else if (strcmp(word, "MIME") == 0 && depth > 0)
            sec->kind = SEC_MIME;
        else {
            *err = depth > 0 || strcmp(word, "MIME") != 0 ? "Unknown section text" : "MIME needs a part number";
            return false;
        }
        if (sec->kind == SEC_HEADER_FIELDS || sec->kind == SEC_HEADER_FIELDS_NOT) {
            if (!imap_p_sp(ps) || !imap_p_char(ps, '(')) {
                *err = "HEADER.FIELDS needs a list of field names";
                return false;
            }
            for (;;) {
                struct imap_str name;
                if (!imap_p_astring(ps, cmd, &name) || name.file || !valid_field_name(name.s, name.len)) {
                    *err = "Invalid header field name";
                    free_section(sec);
                    return false;
                }
                if (sec->nfields >= FETCH_MAX_FIELDS) {
                    *err = "Too many header field names";
                    free_section(sec);
                    return false;
                }
                sec->fields = xrealloc(sec->fields, (sec->nfields + 1) * sizeof(char *));
                sec->fields[sec->nfields++] = xstrndup(name.s, name.len);
                if (imap_p_char(ps, ')'))
                    break;
                if (!imap_p_sp(ps)) {
                    *err = "Expected SP or ')' in header field list";
                    free_section(sec);
                    return false;
                }
            }
        }
    }
    if (!imap_p_char(ps, ']')) {
        *err = "Missing ']' after section";
        free_section(sec);
        return false;
    }
    return true;
}

static bool field_is_atom(const char *s)
{
    for (; *s; s++)
        if (strchr("(){%*\"\\]", *s))
            return false;
    return true;
}

void fetch_section_write(struct buf *b, const struct fetch_section *sec)
{
    static const char *const kw[] = {"", "HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT", "TEXT", "MIME"};
    buf_puts(b, sec->part);
    if (sec->kind != SEC_ALL) {
        if (sec->part[0])
            buf_putc(b, '.');
        buf_puts(b, kw[sec->kind]);
    }
    if (sec->kind == SEC_HEADER_FIELDS || sec->kind == SEC_HEADER_FIELDS_NOT) {
        buf_puts(b, " (");
        for (size_t i = 0; i < sec->nfields; i++) {
            if (i)
                buf_putc(b, ' ');
            if (field_is_atom(sec->fields[i])) {
                buf_puts(b, sec->fields[i]);
            } else {
                /* Field names are printable ASCII without ':'; only '"'
                 * and '\' need escaping inside a quoted string. */
                buf_putc(b, '"');
                for (const char *p = sec->fields[i]; *p; p++) {
                    if (*p == '"' || *p == '\\')
                        buf_putc(b, '\\');
                    buf_putc(b, *p);
                }
                buf_putc(b, '"');
            }
        }
        buf_putc(b, ')');
    }
}

void fetch_partial_slice(size_t len, bool partial, uint64_t offset, uint64_t count, size_t *start, size_t *n)
{
    if (!partial) {
        *start = 0;
        *n = len;
        return;
    }
    /* Compare before subtracting and never add offset + count: both may be
     * up to 2^63-1, far beyond any message. */
    if (offset >= (uint64_t)len) {
        *start = len;
        *n = 0;
        return;
    }
    uint64_t left = (uint64_t)len - offset;
    *start = (size_t)offset;
    *n = (size_t)(count < left ? count : left);
}

void imap_format_datetime(struct buf *b, int64_t t, int tz_minutes)
{
    static const char *const mon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    if (tz_minutes < -24 * 60 || tz_minutes > 24 * 60)
        tz_minutes = 0;
    time_t local = (time_t)(t + (int64_t)tz_minutes * 60);
    struct tm tm;
    if (!gmtime_r(&local, &tm)) {
        local = 0;
        gmtime_r(&local, &tm);
        tz_minutes = 0;
    }
    int a = tz_minutes < 0 ? -tz_minutes : tz_minutes;
    buf_printf(b, "%02d-%s-%04d %02d:%02d:%02d %c%02d%02d", tm.tm_mday, mon[tm.tm_mon % 12],
               tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec, tz_minutes < 0 ? '-' : '+', a / 60,
               a % 60);
}

static struct fetch_item *add_item(struct fetch_req *req, enum fetch_item_type type, const char *name)
{
    req->items = xrealloc(req->items, (req->nitems + 1) * sizeof(*req->items));
    struct fetch_item *it = &req->items[req->nitems++];
    memset(it, 0, sizeof(*it));
    it->type = type;
    it->name = name ? xstrdup(name) : NULL;
    return it;
}

static bool parse_partial(struct imap_parser *ps, struct fetch_item *it, const char **err)
{
    if (!imap_p_char(ps, '<'))
        return true;
    /* RFC 9051 9: partial = "<" number64 "." nz-number64 ">" (RFC 3501 had
     * 32-bit numbers; accepting the wider form from IMAP4rev1 clients is
     * harmless). */
    if (!imap_p_number64(ps, &it->offset) || !imap_p_char(ps, '.') || !imap_p_number64(ps, &it->count) ||
        it->count == 0 || !imap_p_char(ps, '>')) {
        *err = "Invalid partial range (expected <offset.count>)";
        return false;
    }
    it->partial = true;
    return true;
}

static void item_name(struct fetch_item *it, const char *base)
{
    struct buf b = BUF_INIT;
    buf_printf(&b, "%s[", base);
    fetch_section_write(&b, &it->sec);
    buf_putc(&b, ']');
    if (it->partial)
        buf_printf(&b, "<%llu>", (unsigned long long)it->offset);
    free(it->name);
    it->name = buf_release(&b);
}

static bool parse_att(struct imap_parser *ps, struct imap_cmd *cmd, struct fetch_req *req, bool macros_ok,
                      const char **err)
{
    char word[32];
    if (req->nitems >= FETCH_MAX_ITEMS) {
        *err = "Too many FETCH items";
        return false;
    }
    if (read_word(ps, word, sizeof(word)) == 0) {
        *err = "Invalid FETCH item";
        return false;
    }
    static const struct { const char *n; enum fetch_item_type t; } simple[] = {
        {"ENVELOPE", FI_ENVELOPE},       {"FLAGS", FI_FLAGS},           {"INTERNALDATE", FI_INTERNALDATE},
        {"RFC822.SIZE", FI_RFC822_SIZE}, {"UID", FI_UID},               {"BODYSTRUCTURE", FI_BODYSTRUCTURE},
        {"MODSEQ", FI_MODSEQ},           {"SAVEDATE", FI_SAVEDATE},     {"EMAILID", FI_EMAILID},
        {"THREADID", FI_THREADID},
    };
    for (size_t i = 0; i < ARRAY_SIZE(simple); i++) {
        if (strcmp(word, simple[i].n) == 0) {
            add_item(req, simple[i].t, simple[i].n);
            return true;
        }
    }
    if (macros_ok && (strcmp(word, "ALL") == 0 || strcmp(word, "FAST") == 0 || strcmp(word, "FULL") == 0)) {
        add_item(req, FI_FLAGS, "FLAGS");
        add_item(req, FI_INTERNALDATE, "INTERNALDATE");
        add_item(req, FI_RFC822_SIZE, "RFC822.SIZE");
        if (word[1] != 'A')
            add_item(req, FI_ENVELOPE, "ENVELOPE");
        if (word[1] == 'U')
            add_item(req, FI_BODY, "BODY");
        return true;
    }
    if (strcmp(word, "PREVIEW") == 0) {
        /* RFC 8970 6: "PREVIEW" [SP "(" preview-mod *(SP preview-mod) ")"],
         * preview-mod = "LAZY". Outside a list "PREVIEW (" may also be the
         * FETCH modifiers: a list whose first word is not LAZY is left to
         * them. */
        struct fetch_item *it = add_item(req, FI_PREVIEW, "PREVIEW");
        const char *save = ps->p;
        char mod[32];
        if (imap_p_sp(ps) && imap_p_char(ps, '(') && read_word(ps, mod, sizeof(mod)) && strcmp(mod, "LAZY") == 0) {
            it->lazy = true;
            for (;;) {
                if (imap_p_char(ps, ')'))
                    break;
                if (!imap_p_sp(ps) || read_word(ps, mod, sizeof(mod)) == 0 || strcmp(mod, "LAZY") != 0) {
                    *err = "Invalid PREVIEW modifier (expected LAZY)";
                    return false;
                }
            }
        } else {
            ps->p = save;
            if (macros_ok || peekc(ps) != ' ')
                return true;
            /* inside a list: "PREVIEW (" is only a preview-mod list */
            if (ps->p + 1 < ps->end && ps->p[1] == '(') {
                *err = "Invalid PREVIEW modifier (expected LAZY)";
                return false;
            }
        }
        return true;
    }
    if (strcmp(word, "RFC822") == 0 || strcmp(word, "RFC822.HEADER") == 0 || strcmp(word, "RFC822.TEXT") == 0) {
        struct fetch_item *it = add_item(req, FI_SECTION, word);
        it->sec.kind = word[6] == '\0' ? SEC_ALL : word[7] == 'H' ? SEC_HEADER : SEC_TEXT;
        it->peek = it->sec.kind == SEC_HEADER;   /* RFC822.HEADER is BODY.PEEK[HEADER] */
        return true;
    }
    bool body = strcmp(word, "BODY") == 0, bodypeek = strcmp(word, "BODY.PEEK") == 0;
    bool bin = strcmp(word, "BINARY") == 0, binpeek = strcmp(word, "BINARY.PEEK") == 0;
    bool binsize = strcmp(word, "BINARY.SIZE") == 0;
    if (body && peekc(ps) != '[') {
        add_item(req, FI_BODY, "BODY");
        return true;
    }
    if (body || bodypeek || bin || binpeek || binsize) {
        if (!imap_p_char(ps, '[')) {
            *err = "Missing '[' after BODY.PEEK / BINARY";
            return false;
        }
        struct fetch_item *it = add_item(req, body || bodypeek ? FI_SECTION : binsize ? FI_BINARY_SIZE : FI_BINARY,
                                         NULL);
        it->peek = bodypeek || binpeek || binsize;
        if (!fetch_parse_section(ps, cmd, !(body || bodypeek), &it->sec, err))
            return false;
        if (!binsize && !parse_partial(ps, it, err))
            return false;
        item_name(it, body || bodypeek ? "BODY" : binsize ? "BINARY.SIZE" : "BINARY");
        return true;
    }
    *err = "Unknown FETCH item";
    return false;
}

static bool parse_modifiers(struct imap_parser *ps, struct fetch_req *req, const char **err)
{
    if (!imap_p_char(ps, '(')) {
        *err = "Expected FETCH modifier list";
        return false;
    }
    for (;;) {
        char word[32];
        if (read_word(ps, word, sizeof(word)) == 0) {
            *err = "Invalid FETCH modifier";
            return false;
        }
        if (strcmp(word, "CHANGEDSINCE") == 0 && !req->has_changedsince) {
            if (!imap_p_sp(ps) || !imap_p_number64(ps, &req->changedsince)) {
                *err = "CHANGEDSINCE needs a mod-sequence value";
                return false;
            }
            req->has_changedsince = true;
        } else if (strcmp(word, "VANISHED") == 0 && !req->vanished) {
            req->vanished = true;
        } else if (strcmp(word, "PARTIAL") == 0 && !req->has_partial) {
            /* RFC 9394 3.3: modifier-partial = "PARTIAL" SP partial-range */
            char rng[32];
            size_t n = 0;
            struct partial_range pr;
            if (!imap_p_sp(ps)) {
                *err = "PARTIAL needs a range";
                return false;
            }
            while (ps->p < ps->end && n + 1 < sizeof(rng) &&
                   (isdigit((unsigned char)*ps->p) || *ps->p == ':' || *ps->p == '-'))
                rng[n++] = *ps->p++;
            rng[n] = '\0';
            if (!partial_range_parse(rng, &pr)) {
                *err = "PARTIAL needs a range (1:100 or -1:-100)";
                return false;
            }
            req->has_partial = true;
            req->partial_neg = pr.neg;
            req->partial_a = pr.a;
            req->partial_b = pr.b;
        } else {
            *err = "Unknown FETCH modifier";
            return false;
        }
        if (imap_p_char(ps, ')'))
            break;
        if (!imap_p_sp(ps)) {
            *err = "Expected SP or ')' in FETCH modifiers";
            return false;
        }
    }
    if (req->vanished && !req->has_changedsince) {
        *err = "VANISHED requires CHANGEDSINCE";   /* RFC 7162 3.2.6 */
        return false;
    }
    return true;
}

bool fetch_parse(struct imap_parser *ps, struct imap_cmd *cmd, struct fetch_req *req, const char **err)
{
    memset(req, 0, sizeof(*req));
    if (!imap_p_sp(ps)) {
        *err = "Missing FETCH items";
        return false;
    }
    if (imap_p_char(ps, '(')) {
        for (;;) {
            if (!parse_att(ps, cmd, req, false, err))
                goto fail;
            if (imap_p_char(ps, ')'))
                break;
            if (!imap_p_sp(ps)) {
                *err = "Expected SP or ')' in FETCH items";
                goto fail;
            }
        }
    } else if (!parse_att(ps, cmd, req, true, err)) {
        goto fail;
    }
    if (imap_p_sp(ps) && !parse_modifiers(ps, req, err))
        goto fail;
    if (!imap_p_end(ps)) {
        *err = "Junk after FETCH items";
        goto fail;
    }
    if (req->has_changedsince) {
        bool have = false;
        for (size_t i = 0; i < req->nitems; i++)
            have |= req->items[i].type == FI_MODSEQ;
        if (!have)
            add_item(req, FI_MODSEQ, "MODSEQ");     /* RFC 7162 3.1.4.1 */
    }
    for (size_t i = 0; i < req->nitems; i++) {
        struct fetch_item *it = &req->items[i];
        req->has[it->type] = true;
        switch (it->type) {
        case FI_ENVELOPE:
        case FI_BODY:
        case FI_BODYSTRUCTURE:
            req->need_cache = true;
            break;
        case FI_SECTION:
            if (!it->sec.part[0] && (it->sec.kind == SEC_HEADER || it->sec.kind == SEC_HEADER_FIELDS ||
                                     it->sec.kind == SEC_HEADER_FIELDS_NOT))
                req->need_cache = true;
            else
                req->need_content = true;
            if (!it->peek)
                req->sets_seen = true;
            break;
        case FI_BINARY:
            if (!it->peek)
                req->sets_seen = true;
            req->need_content = true;
            break;
        case FI_BINARY_SIZE:
            req->need_content = true;
            break;
        case FI_PREVIEW:
            /* LAZY reads only the stored text (NIL without one); without
             * it an older message's text is computed from its file: a
             * job, never the loop (fetch_on_loop). */
            if (it->lazy)
                req->need_cache = true;
            else
                req->need_content = true;
            break;
        default:
            break;
        }
    }
    return true;
fail:
    fetch_req_free(req);
    return false;
}

/* (NOTIFY, RFC 5465 5.2) The fetch-att list of "MessageNew (...)": one
 * parenthesised list, no macros, no modifiers, not to the end of the
 * command; req->has tells which items were asked for. */
bool fetch_parse_att_list(struct imap_parser *ps, struct imap_cmd *cmd, struct fetch_req *req, const char **err)
{
    memset(req, 0, sizeof(*req));
    if (!imap_p_char(ps, '(')) {
        *err = "Expected '(' before FETCH items";
        return false;
    }
    for (;;) {
        if (!parse_att(ps, cmd, req, false, err))
            goto fail;
        if (imap_p_char(ps, ')'))
            break;
        if (!imap_p_sp(ps)) {
            *err = "Expected SP or ')' in FETCH items";
            goto fail;
        }
    }
    for (size_t i = 0; i < req->nitems; i++)
        req->has[req->items[i].type] = true;
    return true;
fail:
    fetch_req_free(req);
    memset(req, 0, sizeof(*req));
    return false;
}
