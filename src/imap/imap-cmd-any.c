/* imap-cmd-any.c - CAPABILITY NOOP LOGOUT ID ENABLE. */
#include "imap.h"
#include "auth.h"
#include "config.h"
#include "log.h"

#define ID_MAX_PAIRS 30        /* RFC 2971 3.3 */
#define ID_MAX_FIELD 30
#define ID_MAX_VALUE 1024

static bool session_tls(const struct imap_session *s)
{
    return s->tls || (s->conn && conn_is_tls(s->conn));
}

void imap_sasl_params(struct imap_session *s, struct sasl_params *p)
{
    memset(p, 0, sizeof(*p));
    p->tls = session_tls(s);
    p->allow_plaintext = config_bool(CFG_ALLOWPLAINTEXT);
    p->allow_anonymous = true; /* AUTH=ANONYMOUS when allowanonymouslogin (sasl.c) */
    if (p->tls && s->conn && conn_tls_exporter(s->conn, p->cb_data))
        p->cb_len = 32;
}

/* RFC 9051 7.2.2: the list depends on the state. Before authentication
 * only what is needed to log in (and LITERAL- : RFC 7888 allows at most
 * 4096-octet non-synchronising literals there, which is what we enforce
 * before login); afterwards the full set. */
void imap_capabilities(struct imap_session *s, struct buf *out)
{
    buf_puts(out, "IMAP4rev1 IMAP4rev2");
    if (s->state == IMAP_NOTAUTH) {
        bool tls = session_tls(s);
        if (!tls && imap_tls())
            buf_puts(out, " STARTTLS");
        if (!tls && !config_bool(CFG_ALLOWPLAINTEXT))
            buf_puts(out, " LOGINDISABLED");
        struct sasl_params p;
        imap_sasl_params(s, &p);
        struct buf m = BUF_INIT;
        sasl_mechanisms(&p, &m);
        const char *q = buf_cstr(&m);
        while (*q) {
            while (*q == ' ')
                q++;
            const char *e = q;
            while (*e && *e != ' ')
                e++;
            if (e > q)
                buf_printf(out, " AUTH=%.*s", (int)(e - q), q);
            q = e;
        }
        buf_free(&m);
        buf_puts(out, " SASL-IR ID ENABLE IDLE LITERAL-");
        /* Cyrus's cyradm (Cyrus::IMAP::Admin) decides whether mboxcfg,
         * info and setinfo may be used from the list it reads before it
         * authenticates, as Cyrus advertises it there (RFC 5464). */
        buf_puts(out, " METADATA");
        return;
    }
    buf_puts(out, " LITERAL+ ID ENABLE IDLE NAMESPACE UIDPLUS UNSELECT CHILDREN MOVE MULTIAPPEND BINARY"
                  " ESEARCH SEARCHRES CONDSTORE QRESYNC SPECIAL-USE CREATE-SPECIAL-USE LIST-EXTENDED"
                  " LIST-STATUS STATUS=SIZE SAVEDATE");
    buf_printf(out, " APPENDLIMIT=%lld", config_int(CFG_MAXMESSAGESIZE));
    /* RFC 4469, RFC 4467, RFC 5524 (imap-catenate.c, imap-cmd-urlauth.c) */
    buf_puts(out, " CATENATE URLAUTH URLAUTH=BINARY");
    buf_puts(out, " UTF8=ACCEPT OBJECTID WITHIN");
    buf_puts(out, " THREAD=ORDEREDSUBJECT THREAD=REFERENCES THREAD=REFS");   /* RFC 5256 */
    buf_puts(out, " QUOTA QUOTA=RES-STORAGE QUOTA=RES-MESSAGE QUOTA=RES-MAILBOX QUOTASET");
    /* RFC 4314: ACL with the new rights k x t e (RIGHTS= lists only the
     * rights beyond RFC 2086's; "n" is RFC 5464's and not listed there);
     * RFC 8440 LIST ... RETURN (MYRIGHTS). */
    buf_puts(out, " ACL RIGHTS=kxten LIST-MYRIGHTS");
    /* RFC 5464 mailbox and server annotations, RFC 9590 */
    buf_puts(out, " METADATA METADATA-SERVER LIST-METADATA");
    /* RFC 5465 (imap-cmd-notify.c) */
    buf_puts(out, " NOTIFY");
    /* RFC 4978: only once COMPRESS may be given, and not again. */
    if (!s->conn || !conn_is_compressed(s->conn))
        buf_puts(out, " COMPRESS=DEFLATE");
    /* RFC 5256, RFC 5957, RFC 5267 3 (imap-cmd-sort.c) */
    buf_puts(out, " SORT SORT=DISPLAY ESORT");
    /* RFC 9394 (imap-cmd-search.c, imap-cmd-sort.c, UID FETCH); RFC 5267
     * 4 updating contexts (imap-context.c) */
    buf_puts(out, " PARTIAL CONTEXT=SEARCH CONTEXT=SORT");
    /* RFC 8437: after login only, and not with COMPRESS (imap-cmd-auth.c) */
    if (!s->conn || !conn_is_compressed(s->conn))
        buf_puts(out, " UNAUTHENTICATE");
    buf_puts(out, " UIDONLY");            /* RFC 9586 */
    buf_puts(out, " PREVIEW");            /* RFC 8970 (imap-cmd-fetch.c) */
    buf_puts(out, " REPLACE");            /* RFC 8508 (imap-cmd-append.c) */
    buf_puts(out, " INPROGRESS");         /* RFC 9585 (imap_progress_start) */
    buf_puts(out, " MULTISEARCH");        /* RFC 7377 (imap-cmd-esearch.c) */
    if (imap_messagelimit())              /* RFC 9738 (imap_messagelimit_apply) */
        buf_printf(out, " MESSAGELIMIT=%u", imap_messagelimit());
}

