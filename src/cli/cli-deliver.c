/* cli-deliver.c - `darius deliver`: local delivery from a pipe.
 *
 *   darius [-C FILE] deliver [-m MAILBOX] [-e] [-q] [-F FLAG]...
 *                            [-f SENDER | -r SENDER] [-a AUTHID] [USER...]
 *
 * Targets (Cyrus deliver): each USER (an address as LMTP takes it, so
 * "bob+Lists", "bb+news@example.com" or an lmtp_address_map entry work);
 * with -m MAILBOX each USER's folder MAILBOX (as USER+MAILBOX: delivered
 * there when it grants p to the poster, else INBOX). -m with no USER, or
 * -m in the admin namespace form ("Shared Folders/news", "user/bob/Lists";
 * the IMAP separator), names one mailbox that must exist and grant p.
 * The poster for the p right is -a AUTHID, else "anyone".
 *
 * The equivalent of Cyrus's deliver for MTAs that pipe a message (Postfix
 * mailbox_command or a pipe(8) transport, sendmail's local mailer). The
 * message is read from standard input and delivered with the same code
 * as LMTP (src/delivery): one spool file, linked into every recipient's
 * store, durable before we exit 0. Works whether or not dariusd runs;
 * running servers learn of the new mail through the notify sockets.
 *
 * Started as root, it first becomes the configured `user` (as dariusd
 * does), so the files it creates stay readable by the server.
 *
 * Exit status (sysexits.h, understood by Postfix and sendmail):
 *   0  delivered to every user (or suppressed as a duplicate)
 *   64 usage error
 *   65 EX_DATAERR   message refused (too big, 8-bit header with reject8bit)
 *   67 EX_NOUSER    a user does not exist
 *   73 EX_CANTCREAT over quota with lmtp_overquota_perm_failure: yes
 *   74 EX_IOERR     cannot read standard input
 *   75 EX_TEMPFAIL  local error (disk full, I/O, over quota by default,
 *                   mail a Sieve script sends that sendmail did not take
 *                   when no copy was stored): the MTA retries later
 *   77 EX_NOPERM    refused by the user's Sieve script (ereject; the
 *                   reason on standard error, which the MTA bounces with)
 *   78 EX_CONFIG    configuration error
 * With several users the most urgent status wins: 75, then 77, 67, 73, 65.
 *
 * Each USER that is a user (not an exact shared or mapped target) runs
 * Sieve as at LMTP delivery (delivery-sieve.h): the active script and
 * sieve_before / sieve_after.
 */
#include "cli.h"
#include "config.h"
#include "delivery.h"
#include "delivery-sieve.h"
#include "log.h"
#include "storage.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <signal.h>
#include <strings.h>
#include <unistd.h>

static void deliver_usage(FILE *f)
{
    fprintf(f, "Usage: darius [-C FILE] deliver [-m MAILBOX] [-e] [-q] [-F FLAG]... [-f SENDER | -r SENDER]\n"
               "                                [-a AUTHID] USER... | -m MAILBOX\n\n"
               "Deliver the message on standard input to each USER (user, user+folder, postuser+folder).\n\n"
               "  -m MAILBOX  deliver into each user's folder MAILBOX (as user+MAILBOX); without\n"
               "              USER the shared mailbox MAILBOX; as \"Shared Folders/NAME\" or\n"
               "              \"user/NAME/FOLDER\" exactly that mailbox (must exist and grant p)\n"
               "  -e          duplicate delivery suppression by Message-ID\n"
               "  -q          ignore quota (accepted; see docs/config.md)\n"
               "  -F FLAG     set FLAG (\\Seen, \\Flagged, ... or a keyword); repeatable\n"
               "  -f, -r SENDER  envelope sender: adds Return-Path: <SENDER>\n"
               "  -a AUTHID   identity whose p right the folder's ACL must grant (default: anyone)\n\n"
               "Exit status: 0 delivered, 64 usage, 65 message refused, 67 no such user or mailbox,\n"
               "73 over quota (permanent), 74 input error, 75 temporary failure, 78 configuration.\n");
}

static bool has_prefix(const char *name, const char *pfx)
{
    size_t l = strlen(pfx);
    return l && strncasecmp(name, pfx, l) == 0 && name[l] == '/';
}

