#!/usr/bin/env python3
"""Hostile input: no input crashes the server and the limits hold.

One server (2 workers, maxmessagesize 1 MB) with two users: "bob" is the
fuzz target (his INBOX has a few messages, one multipart), "alice" is used
for the health check run after every sub-test: a new connection, LOGIN,
SELECT, FETCH must work, and the master's worker PIDs (from /proc) must be
unchanged (a restarted worker means a crash).

Sub-tests: grammar-based random commands for every command name in every
state (not authenticated, authenticated, selected; plain, IMAPS and
STARTTLS), random bytes, garbage AUTHENTICATE/IDLE/APPEND, malformed
messages (300-deep multiparts, 20,000 headers, broken encodings) fetched
and searched, two sessions racing on one mailbox, deep nesting (SEARCH,
FETCH sections, LIST patterns, with time limits), 100,000-range sequence
sets, oversized keys/keywords/names, line and literal limits (70 KB line,
{2^32}, {10^20}, 10 MB LITERAL+ before login, 1,000 literals, APPEND and
MULTIAPPEND over the size limits), 10,000 pipelined commands, clients that
never read (the worker's RSS must stay bounded while others are served),
file descriptor exhaustion, connections dropped in the middle of a literal
/ AUTHENTICATE / IDLE / TLS handshake / STARTTLS.
The random generator is seeded (DARIUS_HOSTILE_SEED, default 1994), so a
failure is reproducible. Under DARIUS_SANITIZER=1 any ASan/UBSan report in
the server's stderr is a FAIL (darius_test.Server.cleanup).
"""

import os
import random
import resource
import selectors
import socket
import ssl
import sys
import threading
import time

import darius_test as dt

R = dt.Report("hostile")
SCALE = dt.timeout_scale()
SEED = int(os.environ.get("DARIUS_HOSTILE_SEED", "1994"))
rng = random.Random(SEED)

MULTIPART = ("From: Alice <alice@example.org>\r\n"
             "To: Bob <bob@example.org>\r\n"
             "Subject: multipart\r\n"
             "Date: Mon, 7 Feb 1994 21:52:25 -0800\r\n"
             "MIME-Version: 1.0\r\n"
             "Content-Type: multipart/mixed; boundary=\"b1\"\r\n"
             "\r\n"
             "--b1\r\n"
             "Content-Type: text/plain; charset=utf-8\r\n"
             "\r\n"
             "Hello part one.\r\n"
             "--b1\r\n"
             "Content-Type: multipart/alternative; boundary=\"b2\"\r\n"
             "\r\n"
             "--b2\r\n"
             "Content-Type: text/plain\r\n"
             "\r\n"
             "inner\r\n"
             "--b2\r\n"
             "Content-Type: message/rfc822\r\n"
             "\r\n"
             "Subject: nested\r\n"
             "\r\n"
             "nested body\r\n"
             "--b2--\r\n"
             "--b1\r\n"
             "Content-Type: application/octet-stream\r\n"
             "Content-Transfer-Encoding: base64\r\n"
             "\r\n"
             "AAECAwQFBgcICQ==\r\n"
             "--b1--\r\n")

COMMANDS = ["CAPABILITY", "NOOP", "LOGOUT", "ID", "ENABLE", "STARTTLS", "AUTHENTICATE",
            "LOGIN", "SELECT", "EXAMINE", "CREATE", "DELETE", "RENAME", "SUBSCRIBE",
            "UNSUBSCRIBE", "LIST", "LSUB", "NAMESPACE", "STATUS", "APPEND", "IDLE", "CHECK",
            "CLOSE", "UNSELECT", "EXPUNGE", "SEARCH", "FETCH", "STORE", "COPY", "MOVE",
            "UID FETCH", "UID SEARCH", "UID STORE", "UID COPY", "UID MOVE", "UID EXPUNGE",
            "SORT", "UID SORT", "THREAD", "UID THREAD",
            "UID", "XYZZY", ""]
# commands that end the useful life of a fuzz connection are sent rarely
RARE = {"LOGOUT", "STARTTLS", "IDLE", "AUTHENTICATE", "DELETE", "RENAME"}

WORDS = ["ALL", "FAST", "FULL", "FLAGS", "UID", "ENVELOPE", "INTERNALDATE", "RFC822",
         "RFC822.SIZE", "RFC822.HEADER", "BODY", "BODY.PEEK", "BODYSTRUCTURE", "BINARY",
         "BINARY.SIZE", "MODSEQ", "HEADER", "HEADER.FIELDS", "TEXT", "MIME", "CHANGEDSINCE",
         "VANISHED", "NOT", "OR", "SEEN", "KEYWORD", "LARGER", "SINCE", "BEFORE", "ON",
         "SUBJECT", "FROM", "CHARSET", "UTF-8", "KOI8-R", "RETURN", "MIN", "MAX", "COUNT",
         "SAVE", "MESSAGES", "UIDNEXT", "UNSEEN", "SIZE", "NIL", "INBOX", "\\Seen",
         "\\Deleted", "\\Recent", "\\*", "\\Bogus", "$Junk", "+FLAGS", "-FLAGS.SILENT",
         "FLAGS.SILENT", "1-Feb-1994", "99-Foo-0", '"17-Jul-1996 02:44:25 -0700"',
         '"31-Feb-2025 99:99:99 +9999"', "&AGE-", "&-", "&2D3cAA-", "Trash", "a/b/c",
         "CONDSTORE", "QRESYNC", "IMAP4rev2", "UTF8=ACCEPT", "PLAIN", "SCRAM-SHA-256",
         "RETURN (CHILDREN SPECIAL-USE STATUS (MESSAGES))", "(SUBSCRIBED RECURSIVEMATCH)"]


def gen_number():
    c = rng.randrange(8)
    if c == 0:
        return "0"
    if c == 1:
        return "4294967295"
    if c == 2:
        return "4294967296"
    if c == 3:
        return "9" * rng.randrange(10, 40)
    return str(rng.randrange(1, 12))


def gen_seqset():
    parts = []
    for _ in range(rng.randrange(1, 6)):
        a = "*" if rng.randrange(5) == 0 else gen_number()
        if rng.randrange(2):
            a += ":" + ("*" if rng.randrange(3) == 0 else gen_number())
        parts.append(a)
    return ",".join(parts)


def gen_quoted():
    out = '"'
    for _ in range(rng.randrange(10)):
        out += rng.choice(["a", "b", "\\\\", '\\"', "\\", "\u00e9", "\x00", "\r", "\n", "\xff", "%", "*"])
    return out + ('"' if rng.randrange(8) else "")


def gen_literal():
    data = bytes(rng.randrange(256) if rng.randrange(6) == 0 else rng.randrange(65, 90)
                 for _ in range(rng.randrange(8)))
    n = len(data)
    c = rng.randrange(8)
    if c == 0:
        n += rng.randrange(1, 4)       # announces more than is sent
    elif c == 1 and n:
        n -= 1
    plus = "+" if rng.randrange(2) else ""
    pre = "~" if rng.randrange(8) == 0 else ""
    return (pre + "{%d%s}\r\n" % (n, plus)).encode("latin-1") + data