IMAP_CMD(cmd_capability)
{
    if (!imap_p_end(&cmd->ps)) {
        imap_tagged(s, cmd, "BAD", "Unexpected arguments");
        return CMD_DONE;
    }
    struct buf b = BUF_INIT;
    buf_puts(&b, "CAPABILITY ");
    imap_capabilities(s, &b);
    imap_untagged(s, "%s", buf_cstr(&b));
    buf_free(&b);
    imap_tagged(s, cmd, "OK", "CAPABILITY completed");
    return CMD_DONE;
}

IMAP_CMD(cmd_noop)
{
    if (!imap_p_end(&cmd->ps)) {
        imap_tagged(s, cmd, "BAD", "Unexpected arguments");
        return CMD_DONE;
    }
    imap_tagged(s, cmd, "OK", "NOOP completed");
    return CMD_DONE;
}

IMAP_CMD(cmd_logout)
{
    if (!imap_p_end(&cmd->ps)) {
        imap_tagged(s, cmd, "BAD", "Unexpected arguments");
        return CMD_DONE;
    }
    /* The login slot (maxlogins_per_user) goes before the OK: a client
     * that logs in again - over IMAP or POP3 - right after reading it
     * must not be refused because the closing connection still counts. */
    if (s->counted_user && s->user) {
        limits_login_release(s->user, s->peer);
        s->counted_user = false;
    }
    imap_untagged(s, "BYE Logging out");
    imap_tagged(s, cmd, "OK", "LOGOUT completed");
    s->state = IMAP_LOGOUT;
    s->logout = true;
    if (s->conn) {
        conn_pause_input(s->conn);
        conn_close(s->conn);
    }
    return CMD_DONE;
}

/* Keep only printable ASCII for the log line. */
static void log_safe(struct buf *b, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        buf_putc(b, c >= 0x20 && c < 0x7f && c != '"' ? (char)c : '?');
    }
}