/* "Shared Folders/...", "user/bob/..." or "Other Users/bob/...". */
static bool is_admin_form(const char *name)
{
    return has_prefix(name, config_str(CFG_SHAREDPREFIX)) || has_prefix(name, "user") ||
           has_prefix(name, config_str(CFG_USERPREFIX));
}

static bool datadir_owned_by(const char *datadir, uid_t uid)
{
    struct stat st;
    return stat(datadir, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == uid;
}

int cli_drop_to_user(const char *config_file)
{
    if (geteuid() != 0)
        return 0;
    char err[512];
    struct config *c = config_load(config_file, err, sizeof(err));
    if (!c)
        return 0; /* cli_setup reports the error */
    const char *user = cfg_str(c, CFG_USER);
    int rc = 0;
    if (*user && strcmp(user, "root") != 0) {
        struct passwd *pw = getpwnam(user);
        if (!pw) {
            cli_error("user %s (configuration option user) does not exist", user);
            rc = EX_CONFIG;
        } else if (!datadir_owned_by(cfg_str(c, CFG_DATADIR), pw->pw_uid)) {
            /* Not handed over yet (no dariusd start since it was made):
             * stay root; the master gives the whole tree to the account
             * at its next start (master.c chown_tree). */
        } else if (initgroups(pw->pw_name, pw->pw_gid) < 0 || setgid(pw->pw_gid) < 0 ||
                   setuid(pw->pw_uid) < 0 || setuid(0) == 0) {
            cli_error("cannot switch to user %s: %s", user, strerror(errno));
            rc = EX_OSERR;
        }
    }
    config_free(c);
    return rc;
}

static int rank(int ex)
{
    switch (ex) {
    case EX_TEMPFAIL:
        return 5;
    case EX_NOPERM:
        return 4;
    case EX_NOUSER:
        return 3;
    case EX_CANTCREAT:
        return 2;
    case EX_DATAERR:
        return 1;
    default:
        return 0;
    }
}

static int worse(int a, int b)
{
    return rank(b) > rank(a) ? b : a;
}

static bool add_flag(const char *f, uint32_t *flags, struct buf *kw)
{
    static const struct {
        const char *name;
        uint32_t bit;
    } sys[] = {{"\\Seen", MSG_SEEN},
               {"\\Answered", MSG_ANSWERED},
               {"\\Flagged", MSG_FLAGGED},
               {"\\Deleted", MSG_DELETED},
               {"\\Draft", MSG_DRAFT}};
    for (size_t i = 0; i < ARRAY_SIZE(sys); i++)
        if (strcasecmp(f, sys[i].name) == 0) {
            *flags |= sys[i].bit;
            return true;
        }
    if (f[0] == '\\' || !*f || strlen(f) > STORAGE_MAX_KEYWORD)
        return false;
    for (const char *p = f; *p; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f || strchr("(){%*\"\\]", *p))
            return false;
    if (kw->len)
        buf_putc(kw, ' ');
    buf_puts(kw, f);
    return true;
}

/* Copy standard input into the spool; a leading mbox "From " envelope
 * line (some MTAs prepend one) is not part of the message. */
static int read_stdin(struct dspool *sp)
{
    char *b = xmalloc(65536);
    bool first = true, skipping = false;
    for (;;) {
        ssize_t n = read(STDIN_FILENO, b, 65536);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            cli_error("deliver: reading standard input: %s", strerror(errno));
            free(b);
            return -1;
        }
        if (n == 0)
            break;
        const char *p = b;
        size_t len = (size_t)n;
        if (first) {
            first = false;
            if (len >= 5 && memcmp(p, "From ", 5) == 0)
                skipping = true;
        }
        if (skipping) {
            const char *nl = memchr(p, '\n', len);
            if (!nl)
                continue;
            skipping = false;
            len -= (size_t)(nl + 1 - p);
            p = nl + 1;
        }
        dspool_write(sp, p, len);
    }
    free(b);
    return 0;
}

