/* sieve-private.h - the script tree shared by the parser, the validator,
 * the binary form and the interpreter of src/sieve. Not for other layers. */
#ifndef DARIUS_SIEVE_PRIVATE_H
#define DARIUS_SIEVE_PRIVATE_H

#include "sieve.h"

/* A string: bytes with a length (encoded-character can put a NUL in one). */
struct sv_str {
    char *s;
    size_t len;
    bool has_var;    /* contains "${" (variables: expand at run time) */
};

enum sv_arg_kind { SV_ARG_TAG = 1, SV_ARG_NUM, SV_ARG_STR, SV_ARG_LIST };

struct sv_arg {
    enum sv_arg_kind kind;
    unsigned line, col;
    char *tag;          /* SV_ARG_TAG: without the colon, lowercase */
    uint64_t num;       /* SV_ARG_NUM: with the K/M/G quantifier applied */
    struct sv_str *strs; /* SV_ARG_STR (one) and SV_ARG_LIST */
    size_t nstrs;
};

#define SV_MAX_TAGS 16

/* Commands and tests. The validator fills the resolved fields. */
struct sv_node {
    char *name;          /* lowercase identifier */
    unsigned line, col;
    struct sv_arg *args;
    size_t nargs;
    struct sv_node *tests;   /* the test of if/not, the test-list of allof/anyof */
    size_t ntests;
    bool has_tests;          /* a test or test-list was given */
    struct sv_node *block;   /* the block of if/elsif/else/foreverypart */
    size_t nblock;
    bool has_block;

    /* resolved by the validator */
    int code;                    /* enum sv_code */
    const struct sv_arg *pos[4]; /* positional arguments */
    int npos;
    struct sv_tagval {
        const char *name;          /* points into the validator's tables */
        const struct sv_arg *val;  /* the argument after the tag, NULL for a flag tag */
    } tags[SV_MAX_TAGS];           /* the tags given, other than comparator, match type, address part */
    int ntags;
    int cmp;                     /* enum sv_cmp */
    int match;                   /* enum sv_match */
    int relop;                   /* enum sv_relop for :value/:count */
    int addrpart;                /* enum sv_addrpart */
};

enum sv_cmp { SV_CMP_CASEMAP = 0, SV_CMP_OCTET, SV_CMP_NUMERIC };
enum sv_match { SV_MATCH_IS = 0, SV_MATCH_CONTAINS, SV_MATCH_MATCHES, SV_MATCH_REGEX, SV_MATCH_VALUE,
                SV_MATCH_COUNT };
enum sv_relop { SV_REL_GT = 0, SV_REL_GE, SV_REL_LT, SV_REL_LE, SV_REL_EQ, SV_REL_NE };
enum sv_addrpart { SV_AP_ALL = 0, SV_AP_LOCAL, SV_AP_DOMAIN, SV_AP_USER, SV_AP_DETAIL };

enum sv_code {
    SV_C_NONE = 0,
    /* control */
    SV_C_REQUIRE, SV_C_IF, SV_C_ELSIF, SV_C_ELSE, SV_C_STOP,
    SV_C_INCLUDE, SV_C_RETURN, SV_C_GLOBAL, SV_C_FOREVERYPART, SV_C_BREAK,
    /* actions */
    SV_C_KEEP, SV_C_FILEINTO, SV_C_REDIRECT, SV_C_DISCARD, SV_C_REJECT, SV_C_EREJECT,
    SV_C_VACATION, SV_C_SETFLAG, SV_C_ADDFLAG, SV_C_REMOVEFLAG, SV_C_SET, SV_C_NOTIFY,
    SV_C_ADDHEADER, SV_C_DELETEHEADER, SV_C_EXTRACTTEXT,
    /* tests */
    SV_T_ADDRESS, SV_T_ENVELOPE, SV_T_HEADER, SV_T_EXISTS, SV_T_SIZE, SV_T_TRUE, SV_T_FALSE,
    SV_T_NOT, SV_T_ALLOF, SV_T_ANYOF, SV_T_BODY, SV_T_HASFLAG, SV_T_STRING, SV_T_MAILBOXEXISTS,
    SV_T_VALID_NOTIFY_METHOD, SV_T_NOTIFY_METHOD_CAPABILITY, SV_T_ENVIRONMENT, SV_T_IHAVE,
    SV_T_DATE, SV_T_CURRENTDATE, SV_T_DUPLICATE, SV_T_SPAMTEST, SV_T_VIRUSTEST,
    SV_T_SPECIALUSE_EXISTS, SV_T_MAILBOXIDEXISTS,
    SV_C_COUNT
};

/* A tag of a command's table (sieve-validate.c): the interpreter asks
 * sv_tag(node, "name") for its value or presence. */
