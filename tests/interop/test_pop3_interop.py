#!/usr/bin/env python3
"""Interop: POP3 with real clients.

  python3 poplib   USER/PASS plain, POP3_SSL (implicit TLS), stls(); STAT,
                   LIST, UIDL, RETR, TOP, DELE, RSET, QUIT, capa()
  fetchmail        keep mode (twice: the second run must fetch nothing,
                   i.e. UIDL works) over POP3S, and non-keep mode over STLS
                   (messages deleted on the server afterwards)
  pop3test         cyrus-clients: SASL PLAIN, LOGIN, SCRAM-SHA-1,
                   SCRAM-SHA-256 over POP3S and STLS

A client program missing is a SKIP unless CI is set (then a FAIL)."""

import os
import poplib
import ssl
import subprocess
import sys
import time

import darius_test as dt

R = dt.Report("pop3-interop")
FETCHMAIL = dt.find_tool("fetchmail")
POP3TEST = dt.find_tool("pop3test", ["/usr/lib/cyrus/bin"]) or dt.find_tool("cyrus-pop3test")
TIMEOUT = 30 * dt.timeout_scale()


def missing(what, tool):
    if dt.ci():
        R.fail(what, "%s not installed (CI=true)" % tool)
    else:
        R.skip(what, "%s not installed" % tool)


def append(s, *msgs):
    c = s.login()
    for m in msgs:
        c.ok("APPEND INBOX %L", [m])
    c.logout()


def login(m, deadline=None):
    """poplib USER/PASS, retried while the previous client's session (just
    QUIT, maybe in the other worker) still holds the IN-USE lock."""
    deadline = deadline or time.monotonic() + 5 * dt.timeout_scale()
    while True:
        m.user("alice")
        try:
            m.pass_("secret")
            return
        except poplib.error_proto as e:
            if "IN-USE" not in str(e) or time.monotonic() > deadline:
                raise


def stat(s):
    deadline = time.monotonic() + 5 * dt.timeout_scale()
    while True:
        p = s.pop3()
        p.ok("USER alice")
        r = p.cmd("PASS secret")
        if r.startswith("+OK"):
            break
        p.close()
        if "IN-USE" not in r or time.monotonic() > deadline:
            raise dt.TestFailure("login: %r" % r)
    r = p.ok("STAT")
    p.ok("QUIT")
    return int(r.split()[1])


def ctx():
    c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    return c


# ---- poplib ----------------------------------------------------------------

def poplib_session(m, expect_n):
    caps = m.capa()
    for k in ("UIDL", "TOP", "PIPELINING", "RESP-CODES", "SASL"):
        if k not in caps:
            raise dt.TestFailure("capa() lacks %s: %r" % (k, caps))
    login(m)
    n, size = m.stat()
    if n != expect_n:
        raise dt.TestFailure("stat() = %r" % ((n, size),))
    resp, lst, octets = m.list()
    sizes = [int(x.split()[1]) for x in lst]
    if sum(sizes) != size:
        raise dt.TestFailure("list sizes %r vs stat %d" % (sizes, size))
    resp, uids, _ = m.uidl()
    if len(uids) != n:
        raise dt.TestFailure("uidl() %r" % uids)
    for i in range(1, n + 1):
        resp, lines, octets = m.retr(i)
        # poplib's octets count is the un-stuffed lines plus CRLFs
        if not resp.startswith(b"+OK") or not lines:
            raise dt.TestFailure("retr(%d): %r" % (i, resp))
    resp, lines, _ = m.top(1, 0)
    if b"" not in lines:
        raise dt.TestFailure("top(1, 0) %r" % lines)
    m.dele(1)
    m.rset()
    m.noop()
    m.quit()


def poplib_plain(s):
    m = poplib.POP3(s.host, s.pop3_port, timeout=TIMEOUT)
    poplib_session(m, 3)


def poplib_ssl(s):
    m = poplib.POP3_SSL(s.host, s.pop3s_port, context=ctx(), timeout=TIMEOUT)
    poplib_session(m, 3)


def poplib_stls(s):
    m = poplib.POP3(s.host, s.pop3_port, timeout=TIMEOUT)
    m.stls(context=ctx())
    poplib_session(m, 3)


def poplib_errors(s):
    m = poplib.POP3(s.host, s.pop3_port, timeout=TIMEOUT)
    m.user("alice")
    try:
        m.pass_("wrong")
        raise dt.TestFailure("wrong password accepted")
    except poplib.error_proto as e:
        if not str(e).startswith("b'-ERR [AUTH]"):
            raise dt.TestFailure("wrong password: %s" % e)
    login(m)
    try:
        m.retr(99)
        raise dt.TestFailure("retr(99) succeeded")
    except poplib.error_proto:
        pass
    m.quit()


# ---- fetchmail ---------------------------------------------------------------

