/* notice.c - the Cyrus-style notice files, read by the worker (worker.c,
 * check_notice) and handed to the front-ends through the front-end layer:
 * the shutdown file (fe_set_shutdown_notice_all) and the motd (fe_set_motd,
 * sent by IMAP after a login). The protocols never read them: the file
 * names, their places and the sanitising of what is in them live here. */
#include "daemon.h"
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

/* Longest notice line we send; the rest of the line is dropped. */
#define NOTICE_MAX 200

bool daemon_read_notice(const char *name, char *out, size_t outlen)
{
    if (!outlen)
        return false;
    out[0] = '\0';
    const char *dir = config_str(CFG_DATADIR);
    /* DATADIR/msg/NAME is where Cyrus keeps them; DATADIR/NAME also works. */
    static const char *const subdirs[] = {"/msg/", "/"};
    for (size_t i = 0; i < ARRAY_SIZE(subdirs); i++) {
        char path[4096];
        if ((size_t)snprintf(path, sizeof(path), "%s%s%s", dir, subdirs[i], name) >= sizeof(path))
            continue;
        /* O_NONBLOCK: a FIFO planted there must not hang the worker. */
        int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
            continue;
        struct stat st;
        if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
            close(fd); /* a directory or device of that name is no notice */
            continue;
        }
        char raw[NOTICE_MAX * 2];
        ssize_t n = read(fd, raw, sizeof(raw));
        close(fd);
        size_t o = 0, lim = MIN(outlen - 1, (size_t)NOTICE_MAX);
        for (ssize_t k = 0; k < n && raw[k] != '\n' && o < lim; k++) {
            unsigned char c = (unsigned char)raw[k];
            if (c == '\t')
                c = ' ';
            /* Control characters (CR, ESC, NUL ...) could break the
             * protocol line or a terminal: dropped. 8-bit bytes too, since
             * response text is ASCII for IMAP4rev1 clients. */
            if (c < 0x20 || c >= 0x7f)
                continue;
            out[o++] = (char)c;
        }
        while (o && out[o - 1] == ' ')
            o--;
        out[o] = '\0';
        if (o == 0)
            snprintf(out, outlen, "%s", strcmp(name, "shutdown") == 0 ? "Server shutting down" : "");
        return true;
    }
    return false;
}
