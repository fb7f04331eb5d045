/* msgfile.c - immutable message body files.
 *
 * A body lives in DATADIR/user/<c>/<name>/msg/<g0g1>/<guid>, named by a
 * random GUID so that no client-supplied string (mailbox names!) ever
 * becomes part of a path. Write order gives crash safety: the body is
 * written to DATADIR/tmp, fsync'd, renamed (or linked) into place and the
 * directory fsync'd BEFORE the metadata commit that references it (the
 * files of one append transaction or group commit share one directory,
 * fsync'd once for all of them by the committer). So a
 * crash can leave an orphan file (found by mail_user_check) but never a
 * row pointing at a missing file. Files are shared by COPY/MOVE via a
 * refcount in the metadata and never modified after creation.
 *
 * Partitions (issue 3): a store may live on another filesystem than
 * DATADIR/tmp or than another store, so every link(2)/rename(2) between
 * directories has a copy fallback for EXDEV: the bytes are written to a
 * temporary name inside the destination directory (same filesystem by
 * construction), fsync'd and renamed into place, then the directory is
 * fsync'd, which is the same durability as the fast path. A crash leaves
 * at most a ".tmp" file there, which mail_user_check reports as an
 * orphan.
 */
#include "storage-private.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

void msgfile_new_guid(char guid[33])
{
    unsigned char r[16];
    storage_random(r, sizeof(r));
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < 16; i++) {
        guid[2 * i] = hex[r[i] >> 4];
        guid[2 * i + 1] = hex[r[i] & 15];
    }
    guid[32] = '\0';
}

void msgfile_new_subdir(char gg[3])
{
    char g[33];
    msgfile_new_guid(g);
    gg[0] = g[0];
    gg[1] = g[1];
    gg[2] = '\0';
}

int msgfile_fsync_subdir(const struct mail_user *u, const char gg[3])
{
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/msg/%c%c", u->dir, gg[0], gg[1]);
    if (msgfile_fsync_dir(dir) < 0) {
        log_err("storage: fsync %s: %s", dir, strerror(errno));
        return STORAGE_ERR_IO;
    }
    return STORAGE_OK;
}

bool msgfile_valid_guid(const char *guid)
{
    size_t i;
    for (i = 0; guid[i]; i++)
        if (!((guid[i] >= '0' && guid[i] <= '9') || (guid[i] >= 'a' && guid[i] <= 'f')))
            return false;
    return i == 32;
}

void msgfile_path(const struct mail_user *u, const char *guid, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s/msg/%c%c/%s", u->dir, guid[0], guid[1], guid);
}

int msgfile_mkdirs(const char *path)
{
    char tmp[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof(tmp))
        return -1;
    memcpy(tmp, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (tmp[i] == '/' || tmp[i] == '\0') {
            char c = tmp[i];
            tmp[i] = '\0';
            if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
                return -1;
            tmp[i] = c;
        }
    }
    return 0;
}

int msgfile_fsync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int r = fsync(fd);
    close(fd);
    return r;
}

bool msgfile_test_exdev;

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, MIN(n, (size_t)1 << 30));
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Copy len bytes from offset 0 of src to dst (pread: the caller's file
 * offset is left alone). */
