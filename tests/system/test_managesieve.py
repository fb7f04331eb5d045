#!/usr/bin/env python3
"""ManageSieve (RFC 5804): every command with its success and error paths
and response codes, AUTHENTICATE (PLAIN with an initial response and as a
continuation, LOGIN, SCRAM-SHA-256, abort, bad base64, failures and their
delay), STARTTLS (capabilities re-sent, plaintext injection discarded),
the plaintext policy (ENCRYPT-NEEDED), UNAUTHENTICATE, the unix socket,
limits (sieve_maxscripts, sieve_maxscriptsize, literals before login,
maxconnections), script commands run off the event loop (a held job
does not stop other sessions), shutdown BYE, and scripts shared with
`darius sieve`.

Raw client: darius_test.Sieve."""

import base64
import hashlib
import hmac
import os
import shutil
import sys
import tempfile
import time

import darius_test as dt

R = dt.Report("managesieve")

SCRIPT = 'require "fileinto";\r\nif header :contains "subject" "x" {\r\n  fileinto "X";\r\n}\r\n'
BAD = 'require "fileinto";\r\nif heaxder "a" "b" {\r\n  fileinto "X";\r\n}\r\n'


def put(c, name, body, expect="OK", code=None):
    c.send_raw(b"PUTSCRIPT " + dt.quote(name).encode() + b" " + dt.sieve_literal(body) + b"\r\n")
    lines, st = c.response()
    if not st.startswith(expect) or (code and not st.startswith("%s (%s)" % (expect, code))):
        raise dt.TestFailure("PUTSCRIPT %s: expected %s %s, got %r" % (name, expect, code or "", st))
    return st


def listscripts(c):
    lines, _ = c.ok("LISTSCRIPTS")
    return [ln.decode() for ln in lines]


def plain_ir(user="alice", pw="secret"):
    return base64.b64encode(("\0%s\0%s" % (user, pw)).encode()).decode()


# ---- tests ---------------------------------------------------------------------

def greeting_capability(s):
    c = s.sieve()
    g = c.greet_caps
    for k in ("IMPLEMENTATION", "SASL", "SIEVE", "STARTTLS", "NOTIFY", "MAXREDIRECTS", "VERSION",
              "UNAUTHENTICATE"):
        if k not in g:
            raise dt.TestFailure("greeting lacks %s: %r" % (k, g))
    if g["VERSION"] != "1.0" or g["NOTIFY"] != "mailto" or g["MAXREDIRECTS"] != "4":
        raise dt.TestFailure("capability values: %r" % g)
    if "OWNER" in g:
        raise dt.TestFailure("OWNER before authentication")
    for m in ("PLAIN", "SCRAM-SHA-256"):
        if m not in g["SASL"].split():
            raise dt.TestFailure("SASL lacks %s: %r" % (m, g["SASL"]))
    for e in ("fileinto", "vacation", "enotify"):
        if e not in g["SIEVE"].split():
            raise dt.TestFailure("SIEVE lacks %s: %r" % (e, g["SIEVE"]))
    lines, _ = c.ok("CAPABILITY")
    if dt.Sieve.caps(lines) != g:
        raise dt.TestFailure("CAPABILITY differs from the greeting")
    c.ok("capability")             # command names are case-insensitive
    c.ok("LOGOUT")
    if not c.at_eof():
        raise dt.TestFailure("LOGOUT did not close")


