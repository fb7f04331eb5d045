/* fuzz-acl.c - ACL text (src/access/acl.c) and identifiers (who.c): the
 * stored Cyrus form "id\trights\t..." (acl_parse, acl_format), SETACL and
 * DELETEACL modifications (acl_modify, acl_remove) with a client's
 * identifier and rights string, rights strings (acl_parse_rights,
 * acl_format_rights), evaluation for several identities (acl_evaluate),
 * and the client <-> stored identifier spelling under virtual domains
 * (access_id_from_client, access_id_to_client).
 *
 * Input: byte 0 = flags (bit 0: virtdomains), then three lines: the
 * stored ACL text, an identifier, a rights modification ("+lr", "-x",
 * "lrs"). Checked besides the sanitizers: a parsed ACL formats to a text
 * that parses to the same entries; a modification's result parses, fits
 * STORAGE_MAX_ACL and ACL_MAX_ENTRIES; formatted rights parse back to the
 * same rights (plus the other members of c and d); evaluation is the same for the parsed-and-formatted text;
 * anonymous never gets more than ACL_ANONYMOUS_MAX. */
#include "support.h"
#include "access.h"
#include "config.h"

static void fail(const char *what)
{
    fprintf(stderr, "fuzz-acl: %s\n", what);
    abort();
}

static bool same_entries(const struct acl_entry *a, size_t na, const struct acl_entry *b, size_t nb)
{
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++)
        if (a[i].negative != b[i].negative || a[i].rights != b[i].rights || strcmp(a[i].id, b[i].id) != 0)
            return false;
    return true;
}

static void check_text(const char *text)
{
    struct acl_entry *e = NULL, *e2 = NULL;
    size_t n = 0, n2 = 0;
    if (!acl_parse(text, &e, &n))
        return;
    if (n > ACL_MAX_ENTRIES)
        fail("acl_parse returned more than ACL_MAX_ENTRIES entries");
    char *f = acl_format(e, n);
    if (!acl_parse(f, &e2, &n2))
        fail("a formatted ACL does not parse");
    if (!same_entries(e, n, e2, n2))
        fail("a formatted ACL parses to other entries");
    free(e2);
    free(f);
    free(e);
}

static struct access_who g_who[5];
static const char *const g_store[] = {"fuzz", "bob", "%shared", "%shared@a.test", "alice@a.test"};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet("fuzz-acl");
    fuzz_config(NULL);
    fuzz_set("admins", "admin dadmin@a.test");
    fuzz_set("defaultdomain", "main.test");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    fuzz_set("virtdomains", data[0] & 1 ? "yes" : "no");
    access_who_init(&g_who[0], "fuzz");
    access_who_init(&g_who[1], "admin");
    access_who_init(&g_who[2], "alice@a.test");
    access_who_init(&g_who[3], "dadmin@a.test");
    access_who_init_anonymous(&g_who[4]);

    const uint8_t *l0, *rest, *l1, *l2;
    size_t n0, nrest, n1, n2;
    fuzz_split(data + 1, size - 1, "\n", &l0, &n0, &rest, &nrest);
    fuzz_split(rest, nrest, "\n", &l1, &n1, &l2, &n2);
    char *text = xstrndup((const char *)l0, n0);
    char *id = xstrndup((const char *)l1, n1);
    char *mod = xstrndup((const char *)l2, n2);

    check_text(text);

    /* rights strings */
    acl_rights_t r;
    if (acl_parse_rights(mod, &r)) {
        char s[32];
        acl_rights_t r2;
        acl_format_rights(r, s);
        /* "c"/"d" are shown when any member is present (RFC 4314
         * 2.1.1) and parse as all members: a superset comes back */
        if (!acl_parse_rights(s, &r2) || (r2 & r) != r || (r2 & ~(r | ACL_VIRTUAL_C | ACL_VIRTUAL_D)))
            fail("formatted rights do not parse back");
    }

    /* SETACL / DELETEACL */
    char *out = NULL;
    int rc = acl_modify(text, id, mod, &out);
    if (rc == 0) {
        if (!out || strlen(out) > STORAGE_MAX_ACL)
            fail("acl_modify result missing or longer than STORAGE_MAX_ACL");
        struct acl_entry *e;
        size_t n;
        if (!acl_parse(out, &e, &n))
            fail("acl_modify result does not parse");
        free(e);
        check_text(out);
    } else if (out) {
        fail("acl_modify failed but returned a text");
    }
    free(out);
    out = NULL;
    rc = acl_remove(text, id, &out);
    if (rc == 0) {
        struct acl_entry *e = NULL;
        size_t n;
        if (!out || !acl_parse(out, &e, &n))
            fail("acl_remove result does not parse");
        free(e);
    }
    free(out);

    /* evaluation, and identifiers as clients spell them */
    struct acl_entry *e = NULL;
    size_t n = 0;
    char *canon = acl_parse(text, &e, &n) ? acl_format(e, n) : NULL;
    free(e);
    for (size_t w = 0; w < ARRAY_SIZE(g_who); w++) {
        for (size_t s = 0; s < ARRAY_SIZE(g_store); s++) {
            acl_rights_t a = acl_evaluate(text, &g_who[w], g_store[s]);
            if (canon && acl_evaluate(canon, &g_who[w], g_store[s]) != a)
                fail("evaluation differs for the formatted ACL");
            if (g_who[w].anonymous && (a & ~(acl_rights_t)ACL_ANONYMOUS_MAX))
                fail("anonymous got more than ACL_ANONYMOUS_MAX");
            char cid[ACL_MAX_IDENTIFIER + 64], back[ACL_MAX_IDENTIFIER + 64];
            if (access_id_from_client(&g_who[w], g_store[s], id, cid, sizeof(cid)))
                access_id_to_client(&g_who[w], g_store[s], cid, back, sizeof(back));
        }
    }
    free(canon);
    free(text);
    free(id);
    free(mod);
    for (size_t w = 0; w < ARRAY_SIZE(g_who); w++)
        access_who_free(&g_who[w]);
    return 0;
}
