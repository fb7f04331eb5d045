/* imap-thread.c - THREAD=ORDEREDSUBJECT, THREAD=REFERENCES (RFC 5256
 * section 3) and THREAD=REFS (draft-ietf-morg-inthread) over an array of
 * per-message records; see imap-thread.h.
 *
 * The tree is an arena of nodes addressed by index: one per message, one
 * per Message ID referenced but not present (the "dummy messages" of step
 * 1.A), the subject-merge dummies of step 5.C and the root. Children are
 * doubly linked so step 1.B can break a link in O(1). No recursion
 * anywhere: walks up use the parent index (bounded by THREAD_MAX_DEPTH),
 * walks down an explicit pre-order array.
 */
#include "imap-thread.h"
#include <strings.h>

typedef long idx_t;
#define NONE (-1L)

struct tnode {
    idx_t msg;                  /* index into msgs[], NONE = dummy */
    idx_t parent, first, last, next, prev;
    size_t nkids;
    int64_t kdate;              /* sibling sort key (section 2.2) */
    uint32_t kseq;
    int64_t ldate;              /* newest (date, seq) in the subtree: REFS */
    uint32_t lseq;
};

/* String -> node map (open addressing, never deleted from). */
struct smap {
    const char **keys;
    idx_t *vals;
    size_t mask;
};

struct tctx {
    const struct thread_msg *msgs;
    size_t n;
    struct tnode *nodes;
    size_t nnodes, cap;
    idx_t root;
};

static uint64_t str_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;     /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

static void smap_init(struct smap *m, size_t entries)
{
    size_t cap = 16;
    while (cap < entries * 2 + 16)
        cap *= 2;
    m->keys = xcalloc(cap, sizeof(*m->keys));
    m->vals = xcalloc(cap, sizeof(*m->vals));
    m->mask = cap - 1;
}

static void smap_free(struct smap *m)
{
    free(m->keys);
    free(m->vals);
}

/* The slot of key: holding it, or the empty slot where it goes. The map
 * is sized for every key that can be inserted, so a free slot exists. */
static size_t smap_slot(const struct smap *m, const char *key)
{
    size_t i = (size_t)str_hash(key) & m->mask;
    while (m->keys[i] && strcmp(m->keys[i], key) != 0)
        i = (i + 1) & m->mask;
    return i;
}

static idx_t node_new(struct tctx *c, idx_t msg)
{
    ARRAY_GROW(c->nodes, c->nnodes, c->cap);
    struct tnode *t = &c->nodes[c->nnodes];
    memset(t, 0, sizeof(*t));
    t->msg = msg;
    t->parent = t->first = t->last = t->next = t->prev = NONE;
    return (idx_t)c->nnodes++;
}

static bool is_dummy(const struct tctx *c, idx_t x)
{
    return c->nodes[x].msg == NONE;
}

static void link_child(struct tctx *c, idx_t parent, idx_t kid)
{
    struct tnode *p = &c->nodes[parent], *k = &c->nodes[kid];
    k->parent = parent;
    k->next = NONE;
    k->prev = p->last;
    if (p->last != NONE)
        c->nodes[p->last].next = kid;
    else
        p->first = kid;
    p->last = kid;
    p->nkids++;
}

static void unlink_child(struct tctx *c, idx_t kid)
{
    struct tnode *k = &c->nodes[kid];
    if (k->parent == NONE)
        return;
    struct tnode *p = &c->nodes[k->parent];
    if (k->prev != NONE)
        c->nodes[k->prev].next = k->next;
    else
        p->first = k->next;
    if (k->next != NONE)
        c->nodes[k->next].prev = k->prev;
    else
        p->last = k->prev;
    p->nkids--;
    k->parent = k->next = k->prev = NONE;
}

/* Would making 'parent' the parent of 'kid' introduce a loop (step 1.A:
 * "make sure that A is not a descendent of B")? Walks up from parent; a
 * chain deeper than THREAD_MAX_DEPTH counts as a loop, so the link is
 * refused rather than the walk being unbounded. */
