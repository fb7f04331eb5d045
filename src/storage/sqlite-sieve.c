/* sqlite-sieve.c - SQLite backend: users' Sieve scripts (table
 * sieve_script, schema 8; the API and its results in storage.h).
 *
 * Every change is one IMMEDIATE transaction committed with
 * synchronous=FULL (sq_commit), like every other write of the store: a
 * put replaces source and compiled form together or not at all, and the
 * caller may answer OK once the call returned 0.
 *
 * Limits: sieve_maxscripts is checked inside the put's transaction (the
 * count cannot change under it: the write lock is held); the quota
 * through the usual path, sq_quota_bump_user noting the change of the
 * user root's storage usage and sq_commit refusing a transaction that
 * raised it over the limit (sqlite-quota.c). So a replaced script that
 * shrinks, a delete and a rename always succeed, even over quota.
 */
#include "sqlite-internal.h"
#include "log.h"

#include <time.h>

/* Columns SVCOLS (sqlite-store.c) 0..6 into info. */
static void row_to_info(sqlite3_stmt *st, struct sieve_store_info *info)
{
    memset(info, 0, sizeof(*info));
    const char *n = (const char *)sqlite3_column_text(st, 0);
    snprintf(info->name, sizeof(info->name), "%s", n ? n : "");
    info->size = (uint64_t)sqlite3_column_int64(st, 1);
    info->mtime = sqlite3_column_int64(st, 2);
    info->active = sqlite3_column_int(st, 3) != 0;
    info->generation = sqlite3_column_int64(st, 4);
    info->compiled_version = (uint32_t)sqlite3_column_int64(st, 5);
    info->compiled_size = (uint64_t)sqlite3_column_int64(st, 6);
}

int sq_sieve_list(struct mail_user *u, int (*cb)(const struct sieve_store_info *info, void *arg), void *arg)
{
    /* Collected first, so cb runs with no statement open and may call
     * back into storage. Bounded by sieve_maxscripts (when it was lowered
     * later, by what was allowed before). */
    sqlite3_stmt *st = sq_stmt(u, SQ_SV_LIST);
    if (!st)
        return STORAGE_ERR_IO;
    struct sieve_store_info *v = NULL;
    size_t n = 0, cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        ARRAY_GROW(v, n, cap);
        row_to_info(st, &v[n++]);
    }
    sqlite3_reset(st);
    int r = rc == SQLITE_DONE ? STORAGE_OK : sq_error(u, rc, "list sieve scripts");
    for (size_t i = 0; r == 0 && i < n; i++)
        if (cb(&v[i], arg))
            break;
    free(v);
    return r;
}

/* A copy of blob column col with a NUL after it (NULL for SQL NULL). */
static void *column_copy(sqlite3_stmt *st, int col, size_t *len)
{
    *len = 0;
    if (sqlite3_column_type(st, col) == SQLITE_NULL)
        return NULL;
    const void *p = sqlite3_column_blob(st, col);
    size_t l = (size_t)sqlite3_column_bytes(st, col);
    char *c = xmalloc(l + 1);
    if (l)
        memcpy(c, p, l);
    c[l] = '\0';
    *len = l;
    return c;
}

int sq_sieve_get(struct mail_user *u, const char *name, bool want_compiled, struct sieve_store_script *out)
{
    sqlite3_stmt *st = sq_stmt(u, name ? SQ_SV_GET : SQ_SV_GET_ACTIVE);
    if (!st)
        return STORAGE_ERR_IO;
    if (name)
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, want_compiled ? 1 : 0);
    int rc = sqlite3_step(st);
    int r = STORAGE_OK;
    if (rc == SQLITE_ROW) {
        row_to_info(st, &out->info);
        out->source = column_copy(st, 7, &out->source_len);
        if (!out->source)
            out->source = xstrdup("");   /* NOT NULL column; defensive */
        out->compiled = want_compiled ? column_copy(st, 8, &out->compiled_len) : NULL;
    } else {
        r = rc == SQLITE_DONE ? STORAGE_ERR_NOTFOUND : sq_error(u, rc, "get sieve script");
    }
    sqlite3_reset(st);
    return r;
}

int sq_sieve_stat(struct mail_user *u, const char *name, struct sieve_store_info *out)
{
    sqlite3_stmt *st = sq_stmt(u, name ? SQ_SV_STAT : SQ_SV_STAT_ACTIVE);
    if (!st)
        return STORAGE_ERR_IO;
    if (name)
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    int r = STORAGE_OK;
    if (rc == SQLITE_ROW)
        row_to_info(st, out);
    else
        r = rc == SQLITE_DONE ? STORAGE_ERR_NOTFOUND : sq_error(u, rc, "sieve script info");
    sqlite3_reset(st);
    return r;
}

