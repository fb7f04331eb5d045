#!/usr/bin/env python3
"""POP3 (RFC 1939, 2449, 2595, 3206, 5034, 6856): every command and error
path, sizes, UIDL stability across a restart, the IN-USE lock, LOGIN-DELAY,
limits, long lines, pipelining, big RETR, and POP3 + IMAP on one INBOX.

The protocol transcript runner speaks IMAP only, so POP3 is tested here
with the raw darius_test.Pop3 client."""

import base64
import re
import socket
import sys
import threading
import time

import darius_test as dt

R = dt.Report("pop3")

ODD_MSG = ("Subject: odd\n\n.starts with a dot\nbare lf line\n..two dots\r\nno final newline")


def odd_expected():
    """What RETR must send for ODD_MSG (before the terminator)."""
    out = b""
    for ln in ODD_MSG.encode().replace(b"\r\n", b"\n").split(b"\n"):
        if ln.startswith(b"."):
            ln = b"." + ln
        out += ln + b"\r\n"
    return out


def append(s, *msgs, mailbox="INBOX", user=None):
    c = s.login(user=user, password=s.users.get(user) if user else None)
    for m in msgs:
        c.ok("APPEND %s %%L" % mailbox, [m])
    c.logout()


def pop3_login(s):
    """USER/PASS login; retried while the previous test's session (just
    QUIT, possibly in the other worker) still holds the IN-USE lock."""
    deadline = time.monotonic() + 5 * dt.timeout_scale()
    while True:
        p = s.pop3()
        p.ok("USER alice")
        r = p.cmd("PASS secret")
        if r.startswith("+OK"):
            return p
        p.close()
        if not r.startswith("-ERR [IN-USE]") or time.monotonic() > deadline:
            raise dt.TestFailure("login: %r" % r)


def imap_flags(s, uid):
    c = s.login()
    c.ok("EXAMINE INBOX")
    u, t = c.ok("UID FETCH %d (FLAGS)" % uid)
    c.logout()
    return " ".join(r.render() for r in u)


# ---- basic commands --------------------------------------------------------

def greeting_capa(s):
    p = s.pop3()
    _, caps = p.ok_multi("CAPA")
    for want in ("TOP", "USER", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "UIDL", "EXPIRE NEVER",
                 "LOGIN-DELAY 0", "STLS", "UTF8"):
        if want not in caps:
            raise dt.TestFailure("CAPA lacks %r: %r" % (want, caps))
    if not any(c.startswith("SASL ") and "PLAIN" in c.split() and "SCRAM-SHA-256" in c.split() for c in caps):
        raise dt.TestFailure("CAPA SASL line: %r" % caps)
    if not any(c.startswith("IMPLEMENTATION Darius") for c in caps):
        raise dt.TestFailure("no IMPLEMENTATION: %r" % caps)
    p.ok("QUIT")
    if not p.at_eof():
        raise dt.TestFailure("no close after QUIT")
    # implicit TLS: no STLS
    p = s.pop3(tls=True)
    _, caps = p.ok_multi("CAPA")
    if "STLS" in caps or "USER" not in caps:
        raise dt.TestFailure("POP3S CAPA: %r" % caps)
    p.ok("QUIT")


def greeting_no_apop(s):
    p = dt.Pop3(s.host, s.pop3_port)
    g = p.greeting()
    if "<" in g:
        raise dt.TestFailure("greeting has an APOP timestamp: %r" % g)
    p.err("APOP alice 0123456789abcdef0123456789abcdef")
    p.ok("QUIT")


def auth_state_errors(s):
    p = s.pop3()
    for c in ("STAT", "LIST", "RETR 1", "DELE 1", "NOOP", "RSET", "TOP 1 1", "UIDL", "LAST"):
        p.err(c)
    p.err("PASS secret")          # no USER
    p.err("XYZZY")                # unknown
    p.err("TOOLONGKEYWORD")       # invalid
    p.ok("UTF8")
    p.ok("USER alice")
    p.err("PASS wrong", "AUTH")
    p.ok("USER alice")
    p.ok("PASS secret")
    p.err("USER alice")           # already logged in
    p.err("STLS")
    p.ok("QUIT")


def three_failures_close(s):
    p = s.pop3()
    for _ in range(3):
        p.ok("USER nobody")
        p.err("PASS nope", "AUTH")
    if not p.at_eof():
        raise dt.TestFailure("connection still open after 3 failed logins")