def unauthenticated_state(s):
    c = s.sieve()
    for cmd in ('LISTSCRIPTS', 'GETSCRIPT "a"', 'SETACTIVE "a"', 'DELETESCRIPT "a"', 'RENAMESCRIPT "a" "b"',
                'HAVESPACE "a" 1', 'UNAUTHENTICATE'):
        c.no(cmd)
    c.no("XYZZY")
    c.no('"quoted" command')
    c.no("NOOP (")                 # syntax
    c.no("CAPABILITY extra")
    _, st = c.ok('NOOP "tag1"')
    if st != 'OK (TAG "tag1")':
        raise dt.TestFailure("NOOP tag: %r" % st)
    c.send_raw(b"NOOP {3+}\r\na\"b\r\n")
    _, st = c.response()
    if st != 'OK (TAG "a\\"b")':
        raise dt.TestFailure("NOOP literal tag: %r" % st)
    c.ok("NOOP")
    # before login a literal is small: refused, skipped, the next command works
    c.send_raw(b"NOOP {20000+}\r\n" + b"x" * 20000 + b"\r\n")
    _, st = c.response()
    if not st.startswith("NO"):
        raise dt.TestFailure("20000-octet literal before login: %r" % st)
    c.ok("NOOP")
    c.ok("LOGOUT")


def authenticate(s):
    # PLAIN with an initial response
    c = s.sieve()
    c.no('AUTHENTICATE "PLAIN" "%s"' % plain_ir("alice", "wrong"))
    c.no('AUTHENTICATE "NOSUCH"')
    c.no('AUTHENTICATE')
    _, st = c.ok('AUTHENTICATE "PLAIN" "%s"' % plain_ir())
    lines, _ = c.ok("CAPABILITY")
    caps = dt.Sieve.caps(lines)
    if caps.get("OWNER") != "alice" or "STARTTLS" in caps:
        raise dt.TestFailure("capabilities after login: %r" % caps)
    c.no('AUTHENTICATE "PLAIN" "%s"' % plain_ir())   # already authenticated
    c.no("STARTTLS")                                  # only before authentication
    c.ok("LOGOUT")
    # PLAIN as a continuation: an empty challenge, the response as a string
    c = s.sieve()
    c.send('AUTHENTICATE "PLAIN"')
    if c.line() != b'{}':     # an empty literal
        raise dt.TestFailure("no empty challenge")
    c.ok('"%s"' % plain_ir())
    c.ok("LISTSCRIPTS")
    c.ok("LOGOUT")
    # ... and as a literal
    c = s.sieve()
    c.send('AUTHENTICATE "PLAIN"')
    c.line()
    ir = plain_ir().encode()
    c.send_raw(b"{%d+}\r\n%s\r\n" % (len(ir), ir))
    _, st = c.response()
    if not st.startswith("OK"):
        raise dt.TestFailure("literal SASL response: %r" % st)
    c.ok("LOGOUT")
    # abort with "*", bad base64
    c = s.sieve()
    c.send('AUTHENTICATE "PLAIN"')
    c.line()
    c.no('"*"')
    c.send('AUTHENTICATE "PLAIN"')
    c.line()
    c.no('"!!!"')
    c.ok("NOOP")
    # LOGIN: two challenges
    c.send('AUTHENTICATE "LOGIN"')
    c.line()
    c.send('"%s"' % base64.b64encode(b"alice").decode())
    c.line()
    c.ok('"%s"' % base64.b64encode(b"secret").decode())
    c.ok("LOGOUT")


