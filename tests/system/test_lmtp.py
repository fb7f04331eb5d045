#!/usr/bin/env python3
"""LMTP (RFC 2033) and `darius deliver`: LHLO capabilities on TCP and the
unix socket, per-recipient replies, single-instance storage (one inode for
all recipients), Return-Path/Received headers, +detail folders and
createonpost, duplicate suppression and `darius expire`, PIPELINING,
CHUNKING (BDAT), SIZE limits, 8-bit/NUL header rules, malformed input,
disconnect in DATA, recipient limit, AUTH and STARTTLS, quota replies,
SIGKILL during a delivery stream (every 250 survives), and the deliver
CLI's sysexits (incl. a disk-full simulation with RLIMIT_FSIZE) and IDLE
wake-up."""

import base64
import os
import resource
import socket
import sqlite3
import ssl
import subprocess
import sys
import threading
import time

import darius_test as dt

R = dt.Report("lmtp")

MSG = ("From: Sender <sender@example.org>\r\nTo: alice@example.com\r\nSubject: test\r\n"
       "Message-ID: <%s@example.org>\r\n\r\nHello\r\n.leading dot\r\n")


def msg(mid, extra=""):
    return MSG % mid + extra


def fetch_all(s, user, mailbox="INBOX"):
    """Message bodies (bytes) and flags strings in mailbox, by UID."""
    c = s.login(user, s.users[user])
    c.ok('EXAMINE "%s"' % mailbox)
    u, _ = c.ok("UID FETCH 1:* (FLAGS BODY.PEEK[])")
    c.logout()
    out = []
    for r in u:
        if r.literals:
            out.append((r.literals[-1], r.text))
    return out


def bodies(s, user, mailbox="INBOX"):
    return [b for b, _ in fetch_all(s, user, mailbox)]


def transaction(c, rcpts, data, mail="MAIL FROM:<sender@example.org>"):
    """One LMTP transaction; returns (rcpt replies, data replies)."""
    c.cmd(mail)
    rr = [c.cmd("RCPT TO:<%s>" % r) for r in rcpts]
    ok = sum(1 for code, _ in rr if code == 250)
    code, lines = c.cmd("DATA")
    if ok == 0:
        return rr, [(code, lines)]
    if code != 354:
        raise dt.TestFailure("DATA: %r" % lines)
    c.send_raw(dt.lmtp_data(data))
    return rr, [c.reply() for _ in range(ok)]


def lhlo(c, name="client.example"):
    code, lines = c.cmd("LHLO " + name)
    if code != 250:
        raise dt.TestFailure("LHLO: %r" % lines)
    return [l[4:] for l in lines]


# ---- tests ------------------------------------------------------------------

def capabilities(s):
    c = s.lmtp()
    caps = lhlo(c)
    for want in ("PIPELINING", "ENHANCEDSTATUSCODES", "8BITMIME", "SIZE 52428800", "CHUNKING",
                 "STARTTLS", "IGNOREQUOTA", "SMTPUTF8"):
        if want not in caps:
            raise dt.TestFailure("TCP LHLO lacks %s: %r" % (want, caps))
    if any(x.startswith("AUTH") for x in caps):
        raise dt.TestFailure("AUTH advertised without lmtp_auth_required: %r" % caps)
    c.cmd("QUIT")
    u = s.lmtp(unix=True)
    caps = lhlo(u)
    if "STARTTLS" in caps or "CHUNKING" not in caps:
        raise dt.TestFailure("unix LHLO: %r" % caps)
    code, lines = u.cmd("HELO x")
    if code != 500:
        raise dt.TestFailure("HELO: %r" % lines)
    code, lines = u.cmd("VRFY alice")
    if code not in (252, 502):
        raise dt.TestFailure("VRFY: %r" % lines)
    if u.cmd("NOOP")[0] != 250 or u.cmd("RSET")[0] != 250:
        raise dt.TestFailure("NOOP/RSET")
    code, lines = u.cmd("QUIT")
    if code != 221 or not u.at_eof():
        raise dt.TestFailure("QUIT: %r" % lines)


