#!/usr/bin/env python3
"""LMTP delivery under the multi-user store (Cyrus lmtpd semantics):
user+detail delivers into a folder only when it grants the p right to the
poster (anyone when unauthenticated, the authenticated LMTP client
otherwise), else INBOX silently; postuser+folder delivers into shared
mailboxes (550 5.1.1 when missing or without p); lmtp_address_map
(re-read when it changes); `darius deliver -m` with shared / admin-form
mailboxes and -a; quota checked at RCPT (452 4.2.2 / 552 5.2.2 unless
IGNOREQUOTA), the after-DATA check for the message that would push it
over; a store being moved answers 451 4.2.0; first delivery provisions
the account (autocreate_inbox_folders); virtual domains (two domains,
per-domain shared mailboxes)."""

import base64
import os
import sqlite3
import subprocess
import sys
import time

import darius_test as dt

R = dt.Report("lmtp-delivery")

MSG = "From: s@example.org\r\nSubject: t\r\nMessage-ID: <%s@example.org>\r\n\r\nHello %s\r\n"


def msg(mid, extra=""):
    return MSG % (mid, mid) + extra


def lhlo(c):
    code, lines = c.cmd("LHLO client.example")
    if code != 250:
        raise dt.TestFailure("LHLO: %r" % lines)


def transaction(c, rcpts, data, mail="MAIL FROM:<s@example.org>"):
    """One transaction: (RCPT codes and lines, DATA replies)."""
    code, lines = c.cmd(mail)
    if code != 250:
        raise dt.TestFailure("MAIL: %r" % lines)
    rr = [c.cmd("RCPT TO:<%s>" % r) for r in rcpts]
    ok = sum(1 for code, _ in rr if code == 250)
    if ok == 0:
        c.cmd("RSET")
        return rr, []
    code, lines = c.cmd("DATA")
    if code != 354:
        raise dt.TestFailure("DATA: %r" % lines)
    c.send_raw(dt.lmtp_data(data))
    return rr, [c.reply() for _ in range(ok)]


def deliver(s, rcpts, mid, auth=None, unix=True, expect=None):
    """Deliver msg(mid) to rcpts; check the RCPT codes against expect
    (default: all 250) and every DATA reply is 250."""
    c = s.lmtp(unix=unix)
    lhlo(c)
    if auth:
        ir = base64.b64encode(("\0%s\0%s" % (auth, s.users[auth])).encode()).decode()
        code, lines = c.cmd("AUTH PLAIN " + ir)
        if code != 235:
            raise dt.TestFailure("AUTH: %r" % lines)
    rr, dr = transaction(c, rcpts, msg(mid))
    c.cmd("QUIT")
    want = expect or [250] * len(rcpts)
    if [x[0] for x in rr] != want:
        raise dt.TestFailure("RCPT %r: got %r, want %r" % (rcpts, rr, want))
    if any(x[0] != 250 for x in dr):
        raise dt.TestFailure("DATA replies %r" % dr)
    return rr


def count(s, user, mailbox, mid, password=None):
    """Messages containing mid in mailbox as user sees it (-1: cannot open)."""
    c = s.login(user, password or s.users[user])
    u, t = c.command('EXAMINE "%s"' % mailbox)
    if "OK" not in t.text.split(" ", 2)[1:2]:
        c.logout()
        return -1
    u, t = c.command('SEARCH HEADER Message-ID "<%s@example.org>"' % mid)
    c.logout()
    n = 0
    for r in u:
        if r.text.startswith("* SEARCH"):
            n = len(r.text.split()) - 2
    return n


def where(s, user, mid, mailboxes):
    return {m: count(s, user, m, mid) for m in mailboxes}


def run_deliver(s, args, mid):
    return subprocess.run([s.darius, "-C", s.conf_path, "deliver"] + args, input=msg(mid).encode(),
                          capture_output=True, timeout=60)


# ---- tests ------------------------------------------------------------------