/* How many scripts there are, and name's size and active flag (exists
 * false when there is no such script). */
static int script_state(struct mail_user *u, const char *name, int64_t *count, bool *exists, int64_t *size,
                        bool *active)
{
    sqlite3_stmt *st = sq_stmt(u, SQ_SV_STATE);
    if (!st)
        return STORAGE_ERR_IO;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    int r = STORAGE_OK;
    if (rc == SQLITE_ROW) {
        *count = sqlite3_column_int64(st, 0);
        *exists = sqlite3_column_type(st, 1) != SQLITE_NULL;
        *size = *exists ? sqlite3_column_int64(st, 1) : 0;
        *active = *exists && sqlite3_column_int(st, 2) != 0;
    } else {
        r = sq_error(u, rc == SQLITE_DONE ? SQLITE_ERROR : rc, "sieve script state");
    }
    sqlite3_reset(st);
    return r;
}

/* The next generation number (meta.sieve_generation), inside the write
 * transaction. */
static int next_generation(struct mail_user *u, int64_t *out)
{
    sqlite3_stmt *st = sq_stmt(u, SQ_META_GET);
    if (!st)
        return STORAGE_ERR_IO;
    sqlite3_bind_text(st, 1, "sieve_generation", -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    int64_t last = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return sq_error(u, rc, "sieve generation");
    if (last < 0 || last == INT64_MAX)
        return STORAGE_ERR_LIMIT;
    if (!(st = sq_stmt(u, SQ_META_SET)))
        return STORAGE_ERR_IO;
    sqlite3_bind_text(st, 1, "sieve_generation", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, last + 1);
    *out = last + 1;
    return sq_run(u, st, "sieve generation");
}

/* Make name (NULL: none) the active script, inside the transaction. */
static int set_active(struct mail_user *u, const char *name)
{
    int r = sq_run(u, sq_stmt(u, SQ_SV_DEACTIVATE), "deactivate sieve script");
    if (r < 0 || !name)
        return r;
    sqlite3_stmt *st = sq_stmt(u, SQ_SV_ACTIVATE);
    if (!st)
        return STORAGE_ERR_IO;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    if ((r = sq_run(u, st, "activate sieve script")) < 0)
        return r;
    return sqlite3_changes(sq(u)->db) == 0 ? STORAGE_ERR_NOTFOUND : STORAGE_OK;
}

static int finish(struct mail_user *u, int r)
{
    if (r == 0)
        return sq_commit(u);   /* the quota verdict, then COMMIT (fsync) */
    sq_rollback(u);
    return r;
}

int sq_sieve_put(struct mail_user *u, const char *name, const struct sieve_store_put *p, const struct sieve_store_limits *lim)
{
    int r = sq_begin(u);
    if (r < 0)
        return r;
    int64_t count, oldsize, gen = 0;
    bool exists, active;
    if ((r = script_state(u, name, &count, &exists, &oldsize, &active)) < 0)
        return finish(u, r);
    /* RFC 5804 2.6: a new script past the limit is QUOTA/MAXSCRIPTS;
     * replacing one never adds to the count. */
    if (!exists && count >= lim->max_scripts)
        return finish(u, STORAGE_ERR_MAXSCRIPTS);
    if ((r = next_generation(u, &gen)) < 0)
        return finish(u, r);
    sqlite3_stmt *st = sq_stmt(u, SQ_SV_UPSERT);
    if (!st)
        return finish(u, STORAGE_ERR_IO);
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (int64_t)p->source_len);
    sqlite3_bind_int64(st, 3, (int64_t)time(NULL));
    sqlite3_bind_int64(st, 4, gen);
    sqlite3_bind_int64(st, 5, p->compiled ? (int64_t)p->compiled_version : 0);
    /* A non-NULL pointer even for 0 bytes: an empty blob, not NULL. */
    sqlite3_bind_blob64(st, 6, p->source_len ? p->source : "", p->source_len, SQLITE_STATIC);
    if (p->compiled)
        sqlite3_bind_blob64(st, 7, p->compiled_len ? p->compiled : "", p->compiled_len, SQLITE_STATIC);
    if ((r = sq_run(u, st, "put sieve script")) < 0)
        return finish(u, r);
    if (p->activate && (r = set_active(u, name)) < 0)
        return finish(u, r);
    r = sq_quota_bump_user(u, (int64_t)p->source_len - oldsize);
    return finish(u, r);
}