def scram_sha256(s):
    """SCRAM-SHA-256 (RFC 7677): the server's final message arrives as a
    last challenge (RFC 5804 2.1's second variant) and is verified."""
    c = s.sieve()
    cnonce = base64.b64encode(os.urandom(18)).decode()
    first_bare = "n=alice,r=" + cnonce
    c.send('AUTHENTICATE "SCRAM-SHA-256" "%s"' % base64.b64encode(("n,," + first_bare).encode()).decode())
    ln = c.line()
    server_first = base64.b64decode(ln.strip(b'{}')).decode()
    attrs = dict(a.split("=", 1) for a in server_first.split(","))
    if not attrs["r"].startswith(cnonce):
        raise dt.TestFailure("server nonce: %r" % server_first)
    salted = hashlib.pbkdf2_hmac("sha256", b"secret", base64.b64decode(attrs["s"]), int(attrs["i"]))
    ckey = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    skey = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    final_wo = "c=biws,r=" + attrs["r"]
    auth_msg = ",".join((first_bare, server_first, final_wo)).encode()
    sig = hmac.new(hashlib.sha256(ckey).digest(), auth_msg, hashlib.sha256).digest()
    proof = bytes(a ^ b for a, b in zip(ckey, sig))
    final = final_wo + ",p=" + base64.b64encode(proof).decode()
    # the server's last data comes as a challenge answered with "" (2.1)
    c.send('"%s"' % base64.b64encode(final.encode()).decode())
    v = base64.b64decode(c.line().strip(b"{}")).decode()
    want = "v=" + base64.b64encode(hmac.new(skey, auth_msg, hashlib.sha256).digest()).decode()
    if v != want:
        raise dt.TestFailure("server signature %r, expected %r" % (v, want))
    _, st = c.ok('""')
    if st != "OK":
        raise dt.TestFailure("OK after SCRAM: %r" % st)
    c.ok("LISTSCRIPTS")
    c.ok("LOGOUT")
    # anything but an empty answer to the last message fails
    c = s.sieve()
    c.send('AUTHENTICATE "SCRAM-SHA-256" "%s"' % base64.b64encode(("n,," + first_bare).encode()).decode())
    c.line()
    c.no('"*"')
    c.ok("NOOP")


def three_failures_close(s):
    c = s.sieve()
    for _ in range(3):
        c.no('AUTHENTICATE "PLAIN" "%s"' % plain_ir("nobody", "x"))
    if not c.at_eof():
        raise dt.TestFailure("connection still open after 3 failed authentications")