def detail_p_right(s):
    a = s.login("alice", s.users["alice"])
    a.ok("CREATE Lists")
    a.ok("CREATE Private")
    a.logout()
    # owner-only ACL: anyone may not post -> INBOX, silently (250)
    deliver(s, ["alice+Lists"], "d1")
    got = where(s, "alice", "d1", ["INBOX", "Lists"])
    if got != {"INBOX": 1, "Lists": 0}:
        raise dt.TestFailure("without p: %r" % got)
    a = s.login("alice", s.users["alice"])
    a.ok("SETACL Lists anyone +p")
    a.logout()
    deliver(s, ["alice+Lists"], "d2")
    got = where(s, "alice", "d2", ["INBOX", "Lists"])
    if got != {"INBOX": 0, "Lists": 1}:
        raise dt.TestFailure("with anyone p: %r" % got)
    # the authenticated LMTP client is the poster: its own entry counts
    deliver(s, ["alice+Private"], "d3", auth="admin", unix=False)
    if where(s, "alice", "d3", ["INBOX", "Private"]) != {"INBOX": 1, "Private": 0}:
        raise dt.TestFailure("admin without p posted")
    a = s.login("alice", s.users["alice"])
    a.ok("SETACL Private admin p")
    a.logout()
    deliver(s, ["alice+Private"], "d4", auth="admin", unix=False)
    deliver(s, ["alice+Private"], "d5")   # unauthenticated: still INBOX
    if where(s, "alice", "d4", ["INBOX", "Private"]) != {"INBOX": 0, "Private": 1}:
        raise dt.TestFailure("authenticated poster with p: not in Private")
    if where(s, "alice", "d5", ["INBOX", "Private"]) != {"INBOX": 1, "Private": 0}:
        raise dt.TestFailure("unauthenticated poster used admin's p")
    # darius deliver: -m folder with and without -a
    p = run_deliver(s, ["-m", "Private", "alice"], "d6")
    p2 = run_deliver(s, ["-m", "Private", "-a", "admin", "alice"], "d7")
    if p.returncode or p2.returncode:
        raise dt.TestFailure("deliver: %r %r" % (p.stderr, p2.stderr))
    if count(s, "alice", "INBOX", "d6") != 1 or count(s, "alice", "Private", "d7") != 1:
        raise dt.TestFailure("deliver -m/-a p check")


def shared_postuser(s):
    a = s.login("admin", s.users["admin"])
    a.ok('CREATE "Shared Folders/news"')
    a.ok('SETACL "Shared Folders/news" anyone lrsp')
    a.ok('CREATE "Shared Folders/news/sub"')     # inherits the parent's ACL
    a.ok('CREATE "Shared Folders/closed"')       # defaultacl: no p
    a.logout()
    rr = deliver(s, ["bb+news", "bb+news/sub@example.com", "bb+closed", "bb+nosuch", "bb"], "s1",
                 expect=[250, 250, 550, 550, 550])
    if not all("5.1.1" in x[1][0] for x in rr[2:]):
        raise dt.TestFailure("550 without 5.1.1: %r" % rr)
    # identical answers for "missing" and "not allowed"
    if rr[2][1] != rr[3][1]:
        raise dt.TestFailure("missing and forbidden differ: %r" % rr)
    if count(s, "bob", "Shared Folders/news", "s1") != 1 or count(s, "bob", "Shared Folders/news/sub", "s1") != 1:
        raise dt.TestFailure("not in the shared mailboxes")
    # darius deliver into a shared mailbox: -m without USER, or admin form
    p1 = run_deliver(s, ["-m", "news"], "s2")
    p2 = run_deliver(s, ["-m", "Shared Folders/news/sub"], "s3")
    p3 = run_deliver(s, ["-m", "Shared Folders/closed"], "s4")
    p4 = run_deliver(s, ["-m", "Shared Folders/news", "bob"], "s5")
    if (p1.returncode, p2.returncode, p3.returncode, p4.returncode) != (0, 0, 67, 64):
        raise dt.TestFailure("deliver exits %r: %r" % ((p1.returncode, p2.returncode, p3.returncode,
                                                        p4.returncode), p3.stderr))
    if count(s, "bob", "Shared Folders/news", "s2") != 1 or count(s, "bob", "Shared Folders/news/sub", "s3") != 1:
        raise dt.TestFailure("deliver -m shared")
    # -a with p on a closed one
    a = s.login("admin", s.users["admin"])
    a.ok('SETACL "Shared Folders/closed" carol p')
    a.logout()
    p = run_deliver(s, ["-m", "Shared Folders/closed", "-a", "carol"], "s6")
    if p.returncode:
        raise dt.TestFailure("deliver -a carol into closed: %r" % p.stderr)


