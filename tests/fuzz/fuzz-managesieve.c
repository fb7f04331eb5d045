/* fuzz-managesieve.c - a ManageSieve session (src/managesieve) driven
 * in-process: the input is what the client sends, through a socketpair
 * into managesieve_accept and the real event loop: the command reader
 * (literals, quoted strings, resynchronisation after errors), every
 * command in both states (AUTHENTICATE with every SASL mechanism, initial
 * responses, continuations and "*"; STARTTLS without TLS; UNAUTHENTICATE;
 * HAVESPACE, PUTSCRIPT and CHECKSCRIPT through the Sieve compiler,
 * LISTSCRIPTS, SETACTIVE, GETSCRIPT, DELETESCRIPT, RENAMESCRIPT against
 * the user's real store). The client shuts down its side after the
 * input; the session must then end.
 *
 * The user "fuzz" starts without scripts; an input that left some has
 * its store put back before the next one.
 *
 * Input: byte 0 = flags (bit 0: the harness authenticates first with
 * AUTHENTICATE "PLAIN" and an initial response, so mutations start in the
 * authenticated state; bit 1: sieve_maxscriptsize 1 KiB instead of 32),
 * then the client's bytes. */
#include "support.h"
#include "base64.h"
#include "config.h"
#include "managesieve.h"
#include "storage.h"

#include <arpa/inet.h>
#include <netinet/in.h>

static char *g_login;

static void do_accept(int fd, void *arg)
{
    (void)arg;
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(40000)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    managesieve_accept(fd, (struct sockaddr *)&sin, sizeof(sin), false);
}

static int count_cb(const struct sieve_store_info *info, void *arg)
{
    (void)info;
    (*(size_t *)arg)++;
    return 0;
}

/* Scripts left by the last input? */
static bool has_scripts(void)
{
    struct mail_user *u;
    if (mail_user_open("fuzz", false, &u) < 0)
        return true;
    size_t n = 0;
    int err = sieve_store_list(u, count_cb, &n);
    mail_user_close(u);
    storage_linger_drop("fuzz", 0);
    return err < 0 || n > 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet("fuzz-managesieve");
    const char *dir = fuzz_tmpdir();
    fuzz_config(dir);
    fuzz_store_open(dir);
    fuzz_add_user("fuzz");
    fuzz_populate("fuzz");
    fuzz_store_save("fuzz");
    managesieve_init(fuzz_loop());
    static const char cred[] = "\0fuzz\0" FUZZ_PASSWORD;
    struct buf b = BUF_INIT;
    buf_puts(&b, "AUTHENTICATE \"PLAIN\" \"");
    base64_encode((const unsigned char *)cred, sizeof(cred) - 1, &b);
    buf_puts(&b, "\"\r\n");
    g_login = buf_release(&b);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t f = data[0];
    fuzz_set("sieve_maxscriptsize", f & 2 ? "1" : "32");
    fuzz_converse(do_accept, NULL, managesieve_session_count, f & 1 ? g_login : NULL, data + 1, size - 1, NULL);
    if (has_scripts())
        fuzz_store_restore("fuzz");
    return 0;
}