def gen_token(depth=0):
    """bytes of one random token"""
    c = rng.randrange(16)
    if depth > 5:
        return b"x"
    if c < 5:
        w = rng.choice(WORDS)
        if rng.randrange(4) == 0:
            w += "[" + ".".join(gen_number() for _ in range(rng.randrange(4)))
            if rng.randrange(2):
                w += rng.choice([".HEADER", ".TEXT", ".MIME", "HEADER.FIELDS (Subject From)", "TEXT"])
            if rng.randrange(6):
                w += "]"
            if rng.randrange(3) == 0:
                w += "<%s.%s>" % (gen_number(), gen_number())
        return w.encode("utf-8")
    if c == 5:
        return gen_number().encode()
    if c in (6, 7):
        return gen_seqset().encode()
    if c == 8:
        return gen_quoted().encode("utf-8", "surrogateescape")
    if c == 9:
        return gen_literal()
    if c in (10, 11):
        inner = b" ".join(gen_token(depth + 1) for _ in range(rng.randrange(4)))
        return b"(" + inner + (b")" if rng.randrange(8) else b"")
    if c == 12:
        return b"$"
    if c == 13:
        return bytes([rng.choice(b"\x00\r\n\x80\xff()[]{}%*\"\\ ~<>")])
    if c == 14:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 8)))
    return b"a" + str(rng.randrange(100)).encode()


def gen_command(tag, allow_rare=False):
    if rng.randrange(2):
        return (tag + " " + semi_valid()).encode("utf-8", "surrogateescape") + b"\r\n"
    name = rng.choice(COMMANDS)
    while name in RARE and not allow_rare:
        name = rng.choice(COMMANDS)
    if rng.randrange(10) == 0:
        name = name.lower()
    args = b" ".join(gen_token() for _ in range(rng.randrange(0, 6)))
    line = tag.encode() + b" " + name.encode() + (b" " + args if args else b"")
    return line + b"\r\n"


FETCH_ATTS = ["FLAGS", "UID", "ENVELOPE", "BODYSTRUCTURE", "BODY", "RFC822.SIZE", "INTERNALDATE",
              "MODSEQ", "EMAILID", "THREADID", "SAVEDATE", "BINARY.SIZE[1]", "BINARY[2.1]",
              "BODY.PEEK[]", "BODY[HEADER]", "BODY[TEXT]<0.10>", "BODY[1]", "BODY[2.2.HEADER]",
              "BODY[2.2.1]", "BODY[3.MIME]", "BODY.PEEK[HEADER.FIELDS (SUBJECT FROM)]",
              "BODY[HEADER.FIELDS.NOT (DATE)]<5.4294967295>", "BODY[9.9.9]", "BINARY[3]",
              "BINARY.PEEK[1]<4294967295.1>", "RFC822", "RFC822.HEADER", "RFC822.TEXT", "ALL", "FULL"]
SEARCH_KEYS = ["ALL", "SEEN", "UNSEEN", "NEW", "OLD", "RECENT", "DELETED", "LARGER 10", "SMALLER 0",
               "SUBJECT multipart", "BODY part", "TEXT \"nested\"", "HEADER Content-Type mixed",
               "FROM alice", "SINCE 1-Jan-1990", "BEFORE 1-Jan-2100", "SENTON 7-Feb-1994",
               "KEYWORD $Junk", "UID 1:*", "1:3", "$", "MODSEQ 1", "OLDER 1", "YOUNGER 100000",
               "EMAILID Mx", "SAVEDATESUPPORTED", "TEXT {3+}\r\n\xc3\xa9x"]
MBOXES = ["INBOX", "inbox", "Trash", "\"a b\"", "&AGE-", "&Jjo-", "x/y", "\"\"", "INBOX/sub",
          "\"\xc3\xa9t\xc3\xa9\"", "%", "*", "{3+}\r\nabc", "\"&\""]


def semi_valid():
    """A well-formed-looking command with random parts (str)."""
    seq = gen_seqset() if rng.randrange(3) else rng.choice(["1", "1:*", "2,4", "*", "$", "1:2"])
    c = rng.randrange(14)
    if c == 0:
        atts = [rng.choice(FETCH_ATTS) for _ in range(rng.randrange(1, 5))]
        return "%sFETCH %s (%s)%s" % (rng.choice(["", "UID "]), seq, " ".join(atts),
                                      rng.choice(["", " (CHANGEDSINCE 1)", " (CHANGEDSINCE 1 VANISHED)",
                                                  " (CHANGEDSINCE 18446744073709551615)"]))
    if c == 1 and rng.randrange(3) == 0:
        keys = " ".join(rng.choice(SEARCH_KEYS + ["NOT", "OR", "(", ")"]) for _ in range(rng.randrange(1, 8)))
        crit = " ".join(rng.choice(["ARRIVAL", "CC", "DATE", "FROM", "SIZE", "SUBJECT", "TO", "DISPLAYFROM",
                                    "DISPLAYTO", "REVERSE", "BOGUS", "(", ")"])
                        for _ in range(rng.randrange(0, 6)))
        return "%sSORT %s(%s) %s %s" % (rng.choice(["", "UID "]),
                                        rng.choice(["", "RETURN (MIN MAX) ", "RETURN (SAVE) ", "RETURN () ",
                                                    "RETURN (COUNT ALL) "]),
                                        crit, rng.choice(["UTF-8", "US-ASCII", "BOGUS", "ISO-8859-1", ""]), keys)
    if c == 1 and rng.randrange(3) == 0:
        keys = " ".join(rng.choice(SEARCH_KEYS + ["NOT", "OR", "(", ")"]) for _ in range(rng.randrange(0, 8)))
        return "%sTHREAD %s %s %s" % (rng.choice(["", "UID "]),
                                      rng.choice(["REFERENCES", "REFS", "ORDEREDSUBJECT", "refs", "BOGUS", "(REFS)",
                                                  '"REFS"', ""]),
                                      rng.choice(["UTF-8", "US-ASCII", '"utf-8"', "BOGUS", "ISO-8859-1", ""]), keys)
    if c == 1:
        keys = " ".join(rng.choice(SEARCH_KEYS + ["NOT", "OR", "(", ")"]) for _ in range(rng.randrange(1, 8)))
        return "%sSEARCH %s%s%s" % (rng.choice(["", "UID "]),
                                    rng.choice(["", "RETURN (MIN MAX) ", "RETURN (SAVE) ", "RETURN () ",
                                                "RETURN (COUNT ALL) "]),
                                    rng.choice(["", "CHARSET UTF-8 ", "CHARSET BOGUS ", "CHARSET ISO-8859-1 "]),
                                    keys)
    if c == 2:
        return "%sSTORE %s %s%s %s(%s)" % (rng.choice(["", "UID "]), seq, rng.choice(["", "+", "-"]),
                                           rng.choice(["FLAGS", "FLAGS.SILENT"]),
                                           rng.choice(["", "(UNCHANGEDSINCE 0) ", "(UNCHANGEDSINCE 5) "]),
                                           " ".join(rng.choice(["\\Seen", "\\Flagged", "$Junk", "kw%d"
                                                                % rng.randrange(50)])
                                                    for _ in range(rng.randrange(4))))
    if c == 3:
        return "%s%s %s %s" % (rng.choice(["", "UID "]), rng.choice(["COPY", "MOVE"]), seq, rng.choice(MBOXES))
    if c == 4:
        return "LIST %s %s%s" % (rng.choice(['""', "INBOX", '"x/"', "(SUBSCRIBED) \"\"", "(SPECIAL-USE) \"\""]),
                                 rng.choice(MBOXES + ["(* %)", '"*/%/*"']),
                                 rng.choice(["", " RETURN (CHILDREN)", " RETURN (STATUS (MESSAGES UNSEEN SIZE))",
                                             " RETURN (SPECIAL-USE SUBSCRIBED)"]))
    if c == 5:
        return "STATUS %s (%s)" % (rng.choice(MBOXES), " ".join(rng.choice(
            ["MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "RECENT", "HIGHESTMODSEQ", "SIZE", "DELETED",
             "MAILBOXID", "BOGUS"]) for _ in range(rng.randrange(4))))
    if c == 6:
        return "%s %s%s" % (rng.choice(["SELECT", "EXAMINE"]), rng.choice(MBOXES[:3] + ["INBOX"] * 3),
                            rng.choice(["", " (CONDSTORE)", " (QRESYNC (1 2))", " (QRESYNC (1 2 1:5 (1:3 1:3)))",
                                        " (QRESYNC (4294967295 18446744073709551615 1:* (1 1:*)))", " (BOGUS)"]))
    if c == 7:
        return "ENABLE %s" % " ".join(rng.choice(["CONDSTORE", "QRESYNC", "UTF8=ACCEPT", "IMAP4rev2", "X"])
                                      for _ in range(rng.randrange(1, 4)))
    if c == 8:
        return "%s %s" % (rng.choice(["CREATE", "SUBSCRIBE", "UNSUBSCRIBE", "DELETE"]),
                          rng.choice(MBOXES[2:] + ["a/b/c", "a//b", "/x", "x/", "INBOX/" + "y/" * 50]))
    if c == 9:
        return "RENAME %s %s" % (rng.choice(MBOXES[2:]), rng.choice(MBOXES[2:]))
    if c == 10:
        return "APPEND %s %s %s {%d+}\r\n%s" % (
            rng.choice(["INBOX", "Trash", "nosuch"]), rng.choice(["", "()", "(\\Seen $Junk)", "(\\Recent)"]),
            rng.choice(["", '"7-Feb-1994 21:52:25 -0800"', '"7-Feb-1994 21:52:25"']), 20, "Subject: x\r\n\r\nbody\r\n")
    if c == 11:
        return "ID %s" % rng.choice(["NIL", "()", '("name" "x" "version" NIL)', '("a")', "(" + '"k" "v" ' * 40 + ")"])
    if c == 12:
        return rng.choice(["EXPUNGE", "UID EXPUNGE " + seq, "CLOSE", "UNSELECT", "CHECK", "NAMESPACE", "NOOP"])
    return "%sFETCH %s %s" % (rng.choice(["", "UID "]), seq, rng.choice(FETCH_ATTS))


