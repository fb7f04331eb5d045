/* cli-acl.c - "darius acl ..." commands (RFC 4314 access control lists).
 *
 * Mailboxes are named in the admin namespace (cli.h): "user/bob" is bob's
 * INBOX, "user/bob/Sent" one of his mailboxes, "Shared Folders/news" a
 * shared one. Rights strings are SETACL's (RFC 4314 3.1): letters of
 * "lrswipkxtean" (plus the obsolete "c" and "d", 2.1.1), replacing the
 * entry, or prefixed with "+" / "-" to add or remove rights. An identifier
 * starting with "-" names a negative entry.
 *
 * --json shapes (documented in the help text and the admin docs):
 *   acl list/set/delete: {"mailbox":M,"acl":[{"id":ID,"rights":R,"negative":B},...]}
 *   acl reindex:         {"stores":[NAME,...],"count":N}
 */
#include "cli.h"
#include "access.h"

struct acl_rows {
    char **ids, **rights;
    size_t n, cap, rcap;
};

static void collect(const char *id, const char *rights, void *arg)
{
    struct acl_rows *r = arg;
    size_t n = r->n;
    ARRAY_GROW(r->ids, n, r->cap);
    ARRAY_GROW(r->rights, n, r->rcap);
    r->ids[n] = xstrdup(id);
    r->rights[n] = xstrdup(rights);
    r->n++;
}

static void free_rows(struct acl_rows *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->ids[i]);
        free(r->rights[i]);
    }
    free(r->ids);
    free(r->rights);
}

/* Print the ACL of name (after a change, or for "acl list"). */
static int print_acl(const struct access_who *w, const char *name, const char *heading)
{
    struct acl_rows rows = {0};
    int r = access_getacl(w, name, collect, &rows);
    if (r != 0) {
        free_rows(&rows);
        return cli_access_exit(r, name);
    }
    struct buf b = BUF_INIT;
    if (cli_opt_json) {
        struct cli_json j;
        cli_json_init(&j, &b);
        cli_json_begin_object(&j);
        cli_json_kv_string(&j, "mailbox", name);
        cli_json_key(&j, "acl");
        cli_json_begin_array(&j);
        for (size_t i = 0; i < rows.n; i++) {
            cli_json_begin_object(&j);
            cli_json_kv_string(&j, "id", rows.ids[i]);
            cli_json_kv_string(&j, "rights", rows.rights[i]);
            cli_json_kv_bool(&j, "negative", rows.ids[i][0] == '-');
            cli_json_end_object(&j);
        }
        cli_json_end_array(&j);
        cli_json_end_object(&j);
        buf_putc(&b, '\n');
    } else {
        if (heading)
            buf_printf(&b, "%s\n", heading);
        for (size_t i = 0; i < rows.n; i++)
            buf_printf(&b, "%s%s %s\n", heading ? "  " : "", rows.ids[i], rows.rights[i]);
    }
    cli_print_buf(&b);
    free_rows(&rows);
    return 0;
}

/* Mailbox operands must be admin-namespace names: a bare "Sent" would be
 * the CLI identity's own (non-existent) personal namespace. */
static bool check_name(const char *name)
{
    if (strlen(name) > STORAGE_MAX_MAILBOX_NAME + 2 * AUTH_MAX_USERNAME || !cli_is_admin_name(name)) {
        cli_error("invalid mailbox: %s (want user/NAME, user/NAME/MAILBOX or the shared prefix/NAME)", name);
        return false;
    }
    return true;
}

static int cmd_set(int argc, char **argv)
{
    (void)argc;
    const char *name = argv[0], *id = argv[1], *mod = argv[2];
    if (!check_name(name))
        return EX_DATAERR;
    acl_rights_t rights;
    const char *letters = (mod[0] == '+' || mod[0] == '-') ? mod + 1 : mod;
    if (!acl_parse_rights(letters, &rights)) {
        cli_error("invalid rights: %s (letters of lrswipkxtean, c, d; optional leading + or -)", mod);
        return EX_DATAERR;
    }
    if (!*id || strlen(id) > ACL_MAX_IDENTIFIER) {
        cli_error("invalid identifier: %s", id);
        return EX_DATAERR;
    }
    struct access_who w;
    cli_admin_who(&w);
    int r = access_setacl(&w, name, id, mod);
    int rc;
    if (r != 0) {
        rc = cli_access_exit(r, name);
    } else {
        char heading[64 + STORAGE_MAX_MAILBOX_NAME + ACL_MAX_IDENTIFIER];
        snprintf(heading, sizeof(heading), "%s: set %s %s; ACL now:", name, id, mod);
        rc = print_acl(&w, name, heading);
    }
    access_who_free(&w);
    return rc;
}

