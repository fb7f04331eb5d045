/* imap-cmd-acl.c - SETACL DELETEACL GETACL LISTRIGHTS MYRIGHTS (RFC 4314
 * section 3).
 *
 * The access layer does the checks (every command but MYRIGHTS needs
 * "a"; a mailbox the session may not see answers NONEXISTENT) and keeps
 * the ACL. This file parses the arguments, refuses what RFC 4314 says
 * must be refused with BAD (an empty identifier, an unknown or upper-case
 * rights letter - 3 and 3.1) and writes the responses:
 *   * ACL mailbox id rights [id rights ...]
 *   * LISTRIGHTS mailbox id required [optional ...]
 *   * MYRIGHTS mailbox rights
 */
#include "imap.h"
#include "log.h"

/* An astring for output: an atom when that is possible (what clients and
 * admin tools see from other servers), else a quoted string or literal. */
static void put_astring(struct buf *b, const char *s)
{
    size_t n = strlen(s);
    bool atom = n > 0 && n < 1024;
    for (size_t i = 0; atom && i < n; i++)
        atom = imap_is_atom_char((unsigned char)s[i]) || s[i] == ']';
    /* "NIL" is an atom but would read as nil where an nstring is allowed */
    if (atom && strcasecmp(s, "NIL") != 0)
        buf_append(b, s, n);
    else
        imap_append_string(b, s, n);
}

/* A mailbox name in the session's encoding, as an astring. */
static void put_mailbox(struct imap_session *s, struct buf *b, const char *internal)
{
    struct buf t = BUF_INIT;
    imap_mailbox_to_client(s, internal, &t);
    const char *d = buf_cstr(&t);
    bool atom = t.len > 0 && t.len < 1024;
    for (size_t i = 0; atom && i < t.len; i++)
        atom = imap_is_atom_char((unsigned char)d[i]) || d[i] == ']';
    if (atom)
        buf_append(b, d, t.len);
    else
        imap_append_mailbox(s, b, internal);
    buf_free(&t);
}

/* SP mailbox: the raw argument; decoded by decode_mailbox once the whole
 * command has parsed (syntax errors and bad rights are BAD first). */
static bool p_mailbox(struct imap_session *s, struct imap_cmd *cmd, struct imap_str *nm)
{
    struct imap_parser *ps = &cmd->ps;
    if (!imap_p_sp(ps) || !imap_p_astring(ps, cmd, nm)) {
        imap_tagged(s, cmd, "BAD", "Invalid mailbox argument: %s", ps->error ? ps->error : "syntax");
        return false;
    }
    return true;
}

/* NO on an invalid name: it can never name a mailbox. */
static bool decode_mailbox(struct imap_session *s, struct imap_cmd *cmd, const struct imap_str *nm, char *out)
{
    const char *why = NULL;
    if (nm->file || !imap_mailbox_from_client(s, nm->s, nm->len, out, &why)) {
        imap_tagged(s, cmd, "NO", "[NONEXISTENT] %s", why ? why : "Invalid mailbox name");
        return false;
    }
    return true;
}

/* SP identifier: an astring, non-empty, no NUL and no control characters
 * (RFC 4314 3: an identifier that cannot be prepared is a BAD). */
static char *p_identifier(struct imap_session *s, struct imap_cmd *cmd)
{
    struct imap_parser *ps = &cmd->ps;
    char *id;
    if (!imap_p_sp(ps) || !(id = imap_p_astring_cstr(ps, cmd))) {
        imap_tagged(s, cmd, "BAD", "Invalid identifier: %s", ps->error ? ps->error : "syntax");
        return NULL;
    }
    size_t n = strlen(id);
    bool ok = n > 0 && n <= ACL_MAX_IDENTIFIER + 1 && !(n == 1 && id[0] == '-');
    for (size_t i = 0; ok && i < n; i++)
        ok = (unsigned char)id[i] > 0x20 && id[i] != 0x7f;
    if (!ok) {
        imap_tagged(s, cmd, "BAD", "Invalid identifier");
        return NULL;
    }
    return id;
}

static bool expect_end(struct imap_session *s, struct imap_cmd *cmd)
{
    if (!imap_p_end(&cmd->ps)) {
        imap_tagged(s, cmd, "BAD", "Unexpected extra arguments");
        return false;
    }
    return true;
}

/* Errors of the ACL commands: as for any mailbox command, except that an
 * INVALID from the access layer here means the identifier (the mailbox
 * name was checked already): BAD, as RFC 4314 3 says. */
