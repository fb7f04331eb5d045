/* sieve-validate.c - checks a parsed script against the commands, tests,
 * tags and extensions Darius implements, and resolves them for the
 * interpreter.
 *
 * RFC 5228 2.10.5 / 3.2: a command or tag of an extension is an error
 * unless the extension was named in a "require" at the top of the script
 * (or, RFC 5463, the command sits in the block of an "if ihave" naming
 * it). The table below is the single description of each command's
 * syntax: positional arguments, the tags it takes and the extension each
 * tag needs, whether it takes a test, a test list or a block. The
 * interpreter relies on a validated tree being exactly of that shape.
 */
#include "sieve-private.h"

#include <ctype.h>
#include <pthread.h>
#include <regex.h>

/* ---- extensions ---- */

static const char *const ext_names[SV_X_COUNT] = {
    [SV_X_FILEINTO] = "fileinto",
    [SV_X_REJECT] = "reject",
    [SV_X_EREJECT] = "ereject",
    [SV_X_ENVELOPE] = "envelope",
    [SV_X_ENCODED_CHARACTER] = "encoded-character",
    [SV_X_CMP_NUMERIC] = "comparator-i;ascii-numeric",
    [SV_X_CMP_CASEMAP] = "comparator-i;ascii-casemap",
    [SV_X_CMP_OCTET] = "comparator-i;octet",
    [SV_X_RELATIONAL] = "relational",
    [SV_X_SUBADDRESS] = "subaddress",
    [SV_X_COPY] = "copy",
    [SV_X_IMAP4FLAGS] = "imap4flags",
    [SV_X_VARIABLES] = "variables",
    [SV_X_BODY] = "body",
    [SV_X_VACATION] = "vacation",
    [SV_X_VACATION_SECONDS] = "vacation-seconds",
    [SV_X_MAILBOX] = "mailbox",
    [SV_X_ENVIRONMENT] = "environment",
    [SV_X_IHAVE] = "ihave",
    [SV_X_DATE] = "date",
    [SV_X_INDEX] = "index",
    [SV_X_DUPLICATE] = "duplicate",
    [SV_X_EDITHEADER] = "editheader",
    [SV_X_ENOTIFY] = "enotify",
    [SV_X_SPAMTEST] = "spamtest",
    [SV_X_SPAMTESTPLUS] = "spamtestplus",
    [SV_X_VIRUSTEST] = "virustest",
    [SV_X_SPECIAL_USE] = "special-use",
    [SV_X_FCC] = "fcc",
    [SV_X_MAILBOXID] = "mailboxid",
    [SV_X_INCLUDE] = "include",
    [SV_X_REGEX] = "regex",
    [SV_X_FOREVERYPART] = "foreverypart",
    [SV_X_MIME] = "mime",
    [SV_X_EXTRACTTEXT] = "extracttext",
};

/* Extensions that are implemented and tested; sieve_extensions_string()
 * advertises exactly these. An extension is added here only together
 * with its tests in tests/unit/test-sieve-*.c. */
static const uint64_t ext_working =
    (1ull << SV_X_FILEINTO) | (1ull << SV_X_REJECT) | (1ull << SV_X_EREJECT) | (1ull << SV_X_ENVELOPE) |
    (1ull << SV_X_ENCODED_CHARACTER) | (1ull << SV_X_CMP_NUMERIC) | (1ull << SV_X_CMP_CASEMAP) |
    (1ull << SV_X_CMP_OCTET) | (1ull << SV_X_RELATIONAL) | (1ull << SV_X_SUBADDRESS) | (1ull << SV_X_COPY) |
    (1ull << SV_X_IMAP4FLAGS) | (1ull << SV_X_VARIABLES) | (1ull << SV_X_BODY) | (1ull << SV_X_VACATION) |
    (1ull << SV_X_VACATION_SECONDS) | (1ull << SV_X_MAILBOX) | (1ull << SV_X_ENVIRONMENT) |
    (1ull << SV_X_IHAVE) | (1ull << SV_X_DATE) | (1ull << SV_X_INDEX) | (1ull << SV_X_DUPLICATE) |
    (1ull << SV_X_EDITHEADER) | (1ull << SV_X_ENOTIFY) | (1ull << SV_X_SPAMTEST) |
    (1ull << SV_X_SPAMTESTPLUS) | (1ull << SV_X_VIRUSTEST) | (1ull << SV_X_SPECIAL_USE) |
    (1ull << SV_X_FCC) | (1ull << SV_X_MAILBOXID) | (1ull << SV_X_INCLUDE) | (1ull << SV_X_REGEX) |
    (1ull << SV_X_FOREVERYPART) | (1ull << SV_X_MIME) | (1ull << SV_X_EXTRACTTEXT);

const char *sv_ext_name(int ext)
{
    return ext >= 0 && ext < SV_X_COUNT ? ext_names[ext] : "?";
}

int sv_ext_find(const char *name, size_t len)
{
    for (int i = 0; i < SV_X_COUNT; i++)
        if ((ext_working >> i) & 1)
            if (strlen(ext_names[i]) == len && memcmp(ext_names[i], name, len) == 0)
                return i;
    return -1;
}

bool sieve_extension_known(const char *name)
{
    return sv_ext_find(name, strlen(name)) >= 0;
}

bool sv_ext_allowed(const struct sieve_limits *l, int ext)
{
    if (!((ext_working >> ext) & 1))
        return false;
    if (!l || !l->extensions)
        return true;
    const char *n = ext_names[ext];
    size_t nl = strlen(n);
    for (const char *p = l->extensions; *p;) {
        while (*p == ' ')
            p++;
        const char *e = p;
        while (*e && *e != ' ')
            e++;
        if ((size_t)(e - p) == nl && memcmp(p, n, nl) == 0)
            return true;
        p = e;
    }
    return false;
}

static char ext_string[1024];
static pthread_once_t ext_string_once = PTHREAD_ONCE_INIT;

static void ext_string_build(void)
{
    size_t o = 0;
    for (int i = 0; i < SV_X_COUNT; i++) {
        if (!((ext_working >> i) & 1))
            continue;
        o += (size_t)snprintf(ext_string + o, sizeof(ext_string) - o, "%s%s", o ? " " : "", ext_names[i]);
    }
}

/* Built once (pthread_once: callers may be job threads). */
const char *sieve_extensions_string(void)
{
    pthread_once(&ext_string_once, ext_string_build);
    return ext_string;
}

const char *sieve_notify_methods_string(void)
{
    return "mailto";
}

void sieve_limits_default(struct sieve_limits *l)
{
    memset(l, 0, sizeof(*l));
    l->max_script_size = 1024 * 1024;
    l->max_nesting = 32;
    l->max_string = 64 * 1024;
    l->max_list = 1024;
    l->max_commands = 10000;
    l->max_errors = 20;
    l->max_steps = 1000000;
    l->max_actions = 64;
    l->max_redirects = 4;
    l->max_include_depth = 5;
    l->max_variables = 128;
    l->max_variable_size = 4096;
    l->max_regex = 512;
    l->max_body = 1024 * 1024;
}