def address_map(s):
    path = s.conf["lmtp_address_map"]
    with open(path, "w") as f:
        f.write("# test map\nnews@example.com   Shared Folders/news\n"
                "Lists@Example.com  user/alice/Lists\nbobmap@example.com user/bob\n"
                "ghost@example.com  Shared Folders/nosuch\nnop@example.com user/alice/Private\n")
    deliver(s, ["news@example.com", "LISTS@example.com", "bobmap@example.com", "ghost@example.com",
                "nop@example.com"], "m1", expect=[250, 250, 250, 550, 550])
    if count(s, "bob", "Shared Folders/news", "m1") != 1 or count(s, "alice", "Lists", "m1") != 1 \
            or count(s, "bob", "INBOX", "m1") != 1:
        raise dt.TestFailure("map targets")
    # edited while the server runs: re-read
    time.sleep(0.01)
    with open(path + ".new", "w") as f:
        f.write("news2@example.com Shared Folders/news\n")
    os.rename(path + ".new", path)
    deliver(s, ["news2@example.com", "news@example.com"], "m2", expect=[250, 550])
    if count(s, "bob", "Shared Folders/news", "m2") != 1:
        raise dt.TestFailure("re-read map")


def quota_rcpt(s):
    deliver(s, ["carol"], "q0")
    r = s.cli("quota", "set", "user/carol", "message=1")
    if r.returncode != 0:
        raise dt.TestFailure("quota set: %s" % r.stderr)
    # carol has 1 message already (+ whatever earlier tests put): at or over
    rr = deliver(s, ["carol", "bob"], "q1", expect=[452, 250])
    if "4.2.2" not in rr[0][1][0]:
        raise dt.TestFailure("%r" % rr)
    c = s.lmtp(unix=True)
    lhlo(c)
    rr, dr = transaction(c, ["carol"], msg("q2"), mail="MAIL FROM:<s@example.org> IGNOREQUOTA")
    c.cmd("QUIT")
    if rr[0][0] != 250 or dr[0][0] != 250:
        raise dt.TestFailure("IGNOREQUOTA: %r %r" % (rr, dr))
    # storage: RCPT passes, the message that would push it over fails after DATA
    r = s.cli("quota", "set", "user/carol", "storage=64", "message=none")
    if r.returncode != 0:
        raise dt.TestFailure("quota set storage: %s" % r.stderr)
    c = s.lmtp(unix=True)
    lhlo(c)
    rr, dr = transaction(c, ["carol"], msg("q3", ("x" * 76 + "\r\n") * 1300))
    c.cmd("QUIT")
    if rr[0][0] != 250 or dr[0][0] != 452 or "4.2.2" not in dr[0][1][0]:
        raise dt.TestFailure("after-DATA over quota: %r %r" % (rr, dr))
    # SIZE= announcing too much is refused at RCPT
    c = s.lmtp(unix=True)
    lhlo(c)
    c.cmd("MAIL FROM:<s@example.org> SIZE=100000")
    code, lines = c.cmd("RCPT TO:<carol>")
    c.cmd("QUIT")
    if code != 452:
        raise dt.TestFailure("SIZE at RCPT: %r" % lines)
    s.cli("quota", "set", "user/carol", "storage=none", "message=none")