def scripts(s):
    c = s.sieve_login()
    if listscripts(c):
        raise dt.TestFailure("new account has scripts")
    put(c, "s1", SCRIPT)
    # errors: refused with line:column, nothing stored
    st = put(c, "bad", BAD, "NO")
    if "2:" not in st or "error" not in st:
        raise dt.TestFailure("no line:col in %r" % st)
    if listscripts(c) != ['"s1"']:
        raise dt.TestFailure("a script with errors was stored: %r" % listscripts(c))
    # quoted string as the script, a second script, replace
    c.ok('PUTSCRIPT "s2" "keep;"')
    put(c, "s2", "discard;\r\n")
    lines, _ = c.ok('GETSCRIPT "s2"')
    if lines != [b"{discard;\r\n}"]:
        raise dt.TestFailure("GETSCRIPT after replace: %r" % lines)
    lines, _ = c.ok('GETSCRIPT "s1"')
    if lines != [b"{" + SCRIPT.encode() + b"}"]:
        raise dt.TestFailure("GETSCRIPT: %r" % lines)
    c.no('GETSCRIPT "nope"', "NONEXISTENT")
    # SETACTIVE, ACTIVE in LISTSCRIPTS, deactivate with ""
    c.no('SETACTIVE "nope"', "NONEXISTENT")
    c.ok('SETACTIVE "s1"')
    if listscripts(c) != ['"s1" ACTIVE', '"s2"']:
        raise dt.TestFailure("LISTSCRIPTS: %r" % listscripts(c))
    c.ok('SETACTIVE "s2"')
    if listscripts(c) != ['"s1"', '"s2" ACTIVE']:
        raise dt.TestFailure("LISTSCRIPTS after switch: %r" % listscripts(c))
    c.no('DELETESCRIPT "s2"', "ACTIVE")
    # RENAMESCRIPT: the active script stays active
    c.no('RENAMESCRIPT "s2" "s1"', "ALREADYEXISTS")
    c.no('RENAMESCRIPT "nope" "x"', "NONEXISTENT")
    c.ok('RENAMESCRIPT "s2" "s3"')
    if listscripts(c) != ['"s1"', '"s3" ACTIVE']:
        raise dt.TestFailure("LISTSCRIPTS after rename: %r" % listscripts(c))
    c.ok('SETACTIVE ""')
    c.ok('SETACTIVE ""')           # none active: still OK
    if listscripts(c) != ['"s1"', '"s3"']:
        raise dt.TestFailure("LISTSCRIPTS after deactivate: %r" % listscripts(c))
    c.ok('DELETESCRIPT "s3"')
    c.no('DELETESCRIPT "s3"', "NONEXISTENT")
    # CHECKSCRIPT stores nothing
    c.send_raw(b"CHECKSCRIPT " + dt.sieve_literal(SCRIPT) + b"\r\n")
    _, st = c.response()
    if not st.startswith("OK"):
        raise dt.TestFailure("CHECKSCRIPT good: %r" % st)
    c.send_raw(b"CHECKSCRIPT " + dt.sieve_literal(BAD) + b"\r\n")
    _, st = c.response()
    if not st.startswith("NO") or "2:" not in st:
        raise dt.TestFailure("CHECKSCRIPT bad: %r" % st)
    if listscripts(c) != ['"s1"']:
        raise dt.TestFailure("CHECKSCRIPT stored something: %r" % listscripts(c))
    # warnings (a command after stop): stored, OK (WARNINGS) with line:col
    warn = "keep;\r\nstop;\r\ndiscard;\r\n"
    st = put(c, "w", warn, "OK", "WARNINGS")
    if "3:" not in st or "warning" not in st:
        raise dt.TestFailure("PUTSCRIPT warnings: %r" % st)
    lines, _ = c.ok('GETSCRIPT "w"')
    if lines != [b"{" + warn.encode() + b"}"]:
        raise dt.TestFailure("a script with warnings was not stored: %r" % lines)
    c.ok('DELETESCRIPT "w"')
    c.send_raw(b"CHECKSCRIPT " + dt.sieve_literal(warn) + b"\r\n")
    _, st = c.response()
    if not st.startswith("OK (WARNINGS)") or "3:" not in st:
        raise dt.TestFailure("CHECKSCRIPT warnings: %r" % st)
    # HAVESPACE
    c.ok('HAVESPACE "s9" 100')
    c.no('HAVESPACE "s9" 100000', "QUOTA/MAXSIZE")
    c.no('HAVESPACE "s9" abc')
    c.no('HAVESPACE "s9" 99999999999')
    c.no('HAVESPACE "s9" 0100')    # RFC 5804 4: no leading zeros
    c.ok('HAVESPACE "s9" 0')
    # several diagnostics in one string are separated by CRLF (RFC 5804 2.12)
    two = 'require "fileinto";\r\nif heaxder "a" "b" { keep; }\r\nif heaxder "a" "b" { keep; }\r\n'
    c.send_raw(b"CHECKSCRIPT " + dt.sieve_literal(two) + b"\r\n")
    _, st = c.response()
    if not st.startswith("NO") or "\r\n" not in st or "\n" in st.replace("\r\n", ""):
        raise dt.TestFailure("CHECKSCRIPT with two errors: %r" % st)
    # invalid names, wrong argument types
    c.no('PUTSCRIPT "" "keep;"')
    c.no('GETSCRIPT ""')
    c.no("GETSCRIPT s1")           # an atom is not a string
    c.no('PUTSCRIPT "a\\"b"')      # missing script
    # the admin tool sees the same store
    c.ok('SETACTIVE "s1"')
    r = s.cli("sieve", "list", "alice")
    if r.returncode != 0 or "s1" not in r.stdout:
        raise dt.TestFailure("darius sieve list: %r %r" % (r.stdout, r.stderr))
    c.ok('SETACTIVE ""')
    c.ok('DELETESCRIPT "s1"')
    c.ok("LOGOUT")


