/* log.c - see log.h. */
#include "log.h"
#include <stdarg.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

static char log_role[32] = "darius";
static bool log_stderr = true;
static bool log_syslog = false;
static enum log_level log_min = LOG_LVL_INFO;

static int facility_code(const char *name)
{
    static const struct { const char *n; int c; } map[] = {
        {"mail", LOG_MAIL},     {"daemon", LOG_DAEMON}, {"user", LOG_USER},
        {"local0", LOG_LOCAL0}, {"local1", LOG_LOCAL1}, {"local2", LOG_LOCAL2},
        {"local3", LOG_LOCAL3}, {"local4", LOG_LOCAL4}, {"local5", LOG_LOCAL5},
        {"local6", LOG_LOCAL6}, {"local7", LOG_LOCAL7},
    };
    if (name)
        for (size_t i = 0; i < ARRAY_SIZE(map); i++)
            if (strcmp(map[i].n, name) == 0)
                return map[i].c;
    return LOG_MAIL;
}

void log_init(const char *role, bool use_stderr, bool use_syslog, const char *facility)
{
    log_set_role(role);
    log_stderr = use_stderr;
    if (log_syslog)
        closelog();
    log_syslog = use_syslog;
    if (use_syslog)
        openlog("darius", LOG_PID | LOG_NDELAY, facility_code(facility));
    const char *dbg = getenv("DARIUS_DEBUG");
    if (dbg && *dbg && strcmp(dbg, "0") != 0)
        log_min = LOG_LVL_DEBUG;
}

void log_set_role(const char *role)
{
    snprintf(log_role, sizeof(log_role), "%s", role ? role : "darius");
}

void log_set_level(enum log_level min)
{
    log_min = min;
}

static void log_vmsg(enum log_level lvl, const char *fmt, va_list ap) ATTR_PRINTF(2, 0);
static void log_vmsg(enum log_level lvl, const char *fmt, va_list ap)
{
    static const char *names[] = {"debug", "info", "notice", "warning", "error"};
    static const int prio[] = {LOG_DEBUG, LOG_INFO, LOG_NOTICE, LOG_WARNING, LOG_ERR};
    char msg[2048];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    /* Never let a client-supplied string inject fake log lines. */
    for (char *p = msg; *p; p++)
        if ((unsigned char)*p < 0x20 && *p != '\t')
            *p = '?';
    if (log_stderr) {
        char ts[32];
        struct timespec now;
        struct tm tm;
        clock_gettime(CLOCK_REALTIME, &now);
        localtime_r(&now.tv_sec, &tm);
        strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%S", &tm);
        fprintf(stderr, "%s.%03ld %s[%d] %s: %s\n", ts, now.tv_nsec / 1000000L, log_role,
                (int)getpid(), names[lvl], msg);
    }
    if (log_syslog)
        syslog(prio[lvl], "%s: %s", log_role, msg);
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
    if (lvl < log_min)
        return;
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(lvl, fmt, ap);
    va_end(ap);
}

void fatal(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(LOG_LVL_ERR, fmt, ap);
    va_end(ap);
    exit(1);
}