static int cmd_delete(int argc, char **argv)
{
    (void)argc;
    const char *name = argv[0], *id = argv[1];
    if (!check_name(name))
        return EX_DATAERR;
    if (!*id || strlen(id) > ACL_MAX_IDENTIFIER) {
        cli_error("invalid identifier: %s", id);
        return EX_DATAERR;
    }
    struct access_who w;
    cli_admin_who(&w);
    int r = access_deleteacl(&w, name, id);
    int rc;
    if (r != 0) {
        rc = cli_access_exit(r, name);
    } else {
        char heading[64 + STORAGE_MAX_MAILBOX_NAME + ACL_MAX_IDENTIFIER];
        snprintf(heading, sizeof(heading), "%s: deleted %s; ACL now:", name, id);
        rc = print_acl(&w, name, heading);
    }
    access_who_free(&w);
    return rc;
}

static int cmd_list(int argc, char **argv)
{
    (void)argc;
    if (!check_name(argv[0]))
        return EX_DATAERR;
    struct access_who w;
    cli_admin_who(&w);
    int rc = print_acl(&w, argv[0], NULL);
    access_who_free(&w);
    return rc;
}

struct reindex_ctx {
    struct cli_json j;
    struct buf b;
    size_t count;
};

static void reindex_progress(const char *store, void *arg)
{
    struct reindex_ctx *c = arg;
    if (cli_opt_json)
        cli_json_string(&c->j, store);
    else
        buf_printf(&c->b, "%s\n", store);
    c->count++;
}

static int cmd_reindex(int argc, char **argv)
{
    (void)argc; (void)argv;
    struct reindex_ctx c;
    memset(&c, 0, sizeof(c));
    buf_init(&c.b);
    cli_json_init(&c.j, &c.b);
    if (cli_opt_json) {
        cli_json_begin_object(&c.j);
        cli_json_key(&c.j, "stores");
        cli_json_begin_array(&c.j);
    }
    int r = access_reindex(reindex_progress, &c);
    if (r != 0) {
        buf_free(&c.b);
        return cli_access_exit(r, "acl reindex");
    }
    if (cli_opt_json) {
        cli_json_end_array(&c.j);
        cli_json_kv_int(&c.j, "count", (int64_t)c.count);
        cli_json_end_object(&c.j);
        buf_putc(&c.b, '\n');
    } else {
        buf_printf(&c.b, "share index rebuilt from %zu store%s\n", c.count, c.count == 1 ? "" : "s");
    }
    cli_print_buf(&c.b);
    return 0;
}

const struct cli_cmd cli_acl_cmds[] = {
    {"acl", "set", "[--json] MAILBOX ID RIGHTS",
     "Set ID's rights on MAILBOX (SETACL): RIGHTS replaces them, +RIGHTS adds, -RIGHTS removes; an empty "
     "result removes the entry. ID: a user, group:NAME, anyone, anonymous; -ID for a negative entry. "
     "Example: darius acl set user/bob/Sent alice lrs",
     3, 3, cmd_set},
    {"acl", "delete", "[--json] MAILBOX ID", "Remove ID's entry from MAILBOX's ACL (DELETEACL; no error when absent).",
     2, 2, cmd_delete},
    {"acl", "list", "[--json] MAILBOX",
     "List MAILBOX's ACL, one \"ID RIGHTS\" per line; --json: {\"mailbox\":M,\"acl\":[{\"id\":ID,\"rights\":R,"
     "\"negative\":BOOL},...]} (also printed by set and delete with --json).",
     1, 1, cmd_list},
    {"acl", "reindex", "[--json]",
     "Rebuild the share index (which stores share mailboxes) from every store's ACLs; --json: "
     "{\"stores\":[NAME,...],\"count\":N}.",
     0, 0, cmd_reindex},
};
const size_t cli_acl_ncmds = ARRAY_SIZE(cli_acl_cmds);
