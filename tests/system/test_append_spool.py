#!/usr/bin/env python3
"""APPEND literals are checked before the server reads them (issue 9 item 3):
- a synchronising literal that does not fit the target's quota (RFC 9208
  STORAGE and MESSAGE, every covering root) gets "NO [OVERQUOTA]" instead
  of the "+" continuation; over maxmessagesize "NO [TOOBIG]"; a missing
  target "NO [TRYCREATE]", one without the i right "NO [NOPERM]" (RFC 9051
  7.5: a tagged NO instead of the continuation);
- MULTIAPPEND (RFC 3502): each literal and the running sum of the
  command's literals against the quota left; nothing is stored;
- LITERAL+ over quota: NO, the literal's octets are read and discarded
  (never spooled: no temporary file, never taken as commands), the next
  command works;
- spool_max_per_user over two connections of one user, spool_max_total
  over several users (NO [LIMIT] before the continuation, also across the
  two workers);
- a connection that dies with a literal half sent gives its spool back
  (its temporary file closed, the reservation released), and so does a
  worker killed with SIGKILL (the master repairs the shared counts);
- LMTP DATA over maxmessagesize never spools more than the limit, and the
  spool file is gone once the transaction ends;
- LMTP message data counts against spool_max_total as it arrives: over it
  the message is answered 452 4.3.1 and not stored, and a transaction's
  reservation is given back when it ends."""

import os
import signal
import sys
import time

import darius_test as dt

R = dt.Report("append_spool")