def per_recipient(s):
    c = s.lmtp(unix=True)
    lhlo(c)
    rr, dr = transaction(c, ["alice@example.com", "nobody@example.com", "bob"], msg("pr1"))
    codes = [x[0] for x in rr]
    if codes != [250, 550, 250] or "5.1.1" not in rr[1][1][0]:
        raise dt.TestFailure("RCPT replies %r" % rr)
    if [x[0] for x in dr] != [250, 250] or not all("2.1.5" in x[1][0] for x in dr):
        raise dt.TestFailure("DATA replies %r" % dr)
    c.cmd("QUIT")
    a = [b for b in bodies(s, "alice") if b"pr1@" in b]
    b = [x for x in bodies(s, "bob") if b"pr1@" in x]
    if len(a) != 1 or len(b) != 1:
        raise dt.TestFailure("stored: alice %d bob %d" % (len(a), len(b)))
    m = a[0]
    if not m.startswith(b"Return-Path: <sender@example.org>\r\nReceived: from client.example (local)\r\n"):
        raise dt.TestFailure("trace header: %r" % m[:200])
    if b"with LMTP;" not in m and b"with LMTP\r\n" not in m:
        raise dt.TestFailure("Received protocol: %r" % m[:300])
    if b"for <" in m:
        raise dt.TestFailure("'for' clause with several recipients: %r" % m[:300])
    # lmtp_data() stuffed ".leading" to "..leading"; the server unstuffs.
    if b"\r\n.leading dot\r\n" not in m or b"..leading" in m:
        raise dt.TestFailure("dot-unstuffing: %r" % m)
    # single recipient over TCP: "for <rcpt>", peer address
    t = s.lmtp()
    lhlo(t, "tcp.example")
    transaction(t, ["alice"], msg("pr2"))
    t.cmd("QUIT")
    m = [x for x in bodies(s, "alice") if b"pr2@" in x][0]
    if b"from tcp.example ([127.0.0.1])" not in m or b"for <alice>;" not in m:
        raise dt.TestFailure("single-recipient Received: %r" % m[:300])


def user_dir(s, user):
    return os.path.join(s.datadir, "user", user[0], user)


def inodes(s, user):
    out = {}
    top = os.path.join(user_dir(s, user), "msg")
    for d, _, files in os.walk(top):
        for f in files:
            st = os.stat(os.path.join(d, f))
            out[st.st_ino] = st.st_nlink
    return out


def single_instance(s):
    before_a, before_b = set(inodes(s, "alice")), set(inodes(s, "bob"))
    c = s.lmtp(unix=True)
    lhlo(c)
    _, dr = transaction(c, ["alice", "bob", "carol"], msg("si1", "x" * 5000 + "\r\n"))
    c.cmd("QUIT")
    if [x[0] for x in dr] != [250, 250, 250]:
        raise dt.TestFailure("%r" % dr)
    na = set(inodes(s, "alice")) - before_a
    nb = set(inodes(s, "bob")) - before_b
    if len(na) != 1 or na != nb:
        raise dt.TestFailure("not one shared inode: alice %r bob %r" % (na, nb))
    nl = inodes(s, "alice")[next(iter(na))]
    if nl != 3:
        raise dt.TestFailure("link count %d, expected 3" % nl)
    left = [f for f in os.listdir(os.path.join(s.datadir, "tmp")) if not f.startswith(".")]
    if left:
        raise dt.TestFailure("files left in tmp: %r" % left)


def plus_detail(s):
    c = s.login("alice", s.users["alice"])
    c.ok("CREATE Lists")
    c.ok("CREATE Lists.darius")
    # Cyrus semantics: +detail delivers into a folder only when it grants
    # the p right to the poster (here: anyone, unauthenticated LMTP).
    c.ok("SETACL Lists anyone +p")
    c.ok("SETACL Lists.darius anyone +p")
    c.logout()
    l = s.lmtp(unix=True)
    lhlo(l)
    transaction(l, ["alice+Lists", "alice+Lists.darius", "alice+nosuch", "Alice+Lists@example.com"],
                msg("pd1"))
    l.cmd("QUIT")
    if len([b for b in bodies(s, "alice", "Lists") if b"pd1@" in b]) != 1:
        # two recipients resolve to alice/Lists: the second is a duplicate
        raise dt.TestFailure("Lists: %r" % len(bodies(s, "alice", "Lists")))
    if not [b for b in bodies(s, "alice", "Lists.darius") if b"pd1@" in b]:
        raise dt.TestFailure("Lists.darius empty")
    if not [b for b in bodies(s, "alice") if b"pd1@" in b]:
        raise dt.TestFailure("alice+nosuch did not land in INBOX")


def createonpost(s):
    l = s.lmtp()
    lhlo(l)
    transaction(l, ["alice+NewFolder"], msg("cop1"))
    l.cmd("QUIT")
    if not [b for b in bodies(s, "alice", "NewFolder") if b"cop1@" in b]:
        raise dt.TestFailure("NewFolder not created")