void sv_limits_fill(struct sieve_limits *out, const struct sieve_limits *in)
{
    sieve_limits_default(out);
    if (!in)
        return;
#define F(x)          \
    if (in->x)        \
        out->x = in->x;
    F(max_script_size) F(max_nesting) F(max_string) F(max_list) F(max_commands) F(max_errors)
    F(max_steps) F(max_actions) F(max_redirects) F(max_include_depth) F(max_variables)
    F(max_variable_size) F(max_regex) F(max_body)
#undef F
    out->extensions = in->extensions;
}

/* ---- the command table ---- */

enum tag_group {
    G_NONE = 0, G_CMP, G_MATCH, G_ADDR, G_SIZE, G_BODYXF, G_ZONE, G_DUPID, G_CASE, G_CASEFIRST,
    G_DAYS, G_INCLOC, G_MIMEOPT,
};

struct tagdef {
    const char *name;
    char arg;      /* 0: none, 's' string, 'l' string list, 'n' number */
    int ext;       /* -1: core */
    int group;     /* tags of one group (other than G_NONE) exclude each other */
};

#define TS_CMP 1u
#define TS_MATCH 2u
#define TS_ADDR 4u
#define TS_INDEX 8u
#define TS_MIME 16u
#define TS_STORE 32u   /* :copy :create :flags :specialuse :mailboxid (fileinto) */
#define TS_FCC 64u     /* :fcc and its :create :flags :specialuse :mailboxid */
#define TS_MIMEOPTS 128u /* RFC 5703 4.1 MIMEOPTS (header only) */

static const struct tagdef tags_cmp[] = {{"comparator", 's', -1, G_CMP}, {NULL, 0, 0, 0}};
static const struct tagdef tags_match[] = {
    {"is", 0, -1, G_MATCH},          {"contains", 0, -1, G_MATCH},
    {"matches", 0, -1, G_MATCH},     {"regex", 0, SV_X_REGEX, G_MATCH},
    {"value", 's', SV_X_RELATIONAL, G_MATCH}, {"count", 's', SV_X_RELATIONAL, G_MATCH},
    {NULL, 0, 0, 0}};
static const struct tagdef tags_addr[] = {
    {"all", 0, -1, G_ADDR},     {"localpart", 0, -1, G_ADDR},         {"domain", 0, -1, G_ADDR},
    {"user", 0, SV_X_SUBADDRESS, G_ADDR}, {"detail", 0, SV_X_SUBADDRESS, G_ADDR}, {NULL, 0, 0, 0}};
static const struct tagdef tags_index[] = {{"index", 'n', SV_X_INDEX, G_NONE}, {"last", 0, SV_X_INDEX, G_NONE},
                                           {NULL, 0, 0, 0}};
static const struct tagdef tags_mime[] = {{"mime", 0, SV_X_MIME, G_NONE},     {"anychild", 0, SV_X_MIME, G_NONE},
                                          {NULL, 0, 0, 0}};
static const struct tagdef tags_mimeopts[] = {
    {"type", 0, SV_X_MIME, G_MIMEOPT},        {"subtype", 0, SV_X_MIME, G_MIMEOPT},
    {"contenttype", 0, SV_X_MIME, G_MIMEOPT}, {"param", 'l', SV_X_MIME, G_MIMEOPT}, {NULL, 0, 0, 0}};
static const struct tagdef tags_store[] = {
    {"copy", 0, SV_X_COPY, G_NONE},     {"create", 0, SV_X_MAILBOX, G_NONE},
    {"flags", 'l', SV_X_IMAP4FLAGS, G_NONE}, {"specialuse", 's', SV_X_SPECIAL_USE, G_NONE},
    {"mailboxid", 's', SV_X_MAILBOXID, G_NONE}, {NULL, 0, 0, 0}};
static const struct tagdef tags_fcc[] = {
    {"fcc", 's', SV_X_FCC, G_NONE},       {"create", 0, SV_X_FCC, G_NONE},
    {"flags", 'l', SV_X_FCC, G_NONE},     {"specialuse", 's', SV_X_FCC, G_NONE},
    {"mailboxid", 's', SV_X_FCC, G_NONE}, {NULL, 0, 0, 0}};

static const struct tagdef t_keep[] = {{"flags", 'l', SV_X_IMAP4FLAGS, G_NONE}, {NULL, 0, 0, 0}};
static const struct tagdef t_redirect[] = {{"copy", 0, SV_X_COPY, G_NONE}, {NULL, 0, 0, 0}};
static const struct tagdef t_vacation[] = {
    {"days", 'n', -1, G_DAYS},  {"seconds", 'n', SV_X_VACATION_SECONDS, G_DAYS},
    {"subject", 's', -1, G_NONE}, {"from", 's', -1, G_NONE}, {"addresses", 'l', -1, G_NONE},
    {"mime", 0, -1, G_NONE},    {"handle", 's', -1, G_NONE}, {NULL, 0, 0, 0}};
static const struct tagdef t_notify[] = {{"from", 's', -1, G_NONE},  {"importance", 's', -1, G_NONE},
                                         {"options", 'l', -1, G_NONE}, {"message", 's', -1, G_NONE},
                                         {NULL, 0, 0, 0}};
static const struct tagdef t_size[] = {{"over", 0, -1, G_SIZE}, {"under", 0, -1, G_SIZE}, {NULL, 0, 0, 0}};
static const struct tagdef t_body[] = {{"raw", 0, -1, G_BODYXF}, {"content", 'l', -1, G_BODYXF},
                                       {"text", 0, -1, G_BODYXF}, {NULL, 0, 0, 0}};
static const struct tagdef t_set[] = {
    {"lower", 0, -1, G_CASE},          {"upper", 0, -1, G_CASE},   {"lowerfirst", 0, -1, G_CASEFIRST},
    {"upperfirst", 0, -1, G_CASEFIRST}, {"quotewildcard", 0, -1, G_NONE}, {"length", 0, -1, G_NONE},
    {"quoteregex", 0, SV_X_REGEX, G_NONE}, {"encodeurl", 0, SV_X_ENOTIFY, G_NONE}, {NULL, 0, 0, 0}};
static const struct tagdef t_date[] = {{"zone", 's', -1, G_ZONE}, {"originalzone", 0, -1, G_ZONE},
                                       {NULL, 0, 0, 0}};