# ---- server and health -------------------------------------------------------

class Ctx:
    payloads = []   # what the fuzz sub-tests sent (saved when one fails)
    srv = None
    workers = []
    master = None


def login(srv, user="alice", pw="secret", tls=False):
    c = srv.client(tls=tls)
    c.greeting()
    c.ok("LOGIN %s %s" % (user, pw))
    return c


def populate(srv):
    c = login(srv, "bob", "secret2")
    u, _ = c.ok("SELECT INBOX")
    exists = [int(r.text.split()[1]) for r in u if r.text.split()[2:3] == ["EXISTS"]]
    have = exists[-1] if exists else 0
    for i in range(have, 4):
        msg = MULTIPART if i == 1 else dt.sample_message(i + 1)
        c.ok("APPEND INBOX (\\Seen) %L", [msg])
    c.logout()


def health():
    """New connection, LOGIN + SELECT + FETCH work; workers unchanged."""
    srv = Ctx.srv
    if srv.proc is None or srv.proc.poll() is not None:
        raise dt.TestFailure("master died (status %s)" % (srv.proc.poll() if srv.proc else None))
    c = login(srv)
    c.ok("SELECT INBOX")
    u, _ = c.ok("FETCH 1:* (UID FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    if not any(" FETCH " in r.text for r in u):
        raise dt.TestFailure("FETCH returned no data")
    c.logout()
    now = srv.worker_pids()
    if now != Ctx.workers:
        raise dt.TestFailure("worker PIDs changed %s -> %s (a worker died)" % (Ctx.workers, now))


def save_payloads(name):
    """Write the fuzz payloads of a failed sub-test to a file (reproducer)."""
    if not Ctx.payloads:
        return ""
    import tempfile
    fd, path = tempfile.mkstemp(prefix="hostile-repro-", suffix=".txt")
    with os.fdopen(fd, "w") as f:
        f.write("# %s, seed %d: one connection per line, Python bytes literal\n" % (name, SEED))
        for p in Ctx.payloads:
            f.write(repr(p) + "\n")
    return " (payloads in %s)" % path


def subtest(name, fn):
    t0 = time.monotonic()
    Ctx.payloads = []
    try:
        detail = fn()
        health()
        R.ok(name, "%s%.1fs" % ((str(detail) + ", ") if detail else "", time.monotonic() - t0))
    except Exception as e:  # noqa: BLE001 - every error is a failure
        R.fail(name, "%s: %s%s" % (type(e).__name__, e, save_payloads(name)))
        # keep going with fresh worker PIDs so one crash is not counted twice
        Ctx.workers = Ctx.srv.worker_pids()


def raw(srv, tls=False, port=None):
    s = socket.create_connection((srv.host, port or (srv.tls_port if tls else srv.port)),
                                 timeout=5 * SCALE)
    return s


def drain(sock, deadline_s, until=None):
    """Read until EOF, the deadline, or `until` seen; returns the bytes."""
    out = bytearray()
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        sock.settimeout(max(0.05, end - time.monotonic()))
        try:
            d = sock.recv(65536)
        except socket.timeout:
            break
        except (ConnectionResetError, BrokenPipeError, ssl.SSLError, OSError):
            break
        if not d:
            break
        out += d
        if until is not None and until in out:
            break
    return bytes(out)


def send_quiet(sock, data):
    """sendall that tolerates the server closing the connection."""
    try:
        sock.sendall(data)
        return True
    except (BrokenPipeError, ConnectionResetError, socket.timeout, OSError):
        return False


# ---- fuzz ------------------------------------------------------------------------

def fuzz_state(state, conns, cmds):
    srv = Ctx.srv
    replies = 0
    for _ in range(conns):
        s = raw(srv)
        drain(s, 2 * SCALE, until=b"\r\n")
        pre = b""
        if state in ("auth", "selected"):
            pre += b"L1 LOGIN bob secret2\r\n"
        if state == "selected":
            pre += b"L2 SELECT INBOX\r\n"
        body = b"".join(gen_command("f%d" % i, allow_rare=(i == cmds - 1)) for i in range(cmds))
        Ctx.payloads.append(pre + body)
        if not send_quiet(s, pre + body):
            s.close()
            continue
        # half-close: the server sees EOF after our commands and must finish
        # or drop the connection cleanly
        try:
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        out = drain(s, 3 * SCALE)
        replies += out.count(b"\r\n")
        s.close()
    return "%d connections, %d response lines" % (conns, replies)


def fuzz_tls(conns, cmds):
    """Grammar fuzz inside TLS (IMAPS port and STARTTLS), selected state."""
    srv = Ctx.srv
    lines = 0
    for k in range(conns):
        c = srv.client(tls=(k % 2 == 0))
        c.greeting()
        if k % 2:
            c.starttls()
        c.ok("LOGIN bob secret2")
        c.ok("SELECT INBOX")
        body = b"".join(gen_command("f%d" % i) for i in range(cmds))
        Ctx.payloads.append(body)
        # a literal in the garbage may swallow the LOGOUT: then the read
        # deadline ends the connection
        try:
            c.sock.sendall(body + b"\r\nzz LOGOUT\r\n")
        except (OSError, ssl.SSLError):
            pass
        lines += drain(c.sock, 2 * SCALE, until=b"zz OK").count(b"\r\n")
        c.close()
    return "%d connections, %d response lines" % (conns, lines)


def fuzz_random_bytes():
    srv = Ctx.srv
    n = 0
    for k in range(40):
        s = raw(srv, tls=(k % 5 == 4))
        blob = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 3000)))
        if k % 3 == 0:
            blob = b"a1 LOGIN bob secret2\r\nb1 SELECT INBOX\r\n" + blob
        Ctx.payloads.append(blob)
        send_quiet(s, blob)
        try:
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        n += len(drain(s, 2 * SCALE))
        s.close()
    return "%d bytes back" % n


