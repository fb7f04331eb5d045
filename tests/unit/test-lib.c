/* test-lib.c - base library: buf and config. */
#include "unit.h"
#include "buf.h"
#include "config.h"
#include <unistd.h>

static void test_buf_basics(void)
{
    struct buf b = BUF_INIT;
    CHECK_STR(buf_cstr(&b), "");
    buf_puts(&b, "hello");
    buf_putc(&b, ' ');
    buf_printf(&b, "%d-%s", 42, "x");
    CHECK_STR(buf_cstr(&b), "hello 42-x");
    CHECK_INT(b.len, 10);
    buf_consume(&b, 6);
    CHECK_STR(buf_cstr(&b), "42-x");
    buf_truncate(&b, 2);
    CHECK_STR(buf_cstr(&b), "42");
    buf_consume(&b, 100);
    CHECK_INT(b.len, 0);
    CHECK_STR(buf_cstr(&b), "");
    buf_free(&b);
    CHECK(b.data == NULL);
}

static void test_buf_binary_and_growth(void)
{
    struct buf b = BUF_INIT;
    for (int i = 0; i < 100000; i++)
        buf_append(&b, "\0ab", 3);
    CHECK_INT(b.len, 300000);
    CHECK(b.data[0] == '\0' && b.data[1] == 'a' && b.data[299999] == 'b');
    CHECK(b.data[b.len] == '\0');
    char *p = buf_release(&b);
    CHECK(p != NULL);
    CHECK(b.len == 0 && b.data == NULL);
    free(p);
}

static const char *write_conf(const char *text)
{
    static char path[300];
    snprintf(path, sizeof(path), "%s/imapd.conf", unit_tmpdir());
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

static void test_config_defaults(void)
{
    char err[256];
    struct config *c = config_load(NULL, err, sizeof(err));
    CHECK(c != NULL);
    CHECK_STR(cfg_str(c, CFG_DATADIR), "./var");
    CHECK_STR(cfg_str(c, CFG_LISTEN_IMAP), "127.0.0.1:1143");
    CHECK_INT(cfg_int(c, CFG_TIMEOUT), 30);
    CHECK(!cfg_bool(c, CFG_ALLOWPLAINTEXT));
    CHECK(cfg_bool(c, CFG_UNIXHIERARCHYSEP));
    config_free(c);
}

static void test_config_file(void)
{
    char err[256];
    const char *path = write_conf("# comment\n\n"
                                  "datadir: /srv/mail\n"
                                  "  allowplaintext :  on  \n"
                                  "timeout: 45\n"
                                  "maxmessagesize: 10m\n"
                                  "listen_imaps:\n"
                                  "serverinfo: min\n"
                                  "admins: root, cyrus  admin\n");
    struct config *c = config_load(path, err, sizeof(err));
    CHECK(c != NULL);
    if (!c)
        return;
    CHECK_STR(cfg_str(c, CFG_DATADIR), "/srv/mail");
    CHECK(cfg_bool(c, CFG_ALLOWPLAINTEXT));
    CHECK_INT(cfg_int(c, CFG_TIMEOUT), 45);
    CHECK_INT(cfg_int(c, CFG_MAXMESSAGESIZE), 10 * 1024 * 1024);
    CHECK_STR(cfg_str(c, CFG_LISTEN_IMAPS), "");
    CHECK_STR(cfg_str(c, CFG_SERVERINFO), "min");
    config_install(c);
    CHECK(config_is_admin("cyrus"));
    CHECK(config_is_admin("admin"));
    CHECK(config_is_admin("root"));
    CHECK(!config_is_admin("cyru"));
    CHECK(!config_is_admin(""));
    CHECK_STR(config_path(), path);
}

static void test_config_errors(void)
{
    char err[512];
    const char *path = write_conf("datadir: /x\nbogus_key: 1\n");
    CHECK(config_load(path, err, sizeof(err)) == NULL);
    CHECK(strstr(err, ":2:") != NULL);
    CHECK(strstr(err, "bogus_key") != NULL);
    CHECK(strstr(err, path) != NULL);

    path = write_conf("allowplaintext: maybe\n");
    CHECK(config_load(path, err, sizeof(err)) == NULL);
    CHECK(strstr(err, ":1:") && strstr(err, "allowplaintext"));

    path = write_conf("timeout: 0\n");
    CHECK(config_load(path, err, sizeof(err)) == NULL);
    CHECK(strstr(err, "timeout") && strstr(err, "range"));

    path = write_conf("timeout: 12abc\n");
    CHECK(config_load(path, err, sizeof(err)) == NULL);

    path = write_conf("serverinfo: full\n");
    CHECK(config_load(path, err, sizeof(err)) == NULL);

    path = write_conf("no colon here\n");
    CHECK(config_load(path, err, sizeof(err)) == NULL);
    CHECK(strstr(err, ":1:") != NULL);

    CHECK(config_load("/nonexistent/darius.conf", err, sizeof(err)) == NULL);
    CHECK(strstr(err, "cannot open") != NULL);
}

static void test_config_bools(void)
{
    const char *yes[] = {"yes", "on", "true", "1", "YES", "On"};
    const char *no[] = {"no", "off", "false", "0", "NO"};
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
        CHECK_INT(config_parse_bool(yes[i]), 1);
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
        CHECK_INT(config_parse_bool(no[i]), 0);
    CHECK_INT(config_parse_bool("2"), -1);
    CHECK_INT(config_parse_bool(""), -1);
}

int main(void)
{
    RUN(test_buf_basics);
    RUN(test_buf_binary_and_growth);
    RUN(test_config_defaults);
    RUN(test_config_file);
    RUN(test_config_errors);
    RUN(test_config_bools);
    return unit_done();
}