def duplicates(s):
    c = s.lmtp(unix=True)
    lhlo(c)
    for _ in range(2):
        _, dr = transaction(c, ["bob"], msg("dup1"))
        if dr[0][0] != 250:
            raise dt.TestFailure("%r" % dr)
    c.cmd("QUIT")
    n = len([b for b in bodies(s, "bob") if b"dup1@" in b])
    if n != 1:
        raise dt.TestFailure("stored %d times" % n)
    # an expired entry does not suppress
    db = sqlite3.connect(os.path.join(s.datadir, "duplicate.db"), timeout=10)
    db.execute("UPDATE duplicate SET time=0 WHERE msgid='<dup1@example.org>'")
    db.commit()
    db.close()
    c = s.lmtp(unix=True)
    lhlo(c)
    transaction(c, ["bob"], msg("dup1"))
    c.cmd("QUIT")
    n = len([b for b in bodies(s, "bob") if b"dup1@" in b])
    if n != 2:
        raise dt.TestFailure("after expiry stored %d times" % n)
    db = sqlite3.connect(os.path.join(s.datadir, "duplicate.db"), timeout=10)
    db.execute("INSERT OR REPLACE INTO duplicate VALUES('<old@x>','bob','INBOX',0)")
    db.commit()
    db.close()
    # vacation reply records (delivery-dup.c): the old one goes, the new stays
    db = sqlite3.connect(os.path.join(s.datadir, "duplicate.db"), timeout=10)
    db.execute("INSERT INTO vacation VALUES('bob','old@x','h',0)")
    db.execute("INSERT INTO vacation VALUES('bob','new@x','h',strftime('%s','now'))")
    db.commit()
    db.close()
    r = s.cli("expire")
    if (r.returncode != 0 or "removed 1 " not in r.stdout
            or "removed 1 vacation response record\n" not in r.stdout):
        raise dt.TestFailure("expire: %d %r %r" % (r.returncode, r.stdout, r.stderr))
    db = sqlite3.connect(os.path.join(s.datadir, "duplicate.db"), timeout=10)
    left = [row[0] for row in db.execute("SELECT sender FROM vacation")]
    db.close()
    if left != ["new@x"]:
        raise dt.TestFailure("vacation records after expire: %r" % left)


def pipelining(s):
    c = s.lmtp()
    data = dt.lmtp_data(msg("pipe1")).decode()
    c.send_raw("LHLO p\r\nMAIL FROM:<>\r\nRCPT TO:<alice>\r\nRCPT TO:<ghost>\r\nRCPT TO:<bob>\r\nDATA\r\n"
               + data + "RSET\r\nMAIL FROM:<x@y>\r\nRCPT TO:<carol>\r\nDATA\r\n"
               + dt.lmtp_data(msg("pipe2")).decode() + "QUIT\r\n")
    codes = [c.reply()[0] for _ in range(14)]
    want = [250, 250, 250, 550, 250, 354, 250, 250, 250, 250, 250, 354, 250, 221]
    if codes != want:
        raise dt.TestFailure("%r != %r" % (codes, want))
    if not [b for b in bodies(s, "carol") if b"pipe2@" in b]:
        raise dt.TestFailure("pipe2 missing")
    m = [b for b in bodies(s, "alice") if b"pipe1@" in b][0]
    if not m.startswith(b"Return-Path: <>\r\n"):
        raise dt.TestFailure("null sender Return-Path: %r" % m[:80])


