#!/usr/bin/env python3
"""Cyrus-style notice files and forced disconnects:

- motd (DATADIR/msg/motd, else DATADIR/motd): its first line, made
  printable and bounded, is sent as "* OK [ALERT] ..." right after a
  successful IMAP login, before the tagged OK;
- shutdown (DATADIR/msg/shutdown, else DATADIR/shutdown): while it exists
  new IMAP connections get "* BYE [ALERT] line", POP3 "-ERR [SYS/TEMP]
  line", LMTP "421 4.3.2 line", and open connections are told the same and
  closed (a per-worker check every second: the wait here is a socket
  timeout, never a sleep); once it is removed service resumes;
- user kicks (NOTIFY_KICK_USER, from `darius user move-partition`): the
  user's IMAP and POP3 sessions get BYE / -ERR and are closed, so the move
  (which waits for every process to let go of the store) completes.
"""

import os
import subprocess
import sys
import time

import darius_test as dt

R = dt.Report("motd_shutdown")

NOTICE_WAIT = 5.0  # seconds; the server checks every second


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(text)
    os.chmod(path, 0o644)


def login_untagged(s, cmd="LOGIN alice secret"):
    c = s.client()
    c.greeting()
    u, t = c.command(cmd)
    if " OK " not in t.render():
        raise dt.TestFailure("login: %s" % t.render())
    return c, [r.render() for r in u]


def motd(s):
    msgdir = os.path.join(s.datadir, "msg")
    # no file: no ALERT
    c, u = login_untagged(s)
    c.logout()
    if any("[ALERT]" in x for x in u):
        raise dt.TestFailure("ALERT without a motd file: %r" % u)
    # control characters dropped, tab -> space, only the first line
    write(os.path.join(msgdir, "motd"), b"Welcome\x1b to\tDarius\x00!\r\nsecond line\n")
    c, u = login_untagged(s)
    c.logout()
    if u != ["* OK [ALERT] Welcome to Darius!"]:
        raise dt.TestFailure("motd after LOGIN: %r" % u)
    # AUTHENTICATE gets it too
    c, u = login_untagged(s, "AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==")
    c.logout()
    if u != ["* OK [ALERT] Welcome to Darius!"]:
        raise dt.TestFailure("motd after AUTHENTICATE: %r" % u)
    # a failed login gets none
    c = s.client()
    c.greeting()
    u, t = c.command("LOGIN alice wrong")
    c.close()
    if u:
        raise dt.TestFailure("untagged after failed login: %r" % [r.render() for r in u])
    # bounded: a huge first line is cut
    write(os.path.join(msgdir, "motd"), b"x" * 100000)
    c, u = login_untagged(s)
    c.logout()
    if len(u) != 1 or not u[0].startswith("* OK [ALERT] xxx") or len(u[0]) > 240:
        raise dt.TestFailure("long motd: %r" % [x[:60] for x in u])
    # DATADIR/motd when DATADIR/msg/motd is absent
    os.unlink(os.path.join(msgdir, "motd"))
    write(os.path.join(s.datadir, "motd"), b"Top-level motd\n")
    c, u = login_untagged(s)
    c.logout()
    os.unlink(os.path.join(s.datadir, "motd"))
    if u != ["* OK [ALERT] Top-level motd"]:
        raise dt.TestFailure("DATADIR/motd: %r" % u)


def expect_imap_bye_eof(c, text, what):
    c.settimeout(NOTICE_WAIT * dt.timeout_scale())
    r = c.read().render()
    if r != "* BYE [ALERT] " + text:
        raise dt.TestFailure("%s: expected BYE, got %r" % (what, r))
    if not c.at_eof(NOTICE_WAIT):
        raise dt.TestFailure("%s: connection not closed after BYE" % what)


def shutdown_file(s, path):
    text = "Maintenance until 10:00 UTC"
    # open sessions of every kind
    imap = s.login()
    imap.ok("SELECT INBOX")
    idle = s.login()
    idle.send("i1 IDLE")
    idle.expect(r"\+ .*")
    pop = s.pop3()
    pop.ok("USER alice")
    pop.ok("PASS secret")
    lm = s.lmtp()
    lm.cmd("LHLO client.example")

    write(path, (text + "\nsecond line\n").encode())
    try:
        refused_while_present(s, text, imap, idle, pop, lm)
    finally:
        if os.path.exists(path):
            os.unlink(path)
    # removed: service resumes without a restart
    for i in range(3):
        c = s.login()
        c.ok("SELECT INBOX")
        c.logout()
        p = s.pop3()
        p.ok("USER alice")
        p.ok("PASS secret")
        p.ok("QUIT")
        p.close()
        l2 = s.lmtp()
        l2.close()


