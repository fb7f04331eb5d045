/* procmem.c - memory of the server's process tree, and fd limits.
 *
 * Pss (proportional set size) is the honest number for a pre-forked
 * server: pages shared between master and workers (code, libraries,
 * copy-on-write data) are split between them instead of counted once per
 * process as RSS would. smaps_rollup exists since Linux 4.14; older
 * kernels fall back to VmRSS, which over-counts shared pages.
 */
#include "bench.h"
#include <ctype.h>
#include <dirent.h>
#include <limits.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

/* Value in kB of "Key:   123 kB" in a /proc file, or -1. */
static long long proc_kb(const char *path, const char *key)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[256];
    size_t kl = strlen(key);
    long long v = -1;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
            v = strtoll(line + kl + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return v;
}

static long long process_bytes(pid_t pid, const char **what)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/smaps_rollup", (int)pid);
    long long kb = proc_kb(path, "Pss");
    if (kb >= 0) {
        *what = "Pss";
        return kb * 1024;
    }
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    kb = proc_kb(path, "VmRSS");
    if (kb >= 0) {
        *what = "VmRSS";
        return kb * 1024;
    }
    return -1;
}

/* Parent pid from /proc/PID/stat; the comm field may contain spaces and
 * parentheses, so parse after the last ')'. */
static pid_t parent_of(pid_t pid)
{
    char path[64], line[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(line, 1, sizeof line - 1, f);
    fclose(f);
    line[n] = '\0';
    char *p = strrchr(line, ')');
    if (!p)
        return -1;
    char state;
    int ppid;
    if (sscanf(p + 1, " %c %d", &state, &ppid) != 2)
        return -1;
    return (pid_t)ppid;
}

long long bench_server_memory(pid_t master, int *nproc, const char **what)
{
    /* Collect (pid, ppid) once, then walk the tree from master. */
    pid_t *pids = NULL, *pp = NULL;
    size_t n = 0, cap = 0, cap2 = 0, n2 = 0;
    DIR *d = opendir("/proc");
    if (!d)
        return -1;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!isdigit((unsigned char)de->d_name[0]))
            continue;
        pid_t pid = (pid_t)atoi(de->d_name);
        pid_t ppid = parent_of(pid);
        if (ppid < 0)
            continue;
        ARRAY_GROW(pids, n, cap);
        ARRAY_GROW(pp, n2, cap2);
        pids[n++] = pid;
        pp[n2++] = ppid;
    }
    closedir(d);
    pid_t *tree = xcalloc(n + 1, sizeof *tree);
    size_t nt = 0;
    tree[nt++] = master;
    for (size_t i = 0; i < nt; i++)
        for (size_t k = 0; k < n; k++)
            if (pp[k] == tree[i] && nt < n + 1)
                tree[nt++] = pids[k];
    long long total = 0;
    int counted = 0;
    for (size_t i = 0; i < nt; i++) {
        long long b = process_bytes(tree[i], what);
        if (b >= 0) {
            total += b;
            counted++;
        } else if (i == 0) {
            total = -1;
            break;
        }
    }
    free(pids);
    free(pp);
    free(tree);
    *nproc = counted;
    return total;
}

long bench_raise_nofile(long need)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return 1024;
    if ((rlim_t)need > rl.rlim_cur) {
        if ((rlim_t)need > rl.rlim_max) {
            /* Raising the hard limit needs CAP_SYS_RESOURCE; try anyway. */
            struct rlimit want = {(rlim_t)need, (rlim_t)need};
            if (setrlimit(RLIMIT_NOFILE, &want) == 0) {
                printf("raised RLIMIT_NOFILE to %ld (soft and hard)\n", need);
                return need;
            }
        }
        rlim_t old = rl.rlim_cur;
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != old)
            printf("raised RLIMIT_NOFILE from %llu to %llu\n", (unsigned long long)old,
                   (unsigned long long)rl.rlim_cur);
        if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
            return 1024;
    }
    return rl.rlim_cur > (rlim_t)LONG_MAX ? LONG_MAX : (long)rl.rlim_cur;
}

