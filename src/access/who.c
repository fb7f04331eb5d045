/* who.c - identities: canonical user ids, domains (virtdomains), admins
 * and domain admins, group membership (groupfile).
 *
 * The group file is read into a process-wide cache and re-read when its
 * path, size, inode or mtime changes (a stat per lookup: cheap, and an
 * administrator's edit takes effect without a restart). Its size, line
 * length and number of groups/members are bounded so a runaway file
 * cannot exhaust memory.
 */
#include "access-private.h"
#include "config.h"
#include "log.h"

#include <ctype.h>
#include <pthread.h>
#include <sys/stat.h>

#define GROUPFILE_MAX_BYTES (8u * 1024 * 1024)
#define GROUPFILE_MAX_LINE 65536
#define GROUPFILE_MAX_GROUPS 100000
#define GROUP_MAX_MEMBERS 100000
#define GROUP_MAX_NAME 200

struct group {
    char *name;
    char **members;
    size_t nmembers, cap;
};

static struct {
    char *path;
    struct stat st;
    bool loaded;
    struct group *g;
    size_t n, cap;
} gcache;
/* Rights are evaluated on the event loop and in jobs on the pool
 * (jobs.h): gcache_mu is held for a refresh and the lookup after it. */
static pthread_mutex_t gcache_mu = PTHREAD_MUTEX_INITIALIZER;

static void gcache_clear(void)
{
    for (size_t i = 0; i < gcache.n; i++) {
        for (size_t j = 0; j < gcache.g[i].nmembers; j++)
            free(gcache.g[i].members[j]);
        free(gcache.g[i].members);
        free(gcache.g[i].name);
    }
    free(gcache.g);
    gcache.g = NULL;
    gcache.n = gcache.cap = 0;
}

static bool valid_group_name(const char *s, size_t len)
{
    if (len == 0 || len > GROUP_MAX_NAME)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c == 0x7f || c == ':' || c == ',')
            return false;
    }
    return true;
}

