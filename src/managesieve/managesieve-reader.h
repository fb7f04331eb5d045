/* managesieve-reader.h - ManageSieve (RFC 5804) command reader and string output.
 *
 * The wire grammar (RFC 5804 section 4) is small: a command is an atom
 * followed by arguments that are atoms/numbers or strings, and a string
 * is either quoted (at most 1024 octets between the quotes, escapes only
 * for '"' and '\') or a literal "{N+}" CRLF N octets. Unlike IMAP there
 * is no continuation request, so a client may send the synchronising form
 * "{N}" too (older clients and Cyrus's sieveshell do) and we read it the
 * same way. A literal may be followed by more arguments on the next
 * "line" ("HAVESPACE {3+}CRLF foo 100 CRLF").
 *
 * The reader is incremental: it consumes what it can from the
 * connection's input buffer and reports a complete command, a need for
 * more input, or an error. Every size is bounded: the text outside
 * literals of one command (MSV_MAX_LINE), the number of arguments
 * (MSV_MAX_ARGS), each literal (max_literal, set by the session:
 * small before authentication, sieve_maxscriptsize after), and all
 * literals of one command together (max_literal + MSV_MAX_LINE: no
 * command needs more than one big string). After an
 * error the rest of the command (including the octets of any announced
 * literal, which the client sends without waiting) is skipped, so the
 * next command starts in the right place.
 */
#ifndef DARIUS_MANAGESIEVE_READER_H
#define DARIUS_MANAGESIEVE_READER_H

#include "common.h"
#include "buf.h"

#define MSV_MAX_ARGS 6          /* AUTHENTICATE mech + response is the most a command takes */
#define MSV_MAX_LINE 8192       /* command text outside literals */
#define MSV_MAX_QUOTED 1024     /* RFC 5804 section 4, "quoted" */
#define MSV_MAX_ATOM 1024       /* RFC 5804 section 4, "atom" */

enum msv_arg_type { MSV_ARG_ATOM, MSV_ARG_STRING };

struct msv_arg {
    enum msv_arg_type type;
    bool literal;       /* a string sent as a literal */
    char *data;         /* NUL-terminated (may contain NULs if a literal) */
    size_t len;
};

struct msv_command {
    size_t nargs;       /* args[0] is the command name (an atom) or, for an
                         * AUTHENTICATE continuation, the client's string */
    struct msv_arg args[MSV_MAX_ARGS];
};

enum msv_read_status {
    MSV_READ_MORE = 0,  /* nothing complete yet: read more input */
    MSV_READ_COMMAND,   /* *out holds a command; free it with msv_command_clear */
    MSV_READ_ERROR,     /* a bad command was skipped: answer NO with msv_reader_error() */
};

enum msv_read_error {
    MSV_ERR_NONE = 0,
    MSV_ERR_SYNTAX,     /* bad token, unterminated quote, bad escape, control character */
    MSV_ERR_TOOLONG,    /* line or quoted string or atom too long, too many arguments */
    MSV_ERR_LITERAL,    /* a literal over max_literal: QUOTA/MAXSIZE for PUTSCRIPT */
    MSV_ERR_UTF8,       /* a quoted string that is not UTF-8 */
};

struct msv_reader {
    size_t max_literal;         /* set by the session; 0 = MSV_MAX_LINE */
    /* state of the command being read */
    struct msv_command cmd;
    struct msv_arg *lit;        /* the literal being filled, or NULL */
    size_t lit_left;            /* octets of it still to come */
    size_t text_len;            /* command text outside literals so far */
    size_t lit_total;           /* literal octets of the command so far */
    /* skipping after an error */
    bool skipping;
    size_t skip_left;           /* literal octets to discard */
    enum msv_read_error err;
    char err_cmd[32];           /* the command name of the bad command, if known */
};

void msv_reader_init(struct msv_reader *r, size_t max_literal);
/* Forget a partly read command (and its memory). */
void msv_reader_reset(struct msv_reader *r);
/* Consume input from in. On MSV_READ_COMMAND the command is moved into
 * *out (the reader is ready for the next one). On MSV_READ_ERROR the bad
 * command has been consumed entirely; msv_reader_error() says why and
 * msv_reader_error_command() which command it was ("" if unknown). The
 * caller calls again after either, while input is left. */
enum msv_read_status msv_reader_input(struct msv_reader *r, struct buf *in, struct msv_command *out);
enum msv_read_error msv_reader_error(const struct msv_reader *r);
const char *msv_reader_error_command(const struct msv_reader *r);
/* True while a command is partly read (input pending for it). */
bool msv_reader_busy(const struct msv_reader *r);
void msv_command_clear(struct msv_command *c);

/* Human-readable text for an error (for the NO response). */
const char *msv_read_error_text(enum msv_read_error e);

/* Append s as a ManageSieve string: quoted when it is short UTF-8
 * without CR, LF or NUL, otherwise as a literal "{N}" CRLF data
 * (literal-s2c). */
void msv_put_string(struct buf *out, const char *s, size_t len);

#endif