def fuzz_special():
    """AUTHENTICATE with garbage, IDLE then garbage, APPEND with garbage."""
    srv = Ctx.srv
    c = srv.client()
    c.greeting()
    for mech, resp in [("PLAIN", "!!!not base64!!!"), ("PLAIN", "AGJvYgB4"), ("PLAIN", "="),
                       ("SCRAM-SHA-256", "biwsbj1ib2Iscj1hYmM="), ("SCRAM-SHA-256", "Zm9vYmFy"),
                       ("LOGIN", "\x00\xff"), ("XYZ", "AAAA"), ("PLAIN", "*"),
                       ("SCRAM-SHA-1", "\xff" * 3000), ("PLAIN", "=" * 9000)]:
        tag = c.next_tag()
        try:
            c.send("%s AUTHENTICATE %s" % (tag, mech))
            while True:
                r = c.read()
                if r.text.startswith("+"):
                    c.send_raw(resp.encode("utf-8", "surrogateescape") + b"\r\n")
                    continue
                if r.text.startswith(tag + " "):
                    if " OK" in r.text[:len(tag) + 4]:
                        raise dt.TestFailure("garbage AUTHENTICATE accepted: " + r.render())
                    break
        except (EOFError, OSError):
            # "* BYE Too many authentication failures" closes: reconnect
            c.close()
            c = srv.client()
            c.greeting()
    c.send(("i1 AUTHENTICATE PLAIN " + "A" * 5000))
    c.collect("i1")
    c.close()
    c = srv.client()
    c.greeting()
    c.ok("LOGIN bob secret2")
    c.ok("SELECT INBOX")
    for flags, date, lit in [("(\\Bogus)", "", b"x"), ("(\\Seen", "", b"x"),
                             ("", '"99-Foo-99999 99:99:99 +9999"', b"x"),
                             ("(\\Seen)", '"1-Jan-1970 00:00:00 -2359"', b"\x00\x00"),
                             ("((()))", "", b"")]:
        tag = c.next_tag()
        c.send_raw(("%s APPEND INBOX %s %s {%d+}\r\n" % (tag, flags, date, len(lit))).encode() + lit + b"\r\n")
        c.collect(tag)
    # IDLE then garbage instead of DONE
    c.send("id1 IDLE")
    r = c.read()
    if not r.text.startswith("+"):
        raise dt.TestFailure("IDLE: " + r.render())
    c.send_raw(b"\x00\xffgarbage {5}\r\nDONEX\r\n")
    out = drain(c.sock, 2 * SCALE, until=b"id1 ")
    c.close()
    if b"id1 OK" in out:
        raise dt.TestFailure("IDLE ended OK by garbage instead of DONE")
    return None


def hostile_messages():
    """Malformed messages: APPEND then FETCH every structure item and
    SEARCH the text, in a separate mailbox."""
    def nested_multipart(depth):
        head = ""
        tail = ""
        for i in range(depth):
            head += "Content-Type: multipart/mixed; boundary=\"b%d\"\r\n\r\n--b%d\r\n" % (i, i)
            tail = "\r\n--b%d--\r\n" % i + tail
        return "Subject: deep\r\n" + head + "Content-Type: text/plain\r\n\r\nleaf" + tail

    def nested_rfc822(depth):
        return "Subject: r\r\n" + "Content-Type: message/rfc822\r\n\r\nSubject: r\r\n" * depth + "\r\nbody\r\n"

    msgs = [
        nested_multipart(300).encode(),
        nested_rfc822(300).encode(),
        b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n--x\r\n--x--\r\n--x\r\n",
        b"Content-Type: multipart/mixed\r\n\r\nno boundary param\r\n",
        b"Content-Type: multipart/mixed; boundary=\"\"\r\n\r\n--\r\n\r\n----\r\n",
        b"Subject: " + b"x" * 60000 + b"\r\n\r\nlong header line\r\n",
        b"".join(b"X-H%d: v\r\n" % i for i in range(20000)) + b"\r\nmany headers\r\n",
        b"Subject: =?utf-8?B?!!!?= =?x?Q?=ZZ=?= =?UTF-8?Q?=C3?= =?" + b"A" * 5000 + b"?=\r\n"
        b"From: \"unterminated <a@b\r\nTo: ,,,,@,<<>>,\"\\\r\nCc: (((((((((((((((((((((((((((\r\n"
        b"Date: Mon, 99 Foo 99999 99:99:99 +9999\r\nIn-Reply-To: <<<<\r\n"
        b"Content-Type: text/plain; charset=\"x-unknown-charset\"; format=flowed; " + b"p=v; " * 3000 + b"\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n!!!!====AAAA@@@@\r\n",
        b"Content-Type: text/plain; charset=utf-7\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
        b"=\r\n=Z=\xff\xfe=00=0D=0A+AGE-+ZZZ-+\r\n",
        b"Content-Type: text/plain; charset=iso-2022-jp\r\n\r\n\x1b$B\x1b(J\x1b$)C\x0e\x0f\xff\r\n",
        b"MIME-Version: 1.0\r\nContent-Type: message/rfc822\r\n\r\n",
        b"\r\n",
        b"no header separator at all" + b"\n" * 5000 + b"\r" * 5000,
        b"Content-Type: multipart/alternative; boundary=a\r\n\r\n" + b"--a\r\n\r\n" * 5000 + b"--a--",
        b"Content-Disposition: attachment; filename*0*=utf-8''%FF%FE; filename*1=x; filename*99999999999=y\r\n"
        b"Content-Language: " + b"en," * 5000 + b"\r\nContent-Location: \x00\r\n\r\nx\r\n",
    ]
    c = login(Ctx.srv, "bob", "secret2")
    c.command("CREATE hostile")
    c.ok("SELECT hostile")
    stored = 0
    for m in msgs:
        tag = c.next_tag()
        # binary literal (RFC 3516) so that NUL and bare CR/LF are allowed
        c.send_raw(("%s APPEND hostile ~{%d+}\r\n" % (tag, len(m))).encode() + m + b"\r\n")
        _, t = c.collect(tag)
        stored += t.text.startswith(tag + " OK")
    res = ["%d/%d stored" % (stored, len(msgs))]
    for cmd in ["FETCH 1:* (BODYSTRUCTURE ENVELOPE BODY RFC822.SIZE)",
                "FETCH 1:* (BODY.PEEK[1] BODY.PEEK[1.1] BODY.PEEK[1.1.1.1.1.1.1] BODY.PEEK[2.MIME])",
                "FETCH 1:* (BINARY.PEEK[1] BINARY.SIZE[1] BINARY.PEEK[1.1.1])",
                "FETCH 1:* (BODY.PEEK[HEADER] BODY.PEEK[TEXT]<0.100> BODY.PEEK[1.HEADER] BODY.PEEK[1.TEXT])",
                "FETCH 1:* (BINARY.PEEK[] BINARY.SIZE[])",
                "SEARCH TEXT leaf", "SEARCH BODY zzz", "SEARCH CHARSET UTF-8 SUBJECT \u00e9",
                "SEARCH HEADER X-H19999 v", "SEARCH FROM a@b", "SEARCH SENTBEFORE 1-Jan-2000"]:
        t0 = time.monotonic()
        try:
            _, t = c.command(cmd)
        except EOFError:
            raise dt.TestFailure("connection closed by %s" % cmd)
        if time.monotonic() - t0 > 10 * SCALE:
            raise dt.TestFailure("%s took %.1fs" % (cmd, time.monotonic() - t0))
        res.append(t.text.split(" ", 2)[1])
    c.ok("CLOSE")
    c.ok("DELETE hostile")
    c.logout()
    return " ".join(res)


