/* test-lib.c - base library: buf and config. */
#include "unit.h"
#include "buf.h"
#include "config.h"
#include "base64.h"
#include "datetime.h"
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

static void test_buf_put_uint(void)
{
    struct buf b = BUF_INIT;
    const uint64_t v[] = {0, 7, 10, 99, 4294967295u, 18446744073709551615u};
    char want[64];
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        buf_reset(&b);
        buf_puts(&b, "n=");
        buf_put_uint(&b, v[i]);
        snprintf(want, sizeof(want), "n=%llu", (unsigned long long)v[i]);
        CHECK_STR(buf_cstr(&b), want);
    }
    buf_free(&b);
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

    /* spamtest/virustest: a field name, not Pigeonhole's "field: regexp";
     * a positive decimal maximum */
    path = write_conf("sieve_spamtest_status_header: X-Spam-Status: Yes, score=([0-9.]+)\n");
    CHECK(config_load(path, err, sizeof(err)) == NULL);
    CHECK(strstr(err, "sieve_spamtest_status_header") && strstr(err, "not supported"));
    path = write_conf("sieve_virustest_status_header: X Virus\n");
    CHECK(config_load(path, err, sizeof(err)) == NULL);
    path = write_conf("sieve_spamtest_max_value: 0\n");
    CHECK(config_load(path, err, sizeof(err)) == NULL);
    path = write_conf("sieve_spamtest_max_value: 0x10\n");
    CHECK(config_load(path, err, sizeof(err)) == NULL);
    path = write_conf("sieve_spamtest_max_value: nan\n");
    CHECK(config_load(path, err, sizeof(err)) == NULL);
    path = write_conf("sieve_spamtest_status_type: text\n");
    CHECK(config_load(path, err, sizeof(err)) == NULL);
    path = write_conf("sieve_spamtest_status_header: X-Spam-Score\nsieve_spamtest_max_value: 5.0\n"
                      "sieve_spamtest_status_type: strlen\nsieve_virustest_status_header: X-Virus-Status\n");
    struct config *c = config_load(path, err, sizeof(err));
    CHECK(c != NULL);
    if (c) {
        CHECK_STR(cfg_str(c, CFG_SIEVE_SPAMTEST_STATUS_HEADER), "X-Spam-Score");
        CHECK_STR(cfg_str(c, CFG_SIEVE_SPAMTEST_MAX_VALUE), "5.0");
        config_free(c);
    }
}

/* Size suffixes must not overflow (found by tests/fuzz/fuzz-config):
 * 17179869185g is 2^64 + 2^30 bytes, which wrapped to 1 GiB and was
 * accepted (signed overflow, undefined behaviour); a value that does not
 * fit is out of range. */
static void test_config_suffix_overflow(void)
{
    char err[512];
    struct config *c = config_load(NULL, err, sizeof(err));
    CHECK(!config_set(c, "maxmessagesize", "17179869185g", err, sizeof(err)));
    CHECK(strstr(err, "range") != NULL);
    CHECK(!config_set(c, "spool_max_total", "9223372036854775807k", err, sizeof(err)));
    CHECK(!config_set(c, "maxmessagesize", "-9223372036854775807m", err, sizeof(err)));
    CHECK(config_set(c, "maxmessagesize", "1g", err, sizeof(err)));
    CHECK_INT(cfg_int(c, CFG_MAXMESSAGESIZE), 1073741824LL);
    CHECK(config_set(c, "spool_max_total", "1024g", err, sizeof(err)));
    CHECK_INT(cfg_int(c, CFG_SPOOL_MAX_TOTAL), 1099511627776LL);
    config_free(c);
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

static void test_base64(void)
{
    struct buf b = BUF_INIT;
    base64_encode((const unsigned char *)"foobar", 6, &b);
    CHECK_STR(buf_cstr(&b), "Zm9vYmFy");
    buf_reset(&b);
    base64_encode((const unsigned char *)"fo", 2, &b);
    CHECK_STR(buf_cstr(&b), "Zm8=");
    buf_reset(&b);
    CHECK(base64_decode_strict("Zm8=", 4, &b));
    CHECK_STR(buf_cstr(&b), "fo");
    buf_reset(&b);
    CHECK(!base64_decode_strict("Zm9=", 4, &b));      /* non-zero pad bits */
    CHECK(!base64_decode_strict("Zm 8=", 5, &b));     /* whitespace */
    CHECK(!base64_decode_strict("Zm8", 3, &b));       /* length */
    CHECK(!base64_decode_strict("Z=m8", 4, &b));      /* padding inside */
    CHECK_INT(b.len, 0);
    base64_decode_lenient("Zm9v\r\nYm Fy!", 12, &b);
    CHECK_STR(buf_cstr(&b), "foobar");
    buf_reset(&b);
    base64_decode_lenient("Zm8=Zm9v", 8, &b);        /* '=' ends the data */
    CHECK_STR(buf_cstr(&b), "fo");
    CHECK_INT(base64_value(',', ','), 63);
    CHECK_INT(base64_value('/', ','), -1);
    CHECK_INT(base64_value('/', '/'), 63);
    buf_reset(&b);
    utf8_put(&b, 0x41);
    utf8_put(&b, 0xe9);
    utf8_put(&b, 0x20ac);
    utf8_put(&b, 0x1f600);
    CHECK_STR(buf_cstr(&b), "A\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
    buf_free(&b);
}

static void test_datetime(void)
{
    CHECK_INT(days_from_civil(1970, 1, 1), 0);
    CHECK_INT(days_from_civil(2000, 3, 1), 11017);
    CHECK_INT(days_from_civil(1969, 12, 31), -1);
    CHECK(date_valid_ymd(2024, 2, 29));
    CHECK(!date_valid_ymd(2023, 2, 29));
    CHECK(!date_valid_ymd(1900, 2, 29));
    CHECK(date_valid_ymd(2000, 2, 29));
    CHECK(!date_valid_ymd(2024, 4, 31));
    CHECK(!date_valid_ymd(0, 1, 1));
    CHECK_INT(month_from_abbrev("jul"), 7);
    CHECK_INT(month_from_abbrev("DECEMBER"), 12);
    CHECK_INT(month_from_abbrev("xyz"), 0);
    CHECK_STR(month_abbrev(2), "Feb");
}

int main(void)
{
    RUN(test_base64);
    RUN(test_datetime);
    RUN(test_buf_basics);
    RUN(test_buf_put_uint);
    RUN(test_buf_binary_and_growth);
    RUN(test_config_defaults);
    RUN(test_config_file);
    RUN(test_config_errors);
    RUN(test_config_bools);
    RUN(test_config_suffix_overflow);
    return unit_done();
}