def transaction_commands(s):
    append(s, dt.sample_message(1), dt.sample_message(2, size=3000), ODD_MSG)
    p = pop3_login(s)
    st = p.ok("STAT")
    m = re.fullmatch(r"\+OK 3 (\d+)", st)
    if not m:
        raise dt.TestFailure("STAT: %r" % st)
    r, lst = p.ok_multi("LIST")
    sizes = {}
    for ln in lst:
        n, sz = ln.split()
        sizes[int(n)] = int(sz)
    if sorted(sizes) != [1, 2, 3] or sum(sizes.values()) != int(m.group(1)):
        raise dt.TestFailure("LIST %r vs STAT %r" % (lst, st))
    # sizes are exactly what RETR sends
    for n in (1, 2, 3):
        r = p.ok("RETR %d" % n)
        body = p.multiline_raw()
        if len(body) != sizes[n]:
            raise dt.TestFailure("RETR %d sent %d octets, LIST said %d" % (n, len(body), sizes[n]))
        if r != "+OK %d octets" % sizes[n]:
            raise dt.TestFailure("RETR status %r" % r)
    p.ok("RETR 3")
    body = p.multiline_raw()
    if body != odd_expected():
        raise dt.TestFailure("CRLF/dot-stuffing: %r" % body)
    if p.ok("LIST 2") != "+OK 2 %d" % sizes[2]:
        raise dt.TestFailure("LIST 2")
    # TOP
    _, top = p.ok_multi("TOP 2 1")
    if top[-1] != "Message number 2." or "" not in top or len(top) != top.index("") + 2:
        raise dt.TestFailure("TOP 2 1: %r" % top)
    _, top0 = p.ok_multi("TOP 1 0")
    if top0[-1] != "" or not top0[0].startswith("From:"):
        raise dt.TestFailure("TOP 1 0: %r" % top0)
    # UIDL
    _, u = p.ok_multi("UIDL")
    ids = [x.split()[1] for x in u]
    if len(set(ids)) != 3 or not all(re.fullmatch(r"\d+\.\d+", x) for x in ids):
        raise dt.TestFailure("UIDL: %r" % u)
    if p.ok("UIDL 3") != "+OK 3 " + ids[2]:
        raise dt.TestFailure("UIDL 3")
    # errors
    for c in ("RETR 0", "RETR 4", "RETR x", "LIST 99", "TOP 1", "TOP 1 x", "DELE", "UIDL 4", "RETR 1 2",
              "STAT 1", "LAST", "FOO", "USER x", "AUTH PLAIN"):
        p.err(c)
    # DELE / RSET / NOOP
    p.ok("DELE 1")
    p.err("DELE 1")
    p.err("RETR 1")
    p.err("LIST 1")
    if p.ok("STAT") != "+OK 2 %d" % (sizes[2] + sizes[3]):
        raise dt.TestFailure("STAT after DELE")
    _, lst = p.ok_multi("LIST")
    if [x.split()[0] for x in lst] != ["2", "3"]:
        raise dt.TestFailure("LIST after DELE: %r" % lst)
    p.ok("RSET")
    p.ok("NOOP")
    p.ok("RETR 1")
    p.multiline_raw()
    p.ok("DELE 2")
    q = p.ok("QUIT")
    if "2 messages left" not in q:
        raise dt.TestFailure("QUIT: %r" % q)
    if not p.at_eof():
        raise dt.TestFailure("no close after QUIT")
    # message 2 is gone for good; RETR set \Seen
    p = pop3_login(s)
    _, u2 = p.ok_multi("UIDL")
    if [x.split()[1] for x in u2] != [ids[0], ids[2]]:
        raise dt.TestFailure("after QUIT: %r" % u2)
    p.ok("QUIT")


def seen_flags(s):
    append(s, dt.sample_message(10), dt.sample_message(11))
    p = pop3_login(s)
    _, u = p.ok_multi("UIDL")
    uid_a = int(u[-2].split()[1].split(".")[1])
    uid_b = int(u[-1].split()[1].split(".")[1])
    n_a = int(u[-2].split()[0])
    n_b = int(u[-1].split()[0])
    p.ok("TOP %d 5" % n_a)
    p.multiline()
    p.ok("RETR %d" % n_b)
    p.multiline()
    p.ok("QUIT")
    fa = imap_flags(s, uid_a)
    fb = imap_flags(s, uid_b)
    if "\\Seen" in fa or "\\Seen" not in fb:
        raise dt.TestFailure("TOP must not set \\Seen, RETR must: %r / %r" % (fa, fb))