static bool would_loop(const struct tctx *c, idx_t parent, idx_t kid)
{
    if (parent == kid)
        return true;
    if (c->nodes[kid].nkids == 0)
        return false;           /* nothing below kid: the usual case */
    idx_t x = parent;
    for (size_t depth = 0; x != NONE; depth++) {
        if (x == kid || depth >= THREAD_MAX_DEPTH)
            return true;
        x = c->nodes[x].parent;
    }
    return false;
}

/* Pre-order of the tree under the root (root first), iteratively. Its
 * reverse visits every node after all of its descendants. */
static idx_t *preorder(const struct tctx *c, size_t *count)
{
    idx_t *order = xmalloc(c->nnodes * sizeof(*order));
    idx_t *stack = xmalloc(c->nnodes * sizeof(*stack));
    size_t n = 0, sp = 0;
    stack[sp++] = c->root;
    while (sp > 0) {
        idx_t x = stack[--sp];
        order[n++] = x;
        for (idx_t k = c->nodes[x].last; k != NONE; k = c->nodes[k].prev)
            stack[sp++] = k;
    }
    free(stack);
    *count = n;
    return order;
}

static int key_cmp(int64_t ad, uint32_t as, int64_t bd, uint32_t bs)
{
    if (ad != bd)
        return ad < bd ? -1 : 1;
    return as < bs ? -1 : as > bs;
}

/* qsort has no context argument: the sort keys are copied next to the
 * index instead. */
struct sortent {
    int64_t date;
    uint32_t seq;
    idx_t node;
};

static int sortent_cmp(const void *a, const void *b)
{
    const struct sortent *x = a, *y = b;
    return key_cmp(x->date, x->seq, y->date, y->seq);
}

/* Steps 4 and 6: sort every set of siblings by sent date, youngest sets
 * first, a dummy sorting as its first child. With by_latest (REFS) the
 * threads under the root are ordered by their newest message instead. */
static void sort_all(struct tctx *c, bool by_latest)
{
    size_t n;
    idx_t *order = preorder(c, &n);
    struct sortent *ents = NULL;
    size_t entcap = 0;
    for (size_t i = n; i-- > 0;) {
        idx_t x = order[i];
        struct tnode *t = &c->nodes[x];
        if (t->nkids > 1) {
            bool latest = by_latest && x == c->root;
            if (t->nkids > entcap) {
                entcap = t->nkids;
                ents = xrealloc(ents, entcap * sizeof(*ents));
            }
            size_t k = 0;
            for (idx_t y = t->first; y != NONE; y = c->nodes[y].next, k++) {
                const struct tnode *u = &c->nodes[y];
                ents[k] = (struct sortent){latest ? u->ldate : u->kdate, latest ? u->lseq : u->kseq, y};
            }
            qsort(ents, k, sizeof(*ents), sortent_cmp);
            t->first = t->last = NONE;
            t->nkids = 0;
            for (size_t j = 0; j < k; j++)
                link_child(c, x, ents[j].node);
        }
        if (t->msg != NONE) {
            const struct thread_msg *m = &c->msgs[t->msg];
            t->kdate = m->sent;
            t->kseq = m->seq;
        } else if (t->first != NONE) {
            t->kdate = c->nodes[t->first].kdate;
            t->kseq = c->nodes[t->first].kseq;
        } else {
            t->kdate = INT64_MIN;
            t->kseq = 0;
        }
        t->ldate = t->msg != NONE ? t->kdate : INT64_MIN;
        t->lseq = t->msg != NONE ? t->kseq : 0;
        for (idx_t y = t->first; y != NONE; y = c->nodes[y].next) {
            const struct tnode *u = &c->nodes[y];
            if (key_cmp(u->ldate, u->lseq, t->ldate, t->lseq) > 0) {
                t->ldate = u->ldate;
                t->lseq = u->lseq;
            }
        }
    }
    free(ents);
    free(order);
}

/* Step 3: prune dummies, each node after its descendants, so the
 * children a dummy hands up have had their own dummies removed. */
