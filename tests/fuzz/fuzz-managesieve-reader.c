/* fuzz-managesieve-reader.c - the ManageSieve command reader
 * (src/managesieve/managesieve-reader.c) over hostile input.
 *
 * Input: byte 0 = chunk size (1..256) in which the rest is fed, as a
 * network would split it; byte 1 = the literal limit in KiB. Checked
 * besides the sanitizers: the input buffer never holds more than one
 * line bound plus one chunk (the reader consumes or drops what it
 * cannot use), every command has 1..MSV_MAX_ARGS arguments, quoted
 * strings are within the RFC 5804 bound and valid UTF-8, literals within
 * the limit, and msv_put_string output reads back as the same string. */
#include "support.h"
#include "managesieve-reader.h"
#include "utf8.h"

static void fail(const char *what)
{
    fprintf(stderr, "fuzz-managesieve-reader: %s\n", what);
    abort();
}

static void roundtrip(const struct msv_arg *a)
{
    struct buf out = BUF_INIT, in = BUF_INIT;
    buf_puts(&out, "NOOP ");
    msv_put_string(&out, a->data, a->len);
    buf_puts(&out, "\r\n");
    struct msv_reader r;
    msv_reader_init(&r, a->len + 1);
    buf_append(&in, out.data, out.len);
    struct msv_command c;
    if (msv_reader_input(&r, &in, &c) != MSV_READ_COMMAND)
        fail("msv_put_string output is not read back");
    if (c.nargs != 2 || c.args[1].len != a->len || memcmp(c.args[1].data, a->data, a->len) != 0)
        fail("msv_put_string round trip changed the string");
    msv_command_clear(&c);
    msv_reader_reset(&r);
    buf_free(&out);
    buf_free(&in);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t chunk = (size_t)data[0] % 256 + 1;
    size_t maxlit = ((size_t)data[1] % 64) * 1024;
    data += 2;
    size -= 2;
    struct msv_reader r;
    msv_reader_init(&r, maxlit);
    struct buf in = BUF_INIT;
    size_t i = 0;
    while (i < size) {
        size_t k = MIN(chunk, size - i);
        buf_append(&in, data + i, k);
        i += k;
        for (;;) {
            struct msv_command c;
            enum msv_read_status st = msv_reader_input(&r, &in, &c);
            if (st == MSV_READ_MORE)
                break;
            if (st == MSV_READ_ERROR) {
                if (msv_reader_error(&r) == MSV_ERR_NONE)
                    fail("an error without a reason");
                continue;
            }
            if (c.nargs < 1 || c.nargs > MSV_MAX_ARGS)
                fail("argument count out of bounds");
            for (size_t a = 0; a < c.nargs; a++) {
                const struct msv_arg *arg = &c.args[a];
                if (arg->type == MSV_ARG_STRING && !arg->literal &&
                    (arg->len > MSV_MAX_QUOTED || !utf8_valid(arg->data, arg->len)))
                    fail("quoted string out of bounds or not UTF-8");
                if (arg->literal && arg->len > (maxlit ? maxlit : MSV_MAX_LINE))
                    fail("literal over the limit");
                if (arg->data[arg->len] != '\0')
                    fail("argument not NUL-terminated");
                if (a == 1)
                    roundtrip(arg);
            }
            msv_command_clear(&c);
        }
        if (in.len > MSV_MAX_LINE + chunk)
            fail("input buffer grows without bound");
    }
    msv_reader_reset(&r);
    buf_free(&in);
    return 0;
}