static int copy_fd(int dst, int src, size_t len)
{
    char *b = xmalloc(65536);
    size_t off = 0;
    int r = 0;
    while (off < len) {
        ssize_t n = pread(src, b, MIN(len - off, (size_t)65536), (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {   /* 0: short source, the length promised was wrong */
            if (n == 0)
                errno = EINVAL;
            r = n == 0 ? -2 : -1;
            break;
        }
        if (write_all(dst, b, (size_t)n) < 0) {
            r = -1;
            break;
        }
        off += (size_t)n;
    }
    free(b);
    return r;
}

/* The EXDEV fallback: copy len bytes of src into dir under a temporary
 * name, fsync it and rename it to final (in dir). The caller fsyncs dir.
 * Returns 0, -1 (errno set) or -2 (short source). */
static int copy_into_dir(int src, size_t len, const char *dir, const char *final, const char *guid)
{
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s/.%s.%d.tmp", dir, guid, (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return -1;
    int r = copy_fd(fd, src, len);
    if (r == 0)
        r = fsync(fd);
    int saved = errno;
    if (close(fd) < 0 && r == 0) {
        r = -1;
        saved = errno;
    }
    if (r == 0 && rename(tmp, final) < 0) {
        r = -1;
        saved = errno;
    }
    if (r < 0) {
        unlink(tmp);
        errno = saved;
    }
    return r;
}

/* Ensure msg/<g0g1>/ exists; a newly created directory's entry must be
 * durable too, so the parent is fsync'd. */
static int ensure_subdir(const struct mail_user *u, const char *guid, char *dir, size_t dirlen)
{
    snprintf(dir, dirlen, "%s/msg/%c%c", u->dir, guid[0], guid[1]);
    if (mkdir(dir, 0700) == 0) {
        char parent[4096];
        snprintf(parent, sizeof(parent), "%s/msg", u->dir);
        if (msgfile_fsync_dir(parent) < 0)
            return -1;
    } else if (errno == ENOENT) {
        char parent[4096];
        snprintf(parent, sizeof(parent), "%s/msg", u->dir);
        if (msgfile_mkdirs(dir) < 0 || msgfile_fsync_dir(parent) < 0 || msgfile_fsync_dir(u->dir) < 0)
            return -1;
    } else if (errno != EEXIST) {
        return -1;
    }
    return 0;
}

/* Fast path for a spilled APPEND literal: an unlinked O_TMPFILE on the
 * same filesystem becomes the message file by linkat(), no copy. Only an
 * unlinked file (st_nlink == 0) qualifies: linking a named file would make
 * the "immutable" body share an inode with something the caller may
 * still change. The exception is a delivery spool (m->shared_spool): the
 * server wrote it, fsync'd it and never changes it again, so one inode
 * can back the copies of many recipients (single-instance store), and
 * its data needs no second fdatasync per recipient (the directory fsync
 * makes the new link durable). If linkat fails (EMLINK, EXDEV) the caller
 * falls back to copying. */
static int try_link_fd(int fd, size_t len, const char *final, bool shared)
{
    struct stat st;
    if (msgfile_test_exdev)
        return -1;   /* as linkat's EXDEV: the caller copies */
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (st.st_nlink != 0 && !shared) ||
        (uint64_t)st.st_size != len)
        return -1;
    if (!shared && fdatasync(fd) < 0)
        return -1;
    char proc[64];
    snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
    if (linkat(AT_FDCWD, proc, AT_FDCWD, final, AT_SYMLINK_FOLLOW) < 0)
        return -1;
    return 0;
}

int msgfile_store(const struct mail_user *u, const struct append_msg *m, const char gg[3], char guid[33])
{
    char final[4096], dir[4096];
    msgfile_new_guid(guid);
    if (gg && gg[0] && gg[1]) {
        /* the transaction's (or group's) directory: 120 random bits left */
        guid[0] = gg[0];
        guid[1] = gg[1];
    }
    msgfile_path(u, guid, final, sizeof(final));
    if (ensure_subdir(u, guid, dir, sizeof(dir)) < 0) {
        log_err("storage: %s: cannot create %s: %s", u->name, dir, strerror(errno));
        return STORAGE_ERR_IO;
    }
    if (!m->data && try_link_fd(m->fd, m->len, final, m->shared_spool) == 0)
        return STORAGE_OK;   /* the caller fsyncs dir */

    /* The temporary file goes to DATADIR/tmp when that is the store's
     * filesystem (a crash leaves nothing in the store), else (a store on
     * another partition) straight into the store's directory, so the
     * final rename never crosses filesystems and the body is written
     * once. */
    struct stat tst, dst;
    bool in_dir = msgfile_test_exdev || stat(storage_tmpdir(), &tst) < 0 || stat(dir, &dst) < 0 ||
                  tst.st_dev != dst.st_dev;
    char tmp[4096 + 64];
    if (in_dir)
        snprintf(tmp, sizeof(tmp), "%s/.%s.%d.tmp", dir, guid, (int)getpid());
    else
        snprintf(tmp, sizeof(tmp), "%s/%s.%d.tmp", storage_tmpdir(), guid, (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        log_err("storage: create %s: %s", tmp, strerror(errno));
        return STORAGE_ERR_IO;
    }
    int r = m->data ? write_all(fd, m->data, m->len) : copy_fd(fd, m->fd, m->len);
    if (r == 0)
        r = fsync(fd);
    int saved = errno;
    if (close(fd) < 0 && r == 0) {
        r = -1;
        saved = errno;
    }
    if (r == 0 && rename(tmp, final) < 0) {
        saved = errno;
        r = -1;
        if (saved == EXDEV && !in_dir) {
            /* The store is on another filesystem than DATADIR/tmp (a
             * partition): copy into its own directory instead. */
            int tfd = open(tmp, O_RDONLY | O_CLOEXEC);
            if (tfd >= 0) {
                r = copy_into_dir(tfd, m->len, dir, final, guid);
                saved = errno;
                close(tfd);
            }
            unlink(tmp);
        }
    }
    if (r < 0) {
        log_err("storage: %s: writing message body: %s", u->name, strerror(saved));
        unlink(tmp);
        if (r == -2)
            return STORAGE_ERR_INVALID;
        /* A user's filesystem quota is the user's problem (IMAP
         * [OVERQUOTA]); anything else, a full disk included, is ours. */
        return saved == EDQUOT ? STORAGE_ERR_OVERQUOTA : STORAGE_ERR_IO;
    }
    return STORAGE_OK;   /* the caller fsyncs dir */
}

int msgfile_link_into(const struct mail_user *src, const char *sguid, const struct mail_user *dst, const char *guid,
                      bool *created)
{
    *created = false;
    if (!msgfile_valid_guid(sguid) || !msgfile_valid_guid(guid))
        return STORAGE_ERR_IO;
    char from[4096], to[4096], dir[4096];
    msgfile_path(src, sguid, from, sizeof(from));
    msgfile_path(dst, guid, to, sizeof(to));
    if (ensure_subdir(dst, guid, dir, sizeof(dir)) < 0) {
        log_err("storage: %s: cannot create %s: %s", dst->name, dir, strerror(errno));
        return STORAGE_ERR_IO;
    }
    int err = 0;
    if (msgfile_test_exdev)
        err = EXDEV;
    else if (link(from, to) < 0)
        err = errno;
    if (err == EEXIST)
        return STORAGE_OK;   /* there already; *created tells the caller it is not ours */
    if (err == ENOENT)
        return STORAGE_ERR_NOTFOUND;   /* expunged from the source meanwhile */
    if (err == EXDEV || err == EMLINK || err == EPERM) {
        /* Another filesystem (partition), too many links, or a filesystem
         * without hard links: copy. */
        int fd = open(from, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return errno == ENOENT ? STORAGE_ERR_NOTFOUND : STORAGE_ERR_IO;
        struct stat st;
        int r = fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ? -1
                : copy_into_dir(fd, (size_t)st.st_size, dir, to, guid);
        int saved = errno;
        close(fd);
        if (r < 0) {
            log_err("storage: %s: copying message file %s: %s", dst->name, guid, strerror(saved));
            return saved == EDQUOT ? STORAGE_ERR_OVERQUOTA : STORAGE_ERR_IO;
        }
    } else if (err) {
        log_err("storage: %s: link %s: %s", dst->name, to, strerror(err));
        return STORAGE_ERR_IO;
    }
    if (msgfile_fsync_dir(dir) < 0) {
        log_err("storage: fsync %s: %s", dir, strerror(errno));
        unlink(to);
        return STORAGE_ERR_IO;
    }
    *created = true;
    return STORAGE_OK;
}

/* Message files up to this size are read into memory instead of mapped. */
#define MSGFILE_READ_MAX ((uint64_t)64 << 10)

int msgfile_map(const struct mail_user *u, const char *guid, struct msg_content *out)
{
    memset(out, 0, sizeof(*out));
    if (!msgfile_valid_guid(guid))
        return STORAGE_ERR_IO;
    char path[4096];
    msgfile_path(u, guid, path, sizeof(path));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        log_err("storage: %s: message file %s: %s", u->name, guid, strerror(errno));
        return STORAGE_ERR_IO;
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        close(fd);
        return STORAGE_ERR_IO;
    }
    if (st.st_size == 0) {
        /* mmap of length 0 fails; an empty message is legal. */
        close(fd);
        out->data = "";
        return STORAGE_OK;
    }
    if ((uint64_t)st.st_size <= MSGFILE_READ_MAX) {
        /* Small files are read, not mapped: these calls run on job
         * threads, and every munmap in a multi-threaded worker makes the
         * kernel flush the TLB of each core running one of its threads
         * (an IPI each), which costs more than copying a few KiB. */
        size_t n = (size_t)st.st_size, got = 0;
        char *b = xmalloc(n + 1);
        while (got < n) {
            ssize_t k = pread(fd, b + got, n - got, (off_t)got);
            if (k < 0 && errno == EINTR)
                continue;
            if (k <= 0)
                break;
            got += (size_t)k;
        }
        int e = errno;
        close(fd);
        if (got < n) {
            log_err("storage: read %s: %s", path, got ? "short read" : strerror(e));
            free(b);
            return STORAGE_ERR_IO;
        }
        b[n] = '\0';
        out->data = b;
        out->len = n;
        out->priv = b;
        out->heap = true;
        return STORAGE_OK;
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (p == MAP_FAILED) {
        log_err("storage: mmap %s: %s", path, strerror(errno));
        return STORAGE_ERR_IO;
    }
    out->data = p;
    out->len = (size_t)st.st_size;
    out->priv = p;
    return STORAGE_OK;
}

void msgfile_unlink(const struct mail_user *u, const char *guid)
{
    if (!msgfile_valid_guid(guid))
        return;
    char path[4096];
    msgfile_path(u, guid, path, sizeof(path));
    if (unlink(path) < 0 && errno != ENOENT)
        log_warn("storage: unlink %s: %s", path, strerror(errno));
}

bool msgfile_exists(const struct mail_user *u, const char *guid)
{
    char path[4096];
    msgfile_path(u, guid, path, sizeof(path));
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int msgfile_scan(const struct mail_user *u, void (*cb)(const char *name, const char *path, void *arg), void *arg)
{
    char top[4096];
    snprintf(top, sizeof(top), "%s/msg", u->dir);
    DIR *d = opendir(top);
    if (!d)
        return errno == ENOENT ? 0 : STORAGE_ERR_IO;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char sub[4096 + 300];
        snprintf(sub, sizeof(sub), "%s/%s", top, de->d_name);
        DIR *d2 = opendir(sub);
        if (!d2)
            continue;
        struct dirent *e2;
        while ((e2 = readdir(d2))) {
            if (strcmp(e2->d_name, ".") == 0 || strcmp(e2->d_name, "..") == 0)
                continue;
            char path[4096 + 600];
            snprintf(path, sizeof(path), "%s/%s", sub, e2->d_name);
            cb(e2->d_name, path, arg);
        }
        closedir(d2);
    }
    closedir(d);
    return 0;
}