static void reply_acl_error(struct imap_session *s, struct imap_cmd *cmd, int err)
{
    if (err == ACCESS_ERR_INVALID)
        imap_tagged(s, cmd, "BAD", "Invalid identifier or rights");
    else
        imap_reply_access_error(s, cmd, err);
}

/* ---- SETACL / DELETEACL off the loop --------------------------------------- */

/* The ACL change (a read-modify-write transaction in the mailbox's store
 * plus the share index, shares.db) runs as a job on the pool
 * (imap_cmd_job, jobs.h): the access layer opens the store itself (a
 * pool thread gets a handle of its own, storage.h) and works on a copy of
 * the session's identity. Key: the mailbox's store, opened here on the
 * loop to name it and held until the finish step. */
struct acl_job {
    struct access_who who;
    struct mail_user *keyref;
    char *name, *id, *mod;      /* mod NULL: DELETEACL */
    int err;
};

static void acl_job_free(struct acl_job *j)
{
    if (j->keyref)
        mail_user_close(j->keyref);  /* on the loop: the finish step frees */
    access_who_free(&j->who);
    free(j->name);
    free(j->id);
    free(j->mod);
    free(j);
}

static void acl_job_run(struct job *job, void *arg)
{
    (void)job;
    struct acl_job *j = arg;
    j->err = j->mod ? access_setacl(&j->who, j->name, j->id, j->mod) : access_deleteacl(&j->who, j->name, j->id);
}

static enum cmd_result acl_job_finish(struct imap_session *s, struct imap_cmd *cmd, void *arg)
{
    struct acl_job *j = arg;
    if (s) {
        if (j->err < 0) {
            reply_acl_error(s, cmd, j->err);
        } else if (j->mod) {
            log_info("imap: %s setacl %s %s %s", s->user ? s->user : "?", j->name, j->id, j->mod);
            imap_tagged(s, cmd, "OK", "SETACL completed");
        } else {
            log_info("imap: %s deleteacl %s %s", s->user ? s->user : "?", j->name, j->id);
            imap_tagged(s, cmd, "OK", "DELETEACL completed");
        }
    }
    acl_job_free(j);
    return CMD_DONE;
}

static enum cmd_result acl_submit(struct imap_session *s, struct imap_cmd *cmd, const char *name, const char *id,
                                  const char *mod)
{
    struct acl_job *j = xcalloc(1, sizeof(*j));
    access_who_copy(&j->who, &s->who);
    j->name = xstrdup(name);
    j->id = xstrdup(id);
    j->mod = mod ? xstrdup(mod) : NULL;
    const void *key = s->mu;
    struct mbox_ref ref;
    if (access_resolve(&s->who, name, &ref) == 0 && (!s->mu || strcmp(ref.store, mail_user_name(s->mu)) != 0))
        key = mail_user_open(ref.store, false, &j->keyref) == 0 ? j->keyref : NULL;
    return imap_cmd_job(s, cmd, "acl", key, acl_job_run, acl_job_finish, j);
}

/* ---- SETACL (3.1) ----------------------------------------------------------- */

IMAP_CMD(cmd_setacl)
{
    char name[IMAP_MAX_CLIENT_NAME + 1];
    struct imap_parser *ps = &cmd->ps;
    struct imap_str nm;
    if (!p_mailbox(s, cmd, &nm))
        return CMD_DONE;
    char *id = p_identifier(s, cmd);
    if (!id)
        return CMD_DONE;
    char *mod;
    if (!imap_p_sp(ps) || !(mod = imap_p_astring_cstr(ps, cmd))) {
        imap_tagged(s, cmd, "BAD", "Invalid rights argument: %s", ps->error ? ps->error : "syntax");
        return CMD_DONE;
    }
    if (!expect_end(s, cmd))
        return CMD_DONE;
    /* 3.1: "an unrecognized right MUST cause the command to return the
     * BAD response" - upper case letters included (example A035). */
    const char *letters = mod[0] == '+' || mod[0] == '-' ? mod + 1 : mod;
    acl_rights_t dummy;
    if (!acl_parse_rights(letters, &dummy)) {
        imap_tagged(s, cmd, "BAD", "Invalid rights \"%.64s\": supported are lrswipkxtean and c d",
                    letters);
        return CMD_DONE;
    }
    if (!decode_mailbox(s, cmd, &nm, name))
        return CMD_DONE;
    return acl_submit(s, cmd, name, id, mod);
}

/* ---- DELETEACL (3.2) -------------------------------------------------------- */