static void prune(struct tctx *c)
{
    size_t n;
    idx_t *order = preorder(c, &n);
    for (size_t i = n; i-- > 0;) {
        idx_t x = order[i];
        bool at_root = x == c->root;
        idx_t k = c->nodes[x].first;
        while (k != NONE) {
            idx_t next = c->nodes[k].next;
            if (is_dummy(c, k)) {
                if (c->nodes[k].nkids == 0) {
                    unlink_child(c, k);
                } else if (!at_root || c->nodes[k].nkids == 1) {
                    /* Promote the children to this level. They were
                     * processed already, so none of them is a dummy and
                     * revisiting them at the end of the list is harmless. */
                    while (c->nodes[k].first != NONE) {
                        idx_t g = c->nodes[k].first;
                        unlink_child(c, g);
                        link_child(c, x, g);
                    }
                    unlink_child(c, k);
                }
            }
            k = next;
        }
    }
    free(order);
}

/* Step 5.B.i: the thread subject, from the message or, for a dummy, from
 * its first child. "" = none. */
static const char *thread_subject(const struct tctx *c, idx_t x)
{
    while (x != NONE && is_dummy(c, x))
        x = c->nodes[x].first;
    if (x == NONE)
        return "";
    const char *s = c->msgs[c->nodes[x].msg].subject;
    return s ? s : "";
}

static bool is_reply(const struct tctx *c, idx_t x)
{
    return !is_dummy(c, x) && c->msgs[c->nodes[x].msg].is_reply;
}

/* Step 5: gather the threads under the root that share a base subject. */
static void merge_subjects(struct tctx *c)
{
    idx_t root = c->root;
    size_t n = c->nodes[root].nkids, i = 0;
    if (n < 2)
        return;
    idx_t *tops = xmalloc(n * sizeof(*tops));
    for (idx_t k = c->nodes[root].first; k != NONE; k = c->nodes[k].next)
        tops[i++] = k;

    struct smap table;
    smap_init(&table, n);
    /* 5.B: one message per base subject, preferring a dummy, then a
     * message that is not a reply or forward. */
    for (i = 0; i < n; i++) {
        const char *subj = thread_subject(c, tops[i]);
        if (!*subj)
            continue;
        size_t s = smap_slot(&table, subj);
        if (!table.keys[s]) {
            table.keys[s] = subj;
            table.vals[s] = tops[i];
            continue;
        }
        idx_t t = table.vals[s];
        if (!is_dummy(c, t) && (is_dummy(c, tops[i]) || (is_reply(c, t) && !is_reply(c, tops[i]))))
            table.vals[s] = tops[i];
    }
    /* 5.C: merge. A node moved below another during the walk (it was the
     * table entry and got a new dummy parent) is no longer a thread. */
    for (i = 0; i < n; i++) {
        idx_t x = tops[i];
        if (c->nodes[x].parent != root)
            continue;
        const char *subj = thread_subject(c, x);
        if (!*subj)
            continue;
        size_t s = smap_slot(&table, subj);
        idx_t t = table.vals[s];
        if (t == x)
            continue;
        if (is_dummy(c, t) && is_dummy(c, x)) {
            while (c->nodes[x].first != NONE) {
                idx_t g = c->nodes[x].first;
                unlink_child(c, g);
                link_child(c, t, g);
            }
            unlink_child(c, x);
        } else if (is_dummy(c, t) || (is_reply(c, x) && !is_reply(c, t))) {
            unlink_child(c, x);
            link_child(c, t, x);
        } else {
            idx_t d = node_new(c, NONE);
            unlink_child(c, x);
            unlink_child(c, t);
            link_child(c, root, d);
            link_child(c, d, t);
            link_child(c, d, x);
            table.vals[s] = d;
        }
    }
    smap_free(&table);
    free(tops);
}

