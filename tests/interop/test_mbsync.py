#!/usr/bin/env python3
"""Interop: mbsync (isync) syncing a Maildir both ways with the server:
push local messages, pull server messages, flag changes both ways, over
plain (allowplaintext) and over IMAPS with the server certificate."""

import os
import re
import subprocess
import sys
import tempfile
import shutil

import darius_test as dt

R = dt.Report("mbsync")
MBSYNC = dt.find_tool("mbsync")


def write_conf(tmp, s, tls):
    maildir = os.path.join(tmp, "mail")
    os.makedirs(maildir, exist_ok=True)
    conf = os.path.join(tmp, "mbsyncrc")
    lines = [
        "IMAPAccount darius",
        "Host %s" % s.host,
        "Port %d" % (s.tls_port if tls else s.port),
        "User alice",
        "Pass secret",
    ]
    if tls:
        lines += ["SSLType IMAPS", "CertificateFile %s" % s.cert_path(), "SSLVersions TLSv1.2 TLSv1.3"]
    else:
        lines += ["SSLType None", "AuthMechs LOGIN"]
    lines += [
        "",
        "IMAPStore remote",
        "Account darius",
        "",
        "MaildirStore local",
        "Path %s/" % maildir,
        "Inbox %s/INBOX" % maildir,
        "SubFolders Verbatim",
        "",
        "Channel sync",
        "Far :remote:",
        "Near :local:",
        "Patterns *",
        "Create Both",
        "Expunge Both",
        "SyncState *",
        "",
    ]
    with open(conf, "w") as f:
        f.write("\n".join(lines))
    return conf, maildir


def mbsync(conf, tmp):
    p = subprocess.run([MBSYNC, "-c", conf, "-a"], capture_output=True, text=True,
                       timeout=60 * dt.timeout_scale(), env=dict(os.environ, HOME=tmp))
    if p.returncode != 0:
        raise dt.TestFailure("mbsync exit %d: %s" % (p.returncode, (p.stdout + p.stderr)[-800:]))
    return p.stdout + p.stderr


def maildir_files(maildir, box="INBOX"):
    out = {}
    for sub in ("cur", "new"):
        d = os.path.join(maildir, box, sub)
        if os.path.isdir(d):
            for f in os.listdir(d):
                out[f] = os.path.join(d, f)
    return out


def sync_both_ways(tls):
    tmp = tempfile.mkdtemp(prefix="darius-mbsync-")
    s = dt.server_with_user()
    try:
        conf, maildir = write_conf(tmp, s, tls)
        # local message to push (Maildir uses LF line ends)
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(maildir, "INBOX", sub), exist_ok=True)
        local_msg = dt.sample_message(1, subject="from maildir").replace("\r\n", "\n")
        with open(os.path.join(maildir, "INBOX", "cur", "1700000000.1.host:2,S"), "w") as f:
            f.write(local_msg)
        # server message to pull
        c = s.login()
        c.ok("APPEND INBOX (\\Flagged) %L", [dt.sample_message(2, subject="from server")])
        c.logout()
        mbsync(conf, tmp)
        c = s.login()
        u, _ = c.ok("SELECT INBOX")
        u, _ = c.ok("FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        txt = "\n".join(r.render() for r in u)
        if "from maildir" not in txt:
            raise dt.TestFailure("local message not pushed: %s" % txt)
        if not re.search(r"FLAGS \([^)]*\\Seen[^)]*\)[^\n]*from maildir", txt):
            raise dt.TestFailure("pushed message lost \\Seen: %s" % txt)
        files = maildir_files(maildir)
        pulled = [p for p in files.values() if "from server" in open(p, errors="replace").read()]
        if len(pulled) != 1:
            raise dt.TestFailure("server message not pulled exactly once: %r" % files)
        if not re.search(r":2,[A-Z]*F", os.path.basename(pulled[0])):
            raise dt.TestFailure("pulled message lacks F flag: %s" % pulled[0])
        # flag changes both ways: local marks the pulled one seen, server
        # flags the pushed one
        src = pulled[0]
        base, _, fl = os.path.basename(src).partition(":2,")
        os.rename(src, os.path.join(maildir, "INBOX", "cur", base + ":2," + "".join(sorted(set(fl + "S")))))
        u, _ = c.ok("SEARCH SUBJECT \"from maildir\"")
        n = u[0].render().split()[-1]
        c.ok("STORE %s +FLAGS (\\Flagged)" % n)
        c.logout()
        mbsync(conf, tmp)
        c = s.login()
        c.ok("SELECT INBOX")
        u, _ = c.ok("SEARCH SEEN SUBJECT \"from server\"")
        if u[0].render() == "* SEARCH":
            raise dt.TestFailure("local \\Seen change not pushed")
        c.logout()
        files = maildir_files(maildir)
        pushed = [f for f, p in files.items() if "from maildir" in open(p, errors="replace").read()]
        if len(pushed) != 1 or not re.search(r":2,[A-Z]*F", pushed[0]):
            raise dt.TestFailure("server \\Flagged change not pulled: %r" % pushed)
        s.stop()
    finally:
        s.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    if not MBSYNC:
        if dt.ci():
            R.fail("mbsync", "mbsync not installed (CI=true)")
        else:
            R.skip("mbsync", "mbsync not installed")
        return R.done()
    R.run("mbsync two-way sync, plain", sync_both_ways, False)
    R.run("mbsync two-way sync, IMAPS with server certificate", sync_both_ways, True)
    return R.done()


if __name__ == "__main__":
    sys.exit(main())