IMAP_CMD(cmd_deleteacl)
{
    char name[IMAP_MAX_CLIENT_NAME + 1];
    struct imap_str nm;
    if (!p_mailbox(s, cmd, &nm))
        return CMD_DONE;
    char *id = p_identifier(s, cmd);
    if (!id || !expect_end(s, cmd) || !decode_mailbox(s, cmd, &nm, name))
        return CMD_DONE;
    return acl_submit(s, cmd, name, id, NULL);
}

/* ---- GETACL (3.3, 3.6) --------------------------------------------------------- */

static void getacl_cb(const char *id, const char *rights, void *arg)
{
    struct buf *b = arg;
    buf_putc(b, ' ');
    put_astring(b, id);
    buf_putc(b, ' ');
    put_astring(b, rights);
}

IMAP_CMD(cmd_getacl)
{
    char name[IMAP_MAX_CLIENT_NAME + 1];
    struct imap_str nm;
    if (!p_mailbox(s, cmd, &nm) || !expect_end(s, cmd) || !decode_mailbox(s, cmd, &nm, name))
        return CMD_DONE;
    struct buf b = BUF_INIT;
    buf_puts(&b, "* ACL ");
    put_mailbox(s, &b, name);
    int err = access_getacl(&s->who, name, getacl_cb, &b);
    if (err < 0) {
        buf_free(&b);
        reply_acl_error(s, cmd, err);
        return CMD_DONE;
    }
    buf_puts(&b, "\r\n");
    imap_write(s, b.data, b.len);
    buf_free(&b);
    imap_tagged(s, cmd, "OK", "GETACL completed");
    return CMD_DONE;
}

/* ---- LISTRIGHTS (3.4, 3.7) --------------------------------------------------- */

IMAP_CMD(cmd_listrights)
{
    char name[IMAP_MAX_CLIENT_NAME + 1];
    struct imap_str nm;
    if (!p_mailbox(s, cmd, &nm))
        return CMD_DONE;
    char *id = p_identifier(s, cmd);
    if (!id || !expect_end(s, cmd) || !decode_mailbox(s, cmd, &nm, name))
        return CMD_DONE;
    acl_rights_t req = 0, opt = 0;
    int err = access_listrights(&s->who, name, id, &req, &opt);
    if (err < 0) {
        reply_acl_error(s, cmd, err);
        return CMD_DONE;
    }
    opt &= ~req;
    struct buf b = BUF_INIT;
    buf_puts(&b, "* LISTRIGHTS ");
    put_mailbox(s, &b, name);
    buf_putc(&b, ' ');
    /* 3.4: the identifier exactly as the client gave it */
    put_astring(&b, id);
    buf_putc(&b, ' ');
    char rs[32];
    acl_format_rights(req, rs);
    put_astring(&b, rs);
    /* Every right is granted on its own (nothing is tied), so each
     * optional right is a group by itself; 2.1.1: "c" and "d" are listed
     * (by themselves) when a member of theirs can be granted. */
    static const char letters[] = "lrswipkxtean";
    for (size_t i = 0; letters[i]; i++)
        if (opt & (1u << i))
            buf_printf(&b, " %c", letters[i]);
    if (opt & ACL_VIRTUAL_C)
        buf_puts(&b, " c");
    if (opt & ACL_VIRTUAL_D)
        buf_puts(&b, " d");
    buf_puts(&b, "\r\n");
    imap_write(s, b.data, b.len);
    buf_free(&b);
    imap_tagged(s, cmd, "OK", "LISTRIGHTS completed");
    return CMD_DONE;
}

/* ---- MYRIGHTS (3.5, 3.8) ------------------------------------------------------ */

IMAP_CMD(cmd_myrights)
{
    char name[IMAP_MAX_CLIENT_NAME + 1];
    struct imap_str nm;
    if (!p_mailbox(s, cmd, &nm) || !expect_end(s, cmd) || !decode_mailbox(s, cmd, &nm, name))
        return CMD_DONE;
    acl_rights_t r = 0;
    int err = access_myrights(&s->who, name, &r);
    if (err < 0) {
        reply_acl_error(s, cmd, err);
        return CMD_DONE;
    }
    char rs[32];
    acl_format_rights(r, rs);
    struct buf b = BUF_INIT;
    buf_puts(&b, "* MYRIGHTS ");
    put_mailbox(s, &b, name);
    buf_putc(&b, ' ');
    put_astring(&b, rs);
    buf_puts(&b, "\r\n");
    imap_write(s, b.data, b.len);
    buf_free(&b);
    imap_tagged(s, cmd, "OK", "MYRIGHTS completed");
    return CMD_DONE;
}