static const struct tagdef t_currentdate[] = {{"zone", 's', -1, G_ZONE}, {NULL, 0, 0, 0}};
static const struct tagdef t_duplicate[] = {{"handle", 's', -1, G_NONE}, {"header", 's', -1, G_DUPID},
                                            {"uniqueid", 's', -1, G_DUPID}, {"seconds", 'n', -1, G_NONE},
                                            {"last", 0, -1, G_NONE}, {NULL, 0, 0, 0}};
static const struct tagdef t_spamtest[] = {{"percent", 0, SV_X_SPAMTESTPLUS, G_NONE}, {NULL, 0, 0, 0}};
static const struct tagdef t_include[] = {{"personal", 0, -1, G_INCLOC}, {"global", 0, -1, G_INCLOC},
                                          {"once", 0, -1, G_NONE}, {"optional", 0, -1, G_NONE}, {NULL, 0, 0, 0}};
static const struct tagdef t_deleteheader[] = {{"index", 'n', -1, G_NONE}, {"last", 0, -1, G_NONE},
                                               {NULL, 0, 0, 0}};
static const struct tagdef t_name[] = {{"name", 's', -1, G_NONE}, {NULL, 0, 0, 0}};
static const struct tagdef t_extracttext[] = {
    {"lower", 0, -1, G_CASE},          {"upper", 0, -1, G_CASE},   {"lowerfirst", 0, -1, G_CASEFIRST},
    {"upperfirst", 0, -1, G_CASEFIRST}, {"quotewildcard", 0, -1, G_NONE}, {"length", 0, -1, G_NONE},
    {"quoteregex", 0, SV_X_REGEX, G_NONE}, {"encodeurl", 0, SV_X_ENOTIFY, G_NONE}, {"first", 'n', -1, G_NONE},
    {NULL, 0, 0, 0}};
static const struct tagdef t_addheader[] = {{"last", 0, -1, G_NONE}, {NULL, 0, 0, 0}};

struct cmddef {
    const char *name;
    int code;
    int ext;            /* -1: core */
    char kind;          /* 'c' control, 'a' action, 't' test */
    const char *pos;    /* positional arguments: s string, l string list, n number; a leading '?'
                           makes the first one optional */
    unsigned sets;      /* TS_* */
    const struct tagdef *tags;
    char tests;         /* 0 none, '1' one test, 'L' test list */
    bool block;
};

static const struct cmddef cmds[] = {
    {"require", SV_C_REQUIRE, -1, 'c', "l", 0, NULL, 0, false},
    {"if", SV_C_IF, -1, 'c', "", 0, NULL, '1', true},
    {"elsif", SV_C_ELSIF, -1, 'c', "", 0, NULL, '1', true},
    {"else", SV_C_ELSE, -1, 'c', "", 0, NULL, 0, true},
    {"stop", SV_C_STOP, -1, 'c', "", 0, NULL, 0, false},
    {"include", SV_C_INCLUDE, SV_X_INCLUDE, 'c', "s", 0, t_include, 0, false},
    {"return", SV_C_RETURN, SV_X_INCLUDE, 'c', "", 0, NULL, 0, false},
    {"global", SV_C_GLOBAL, SV_X_INCLUDE, 'c', "l", 0, NULL, 0, false},
    {"foreverypart", SV_C_FOREVERYPART, SV_X_FOREVERYPART, 'c', "", 0, t_name, 0, true},
    {"break", SV_C_BREAK, SV_X_FOREVERYPART, 'c', "", 0, t_name, 0, false},
    {"extracttext", SV_C_EXTRACTTEXT, SV_X_EXTRACTTEXT, 'a', "s", 0, t_extracttext, 0, false},
    {"keep", SV_C_KEEP, -1, 'a', "", 0, t_keep, 0, false},
    {"fileinto", SV_C_FILEINTO, SV_X_FILEINTO, 'a', "s", TS_STORE, NULL, 0, false},
    {"redirect", SV_C_REDIRECT, -1, 'a', "s", 0, t_redirect, 0, false},
    {"discard", SV_C_DISCARD, -1, 'a', "", 0, NULL, 0, false},
    {"reject", SV_C_REJECT, SV_X_REJECT, 'a', "s", 0, NULL, 0, false},
    {"ereject", SV_C_EREJECT, SV_X_EREJECT, 'a', "s", 0, NULL, 0, false},
    {"vacation", SV_C_VACATION, SV_X_VACATION, 'a', "s", TS_FCC, t_vacation, 0, false},
    {"setflag", SV_C_SETFLAG, SV_X_IMAP4FLAGS, 'a', "?sl", 0, NULL, 0, false},
    {"addflag", SV_C_ADDFLAG, SV_X_IMAP4FLAGS, 'a', "?sl", 0, NULL, 0, false},
    {"removeflag", SV_C_REMOVEFLAG, SV_X_IMAP4FLAGS, 'a', "?sl", 0, NULL, 0, false},
    {"set", SV_C_SET, SV_X_VARIABLES, 'a', "ss", 0, t_set, 0, false},
    {"notify", SV_C_NOTIFY, SV_X_ENOTIFY, 'a', "s", TS_FCC, t_notify, 0, false},
    {"addheader", SV_C_ADDHEADER, SV_X_EDITHEADER, 'a', "ss", 0, t_addheader, 0, false},
    {"deleteheader", SV_C_DELETEHEADER, SV_X_EDITHEADER, 'a', "s?l", TS_CMP | TS_MATCH, t_deleteheader, 0,
     false},
    {"address", SV_T_ADDRESS, -1, 't', "ll", TS_CMP | TS_MATCH | TS_ADDR | TS_INDEX | TS_MIME, NULL, 0, false},
    {"envelope", SV_T_ENVELOPE, SV_X_ENVELOPE, 't', "ll", TS_CMP | TS_MATCH | TS_ADDR, NULL, 0, false},
    {"header", SV_T_HEADER, -1, 't', "ll", TS_CMP | TS_MATCH | TS_INDEX | TS_MIME | TS_MIMEOPTS, NULL, 0, false},
    {"exists", SV_T_EXISTS, -1, 't', "l", TS_MIME, NULL, 0, false},
    {"size", SV_T_SIZE, -1, 't', "n", 0, t_size, 0, false},
    {"true", SV_T_TRUE, -1, 't', "", 0, NULL, 0, false},
    {"false", SV_T_FALSE, -1, 't', "", 0, NULL, 0, false},
    {"not", SV_T_NOT, -1, 't', "", 0, NULL, '1', false},
    {"allof", SV_T_ALLOF, -1, 't', "", 0, NULL, 'L', false},
    {"anyof", SV_T_ANYOF, -1, 't', "", 0, NULL, 'L', false},
    {"body", SV_T_BODY, SV_X_BODY, 't', "l", TS_CMP | TS_MATCH, t_body, 0, false},
    {"hasflag", SV_T_HASFLAG, SV_X_IMAP4FLAGS, 't', "?ll", TS_CMP | TS_MATCH, NULL, 0, false},
    {"string", SV_T_STRING, SV_X_VARIABLES, 't', "ll", TS_CMP | TS_MATCH, NULL, 0, false},
    {"mailboxexists", SV_T_MAILBOXEXISTS, SV_X_MAILBOX, 't', "l", 0, NULL, 0, false},
    {"valid_notify_method", SV_T_VALID_NOTIFY_METHOD, SV_X_ENOTIFY, 't', "l", 0, NULL, 0, false},
    {"notify_method_capability", SV_T_NOTIFY_METHOD_CAPABILITY, SV_X_ENOTIFY, 't', "ssl", TS_CMP | TS_MATCH,
     NULL, 0, false},
    {"environment", SV_T_ENVIRONMENT, SV_X_ENVIRONMENT, 't', "sl", TS_CMP | TS_MATCH, NULL, 0, false},
    {"ihave", SV_T_IHAVE, SV_X_IHAVE, 't', "l", 0, NULL, 0, false},
    {"date", SV_T_DATE, SV_X_DATE, 't', "ssl", TS_CMP | TS_MATCH | TS_INDEX, t_date, 0, false},
    {"currentdate", SV_T_CURRENTDATE, SV_X_DATE, 't', "sl", TS_CMP | TS_MATCH, t_currentdate, 0, false},
    {"duplicate", SV_T_DUPLICATE, SV_X_DUPLICATE, 't', "", 0, t_duplicate, 0, false},
    {"spamtest", SV_T_SPAMTEST, SV_X_SPAMTEST, 't', "s", TS_CMP | TS_MATCH, t_spamtest, 0, false},
    {"virustest", SV_T_VIRUSTEST, SV_X_VIRUSTEST, 't', "s", TS_CMP | TS_MATCH, NULL, 0, false},
    {"specialuse_exists", SV_T_SPECIALUSE_EXISTS, SV_X_SPECIAL_USE, 't', "?sl", 0, NULL, 0, false},
    {"mailboxidexists", SV_T_MAILBOXIDEXISTS, SV_X_MAILBOXID, 't', "l", 0, NULL, 0, false},
};

