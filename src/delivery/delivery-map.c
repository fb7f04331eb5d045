/* delivery-map.c - lmtp_address_map: explicit address -> mailbox entries.
 *
 * The file (path in config lmtp_address_map) has one entry per line:
 *
 *     news@example.com      Shared Folders/news
 *     lists@example.com     user/bob/Lists
 *
 * The address is the first whitespace-separated token; the mailbox is the
 * rest of the line (it may contain spaces), in the admin namespace form
 * with '/' as separator (see delivery_target). Blank lines and lines
 * starting with '#' are ignored. Addresses compare case-insensitively.
 *
 * The parsed map is cached per process and re-read when the file's
 * mtime, size or inode changes, so an operator edits (or atomically
 * replaces) it while the server runs. Everything is bounded: the file
 * size, the number of entries, the line length; a file over the limits is
 * an error (temporary failure: the mail waits in the MTA's queue rather
 * than bouncing because of a configuration mistake).
 */
#include "delivery.h"
#include "config.h"
#include "log.h"

#include <ctype.h>
#include <errno.h>
#include <strings.h>
#include <sys/stat.h>

#define MAP_MAX_LINE 4096

struct map_entry {
    char *addr;
    char *target;
};

static struct {
    char *path;
    bool loaded, failed;
    bool bad;           /* this version of the file could not be used */
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    struct map_entry *e;
    size_t n, cap;
} g_map;

static void clear_entries(void)
{
    for (size_t i = 0; i < g_map.n; i++) {
        free(g_map.e[i].addr);
        free(g_map.e[i].target);
    }
    free(g_map.e);
    g_map.e = NULL;
    g_map.n = g_map.cap = 0;
}

void delivery_map_free(void)
{
    clear_entries();
    free(g_map.path);
    memset(&g_map, 0, sizeof(g_map));
}

static int cmp_entry(const void *a, const void *b)
{
    return strcasecmp(((const struct map_entry *)a)->addr, ((const struct map_entry *)b)->addr);
}

/* Parse one line (NUL-terminated, no newline); false on a malformed one. */
static bool parse_line(char *line, const char *path, size_t lineno)
{
    char *p = line;
    while (*p == ' ' || *p == '\t')
        p++;
    if (!*p || *p == '#')
        return true;
    char *a = p;
    while (*p && *p != ' ' && *p != '\t')
        p++;
    char *aend = p;
    while (*p == ' ' || *p == '\t')
        p++;
    char *t = p;
    size_t tl = strlen(t);
    while (tl && (t[tl - 1] == ' ' || t[tl - 1] == '\t' || t[tl - 1] == '\r'))
        tl--;
    t[tl] = '\0';
    *aend = '\0';
    if (!tl || (size_t)(aend - a) >= DELIVERY_MAX_ADDR || tl >= 1024) {
        log_warn("delivery: %s:%zu: expected \"address mailbox\"; line ignored", path, lineno);
        return false;
    }
    for (const char *c = line; *c; c++)
        if ((unsigned char)*c < 0x20 && *c != '\t') {
            log_warn("delivery: %s:%zu: control character; line ignored", path, lineno);
            return false;
        }
    if (g_map.n >= DELIVERY_MAP_MAX_ENTRIES)
        return false;
    ARRAY_GROW(g_map.e, g_map.n, g_map.cap);
    g_map.e[g_map.n].addr = xstrdup(a);
    g_map.e[g_map.n].target = xstrdup(t);
    g_map.n++;
    return true;
}

static int load(const char *path, const struct stat *st)
{
    clear_entries();
    g_map.loaded = false;
    if (st->st_size > DELIVERY_MAP_MAX_BYTES) {
        log_err("delivery: %s: larger than %d bytes; not used", path, DELIVERY_MAP_MAX_BYTES);
        return -1;
    }
    FILE *f = fopen(path, "r");
    if (!f) {
        log_err("delivery: cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    char *line = xmalloc(MAP_MAX_LINE + 2);
    size_t lineno = 0;
    int rc = 0;
    while (fgets(line, MAP_MAX_LINE + 2, f)) {
        lineno++;
        size_t l = strlen(line);
        if (l && line[l - 1] == '\n')
            line[--l] = '\0';
        else if (!feof(f)) {
            log_warn("delivery: %s:%zu: line longer than %d bytes; ignored", path, lineno, MAP_MAX_LINE);
            int c;
            while ((c = fgetc(f)) != EOF && c != '\n')
                ;
            continue;
        }
        if (!parse_line(line, path, lineno) && g_map.n >= DELIVERY_MAP_MAX_ENTRIES) {
            log_err("delivery: %s: more than %d entries; not used", path, DELIVERY_MAP_MAX_ENTRIES);
            rc = -1;
            break;
        }
    }
    if (ferror(f)) {
        log_err("delivery: reading %s: %s", path, strerror(errno));
        rc = -1;
    }
    fclose(f);
    free(line);
    if (rc < 0) {
        clear_entries();
        return -1;
    }
    if (g_map.n > 1)
        qsort(g_map.e, g_map.n, sizeof(*g_map.e), cmp_entry);
    g_map.loaded = true;
    log_info("delivery: %s: %zu address map entries", path, g_map.n);
    return 0;
}

int delivery_map_lookup(const char *addr, char *target, size_t targetlen)
{
    const char *path = config_str(CFG_LMTP_ADDRESS_MAP);
    if (!*path)
        return 0;
    struct stat st;
    if (stat(path, &st) < 0) {
        if (errno == ENOENT) {
            /* A map that is not there maps nothing (logged once per change). */
            if (g_map.loaded || !g_map.failed)
                log_warn("delivery: lmtp_address_map %s does not exist", path);
            clear_entries();
            g_map.loaded = false;
            g_map.failed = true;
            return 0;
        }
        log_err("delivery: cannot stat %s: %s", path, strerror(errno));
        return -1;
    }
    bool same = (g_map.loaded || g_map.bad) && g_map.path && strcmp(g_map.path, path) == 0 && g_map.dev == st.st_dev &&
                g_map.ino == st.st_ino && g_map.size == st.st_size && g_map.mtime.tv_sec == st.st_mtim.tv_sec &&
                g_map.mtime.tv_nsec == st.st_mtim.tv_nsec;
    if (same && g_map.bad)
        return -1;   /* logged when it was read */
    if (!same) {
        free(g_map.path);
        g_map.path = xstrdup(path);
        g_map.dev = st.st_dev;
        g_map.ino = st.st_ino;
        g_map.size = st.st_size;
        g_map.mtime = st.st_mtim;
        g_map.failed = false;
        g_map.bad = false;
        if (load(path, &st) < 0) {
            g_map.bad = true;
            return -1;
        }
    }
    struct map_entry key = {.addr = (char *)addr, .target = NULL};
    const struct map_entry *e = g_map.n ? bsearch(&key, g_map.e, g_map.n, sizeof(*g_map.e), cmp_entry) : NULL;
    if (!e)
        return 0;
    if (strlen(e->target) >= targetlen)
        return 0;
    snprintf(target, targetlen, "%s", e->target);
    return 1;
}
