/* fuzz-config.c - the configuration file parser (src/lib/config.c):
 * config_load on a file holding the input (an in-memory file, no disk),
 * then, when it loaded, every option read back through the typed getters,
 * the partition list, and the admins/proxyservers list matching.
 *
 * Input: an imapd.conf-style file. Checked besides the sanitizers: a
 * refused file comes with an error text naming the file; integer options
 * that loaded are inside their declared bounds; every value loaded is
 * accepted again by config_set (what SIGHUP reload and the CLI rely on). */
#include "support.h"
#include "config.h"

#include <sys/mman.h>
#include <unistd.h>

static void fail(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz-config: %s: %s\n", what, detail);
    abort();
}

static void part_cb(const char *name, const char *path, void *arg)
{
    (void)arg;
    if (!*name || path[0] != '/')
        fail("bad partition accepted", name);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet("fuzz-config");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = memfd_create("fuzz-config", MFD_CLOEXEC);
    if (fd < 0) {
        perror("memfd_create");
        abort();
    }
    size_t off = 0;
    while (off < size) {
        ssize_t w = write(fd, data + off, size - off);
        if (w <= 0) {
            perror("write");
            abort();
        }
        off += (size_t)w;
    }
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    char err[1024] = "";
    struct config *c = config_load(path, err, sizeof(err));
    close(fd);
    if (!c) {
        if (!strstr(err, path))
            fail("refused without naming the file", err);
        return 0;
    }
    /* re-apply every value to a fresh default config */
    char err2[1024];
    struct config *d = config_load(NULL, err2, sizeof(err2));
    for (int k = 0; k < CFG__COUNT; k++) {
        const struct config_desc *desc = config_describe((enum config_key)k);
        const char *v = cfg_str(c, (enum config_key)k);
        if (desc->type == CFG_T_INT) {
            long long n = cfg_int(c, (enum config_key)k);
            if (n < desc->min || n > desc->max)
                fail("integer option out of its bounds", desc->name);
        }
        if (!config_set(d, desc->name, v, err2, sizeof(err2)))
            fail("a loaded value is refused by config_set", err2);
        (void)cfg_bool(c, (enum config_key)k);
    }
    config_free(d);
    /* the partition list and the identity lists, on the installed config */
    config_install(c);
    config_partition_foreach(part_cb, NULL);
    (void)config_partition("default");
    (void)config_is_admin("admin");
    (void)config_is_admin("");
    (void)config_is_proxyserver("proxy@a.test");
    /* frees c; the next config_current() makes a default one */
    config_install(NULL);
    return 0;
}
