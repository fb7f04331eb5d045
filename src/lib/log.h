/* log.h - logging to stderr and, when configured, syslog.
 *
 * Every line carries a level and the process role ("master", "worker 2",
 * "darius") so an operator reading a mixed log can tell who said what.
 */
#ifndef DARIUS_LOG_H
#define DARIUS_LOG_H

#include "common.h"

enum log_level { LOG_LVL_DEBUG, LOG_LVL_INFO, LOG_LVL_NOTICE, LOG_LVL_WARN, LOG_LVL_ERR };

/* role is copied. use_syslog opens syslog with the given facility name
 * ("mail", "local0", ...; NULL = mail). */
void log_init(const char *role, bool use_stderr, bool use_syslog, const char *facility);
void log_set_role(const char *role);
void log_set_level(enum log_level min);
void log_msg(enum log_level lvl, const char *fmt, ...) ATTR_PRINTF(2, 3);

#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_LVL_NOTICE, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_err(...) log_msg(LOG_LVL_ERR, __VA_ARGS__)

void fatal(const char *fmt, ...) ATTR_PRINTF(1, 2) ATTR_NORETURN;

#endif