IMAP_CMD(cmd_id)
{
    struct imap_parser *ps = &cmd->ps;
    struct buf logb = BUF_INIT;
    char *cname = NULL, *cversion = NULL;
    if (!imap_p_sp(ps))
        goto bad;
    if (imap_p_char(ps, '(')) {
        unsigned pairs = 0;
        if (imap_p_peek(ps, ')'))
            goto bad; /* RFC 2971: the list is non-empty; empty is NIL */
        while (!imap_p_char(ps, ')')) {
            if (pairs > 0 && !imap_p_sp(ps))
                goto bad;
            struct imap_str field, value;
            bool nil;
            if (!imap_p_string(ps, cmd, &field) || field.file || !imap_p_sp(ps) ||
                !imap_p_nstring(ps, cmd, &value, &nil) || value.file)
                goto bad;
            if (++pairs > ID_MAX_PAIRS || field.len > ID_MAX_FIELD || (!nil && value.len > ID_MAX_VALUE))
                goto bad;
            if (logb.len)
                buf_putc(&logb, ' ');
            log_safe(&logb, field.s, field.len);
            buf_puts(&logb, "=\"");
            if (!nil)
                log_safe(&logb, value.s, MIN(value.len, (size_t)128));
            buf_putc(&logb, '"');
            if (!nil && field.len == 4 && strncasecmp(field.s, "name", 4) == 0)
                cname = cmd_strndup(cmd, value.s, MIN(value.len, (size_t)64));
            if (!nil && field.len == 7 && strncasecmp(field.s, "version", 7) == 0)
                cversion = cmd_strndup(cmd, value.s, MIN(value.len, (size_t)32));
        }
    } else {
        char *a = imap_p_atom(ps, cmd);
        if (!a || strcasecmp(a, "NIL") != 0)
            goto bad;
    }
    if (!imap_p_end(ps))
        goto bad;
    if (logb.len)
        log_info("imap: ID from %s: %s", s->peer, logb.data);
    if (cname) {
        struct buf cid = BUF_INIT;
        log_safe(&cid, cname, strlen(cname));
        if (cversion) {
            buf_putc(&cid, '/');
            log_safe(&cid, cversion, strlen(cversion));
        }
        free(s->client_id);
        s->client_id = buf_release(&cid);
    }
    buf_free(&logb);
    const char *info = config_str(CFG_SERVERINFO);
    if (strcmp(info, "off") == 0)
        imap_untagged(s, "ID NIL");
    else if (strcmp(info, "min") == 0)
        imap_untagged(s, "ID (\"name\" \"Darius\")");
    else
        imap_untagged(s, "ID (\"name\" \"Darius\" \"version\" \"%s\")", DARIUS_VERSION);
    imap_tagged(s, cmd, "OK", "ID completed");
    return CMD_DONE;
bad:
    buf_free(&logb);
    imap_tagged(s, cmd, "BAD", "Invalid ID arguments");
    return CMD_DONE;
}

IMAP_CMD(cmd_enable)
{
    struct imap_parser *ps = &cmd->ps;
    struct buf en = BUF_INIT;
    unsigned count = 0;
    while (!imap_p_end(ps)) {
        char *a;
        if (!imap_p_sp(ps) || !(a = imap_p_atom(ps, cmd))) {
            buf_free(&en);
            imap_tagged(s, cmd, "BAD", "Invalid ENABLE arguments");
            return CMD_DONE;
        }
        count++;
        unsigned bit = 0;
        const char *canon = NULL;
        if (strcasecmp(a, "CONDSTORE") == 0) {
            bit = EN_CONDSTORE;
            canon = "CONDSTORE";
        } else if (strcasecmp(a, "QRESYNC") == 0) {
            bit = EN_QRESYNC;
            canon = "QRESYNC";
        } else if (strcasecmp(a, "IMAP4rev2") == 0) {
            bit = EN_IMAP4REV2;
            canon = "IMAP4rev2";
        } else if (strcasecmp(a, "UTF8=ACCEPT") == 0) {
            bit = EN_UTF8;
            canon = "UTF8=ACCEPT";
        } else if (strcasecmp(a, "UIDONLY") == 0) {
            bit = EN_UIDONLY;
            canon = "UIDONLY";
        }
        /* RFC 5161 3.1: unknown capabilities are ignored; only newly
         * enabled ones are listed in ENABLED. */
        if (!bit || (s->enabled & bit))
            continue;
        s->enabled |= bit;
        if (bit == EN_QRESYNC)
            s->enabled |= EN_CONDSTORE; /* RFC 7162 3.2.3 */
        buf_putc(&en, ' ');
        buf_puts(&en, canon);
    }
    if (count == 0) {
        buf_free(&en);
        imap_tagged(s, cmd, "BAD", "Missing ENABLE arguments");
        return CMD_DONE;
    }
    if (s->view && (s->enabled & EN_IMAP4REV2))
        imap_view_set_recent_floor(s->view, UINT32_MAX);
    imap_untagged(s, "ENABLED%s", buf_cstr(&en));
    buf_free(&en);
    /* RFC 5161 3.1 forbids ENABLE while selected, but we accept it: then
     * HIGHESTMODSEQ follows ENABLED as for any first enabling command. */
    if (s->enabled & EN_CONDSTORE)
        imap_enable_condstore(s);
    imap_tagged(s, cmd, "OK", "ENABLE completed");
    return CMD_DONE;
}