def drop_without_quit(s):
    append(s, dt.sample_message(20))
    p = pop3_login(s)
    st = p.ok("STAT")
    n = int(st.split()[1])
    for i in range(1, n + 1):
        p.ok("DELE %d" % i)
    p.close()   # no QUIT: nothing may be deleted
    deadline = time.monotonic() + 5 * dt.timeout_scale()
    while True:
        try:
            p = pop3_login(s)
            break
        except dt.TestFailure:
            # the old session's lock is released once the server saw the close
            if time.monotonic() > deadline:
                raise
    if p.ok("STAT") != st:
        raise dt.TestFailure("messages deleted without QUIT")
    p.ok("QUIT")


def pipelining(s):
    p = s.pop3()
    p.send_raw("USER alice\r\nPASS secret\r\nSTAT\r\nLIST\r\nNOOP\r\nUIDL 1\r\nQUIT\r\n")
    r = [p.line(), p.line(), p.line()]
    if not all(x.startswith("+OK") for x in r):
        raise dt.TestFailure("pipelined: %r" % r)
    p.multiline()
    if not p.line().startswith("+OK"):
        raise dt.TestFailure("NOOP")
    if not p.line().startswith("+OK 1 "):
        raise dt.TestFailure("UIDL 1")
    if not p.line().startswith("+OK"):
        raise dt.TestFailure("QUIT")


def long_lines(s):
    p = s.pop3()
    p.send("NOOP " + "x" * 5000)
    r = p.line()
    if not r.startswith("-ERR"):
        raise dt.TestFailure("long line: %r" % r)
    p.send("USER " + "a" * 2000)
    if not p.line().startswith("-ERR"):
        raise dt.TestFailure("long USER")
    # resynchronised: the next command works
    p.ok("USER alice")
    p.ok("PASS secret")
    p.ok("STAT")
    p.send_raw(b"\x00\xff\xfe garbage\r\n")
    if not p.line().startswith("-ERR"):
        raise dt.TestFailure("binary garbage")
    p.ok("NOOP")
    p.ok("QUIT")


def sasl_auth(s):
    p = s.pop3()
    p.ok("AUTH")
    mechs = p.multiline()
    if "PLAIN" not in mechs or "SCRAM-SHA-256" not in mechs:
        raise dt.TestFailure("AUTH list: %r" % mechs)
    ir = base64.b64encode(b"\0alice\0secret").decode()
    bad = base64.b64encode(b"\0alice\0wrong").decode()
    p.err("AUTH PLAIN " + bad, "AUTH")
    p.err("AUTH NOSUCHMECH")
    # cancel
    if p.cmd("AUTH PLAIN") != "+ ":
        raise dt.TestFailure("AUTH PLAIN without initial response: no empty challenge")
    if not p.cmd("*").startswith("-ERR"):
        raise dt.TestFailure("cancel")
    # bad base64
    p.cmd("AUTH PLAIN")
    if not p.cmd("!!!").startswith("-ERR"):
        raise dt.TestFailure("bad base64")
    # without initial response
    if p.cmd("AUTH PLAIN") != "+ ":
        raise dt.TestFailure("no challenge")
    if not p.cmd(ir).startswith("+OK"):
        raise dt.TestFailure("AUTH PLAIN (continuation) failed")
    p.ok("QUIT")
    p = s.pop3()
    p.ok("AUTH PLAIN " + ir)
    p.ok("STAT")
    p.ok("QUIT")
    # LOGIN mechanism
    p = s.pop3()
    p.cmd("AUTH LOGIN")
    p.cmd(base64.b64encode(b"alice").decode())
    if not p.cmd(base64.b64encode(b"secret").decode()).startswith("+OK"):
        raise dt.TestFailure("AUTH LOGIN")
    p.ok("QUIT")


