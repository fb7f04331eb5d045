/* fuzz-lmtp.c - an LMTP session (src/lmtp, src/delivery) driven in-process:
 * the input is what the client sends, through a socketpair into
 * lmtp_accept and the real event loop, reader (command lines, DATA with
 * dot-unstuffing, BDAT chunks), command parser (LHLO, MAIL FROM/RCPT TO
 * with parameters, DATA, BDAT, RSET, VRFY, AUTH, QUIT) and delivery into
 * real stores in a temporary directory. The client shuts down its side
 * after the input; the session must then end.
 *
 * Users: fuzz, bob (with a folder "Projects"), alice@a.test; postuser
 * "bb" for shared folders. Stores changed by an input are removed
 * afterwards, so every input starts from the same state; duplicate
 * suppression is off for the same reason.
 *
 * Input: byte 0 = flags (bit 0: a unix-socket client, else TCP from
 * 127.0.0.1, which is offered AUTH; bit 1: virtdomains; bit 2:
 * createonpost; bit 3: lmtp_ignorequota_requires_auth off), then the
 * client's bytes. */
#include "support.h"
#include "auth.h"
#include "config.h"
#include "lmtp.h"
#include "storage.h"

#include <arpa/inet.h>
#include <netinet/in.h>

static const char *const stores[] = {"fuzz", "bob", "alice@a.test", "%shared"};
static struct buf g_fp[ARRAY_SIZE(stores)];
static bool g_exists[ARRAY_SIZE(stores)];

struct acc {
    bool is_unix;
};

static void do_accept(int fd, void *arg)
{
    const struct acc *a = arg;
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(40000)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (a->is_unix)
        lmtp_accept(fd, NULL, 0, true);
    else
        lmtp_accept(fd, (struct sockaddr *)&sin, sizeof(sin), false);
}

static void snapshot(void)
{
    for (size_t i = 0; i < ARRAY_SIZE(stores); i++)
        g_exists[i] = fuzz_store_fingerprint(stores[i], &g_fp[i]);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet("fuzz-lmtp");
    const char *dir = fuzz_tmpdir();
    fuzz_config(dir);
    fuzz_set("lmtp_timeout", "10");
    fuzz_set("duplicatesuppression", "no");
    fuzz_set("postuser", "bb");
    fuzz_set("defaultdomain", "main.test");
    fuzz_set("lmtp_max_recipients", "20");
    fuzz_store_open(dir);
    fuzz_add_user("fuzz");
    fuzz_add_user("bob");
    fuzz_set("virtdomains", "yes");
    fuzz_add_user("alice@a.test");
    fuzz_set("virtdomains", "no");
    fuzz_store_append("bob", "Projects", "Subject: x\r\n\r\nx\r\n", 16, 0);
    lmtp_init(fuzz_loop());
    snapshot();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t f = data[0];
    struct acc a = {.is_unix = f & 1};
    fuzz_set("virtdomains", f & 2 ? "yes" : "no");
    fuzz_set("createonpost", f & 4 ? "yes" : "no");
    fuzz_set("lmtp_ignorequota_requires_auth", f & 8 ? "no" : "yes");
    fuzz_converse(do_accept, &a, lmtp_session_count, NULL, data + 1, size - 1, NULL);

    /* put back every store the input changed */
    struct buf fp = BUF_INIT;
    for (size_t i = 0; i < ARRAY_SIZE(stores); i++) {
        bool exists = fuzz_store_fingerprint(stores[i], &fp);
        if (exists == g_exists[i] && (!exists || strcmp(buf_cstr(&fp), buf_cstr(&g_fp[i])) == 0))
            continue;
        fuzz_store_delete(stores[i]);
        if (strcmp(stores[i], "bob") == 0)
            fuzz_store_append("bob", "Projects", "Subject: x\r\n\r\nx\r\n", 16, 0);
        g_exists[i] = fuzz_store_fingerprint(stores[i], &g_fp[i]);
    }
    buf_free(&fp);
    return 0;
}