static const struct cmddef *find_cmd(const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(cmds); i++)
        if (cmds[i].name[0] == name[0] && strcmp(cmds[i].name, name) == 0)
            return &cmds[i];
    return NULL;
}

bool sv_has_tag(const struct sv_node *n, const char *tag)
{
    for (int i = 0; i < n->ntags; i++)
        if (n->tags[i].name[0] == tag[0] && strcmp(n->tags[i].name, tag) == 0)
            return true;
    return false;
}

const struct sv_arg *sv_tag_val(const struct sv_node *n, const char *tag)
{
    for (int i = 0; i < n->ntags; i++)
        if (n->tags[i].name[0] == tag[0] && strcmp(n->tags[i].name, tag) == 0)
            return n->tags[i].val;
    return NULL;
}

/* RFC 5228 5.1: the address test is restricted to header fields that
 * hold addresses, at least From, To, Cc, Bcc, Sender, Resent-From and
 * Resent-To (with :mime, RFC 5703 4.2, any field is read as addresses). */
bool sv_address_header(const char *name)
{
    static const char *const names[] = {
        "from", "to", "cc", "bcc", "sender", "reply-to", "resent-from", "resent-to", "resent-cc",
        "resent-bcc", "resent-sender", "resent-reply-to", "return-path", "delivered-to", "envelope-to",
        "x-original-to", "errors-to", "disposition-notification-to", "mail-followup-to", "mail-reply-to",
        "original-recipient", "x-envelope-to", "x-envelope-from", "apparently-to"};
    for (size_t i = 0; i < ARRAY_SIZE(names); i++)
        if (strcasecmp(names[i], name) == 0)
            return true;
    return false;
}

/* ---- validation ---- */

struct vstate {
    struct sieve_script *s;
    const struct sieve_limits *lim;
    struct sieve_diags *diags;
    uint64_t exts;          /* extensions usable here (required, or by ihave) */
    bool decode;            /* apply encoded-character (compile only, not on load) */
    const char *loops[64];  /* the :name of each enclosing foreverypart ("" without) */
    int nloops;
    bool failed;
};

static void verr(struct vstate *v, unsigned line, unsigned col, const char *fmt, ...) ATTR_PRINTF(4, 5);
static void verr(struct vstate *v, unsigned line, unsigned col, const char *fmt, ...)
{
    v->failed = true;
    if (v->diags && v->diags->nerrors >= v->lim->max_errors)
        return;
    va_list ap;
    va_start(ap, fmt);
    struct buf b = BUF_INIT;
    buf_vprintf(&b, fmt, ap);
    va_end(ap);
    sv_diag(v->diags, line, col, false, "%s", buf_cstr(&b));
    buf_free(&b);
}

static bool has_ext(const struct vstate *v, int ext)
{
    return ext < 0 || ((v->exts >> ext) & 1);
}

/* encoded-character (RFC 5228 2.4.2.4): "${hex:41 42}" and
 * "${unicode:1F600}" inside strings. A malformed sequence is left as it
 * is; a Unicode value outside the scalar values is an error. */
