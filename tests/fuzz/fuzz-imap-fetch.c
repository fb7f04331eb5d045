/* fuzz-imap-fetch.c - FETCH attributes (imap-fetch-parse.c): the sequence
 * set, "att" or "(att ...)" with BODY[section]<partial>, BINARY[...],
 * HEADER.FIELDS lists, macros and the CHANGEDSINCE/VANISHED modifiers;
 * then, for an accepted request, each item's section is echoed
 * (fetch_section_write), its partial range applied (fetch_partial_slice)
 * and the section looked up and rendered in a fixed MIME message the way
 * FETCH does (mime_find_section, the header filter, transfer decoding).
 *
 * Input: byte 0 = flags (bit 0: UTF-8 quoted strings; bit 1: no sequence
 * set, the text starts with the items' leading SP), then the text after
 * "tag FETCH" / "tag UID FETCH", e.g. " 1:* (FLAGS BODY.PEEK[1.MIME])". */
#include "support.h"
#include "imap.h"
#include "imap-fetch.h"
#include "mime.h"

static const char message[] =
    "From: a@example.com\r\n"
    "To: b@example.com\r\n"
    "Subject: =?UTF-8?Q?h=C3=A9llo?=\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=\"outer\"\r\n"
    "\r\n"
    FUZZ_MSG_OUTER_PARTS
    "Content-Type: application/octet-stream; name=\"x.bin\"\r\n"
    "Content-Transfer-Encoding: x-unknown\r\n"
    "\r\n"
    "data\r\n"
    "--outer--\r\n";

static struct mime_message *g_mime;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet("fuzz-imap-fetch");
    fuzz_config(NULL);
    g_mime = mime_parse(message, sizeof(message) - 1);
    return 0;
}

/* What FETCH would send for one section of the fixed message. */
static void render(const struct fetch_item *it, struct buf *out)
{
    const struct fetch_section *sec = &it->sec;
    const struct mime_part *p = mime_find_section(g_mime, sec->part);
    if (!p)
        return;
    const char *d = message;
    const char *data = NULL;
    size_t len = 0;
    struct buf tmp = BUF_INIT;
    if (it->type == FI_BINARY || it->type == FI_BINARY_SIZE) {
        if (!p->nchildren && !p->message && !mime_decode_transfer(p->encoding, d + p->body_off, p->body_len, &tmp)) {
            buf_free(&tmp);
            return; /* UNKNOWN-CTE */
        }
        data = tmp.data ? tmp.data : "";
        len = tmp.len;
    } else if (sec->kind == SEC_ALL) {
        data = d + p->body_off;
        len = p->body_len;
    } else if (sec->kind == SEC_MIME) {
        data = d + p->hdr_off;
        len = p->hdr_len;
    } else {
        const struct mime_part *m = sec->part[0] ? p->message : p;
        if (!m) {
            buf_free(&tmp);
            return;
        }
        if (sec->kind == SEC_HEADER) {
            data = d + m->hdr_off;
            len = m->hdr_len;
        } else if (sec->kind == SEC_TEXT) {
            data = d + m->body_off;
            len = m->body_len;
        } else {
            mime_header_filter(&tmp, d + m->hdr_off, m->hdr_len, (const char *const *)sec->fields, sec->nfields,
                               sec->kind == SEC_HEADER_FIELDS_NOT);
            data = tmp.data ? tmp.data : "";
            len = tmp.len;
        }
    }
    size_t st, n;
    fetch_partial_slice(len, it->partial, it->offset, it->count, &st, &n);
    if (st > len || n > len - st) {
        fprintf(stderr, "fuzz-imap-fetch: partial slice %zu+%zu outside %zu bytes\n", st, n, len);
        abort();
    }
    buf_append(out, data + st, n);
    buf_free(&tmp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    bool utf8 = data[0] & 1;
    bool no_set = data[0] & 2;
    struct imap_cmd cmd;
    struct imap_parser ps;
    fuzz_imap_cmd_init(&cmd, &ps, data + 1, size - 1, utf8);

    struct seqset set = {0};
    bool ok = no_set || (imap_p_sp(&ps) && imap_p_seqset(&ps, &set));
    if (ok) {
        struct fetch_req req;
        const char *err = NULL;
        if (fetch_parse(&ps, &cmd, &req, &err)) {
            if (req.nitems == 0) {
                fprintf(stderr, "fuzz-imap-fetch: accepted without items\n");
                abort();
            }
            struct buf out = BUF_INIT;
            for (size_t i = 0; i < req.nitems; i++) {
                const struct fetch_item *it = &req.items[i];
                if (!it->name || strnlen(it->sec.part, sizeof(it->sec.part)) >= sizeof(it->sec.part)) {
                    fprintf(stderr, "fuzz-imap-fetch: item without a name or unterminated part\n");
                    abort();
                }
                buf_puts(&out, it->name);
                fetch_section_write(&out, &it->sec);
                if (it->type == FI_SECTION || it->type == FI_BINARY || it->type == FI_BINARY_SIZE)
                    render(it, &out);
            }
            buf_free(&out);
        } else if (!err) {
            fprintf(stderr, "fuzz-imap-fetch: refused without an error text\n");
            abort();
        }
        fetch_req_free(&req);
    }
    seqset_free(&set);
    fuzz_imap_cmd_free(&cmd);
    return 0;
}