bool sv_has_tag(const struct sv_node *n, const char *tag);
const struct sv_arg *sv_tag_val(const struct sv_node *n, const char *tag);

struct sieve_script {
    struct sv_node *cmds;
    size_t ncmds;
    uint64_t exts;           /* bit per extension required (enum sv_ext) */
};

enum sv_ext {
    SV_X_FILEINTO = 0, SV_X_REJECT, SV_X_EREJECT, SV_X_ENVELOPE, SV_X_ENCODED_CHARACTER,
    SV_X_CMP_NUMERIC, SV_X_CMP_CASEMAP, SV_X_CMP_OCTET, SV_X_RELATIONAL, SV_X_SUBADDRESS,
    SV_X_COPY, SV_X_IMAP4FLAGS, SV_X_VARIABLES, SV_X_BODY, SV_X_VACATION, SV_X_VACATION_SECONDS,
    SV_X_MAILBOX, SV_X_ENVIRONMENT, SV_X_IHAVE, SV_X_DATE, SV_X_INDEX, SV_X_DUPLICATE,
    SV_X_EDITHEADER, SV_X_ENOTIFY, SV_X_SPAMTEST, SV_X_SPAMTESTPLUS, SV_X_VIRUSTEST,
    SV_X_SPECIAL_USE, SV_X_FCC, SV_X_MAILBOXID, SV_X_INCLUDE, SV_X_REGEX, SV_X_FOREVERYPART,
    SV_X_MIME, SV_X_EXTRACTTEXT,
    SV_X_COUNT
};
/* The capability name of an extension, and the reverse (-1: unknown). */
const char *sv_ext_name(int ext);
int sv_ext_find(const char *name, size_t len);
/* Is ext allowed by limits->extensions (NULL: all)? */
bool sv_ext_allowed(const struct sieve_limits *l, int ext);

void sv_limits_fill(struct sieve_limits *out, const struct sieve_limits *in);
void sv_diag(struct sieve_diags *d, unsigned line, unsigned col, bool warning, const char *fmt, ...)
    ATTR_PRINTF(5, 6);

/* Parser: the tree of src, or false with errors in diags. */
bool sv_parse(const char *src, size_t len, const struct sieve_limits *l, struct sv_node **cmds, size_t *ncmds,
              struct sieve_diags *diags);
/* Validator: resolves codes, tags and extensions; false with errors. */
bool sv_validate(struct sieve_script *s, const struct sieve_limits *l, struct sieve_diags *diags);
/* decode: apply encoded-character (at compile; a loaded binary is already
 * decoded). */
bool sv_validate_ex(struct sieve_script *s, const struct sieve_limits *l, struct sieve_diags *diags, bool decode);
void sv_nodes_free(struct sv_node *n, size_t count);

/* Is name a header field that holds addresses (the address test)? */
bool sv_address_header(const char *name);

/* Binary form. */
void sv_binary_write(const struct sieve_script *s, struct buf *out);

/* Comparators (sieve-match.c). */
bool sv_cmp_eq(int cmp, const char *a, size_t al, const char *b, size_t bl);
/* <0, 0, >0 under cmp (i;ascii-numeric: RFC 4790 9.1, non-digits are +inf) */
int sv_cmp_order(int cmp, const char *a, size_t al, const char *b, size_t bl);
bool sv_cmp_contains(int cmp, const char *hay, size_t hl, const char *needle, size_t nl);
/* A regex Darius agrees to compile: no backreferences, and the tree
 * glibc builds for it (repetitions copy subtrees) stays small
 * (sieve-match.c). */
bool sv_regex_safe(const char *p, size_t n);
/* Bytes of a value a regex is run on (the rest is not examined). */
#define SV_REGEX_MAX_TEXT (64 * 1024)
/* :matches with * and ?; on a match and when caps is not NULL the text of
 * each wildcard goes into caps[1..] (caps[0] the whole), ncaps set. Each
 * matching step adds 1 to *steps; past max_steps it gives up (false). */
struct sv_cap {
    size_t off, len;
};
bool sv_cmp_matches(int cmp, const char *text, size_t tl, const char *pat, size_t pl, struct sv_cap *caps,
                    size_t *ncaps, uint64_t *steps, uint64_t max_steps);
#define SV_MAX_CAPS 10

/* An address list parsed from a header value: each mailbox's addr-spec
 * (local@domain, or a local part alone); group names are skipped. */
struct sv_addr {
    char *local, *domain; /* domain NULL when absent */
};
size_t sv_parse_addresses(const char *v, size_t len, struct sv_addr **out, size_t max);
void sv_addrs_free(struct sv_addr *a, size_t n);

#endif
