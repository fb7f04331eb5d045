/* fuzz-conn-inflate.c - the COMPRESS=DEFLATE input path of a connection
 * (src/net/conn.c, conn_compress_start): hostile compressed streams,
 * decompression bombs among them, through a socketpair into a real conn
 * on the real event loop, read by a protocol stand-in.
 *
 * Input: byte 0 = mode.
 *   bit 0   0: the rest is the compressed stream, sent as it is (corrupt
 *              data, truncated blocks, data after a final block, ...);
 *           1: the rest is a bomb program: pairs (byte b, count k), each
 *              k+1 times 64 KiB of b (at most 4 MiB in all), deflated
 *              here with level (bits 4-7 % 10) into a valid stream that
 *              inflates to far more than it is.
 *   bits 1-2 how the stand-in reads: 0 takes everything; 1 takes whole
 *              lines and drops a partial one beyond 8 KiB (as the IMAP
 *              reader does); 2 takes everything, then pauses input and
 *              resumes from a timer (the backlog must wait, then flow);
 *              3 takes half of what it is given (input left over grows
 *              until the stand-in's 256 KiB limit closes the conn, as
 *              conn_memory_limit does for IMAP).
 *   bit 3   echo each line taken back (exercises the deflate side and
 *           its sync flushes while input is inflated), pausing input
 *           while the output is over the high-water mark.
 *
 * Checked besides the sanitizers: every on_input gets at most 64 KiB more
 * than was left unconsumed after the previous one (inflation never hands
 * the protocol more than one plaintext read would); the conn's whole
 * memory (conn_memory: buffers, zlib state, compressed backlog) stays
 * under 1 MiB; the conn ends after the client's EOF. */
#include "support.h"
#include "conn.h"
#include <zlib.h>

#define STEP (64 * 1024)
#define LINE_MAX_FUZZ 8192
#define LEFT_LIMIT (256 * 1024)
#define MEM_LIMIT (1024 * 1024)
#define BOMB_MAX (4u * 1024 * 1024)

struct stand_in {
    struct conn *conn;
    int policy;
    bool echo;
    size_t left;        /* input left unconsumed after the last on_input */
    uint64_t timer;
    size_t total;       /* inflated bytes seen */
};

static struct stand_in g_st;
static size_t g_live;

static void fail(const char *what, size_t a, size_t b)
{
    fprintf(stderr, "fuzz-conn-inflate: %s (%zu, %zu)\n", what, a, b);
    abort();
}

static void resume_cb(struct event_loop *loop, void *arg)
{
    (void)loop;
    struct stand_in *st = arg;
    st->timer = 0;
    if (st->conn)
        conn_resume_input(st->conn);
}

static void on_input(struct conn *c, void *arg)
{
    struct stand_in *st = arg;
    struct buf *in = conn_input(c);
    if (in->len > st->left + STEP)
        fail("on_input got more than one step of new input", in->len, st->left);
    if (conn_memory(c) > MEM_LIMIT)
        fail("connection memory over the bound", conn_memory(c), (size_t)MEM_LIMIT);
    st->total += in->len - MIN(in->len, st->left);
    switch (st->policy) {
    case 1: {
        /* lines taken with one buf_consume at the end (a buffer of 64 KiB
         * of empty lines must not cost a memmove per line) */
        size_t off = 0;
        for (;;) {
            /* back-pressure, as the IMAP reader: no more work while the
             * client does not read; on_drain resumes */
            if (st->echo && conn_output_full(c)) {
                conn_pause_input(c);
                conn_want_drain(c);
                break;
            }
            char *nl = memchr(in->data + off, '\n', in->len - off);
            if (!nl) {
                if (in->len - off > LINE_MAX_FUZZ)
                    off = in->len;
                break;
            }
            size_t n = (size_t)(nl - (in->data + off)) + 1;
            if (st->echo)
                conn_write(c, in->data + off, n);
            off += n;
        }
        buf_consume(in, off);
        break;
    }
    case 3:
        if (st->echo)
            conn_write(c, in->data, MIN(in->len, (size_t)80));
        buf_consume(in, in->len / 2);
        if (in->len > LEFT_LIMIT) {
            conn_close(c);
            st->left = 0;
            return;
        }
        break;
    default:
        if (st->echo)
            conn_write(c, in->data, MIN(in->len, (size_t)80));
        buf_consume(in, in->len);
        if (st->policy == 2 && !st->timer) {
            conn_pause_input(c);
            st->timer = ev_timer_add(conn_loop(c), 0, resume_cb, st);
        }
        break;
    }
    st->left = in->len;
}

static void on_drain(struct conn *c, void *arg)
{
    struct stand_in *st = arg;
    if (!st->timer)
        conn_resume_input(c);
}

static void on_close(struct conn *c, void *arg)
{
    (void)c;
    struct stand_in *st = arg;
    if (st->timer)
        ev_timer_cancel(fuzz_loop(), st->timer);
    st->timer = 0;
    st->conn = NULL;
    g_live--;
}

static const struct conn_callbacks callbacks = {on_input, on_drain, on_close};

static void do_accept(int fd, void *arg)
{
    (void)arg;
    g_live++;
    g_st.conn = conn_new(fuzz_loop(), fd, NULL, 0, NULL, &callbacks, &g_st);
    if (conn_compress_start(g_st.conn) != 0)
        fail("conn_compress_start failed", 0, 0);
}

static size_t live(void)
{
    return g_live;
}

/* Deflate the bomb program into out. */
static void build_bomb(const uint8_t *p, size_t n, int level, struct buf *out)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    if (deflateInit2(&z, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        fail("deflateInit2", 0, 0);
    static unsigned char block[STEP];
    size_t total = 0;
    for (size_t i = 0; i + 1 < n && total < BOMB_MAX; i += 2) {
        memset(block, p[i], sizeof(block));
        for (unsigned k = 0; k <= p[i + 1] && total < BOMB_MAX; k++) {
            z.next_in = block;
            z.avail_in = sizeof(block);
            total += sizeof(block);
            do {
                buf_reserve(out, 4096);
                z.next_out = (Bytef *)out->data + out->len;
                z.avail_out = (uInt)(out->cap - out->len - 1);
                uInt before = z.avail_out;
                deflate(&z, Z_NO_FLUSH);
                out->len += before - z.avail_out;
            } while (z.avail_in > 0 || z.avail_out == 0);
        }
    }
    int r;
    do {
        buf_reserve(out, 4096);
        z.next_out = (Bytef *)out->data + out->len;
        z.avail_out = (uInt)(out->cap - out->len - 1);
        uInt before = z.avail_out;
        r = deflate(&z, Z_SYNC_FLUSH);
        out->len += before - z.avail_out;
    } while (r == Z_OK && z.avail_out == 0);
    deflateEnd(&z);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet("fuzz-conn-inflate");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    memset(&g_st, 0, sizeof(g_st));
    g_st.policy = (data[0] >> 1) & 3;
    g_st.echo = (data[0] >> 3) & 1;
    struct buf stream = BUF_INIT;
    if (data[0] & 1)
        build_bomb(data + 1, size - 1, (data[0] >> 4) % 10, &stream);
    else
        buf_append(&stream, data + 1, size - 1);
    fuzz_converse(do_accept, NULL, live, NULL, (const uint8_t *)stream.data, stream.len, NULL);
    buf_free(&stream);
    return 0;
}