int sq_sieve_havespace(struct mail_user *u, const char *name, uint64_t size, const struct sieve_store_limits *lim)
{
    int64_t count, oldsize;
    bool exists, active;
    int r = script_state(u, name, &count, &exists, &oldsize, &active);
    if (r < 0)
        return r;
    if (!exists && count >= lim->max_scripts)
        return STORAGE_ERR_MAXSCRIPTS;
    /* As the put's commit would judge it: only a growth is refused. */
    struct quota_root q;
    if ((r = sq_quota_get(u, "", &q)) < 0)
        return r;
    if (q.storage_limit_kb >= 0 && size > (uint64_t)oldsize && q.storage_limit_kb <= QUOTA_MAX_LIMIT) {
        uint64_t growth = size - (uint64_t)oldsize;
        int64_t limit = q.storage_limit_kb * 1024;
        /* growth <= sieve_maxscriptsize (64 MiB at most): no overflow */
        if (q.storage_used + (int64_t)growth > limit)
            return STORAGE_ERR_OVERQUOTA;
    }
    return STORAGE_OK;
}

int sq_sieve_set_compiled(struct mail_user *u, const char *name, int64_t generation, const void *compiled,
                          size_t compiled_len, uint32_t compiled_version)
{
    int r = sq_begin(u);
    if (r < 0)
        return r;
    sqlite3_stmt *st = sq_stmt(u, SQ_SV_SET_COMPILED);
    if (!st)
        return finish(u, STORAGE_ERR_IO);
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, generation);
    sqlite3_bind_int64(st, 3, (int64_t)compiled_version);
    sqlite3_bind_blob64(st, 4, compiled_len ? compiled : "", compiled_len, SQLITE_STATIC);
    if ((r = sq_run(u, st, "store compiled sieve script")) < 0)
        return finish(u, r);
    if (sqlite3_changes(sq(u)->db) == 0) {
        /* Gone, or put again since the caller read it. */
        int64_t count, size;
        bool exists, active;
        r = script_state(u, name, &count, &exists, &size, &active);
        return finish(u, r < 0 ? r : exists ? STORAGE_ERR_MODIFIED : STORAGE_ERR_NOTFOUND);
    }
    return finish(u, STORAGE_OK);
}

int sq_sieve_activate(struct mail_user *u, const char *name)
{
    int r = sq_begin(u);
    if (r < 0)
        return r;
    return finish(u, set_active(u, name));
}

int sq_sieve_delete(struct mail_user *u, const char *name)
{
    int r = sq_begin(u);
    if (r < 0)
        return r;
    int64_t count, size;
    bool exists, active;
    if ((r = script_state(u, name, &count, &exists, &size, &active)) < 0)
        return finish(u, r);
    if (!exists)
        return finish(u, STORAGE_ERR_NOTFOUND);
    /* RFC 5804 2.10: the active script must be deactivated first. */
    if (active)
        return finish(u, STORAGE_ERR_ACTIVE);
    sqlite3_stmt *st = sq_stmt(u, SQ_SV_DELETE);
    if (!st)
        return finish(u, STORAGE_ERR_IO);
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    if ((r = sq_run(u, st, "delete sieve script")) < 0)
        return finish(u, r);
    return finish(u, sq_quota_bump_user(u, -size));
}

int sq_sieve_rename(struct mail_user *u, const char *oldname, const char *newname)
{
    int r = sq_begin(u);
    if (r < 0)
        return r;
    int64_t count, size;
    bool exists, active;
    if ((r = script_state(u, oldname, &count, &exists, &size, &active)) < 0)
        return finish(u, r);
    if (!exists)
        return finish(u, STORAGE_ERR_NOTFOUND);
    if ((r = script_state(u, newname, &count, &exists, &size, &active)) < 0)
        return finish(u, r);
    if (exists)
        return finish(u, STORAGE_ERR_EXISTS);
    /* The row keeps its active flag, source, compiled form, generation
     * and mtime (RFC 5804 2.11: an active script stays active). */
    sqlite3_stmt *st = sq_stmt(u, SQ_SV_RENAME);
    if (!st)
        return finish(u, STORAGE_ERR_IO);
    sqlite3_bind_text(st, 1, oldname, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, newname, -1, SQLITE_STATIC);
    return finish(u, sq_run(u, st, "rename sieve script"));
}