def chunking(s):
    c = s.lmtp()
    lhlo(c)
    # BDAT without a transaction: the chunk is still consumed, then 503
    c.send_raw(b"BDAT 5\r\nabcde")
    if c.reply()[0] != 503:
        raise dt.TestFailure("BDAT without MAIL")
    c.cmd("MAIL FROM:<s@x>")
    c.cmd("RCPT TO:<alice>")
    c.cmd("RCPT TO:<bob>")
    body = msg("bdat1", "binary\x01line\nbare lf\n").encode()
    c.send_raw(b"BDAT %d\r\n" % 20 + body[:20])
    code, lines = c.reply()
    if code != 250:
        raise dt.TestFailure("chunk 1: %r" % lines)
    c.send_raw(b"BDAT %d LAST\r\n" % (len(body) - 20) + body[20:])
    r = [c.reply() for _ in range(2)]
    if [x[0] for x in r] != [250, 250]:
        raise dt.TestFailure("LAST: %r" % r)
    if c.cmd("DATA")[0] != 503:
        raise dt.TestFailure("DATA without MAIL after BDAT")
    # BDAT 0 LAST finishes a message
    c.cmd("MAIL FROM:<s@x>")
    c.cmd("RCPT TO:<carol>")
    m2 = msg("bdat2").encode()
    c.send_raw(b"BDAT %d\r\n" % len(m2) + m2)
    c.reply()
    c.send_raw(b"BDAT 0 LAST\r\n")
    if c.reply()[0] != 250:
        raise dt.TestFailure("BDAT 0 LAST")
    c.cmd("QUIT")
    m = [b for b in bodies(s, "alice") if b"bdat1@" in b]
    if not m or b"bare lf\r\n" not in m[0] or b".leading dot" not in m[0]:
        raise dt.TestFailure("BDAT message: %r" % m)
    if not [b for b in bodies(s, "carol") if b"bdat2@" in b]:
        raise dt.TestFailure("BDAT 0 LAST message missing")


def size_limits(s):
    c = s.lmtp()
    lhlo(c)
    code, lines = c.cmd("MAIL FROM:<s@x> SIZE=999999999")
    if code != 552 or "5.3.4" not in lines[0]:
        raise dt.TestFailure("SIZE=: %r" % lines)
    before = len(bodies(s, "alice"))
    _, dr = transaction(c, ["alice", "bob"], msg("big1", "y" * 200 + "\r\n") * 40)
    if [x[0] for x in dr] != [552, 552] or "5.3.4" not in dr[0][1][0]:
        raise dt.TestFailure("oversized DATA: %r" % dr)
    # oversized BDAT chunk: 552 and the transaction is gone
    c.cmd("MAIL FROM:<s@x>")
    c.cmd("RCPT TO:<alice>")
    c.send_raw(b"BDAT 5000\r\n" + b"z" * 5000)
    code, lines = c.reply()
    if code != 552:
        raise dt.TestFailure("oversized BDAT: %r" % lines)
    if c.cmd("NOOP")[0] != 250:
        raise dt.TestFailure("session unusable after 552")
    c.cmd("QUIT")
    if len(bodies(s, "alice")) != before:
        raise dt.TestFailure("oversized message stored")
    p = subprocess.run([s.darius, "-C", s.conf_path, "deliver", "alice"],
                       input=b"Subject: big\r\n\r\n" + b"x" * 5000 + b"\r\n", capture_output=True, timeout=60)
    if p.returncode != 65 or len(bodies(s, "alice")) != before:
        raise dt.TestFailure("deliver too big: %d" % p.returncode)


def malformed(s):
    c = s.lmtp()
    bad = [("MAIL FROM:<a@b>", 503), ("LHLO", 501), ("LHLO a b", 501), ("FOO", 500), ("", 500),
           ("LHLO ok", 250), ("RCPT TO:<alice>", 503), ("DATA", 503), ("MAIL FROM:a@b", 501),
           ("MAIL FROM:<a b@c>", 501), ("MAIL FROM:<a@b> FOO=1", 555), ("MAIL FROM:<a@b> BODY=BINARYMIME", 555),
           ("MAIL FROM:<\u00e9@b>", 553), ("MAIL FROM:<a@b>", 250), ("MAIL FROM:<a@b>", 503),
           ("RCPT TO:<>", 501), ("RCPT TO:alice", 501), ("RCPT TO:<alice", 501), ("RCPT TO:<al\x01ice>", 501),
           ("RCPT TO:<alice> NOTIFY=NEVER ORCPT=rfc822;alice@x", 250), ("RCPT TO:<alice> BOGUS", 555),
           ("RCPT TO:<\"quoted\"@x>", 550), ("RCPT TO:<@relay.example:bob@x>", 250),
           ("DATA extra", 501), ("RSET", 250), ("DATA", 503)]
    for line, want in bad:
        code, lines = c.cmd(line)
        if code != want:
            raise dt.TestFailure("%r -> %r, expected %d" % (line, lines, want))
    c.send_raw(b"NOOP\x00junk\r\n")
    if c.reply()[0] != 500:
        raise dt.TestFailure("NUL in command")
    c.send_raw(b"X" * 70000 + b"\r\nNOOP\r\n")
    if c.reply()[0] != 500 or c.reply()[0] != 250:
        raise dt.TestFailure("long line")
    c.send_raw(b"BDAT banana\r\n")
    code, _ = c.reply()
    if code != 501 or not c.at_eof():
        raise dt.TestFailure("BDAT with a bad size must close")
    # UTF-8 with SMTPUTF8
    c = s.lmtp()
    lhlo(c)
    if c.cmd("MAIL FROM:<\u00e9t\u00e9@example.org> SMTPUTF8")[0] != 250:
        raise dt.TestFailure("SMTPUTF8 sender")
    c.cmd("RCPT TO:<alice>")
    c.cmd("DATA")
    c.send_raw(dt.lmtp_data("Subject: caf\u00e9\r\nMessage-ID: <utf8@x>\r\n\r\nbody\r\n"))
    if c.reply()[0] != 250:
        raise dt.TestFailure("SMTPUTF8 message")
    c.cmd("QUIT")
    m = [b for b in bodies(s, "alice") if b"utf8@x" in b][0]
    if "Subject: caf\u00e9".encode() not in m:
        raise dt.TestFailure("UTF-8 header munged under SMTPUTF8: %r" % m)