static void add_member(struct group *g, const char *s, size_t len)
{
    if (len == 0 || len > AUTH_MAX_USERNAME || g->nmembers >= GROUP_MAX_MEMBERS)
        return;
    char *m = xstrndup(s, len);
    for (char *p = m; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    ARRAY_GROW(g->members, g->nmembers, g->cap);
    g->members[g->nmembers++] = m;
}

/* One line: "name:x:gid:u1,u2" (/etc/group) or "name: u1, u2". */
static void parse_group_line(char *line)
{
    while (*line == ' ' || *line == '\t')
        line++;
    if (!*line || *line == '#')
        return;
    char *f[4];
    size_t nf = 0;
    char *p = line;
    f[nf++] = p;
    while ((p = strchr(p, ':')) != NULL && nf < 4) {
        *p++ = '\0';
        f[nf++] = p;
    }
    const char *members;
    if (nf == 2)
        members = f[1];
    else if (nf == 4)
        members = f[3];
    else
        return;
    size_t nlen = strlen(f[0]);
    while (nlen && (f[0][nlen - 1] == ' ' || f[0][nlen - 1] == '\t'))
        f[0][--nlen] = '\0';
    if (!valid_group_name(f[0], nlen) || gcache.n >= GROUPFILE_MAX_GROUPS)
        return;
    ARRAY_GROW(gcache.g, gcache.n, gcache.cap);
    struct group *g = &gcache.g[gcache.n++];
    memset(g, 0, sizeof(*g));
    g->name = xstrdup(f[0]);
    const char *s = members;
    while (*s) {
        while (*s == ' ' || *s == '\t' || *s == ',' || *s == '\r' || *s == '\n')
            s++;
        const char *e = s;
        while (*e && *e != ' ' && *e != '\t' && *e != ',' && *e != '\r' && *e != '\n')
            e++;
        add_member(g, s, (size_t)(e - s));
        s = e;
    }
}

static void gcache_load(const char *path, const struct stat *st)
{
    gcache_clear();
    free(gcache.path);
    gcache.path = xstrdup(path);
    gcache.st = *st;
    gcache.loaded = true;
    if (st->st_size > (off_t)GROUPFILE_MAX_BYTES) {
        log_warn("access: groupfile %s is larger than %u bytes; ignored", path, GROUPFILE_MAX_BYTES);
        return;
    }
    FILE *f = fopen(path, "re");
    if (!f) {
        log_warn("access: cannot open groupfile %s", path);
        return;
    }
    char *line = xmalloc(GROUPFILE_MAX_LINE + 2);
    bool skipping = false;
    while (fgets(line, GROUPFILE_MAX_LINE + 2, f)) {
        size_t len = strlen(line);
        bool complete = len && line[len - 1] == '\n';
        if (skipping) {          /* rest of an over-long line */
            skipping = !complete;
            continue;
        }
        if (!complete && len > GROUPFILE_MAX_LINE) {
            log_warn("access: over-long line in groupfile %s skipped", path);
            skipping = true;
            continue;
        }
        parse_group_line(line);
    }
    free(line);
    fclose(f);
}

/* Make the cache current; false when no group file is configured. */
static bool gcache_refresh(void)
{
    const char *path = config_str(CFG_GROUPFILE);
    if (!*path) {
        if (gcache.loaded) {
            gcache_clear();
            free(gcache.path);
            gcache.path = NULL;
            gcache.loaded = false;
        }
        return false;
    }
    struct stat st;
    if (stat(path, &st) != 0)
        memset(&st, 0, sizeof(st));
    if (gcache.loaded && gcache.path && strcmp(gcache.path, path) == 0 && st.st_ino == gcache.st.st_ino &&
        st.st_dev == gcache.st.st_dev && st.st_size == gcache.st.st_size &&
        st.st_mtim.tv_sec == gcache.st.st_mtim.tv_sec && st.st_mtim.tv_nsec == gcache.st.st_mtim.tv_nsec)
        return true;
    if (st.st_ino == 0 && st.st_size == 0 && st.st_mtim.tv_sec == 0) {
        gcache_clear();
        free(gcache.path);
        gcache.path = xstrdup(path);
        gcache.st = st;
        gcache.loaded = true;
        return true;
    }
    gcache_load(path, &st);
    return true;
}

static bool group_has(const struct group *g, const char *user)
{
    for (size_t i = 0; i < g->nmembers; i++)
        if (strcmp(g->members[i], user) == 0)
            return true;
    return false;
}

bool access_in_group(const char *user, const char *group)
{
    if (!user || !group)
        return false;
    pthread_mutex_lock(&gcache_mu);
    bool found = false;
    if (gcache_refresh())
        for (size_t i = 0; i < gcache.n && !found; i++)
            found = strcmp(gcache.g[i].name, group) == 0 && group_has(&gcache.g[i], user);
    pthread_mutex_unlock(&gcache_mu);
    return found;
}

const char *access_user_domain(const char *user)
{
    if (!config_bool(CFG_VIRTDOMAINS))
        return "";
    const char *at = strrchr(user, '@');
    return at ? at + 1 : "";
}

void access_shared_store(const char *domain, char *out, size_t outlen)
{
    if (domain && *domain)
        snprintf(out, outlen, "%s@%s", ACCESS_SHARED_STORE, domain);
    else
        snprintf(out, outlen, "%s", ACCESS_SHARED_STORE);
}

static const char *store_domain_of(const char *store);

bool access_is_admin_of(const struct access_who *w, const char *domain)
{
    if (!w || w->anonymous)
        return false;
    if (w->admin)
        return true;
    return w->domain_admin && strcmp(w->domain, domain ? domain : "") == 0;
}

bool access_is_global_admin_id(const char *id)
{
    if (!id || !*id || id[0] == '%')
        return false;
    /* Under virtdomains only a name listed without a domain part is a
     * global admin (access_who_init); "name@domain" is a domain admin. */
    if (config_bool(CFG_VIRTDOMAINS) && strchr(id, '@'))
        return false;
    return config_is_admin(id);
}

bool access_is_admin_of_store(const struct access_who *w, const char *store)
{
    if (!access_is_admin_of(w, store_domain_of(store)))
        return false;
    /* A domain admin of the default domain must not administer (or
     * delete, rename, recreate) the account of a global admin that lives
     * in the same domain: that would be a way to become the global admin. */
    return w->admin || !access_is_global_admin_id(store);
}

void access_who_init(struct access_who *w, const char *user)
{
    memset(w, 0, sizeof(*w));
    snprintf(w->user, sizeof(w->user), "%s", user ? user : "");
    snprintf(w->domain, sizeof(w->domain), "%s", access_user_domain(w->user));
    if (!config_bool(CFG_VIRTDOMAINS)) {
        w->admin = config_is_admin(w->user);
    } else if (!w->domain[0]) {
        /* A default-domain user: listed bare = global admin; listed as
         * name@defaultdomain = admin of the default domain only. */
        w->admin = config_is_admin(w->user);
        const char *dd = config_str(CFG_DEFAULTDOMAIN);
        if (!w->admin && *dd) {
            char full[AUTH_MAX_USERNAME + ACCESS_MAX_DOMAIN + 2];
            snprintf(full, sizeof(full), "%s@%s", w->user, dd);
            w->domain_admin = config_is_admin(full);
        }
    } else {
        /* "name@domain" in admins: that domain's admin, never global. */
        w->domain_admin = config_is_admin(w->user);
    }
    w->ngroups = access_groups_of(w->user, &w->groups);
}

size_t access_groups_of(const char *user, char ***out)
{
    *out = NULL;
    size_t n = 0;
    pthread_mutex_lock(&gcache_mu);
    if (gcache_refresh()) {
        for (size_t i = 0; i < gcache.n; i++) {
            if (!group_has(&gcache.g[i], user))
                continue;
            *out = xrealloc(*out, (n + 1) * sizeof(**out));
            (*out)[n++] = xasprintf("group:%s", gcache.g[i].name);
        }
    }
    pthread_mutex_unlock(&gcache_mu);
    return n;
}

void access_who_init_anonymous(struct access_who *w)
{
    memset(w, 0, sizeof(*w));
    snprintf(w->user, sizeof(w->user), "anonymous");
    w->anonymous = true;
}

void access_who_copy(struct access_who *dst, const struct access_who *src)
{
    *dst = *src;
    dst->groups = NULL;
    if (src->ngroups) {
        dst->groups = xmalloc(src->ngroups * sizeof(*dst->groups));
        for (size_t i = 0; i < src->ngroups; i++)
            dst->groups[i] = xstrdup(src->groups[i]);
    }
}

void access_who_free(struct access_who *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->ngroups; i++)
        free(w->groups[i]);
    free(w->groups);
    w->groups = NULL;
    w->ngroups = 0;
}

