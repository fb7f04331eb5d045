#!/usr/bin/env python3
"""Interop: Cyrus lmtptest (cyrus-clients) against the LMTP listener:
STARTTLS + AUTH PLAIN, and SCRAM-SHA-256 without TLS, each followed by a
delivery that must arrive; a non-admin AUTH must be refused."""

import subprocess
import sys

import darius_test as dt

R = dt.Report("lmtptest")
LMTPTEST = dt.find_tool("lmtptest", ["/usr/lib/cyrus/bin"])


def run(s, args, mid):
    inp = ("MAIL FROM:<sender@example.org>\r\nRCPT TO:<alice>\r\nDATA\r\nSubject: lmtptest\r\n"
           "Message-ID: <%s@example.org>\r\n\r\nhello\r\n.\r\nQUIT\r\n" % mid)
    p = subprocess.run([LMTPTEST] + args + ["-p", str(s.lmtp_port), s.host], input=inp,
                       capture_output=True, text=True, timeout=30 * dt.timeout_scale(), errors="replace")
    return p.stdout + p.stderr


def delivered(s, mid):
    c = s.login("alice", "secret")
    c.ok("EXAMINE INBOX")
    u, _ = c.ok("UID SEARCH HEADER Message-ID %s" % mid)
    c.logout()
    return any(r.text.startswith("* SEARCH ") and len(r.text.split()) > 2 for r in u)


def main():
    if not LMTPTEST:
        if dt.ci():
            R.fail("lmtptest", "cyrus lmtptest not installed (CI=true)")
        else:
            R.skip("lmtptest", "cyrus lmtptest not installed")
        return R.done()
    s = dt.Server(start=False, config={"lmtp_auth_required": "yes", "admins": "lmtpadmin"})
    try:
        s.add_user("alice", "secret")
        s.add_user("lmtpadmin", "adminpw")
        s.start()
        out = run(s, ["-t", "", "-a", "lmtpadmin", "-w", "adminpw", "-m", "PLAIN"], "lt-plain")
        R.check("TLS connection established" in out and "Authenticated." in out and
                "250 2.1.5 <alice> Delivered" in out and delivered(s, "lt-plain"),
                "STARTTLS + AUTH PLAIN + delivery", out[-800:])
        out = run(s, ["-a", "lmtpadmin", "-w", "adminpw", "-m", "SCRAM-SHA-256"], "lt-scram")
        R.check("Authenticated." in out and "250 2.1.5 <alice> Delivered" in out and delivered(s, "lt-scram"),
                "AUTH SCRAM-SHA-256 + delivery", out[-800:])
        out = run(s, ["-t", "", "-a", "alice", "-w", "secret", "-m", "PLAIN"], "lt-user")
        R.check("Authenticated." not in out and "530 5.7.0" in out and not delivered(s, "lt-user"),
                "non-admin AUTH refused, MAIL answered 530", out[-800:])
        s.stop()
    finally:
        s.cleanup()
    return R.done()


if __name__ == "__main__":
    sys.exit(main())
