#!/usr/bin/env python3
"""Interop: mbsync (isync 1.4+) uses COMPRESS=DEFLATE on its own when the
server offers it. A two-way sync with a 1 MB message each way, over plain
and IMAPS, with mbsync's protocol trace (-D) checked for the COMPRESS
exchange, then the same again with "DisableExtension COMPRESS=DEFLATE" to show
both paths leave the same result."""

import os
import subprocess
import sys
import tempfile
import shutil

import darius_test as dt
import test_mbsync as tm

R = dt.Report("mbsync-compress")


def run(conf, tmp):
    p = subprocess.run([tm.MBSYNC, "-c", conf, "-a", "-D"], capture_output=True, text=True,
                       timeout=60 * dt.timeout_scale(), env=dict(os.environ, HOME=tmp))
    out = p.stdout + p.stderr
    if p.returncode != 0:
        raise dt.TestFailure("mbsync exit %d: %s" % (p.returncode, out[-800:]))
    return out


def sync(tls, disable):
    tmp = tempfile.mkdtemp(prefix="darius-mbsync-z-")
    s = dt.server_with_user()
    try:
        conf, maildir = tm.write_conf(tmp, s, tls)
        if disable:
            with open(conf) as f:
                text = f.read()
            with open(conf, "w") as f:
                f.write(text.replace("Pass secret\n", "Pass secret\nDisableExtension COMPRESS=DEFLATE\n", 1))
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(maildir, "INBOX", sub), exist_ok=True)
        local_msg = dt.sample_message(1, size=1024 * 1024, subject="from maildir").replace("\r\n", "\n")
        with open(os.path.join(maildir, "INBOX", "cur", "1700000000.1.host:2,S"), "w") as f:
            f.write(local_msg)
        server_msg = dt.sample_message(2, size=1024 * 1024, subject="from server")
        c = s.login()
        c.ok("APPEND INBOX (\\Flagged) %L", [server_msg])
        c.logout()
        out = run(conf, tmp)
        used = "COMPRESS DEFLATE" in out and "OK DEFLATE active" in out
        if used == disable:
            raise dt.TestFailure("COMPRESS %s in mbsync's trace" % ("used" if used else "not used"))
        c = s.login()
        c.ok("SELECT INBOX")
        u, _ = c.ok("SEARCH SUBJECT \"from maildir\"")
        n = u[0].render().split()[-1]
        if not n.isdigit():
            raise dt.TestFailure("local message not pushed")
        # (mbsync adds its own X-TUID header field: compare the body)
        u, _ = c.ok("FETCH %s (BODY.PEEK[TEXT])" % n)
        if u[0].literals[0] != local_msg.replace("\n", "\r\n").split("\r\n\r\n", 1)[1].encode():
            raise dt.TestFailure("pushed message body differs")
        c.logout()
        files = tm.maildir_files(maildir)
        pulled = [p for p in files.values() if "from server" in open(p, errors="replace").read()]
        if len(pulled) != 1:
            raise dt.TestFailure("server message not pulled exactly once: %r" % files)
        with open(pulled[0], newline="") as f:
            got = f.read()
        body = lambda m: m.replace("\r\n", "\n").split("\n\n", 1)[1]
        if body(got) != body(server_msg):
            raise dt.TestFailure("pulled message body differs")
        s.stop()
        return "COMPRESS %s" % ("off" if disable else "used")
    finally:
        s.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    if not tm.MBSYNC:
        if dt.ci():
            R.fail("mbsync", "mbsync not installed (CI=true)")
        else:
            R.skip("mbsync", "mbsync not installed")
        return R.done()
    R.run("mbsync compressed sync, plain", sync, False, False)
    R.run("mbsync compressed sync, IMAPS", sync, True, False)
    R.run("mbsync with DisableExtension COMPRESS, plain", sync, False, True)
    return R.done()


if __name__ == "__main__":
    sys.exit(main())