def plaintext_disabled(s):
    p = s.pop3()
    _, caps = p.ok_multi("CAPA")
    if "USER" in caps or "STLS" not in caps:
        raise dt.TestFailure("CAPA without TLS: %r" % caps)
    if any(c.startswith("SASL") and "PLAIN" in c.split() for c in caps):
        raise dt.TestFailure("PLAIN offered without TLS: %r" % caps)
    p.err("USER alice", "AUTH")
    p.err("AUTH PLAIN " + base64.b64encode(b"\0alice\0secret").decode())
    p.starttls()
    _, caps = p.ok_multi("CAPA")
    if "USER" not in caps or "STLS" in caps:
        raise dt.TestFailure("CAPA after STLS: %r" % caps)
    p.ok("USER alice")
    p.ok("PASS secret")
    p.ok("QUIT")
    p = s.pop3(tls=True)
    p.ok("USER alice")
    p.ok("PASS secret")
    p.ok("QUIT")


def stls_discards_plaintext(s):
    p = s.pop3()
    p.send_raw("STLS\r\nUSER alice\r\n")
    if not p.line().startswith("+OK"):
        raise dt.TestFailure("STLS")
    p.sock = dt.Client._wrap(p.sock)
    # the injected USER must be gone: PASS now fails with "USER first"
    r = p.cmd("PASS secret")
    if not r.startswith("-ERR"):
        raise dt.TestFailure("plaintext injection survived STLS: %r" % r)
    p.ok("QUIT")


def in_use(s):
    a = pop3_login(s)
    b = s.pop3()
    b.ok("USER alice")
    b.err("PASS secret", "IN-USE")
    # several more, landing on either worker
    for _ in range(4):
        c = s.pop3()
        c.ok("USER alice")
        c.err("PASS secret", "IN-USE")
        c.close()
    a.ok("QUIT")
    a.at_eof()
    # the lock goes with the session: poll (deadline) rather than assume
    # the other worker already saw the close
    deadline = time.monotonic() + 5 * dt.timeout_scale()
    while True:
        b.ok("USER alice")
        r = b.cmd("PASS secret")
        if r.startswith("+OK"):
            break
        if not r.startswith("-ERR [IN-USE]") or time.monotonic() > deadline:
            raise dt.TestFailure("login after the first session quit: %r" % r)
    b.ok("QUIT")


def uidl_restart(s):
    append(s, dt.sample_message(30), dt.sample_message(31))
    p = pop3_login(s)
    _, before = p.ok_multi("UIDL")
    p.ok("QUIT")
    s.stop()
    s.start()
    p = pop3_login(s)
    _, after = p.ok_multi("UIDL")
    p.ok("QUIT")
    if before != after:
        raise dt.TestFailure("UIDL changed across a restart: %r -> %r" % (before, after))


def imap_expunge_during_pop3(s):
    append(s, dt.sample_message(40), dt.sample_message(41))
    p = pop3_login(s)
    _, u = p.ok_multi("UIDL")
    n1, uid1 = u[-2].split()[0], int(u[-2].split()[1].split(".")[1])
    n2 = u[-1].split()[0]
    c = s.login()
    c.ok("SELECT INBOX")
    c.ok("UID STORE %d +FLAGS.SILENT (\\Deleted)" % uid1)
    c.ok("UID EXPUNGE %d" % uid1)
    p.err("RETR " + n1, "SYS/PERM")
    p.err("TOP %s 1" % n1, "SYS/PERM")
    p.ok("RETR " + n2)
    if p.multiline()[-1] != "Message number 41.":
        raise dt.TestFailure("RETR of the other message")
    p.ok("NOOP")
    p.ok("QUIT")
    c.logout()


def pop3_dele_seen_by_idle(s):
    append(s, dt.sample_message(50))
    c = s.login()
    u, _ = c.ok("SELECT INBOX")
    exists = [int(r.render().split()[1]) for r in u if r.render().endswith(" EXISTS")][0]
    tag = c.next_tag()
    c.send(tag + " IDLE")
    c.expect(r"\+.*")
    p = pop3_login(s)
    p.ok("DELE %d" % exists)
    p.ok("QUIT")
    c.settimeout(3 * dt.timeout_scale())
    seen = []
    while True:
        r = c.read()   # a socket timeout is the failure
        seen.append(r.render())
        if r.render() == "* %d EXPUNGE" % exists:
            break
        # the \Deleted flag change (UPDATE stores it, then expunges) may come first
        if not re.fullmatch(r"\* %d FETCH \(.*\)" % exists, r.render()):
            raise dt.TestFailure("IDLE got %r" % seen)
    c.send("DONE")
    c.collect(tag)
    c.logout()


