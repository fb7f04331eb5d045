/* fuzz-imap-session.c - an IMAP session (src/imap) driven in-process: the
 * input is what the client sends, through a socketpair into imap_accept
 * and the real event loop: the reader (lines, synchronising and
 * non-synchronising literals, literals spilled to files), the dispatcher
 * and every command handler over real stores - STORE, LIST/LSUB patterns
 * with LIST-EXTENDED options, mailbox names in mUTF-7 and UTF-8, FETCH
 * with sections and partials on real MIME messages, SEARCH, APPEND,
 * COPY/MOVE, ACL and QUOTA commands, AUTHENTICATE, IDLE. The client
 * shuts down its side after the input; the session must then end.
 *
 * Users: "fuzz" (INBOX with three messages, folders "Archive" and
 * "Archive/2023", subscribed) and "other" (a folder "shared" that fuzz
 * may read and insert into: the Other Users namespace). Anonymous login
 * is allowed (read-only). A store changed by an input is put back (a
 * copy of its directory) before the next one.
 *
 * Input: byte 0 = flags (bits 0-1: 0 raw, 1 the harness logs in first
 * with "L LOGIN fuzz " FUZZ_PASSWORD, 2 it also selects INBOX, 3 it logs
 * in and enables UTF8=ACCEPT and IMAP4rev2; bit 2: '.' as the hierarchy
 * separator), then the client's bytes. */
#include "support.h"
#include "access.h"
#include "config.h"
#include "imap.h"
#include "storage.h"

#include <arpa/inet.h>
#include <netinet/in.h>

static const char *const stores[] = {"fuzz", "other"};
static struct buf g_fp[ARRAY_SIZE(stores)];

static void do_accept(int fd, void *arg)
{
    (void)arg;
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(40000)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    imap_accept(fd, (struct sockaddr *)&sin, sizeof(sin), false);
}

static void build(const char *user)
{
    struct mail_user *u = NULL;
    if (strcmp(user, "fuzz") == 0) {
        fuzz_populate("fuzz");
        fuzz_store_append("fuzz", "Archive/2023", "Subject: old\r\n\r\nold\r\n", 20, 0);
        fuzz_store_append("fuzz", "Archive", "Subject: arch\r\nFrom: a@b\r\n\r\narchived\r\n", 38, 1u << 0);
        if (mail_user_open("fuzz", false, &u) == 0) {
            mailbox_subscribe(u, "Archive", true);
            mailbox_subscribe(u, "Gone", true);
            mail_user_close(u);
        }
    } else {
        fuzz_store_append("other", "shared", "Subject: shared\r\n\r\nfor fuzz\r\n", 28, 0);
        /* through the access layer, so that the share index knows */
        struct access_who w;
        access_who_init(&w, "other");
        if (access_setacl(&w, "shared", "fuzz", "lrswi") != 0 || access_setacl(&w, "shared", "anyone", "l") != 0) {
            fprintf(stderr, "fuzz-imap-session: SETACL failed\n");
            exit(2);
        }
        access_who_free(&w);
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet("fuzz-imap-session");
    const char *dir = fuzz_tmpdir();
    fuzz_config(dir);
    fuzz_set("allowanonymouslogin", "yes");
    fuzz_set("timeout", "30");
    fuzz_store_open(dir);
    fuzz_add_user("fuzz");
    fuzz_add_user("other");
    for (size_t i = 0; i < ARRAY_SIZE(stores); i++) {
        build(stores[i]);
        fuzz_store_fingerprint(stores[i], &g_fp[i]);
        fuzz_store_save(stores[i]);
    }
    imap_init(fuzz_loop());
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t f = data[0];
    static const char *const prefix[] = {
        NULL,
        "L LOGIN fuzz " FUZZ_PASSWORD "\r\n",
        "L LOGIN fuzz " FUZZ_PASSWORD "\r\nS SELECT INBOX\r\n",
        "L LOGIN fuzz " FUZZ_PASSWORD "\r\nE ENABLE UTF8=ACCEPT IMAP4rev2\r\n",
    };
    fuzz_set("unixhierarchysep", f & 4 ? "no" : "yes");
    fuzz_converse(do_accept, NULL, imap_session_count, prefix[f & 3], data + 1, size - 1, NULL);

    struct buf fp = BUF_INIT;
    for (size_t i = 0; i < ARRAY_SIZE(stores); i++) {
        if (fuzz_store_fingerprint(stores[i], &fp) && strcmp(buf_cstr(&fp), buf_cstr(&g_fp[i])) == 0)
            continue;
        if (getenv("DARIUS_FUZZ_VERBOSE"))
            fprintf(stderr, "fuzz-imap-session: store %s changed, put back:\n--- was\n%s--- now\n%s", stores[i],
                    buf_cstr(&g_fp[i]), buf_cstr(&fp));
        fuzz_store_restore(stores[i]);
    }
    buf_free(&fp);
    return 0;
}
