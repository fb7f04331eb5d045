/* mime-section.c - IMAP section numbers -> parts (RFC 9051 6.4.5). */
#include "mime-internal.h"

const struct mime_part *mime_find_section(const struct mime_message *m, const char *section)
{
    if (!m || !section)
        return NULL;
    const struct mime_part *ctx = &m->root; /* whose parts the next number selects */
    const struct mime_part *sel = &m->root;
    const char *s = section;
    if (!*s)
        return sel;
    for (;;) {
        if (*s < '1' || *s > '9')
            return NULL; /* empty component or leading zero */
        unsigned long n = 0;
        while (*s >= '0' && *s <= '9') {
            if (n > 1000000)
                return NULL;
            n = n * 10 + (unsigned long)(*s++ - '0');
        }
        if (!ctx)
            return NULL; /* a leaf has no sub-parts */
        if (ctx->nchildren) {
            if (n > ctx->nchildren)
                return NULL;
            sel = &ctx->children[n - 1];
        } else {
            /* A non-multipart body has exactly one part: itself. */
            if (n != 1)
                return NULL;
            sel = ctx;
        }
        /* What the next number refers to: an encapsulated message's parts
         * (RFC 9051 6.4.5), a multipart's children, or nothing. A
         * non-multipart selected as "part 1" of itself cannot descend
         * again unless it is an encapsulated message. */
        if (sel->message)
            ctx = sel->message;
        else if (sel->nchildren && sel != ctx)
            ctx = sel;
        else
            ctx = NULL;
        if (*s == '\0')
            return sel;
        if (*s != '.')
            return NULL;
        s++;
    }
}
