/* fuzz-pop3.c - a POP3 session (src/pop3) driven in-process: the input is
 * what the client sends, through a socketpair into pop3_accept and the
 * real event loop: the line reader, command splitting (pop3-wire.c),
 * the AUTHORIZATION commands (USER, PASS, APOP, AUTH with every SASL
 * mechanism and initial responses, CAPA, UTF8, STLS without TLS) and the
 * TRANSACTION state over a real INBOX (STAT, LIST, UIDL, RETR, TOP with
 * dot-stuffing, DELE, RSET, NOOP, QUIT and the UPDATE state). The client
 * shuts down its side after the input; the session must then end.
 *
 * The user "fuzz" has three messages (support.c) and a folder "Sub"; a
 * store changed by an input (DELE + QUIT) is put back before the next
 * one.
 *
 * Input: byte 0 = flags (bit 0: the harness logs in first with
 * "USER fuzz" / "PASS " FUZZ_PASSWORD, so mutations start in the
 * TRANSACTION state; bit 1: popsubfolders), then the client's bytes. */
#include "support.h"
#include "config.h"
#include "pop3.h"
#include "storage.h"

#include <arpa/inet.h>
#include <netinet/in.h>

static struct buf g_fp;

static void do_accept(int fd, void *arg)
{
    (void)arg;
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(40000)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    pop3_accept(fd, (struct sockaddr *)&sin, sizeof(sin), false);
}

static void populate(void)
{
    fuzz_populate("fuzz");
    fuzz_store_append("fuzz", "Sub", "Subject: sub\r\n\r\nin a subfolder\r\n", 32, 0);
    fuzz_store_fingerprint("fuzz", &g_fp);
    fuzz_store_save("fuzz");
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet("fuzz-pop3");
    const char *dir = fuzz_tmpdir();
    fuzz_config(dir);
    fuzz_store_open(dir);
    fuzz_add_user("fuzz");
    populate();
    pop3_init(fuzz_loop());
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t f = data[0];
    fuzz_set("popsubfolders", f & 2 ? "yes" : "no");
    fuzz_converse(do_accept, NULL, pop3_session_count, f & 1 ? "USER fuzz\r\nPASS " FUZZ_PASSWORD "\r\n" : NULL,
                  data + 1, size - 1, NULL);
    struct buf fp = BUF_INIT;
    if (!fuzz_store_fingerprint("fuzz", &fp) || strcmp(buf_cstr(&fp), buf_cstr(&g_fp)) != 0)
        fuzz_store_restore("fuzz");
    buf_free(&fp);
    return 0;
}