static bool decode_encoded(struct vstate *v, struct sv_str *str, unsigned line, unsigned col)
{
    if (!memmem(str->s, str->len, "${", 2))
        return true;
    struct buf out = BUF_INIT;
    size_t i = 0;
    bool ok = true;
    while (i < str->len) {
        if (str->s[i] == '$' && i + 1 < str->len && str->s[i + 1] == '{') {
            size_t j = i + 2;
            bool hex = false, uni = false;
            if (str->len - j >= 4 && strncasecmp(str->s + j, "hex:", 4) == 0)
                hex = true, j += 4;
            else if (str->len - j >= 8 && strncasecmp(str->s + j, "unicode:", 8) == 0)
                uni = true, j += 8;
            if (hex || uni) {
                struct buf dec = BUF_INIT;
                bool good = true, any = false;
                for (;;) {
                    while (j < str->len && (str->s[j] == ' ' || str->s[j] == '\t'))
                        j++;
                    if (j >= str->len) {
                        good = false;
                        break;
                    }
                    if (str->s[j] == '}') {
                        j++;
                        break;
                    }
                    uint32_t val = 0;
                    size_t nd = 0;
                    while (j < str->len && isxdigit((unsigned char)str->s[j])) {
                        if (nd >= 8) {
                            good = false;
                            break;
                        }
                        char c = str->s[j];
                        val = val * 16 + (uint32_t)(isdigit((unsigned char)c) ? c - '0' : (tolower(c) - 'a' + 10));
                        nd++;
                        j++;
                    }
                    if (!good || nd == 0 || (j < str->len && str->s[j] != ' ' && str->s[j] != '\t' &&
                                             str->s[j] != '}')) {
                        good = false;
                        break;
                    }
                    any = true;
                    if (hex) {
                        if (val > 0xff) {
                            good = false;
                            break;
                        }
                        buf_putc(&dec, (char)val);
                    } else {
                        if (val > 0x10ffff || (val >= 0xd800 && val <= 0xdfff)) {
                            verr(v, line, col, "encoded-character: U+%X is not a Unicode scalar value", val);
                            ok = false;
                            good = false;
                            break;
                        }
                        if (val < 0x80) {
                            buf_putc(&dec, (char)val);
                        } else if (val < 0x800) {
                            buf_putc(&dec, (char)(0xc0 | (val >> 6)));
                            buf_putc(&dec, (char)(0x80 | (val & 0x3f)));
                        } else if (val < 0x10000) {
                            buf_putc(&dec, (char)(0xe0 | (val >> 12)));
                            buf_putc(&dec, (char)(0x80 | ((val >> 6) & 0x3f)));
                            buf_putc(&dec, (char)(0x80 | (val & 0x3f)));
                        } else {
                            buf_putc(&dec, (char)(0xf0 | (val >> 18)));
                            buf_putc(&dec, (char)(0x80 | ((val >> 12) & 0x3f)));
                            buf_putc(&dec, (char)(0x80 | ((val >> 6) & 0x3f)));
                            buf_putc(&dec, (char)(0x80 | (val & 0x3f)));
                        }
                    }
                }
                if (good && any) {
                    buf_append(&out, dec.data, dec.len);
                    buf_free(&dec);
                    i = j;
                    continue;
                }
                buf_free(&dec);
            }
        }
        buf_putc(&out, str->s[i]);
        i++;
    }
    free(str->s);
    str->len = out.len;
    buf_putc(&out, '\0');
    str->s = buf_release(&out);
    return ok;
}

static bool valid_identifier(const char *s, size_t n);

/* RFC 5229 3: a reference into a namespace ("${a.b}") needs the
 * extension that defines it; Darius has none, so it is an error. */
static void check_namespaces(struct vstate *v, const struct sv_str *s, unsigned line, unsigned col)
{
    for (const char *p = s->s; (p = memmem(p, s->len - (size_t)(p - s->s), "${", 2)) != NULL; p += 2) {
        const char *q = p + 2, *end = s->s + s->len;
        bool dot = false;
        if (q >= end || !(isalpha((unsigned char)*q) || *q == '_'))
            continue;
        while (q < end && (isalnum((unsigned char)*q) || *q == '_' || *q == '.')) {
            dot |= *q == '.';
            q++;
        }
        if (dot && q < end && *q == '}') {
            /* RFC 6609 3.4.2: "global.NAME" with include */
            const char *nm = p + 2;
            size_t rest = (size_t)(q - nm);
            if (has_ext(v, SV_X_INCLUDE) && rest > 7 && strncasecmp(nm, "global.", 7) == 0 &&
                valid_identifier(nm + 7, rest - 7))
                continue;
            verr(v, line, col, "unknown variable namespace in \"%.*s\"", (int)(q + 1 - p), p);
            return;
        }
    }
}

static void check_strings(struct vstate *v, struct sv_arg *a)
{
    for (size_t i = 0; i < a->nstrs; i++) {
        struct sv_str *s = &a->strs[i];
        if (v->decode && has_ext(v, SV_X_ENCODED_CHARACTER))
            decode_encoded(v, s, a->line, a->col);
        s->has_var = has_ext(v, SV_X_VARIABLES) && memmem(s->s, s->len, "${", 2) != NULL;
        if (s->has_var)
            check_namespaces(v, s, a->line, a->col);
    }
}

static bool valid_identifier(const char *s, size_t n)
{
    if (n == 0 || n > 128 || !(isalpha((unsigned char)s[0]) || s[0] == '_'))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '_'))
            return false;
    return true;
}

/* A variable name for set/setflag/hasflag (RFC 5229 3: identifier, or a
 * namespace "a.b"; Darius knows no namespaces, so only identifiers). */
static bool valid_varname(const char *s, size_t n)
{
    return valid_identifier(s, n);
}

static bool valid_header_name(const char *s, size_t n)
{
    if (n == 0 || n > 997)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 32 || c >= 127 || c == ':')
            return false;
    }
    return true;
}

static void check_regex(struct vstate *v, const struct sv_arg *a, int cmp)
{
    for (size_t i = 0; i < a->nstrs; i++) {
        const struct sv_str *s = &a->strs[i];
        if (s->has_var)
            continue; /* checked when expanded, at run time */
        if (s->len > v->lim->max_regex) {
            verr(v, a->line, a->col, "regex longer than %zu bytes", v->lim->max_regex);
            continue;
        }
        if (memchr(s->s, '\0', s->len) || !sv_regex_safe(s->s, s->len)) {
            verr(v, a->line, a->col, "regex with a NUL, a backreference or large repetition counts is not allowed");
            continue;
        }
        regex_t re;
        int rc = regcomp(&re, s->s, REG_EXTENDED | REG_NOSUB | (cmp == SV_CMP_CASEMAP ? REG_ICASE : 0));
        if (rc != 0) {
            char eb[128];
            regerror(rc, &re, eb, sizeof(eb));
            verr(v, a->line, a->col, "bad regex \"%s\": %s", s->s, eb);
        } else {
            regfree(&re);
        }
    }
}

static const char *const date_parts[] = {"year", "month", "day", "date", "julian", "hour", "minute", "second",
                                         "time", "iso8601", "std11", "zone", "weekday"};

static bool constant(const struct sv_str *s)
{
    return !s->has_var;
}

static void validate_list(struct vstate *v, struct sv_node *n, size_t count, bool tests, struct sv_node *parent);

