/* cli-password.c - reading a new password for "user add" / "user passwd".
 *
 * On a terminal we prompt twice with echo off (termios), restoring the
 * terminal even when interrupted. Otherwise standard input supplies
 * exactly one line; its newline is not part of the password, which makes
 * `echo secret | darius user add bob` and here-documents work.
 */
#include "cli.h"
#include "auth.h"
#include <errno.h>
#include <signal.h>
#include <termios.h>
#include <unistd.h>

static struct termios saved_tio;
static volatile sig_atomic_t tio_saved;

static void restore_tty(int sig)
{
    if (tio_saved)
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tio);
    signal(sig, SIG_DFL);
    raise(sig);
}

enum read_fail { READ_EOF, READ_TOO_LONG, READ_NUL };

/* Read one line of at most AUTH_MAX_PASSWORD bytes (without the newline).
 * Returns NULL (reason in *why) on EOF before any byte, too long input or
 * a NUL byte. */
static char *read_line(FILE *f, enum read_fail *why)
{
    struct buf b = BUF_INIT;
    int c;
    bool any = false;
    *why = READ_EOF;
    while ((c = getc(f)) != EOF) {
        any = true;
        if (c == '\n')
            break;
        if (c == '\0' || b.len >= AUTH_MAX_PASSWORD) {
            *why = c == '\0' ? READ_NUL : READ_TOO_LONG;
            /* Drain the rest of the line so nothing leaks to a later read. */
            while ((c = getc(f)) != EOF && c != '\n')
                ;
            if (b.data)
                explicit_bzero(b.data, b.cap);
            buf_free(&b);
            return NULL;
        }
        buf_putc(&b, (char)c);
    }
    if (!any) {
        buf_free(&b);
        return NULL;
    }
    /* Tolerate CRLF from files edited on other systems. */
    if (b.len && b.data[b.len - 1] == '\r')
        buf_truncate(&b, b.len - 1);
    if (!b.data)
        buf_append(&b, "", 0);
    return buf_release(&b);
}

static char *prompt_noecho(const char *prompt, enum read_fail *why)
{
    fputs(prompt, stderr);
    fflush(stderr);
    struct termios tio;
    bool have = tcgetattr(STDIN_FILENO, &tio) == 0;
    if (have) {
        saved_tio = tio;
        tio_saved = 1;
        tio.c_lflag &= ~(tcflag_t)ECHO;
        tio.c_lflag |= ECHONL;
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &tio);
    }
    char *line = read_line(stdin, why);
    if (have) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tio);
        tio_saved = 0;
    }
    return line;
}

char *cli_read_password(void)
{
    enum read_fail why = READ_EOF;
    char *pw;
    if (!cli_opt_password_stdin && isatty(STDIN_FILENO)) {
        struct sigaction sa, old_int, old_term;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = restore_tty;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, &old_int);
        sigaction(SIGTERM, &sa, &old_term);
        pw = prompt_noecho("New password: ", &why);
        char *again = pw ? prompt_noecho("Retype new password: ", &why) : NULL;
        sigaction(SIGINT, &old_int, NULL);
        sigaction(SIGTERM, &old_term, NULL);
        if (pw && (!again || strcmp(pw, again) != 0)) {
            cli_error("passwords do not match");
            explicit_bzero(pw, strlen(pw));
            free(pw);
            pw = NULL;
            if (again) {
                explicit_bzero(again, strlen(again));
                free(again);
            }
            return NULL;
        }
        if (again) {
            explicit_bzero(again, strlen(again));
            free(again);
        }
    } else {
        pw = read_line(stdin, &why);
    }
    if (!pw) {
        if (why == READ_TOO_LONG)
            cli_error("password too long (at most %d bytes)", AUTH_MAX_PASSWORD);
        else if (why == READ_NUL)
            cli_error("password contains a NUL byte");
        else if (!ferror(stdin))
            cli_error("no password given on standard input");
        else
            cli_error("reading password: %s", strerror(errno));
        return NULL;
    }
    if (!*pw) {
        cli_error("empty password");
        free(pw);
        return NULL;
    }
    return pw;
}