def eight_bit_default(s):
    """munge8bit: yes (default): 8-bit header bytes become 'X'; NULs are
    stripped; bare LF becomes CRLF; body 8-bit is kept."""
    c = s.lmtp()
    lhlo(c)
    c.cmd("MAIL FROM:<s@x>")
    c.cmd("RCPT TO:<carol>")
    c.cmd("DATA")
    c.send_raw(b"Subject: caf\xe9\nMessage-ID: <m8@x>\n\nbody \xe9\x00nul\n.\r\n")
    if c.reply()[0] != 250:
        raise dt.TestFailure("8-bit message refused")
    c.cmd("QUIT")
    m = [b for b in bodies(s, "carol") if b"m8@x" in b][0]
    if b"Subject: cafX\r\n" not in m or b"body \xe9nul\r\n" not in m or b"\x00" in m:
        raise dt.TestFailure("%r" % m)


def disconnect_in_data(s):
    before = len(bodies(s, "bob"))
    c = s.lmtp()
    lhlo(c)
    c.cmd("MAIL FROM:<s@x>")
    c.cmd("RCPT TO:<bob>")
    c.cmd("DATA")
    c.send_raw(b"Subject: cut\r\nMessage-ID: <cut@x>\r\n\r\npartial body")
    c.close()
    c = s.lmtp()
    if c.cmd("NOOP")[0] != 250:
        raise dt.TestFailure("server unusable")
    c.cmd("QUIT")
    if len(bodies(s, "bob")) != before:
        raise dt.TestFailure("partial message stored")


def max_recipients(s):
    c = s.lmtp()
    lhlo(c)
    c.cmd("MAIL FROM:<s@x>")
    codes = [c.cmd("RCPT TO:<%s>" % u)[0] for u in ("alice", "bob", "carol")]
    code, lines = c.cmd("RCPT TO:<alice>")
    if codes != [250, 250, 452] or "4.5.3" not in c.cmd("RCPT TO:<bob>")[1][0]:
        raise dt.TestFailure("%r" % codes)
    c.cmd("QUIT")


def reject8bit(s):
    c = s.lmtp()
    lhlo(c)
    _, dr = transaction(c, ["alice"], b"Subject: caf\xe9\r\n\r\nx\r\n")
    if dr[0][0] != 554 or "5.6.0" not in dr[0][1][0]:
        raise dt.TestFailure("%r" % dr)
    _, dr = transaction(c, ["alice"], b"Subject: nul\r\n\r\nx\x00y\r\n")
    if dr[0][0] != 554:
        raise dt.TestFailure("NUL: %r" % dr)
    c.cmd("QUIT")


def auth_required(s):
    c = s.lmtp()
    caps = lhlo(c)
    if not any(x.startswith("AUTH ") and "PLAIN" in x for x in caps):
        raise dt.TestFailure("no AUTH in %r" % caps)
    code, lines = c.cmd("MAIL FROM:<s@x>")
    if code != 530 or "5.7.0" not in lines[0]:
        raise dt.TestFailure("MAIL before AUTH: %r" % lines)
    bad = base64.b64encode(b"\0alice\0" + s.users["alice"].encode()).decode()
    if c.cmd("AUTH PLAIN " + bad)[0] != 535:
        raise dt.TestFailure("non-admin AUTH accepted")
    ok = base64.b64encode(b"\0lmtpadmin\0adminpw").decode()
    code, lines = c.cmd("AUTH PLAIN " + ok)
    if code != 235:
        raise dt.TestFailure("AUTH: %r" % lines)
    _, dr = transaction(c, ["alice"], msg("auth1"))
    c.cmd("QUIT")
    if dr[0][0] != 250:
        raise dt.TestFailure("%r" % dr)
    m = [b for b in bodies(s, "alice") if b"auth1@" in b][0]
    if b"with LMTPA" not in m:
        raise dt.TestFailure("%r" % m[:300])
    u = s.lmtp(unix=True)
    lhlo(u)
    _, dr = transaction(u, ["alice"], msg("auth2"))
    if dr[0][0] != 250:
        raise dt.TestFailure("unix socket needs no AUTH: %r" % dr)
    u.cmd("QUIT")