def racing_sessions():
    """Two sessions of one user: one pipelines FETCH/STORE/SEARCH/IDLE on a
    mailbox while the other expunges, renames, deletes and re-creates it."""
    srv = Ctx.srv
    a = login(srv, "bob", "secret2")
    b = login(srv, "bob", "secret2")
    a.command("CREATE race")
    msg = dt.sample_message(5)
    for i in range(6):
        a.ok("APPEND race %L", [msg])
    for rnd in range(6):
        pa = [b"a%d SELECT race (CONDSTORE)" % rnd]
        for i in range(40):
            pa.append(rng.choice([b"FETCH 1:* (FLAGS UID MODSEQ BODY.PEEK[HEADER])", b"UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)",
                                  b"STORE 1:* +FLAGS (\\Deleted)", b"UID STORE 2:* -FLAGS.SILENT (\\Seen)",
                                  b"SEARCH RETURN (SAVE) ALL", b"FETCH $ (UID)", b"UID MOVE 1:3 INBOX",
                                  b"COPY 1:* race", b"NOOP", b"EXPUNGE", b"UID SEARCH DELETED"]))
        pa = b"".join(b"r%d_%d %s\r\n" % (rnd, i, x) if not x.startswith(b"a%d " % rnd) else x + b"\r\n"
                      for i, x in enumerate(pa))
        pb = b"".join(b"q%d_%d %s\r\n" % (rnd, i, x) for i, x in enumerate([
            b"SELECT race", b"STORE 1:* +FLAGS (\\Deleted)", b"EXPUNGE", b"CLOSE",
            b"RENAME race race2", b"RENAME race2 race", b"DELETE race", b"CREATE race",
            b"APPEND race {%d+}\r\n" % len(msg) + msg.encode(), b"APPEND race {%d+}\r\n" % len(msg) + msg.encode()]))
        a.send_raw(pa)
        b.send_raw(pb)
        # both pipelines must finish (their last tags answered); a server
        # may end a session whose mailbox was deleted with BYE: reconnect
        try:
            a.collect("r%d_40" % rnd)
        except EOFError:
            a.close()
            a = login(srv, "bob", "secret2")
        b.collect("q%d_9" % rnd)
    # a may still have the old "race" selected, which b deleted: the server
    # then ends a's session with * BYE [NONEXISTENT] (docs/architecture.md),
    # which is correct here; the health check after this subtest verifies
    # that no worker died.
    try:
        a.send("i1 IDLE")
        while True:
            r = a.read()
            if r.text.startswith("* BYE"):
                if "NONEXISTENT" not in r.text:
                    raise dt.TestFailure("unexpected BYE: " + r.render())
                raise EOFError
            if r.text.startswith("i1 "):
                break
            if r.text.startswith("+"):
                a.send("DONE")
                a.collect("i1")
                break
        a.logout()
    except (EOFError, ConnectionError):
        a.close()
    b.command("DELETE race")
    b.logout()
    return None


# ---- nesting ---------------------------------------------------------------------

def timed(c, cmd, limit):
    t0 = time.monotonic()
    u, t = c.command(cmd)
    dtm = time.monotonic() - t0
    if dtm > limit * SCALE:
        raise dt.TestFailure("%s... took %.1fs" % (cmd[:30], dtm))
    return t.text.split(" ", 2)[1], dtm


def nesting():
    c = login(Ctx.srv, "bob", "secret2")
    c.ok("SELECT INBOX")
    res = []
    st, _ = timed(c, "SEARCH " + "(" * 10000 + "ALL" + ")" * 10000, 5)
    if st not in ("BAD", "NO"):
        raise dt.TestFailure("10,000 nested parentheses: " + st)
    res.append("parens " + st)
    st, _ = timed(c, "SEARCH " + "NOT " * 10000 + "ALL", 5)
    if st not in ("BAD", "NO"):
        raise dt.TestFailure("NOT x 10,000: " + st)
    res.append("NOTs " + st)
    st, _ = timed(c, "SEARCH " + "OR ALL " * 5000 + "ALL", 5)
    res.append("ORs " + st)
    st, _ = timed(c, "FETCH 2 BODY[" + ".".join(str(i % 9 + 1) for i in range(1000)) + "]", 5)
    res.append("BODY[1000 levels] " + st)
    st, _ = timed(c, "FETCH 1:* BINARY[" + ".".join("1" for i in range(30)) + "]", 5)
    for pat in ("*" * 10000, "%" * 10000, "*%" * 5000 + "x", "%*" * 5000 + "INBOX/x"):
        st, d = timed(c, 'LIST "" "%s"' % pat, 3)
        res.append("LIST %s.. %s %.2fs" % (pat[:2], st, d))
    c.ok("CREATE a/b/c/d/e/f/g/h/i/j")
    for pat in ("*" * 10000 + "z", "%/" * 3000 + "z"):
        st, d = timed(c, 'LIST "" "%s"' % pat, 3)
        res.append("LIST %.2fs" % d)
    c.logout()
    return "; ".join(res)


def big_arguments():
    """Many keys, keywords, header names, long and deep mailbox names."""
    c = login(Ctx.srv, "bob", "secret2")
    c.ok("SELECT INBOX")
    res = []
    for cmd in ["SEARCH " + "SEEN " * 12000 + "ALL",
                "SEARCH " + " ".join("KEYWORD k%d" % i for i in range(5000)),
                "SEARCH SUBJECT {60000+}\r\n" + "x" * 60000,
                "SEARCH HEADER " + "X" * 30000 + " y",
                "FETCH 1:* (BODY.PEEK[HEADER.FIELDS (%s)])" % " ".join("X-%d" % i for i in range(5000)),
                "FETCH 1:* (" + " ".join(["FLAGS", "UID", "BODY[1]", "BINARY.SIZE[1]"] * 1500) + ")",
                "STORE 1 +FLAGS (" + " ".join("kw%d" % i for i in range(3000)) + ")",
                "STORE 1 +FLAGS (" + "k" * 20000 + ")",
                "CREATE " + "d/" * 2000 + "x",
                "CREATE " + "n" * 30000,
                "CREATE " + "&" + "A" * 20000 + "-",
                'LIST "" ' + "d/" * 2000 + "*",
                "RENAME INBOX " + "r/" * 500 + "x",
                "SELECT " + "d/" * 2000 + "x",
                "SELECT INBOX",
                "ID (" + " ".join('"k%d" "v"' % i for i in range(2000)) + ")",
                "ENABLE " + " ".join(["CONDSTORE", "QRESYNC", "UTF8=ACCEPT", "X"] * 2000)]:
        tag = c.next_tag()
        c.send_raw((tag + " " + cmd + "\r\n").encode())
        try:
            _, t = c.collect(tag)
        except EOFError:
            res.append("closed")
            c = login(Ctx.srv, "bob", "secret2")
            c.ok("SELECT INBOX")
            continue
        res.append(t.text.split(" ", 2)[1])
    c.logout()
    populate(Ctx.srv)
    return " ".join(res)


