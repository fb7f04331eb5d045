/* imap-thread.h - the THREAD algorithms (RFC 5256 section 3, and REFS of
 * draft-ietf-morg-inthread) as a pure function over per-message records:
 * no storage, no I/O, so the trees can be unit tested by hand.
 *
 * The caller (imap-cmd-thread.c) supplies for each searched message the
 * number to print (sequence number or UID), its position in the mailbox
 * (the sequence number: the tie break of RFC 5256 section 2.2), its sent
 * date with the INTERNALDATE fallback already applied, its base subject
 * (section 2.1) in the comparison form (case-folded), whether base-subject
 * extraction found it to be a reply or forward, its normalized
 * Message-ID, and its references (the References field's Message IDs, or
 * the first In-Reply-To Message ID when References has none: section 3,
 * REFERENCES, the rules before step 1).
 *
 * Everything is bounded: at most THREAD_MAX_REFS references per message
 * are used (the last ones, nearest the parent), loop checks walk at most
 * THREAD_MAX_DEPTH ancestors, and every traversal is iterative.
 */
#ifndef DARIUS_IMAP_THREAD_H
#define DARIUS_IMAP_THREAD_H

#include "common.h"
#include "buf.h"

/* References used per message: the last ones (the chain's tail, which
 * holds the parent); a References field longer than this is treated as
 * truncated, which RFC 5256 step 1.A already expects of MUAs. */
#define THREAD_MAX_REFS 64
/* Loop checks walk up the ancestors of a node; a chain deeper than this
 * refuses the new link (never creating a loop, at worst splitting a
 * thread thousands of messages deep) so the work per link is bounded. */
#define THREAD_MAX_DEPTH 4096

enum thread_alg {
    THREAD_ORDEREDSUBJECT,
    THREAD_REFERENCES,
    THREAD_REFS,
};

struct thread_msg {
    uint32_t id;                /* printed: sequence number or UID */
    uint32_t seq;               /* mailbox order, the tie break */
    int64_t sent;               /* sent date, UTC seconds (fallback applied) */
    const char *subject;        /* base subject, comparison form; NULL = "" */
    bool is_reply;              /* extraction removed Re:/Fwd:/(fwd)/[fwd: ] */
    const char *message_id;     /* normalized; NULL or "" = none */
    const char *const *refs;    /* normalized Message IDs, oldest first */
    size_t nrefs;
};

/* "ORDEREDSUBJECT", "REFERENCES", "REFS" (case-insensitive). */
bool thread_alg_parse(const char *name, enum thread_alg *alg);

/* Thread msgs[0..n-1] (in ascending seq order) and append the thread
 * lists of the THREAD response (RFC 5256 section 4) to out:
 * "(1 2)(3 (4)(5))", nothing when n is 0. The caller writes "* THREAD",
 * and a space before a non-empty list. */
void thread_run(enum thread_alg alg, const struct thread_msg *msgs, size_t n, struct buf *out);

#endif