int cli_deliver_main(const char *config_file, int argc, char **argv)
{
    const char *mailbox = NULL, *sender = NULL, *authid = NULL;
    bool dupcheck = false, ignorequota = false;
    uint32_t flags = 0;
    struct buf kw = BUF_INIT;
    int i = 0;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            deliver_usage(stdout);
            buf_free(&kw);
            return 0;
        }
        if (a[0] != '-' || a[1] == '\0')
            break;
        /* Options may be bundled ("-eq") and take values attached or
         * separate ("-mINBOX", "-m INBOX"). */
        for (const char *o = a + 1; *o; o++) {
            if (*o == 'e') {
                dupcheck = true;
                continue;
            }
            if (*o == 'q') {
                ignorequota = true;
                continue;
            }
            if (!strchr("mFfra", *o)) {
                cli_error("deliver: unknown option -%c", *o);
                deliver_usage(stderr);
                buf_free(&kw);
                return EX_USAGE;
            }
            const char *val = o[1] ? o + 1 : (i + 1 < argc ? argv[++i] : NULL);
            if (!val) {
                cli_error("deliver: option -%c needs a value", *o);
                deliver_usage(stderr);
                buf_free(&kw);
                return EX_USAGE;
            }
            switch (*o) {
            case 'm':
                mailbox = val;
                break;
            case 'F':
                if (!add_flag(val, &flags, &kw)) {
                    cli_error("deliver: invalid flag: %s", val);
                    buf_free(&kw);
                    return EX_USAGE;
                }
                break;
            case 'f':
            case 'r':
                sender = val;
                break;
            case 'a':
                authid = val;
                break;
            default:
                break;
            }
            break; /* the value consumed the rest of this argument */
        }
    }
    if (i >= argc && !mailbox) {
        cli_error("deliver: no user given");
        deliver_usage(stderr);
        buf_free(&kw);
        return EX_USAGE;
    }
    if (sender && strlen(sender) >= DELIVERY_MAX_ADDR) {
        cli_error("deliver: sender address too long");
        buf_free(&kw);
        return EX_USAGE;
    }
    for (const char *p = sender; p && *p; p++)
        if ((unsigned char)*p < 0x20 || *p == '<' || *p == '>') {
            cli_error("deliver: invalid sender address");
            buf_free(&kw);
            return EX_USAGE;
        }

    int r = cli_drop_to_user(config_file);
    if (r == 0)
        r = cli_setup(config_file);
    if (r != 0) {
        buf_free(&kw);
        /* a store that cannot be opened now may work later */
        return r == EX_IOERR || r == EX_OSERR ? EX_TEMPFAIL : r;
    }
    /* The mailbox name depends on the configuration (separator,
     * namespace prefixes): checked once it is loaded. */
    char mbname[1024];
    bool mb_valid = mailbox && delivery_detail_mailbox(mailbox, mbname, sizeof(mbname));
    /* One explicit mailbox instead of users' folders: -m without USER
     * (a shared mailbox, as Cyrus deliver) or in the admin form. */
    bool explicit_mb = mailbox && (i >= argc || (mb_valid && is_admin_form(mbname)));
    if (explicit_mb && !mb_valid) {
        cli_error("deliver: invalid mailbox name: %s", mailbox);
        buf_free(&kw);
        cli_teardown();
        return EX_USAGE;
    }
    /* -m with users is each user's +detail, and as such often comes from
     * the sender (Postfix: mailbox_command ... -m "${extension}"): a name
     * IMAP CREATE would refuse, or one under another namespace, means
     * INBOX, as for user+detail - not a usage error that bounces. */
    if (mailbox && !explicit_mb && !delivery_user_folder(mailbox, mbname, sizeof(mbname))) {
        cli_error("deliver: -m %s is not a usable folder name; delivering to INBOX", mailbox);
        snprintf(mbname, sizeof(mbname), "INBOX");
    }
    if (explicit_mb && i < argc) {
        cli_error("deliver: -m %s names a mailbox of its own; no USER allowed with it", mailbox);
        buf_free(&kw);
        cli_teardown();
        return EX_USAGE;
    }
    /* A file size limit (RLIMIT_FSIZE) must fail the write, not kill us. */
    signal(SIGXFSZ, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);

    int nusers = explicit_mb ? 1 : argc - i;
    char *received = delivery_received("localhost", "local", "local", NULL,
                                       nusers == 1 && !explicit_mb ? argv[i] : NULL);
    struct dspool_opts so = {.return_path = sender, .received = received};
    struct dspool *sp = dspool_new(&so);
    free(received);
    int ex = 0;
    if (!sp) {
        cli_error("deliver: cannot create a spool file in %s", storage_tmpdir());
        ex = EX_TEMPFAIL;
        goto out;
    }
    if (read_stdin(sp) < 0) {
        ex = EX_IOERR;
        goto out;
    }
    enum dspool_status st = dspool_finish(sp);
    if (st != DSPOOL_OK) {
        static const char *const why[] = {
            [DSPOOL_TOOBIG] = "message size exceeds maxmessagesize",
            [DSPOOL_8BIT] = "8-bit characters in the header (reject8bit)",
            [DSPOOL_NUL] = "NUL characters in the message (reject8bit)",
            [DSPOOL_LINE] = "a line is longer than 64 KiB",
            [DSPOOL_IO] = "local error writing the message",
        };
        cli_error("deliver: %s", why[st]);
        ex = st == DSPOOL_IO ? EX_TEMPFAIL : EX_DATAERR;
        goto out;
    }
    bool perm_quota = config_bool(CFG_LMTP_OVERQUOTA_PERM_FAILURE);
    /* Sieve (delivery-sieve.h): the users' scripts and the global ones */
    struct dsieve_opts sopts;
    dsieve_opts_from_config(&sopts);
    /* A single target named by -m: one round, labelled by it. */
    int end = explicit_mb ? i + 1 : argc;
    for (; i < end; i++) {
        const char *label = explicit_mb ? mailbox : argv[i];
        struct delivery_rcpt rc;
        int rr;
        if (explicit_mb) {
            char full[1200];
            if (is_admin_form(mbname))
                snprintf(full, sizeof(full), "%s", mbname);
            else
                snprintf(full, sizeof(full), "%s/%s", config_str(CFG_SHAREDPREFIX), mbname);
            rr = delivery_target(full, "", &rc);
        } else
            rr = delivery_resolve(label, &rc);
        if (rr == RCPT_SYNTAX || rr == RCPT_NOUSER) {
            cli_error("deliver: %s: no such user or mailbox", label);
            ex = worse(ex, EX_NOUSER);
            continue;
        }
        if (rr != RCPT_OK) {
            cli_error("deliver: %s: user database error", label);
            ex = worse(ex, EX_TEMPFAIL);
            continue;
        }
        if (mailbox && !explicit_mb && !rc.exact) {
            snprintf(rc.mailbox, sizeof(rc.mailbox), "%s", mbname);
            rc.has_detail = strcmp(mbname, "INBOX") != 0;
        }
        struct deliver_opts o = {
            .ignore_quota = ignorequota,
            .dupcheck = dupcheck,
            .flags = flags,
            .keywords = kw.len ? buf_cstr(&kw) : NULL,
            .poster = authid,
        };
        struct sieve_envelope env = {.from = sender ? sender : "", .to = label, .auth_user = authid};
        char *reject = NULL;
        enum deliver_result dres = delivery_deliver_sieve(sp, &rc, &o, &sopts, &env, &reject);
        switch (dres) {
        case DELIVER_OK:
        case DELIVER_DUPLICATE:
            break;
        case DELIVER_REJECTED:
            /* ereject (RFC 5429 2.1): refused, so that the MTA bounces */
            cli_error("deliver: %s: 5.7.1 %s", label, reject ? reject : "refused by the recipient's filter");
            ex = worse(ex, EX_NOPERM);
            break;
        case DELIVER_NOUSER:
            cli_error("deliver: %s: no such user or mailbox", label);
            ex = worse(ex, EX_NOUSER);
            break;
        case DELIVER_OVERQUOTA:
            cli_error("deliver: %s: mailbox is full (over quota)", label);
            ex = worse(ex, perm_quota ? EX_CANTCREAT : EX_TEMPFAIL);
            break;
        case DELIVER_PERMFAIL:
            cli_error("deliver: %s: message cannot be stored", label);
            ex = worse(ex, EX_DATAERR);
            break;
        case DELIVER_TEMPFAIL:
        default:
            cli_error("deliver: %s: local error, try again later", label);
            ex = worse(ex, EX_TEMPFAIL);
            break;
        }
        free(reject);
    }
    dsieve_opts_free(&sopts);
out:
    dspool_free(sp);
    buf_free(&kw);
    duplicate_close();
    cli_teardown();
    return ex;
}