def huge_seqsets():
    """100,000 ranges: on a second server with maxline 2 MB."""
    s = dt.Server(start=False, config={"maxline": "2097152"})
    try:
        s.add_user("bob", "secret2")
        s.start()
        c = login(s, "bob", "secret2")
        c.ok("SELECT INBOX")
        c.ok("APPEND INBOX %L", [dt.sample_message(1)])
        # 100,000 ranges in under 1 MB (the command size limit)
        seq = ",".join("%d" % (2 * i + 1) for i in range(100000))
        seq2 = ",".join("%d:%d" % (9 * i + 1, 9 * i + 4) for i in range(60000))
        res = []
        for cmd in ("UID FETCH %s FLAGS" % seq, "UID FETCH %s FLAGS" % seq2, "SEARCH UID %s" % seq,
                    "UID STORE %s +FLAGS (\\Seen)" % seq, "UID COPY %s INBOX" % seq2,
                    "UID SEARCH NOT UID %s" % seq2, "UID FETCH %s,1 UID" % seq,
                    "FETCH 4294967295:1,99999999999 UID", "UID SEARCH 1:4294967295,*:*,$"):
            t0 = time.monotonic()
            u, t = c.command(cmd)
            d = time.monotonic() - t0
            if d > 10 * SCALE:
                raise dt.TestFailure("%s took %.1fs" % (cmd[:20], d))
            res.append("%s %.2fs" % (t.text.split(" ", 2)[1], d))
            if cmd.startswith("UID FETCH") and cmd.endswith(" FLAGS") and " OK" not in t.text[:6]:
                raise dt.TestFailure("100,000 ranges refused: " + t.render()[:100])
        c.logout()
        s.stop()
        if s.sanitizer_reports():
            raise dt.TestFailure("sanitizer report")
        return ", ".join(res)
    finally:
        s.cleanup()


def fd_exhaustion():
    """A server whose workers run out of file descriptors (RLIMIT_NOFILE
    128, 600 connections): no crash, no busy loop on accept(), and service
    resumes when the connections go away."""
    s = dt.Server(start=False)
    socks = []
    try:
        s.add_user("bob", "secret2")
        old = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (128, old[1]))   # inherited by dariusd
        try:
            s.start()
        finally:
            resource.setrlimit(resource.RLIMIT_NOFILE, old)
        deadline = time.monotonic() + 10 * SCALE
        while len(s.worker_pids()) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)   # polling /proc for the workers, with a deadline
        workers = s.worker_pids()
        for _ in range(600):
            try:
                socks.append(socket.create_connection((s.host, s.port), timeout=2))
            except OSError:
                break
        cpu0 = [int(open("/proc/%d/stat" % p).read().split()[13]) for p in workers]
        # one second's window: count greetings, then compare the workers' CPU
        sel = selectors.DefaultSelector()
        for x in socks:
            x.setblocking(False)
            sel.register(x, selectors.EVENT_READ)
        greeted = 0
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            for key, _ in sel.select(timeout=max(0.01, end - time.monotonic())):
                sel.unregister(key.fileobj)
                try:
                    if key.fileobj.recv(100).startswith(b"* OK"):
                        greeted += 1
                except OSError:
                    pass
        sel.close()
        cpu1 = [int(open("/proc/%d/stat" % p).read().split()[13]) for p in workers]
        busy = max(b - a for a, b in zip(cpu0, cpu1))
        if busy > 50:   # clock ticks of user time in the 1 s window (100 Hz)
            raise dt.TestFailure("a worker spins while out of descriptors (%d ticks/s)" % busy)
        for x in socks:
            x.close()
        socks = []
        deadline = time.monotonic() + 10 * SCALE
        while True:
            try:
                c = login(s, "bob", "secret2")
                c.ok("SELECT INBOX")
                c.logout()
                break
            except (dt.TestFailure, EOFError, OSError):
                if time.monotonic() > deadline:
                    raise dt.TestFailure("no login possible after the descriptors were released")
        if s.worker_pids() != workers:
            raise dt.TestFailure("worker PIDs changed %s -> %s" % (workers, s.worker_pids()))
        s.stop()
        return "%d connections, %d greeted, %d ticks/s" % (600, greeted, busy)
    finally:
        for x in socks:
            x.close()
        s.cleanup()


# ---- limits ---------------------------------------------------------------------

def status_of(data, tag):
    for line in data.split(b"\r\n"):
        if line.startswith(tag + b" "):
            return line.decode("latin-1")
    return None


def long_line():
    c = Ctx.srv.client()
    c.greeting()
    c.send_raw(b"x1 NOOP " + b"x" * 70000 + b"\r\n")
    try:
        r = c.read()
    except EOFError:
        return "closed"
    if "[TOOBIG]" not in r.text:
        raise dt.TestFailure("70 KB line: " + r.render()[:200])
    try:
        c.ok("NOOP")
        c.logout()
        return "BAD [TOOBIG], connection still works"
    except EOFError:
        return "[TOOBIG], closed"


def huge_literals():
    srv = Ctx.srv
    out = []
    for pre, cmd in [(b"", b"h1 LOGIN {4294967296}\r\n"),
                     (b"", b"h1 LOGIN {99999999999999999999}\r\n"),
                     (b"a LOGIN bob secret2\r\n", b"h1 APPEND INBOX {4294967296}\r\n"),
                     (b"a LOGIN bob secret2\r\n", b"h1 APPEND INBOX {99999999999999999999+}\r\n"),
                     (b"a LOGIN bob secret2\r\n", b"h1 APPEND INBOX ~{18446744073709551616}\r\n")]:
        s = raw(srv)
        drain(s, 2 * SCALE, until=b"\r\n")
        send_quiet(s, pre + cmd)
        got = drain(s, 3 * SCALE, until=b"h1 ")
        if b"\r\n+ " in b"\r\n" + got:
            raise dt.TestFailure("continuation for %r: %r" % (cmd, got[-200:]))
        send_quiet(s, b"h2 NOOP\r\n")
        got2 = drain(s, 3 * SCALE, until=b"h2 OK")
        line = status_of(got, b"h1")
        out.append((line or "closed")[:40] + (" / ok" if b"h2 OK" in got2 else " / closed"))
        s.close()
    return "; ".join(out)


class _SockHolder:
    def __init__(self, sock):
        self.sock = sock