def pipelined_getscript(s):
    """A client that pipelines thousands of GETSCRIPTs in one write gets
    every answer, in order, and the session goes on afterwards. (The
    output back-pressure itself - no more input read while more than
    CONN_HIGH_WATER is queued, resumed by on_drain - follows POP3's; this
    checks that pipelining big answers loses and reorders nothing.)"""
    c = s.sieve_login()
    body = "# " + "y" * 900 + "\r\nkeep;\r\n"
    put(c, "big", body)
    n = 3000                        # about 2.8 MB of answers
    c.send_raw(b'GETSCRIPT "big"\r\n' * n)
    want = b"{" + body.encode() + b"}"
    for i in range(n):
        lines, st = c.response()
        if not st.startswith("OK") or lines != [want]:
            raise dt.TestFailure("GETSCRIPT %d of %d: %r %r" % (i + 1, n, st, lines[:1]))
    c.ok("NOOP")
    c.ok('DELETESCRIPT "big"')
    c.ok("LOGOUT")


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def never_reads(s):
    """The back-pressure itself: a client that pipelines GETSCRIPTs of a
    30 KB script and reads nothing would make the server queue 58 MB of
    answers if it kept reading commands; it stops reading while its
    output is full, so the worker's memory stays bounded, its other
    sessions are served, and every answer still comes, in order, once
    the client reads."""
    c = s.sieve_login()
    body = ("# " + "z" * 70 + "\r\n") * 400 + "keep;\r\n"     # about 29 KB
    put(c, "huge", body)
    pid = dt.socket_owner_pid(s, c)
    if pid is None:
        raise dt.TestFailure("no process owns the connection")
    base = rss_kb(pid)
    # 36 KB of commands, about 58 MB of answers: the kernel's socket
    # buffers hold a few MB of them, the rest would be the worker's
    n = 2000
    c.send_raw(b'GETSCRIPT "huge"\r\n' * n)
    peak = base
    served = 0
    deadline = time.monotonic() + 2.0 * dt.timeout_scale()
    while time.monotonic() < deadline:     # watching for growth: a window, not a wait for an event
        peak = max(peak, rss_kb(pid))
        o = s.sieve_login()
        o.ok("NOOP")
        o.ok("LOGOUT")
        served += 1
    peak = max(peak, rss_kb(pid))
    grow = (peak - base) // 1024
    # Under ASan freed memory sits in its quarantine (256 MB), so RSS says
    # nothing there; the normal build checks the bound.
    if grow > 20 and not dt.sanitizer():
        raise dt.TestFailure("worker RSS grew by %d MB (limit 20) for unread GETSCRIPT answers" % grow)
    if served == 0:
        raise dt.TestFailure("no other session was served meanwhile")
    want = b"{" + body.encode() + b"}"
    for i in range(n):
        lines, st = c.response()
        if not st.startswith("OK") or lines != [want]:
            raise dt.TestFailure("GETSCRIPT %d of %d: %r %r" % (i + 1, n, st, lines[:1]))
    c.ok('DELETESCRIPT "huge"')
    c.ok("LOGOUT")
    return "RSS %d -> %d KB, %d other sessions served" % (base, peak, served)


def limits(s):
    """sieve_maxscripts 2, sieve_maxscriptsize 1 (KiB)."""
    c = s.sieve_login()
    c.ok('PUTSCRIPT "a" "keep;"')
    c.ok('PUTSCRIPT "b" "keep;"')
    c.no('PUTSCRIPT "c" "keep;"', "QUOTA/MAXSCRIPTS")
    c.no('HAVESPACE "c" 10', "QUOTA/MAXSCRIPTS")
    c.ok('HAVESPACE "a" 10')       # replacing is fine
    big = "# " + "x" * 2000 + "\r\nkeep;\r\n"
    put(c, "a", big, "NO", "QUOTA/MAXSIZE")
    # the oversized literal was skipped: the session goes on
    c.ok("NOOP")
    c.send_raw(b"CHECKSCRIPT " + dt.sieve_literal(big) + b"\r\n")
    _, st = c.response()
    # RFC 5804 2.12: CHECKSCRIPT checks no quota, so no QUOTA code
    if not st.startswith("NO ") or "QUOTA" in st.split('"')[0]:
        raise dt.TestFailure("CHECKSCRIPT over the size: %r" % st)
    lines, _ = c.ok('GETSCRIPT "a"')
    if lines != [b"{keep;}"]:
        raise dt.TestFailure("a failed put changed the script: %r" % lines)
    c.ok("LOGOUT")