static void validate_node(struct vstate *v, struct sv_node *n, bool test, bool *require_ok)
{
    const struct cmddef *d = find_cmd(n->name);
    if (!d) {
        verr(v, n->line, n->col, "unknown %s \"%s\"", test ? "test" : "command", n->name);
        return;
    }
    if ((d->kind == 't') != test) {
        verr(v, n->line, n->col, "\"%s\" is a %s, not a %s", n->name, test ? "command" : "test",
             test ? "test" : "command");
        return;
    }
    if (!has_ext(v, d->ext)) {
        verr(v, n->line, n->col, "\"%s\" needs require \"%s\"", n->name, sv_ext_name(d->ext));
        return;
    }
    n->code = d->code;
    if (n->code != SV_C_REQUIRE && require_ok)
        *require_ok = false;
    n->cmp = SV_CMP_CASEMAP;
    n->match = SV_MATCH_IS;
    n->addrpart = SV_AP_ALL;
    n->ntags = 0;
    n->npos = 0;

    /* tags, then the positional arguments */
    int groups_seen = 0;
    bool cmp_given = false;
    const char *cmp_name = NULL;
    size_t i = 0;
    for (; i < n->nargs; i++) {
        struct sv_arg *a = &n->args[i];
        if (a->kind != SV_ARG_TAG)
            break;
        const struct tagdef *td = NULL;
        const struct tagdef *sets[8];
        int ns = 0;
        if (d->sets & TS_CMP) sets[ns++] = tags_cmp;
        if (d->sets & TS_MATCH) sets[ns++] = tags_match;
        if (d->sets & TS_ADDR) sets[ns++] = tags_addr;
        if (d->sets & TS_INDEX) sets[ns++] = tags_index;
        if (d->sets & TS_MIME) sets[ns++] = tags_mime;
        if (d->sets & TS_MIMEOPTS) sets[ns++] = tags_mimeopts;
        if (d->sets & TS_STORE) sets[ns++] = tags_store;
        if (d->sets & TS_FCC) sets[ns++] = tags_fcc;
        if (d->tags) sets[ns++] = d->tags;
        for (int k = 0; k < ns && !td; k++)
            for (const struct tagdef *t = sets[k]; t->name; t++)
                if (t->name[0] == a->tag[0] && strcmp(t->name, a->tag) == 0) {
                    td = t;
                    break;
                }
        if (!td) {
            verr(v, a->line, a->col, "unknown tag \":%s\" for \"%s\"", a->tag, n->name);
            return;
        }
        if (!has_ext(v, td->ext)) {
            verr(v, a->line, a->col, "tag \":%s\" needs require \"%s\"", a->tag, sv_ext_name(td->ext));
            return;
        }
        if (td->group != G_NONE) {
            if (groups_seen & (1 << td->group)) {
                verr(v, a->line, a->col, "tag \":%s\" conflicts with an earlier tag", a->tag);
                return;
            }
            groups_seen |= 1 << td->group;
        }
        const struct sv_arg *val = NULL;
        if (td->arg) {
            if (i + 1 >= n->nargs) {
                verr(v, a->line, a->col, "tag \":%s\" needs an argument", a->tag);
                return;
            }
            val = &n->args[++i];
            bool okk = (td->arg == 'n' && val->kind == SV_ARG_NUM) ||
                       (td->arg == 's' && val->kind == SV_ARG_STR) ||
                       (td->arg == 'l' && (val->kind == SV_ARG_STR || val->kind == SV_ARG_LIST));
            if (!okk) {
                verr(v, val->line, val->col, "tag \":%s\" needs a %s", a->tag,
                     td->arg == 'n' ? "number" : td->arg == 's' ? "string" : "string list");
                return;
            }
            if (val->kind != SV_ARG_NUM)
                check_strings(v, &n->args[i]);
        }
        if (td->group == G_CMP) {
            cmp_given = true;
            cmp_name = val->strs[0].s;
            if (strcmp(cmp_name, "i;ascii-casemap") == 0)
                n->cmp = SV_CMP_CASEMAP;
            else if (strcmp(cmp_name, "i;octet") == 0)
                n->cmp = SV_CMP_OCTET;
            else if (strcmp(cmp_name, "i;ascii-numeric") == 0 && has_ext(v, SV_X_CMP_NUMERIC))
                n->cmp = SV_CMP_NUMERIC;
            else {
                verr(v, val->line, val->col, "comparator \"%s\" is unknown or not required", cmp_name);
                return;
            }
            continue;
        }
        if (td->group == G_MATCH) {
            static const char *const mnames[] = {"is", "contains", "matches", "regex", "value", "count"};
            for (int k = 0; k < 6; k++)
                if (strcmp(mnames[k], td->name) == 0)
                    n->match = k;
            if (val) {
                static const char *const rel[] = {"gt", "ge", "lt", "le", "eq", "ne"};
                int r = -1;
                for (int k = 0; k < 6; k++)
                    if (strcasecmp(rel[k], val->strs[0].s) == 0)
                        r = k;
                if (r < 0) {
                    verr(v, val->line, val->col, "relational operator must be gt, ge, lt, le, eq or ne");
                    return;
                }
                n->relop = r;
            }
            continue;
        }
        if (td->group == G_ADDR) {
            static const char *const anames[] = {"all", "localpart", "domain", "user", "detail"};
            for (int k = 0; k < 5; k++)
                if (strcmp(anames[k], td->name) == 0)
                    n->addrpart = k;
            continue;
        }
        if (sv_has_tag(n, td->name)) {
            verr(v, a->line, a->col, "tag \":%s\" given twice", a->tag);
            return;
        }
        if (n->ntags >= SV_MAX_TAGS) {
            verr(v, a->line, a->col, "too many tags");
            return;
        }
        n->tags[n->ntags].name = td->name;
        n->tags[n->ntags].val = val;
        n->ntags++;
    }
    /* positional arguments */
    /* a '?' makes the next argument optional (setflag's leading variable
     * name, deleteheader's trailing value patterns) */
    char spec[8];
    size_t want = 0, opt_at = SIZE_MAX;
    for (const char *q = d->pos; *q && want < sizeof(spec) - 1; q++) {
        if (*q == '?')
            opt_at = want;
        else
            spec[want++] = *q;
    }
    spec[want] = '\0';
    size_t have = n->nargs - i;
    if (opt_at != SIZE_MAX && have + 1 == want) {
        memmove(spec + opt_at, spec + opt_at + 1, want - opt_at);
        want--;
    }
    if (have != want) {
        for (size_t k = i; k < n->nargs; k++)
            if (n->args[k].kind == SV_ARG_TAG) {
                verr(v, n->args[k].line, n->args[k].col, "tag \":%s\" after the positional arguments",
                     n->args[k].tag);
                return;
            }
        verr(v, n->line, n->col, "\"%s\" takes %zu positional argument%s, %zu given", n->name, want,
             want == 1 ? "" : "s", have);
        return;
    }
    for (size_t k = 0; k < want; k++) {
        struct sv_arg *a = &n->args[i + k];
        char t = spec[k];
        bool okk = (t == 'n' && a->kind == SV_ARG_NUM) || (t == 's' && a->kind == SV_ARG_STR) ||
                   (t == 'l' && (a->kind == SV_ARG_STR || a->kind == SV_ARG_LIST));
        if (!okk) {
            verr(v, a->line, a->col, "argument %zu of \"%s\" must be a %s", k + 1, n->name,
                 t == 'n' ? "number" : t == 's' ? "string" : "string list");
            return;
        }
        if (a->kind != SV_ARG_NUM)
            check_strings(v, a);
        n->pos[n->npos++] = a;
    }
    /* tests and block */
    if (d->tests == 0 && n->has_tests) {
        verr(v, n->line, n->col, "\"%s\" takes no test", n->name);
        return;
    }
    if (d->tests == '1' && (n->ntests != 1)) {
        verr(v, n->line, n->col, "\"%s\" needs one test", n->name);
        return;
    }
    if (d->tests == 'L' && !n->has_tests) {
        verr(v, n->line, n->col, "\"%s\" needs a test list", n->name);
        return;
    }
    if (d->block != n->has_block) {
        verr(v, n->line, n->col, d->block ? "\"%s\" needs a block" : "\"%s\" takes no block", n->name);
        return;
    }

    /* per-command checks */
    if (n->match == SV_MATCH_REGEX && (d->sets & TS_MATCH)) {
        /* the key list is the last positional argument */
        if (n->npos > 0)
            check_regex(v, n->pos[n->npos - 1], n->cmp);
    }
    if (n->cmp == SV_CMP_NUMERIC && (n->match == SV_MATCH_CONTAINS || n->match == SV_MATCH_MATCHES ||
                                     n->match == SV_MATCH_REGEX)) {
        /* RFC 4790 9.1: i;ascii-numeric offers equality and ordering only */
        verr(v, n->line, n->col, "comparator i;ascii-numeric cannot be used with this match type");
    }
    (void)cmp_given;
    if (sv_has_tag(n, "last") && ((d->sets & TS_INDEX) || n->code == SV_C_DELETEHEADER) && !sv_has_tag(n, "index"))
        verr(v, n->line, n->col, ":last needs :index"); /* RFC 5260 6, RFC 5293 5 */
    if (!sv_has_tag(n, "mime") && (sv_has_tag(n, "anychild") || sv_has_tag(n, "type") || sv_has_tag(n, "subtype") ||
                                   sv_has_tag(n, "contenttype") || sv_has_tag(n, "param")))
        verr(v, n->line, n->col, ":anychild, :type, :subtype, :contenttype and :param need :mime"); /* RFC 5703 4.1 */
    if (sv_has_tag(n, "index") && sv_tag_val(n, "index")->num == 0)
        verr(v, n->line, n->col, ":index must be 1 or more");
    switch (n->code) {
    case SV_C_REQUIRE:
        if (!require_ok || !*require_ok) {
            verr(v, n->line, n->col, "require must come before every other command");
            return;
        }
        for (size_t k = 0; k < n->pos[0]->nstrs; k++) {
            const struct sv_str *s = &n->pos[0]->strs[k];
            int e = sv_ext_find(s->s, s->len);
            if (e < 0 || !sv_ext_allowed(v->lim, e)) {
                verr(v, n->pos[0]->line, n->pos[0]->col, "unsupported extension \"%s\"", s->s);
                continue;
            }
            v->exts |= 1ull << e;
            v->s->exts |= 1ull << e;
            /* implied capabilities */
            if (e == SV_X_SPAMTESTPLUS)
                v->exts |= 1ull << SV_X_SPAMTEST;
            if (e == SV_X_VACATION_SECONDS)
                v->exts |= 1ull << SV_X_VACATION;
        }
        break;
    case SV_T_SIZE:
        if (!sv_has_tag(n, "over") && !sv_has_tag(n, "under"))
            verr(v, n->line, n->col, "size needs :over or :under");
        break;
    case SV_C_SET:
        if (constant(&n->pos[0]->strs[0]) && !valid_varname(n->pos[0]->strs[0].s, n->pos[0]->strs[0].len) &&
            !(has_ext(v, SV_X_INCLUDE) && n->pos[0]->strs[0].len > 7 &&
              strncasecmp(n->pos[0]->strs[0].s, "global.", 7) == 0 &&
              valid_identifier(n->pos[0]->strs[0].s + 7, n->pos[0]->strs[0].len - 7)))
            verr(v, n->pos[0]->line, n->pos[0]->col, "bad variable name \"%s\"", n->pos[0]->strs[0].s);
        break;
    case SV_C_SETFLAG: case SV_C_ADDFLAG: case SV_C_REMOVEFLAG: case SV_T_HASFLAG:
        if (n->npos == 2) {
            if (!has_ext(v, SV_X_VARIABLES)) {
                verr(v, n->line, n->col, "a variable name argument needs require \"variables\"");
                break;
            }
            for (size_t k = 0; k < n->pos[0]->nstrs; k++)
                if (!valid_varname(n->pos[0]->strs[k].s, n->pos[0]->strs[k].len))
                    verr(v, n->pos[0]->line, n->pos[0]->col, "bad variable name \"%s\"", n->pos[0]->strs[k].s);
        }
        break;
    case SV_T_ENVELOPE:
        for (size_t k = 0; k < n->pos[0]->nstrs; k++) {
            const struct sv_str *s = &n->pos[0]->strs[k];
            if (constant(s) && strcasecmp(s->s, "from") != 0 && strcasecmp(s->s, "to") != 0 &&
                strcasecmp(s->s, "orig_to") != 0 && strcasecmp(s->s, "auth") != 0)
                verr(v, n->pos[0]->line, n->pos[0]->col, "unknown envelope part \"%s\"", s->s);
        }
        break;
    case SV_T_DATE: case SV_T_CURRENTDATE: {
        const struct sv_str *p = &n->pos[n->code == SV_T_DATE ? 1 : 0]->strs[0];
        if (constant(p)) {
            bool found = false;
            for (size_t k = 0; k < ARRAY_SIZE(date_parts); k++)
                if (strcasecmp(date_parts[k], p->s) == 0)
                    found = true;
            if (!found)
                verr(v, n->line, n->col, "unknown date part \"%s\"", p->s);
        }
        const struct sv_arg *z = sv_tag_val(n, "zone");
        if (z && constant(&z->strs[0])) {
            const char *zs = z->strs[0].s;
            if (strlen(zs) != 5 || (zs[0] != '+' && zs[0] != '-') || !isdigit((unsigned char)zs[1]) ||
                !isdigit((unsigned char)zs[2]) || !isdigit((unsigned char)zs[3]) || !isdigit((unsigned char)zs[4]))
                verr(v, z->line, z->col, "zone must be +hhmm or -hhmm");
        }
        break;
    }
    case SV_C_ADDHEADER: case SV_C_DELETEHEADER:
        if (constant(&n->pos[0]->strs[0]) && !valid_header_name(n->pos[0]->strs[0].s, n->pos[0]->strs[0].len))
            verr(v, n->pos[0]->line, n->pos[0]->col, "bad header field name \"%s\"", n->pos[0]->strs[0].s);
        if (n->code == SV_C_DELETEHEADER && n->npos == 1 && (n->match != SV_MATCH_IS || cmp_given)) {
            /* harmless, but RFC 5293 5 gives the tags meaning only with patterns */
        }
        break;
    case SV_T_HEADER: case SV_T_ADDRESS: case SV_T_EXISTS:
        for (size_t k = 0; k < n->pos[0]->nstrs; k++) {
            const struct sv_str *s = &n->pos[0]->strs[k];
            if (constant(s) && !valid_header_name(s->s, s->len))
                verr(v, n->pos[0]->line, n->pos[0]->col, "bad header field name \"%s\"", s->s);
            else if (n->code == SV_T_ADDRESS && constant(s) && !sv_has_tag(n, "mime") && !sv_address_header(s->s))
                verr(v, n->pos[0]->line, n->pos[0]->col, "\"%s\" is not a header field holding addresses", s->s);
        }
        break;
    case SV_C_VACATION: {
        const struct sv_arg *days = sv_tag_val(n, "days");
        (void)days;
        break;
    }
    case SV_C_BREAK: {
        /* RFC 5703 3: inside a loop, naming an enclosing one */
        const struct sv_arg *nm = sv_tag_val(n, "name");
        bool found = false;
        for (int k = 0; k < v->nloops && !found; k++)
            found = !nm || strcmp(v->loops[k], nm->strs[0].s) == 0;
        if (!found)
            verr(v, n->line, n->col, nm ? "break: no enclosing foreverypart named \"%s\"" : "break outside foreverypart%s",
                 nm ? nm->strs[0].s : "");
        break;
    }
    case SV_C_EXTRACTTEXT:
        if (!has_ext(v, SV_X_VARIABLES))
            verr(v, n->line, n->col, "\"extracttext\" needs require \"variables\"");
        if (v->nloops == 0)
            verr(v, n->line, n->col, "extracttext outside foreverypart"); /* RFC 5703 7: SHOULD */
        if (constant(&n->pos[0]->strs[0]) && !valid_varname(n->pos[0]->strs[0].s, n->pos[0]->strs[0].len))
            verr(v, n->pos[0]->line, n->pos[0]->col, "bad variable name \"%s\"", n->pos[0]->strs[0].s);
        break;
    case SV_C_RETURN:
        break;
    case SV_C_INCLUDE: {
        const struct sv_str *nm = &n->pos[0]->strs[0];
        if (nm->has_var)
            verr(v, n->pos[0]->line, n->pos[0]->col, "include: the script name must be a constant"); /* RFC 6609 3.2 */
        /* RFC 6609 3.2: a script name, never a path */
        if (memchr(nm->s, '/', nm->len) || nm->len == 0 || nm->s[0] == '.' || memchr(nm->s, '\0', nm->len))
            verr(v, n->pos[0]->line, n->pos[0]->col, "bad script name \"%s\"", nm->s);
        break;
    }
    case SV_C_GLOBAL:
        for (size_t k = 0; k < n->pos[0]->nstrs; k++)
            if (!valid_varname(n->pos[0]->strs[k].s, n->pos[0]->strs[k].len))
                verr(v, n->pos[0]->line, n->pos[0]->col, "bad variable name \"%s\"", n->pos[0]->strs[k].s);
        if (!has_ext(v, SV_X_VARIABLES))
            verr(v, n->line, n->col, "\"global\" needs require \"variables\"");
        break;
    default:
        break;
    }

    /* children */
    if (n->has_tests)
        validate_list(v, n->tests, n->ntests, true, n);
    if (n->has_block) {
        /* RFC 5463 5: inside "if ihave [exts]" those extensions may be
         * used without require; when one is unknown the block is never
         * run and not checked. */
        uint64_t saved = v->exts;
        bool skip = false;
        if ((n->code == SV_C_IF || n->code == SV_C_ELSIF) && n->ntests == 1 && n->tests[0].code == SV_T_IHAVE &&
            n->tests[0].npos == 1) {
            const struct sv_arg *l = n->tests[0].pos[0];
            for (size_t k = 0; k < l->nstrs; k++) {
                int e = sv_ext_find(l->strs[k].s, l->strs[k].len);
                if (e < 0 || !sv_ext_allowed(v->lim, e))
                    skip = true;
                else
                    v->exts |= 1ull << e;
            }
            if (!skip) {
                /* the interpreter asks the script which extensions it uses */
                for (size_t k = 0; k < l->nstrs; k++)
                    v->s->exts |= 1ull << sv_ext_find(l->strs[k].s, l->strs[k].len);
            }
        }
        bool loop = n->code == SV_C_FOREVERYPART;
        if (loop) {
            if (v->nloops >= (int)ARRAY_SIZE(v->loops)) {
                verr(v, n->line, n->col, "foreverypart nested too deeply");
                return;
            }
            const struct sv_arg *nm = sv_tag_val(n, "name");
            v->loops[v->nloops++] = nm ? nm->strs[0].s : "";
        }
        if (skip) {
            /* never run: drop it so nothing unchecked reaches the interpreter */
            sv_nodes_free(n->block, n->nblock);
            n->block = NULL;
            n->nblock = 0;
        } else {
            validate_list(v, n->block, n->nblock, false, n);
        }
        if (loop)
            v->nloops--;
        v->exts = saved;
    }
}