long long bench_settled_memory(pid_t master, int *nproc, const char **what)
{
    /* Connections of an earlier run may still be being torn down in the
     * server (it sees our FINs after we exit), and their memory would make
     * the baseline too high. Poll until two readings 200 ms apart differ by
     * less than 64 KB, at most 5 s: a measurement poll, not a sleep used as
     * synchronisation. */
    long long prev = bench_server_memory(master, nproc, what);
    double deadline = bench_now_sec() + 5;
    while (prev >= 0 && bench_now_sec() < deadline) {
        usleep(200 * 1000);
        long long cur = bench_server_memory(master, nproc, what);
        if (cur < 0)
            return prev;
        long long d = cur > prev ? cur - prev : prev - cur;
        prev = cur;
        if (d < 64 * 1024)
            break;
    }
    return prev;
}

static unsigned sock_port(const struct sockaddr_storage *a)
{
    if (a->ss_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)a)->sin_port);
    if (a->ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)a)->sin6_port);
    return 0;
}

/* Inode of the socket whose local port is lport and remote port rport in
 * /proc/net/tcp or tcp6 (ports are enough on the loopback: one server). */
static unsigned long find_socket_inode(unsigned lport, unsigned rport)
{
    static const char *const files[] = {"/proc/net/tcp", "/proc/net/tcp6"};
    for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
        FILE *f = fopen(files[i], "r");
        if (!f)
            continue;
        char line[512];
        unsigned long found = 0;
        while (!found && fgets(line, sizeof line, f)) {
            unsigned lp, rp;
            unsigned long ino;
            /* "sl: local:port remote:port st tx:rx tr:when retrnsmt uid timeout inode" */
            if (sscanf(line, " %*d: %*[0-9A-Fa-f]:%x %*[0-9A-Fa-f]:%x %*x %*x:%*x %*x:%*x %*x %*u %*u %lu",
                       &lp, &rp, &ino) == 3 &&
                lp == lport && rp == rport && ino != 0)
                found = ino;
        }
        fclose(f);
        if (found)
            return found;
    }
    return 0;
}

pid_t bench_peer_pid(int fd)
{
    struct sockaddr_storage me, peer;
    socklen_t l1 = sizeof me, l2 = sizeof peer;
    if (getsockname(fd, (struct sockaddr *)&me, &l1) < 0 ||
        getpeername(fd, (struct sockaddr *)&peer, &l2) < 0)
        return -1;
    /* The server's end: local port = the server's, remote = ours. */
    unsigned long ino = find_socket_inode(sock_port(&peer), sock_port(&me));
    if (!ino)
        return -1;
    char want[64];
    snprintf(want, sizeof want, "socket:[%lu]", ino);
    pid_t self = getpid(), found = -1;
    DIR *d = opendir("/proc");
    if (!d)
        return -1;
    struct dirent *de;
    while (found < 0 && (de = readdir(d))) {
        if (!isdigit((unsigned char)de->d_name[0]) || (pid_t)atoi(de->d_name) == self)
            continue;
        char path[300];
        snprintf(path, sizeof path, "/proc/%s/fd", de->d_name);
        DIR *fds = opendir(path);
        if (!fds)
            continue; /* gone, or not ours to look at */
        struct dirent *fe;
        while ((fe = readdir(fds))) {
            if (fe->d_name[0] == '.')
                continue;
            char lpath[600], target[64];
            snprintf(lpath, sizeof lpath, "%s/%s", path, fe->d_name);
            ssize_t n = readlink(lpath, target, sizeof target - 1);
            if (n <= 0)
                continue;
            target[n] = '\0';
            if (strcmp(target, want) == 0) {
                found = (pid_t)atoi(de->d_name);
                break;
            }
        }
        closedir(fds);
    }
    closedir(d);
    return found;
}