def unauthenticate(s):
    c = s.sieve_login()
    c.ok("LISTSCRIPTS")
    c.ok("UNAUTHENTICATE")
    c.no("LISTSCRIPTS")
    lines, _ = c.ok("CAPABILITY")
    if "OWNER" in dt.Sieve.caps(lines):
        raise dt.TestFailure("OWNER after UNAUTHENTICATE")
    c.ok('AUTHENTICATE "PLAIN" "%s"' % plain_ir())
    c.ok("LISTSCRIPTS")
    c.ok("LOGOUT")


def starttls(s):
    c = s.sieve()
    lines, st = c.starttls()
    caps = dt.Sieve.caps(lines)
    if "STARTTLS" in caps or "SCRAM-SHA-256-PLUS" not in caps.get("SASL", "").split():
        raise dt.TestFailure("capabilities after STARTTLS (the -PLUS mechanisms need the handshake): %r"
                             % caps)
    c.no("STARTTLS")
    c.ok('AUTHENTICATE "PLAIN" "%s"' % plain_ir())
    c.ok("LISTSCRIPTS")
    c.ok("LOGOUT")
    # a command sent in the clear after STARTTLS is discarded
    c = s.sieve()
    c.send_raw('STARTTLS\r\nAUTHENTICATE "PLAIN" "%s"\r\n' % plain_ir())
    _, st = c.response()
    if not st.startswith("OK"):
        raise dt.TestFailure("STARTTLS: %r" % st)
    c.sock = dt.Client._wrap(c.sock)
    c.greeting()
    c.no("LISTSCRIPTS")            # not logged in: the injected command is gone
    c.ok("LOGOUT")


def plaintext_policy(s):
    """allowplaintext no: PLAIN hidden and refused (ENCRYPT-NEEDED) until
    STARTTLS; the unix socket counts as confidential."""
    c = s.sieve()
    sasl = c.greet_caps["SASL"].split()
    if "PLAIN" in sasl or "LOGIN" in sasl or "STARTTLS" not in c.greet_caps:
        raise dt.TestFailure("capabilities without TLS: %r" % c.greet_caps)
    c.no('AUTHENTICATE "PLAIN" "%s"' % plain_ir(), "ENCRYPT-NEEDED")
    lines, _ = c.starttls()
    if "PLAIN" not in dt.Sieve.caps(lines)["SASL"].split():
        raise dt.TestFailure("PLAIN not offered after STARTTLS")
    c.ok('AUTHENTICATE "PLAIN" "%s"' % plain_ir())
    c.ok("LOGOUT")
    u = s.sieve(unix=True)
    if "PLAIN" not in u.greet_caps["SASL"].split() or "STARTTLS" in u.greet_caps:
        raise dt.TestFailure("unix socket capabilities: %r" % u.greet_caps)
    u.ok('AUTHENTICATE "PLAIN" "%s"' % plain_ir())
    u.ok("LISTSCRIPTS")
    u.ok("LOGOUT")


def failed_login_delay_not_blocking(s):
    """auth_failure_delay 1: the NO comes after the delay, by a timer; a
    second connection is served meanwhile."""
    c = s.sieve()
    t0 = time.monotonic()
    c.send('AUTHENTICATE "PLAIN" "%s"' % plain_ir("alice", "wrong"))
    q = s.sieve()
    q.ok("NOOP")
    t_other = time.monotonic() - t0
    _, st = c.response()
    took = time.monotonic() - t0
    if not st.startswith("NO"):
        raise dt.TestFailure("wrong password: %r" % st)
    if took < 0.9:
        raise dt.TestFailure("failure answered after %.2fs, expected the 1 s delay" % took)
    if t_other >= took:
        raise dt.TestFailure("other connection waited for the delay")
    return "delay %.2fs" % took


