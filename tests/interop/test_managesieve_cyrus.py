#!/usr/bin/env python3
"""Interop: Cyrus's ManageSieve clients against Darius.

- sivtest (cyrus-clients) authenticating with PLAIN, LOGIN, SCRAM-SHA-1
  and SCRAM-SHA-256 after STARTTLS (allowplaintext no), then LISTSCRIPTS
  and LOGOUT; a wrong password does not authenticate.
- sieveshell (cyrus-admin, Perl over libisieve) putting, listing,
  activating, fetching, deactivating and deleting a script; the results
  are checked with `darius sieve` (the same store)."""

import os
import subprocess
import sys

import darius_test as dt

R = dt.Report("managesieve-cyrus")
SIVTEST = dt.find_tool("sivtest", ["/usr/lib/cyrus/bin", "/usr/bin"])
SIEVESHELL = dt.find_tool("sieveshell", ["/usr/bin", "/usr/lib/cyrus/bin"])
MECHS = ["PLAIN", "LOGIN", "SCRAM-SHA-1", "SCRAM-SHA-256"]
SCRIPT = 'require ["fileinto"];\nif header :contains "subject" "[list]" {\n  fileinto "Lists";\n}\n'


def sivtest(s, mech, password="secret"):
    args = [SIVTEST, "-a", "alice", "-u", "alice", "-w", password, "-m", mech, "-t", "",
            "-p", str(s.sieve_port), s.host]
    p = subprocess.run(args, input="LISTSCRIPTS\r\nLOGOUT\r\n", capture_output=True, text=True,
                       timeout=30 * dt.timeout_scale(), errors="replace")
    return p.returncode, p.stdout + p.stderr


def sieveshell(s, commands):
    args = [SIEVESHELL, "-u", "alice", "-a", "alice", "-p", "secret", "-e", commands,
            "%s:%d" % (s.host, s.sieve_port)]
    p = subprocess.run(args, capture_output=True, text=True, timeout=30 * dt.timeout_scale(),
                       errors="replace", cwd=s.tmp, stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout + p.stderr


def sieveshell_session(s):
    path = os.path.join(s.tmp, "filter.sieve")
    with open(path, "w") as f:
        f.write(SCRIPT)
    rc, out = sieveshell(s, "put %s\nactivate filter.sieve\nlist\n" % path)
    if rc != 0 or "filter.sieve" not in out or "active" not in out:
        raise dt.TestFailure("put/activate/list: exit %d: %r" % (rc, out[-600:]))
    r = s.cli("sieve", "get", "alice", "filter.sieve")
    if r.returncode != 0 or r.stdout != SCRIPT:
        raise dt.TestFailure("darius sieve get after put: %r %r" % (r.stdout, r.stderr))
    rc, out = sieveshell(s, "get filter.sieve\n")
    if rc != 0 or "fileinto \"Lists\";" not in out:
        raise dt.TestFailure("get: exit %d: %r" % (rc, out[-600:]))
    # a script with errors is refused with its line number
    bad = os.path.join(s.tmp, "bad.sieve")
    with open(bad, "w") as f:
        f.write('require "fileinto";\nif heaxder "a" "b" { keep; }\n')
    rc, out = sieveshell(s, "put %s\n" % bad)
    if "2:" not in out:
        raise dt.TestFailure("put of a bad script: exit %d: %r" % (rc, out[-600:]))
    rc, out = sieveshell(s, "deactivate\ndelete filter.sieve\nlist\n")
    if rc != 0 or "filter.sieve" in out:
        raise dt.TestFailure("deactivate/delete/list: exit %d: %r" % (rc, out[-600:]))
    r = s.cli("sieve", "list", "alice")
    if r.returncode != 0 or "filter.sieve" in r.stdout or "bad.sieve" in r.stdout:
        raise dt.TestFailure("darius sieve list after delete: %r" % r.stdout)


def main():
    if not SIVTEST and not SIEVESHELL:
        if dt.ci():
            R.fail("sivtest/sieveshell", "cyrus-clients/cyrus-admin not installed (CI=true)")
        else:
            R.skip("sivtest/sieveshell", "cyrus-clients/cyrus-admin not installed")
        return R.done()
    s = dt.server_with_user(config={"allowplaintext": "no"})
    try:
        if SIVTEST:
            for mech in MECHS:
                rc, out = sivtest(s, mech)
                # after the login: the OKs of LISTSCRIPTS and LOGOUT
                after = out.split("Authenticated.", 1)[-1].splitlines() if "Authenticated." in out else []
                ok = sum(1 for ln in after if ln.strip() == "OK") == 2
                R.check(ok,
                        "sivtest %s after STARTTLS" % mech, "exit %d, output tail: %r" % (rc, out[-600:]))
            rc, out = sivtest(s, "SCRAM-SHA-256", password="wrong")
            R.check("Authenticated." not in out, "sivtest SCRAM-SHA-256 with a wrong password fails",
                    "output tail: %r" % out[-400:])
        else:
            R.skip("sivtest", "not installed")
        if SIEVESHELL:
            R.run("sieveshell put/activate/list/get/deactivate/delete (SCRAM, no TLS)", sieveshell_session, s)
        else:
            R.skip("sieveshell", "not installed")
        s.stop()
    finally:
        s.cleanup()
    return R.done()


if __name__ == "__main__":
    sys.exit(main())