def starttls(s):
    c = s.lmtp()
    lhlo(c)
    code, lines = c.cmd("STARTTLS")
    if code != 220:
        raise dt.TestFailure("%r" % lines)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    c.sock = ctx.wrap_socket(c.sock)
    if c.cmd("MAIL FROM:<s@x>")[0] != 503:
        raise dt.TestFailure("LHLO state kept across STARTTLS")
    caps = lhlo(c)
    if "STARTTLS" in caps:
        raise dt.TestFailure("STARTTLS offered twice")
    _, dr = transaction(c, ["bob"], msg("tls1"))
    c.cmd("QUIT")
    m = [b for b in bodies(s, "bob") if b"tls1@" in b][0]
    if b"with LMTPS" not in m:
        raise dt.TestFailure("%r" % m[:300])


def add_messageid(s):
    c = s.lmtp()
    lhlo(c)
    transaction(c, ["alice"], "Subject: no id\r\n\r\nbody-noid\r\n")
    c.cmd("QUIT")
    m = [b for b in bodies(s, "alice") if b"body-noid" in b][0]
    if b"\r\nMessage-ID: <" not in m.split(b"\r\n\r\n")[0] + b"\r\n":
        raise dt.TestFailure("%r" % m)


def over_quota(s, perm):
    r = s.cli("quota", "set", "user/bob", "message=1")
    if r.returncode != 0:
        return "quota CLI: %s" % r.stderr.strip()
    c = s.lmtp()
    lhlo(c)
    transaction(c, ["bob"], msg("q1"))
    # bob is at his limit now: refused at RCPT already (Cyrus), alice gets it
    rr, dr = transaction(c, ["bob", "alice"], msg("q2"))
    c.cmd("QUIT")
    want = (552, "5.2.2") if perm else (452, "4.2.2")
    if rr[0][0] != want[0] or want[1] not in rr[0][1][0] or [x[0] for x in dr] != [250]:
        raise dt.TestFailure("%r %r" % (rr, dr))
    p = subprocess.run([s.darius, "-C", s.conf_path, "deliver", "bob"], input=msg("q3").encode(),
                       capture_output=True, timeout=60)
    if p.returncode != (73 if perm else 75):
        raise dt.TestFailure("deliver over quota exit %d: %r" % (p.returncode, p.stderr))
    # IGNOREQUOTA (on MAIL, as Cyrus accepts it) and deliver -q deliver
    # anyway; the usage is still counted. IGNOREQUOTA is honoured from
    # trusted clients only (lmtp_ignorequota_requires_auth): the unix
    # socket is one (test_lmtp_hostile.py covers TCP with and without AUTH).
    before = len(bodies(s, "bob"))
    c = s.lmtp(unix=True)
    lhlo(c)
    _, dr = transaction(c, ["bob"], msg("q4"), mail="MAIL FROM:<sender@example.org> IGNOREQUOTA")
    c.cmd("QUIT")
    if dr[0][0] != 250:
        raise dt.TestFailure("IGNOREQUOTA not honoured: %r" % dr)
    p = subprocess.run([s.darius, "-C", s.conf_path, "deliver", "-q", "bob"], input=msg("q5").encode(),
                       capture_output=True, timeout=60)
    if p.returncode != 0:
        raise dt.TestFailure("deliver -q over quota exit %d: %r" % (p.returncode, p.stderr))
    if len(bodies(s, "bob")) != before + 2:
        raise dt.TestFailure("IGNOREQUOTA deliveries not stored")


