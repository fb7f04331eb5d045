/* auth-cache.h - the credential cache of the authentication service.
 *
 * What it remembers: "this user name with this password, against this
 * stored credential, was right (or wrong) at time T". What it holds for
 * that: a 32-byte HMAC-SHA256, under a random key made per process, of
 * (user, password, credential fingerprint) - never the password, never a
 * hash of it that could be attacked without the key, and not the user
 * name either (entries are found for a per-user flush by a second,
 * 16-byte HMAC of the name alone). The key lives in a page of its own
 * that is excluded from core dumps and, where the limits allow, locked in
 * memory (never swapped out). See docs/security.md for what a memory dump
 * yields.
 *
 * The credential fingerprint (auth-service.h: for users.db the stored
 * crypt hash) binds an entry to the password as it is stored now: after
 * a password change the same (user, password) gives another MAC, so the
 * old entry can never answer again, even if the flush datagram that
 * should remove it was lost.
 *
 * Positive entries expire ttl after the verification, negative entries
 * (a wrong password, an unknown user) negative ttl after. Expiry is
 * judged against the TTLs at lookup time, so a reload that shortens them
 * applies to entries already cached. At most max entries are held; the
 * least recently used goes first.
 *
 * Single-threaded: the event loop thread of a worker owns the cache (the
 * service inserts results from the jobs' done callbacks). Times are
 * milliseconds of any monotonic clock the caller chooses (unit tests pass
 * their own).
 */
#ifndef DARIUS_AUTH_CACHE_H
#define DARIUS_AUTH_CACHE_H

#include "common.h"
#include "buf.h"

#define AUTH_CACHE_MAC_LEN 32
#define AUTH_CACHE_UTAG_LEN 16
#define AUTH_CACHE_KEY_LEN 32

/* The lookup key of one (user, password, fingerprint): computed once per
 * login, then used for the lookup and for the insert after a
 * verification. */
struct auth_cache_key {
    unsigned char mac[AUTH_CACHE_MAC_LEN];
    unsigned char utag[AUTH_CACHE_UTAG_LEN];
};

enum auth_cache_hit { AUTH_CACHE_MISS, AUTH_CACHE_POSITIVE, AUTH_CACHE_NEGATIVE };

struct auth_cache;

/* key: AUTH_CACHE_KEY_LEN secret bytes (copied; the caller wipes its
 * copy), or NULL for a fresh random key (what a worker does at start). */
struct auth_cache *auth_cache_new(const unsigned char *key);
void auth_cache_free(struct auth_cache *c);
/* TTLs in milliseconds (0: that kind is never cached nor answered from
 * the cache) and the entry limit (0: nothing is cached). Shrinking the
 * limit evicts at once. */
void auth_cache_configure(struct auth_cache *c, uint64_t ttl_ms, uint64_t negative_ttl_ms, size_t max_entries);

void auth_cache_key(const struct auth_cache *c, const char *user, const char *password, const char *fingerprint,
                    struct auth_cache_key *out);
/* A live entry for k, or MISS (an expired entry found is dropped). A
 * positive hit makes the entry the most recently used. */
enum auth_cache_hit auth_cache_lookup(struct auth_cache *c, const struct auth_cache_key *k, uint64_t now_ms);
/* Remember a verification's outcome (replaces an entry for the same key). */
void auth_cache_insert(struct auth_cache *c, const struct auth_cache_key *k, bool positive, uint64_t now_ms);
/* Drop every entry of user (any password); returns how many. */
size_t auth_cache_flush_user(struct auth_cache *c, const char *user);
void auth_cache_clear(struct auth_cache *c);
size_t auth_cache_count(const struct auth_cache *c);

/* Tests: append every byte the entries hold (their whole structs). */
void auth_cache_dump_entries(const struct auth_cache *c, struct buf *out);

#endif
