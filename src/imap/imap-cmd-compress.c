/* imap-cmd-compress.c - COMPRESS (RFC 4978).
 *
 * The stream itself is the connection layer's (conn_compress_start in
 * src/net/conn.c: raw deflate, then TLS; output sync-flushed whenever a
 * response is complete, inflated input bounded by the reader's limits).
 * Here: the command, its states and errors. Offered only after login
 * (RFC 4978 5: command-auth), so never before STARTTLS, which is a
 * not-authenticated command; the conn refuses STARTTLS once compressing.
 */
#include "imap.h"
#include "log.h"

IMAP_CMD(cmd_compress)
{
    struct imap_parser *ps = &cmd->ps;
    char *mech;
    if (!imap_p_sp(ps) || !(mech = imap_p_atom(ps, cmd)) || !imap_p_end(ps)) {
        imap_tagged(s, cmd, "BAD", "Syntax: COMPRESS DEFLATE");
        return CMD_DONE;
    }
    /* RFC 4978 3: BAD for an unknown argument. */
    if (strcasecmp(mech, "DEFLATE") != 0) {
        imap_tagged(s, cmd, "BAD", "Unknown compression mechanism");
        return CMD_DONE;
    }
    /* RFC 4978 3: BAD when COMPRESS is already active (NO is for
     * compression in another layer, and TLS compression is always off
     * here, SSL_OP_NO_COMPRESSION); the code says why. */
    if (!s->conn || conn_is_compressed(s->conn)) {
        imap_tagged(s, cmd, "BAD", "[COMPRESSIONACTIVE] DEFLATE already active via COMPRESS");
        return CMD_DONE;
    }
    /* The OK is queued first and goes out uncompressed; everything after
     * its CRLF is compressed (RFC 4978 3). */
    imap_tagged(s, cmd, "OK", "DEFLATE active");
    if (conn_compress_start(s->conn) < 0) {
        /* Only on an allocation failure in zlib: the client now sends
         * compressed data we cannot read. */
        log_err("imap: COMPRESS: cannot start compression: addr=%s", s->peer);
        imap_session_close(s, NULL);
        return CMD_DONE;
    }
    log_debug("imap: compression on: user=%s addr=%s", s->user ? s->user : "-", s->peer);
    return CMD_DONE;
}