def busy_store(s):
    deliver(s, ["dan"], "b0")
    # Mark dan's store as being moved by a live process (as `user
    # move-partition` does while it copies): deliveries must wait (4xx).
    holder = subprocess.Popen(["sleep", "60"])
    db = sqlite3.connect(os.path.join(s.datadir, "stores.db"), timeout=10)
    try:
        with db:
            db.execute("INSERT OR REPLACE INTO store(name, partition, state, target, pid, since)"
                       " VALUES('dan', 'default', 'moving', 'p2', ?, ?)", (holder.pid, int(time.time())))
        rr = deliver(s, ["dan", "bob"], "b1", expect=[451, 250])
        if "4.2.0" not in rr[0][1][0]:
            raise dt.TestFailure("busy: %r" % rr)
        p = run_deliver(s, ["dan"], "b2")
        if p.returncode != 75:
            raise dt.TestFailure("deliver to a busy store: exit %d" % p.returncode)
    finally:
        with db:
            db.execute("DELETE FROM store WHERE name='dan'")
        db.close()
        holder.kill()
        holder.wait()
    deliver(s, ["dan"], "b3")
    # a real move between partitions, then delivery continues
    r = s.cli("user", "move-partition", "dan", "p2")
    if r.returncode != 0:
        return "move-partition unavailable: %s" % r.stderr.strip()
    deliver(s, ["dan"], "b4")
    if count(s, "dan", "INBOX", "b4") != 1 or count(s, "dan", "INBOX", "b0") != 1:
        raise dt.TestFailure("after move-partition")


def provisioning(s):
    r = s.cli("user", "add", "erin", input_text="erinpw\n")
    if r.returncode != 0:
        raise dt.TestFailure("user add: %s" % r.stderr)
    s.users["erin"] = "erinpw"
    deliver(s, ["erin+Drafts"], "p1")   # first contact is a delivery
    if count(s, "erin", "INBOX", "p1") != 1:
        raise dt.TestFailure("first delivery")
    if count(s, "erin", "Drafts", "p1") != 0:   # autocreated, owner-only ACL: INBOX
        raise dt.TestFailure("autocreate_inbox_folders: Drafts missing or posted into")


def virtdomains(s):
    deliver(s, ["alice@example.org", "alice@other.test", "bob@other.test", "Alice@OTHER.test",
                "bob@example.org", "bob", "alice"], "v1", expect=[250, 250, 250, 250, 550, 550, 250])
    # two recipients each resolve to the same user: the second copy is a
    # suppressed duplicate (same Message-ID, same mailbox)
    if count(s, "alice", "INBOX", "v1") != 1:
        raise dt.TestFailure("alice@example.org")
    if count(s, "alice@other.test", "INBOX", "v1") != 1 or count(s, "bob@other.test", "INBOX", "v1") != 1:
        raise dt.TestFailure("other.test users")
    # shared mailboxes per domain
    a = s.login("admin@other.test", s.users["admin@other.test"])
    a.ok('CREATE "Shared Folders/news"')
    a.ok('SETACL "Shared Folders/news" anyone lrsp')
    a.logout()
    deliver(s, ["bb+news@other.test", "bb+news@example.org", "bb+news"], "v2", expect=[250, 550, 550])
    if count(s, "bob@other.test", "Shared Folders/news", "v2") != 1:
        raise dt.TestFailure("other.test shared news")
    a = s.login("admin", s.users["admin"])
    a.ok('CREATE "Shared Folders/news"')
    a.ok('SETACL "Shared Folders/news" anyone lrsp')
    a.logout()
    deliver(s, ["bb+news@example.org", "bb+news"], "v3")
    if count(s, "alice", "Shared Folders/news", "v3") != 1:
        raise dt.TestFailure("default-domain shared news")
    if count(s, "bob@other.test", "Shared Folders/news", "v3") != 0:
        raise dt.TestFailure("crossed domains")