def big_retr(s):
    big = dt.sample_message(60, size=6 * 1024 * 1024)
    append(s, big)
    p = pop3_login(s)
    _, u = p.ok_multi("LIST")
    n, size = u[-1].split()
    p.send("RETR " + n)
    status = p.line()
    # while the big answer is pending, another session is served
    other = s.login()
    other.ok("NOOP")
    other.logout()
    body = p.multiline_raw()
    if status != "+OK %s octets" % size or len(body) != int(size) or body != big.encode():
        raise dt.TestFailure("big RETR: status %r, %d octets" % (status, len(body)))
    p.ok("QUIT")


def subfolders(s):
    c = s.login()
    c.ok("CREATE Work")
    c.ok("APPEND Work %L", [dt.sample_message(70)])
    c.logout()
    p = s.pop3()
    p.ok("USER alice+Work")
    p.ok("PASS secret")
    _, lst = p.ok_multi("TOP 1 0")
    if "Subject: test 70" not in lst:
        raise dt.TestFailure("folder content: %r" % lst)
    p.ok("QUIT")
    p = s.pop3()
    p.ok("USER alice+NoSuch")
    p.err("PASS secret", "SYS/PERM")
    p.ok("QUIT")


def login_delay(s):
    p = s.pop3()
    _, caps = p.ok_multi("CAPA")
    if "LOGIN-DELAY 60" not in caps or "EXPIRE 0" not in caps:
        raise dt.TestFailure("CAPA: %r" % caps)
    p.ok("USER alice")
    p.ok("PASS secret")
    p.ok("QUIT")
    p = s.pop3()
    p.ok("USER alice")
    p.err("PASS secret", "LOGIN-DELAY")
    p.ok("QUIT")


def maxlogins(s):
    c = s.login()  # IMAP counts too
    p = s.pop3()
    p.ok("USER alice")
    r = p.err("PASS secret", "SYS/TEMP")
    c.logout()
    p.ok("USER alice")
    p.ok("PASS secret")
    p.ok("QUIT")
    return r


def failed_login_delay_not_blocking(s):
    p = s.pop3()
    p.ok("USER alice")
    t0 = time.monotonic()
    p.send("PASS wrong")
    # meanwhile another connection is served at once
    q = s.pop3()
    q.ok_multi("CAPA")
    t_other = time.monotonic() - t0
    r = p.line()
    took = time.monotonic() - t0
    if not r.startswith("-ERR [AUTH]"):
        raise dt.TestFailure("PASS wrong: %r" % r)
    if took < 0.9:
        raise dt.TestFailure("failure answered after %.2fs, expected the 1 s delay" % took)
    if t_other >= took:
        raise dt.TestFailure("other connection waited for the delay")
    q.ok("QUIT")
    return "delay %.2fs" % took


def maxconnections(s):
    # IMAP and POP3 share the limit: 1 IMAP + 1 POP3 fill it (logged in:
    # unauthenticated ones would be evicted instead, test_preauth_limits.py)
    deadline = time.monotonic() + 5 * dt.timeout_scale()
    while True:
        # the server's readiness probes may still be counted for a moment
        c = s.client()
        r = c.read()
        if r.text.startswith("* OK"):
            break
        c.close()
        if time.monotonic() > deadline:
            raise dt.TestFailure("no IMAP slot: %s" % r.render())
    c.ok("LOGIN alice secret")
    while True:
        p = dt.Pop3(s.host, s.pop3_port)
        try:
            r = p.line()
        except EOFError:
            r = ""
        if r.startswith("+OK"):
            break
        p.close()
        if time.monotonic() > deadline:
            raise dt.TestFailure("no POP3 slot: %r" % r)
    p.ok("USER alice")
    p.ok("PASS secret")
    extra = dt.Pop3(s.host, s.pop3_port)
    try:
        r = extra.line()
        if not r.startswith("-ERR [SYS/TEMP]"):
            raise dt.TestFailure("3rd connection got %r" % r)
    except EOFError:
        pass
    if not extra.at_eof():
        raise dt.TestFailure("refused connection left open")
    extra.close()
    p.ok("QUIT")
    c.logout()