def body(size, subject="spool"):
    """A message of exactly size octets."""
    head = ("From: a@example.org\r\nSubject: %s\r\n\r\n" % subject).encode()
    line = b"x" * 70 + b"\r\n"
    n = size - len(head)
    data = head + (line * (n // len(line) + 1))[:n]
    assert len(data) == size
    return data


def tmp_files(s):
    """(pid, fd, size) of every file the workers hold open in DATADIR/tmp
    (spooled literals and LMTP spool files are unlinked O_TMPFILEs: only
    /proc shows them)."""
    tmpdir = os.path.realpath(os.path.join(s.datadir, "tmp")) + "/"
    out = []
    for pid in s.worker_pids():
        try:
            fds = os.listdir("/proc/%d/fd" % pid)
        except OSError:
            continue
        for fd in fds:
            try:
                t = os.readlink("/proc/%d/fd/%s" % (pid, fd))
                if t.startswith(tmpdir):
                    out.append((pid, int(fd), os.stat("/proc/%d/fd/%s" % (pid, fd)).st_size))
            except OSError:
                continue
    return out


def poll(cond, what, timeout=10.0):
    deadline = time.monotonic() + timeout * dt.timeout_scale()
    while time.monotonic() < deadline:
        r = cond()
        if r:
            return r
        time.sleep(0.02)
    raise dt.TestFailure("timed out waiting for " + what)


def status_messages(c, mbox="INBOX"):
    u, _ = c.ok("STATUS %s (MESSAGES)" % mbox)
    for r in u:
        if r.text.startswith("* STATUS"):
            return int(r.text.strip().rsplit("MESSAGES ", 1)[1].rstrip(")"))
    raise dt.TestFailure("no STATUS in %r" % u)


def refused(c, tag, line, code):
    """Send line (an APPEND ending in a synchronising literal): the answer
    must be the tagged NO with code, never a continuation."""
    c.send_raw(line)
    r = c.read()
    if r.text.startswith("+"):
        raise dt.TestFailure("%s: continuation instead of NO [%s]" % (line[:60], code))
    if not r.text.startswith("%s NO [%s]" % (tag, code)):
        raise dt.TestFailure("%s: %s" % (line[:60], r.render()))
    return r.text


def accepted(c, line):
    c.send_raw(line)
    r = c.read()
    if not r.text.startswith("+"):
        raise dt.TestFailure("%s: no continuation: %s" % (line[:60], r.render()))


def setquota(s, root, *limits):
    r = s.cli("quota", "set", root, *limits)
    if r.returncode != 0:
        raise dt.TestFailure("quota set %s: %s%s" % (root, r.stdout, r.stderr))


# ---- quota / size / target before the continuation -------------------------

def sync_over_quota(s):
    c = s.login("alice", "pw")
    setquota(s, "user/alice", "storage=20")          # 20480 octets
    refused(c, "q1", b"q1 APPEND INBOX {30000}\r\n", "OVERQUOTA")
    c.ok("NOOP")
    accepted(c, b"q2 APPEND INBOX {10000}\r\n")
    c.send_raw(body(10000) + b"\r\n")
    _, t = c.collect("q2")
    if not t.text.startswith("q2 OK"):
        raise dt.TestFailure("10000 octets in 20 KiB: %s" % t.render())
    # 10480 octets left
    refused(c, "q3", b"q3 APPEND INBOX (\\Seen) {10481}\r\n", "OVERQUOTA")
    accepted(c, b"q4 APPEND INBOX {10480}\r\n")
    c.send_raw(body(10480) + b"\r\n")
    _, t = c.collect("q4")
    if not t.text.startswith("q4 OK"):
        raise dt.TestFailure("exactly the rest: %s" % t.render())
    refused(c, "q5", b"q5 APPEND INBOX {1}\r\n", "OVERQUOTA")
    # the MESSAGE resource (RFC 9208 5.2)
    setquota(s, "user/alice", "storage=none", "message=2")
    refused(c, "q6", b"q6 APPEND INBOX {100}\r\n", "OVERQUOTA")
    if status_messages(c) != 2:
        raise dt.TestFailure("messages stored by refused APPENDs")
    c.logout()


def multiappend_sum(s):
    c = s.login("carol", "pw")
    setquota(s, "user/carol", "storage=15")         # 15360 octets
    # each literal fits, the running sum does not: NO before the third "+"
    accepted(c, b"m1 APPEND INBOX {6000}\r\n")
    accepted(c, body(6000) + b" {6000}\r\n")
    refused(c, "m1", body(6000) + b" (\\Flagged) {6000}\r\n", "OVERQUOTA")
    c.ok("NOOP")
    # the same with the message count
    setquota(s, "user/carol", "storage=none", "message=2")
    accepted(c, b"m2 APPEND INBOX {100}\r\n")
    accepted(c, body(100) + b" {100}\r\n")
    refused(c, "m2", body(100) + b" {100}\r\n", "OVERQUOTA")
    if status_messages(c) != 0:
        raise dt.TestFailure("a refused MULTIAPPEND stored messages (RFC 3502: all or none)")
    # within the limits the whole command goes through
    accepted(c, b"m3 APPEND INBOX {100}\r\n")
    accepted(c, body(100) + b" {100}\r\n")
    c.send_raw(body(100) + b"\r\n")
    _, t = c.collect("m3")
    if not t.text.startswith("m3 OK"):
        raise dt.TestFailure("MULTIAPPEND within quota: %s" % t.render())
    c.logout()


def target_and_size(s):
    c = s.login("dave", "pw")
    refused(c, "t1", b"t1 APPEND NoSuchFolder {100}\r\n", "TRYCREATE")
    # the mailbox as a literal: checked when the message literal comes
    accepted(c, b"t2 APPEND {7}\r\n")
    refused(c, "t2", b"NoSuch2 {100}\r\n", "TRYCREATE")
    refused(c, "t3", b"t3 APPEND INBOX {200001}\r\n", "TOOBIG")      # maxmessagesize 200000
    # a mailbox dave sees but may not insert into (RFC 4314: i)
    a = s.login("frank", "pw")
    a.ok("CREATE Shared1")
    a.ok("SETACL Shared1 dave lr")
    refused(c, "t4", b't4 APPEND "Other Users/frank/Shared1" {100}\r\n', "NOPERM")
    a.ok("SETACL Shared1 dave lri")
    accepted(c, b't5 APPEND "Other Users/frank/Shared1" {100}\r\n')
    c.send_raw(body(100) + b"\r\n")
    _, t = c.collect("t5")
    if not t.text.startswith("t5 OK"):
        raise dt.TestFailure("APPEND with i: %s" % t.render())
    a.logout()
    c.logout()


def literal_plus_over_quota(s):
    c = s.login("erin", "pw")
    setquota(s, "user/erin", "storage=20")
    # 100000 octets (would be spooled to a file) in which command lines
    # hide: none may run
    evil = b"Subject: x\r\n\r\n" + (b"e1 LOGOUT\r\ne2 DELETE INBOX\r\n" + b"y" * 200 + b"\r\n") * 400
    evil = (evil + b"z" * 100000)[:100000]
    c.send_raw(b"p1 APPEND INBOX {100000+}\r\n" + evil[:50000])
    r = c.read()
    if not r.text.startswith("p1 NO [OVERQUOTA]"):
        raise dt.TestFailure("LITERAL+ over quota: %s" % r.render())
    # the half already sent is not being spooled
    if tmp_files(s):
        raise dt.TestFailure("refused LITERAL+ spooled: %r" % tmp_files(s))
    c.send_raw(evil[50000:] + b"\r\np2 NOOP\r\n")
    u, t = c.collect("p2")
    if not t.text.startswith("p2 OK") or u:
        raise dt.TestFailure("after the discarded literal: %r %s" % ([x.render() for x in u], t.render()))
    # MULTIAPPEND with LITERAL+: the second message is over quota; its
    # octets and the third message are discarded too
    c.send_raw(b"p3 APPEND INBOX {100+}\r\n" + body(100) + b" {30000+}\r\n" + evil[:30000] +
               b" {100+}\r\n" + body(100) + b"\r\np4 NOOP\r\n")
    _, t = c.collect("p3")
    if not t.text.startswith("p3 NO [OVERQUOTA]"):
        raise dt.TestFailure("MULTIAPPEND LITERAL+: %s" % t.render())
    u, t = c.collect("p4")
    if not t.text.startswith("p4 OK") or u:
        raise dt.TestFailure("after MULTIAPPEND: %r %s" % ([x.render() for x in u], t.render()))
    if status_messages(c) != 0:
        raise dt.TestFailure("refused LITERAL+ APPEND stored something")
    c.logout()


# ---- spool limits -----------------------------------------------------------

def spool_limits(s):
    # spool_max_per_user 1 MiB, spool_max_total 1.5 MiB
    a1 = s.login("alice", "pw")
    accepted(a1, b"s1 APPEND INBOX {700000}\r\n")
    a1.send_raw(body(700000)[:1000])                  # held: 700000 reserved
    poll(lambda: tmp_files(s), "the spooled literal's file")
    # the same user on another connection (maybe another worker)
    a2 = s.login("alice", "pw")
    txt = refused(a2, "s2", b"s2 APPEND INBOX {400000}\r\n", "LIMIT")
    if "user" not in txt:
        raise dt.TestFailure("per-user refusal: %s" % txt)
    # with LITERAL+: NO, data discarded, connection usable
    a2.send_raw(b"s3 APPEND INBOX {400000+}\r\n" + body(400000) + b"\r\ns4 NOOP\r\n")
    _, t = a2.collect("s3")
    if not t.text.startswith("s3 NO [LIMIT]"):
        raise dt.TestFailure("LITERAL+ over spool_max_per_user: %s" % t.render())
    a2.ok("NOOP")
    accepted(a2, b"s5 APPEND INBOX {300000}\r\n")     # 1000000 <= 1 MiB
    a2.send_raw(body(300000) + b"\r\n")
    _, t = a2.collect("s5")
    if not t.text.startswith("s5 OK"):
        raise dt.TestFailure("within spool_max_per_user: %s" % t.render())
    # another user: the total (1.5 MiB) is what limits
    b1 = s.login("bob", "pw")
    accepted(b1, b"s6 APPEND INBOX {700000}\r\n")     # 1400000 in total
    b1.send_raw(body(700000)[:1000])
    c1 = s.login("carol", "pw")
    txt = refused(c1, "s7", b"s7 APPEND INBOX {200000}\r\n", "LIMIT")
    if "Server" not in txt:
        raise dt.TestFailure("total refusal: %s" % txt)
    # bob disconnects mid-literal: his file is closed, his bytes released
    if len(tmp_files(s)) != 2:
        raise dt.TestFailure("expected two spooled literals, have %r" % tmp_files(s))
    b1.close()
    poll(lambda: len(tmp_files(s)) == 1, "bob's spool file to be closed")

    def carol_fits():
        c1.send_raw(b"s8 APPEND INBOX {200000}\r\n")
        r = c1.read()
        if r.text.startswith("+"):
            return True
        if not r.text.startswith("s8 NO [LIMIT]"):
            raise dt.TestFailure("carol: %s" % r.render())
        return False
    poll(carol_fits, "bob's reservation to be released")
    c1.send_raw(body(200000) + b"\r\n")
    _, t = c1.collect("s8")
    if not t.text.startswith("s8 OK"):
        raise dt.TestFailure("carol after release: %s" % t.render())
    # alice finishes her upload: committed, released
    a1.send_raw(body(700000)[1000:] + b"\r\n")
    _, t = a1.collect("s1")
    if not t.text.startswith("s1 OK"):
        raise dt.TestFailure("alice's held APPEND: %s" % t.render())
    poll(lambda: not tmp_files(s), "no spool file left")
    for c in (a1, a2, c1):
        c.logout()


def worker_crash(s):
    # a worker dies with a literal spooled: the master gives its bytes back
    a1 = s.login("alice", "pw")
    accepted(a1, b"k1 APPEND INBOX {700000}\r\n")
    a1.send_raw(body(700000)[:1000])
    poll(lambda: tmp_files(s), "the spooled literal's file")
    a2 = s.login("alice", "pw")
    refused(a2, "k2", b"k2 APPEND INBOX {700000}\r\n", "LIMIT")
    a2.close()
    pid = dt.socket_owner_pid(s, a1)
    if not pid or pid == s.pid():
        raise dt.TestFailure("no worker found for the connection")
    os.kill(pid, signal.SIGKILL)

    def fits():
        try:
            c = s.login("alice", "pw")
        except (dt.TestFailure, EOFError, OSError):
            return False            # the worker is being restarted
        try:
            c.send_raw(b"k3 APPEND INBOX {700000}\r\n")
            r = c.read()
            if r.text.startswith("+"):
                c.send_raw(body(700000) + b"\r\n")
                _, t = c.collect("k3")
                if not t.text.startswith("k3 OK"):
                    raise dt.TestFailure("after the crash: %s" % t.render())
                c.logout()
                return True
            if not r.text.startswith("k3 NO [LIMIT]"):
                raise dt.TestFailure("after the crash: %s" % r.render())
            c.close()
            return False
        except (EOFError, OSError):
            return False
    poll(fits, "the dead worker's reservation to be repaired", timeout=20.0)
    a1.close()


# ---- LMTP ---------------------------------------------------------------------

def lmtp_data_bounded(s):
    # maxmessagesize 200000: 3x that sent without the final dot; what is
    # spooled stays bounded (bare LF -> CRLF may double it at most)
    c = s.lmtp()
    c.cmd("LHLO x")
    code, lines = c.cmd("MAIL FROM:<s@x> SIZE=200001")
    if code != 552:
        raise dt.TestFailure("SIZE= over maxmessagesize at MAIL: %r" % lines)
    if c.cmd("MAIL FROM:<s@x>")[0] != 250:
        raise dt.TestFailure("MAIL")
    if c.cmd("RCPT TO:<dave>")[0] != 250:
        raise dt.TestFailure("RCPT")
    if c.cmd("DATA")[0] != 354:
        raise dt.TestFailure("DATA")
    c.send_raw(b"Subject: big\r\n\r\n" + (b"y" * 998 + b"\r\n") * 600)
    # wait until the spool holds what it will (written in 64 KiB steps)
    files = poll(lambda: [x for x in tmp_files(s) if x[2] >= 131072], "the LMTP spool file to fill")
    c.send_raw((b"y" * 998 + b"\r\n") * 600)
    files += tmp_files(s)
    if max(x[2] for x in files) > 200000 + 4096:
        raise dt.TestFailure("LMTP spool grew past maxmessagesize: %r" % files)
    c.send_raw(b".\r\n")
    code, lines = c.reply()
    if code != 552:
        raise dt.TestFailure("oversized DATA: %r" % lines)
    poll(lambda: not tmp_files(s), "the LMTP spool file to go")
    c.cmd("QUIT")


def lmtp_spool_total(s):
    # LMTP message data counts against spool_max_total (1.5 MiB) like
    # APPEND literals: with 1000000 octets held by an upload, a 700000
    # octet message gets 452 4.3.1 (try again) and nothing is stored
    a1 = s.login("alice", "pw")
    accepted(a1, b"t1 APPEND INBOX {1000000}\r\n")
    a1.send_raw(body(1000000)[:1000])                 # held: 1000000 reserved
    poll(lambda: tmp_files(s), "the spooled literal's file")

    def deliver(subject):
        c = s.lmtp()
        try:
            c.cmd("LHLO x")
            if c.cmd("MAIL FROM:<s@x>")[0] != 250 or c.cmd("RCPT TO:<bob>")[0] != 250:
                raise dt.TestFailure("MAIL/RCPT refused")
            if c.cmd("DATA")[0] != 354:
                raise dt.TestFailure("DATA")
            c.send_raw(body(700000, subject) + b"\r\n.\r\n")
            code, lines = c.reply()
            if c.cmd("NOOP")[0] != 250:
                raise dt.TestFailure("LMTP session unusable after the message")
            c.cmd("QUIT")
            return code, lines
        finally:
            c.close()

    code, lines = deliver("refused")
    if code != 452 or "4.3.1" not in lines[0]:
        raise dt.TestFailure("LMTP message over spool_max_total: %r" % lines)
    b = s.login("bob", "pw")
    if status_messages(b) != 0:
        raise dt.TestFailure("the refused message was stored")
    # the upload finishes: released; the message now fits
    a1.send_raw(body(1000000)[1000:] + b"\r\n")
    _, t = a1.collect("t1")
    if not t.text.startswith("t1 OK"):
        raise dt.TestFailure("alice's APPEND: %s" % t.render())
    code, lines = deliver("accepted")
    if code != 250:
        raise dt.TestFailure("LMTP message within spool_max_total: %r" % lines)
    if status_messages(b) != 1:
        raise dt.TestFailure("the accepted message was not stored")
    # the LMTP transactions gave their reservations back: a 1.5 MiB
    # upload fits again
    accepted(a1, b"t2 APPEND INBOX {1000000}\r\n")
    a1.send_raw(body(1000000) + b"\r\n")
    _, t = a1.collect("t2")
    if not t.text.startswith("t2 OK"):
        raise dt.TestFailure("APPEND after the LMTP transactions: %s" % t.render())
    a1.logout()
    b.logout()


def main():
    cfg = {"maxmessagesize": "200000"}
    s = dt.Server(config=cfg, start=False)
    try:
        for u in ("alice", "carol", "dave", "erin", "frank"):
            s.add_user(u, "pw")
        s.start()
        R.run("sync literal over quota (STORAGE, MESSAGE): NO [OVERQUOTA] instead of +", sync_over_quota, s)
        R.run("MULTIAPPEND: running sum and count against the quota left", multiappend_sum, s)
        R.run("TRYCREATE, NOPERM, TOOBIG before +", target_and_size, s)
        R.run("LITERAL+ over quota: NO, discarded unspooled, next command works", literal_plus_over_quota, s)
        R.run("LMTP DATA over maxmessagesize: spool bounded and released", lmtp_data_bounded, s)
        s.stop()
    finally:
        s.cleanup()

    cfg = {"maxmessagesize": "4000000", "spool_max_per_user": "1048576", "spool_max_total": "1572864"}
    s = dt.Server(config=cfg, start=False)
    try:
        for u in ("alice", "bob", "carol"):
            s.add_user(u, "pw")
        s.start()
        R.run("spool_max_per_user over two connections, spool_max_total, release on disconnect",
              spool_limits, s)
        R.run("worker killed with a spooled literal: reservation repaired", worker_crash, s)
        R.run("LMTP message data counts against spool_max_total: 452 4.3.1, released after",
              lmtp_spool_total, s)
        s.stop()
    finally:
        s.cleanup()
    return R.done()


if __name__ == "__main__":
    sys.exit(main())