def maxconnections(s):
    """maxconnections 2, shared with IMAP: a third connection is refused
    with BYE (TRYLATER)."""
    a = s.sieve_login()
    b = s.sieve_login()
    x = dt.Sieve(s.host, s.sieve_port)
    try:
        _, st = x.response()
        if not st.startswith("BYE (TRYLATER)"):
            raise dt.TestFailure("third connection got %r" % st)
    except EOFError:
        pass
    if not x.at_eof():
        raise dt.TestFailure("refused connection left open")
    a.ok("LOGOUT")
    b.ok("LOGOUT")


def held_job(s, hold):
    """A PUTSCRIPT held on the pool (DARIUS_TEST_HOLD_DIR/managesieve)
    waits; another session is served meanwhile; the put completes once
    released, then pipelined commands follow in order."""
    a = s.sieve_login()
    b = s.sieve_login(user="bob", password="pw")
    open(os.path.join(hold, "managesieve"), "w").close()
    a.send_raw(b'PUTSCRIPT "held" "keep;"\r\nLISTSCRIPTS\r\n')
    end = time.monotonic() + 10 * dt.timeout_scale()
    while not os.path.exists(os.path.join(hold, "managesieve.started")):
        if time.monotonic() > end:
            raise dt.TestFailure("PUTSCRIPT did not run as a 'managesieve' job")
        time.sleep(0.005)  # polling a file with a deadline, not a synchronisation by sleep
    b.ok("NOOP")                    # not a job: answered while a's is held
    b.ok("CAPABILITY")
    os.unlink(os.path.join(hold, "managesieve"))
    _, st = a.response()
    if not st.startswith("OK"):
        raise dt.TestFailure("held PUTSCRIPT: %r" % st)
    lines, st = a.response()
    if lines != [b'"held"']:
        raise dt.TestFailure("pipelined LISTSCRIPTS: %r %r" % (lines, st))
    a.ok("LOGOUT")
    b.ok("LOGOUT")


def kick_on_rename(s):
    """The account is renamed (darius user rename): its ManageSieve
    session is closed with BYE (TRYLATER), and the scripts move along."""
    c = s.sieve_login()
    c.ok('PUTSCRIPT "k" "keep;"')
    r = s.cli("user", "rename", "alice", "carol")
    if r.returncode != 0:
        raise dt.TestFailure("user rename: %r %r" % (r.stdout, r.stderr))
    _, st = c.response()
    if not st.startswith("BYE (TRYLATER)"):
        raise dt.TestFailure("session of a renamed account: %r" % st)
    if not c.at_eof():
        raise dt.TestFailure("still open after BYE")
    d = s.sieve_login(user="carol", password="secret")
    if listscripts(d) != ['"k"']:
        raise dt.TestFailure("scripts after rename: %r" % listscripts(d))
    d.ok('DELETESCRIPT "k"')
    d.ok("LOGOUT")
    r = s.cli("user", "rename", "carol", "alice")
    if r.returncode != 0:
        raise dt.TestFailure("user rename back: %r %r" % (r.stdout, r.stderr))


