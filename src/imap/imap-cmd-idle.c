/* imap-cmd-idle.c - IDLE (RFC 2177, RFC 9051 6.3.13).
 *
 * While idling, imap_notify() syncs the session as soon as a change hint
 * arrives, and the session timer re-checks every 30 s (a hint datagram
 * may have been dropped) and sends "* OK Still here" every ~2 minutes so
 * NAT boxes keep the connection. An idling client is never logged out
 * for inactivity; RFC 9051 expects it to re-issue IDLE every 29 minutes.
 */
#include "imap.h"

static enum cmd_result idle_line(struct imap_session *s, struct imap_cmd *cmd, const char *line, size_t len)
{
    s->idling = false;
    cmd->on_line = NULL;
    if (len == 4 && strncasecmp(line, "DONE", 4) == 0) {
        imap_tagged(s, cmd, "OK", "IDLE terminated");
        return CMD_DONE;
    }
    imap_tagged(s, cmd, "BAD", "Expected DONE");
    return CMD_DONE;
}

IMAP_CMD(cmd_idle)
{
    if (!imap_p_end(&cmd->ps)) {
        imap_tagged(s, cmd, "BAD", "Unexpected arguments");
        return CMD_DONE;
    }
    imap_write(s, "+ idling\r\n", 10);
    imap_notify_flush(s);   /* NOTIFY responses held so far (RFC 5465 4) */
    s->idling = true;
    s->idle_ticks = 0;
    if (s->view)
        imap_sync(s, true);
    cmd->on_line = idle_line;
    imap_session_arm_timer(s);
    return CMD_WAIT;
}