def netnews_separator(s):
    """unixhierarchysep: no - the '.' separator in addresses, as IMAP
    clients see names; the address map keeps '/'."""
    a = s.login("admin", s.users["admin"])
    a.ok('CREATE "Shared Folders.news"')
    a.ok('SETACL "Shared Folders.news" anyone lrsp')
    a.ok('CREATE "Shared Folders.news.sub"')
    a.logout()
    c = s.login("alice", s.users["alice"])
    c.ok("CREATE Lists")
    c.ok("CREATE Lists.x")
    c.ok("SETACL Lists.x anyone p")
    c.logout()
    with open(s.conf["lmtp_address_map"], "w") as f:
        f.write("x@example.com user/alice/Lists/x\n")
    deliver(s, ["bb+news.sub", "alice+Lists.x", "x@example.com", "bb+news..sub"], "n1",
            expect=[250, 250, 250, 550])
    if count(s, "alice", "Shared Folders.news.sub", "n1") != 1:
        raise dt.TestFailure("bb+news.sub")
    if count(s, "alice", "Lists.x", "n1") != 1:   # the second copy is a duplicate
        raise dt.TestFailure("alice+Lists.x / map")
    p = run_deliver(s, ["-m", "Shared Folders.news"], "n2")
    if p.returncode or count(s, "alice", "Shared Folders.news", "n2") != 1:
        raise dt.TestFailure("deliver -m with '.': %r" % p.stderr)


def main():
    base = [("alice", "alicepw"), ("bob", "bobpw"), ("carol", "carolpw"), ("dan", "danpw"),
            ("admin", "adminpw")]
    tmpmap = None
    s = dt.Server(start=False, config={"postuser": "bb", "admins": "admin",
                                       "autocreate_inbox_folders": "Drafts | Sent | Trash"})
    try:
        os.makedirs(os.path.join(s.tmp, "p2"))
        tmpmap = os.path.join(s.tmp, "addr.map")
        s.conf["lmtp_address_map"] = tmpmap
        s.write_config(["partition-p2: %s" % os.path.join(s.tmp, "p2")])
        for u, p in base:
            s.add_user(u, p)
        s.start()
        R.run("+detail: p right for anyone / the authenticated poster, INBOX fallback, deliver -m/-a",
              detail_p_right, s)
        R.run("postuser+folder: shared mailboxes, 550 5.1.1 when missing or no p, deliver -m shared",
              shared_postuser, s)
        R.run("lmtp_address_map: shared and user targets, 550 for bad ones, re-read on change", address_map, s)
        R.run("quota at RCPT: 452 4.2.2, IGNOREQUOTA, after-DATA check, SIZE=", quota_rcpt, s)
        R.run("store being moved: 451 4.2.0, deliver exit 75; move-partition", busy_store, s)
        R.run("first delivery provisions the account", provisioning, s)
        s.stop()
    finally:
        s.cleanup()

    s = dt.Server(start=False, config={"unixhierarchysep": "no", "postuser": "bb", "admins": "admin"})
    try:
        s.conf["lmtp_address_map"] = os.path.join(s.tmp, "addr.map")
        s.write_config()
        for u, p in [("alice", "a1"), ("admin", "ad")]:
            s.add_user(u, p)
        s.start()
        R.run("unixhierarchysep: no - '.' in +detail and postuser addresses", netnews_separator, s)
        s.stop()
    finally:
        s.cleanup()

    s = dt.Server(start=False, config={"virtdomains": "yes", "defaultdomain": "example.org", "postuser": "bb",
                                       "admins": "admin admin@other.test"})
    try:
        for u, p in [("alice", "a1"), ("alice@other.test", "a2"), ("bob@other.test", "b2"), ("admin", "ad"),
                     ("admin@other.test", "ad2")]:
            s.add_user(u, p)
        s.start()
        R.run("virtdomains: user@domain recipients in two domains, per-domain shared mailboxes", virtdomains, s)
        s.stop()
    finally:
        s.cleanup()
    return R.done()


if __name__ == "__main__":
    sys.exit(main())