def literal_plus_10mb_preauth():
    srv = Ctx.srv
    s = raw(srv)
    drain(s, 2 * SCALE, until=b"\r\n")
    pid = dt.socket_owner_pid(srv, _SockHolder(s))
    base = rss_kb(pid) if pid else 0
    n = 10 * 1024 * 1024
    ok = send_quiet(s, b"p1 LOGIN {%d+}\r\n" % n)
    chunk = b"A" * 65536
    sent = 0
    t0 = time.monotonic()
    s.settimeout(5 * SCALE)
    while ok and sent < n and time.monotonic() - t0 < 15 * SCALE:
        ok = send_quiet(s, chunk)
        sent += len(chunk) if ok else 0
    got = drain(s, 3 * SCALE, until=b"p1 ")
    grow = ((rss_kb(pid) if pid else 0) - base) // 1024
    if grow > (64 if dt.sanitizer() else 8):
        raise dt.TestFailure("worker RSS grew by %d MB for a refused literal+" % grow)
    line = status_of(got, b"p1") or ("BYE" if b"* BYE" in got else "closed")
    if " OK" in line:
        raise dt.TestFailure("10 MB literal+ before login accepted: " + line)
    after = "closed"
    if send_quiet(s, b"\r\np2 NOOP\r\n"):
        got = drain(s, 3 * SCALE, until=b"p2 ")
        after = (status_of(got, b"p2") or "closed")[:20]
    s.close()
    return "%s after %d KB sent; then %s" % (line[:50], sent // 1024, after)


def many_literals():
    srv = Ctx.srv
    s = raw(srv)
    drain(s, 2 * SCALE, until=b"\r\n")
    send_quiet(s, b"a LOGIN bob secret2\r\nb SELECT INBOX\r\n")
    cmd = b"m1 SEARCH CHARSET UTF-8 " + b" ".join(b"TEXT {1+}\r\nx" for _ in range(1000)) + b"\r\n"
    cmd += b"m2 ID (" + b" ".join(b"{1+}\r\nk {1+}\r\nv" for _ in range(500)) + b")\r\n"
    cmd += b"m3 NOOP\r\n"
    send_quiet(s, cmd)
    got = drain(s, 10 * SCALE, until=b"m3 ")
    s.close()
    return "SEARCH: %s; ID: %s; then %s" % ((status_of(got, b"m1") or "none")[:40],
                                             (status_of(got, b"m2") or "none")[:40],
                                             (status_of(got, b"m3") or "none")[:20])


def append_too_big():
    c = login(Ctx.srv, "bob", "secret2")
    tag = "big1"
    c.send_raw(b"big1 APPEND INBOX {2000000}\r\n")
    r = c.read()
    if r.text.startswith("+"):
        raise dt.TestFailure("continuation for an APPEND over maxmessagesize")
    if not r.text.startswith(tag + " NO") or "[TOOBIG]" not in r.text:
        raise dt.TestFailure("APPEND over maxmessagesize: " + r.render())
    c.ok("NOOP")
    # the same with LITERAL+: the server must not store it; it may read and
    # discard or close the connection (RFC 7888 4)
    ok = True
    try:
        c.send_raw(b"big2 APPEND INBOX {2000000+}\r\n" + b"x" * 2000000 + b"\r\n")
        _, t = c.collect("big2")
        if " OK" in t.text[:10]:
            raise dt.TestFailure("APPEND literal+ over maxmessagesize stored")
        c.ok("NOOP")
    except (EOFError, OSError):
        ok = False
    c.close()
    # MULTIAPPEND: each message under the limit, all together over the
    # 10 x maxmessagesize total (imap-reader.c MULTIAPPEND_MAX_FACTOR)
    c = login(Ctx.srv, "bob", "secret2")
    u, _ = c.ok("STATUS INBOX (MESSAGES)")
    before = u[-1].text
    msg = dt.sample_message(7, size=1000000)
    t0 = time.monotonic()
    _, t = c.command("APPEND INBOX" + " %L" * 12, [msg] * 12)
    multi = t.render()[:60]
    if " OK" in t.text[:8]:
        raise dt.TestFailure("MULTIAPPEND of 12 MB accepted: " + multi)
    u, _ = c.ok("STATUS INBOX (MESSAGES)")
    if u[-1].text != before:
        raise dt.TestFailure("refused MULTIAPPEND stored messages: %s -> %s" % (before, u[-1].text))
    c.logout()
    return "sync: NO [TOOBIG]; literal+: %s; 12 x 1 MB MULTIAPPEND: %s (%.1fs)" % (
        "rejected" if ok else "closed", multi, time.monotonic() - t0)


def pipelined():
    c = login(Ctx.srv, "bob", "secret2")
    c.ok("SELECT INBOX")
    data = b"".join(b"p%d %s\r\n" % (i, [b"NOOP", b"FETCH 1 FLAGS", b"UID SEARCH ALL",
                                         b"CHECK"][i % 4]) for i in range(10000))
    t0 = time.monotonic()
    th = threading.Thread(target=send_quiet, args=(c.sock, data))
    th.start()
    ok = 0
    c.settimeout(20 * SCALE)
    while True:
        r = c.read()
        if r.text.startswith("p") and " OK " in r.text[:12]:
            ok += 1
        if r.text.startswith("p9999 "):
            break
    th.join()
    c.logout()
    if ok != 10000:
        raise dt.TestFailure("%d of 10000 pipelined commands OK" % ok)
    return "10000 OK in %.1fs" % (time.monotonic() - t0)


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def never_reads():
    srv = Ctx.srv
    c = login(srv, "bob", "secret2")
    c.ok("SELECT INBOX")
    big = dt.sample_message(99, size=400 * 1024)
    c.ok("APPEND INBOX %L", [big])
    pid = dt.socket_owner_pid(srv, c)
    if pid is None:
        raise dt.TestFailure("no process owns the connection")
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    base = rss_kb(pid)
    # 300 x FETCH of every message's full content, never read: ~150 MB of output
    data = b"".join(b"r%d FETCH 1:* BODY.PEEK[]\r\n" % i for i in range(300))
    send_quiet(c.sock, data)
    peak = base
    # while the output is stuck, other clients are served and RSS stays bounded
    deadline = time.monotonic() + 2.5
    served = 0
    while time.monotonic() < deadline:
        peak = max(peak, rss_kb(pid))
        h = login(srv)
        h.ok("SELECT INBOX")
        h.ok("FETCH 1 (FLAGS)")
        h.logout()
        served += 1
    peak = max(peak, rss_kb(pid))
    c.close()
    grow = (peak - base) // 1024
    limit = 100 if dt.sanitizer() else 48
    if grow > limit:
        raise dt.TestFailure("worker RSS grew by %d MB (limit %d MB) for an unread FETCH" % (grow, limit))
    # remove the big message again so later FETCHes stay cheap
    c2 = login(srv, "bob", "secret2")
    c2.ok("SELECT INBOX")
    c2.ok("UID SEARCH LARGER 100000")
    c2.ok("SEARCH LARGER 100000")
    c2.command("STORE 1:* -FLAGS (\\Deleted)")
    c2.logout()
    return "RSS %d -> %d KB, %d other sessions served" % (base, peak, served)


def never_reads_pipeline():
    """Megabytes of pipelined commands, output never read: the server must
    stop reading (back-pressure) instead of buffering the answers."""
    srv = Ctx.srv
    c = login(srv, "bob", "secret2")
    c.ok("SELECT INBOX")
    pid = dt.socket_owner_pid(srv, c)
    if pid is None:
        raise dt.TestFailure("no process owns the connection")
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    base = rss_kb(pid)
    data = b'a NOOP\r\nb UID SEARCH ALL\r\nc LIST "" *\r\nd FETCH 1:* (FLAGS ENVELOPE)\r\n' * 200000
    sent = [0]

    def sender():
        # blocked for 2 s = the server stopped reading (the end condition;
        # the checks are the RSS bound and that not everything was taken)
        c.sock.settimeout(2.0)
        try:
            for i in range(0, len(data), 65536):
                c.sock.sendall(data[i:i + 65536])
                sent[0] = i + 65536
        except OSError:
            pass   # blocked: the server stopped reading, as it should
    th = threading.Thread(target=sender)
    th.start()
    peak = base
    served = 0
    while th.is_alive():
        peak = max(peak, rss_kb(pid))
        h = login(srv)
        h.ok("SELECT INBOX")
        h.ok("FETCH 1 (FLAGS)")
        h.logout()
        served += 1
    th.join()
    peak = max(peak, rss_kb(pid))
    c.close()
    grow = (peak - base) // 1024
    limit = 100 if dt.sanitizer() else 48
    if grow > limit:
        raise dt.TestFailure("worker RSS grew by %d MB (limit %d MB)" % (grow, limit))
    if sent[0] >= len(data):
        raise dt.TestFailure("all %d MB accepted without the client reading" % (len(data) >> 20))
    return "%d of %d KB taken, RSS %d -> %d KB, %d other sessions served" % (
        sent[0] // 1024, len(data) // 1024, base, peak, served)


def half_open_and_dropped():
    srv = Ctx.srv
    held = []
    # idle and half-sent connections
    for i in range(10):
        s = raw(srv)
        if i % 2:
            send_quiet(s, b"a1 LOG")
        held.append(s)
    # mid-literal
    s = raw(srv)
    drain(s, 2 * SCALE, until=b"\r\n")
    send_quiet(s, b"a LOGIN bob secret2\r\nb APPEND INBOX {100}\r\n")
    drain(s, 2 * SCALE, until=b"+ ")
    send_quiet(s, b"x" * 50)
    s.close()
    s = raw(srv)
    drain(s, 2 * SCALE, until=b"\r\n")
    send_quiet(s, b"l LOGIN {5}\r\n")
    drain(s, 2 * SCALE, until=b"+ ")
    s.close()
    # mid-AUTHENTICATE
    for mech in (b"PLAIN", b"SCRAM-SHA-256"):
        s = raw(srv)
        drain(s, 2 * SCALE, until=b"\r\n")
        send_quiet(s, b"a AUTHENTICATE " + mech + b"\r\n")
        drain(s, 2 * SCALE, until=b"+")
        if mech != b"PLAIN":
            send_quiet(s, b"biwsbj1ib2Iscj1hYmNkZWY=\r\n")
            drain(s, 2 * SCALE, until=b"+")
        s.close()
    # mid-IDLE, with and without pending garbage, and reset (RST)
    for tail in (b"", b"DON", b"\x00\x00\x00"):
        s = raw(srv)
        drain(s, 2 * SCALE, until=b"\r\n")
        send_quiet(s, b"a LOGIN bob secret2\r\nb SELECT INBOX\r\nc IDLE\r\n")
        drain(s, 3 * SCALE, until=b"+ ")
        send_quiet(s, tail)
        if tail == b"\x00\x00\x00":
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.close()
    # mid-TLS-handshake on the IMAPS port: nothing, half a ClientHello, garbage
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    for mode in range(3):
        s = raw(srv, tls=True)
        if mode == 1:
            inc, outg = ssl.MemoryBIO(), ssl.MemoryBIO()
            obj = ctx.wrap_bio(inc, outg, server_hostname="localhost")
            try:
                obj.do_handshake()
            except ssl.SSLWantReadError:
                pass
            hello = outg.read()
            send_quiet(s, hello[:len(hello) // 2])
        elif mode == 2:
            send_quiet(s, b"\x16\x03\x01\xff\xff" + bytes(rng.randrange(256) for _ in range(300)))
        s.close()
    # mid-STARTTLS
    for half in (True, False):
        s = raw(srv)
        drain(s, 2 * SCALE, until=b"\r\n")
        send_quiet(s, b"s STARTTLS\r\n")
        got = drain(s, 2 * SCALE, until=b"s ")
        if b"s OK" in got and half:
            inc, outg = ssl.MemoryBIO(), ssl.MemoryBIO()
            obj = ctx.wrap_bio(inc, outg, server_hostname="localhost")
            try:
                obj.do_handshake()
            except ssl.SSLWantReadError:
                pass
            hello = outg.read()
            send_quiet(s, hello[:40])
        s.close()
    # the half-open ones are still open while the health check runs
    health()
    for s in held:
        s.close()
    return None


def main():
    if dt.sanitizer():
        # ASan keeps freed memory in a quarantine (256 MB by default), which
        # would hide or fake unbounded growth in the RSS check: keep it small
        opts = os.environ.get("ASAN_OPTIONS", "")
        os.environ["ASAN_OPTIONS"] = (opts + ":" if opts else "") + "quarantine_size_mb=16"
    try:
        srv = dt.Server(start=False, config={"maxmessagesize": "1048576", "workers": "2"})
        srv.add_user("alice", "secret")
        srv.add_user("bob", "secret2")
        srv.start()
    except Exception as e:  # noqa: BLE001
        R.fail("server start", str(e))
        return R.done()
    Ctx.srv = srv
    try:
        deadline = time.monotonic() + 10 * SCALE
        while len(srv.worker_pids()) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)   # polling /proc for the workers, with a deadline
        Ctx.workers = srv.worker_pids()
        c = login(srv)
        c.ok("APPEND INBOX %L", [dt.sample_message(1)])
        c.ok("APPEND INBOX %L", [MULTIPART])
        c.logout()
        populate(srv)
        subtest("grammar fuzz, not authenticated", lambda: fuzz_state("notauth", 50, 40))
        populate(srv)
        subtest("grammar fuzz, authenticated", lambda: fuzz_state("auth", 50, 50))
        populate(srv)
        subtest("grammar fuzz, selected", lambda: fuzz_state("selected", 100, 60))
        populate(srv)
        subtest("grammar fuzz inside TLS and STARTTLS", lambda: fuzz_tls(8, 60))
        populate(srv)
        subtest("random bytes in every state (plain and TLS port)", fuzz_random_bytes)
        populate(srv)
        subtest("AUTHENTICATE garbage, IDLE garbage, APPEND garbage", fuzz_special)
        subtest("malformed messages: APPEND, FETCH structure/sections, SEARCH", hostile_messages)
        populate(srv)
        subtest("two sessions racing on one mailbox (expunge/rename/delete)", racing_sessions)
        populate(srv)
        subtest("deep nesting: SEARCH, FETCH sections, LIST patterns", nesting)
        subtest("huge sequence sets (100,000 ranges)", huge_seqsets)
        subtest("many keys, keywords, header names, huge mailbox names", big_arguments)
        subtest("70 KB line", long_line)
        subtest("literals of 2^32 and 10^20 bytes", huge_literals)
        subtest("10 MB literal+ before login", literal_plus_10mb_preauth)
        subtest("1,000 literals in one command", many_literals)
        subtest("APPEND over maxmessagesize", append_too_big)
        subtest("10,000 pipelined commands", pipelined)
        populate(srv)
        subtest("client never reads a huge FETCH", never_reads)
        subtest("client never reads, megabytes of pipelined commands", never_reads_pipeline)
        subtest("file descriptor exhaustion (RLIMIT_NOFILE 128, 600 connections)", fd_exhaustion)
        subtest("half-open connections, drops mid-literal/AUTH/IDLE/TLS/STARTTLS",
                half_open_and_dropped)
        try:
            srv.stop()
            R.ok("clean shutdown, no sanitizer report")
        except Exception as e:  # noqa: BLE001
            R.fail("clean shutdown", str(e))
    finally:
        srv.cleanup()
    return R.done()


if __name__ == "__main__":
    sys.exit(main())