def deliver_cli(s):
    def run(args, data, limit=None):
        def pre():
            if limit is not None:
                resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        return subprocess.run([s.darius, "-C", s.conf_path, "deliver"] + args, input=data,
                              capture_output=True, timeout=60, preexec_fn=pre)

    # IDLE client on bob's INBOX is woken by a CLI delivery
    c = s.login("bob", s.users["bob"])
    c.ok("SELECT INBOX")
    c.send("I1 IDLE")
    if not c.read().text.startswith("+"):
        raise dt.TestFailure("IDLE")
    p = run(["-f", "env@example.org", "-F", "\\Flagged", "-F", "$Label1", "bob"],
            b"From env@example.org Sat Nov 21 00:00:00 2026\nSubject: cli\nMessage-ID: <cli1@x>\n\nhello\n")
    if p.returncode != 0:
        raise dt.TestFailure("deliver: %d %r" % (p.returncode, p.stderr))
    c.settimeout(10 * dt.timeout_scale())
    r = c.read()
    if "EXISTS" not in r.text:
        raise dt.TestFailure("IDLE not woken: %r" % r)
    c.send("DONE")
    c.collect("I1")
    c.logout()
    got = [x for x in fetch_all(s, "bob") if b"cli1@x" in x[0]]
    if not got:
        raise dt.TestFailure("not delivered")
    body, text = got[0]
    if not body.startswith(b"Return-Path: <env@example.org>\r\n") or b"From env@" in body:
        raise dt.TestFailure("headers: %r" % body[:200])
    if "\\Flagged" not in text or "$Label1" not in text:
        raise dt.TestFailure("flags: %r" % text)
    # -m folder, -e duplicate suppression
    s.cli("mailbox", "create", "bob", "Work")
    for _ in range(2):
        # -a bob: the owner as poster holds p on his own folder
        p = run(["-e", "-m", "Work", "-a", "bob", "bob"], b"Subject: w\r\nMessage-ID: <cli2@x>\r\n\r\nw\r\n")
        if p.returncode != 0:
            raise dt.TestFailure("-m: %r" % p.stderr)
    if len([b for b in bodies(s, "bob", "Work") if b"cli2@x" in b]) != 1:
        raise dt.TestFailure("-e/-m")
    # exit codes
    p = run(["nosuchuser"], b"Subject: x\r\n\r\nx\r\n")
    if p.returncode != 67:
        raise dt.TestFailure("no user: %d" % p.returncode)
    p = run([], b"")
    if p.returncode != 64:
        raise dt.TestFailure("usage: %d" % p.returncode)
    # disk full: the spool write fails (RLIMIT_FSIZE) -> 75, nothing stored
    before = len(bodies(s, "carol"))
    p = run(["carol"], b"Subject: full\r\n\r\n" + b"y" * 3000 + b"\r\n", limit=1024)
    if p.returncode != 75:
        raise dt.TestFailure("disk full: %d %r" % (p.returncode, p.stderr))
    if len(bodies(s, "carol")) != before:
        raise dt.TestFailure("half-written message visible")
    # without dariusd running
    s.stop()
    p = run(["carol"], b"Subject: offline\r\nMessage-ID: <off@x>\r\n\r\nx\r\n")
    s.start()
    if p.returncode != 0 or not [b for b in bodies(s, "carol") if b"off@x" in b]:
        raise dt.TestFailure("offline deliver: %d %r" % (p.returncode, p.stderr))


def sigkill_stream(s):
    """Deliver in a stream, SIGKILL the server mid-stream; every recipient
    that got a 250 must be there after a restart."""
    acked = []
    stop = threading.Event()

    def stream():
        try:
            c = s.lmtp(unix=True)
            lhlo(c)
            i = 0
            while not stop.is_set():
                i += 1
                c.cmd("MAIL FROM:<k@x>")
                c.cmd("RCPT TO:<alice>")
                c.cmd("RCPT TO:<bob>")
                c.cmd("DATA")
                c.send_raw(dt.lmtp_data(msg("kill%d" % i, "z" * 2000 + "\r\n")))
                for u in ("alice", "bob"):
                    code, _ = c.reply()
                    if code == 250:
                        acked.append((u, "kill%d@" % i))
        except Exception:  # noqa: BLE001 - the kill ends the stream
            pass

    t = threading.Thread(target=stream)
    t.start()
    deadline = time.monotonic() + 20
    while len(acked) < 20 and time.monotonic() < deadline and t.is_alive():
        time.sleep(0.01)
    s.kill_group()
    stop.set()
    t.join(10)
    if not acked:
        raise dt.TestFailure("nothing acknowledged")
    if not os.path.exists(s.lmtp_socket):
        pass  # a stale socket file is normal after SIGKILL
    s.start()  # must replace the stale socket file
    have = {u: b"".join(bodies(s, u)) for u in ("alice", "bob")}
    missing = [(u, m) for u, m in acked if m.encode() not in have[u]]
    if missing:
        raise dt.TestFailure("acknowledged but missing: %r" % missing[:5])
    return "%d acknowledged deliveries survived" % len(acked)