def shutdown_file(s):
    """DATADIR/msg/shutdown: an open session is told BYE (TRYLATER) with
    its first line and closed, new connections get the BYE instead of a
    greeting; once removed, service resumes."""
    text = "Maintenance until 10:00 UTC"
    c = s.sieve_login()
    path = os.path.join(s.datadir, "msg", "shutdown")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".tmp", "w") as f:
        f.write(text + "\nsecond line\n")
    os.rename(path + ".tmp", path)
    try:
        c.sock.settimeout(10 * dt.timeout_scale())
        _, st = c.response()
        if st != 'BYE (TRYLATER) "%s"' % text:
            raise dt.TestFailure("open session: %r" % st)
        if not c.at_eof():
            raise dt.TestFailure("open session not closed")
        for _ in range(3):          # whichever worker takes it
            n = dt.Sieve(s.host, s.sieve_port)
            lines, st = n.response()
            if lines or st != 'BYE (TRYLATER) "%s"' % text:
                raise dt.TestFailure("new connection: %r %r" % (lines, st))
            if not n.at_eof():
                raise dt.TestFailure("new connection not closed")
    finally:
        os.unlink(path)
    d = s.sieve_login()
    d.ok("LOGOUT")


def shutdown_bye(s):
    c = s.sieve_login()
    s.stop()
    _, st = c.response()
    if not st.startswith("BYE"):
        raise dt.TestFailure("SIGTERM: %r" % st)


def main():
    s = dt.server_with_user()
    try:
        R.run("greeting and CAPABILITY, LOGOUT", greeting_capability, s)
        R.run("non-authenticated state: errors, NOOP (TAG), literal limit", unauthenticated_state, s)
        R.run("AUTHENTICATE PLAIN (IR, continuation, literal), abort, bad base64, LOGIN", authenticate, s)
        R.run("AUTHENTICATE SCRAM-SHA-256, v= as a last challenge", scram_sha256, s)
        R.run("three failed authentications close the connection", three_failures_close, s)
        R.run("PUTSCRIPT (errors, WARNINGS) GETSCRIPT LISTSCRIPTS SETACTIVE DELETESCRIPT RENAMESCRIPT CHECKSCRIPT HAVESPACE",
              scripts, s)
        R.run("UNAUTHENTICATE", unauthenticate, s)
        R.run("3000 pipelined GETSCRIPTs: every answer, in order (output back-pressure)", pipelined_getscript, s)
        R.run("a client that never reads: input paused, memory bounded, others served", never_reads, s)
        R.run("STARTTLS: capabilities re-sent, injection discarded", starttls, s)
        R.run("account renamed: BYE (TRYLATER), scripts move", kick_on_rename, s)
        R.run("shutdown file: BYE (TRYLATER) to open and new sessions", shutdown_file, s)
        R.run("SIGTERM: BYE to an open session", shutdown_bye, s)
    finally:
        s.cleanup()

    s = dt.server_with_user(config={"sieve_maxscripts": "2", "sieve_maxscriptsize": "1"})
    try:
        R.run("QUOTA/MAXSCRIPTS, QUOTA/MAXSIZE", limits, s)
        s.stop()
    finally:
        s.cleanup()

    s = dt.server_with_user(allowplaintext=False)
    try:
        R.run("allowplaintext no: ENCRYPT-NEEDED until STARTTLS; unix socket", plaintext_policy, s)
        s.stop()
    finally:
        s.cleanup()

    s = dt.server_with_user(config={"auth_failure_delay": "1"})
    try:
        R.run("failed-login delay by timer, loop not blocked", failed_login_delay_not_blocking, s)
        s.stop()
    finally:
        s.cleanup()

    s = dt.server_with_user(config={"maxconnections": "2"})
    try:
        R.run("maxconnections: BYE (TRYLATER)", maxconnections, s)
        s.stop()
    finally:
        s.cleanup()

    hold = tempfile.mkdtemp(prefix="darius-hold-")
    os.environ["DARIUS_TEST_HOLD_DIR"] = hold
    s = dt.Server(start=False)
    try:
        s.add_user("alice", "secret")
        s.add_user("bob", "pw")
        s.start()
        R.run("script commands run off the loop (held job)", held_job, s, hold)
        s.stop()
    finally:
        os.environ.pop("DARIUS_TEST_HOLD_DIR", None)
        s.cleanup()
        shutil.rmtree(hold, ignore_errors=True)
    return R.done()


if __name__ == "__main__":
    sys.exit(main())