/* The domain a store belongs to. */
static const char *store_domain_of(const char *store)
{
    if (store[0] == '%') {
        const char *at = strchr(store, '@');
        return at ? at + 1 : "";
    }
    return access_user_domain(store);
}

bool access_id_from_client(const struct access_who *w, const char *store, const char *id, char *out,
                           size_t outlen)
{
    if (!id || !*id || strlen(id) > ACL_MAX_IDENTIFIER)
        return false;
    if (strcmp(id, "anyone") == 0 || strcmp(id, "anonymous") == 0) {
        snprintf(out, outlen, "%s", id);
        return true;
    }
    if (strncmp(id, "group:", 6) == 0) {
        if (!valid_group_name(id + 6, strlen(id + 6)))
            return false;
        return (size_t)snprintf(out, outlen, "%s", id) < outlen;
    }
    char norm[AUTH_MAX_USERNAME + 1];
    if (!config_bool(CFG_VIRTDOMAINS)) {
        if (!userdb_normalize_name(id, norm))
            return false;
        return (size_t)snprintf(out, outlen, "%s", norm) < outlen;
    }
    const char *sd = store_domain_of(store);
    if (!strchr(id, '@')) {
        char full[AUTH_MAX_USERNAME + ACCESS_MAX_DOMAIN + 2];
        if (*sd)
            snprintf(full, sizeof(full), "%s@%s", id, sd);
        else
            snprintf(full, sizeof(full), "%s", id);
        if (!userdb_normalize_name(full, norm))
            return false;
    } else {
        if (!userdb_normalize_name(id, norm))
            return false;
        if (strcmp(access_user_domain(norm), sd) != 0 && !(w && w->admin))
            return false;
    }
    return (size_t)snprintf(out, outlen, "%s", norm) < outlen;
}

bool access_reserved_local(const char *id, size_t len)
{
    return (len == 6 && strncmp(id, "anyone", 6) == 0) || (len == 9 && strncmp(id, "anonymous", 9) == 0) ||
           (len >= 6 && strncmp(id, "group:", 6) == 0) || (len >= 1 && id[0] == '-');
}

void access_id_to_client(const struct access_who *w, const char *store, const char *id, char *out,
                         size_t outlen)
{
    UNUSED(w);
    const char *neg = "";
    if (id[0] == '-') {
        neg = "-";
        id++;
    }
    const char *sd = store_domain_of(store);
    size_t idlen = strlen(id);
    if (config_bool(CFG_VIRTDOMAINS) && *sd && strncmp(id, "group:", 6) != 0) {
        const char *at = strrchr(id, '@');
        /* Never show "anyone@D"/"anonymous@D" as the special identifiers
         * (such accounts cannot be created any more, but old ones may
         * exist): keep the domain on those. */
        if (at && strcmp(at + 1, sd) == 0 && !access_reserved_local(id, (size_t)(at - id)))
            idlen = (size_t)(at - id);
    }
    snprintf(out, outlen, "%s%.*s", neg, (int)idlen, id);
}