/* Step 1: link messages by their references. */
static void link_references(struct tctx *c, const idx_t *msgnode)
{
    size_t nref = 0;
    for (size_t i = 0; i < c->n; i++)
        nref += c->msgs[i].nrefs < THREAD_MAX_REFS ? c->msgs[i].nrefs : THREAD_MAX_REFS;
    struct smap ids;
    smap_init(&ids, c->n + nref);

    /* The id_table: the first (lowest sequence number) message with a
     * Message ID owns it; a message without one, or with a duplicate,
     * gets no entry, which is the "unique Message ID" of step 1.A. */
    for (size_t i = 0; i < c->n; i++) {
        const char *id = c->msgs[i].message_id;
        if (!id || !*id)
            continue;
        size_t s = smap_slot(&ids, id);
        if (!ids.keys[s]) {
            ids.keys[s] = id;
            ids.vals[s] = msgnode[i];
        }
    }

    idx_t chain[THREAD_MAX_REFS];
    for (size_t i = 0; i < c->n; i++) {
        const struct thread_msg *m = &c->msgs[i];
        size_t first = m->nrefs > THREAD_MAX_REFS ? m->nrefs - THREAD_MAX_REFS : 0;
        size_t k = 0;
        for (size_t r = first; r < m->nrefs; r++) {
            const char *ref = m->refs[r];
            if (!ref || !*ref)
                continue;
            size_t s = smap_slot(&ids, ref);
            if (!ids.keys[s]) {
                ids.keys[s] = ref;
                ids.vals[s] = node_new(c, NONE);
            }
            chain[k++] = ids.vals[s];
        }
        /* 1.A: each reference the parent of the next, unless the next
         * already has a parent (the field may be truncated) or the link
         * would make a loop. */
        for (size_t j = 0; j + 1 < k; j++) {
            idx_t p = chain[j], kid = chain[j + 1];
            if (c->nodes[kid].parent == NONE && !would_loop(c, p, kid))
                link_child(c, p, kid);
        }
        /* 1.B: the last reference is the message's parent, replacing a
         * link made by an earlier message's (truncated) References. */
        idx_t self = msgnode[i];
        unlink_child(c, self);
        if (k > 0 && !would_loop(c, chain[k - 1], self))
            link_child(c, chain[k - 1], self);
    }
    smap_free(&ids);
}

/* Gather every parentless node under the root (step 2). */
static void gather_root(struct tctx *c)
{
    for (size_t i = 0; i < c->nnodes; i++) {
        idx_t x = (idx_t)i;
        if (x != c->root && c->nodes[x].parent == NONE)
            link_child(c, c->root, x);
    }
}

/* qsort has no context argument: ORDEREDSUBJECT's comparison reads the
 * records through this, thread-local because jobs run on a pool. */
static _Thread_local const struct thread_msg *os_msgs;

static int os_cmp(const void *a, const void *b)
{
    const struct thread_msg *x = &os_msgs[*(const idx_t *)a], *y = &os_msgs[*(const idx_t *)b];
    int r = strcmp(x->subject ? x->subject : "", y->subject ? y->subject : "");
    return r ? r : key_cmp(x->sent, x->seq, y->sent, y->seq);
}

/* Section 3, ORDEREDSUBJECT: by base subject then sent date; the first
 * message of each subject is the parent of all the others. */
static void ordered_subject(struct tctx *c, const idx_t *msgnode)
{
    idx_t *ord = xmalloc(c->n * sizeof(*ord));
    for (size_t i = 0; i < c->n; i++)
        ord[i] = (idx_t)i;
    os_msgs = c->msgs;
    qsort(ord, c->n, sizeof(*ord), os_cmp);
    os_msgs = NULL;
    idx_t head = NONE;
    const char *hs = NULL;
    for (size_t i = 0; i < c->n; i++) {
        const struct thread_msg *m = &c->msgs[ord[i]];
        const char *s = m->subject ? m->subject : "";
        if (head != NONE && strcmp(s, hs) == 0) {
            link_child(c, head, msgnode[ord[i]]);
        } else {
            head = msgnode[ord[i]];
            hs = s;
            link_child(c, c->root, head);
        }
    }
    free(ord);
}