static void validate_list(struct vstate *v, struct sv_node *n, size_t count, bool tests, struct sv_node *parent)
{
    bool require_ok = parent == NULL;
    for (size_t i = 0; i < count; i++) {
        if (v->diags && v->diags->nerrors >= v->lim->max_errors)
            return;
        validate_node(v, &n[i], tests, &require_ok);
        if (tests)
            continue;
        /* a warning for ManageSieve's CHECKSCRIPT/PUTSCRIPT (RFC 5804
         * WARNINGS): what follows stop or return in a block never runs */
        if (i > 0 && (n[i - 1].code == SV_C_STOP || n[i - 1].code == SV_C_RETURN) && v->decode &&
            (i < 2 || (n[i - 2].code != SV_C_STOP && n[i - 2].code != SV_C_RETURN)))
            sv_diag(v->diags, n[i].line, n[i].col, true, "\"%s\" after \"%s\" is never run", n[i].name,
                    n[i - 1].name);
        if ((n[i].code == SV_C_ELSIF || n[i].code == SV_C_ELSE) &&
            (i == 0 || (n[i - 1].code != SV_C_IF && n[i - 1].code != SV_C_ELSIF)))
            verr(v, n[i].line, n[i].col, "\"%s\" without a preceding \"if\"", n[i].name);
    }
}

bool sv_validate_ex(struct sieve_script *s, const struct sieve_limits *l, struct sieve_diags *diags, bool decode)
{
    struct vstate v;
    memset(&v, 0, sizeof(v));
    v.s = s;
    v.lim = l;
    v.diags = diags;
    v.decode = decode;
    s->exts = 0;
    validate_list(&v, s->cmds, s->ncmds, false, NULL);
    return !v.failed;
}

bool sv_validate(struct sieve_script *s, const struct sieve_limits *l, struct sieve_diags *diags)
{
    return sv_validate_ex(s, l, diags, true);
}
