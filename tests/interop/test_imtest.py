#!/usr/bin/env python3
"""Interop: cyrus imtest authenticating with each SASL mechanism over TLS
(implicit TLS with -s, and STARTTLS with -t "")."""

import subprocess
import sys

import darius_test as dt

R = dt.Report("imtest")
IMTEST = dt.find_tool("imtest", ["/usr/lib/cyrus/bin", "/usr/bin"]) or dt.find_tool("cyrus-imtest")
MECHS = ["PLAIN", "LOGIN", "SCRAM-SHA-1", "SCRAM-SHA-256"]


def imtest(s, mech, mode, password="secret"):
    args = [IMTEST, "-a", "alice", "-u", "alice", "-w", password, "-m", mech]
    if mode == "imaps":
        args += ["-s", "-p", str(s.tls_port)]
    else:
        args += ["-t", "", "-p", str(s.port)]
    args.append(s.host)
    p = subprocess.run(args, input="Z1 NOOP\r\nZ2 LOGOUT\r\n", capture_output=True, text=True,
                       timeout=30 * dt.timeout_scale(), errors="replace")
    return p.returncode, p.stdout + p.stderr


def main():
    if not IMTEST:
        if dt.ci():
            R.fail("imtest", "cyrus imtest not installed (CI=true)")
        else:
            R.skip("imtest", "cyrus imtest not installed")
        return R.done()
    s = dt.server_with_user(config={"allowplaintext": "no"})
    try:
        for mech in MECHS:
            for mode in ("imaps", "starttls"):
                rc, out = imtest(s, mech, mode)
                ok = "Authenticated." in out and "Z2 OK" in out
                R.check(ok, "%s over %s" % (mech, mode),
                        "exit %d, output tail: %r" % (rc, out[-600:]))
        # wrong password must not authenticate
        rc, out = imtest(s, "SCRAM-SHA-256", "imaps", password="wrong")
        R.check("Authenticated." not in out, "SCRAM-SHA-256 with a wrong password fails",
                "output tail: %r" % out[-400:])
        s.stop()
    finally:
        s.cleanup()
    return R.done()


if __name__ == "__main__":
    sys.exit(main())