/* Section 4's thread-list for each thread under the root. A chain of
 * only children prints as "1 2 3"; where it forks, each branch is its own
 * parenthesised list: "3 6 (4 23)(44 7 96)". A dummy prints nothing of
 * its own, so a dummy with several children gives "((3)(5))". */
static void render(const struct tctx *c, struct buf *out)
{
    /* Explicit stack of actions: a node to print as a chain, or a
     * literal close parenthesis. Each node is pushed once, each close
     * once per node: 2 * nnodes bounds it. */
    struct act {
        idx_t node;             /* NONE = ")" */
    };
    struct act *stack = xmalloc((2 * c->nnodes + 2) * sizeof(*stack));
    size_t sp = 0;
    for (idx_t top = c->nodes[c->root].last; top != NONE; top = c->nodes[top].prev) {
        stack[sp++] = (struct act){NONE};
        stack[sp++] = (struct act){top};
    }
    while (sp > 0) {
        idx_t x = stack[--sp].node;
        if (x == NONE) {
            buf_putc(out, ')');
            continue;
        }
        /* Opening parenthesis of this thread-list. */
        buf_putc(out, '(');
        bool printed = false;
        for (;;) {
            const struct tnode *t = &c->nodes[x];
            if (t->msg != NONE) {
                buf_printf(out, "%s%u", printed ? " " : "", c->msgs[t->msg].id);
                printed = true;
            }
            if (t->nkids == 1) {
                x = t->first;
                continue;
            }
            if (t->nkids > 1) {
                if (printed)
                    buf_putc(out, ' ');
                for (idx_t k = t->last; k != NONE; k = c->nodes[k].prev) {
                    stack[sp++] = (struct act){NONE};
                    stack[sp++] = (struct act){k};
                }
            }
            break;
        }
    }
    free(stack);
}

bool thread_alg_parse(const char *name, enum thread_alg *alg)
{
    if (strcasecmp(name, "ORDEREDSUBJECT") == 0)
        *alg = THREAD_ORDEREDSUBJECT;
    else if (strcasecmp(name, "REFERENCES") == 0)
        *alg = THREAD_REFERENCES;
    else if (strcasecmp(name, "REFS") == 0)
        *alg = THREAD_REFS;
    else
        return false;
    return true;
}

void thread_run(enum thread_alg alg, const struct thread_msg *msgs, size_t n, struct buf *out)
{
    if (n == 0)
        return;
    struct tctx c = {.msgs = msgs, .n = n};
    /* Room for the nodes step 1 makes (one per message, one per
     * referenced id at most, the root) and a few subject-merge dummies,
     * so the arena is not copied as it grows. */
    size_t nref = 0;
    if (alg != THREAD_ORDEREDSUBJECT)
        for (size_t i = 0; i < n; i++)
            nref += msgs[i].nrefs < THREAD_MAX_REFS ? msgs[i].nrefs : THREAD_MAX_REFS;
    c.cap = n + nref + 1 + n / 8;
    c.nodes = xmalloc(c.cap * sizeof(*c.nodes));
    idx_t *msgnode = xmalloc(n * sizeof(*msgnode));
    for (size_t i = 0; i < n; i++)
        msgnode[i] = node_new(&c, (idx_t)i);
    c.root = node_new(&c, NONE);

    if (alg == THREAD_ORDEREDSUBJECT) {
        ordered_subject(&c, msgnode);
        sort_all(&c, false);
    } else {
        link_references(&c, msgnode);   /* step 1 */
        gather_root(&c);                /* step 2 */
        prune(&c);                      /* step 3 */
        if (alg == THREAD_REFERENCES) {
            sort_all(&c, false);        /* step 4 */
            merge_subjects(&c);         /* step 5 */
            sort_all(&c, false);        /* step 6 */
        } else {
            /* REFS: no subject merging; siblings by sent date, the
             * threads by their newest message. */
            sort_all(&c, true);
        }
    }
    render(&c, out);
    free(msgnode);
    free(c.nodes);
}
