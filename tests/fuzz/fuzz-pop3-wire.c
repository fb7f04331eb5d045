/* fuzz-pop3-wire.c - the pure POP3 helpers (src/pop3/pop3-wire.c):
 * command splitting (pop3_parse_line), message numbers and TOP counts,
 * and the RETR/TOP transfer encoder (CRLF line ends, dot-stuffing) with
 * the exact size LIST and STAT announce (pop3_wire_size).
 *
 * Input: byte 0 selects: even = a command line (the rest, up to a NUL);
 * odd = a stored message (the rest after byte 1 and 2): byte 1 = TOP
 * line count (255: RETR), byte 2 = output chunk size. Checked besides
 * the sanitizers: arguments lie inside the line and are non-empty, at
 * most POP3_MAX_ARGS of them; RETR produces exactly pop3_wire_size
 * octets whatever the chunking; the output is CRLF lines and no line is
 * a lone "." (which would end the response early); TOP sends the header,
 * the blank line and at most n body lines. */
#include "support.h"
#include "pop3.h"

static void fail(const char *what)
{
    fprintf(stderr, "fuzz-pop3-wire: %s\n", what);
    abort();
}

static void check_lines(const struct buf *b)
{
    const char *p = buf_cstr(b), *end = p + b->len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl || nl == p || nl[-1] != '\r')
            fail("output line not ended by CRLF");
        if (nl - p == 2 && p[0] == '.')
            fail("a line \".\" inside the response");
        p = nl + 1;
    }
}

/* Body lines in the output after the first empty line (the header end). */
static long body_lines(const struct buf *b, bool *saw_blank)
{
    const char *p = buf_cstr(b), *end = p + b->len;
    long n = 0;
    *saw_blank = false;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (*saw_blank)
            n++;
        else if (nl - p == 1)
            *saw_blank = true;
        p = nl + 1;
    }
    return n;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet("fuzz-pop3-wire");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if (!(data[0] & 1)) {
        char *line = xstrndup((const char *)data + 1, size - 1);
        size_t len = strlen(line);
        struct pop3_cmdline cl;
        if (pop3_parse_line(line, &cl)) {
            if (cl.argc > POP3_MAX_ARGS)
                fail("too many arguments");
            for (int i = 0; i < cl.argc; i++) {
                if (cl.argv[i] < line || cl.argv[i] > line + len || !*cl.argv[i])
                    fail("argument outside the line or empty");
                uint32_t n;
                long c;
                if (pop3_parse_msgnum(cl.argv[i], 1000, &n) && (n == 0 || n > 1000))
                    fail("message number out of range");
                if (pop3_parse_count(cl.argv[i], &c) && c < 0)
                    fail("negative TOP count");
            }
            if (cl.rest < line || cl.rest > line + len)
                fail("rest outside the line");
        }
        free(line);
        return 0;
    }
    if (size < 3)
        return 0;
    long top = data[1] == 255 ? -1 : data[1];
    size_t chunk = 1 + data[2];
    size_t len = size - 3;
    char *msg = xmalloc(len ? len : 1);
    memcpy(msg, data + 3, len);

    uint64_t want = pop3_wire_size(msg, len);
    struct pop3_xfer x;
    struct buf out = BUF_INIT;
    pop3_xfer_init(&x, msg, len, -1);
    for (size_t guard = 0; !pop3_xfer_run(&x, &out, chunk); guard++)
        if (guard > len + 10)
            fail("RETR transfer does not finish");
    if (out.len != want)
        fail("RETR sends another size than pop3_wire_size");
    check_lines(&out);

    buf_reset(&out);
    pop3_xfer_init(&x, msg, len, top);
    for (size_t guard = 0; !pop3_xfer_run(&x, &out, chunk); guard++)
        if (guard > len + 10)
            fail("TOP transfer does not finish");
    check_lines(&out);
    bool blank;
    long n = body_lines(&out, &blank);
    if (top >= 0 && n > top)
        fail("TOP sent more body lines than asked for");
    if (top >= 0 && out.len > want)
        fail("TOP sent more than RETR would");
    buf_free(&out);
    free(msg);
    return 0;
}