def refused_while_present(s, text, imap, idle, pop, lm):
    # existing connections are told and closed within a bounded wait
    expect_imap_bye_eof(imap, text, "selected IMAP session")
    expect_imap_bye_eof(idle, text, "IDLE IMAP session")
    pop.settimeout(NOTICE_WAIT * dt.timeout_scale())
    r = pop.line()
    if r != "-ERR [SYS/TEMP] " + text:
        raise dt.TestFailure("open POP3 session: %r" % r)
    if not pop.at_eof(NOTICE_WAIT):
        raise dt.TestFailure("POP3 session not closed")
    lm.sock.settimeout(NOTICE_WAIT * dt.timeout_scale())
    code, lines = lm.reply()
    if code != 421 or lines[-1] != "421 4.3.2 " + text:
        raise dt.TestFailure("open LMTP session: %r" % lines)
    if not lm.at_eof(NOTICE_WAIT):
        raise dt.TestFailure("LMTP session not closed")

    # new connections are refused with the line (checked at accept: no wait)
    for i in range(3):  # whichever worker takes it
        c = s.client()
        r = c.read().render()
        if r != "* BYE [ALERT] " + text:
            raise dt.TestFailure("new IMAP connection: %r" % r)
        if not c.at_eof(NOTICE_WAIT):
            raise dt.TestFailure("new IMAP connection not closed")
        p = dt.Pop3(s.host, s.pop3_port)
        r = p.line()
        if r != "-ERR [SYS/TEMP] " + text:
            raise dt.TestFailure("new POP3 connection: %r" % r)
        if not p.at_eof(NOTICE_WAIT):
            raise dt.TestFailure("new POP3 connection not closed")
        l2 = dt.Lmtp(s.host, s.lmtp_port)
        code, lines = l2.reply()
        if code != 421 or lines[-1] != "421 4.3.2 " + text:
            raise dt.TestFailure("new LMTP connection: %r" % lines)
        l2.close()
    # implicit TLS gets the BYE inside TLS
    c = s.client(tls=True)
    r = c.read().render()
    if r != "* BYE [ALERT] " + text:
        raise dt.TestFailure("new IMAPS connection: %r" % r)
    if not c.at_eof(NOTICE_WAIT):
        raise dt.TestFailure("new IMAPS connection not closed")
    p = dt.Pop3(s.host, s.pop3s_port, tls=True)
    r = p.line()
    if r != "-ERR [SYS/TEMP] " + text:
        raise dt.TestFailure("new POP3S connection: %r" % r)
    p.close()


def empty_shutdown_file(s):
    path = os.path.join(s.datadir, "msg", "shutdown")
    write(path, b"\x01\x02\n")
    try:
        c = s.client()
        r = c.read().render()
        if not r.startswith("* BYE [ALERT] ") or len(r) <= len("* BYE [ALERT] "):
            raise dt.TestFailure("empty shutdown line: %r" % r)
    finally:
        os.unlink(path)


def shutdown_directory_ignored(s):
    """Only a regular file counts: a directory of that name is no notice."""
    d = os.path.join(s.datadir, "shutdown")
    os.makedirs(d)
    try:
        c = s.client()
        c.greeting()
        c.logout()
    finally:
        os.rmdir(d)


def kick_on_move(s):
    imap = s.login()
    imap.ok("SELECT INBOX")
    other = s.login()          # authenticated state, nothing selected
    pop = s.pop3()
    pop.ok("USER alice")
    pop.ok("PASS secret")
    mover = subprocess.Popen([s.darius, "-C", s.conf_path, "user", "move-partition", "alice", "p2"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for c, what in ((imap, "selected"), (other, "authenticated")):
            c.settimeout(10 * dt.timeout_scale())
            r = c.read().render()
            if r != "* BYE [UNAVAILABLE] Account is being moved or changed":
                raise dt.TestFailure("%s IMAP session: %r" % (what, r))
            if not c.at_eof(NOTICE_WAIT):
                raise dt.TestFailure("%s IMAP session not closed" % what)
        pop.settimeout(10 * dt.timeout_scale())
        r = pop.line()
        if r != "-ERR [SYS/TEMP] Account is being moved or changed":
            raise dt.TestFailure("POP3 session: %r" % r)
        if not pop.at_eof(NOTICE_WAIT):
            raise dt.TestFailure("POP3 session not closed")
        out, err = mover.communicate(timeout=60 * dt.timeout_scale())
        if mover.returncode != 0:
            raise dt.TestFailure("move-partition failed (%d): %s%s" % (mover.returncode, out, err))
    finally:
        if mover.poll() is None:
            mover.kill()
            mover.wait()
    # the user logs in again (on the new partition)
    c = s.login()
    c.ok("SELECT INBOX")
    c.logout()


def main():
    s = dt.server_with_user()
    try:
        R.run("motd: ALERT after login, first line only, sanitised, bounded, both locations", motd, s)
        R.run("shutdown file (DATADIR/msg/shutdown): IMAP, POP3, LMTP, existing and new; removal resumes",
              shutdown_file, s, os.path.join(s.datadir, "msg", "shutdown"))
        R.run("shutdown file (DATADIR/shutdown)", shutdown_file, s, os.path.join(s.datadir, "shutdown"))
        R.run("shutdown file with an empty first line", empty_shutdown_file, s)
        R.run("a directory named shutdown is ignored", shutdown_directory_ignored, s)
        s.stop()
    finally:
        s.cleanup()

    part = os.path.join(dt.tempfile.mkdtemp(prefix="darius-p2-"), "p2")
    os.makedirs(part)
    s = dt.server_with_user(config={"partition-p2": part})
    try:
        os.chmod(os.path.dirname(part), 0o777)
        os.chmod(part, 0o777)
        R.run("user kicked by move-partition: IMAP BYE, POP3 -ERR, move completes", kick_on_move, s)
        s.stop()
    finally:
        s.cleanup()
    return R.done()


if __name__ == "__main__":
    sys.exit(main())