def session_timeout(s):
    """lmtp_timeout: 10 s idle in the middle of DATA -> 421 4.4.2, closed,
    nothing stored."""
    before = len(bodies(s, "alice"))
    c = s.lmtp(timeout=40 * dt.timeout_scale())
    lhlo(c)
    c.cmd("MAIL FROM:<s@x>")
    c.cmd("RCPT TO:<alice>")
    c.cmd("DATA")
    c.send_raw(b"Subject: slow\r\n\r\npartial")
    t0 = time.monotonic()
    code, lines = c.reply()
    took = time.monotonic() - t0
    if code != 421 or "4.4.2" not in lines[0] or not c.at_eof():
        raise dt.TestFailure("%r" % lines)
    if took < 8:
        raise dt.TestFailure("closed after %.1f s, before lmtp_timeout" % took)
    if len(bodies(s, "alice")) != before:
        raise dt.TestFailure("partial message stored")
    return "closed after %.1f s" % took


def shutdown_and_socket(s):
    c = s.lmtp(unix=True)
    lhlo(c)
    s.stop()
    code, lines = c.reply()
    if code != 421:
        raise dt.TestFailure("%r" % lines)
    if os.path.exists(s.lmtp_socket):
        raise dt.TestFailure("socket file left after stop")
    s.start()


def main():
    users = [("alice", "alicepw"), ("bob", "bobpw"), ("carol", "carolpw"), ("lmtpadmin", "adminpw")]

    def server(config=None):
        s = dt.Server(start=False, config=config)
        for u, p in users:
            s.add_user(u, p)
        s.start()
        return s

    s = server()
    try:
        R.run("LHLO capabilities (TCP, unix socket), HELO/VRFY/NOOP/RSET/QUIT", capabilities, s)
        R.run("per-recipient replies, Return-Path, Received, dot-unstuffing", per_recipient, s)
        R.run("single-instance store: one inode for all recipients", single_instance, s)
        R.run("user+detail folders, INBOX fallback, downcase", plus_detail, s)
        R.run("duplicate suppression, expiry, darius expire", duplicates, s)
        R.run("PIPELINING", pipelining, s)
        R.run("CHUNKING (BDAT)", chunking, s)
        R.run("8-bit header munged, NUL stripped, bare LF", eight_bit_default, s)
        R.run("malformed commands and addresses, long lines, SMTPUTF8", malformed, s)
        R.run("client disconnect in DATA stores nothing", disconnect_in_data, s)
        R.run("STARTTLS", starttls, s)
        R.run("darius deliver: flags, -m, -e, sysexits, disk full, IDLE wake-up, offline", deliver_cli, s)
        R.run("SIGKILL during a delivery stream: every 250 survives", sigkill_stream, s)
        R.run("SIGTERM: 421, unix socket removed", shutdown_and_socket, s)
        s.stop()
    finally:
        s.cleanup()

    for cfg, name, fn in [
        ({"maxmessagesize": "4096"}, "SIZE limits: 552 5.3.4, nothing stored", size_limits),
        ({"lmtp_max_recipients": "2"}, "lmtp_max_recipients: 452 4.5.3", max_recipients),
        ({"reject8bit": "yes"}, "reject8bit: 554 5.6.0", reject8bit),
        ({"lmtp_auth_required": "yes", "admins": "lmtpadmin"}, "lmtp_auth_required: 530, AUTH PLAIN, LMTPA",
         auth_required),
        ({"lmtp_add_messageid": "yes"}, "lmtp_add_messageid", add_messageid),
        ({"createonpost": "yes"}, "createonpost", createonpost),
        ({"lmtp_timeout": "10"}, "lmtp_timeout: 421 4.4.2 mid-DATA, nothing stored", session_timeout),
        (None, "over quota: 452 4.2.2, deliver exit 75", lambda s: over_quota(s, False)),
        ({"lmtp_overquota_perm_failure": "yes"}, "over quota permanent: 552 5.2.2, deliver exit 73",
         lambda s: over_quota(s, True)),
    ]:
        s = server(cfg)
        try:
            R.run(name, fn, s)
            s.stop()
        finally:
            s.cleanup()
    return R.done()


if __name__ == "__main__":
    sys.exit(main())