def alpn_and_reload(s):
    import signal
    import ssl

    def connect(protos):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.set_alpn_protocols(protos)
        raw = socket.create_connection((s.host, s.pop3s_port), timeout=5 * dt.timeout_scale())
        try:
            t = ctx.wrap_socket(raw, server_hostname="localhost")
        except (ssl.SSLError, OSError):
            raw.close()
            return None
        proto = t.selected_alpn_protocol()
        t.close()
        return proto or ""

    if connect(["pop3"]) != "pop3":
        raise dt.TestFailure("ALPN pop3 not selected on POP3S")
    if connect(["imap"]) is not None:
        raise dt.TestFailure("POP3S accepted ALPN imap only (ALPACA)")
    s.signal(signal.SIGHUP)
    # after the reload (TLS context re-created) POP3S still works
    deadline = time.monotonic() + 5 * dt.timeout_scale()
    while True:
        try:
            p = s.pop3(tls=True)
            p.ok("USER alice")
            p.ok("PASS secret")
            p.ok("QUIT")
            break
        except (dt.TestFailure, EOFError, OSError):
            if time.monotonic() > deadline:
                raise
    if connect(["pop3"]) != "pop3":
        raise dt.TestFailure("ALPN after SIGHUP")


def shutdown_with_session(s):
    p = pop3_login(s)
    p.ok("STAT")
    s.stop()   # exits 0 within the grace time with a POP3 session open
    r = b""
    try:
        r = p.readline_raw()
    except (EOFError, dt.TestFailure, OSError):
        pass
    if r and not r.startswith(b"-ERR"):
        raise dt.TestFailure("shutdown line: %r" % r)


def main():
    s = dt.server_with_user()
    try:
        R.run("greeting and CAPA (plain, implicit TLS)", greeting_capa, s)
        R.run("no APOP timestamp, APOP refused", greeting_no_apop, s)
        R.run("AUTHORIZATION state errors, UTF8, USER/PASS", auth_state_errors, s)
        R.run("three failed logins close the connection", three_failures_close, s)
        R.run("STAT LIST RETR TOP UIDL DELE RSET NOOP QUIT and errors", transaction_commands, s)
        R.run("RETR sets \\Seen, TOP does not", seen_flags, s)
        R.run("dropped connection deletes nothing", drop_without_quit, s)
        R.run("PIPELINING", pipelining, s)
        R.run("long lines and garbage are answered -ERR, then resync", long_lines, s)
        R.run("AUTH (RFC 5034): list, PLAIN with/without IR, cancel, LOGIN", sasl_auth, s)
        R.run("IN-USE: one POP3 session per mailbox", in_use, s)
        R.run("IMAP expunge during POP3 session -> RETR -ERR [SYS/PERM]", imap_expunge_during_pop3, s)
        R.run("POP3 DELE+QUIT seen by IMAP IDLE as EXPUNGE", pop3_dele_seen_by_idle, s)
        R.run("6 MB RETR with back-pressure, others served", big_retr, s)
        R.run("UIDL stable across a restart", uidl_restart, s)
        R.run("POP3S ALPN is pop3 (imap refused); SIGHUP reloads TLS", alpn_and_reload, s)
        R.run("SIGTERM with an open POP3 session", shutdown_with_session, s)
    finally:
        s.cleanup()

    s = dt.server_with_user(config={"popsubfolders": "yes"})
    try:
        R.run("popsubfolders: user+folder", subfolders, s)
        s.stop()
    finally:
        s.cleanup()

    s = dt.server_with_user(allowplaintext=False)
    try:
        R.run("allowplaintext no: USER hidden until STLS / POP3S", plaintext_disabled, s)
        R.run("STLS discards pipelined plaintext", stls_discards_plaintext, s)
        s.stop()
    finally:
        s.cleanup()

    s = dt.server_with_user(config={"popminpoll": "1", "popexpiretime": "0"})
    try:
        R.run("LOGIN-DELAY enforced, EXPIRE 0", login_delay, s)
        s.stop()
    finally:
        s.cleanup()

    s = dt.server_with_user(config={"maxlogins_per_user": "1"})
    try:
        R.run("maxlogins_per_user shared with IMAP", maxlogins, s)
        s.stop()
    finally:
        s.cleanup()

    s = dt.server_with_user(config={"maxconnections": "2"})
    try:
        R.run("maxconnections shared with IMAP: -ERR [SYS/TEMP]", maxconnections, s)
        s.stop()
    finally:
        s.cleanup()

    s = dt.server_with_user(config={"auth_failure_delay": "1"})
    try:
        R.run("failed-login delay by timer, loop not blocked", failed_login_delay_not_blocking, s)
        s.stop()
    finally:
        s.cleanup()
    return R.done()


if __name__ == "__main__":
    sys.exit(main())