def fetchmail(s, tmp, keep, tls_mode):
    out = os.path.join(tmp, "delivered-%s" % ("keep" if keep else "nokeep"))
    rc = os.path.join(tmp, "fetchmailrc-%s" % tls_mode)
    if tls_mode == "pop3s":
        port, sslopts = s.pop3s_port, "ssl no sslcertck"
    else:
        port, sslopts = s.pop3_port, "sslproto tls1.2+ no sslcertck"
    with open(rc, "w") as f:
        f.write("set no syslog\n"
                "poll %s port %d proto pop3 uidl\n"
                "  user \"alice\" password \"secret\" is \"%s\" here\n"
                "  %s %s\n"
                "  mda \"cat >> %s\"\n"
                % (s.host, port, os.environ.get("USER", "root"), sslopts, "keep" if keep else "nokeep", out))
    os.chmod(rc, 0o600)
    env = dict(os.environ, HOME=tmp, FETCHMAILHOME=tmp)
    p = subprocess.run([FETCHMAIL, "-f", rc, "-i", os.path.join(tmp, "fetchids-%s" % tls_mode),
                        "--pidfile", os.path.join(tmp, "fetchmail-%s.pid" % tls_mode)],
                       capture_output=True, text=True, timeout=TIMEOUT, env=env, errors="replace")
    delivered = ""
    if os.path.exists(out):
        with open(out, errors="replace") as f:
            delivered = f.read()
    return p.returncode, p.stdout + p.stderr, delivered


def fetchmail_keep(s, tmp):
    rc, log, got = fetchmail(s, tmp, True, "pop3s")
    if rc != 0 or got.count("Subject: fm ") != 2:
        raise dt.TestFailure("keep run: exit %d, delivered %d, log %r" % (rc, got.count("Subject: fm "), log[-800:]))
    if stat(s) != 2:
        raise dt.TestFailure("keep mode deleted messages")
    rc, log, got = fetchmail(s, tmp, True, "pop3s")
    if rc != 1 or got.count("Subject: fm ") != 2:
        raise dt.TestFailure("second keep run (UIDL) fetched again: exit %d, log %r" % (rc, log[-800:]))


def fetchmail_nokeep(s, tmp):
    rc, log, got = fetchmail(s, tmp, False, "stls")
    if rc != 0 or got.count("Subject: fm ") != 2:
        raise dt.TestFailure("nokeep run: exit %d, log %r" % (rc, log[-800:]))
    if stat(s) != 0:
        raise dt.TestFailure("nokeep mode left messages on the server")


# ---- pop3test ------------------------------------------------------------------

def pop3test(s, mech, mode, password="secret"):
    args = [POP3TEST, "-a", "alice", "-u", "alice", "-w", password, "-m", mech]
    if mode == "pop3s":
        args += ["-s", "-p", str(s.pop3s_port)]
    else:
        args += ["-t", "", "-p", str(s.pop3_port)]
    args.append(s.host)
    p = subprocess.run(args, input="STAT\r\nQUIT\r\n", capture_output=True, text=True, timeout=TIMEOUT,
                       errors="replace")
    return p.returncode, p.stdout + p.stderr


def main():
    s = dt.server_with_user()
    try:
        append(s, dt.sample_message(1), dt.sample_message(2, size=20000),
               "Subject: dots\r\n\r\n.leading dot\r\n..two\r\n")
        R.run("poplib plain USER/PASS", poplib_plain, s)
        R.run("poplib POP3_SSL", poplib_ssl, s)
        R.run("poplib stls()", poplib_stls, s)
        R.run("poplib error replies", poplib_errors, s)
        s.stop()
    finally:
        s.cleanup()

    if not FETCHMAIL:
        missing("fetchmail", "fetchmail")
    else:
        s = dt.server_with_user()
        try:
            append(s, dt.sample_message(1, subject="fm 1"), dt.sample_message(2, subject="fm 2", size=50000))
            R.run("fetchmail keep (POP3S, UIDL on rerun)", fetchmail_keep, s, s.tmp)
            R.run("fetchmail nokeep (STLS)", fetchmail_nokeep, s, s.tmp)
            s.stop()
        finally:
            s.cleanup()

    if not POP3TEST:
        missing("pop3test", "cyrus pop3test")
    else:
        s = dt.server_with_user(config={"allowplaintext": "no"})
        try:
            for mech in ("PLAIN", "LOGIN", "SCRAM-SHA-1", "SCRAM-SHA-256"):
                for mode in ("pop3s", "stls"):
                    rc, out = pop3test(s, mech, mode)
                    R.check("Authenticated." in out and "+OK" in out.split("Authenticated.")[-1],
                            "pop3test %s over %s" % (mech, mode), "exit %d, output tail: %r" % (rc, out[-600:]))
            rc, out = pop3test(s, "SCRAM-SHA-256", "pop3s", password="wrong")
            R.check("Authenticated." not in out, "pop3test SCRAM-SHA-256 with a wrong password fails",
                    "output tail: %r" % out[-400:])
            s.stop()
        finally:
            s.cleanup()
    return R.done()


if __name__ == "__main__":
    sys.exit(main())
