#!/usr/bin/env python3
"""Hostile-client checks: STARTTLS command injection (pipelined plaintext
after STARTTLS must not be executed), absurd literal sizes, NUL bytes,
mailbox names that try to leave the user's store; after each, the server
must still serve new connections."""

import os
import sys

import darius_test as dt

R = dt.Report("security")


def alive(s):
    c = s.login()
    c.ok("NOOP")
    c.logout()


def starttls_injection():
    s = dt.server_with_user()
    try:
        c = s.client()
        c.greeting()
        # STARTTLS and a second command in one packet (CVE-2011-0411 style)
        c.send_raw(b"a1 STARTTLS\r\nb1 CAPABILITY\r\n")
        r = c.read()
        if not r.text.startswith("a1 OK"):
            raise dt.TestFailure("STARTTLS: %s" % r.render())
        if c.buf:
            raise dt.TestFailure("plaintext response to the injected command: %r" % bytes(c.buf[:200]))
        try:
            c.sock = c._wrap(c.sock)
        except OSError as e:
            # refusing the connection is safe too
            return "connection dropped after injection (%s)" % e
        c.send("c1 NOOP")
        try:
            while True:
                r = c.read()
                if r.text.startswith("b1 ") or r.text.startswith("* CAPABILITY"):
                    raise dt.TestFailure("injected plaintext command executed inside TLS: %s" % r.render())
                if r.text.startswith("c1 "):
                    break
        except EOFError:
            return "connection closed after injection"
        c.close()
        alive(s)
        s.stop()
        return "pipelined plaintext discarded"
    finally:
        s.cleanup()


def hostile_input():
    s = dt.server_with_user()
    try:
        cases = [
            b"a1 LOGIN {99999999999999999999}\r\n",
            b"a2 LOGIN {18446744073709551617+}\r\n",
            b"a3 NOOP\x00\r\n",
            b"\x00\x01\x02\xff\xfe\r\n",
            b"a4 LOGIN \"alice\" {-1}\r\n",
            b"a5 " + b"(" * 5000 + b"\r\n",
        ]
        for data in cases:
            c = s.client()
            c.greeting()
            c.send_raw(data)
            try:
                r = c.read()
                if " OK" in r.text[:6]:
                    raise dt.TestFailure("%r accepted: %s" % (data[:40], r.render()))
            except EOFError:
                pass
            c.close()
            alive(s)
        # the same after login
        c = s.login()
        for data in (b"b1 SELECT {4294967296}\r\n", b"b2 FETCH 1:4294967295 FLAGS\r\n",
                     b"b3 SEARCH " + b"NOT " * 3000 + b"ALL\r\n"):
            c.send_raw(data)
            try:
                r = c.read()
                while r.text.startswith("*"):
                    r = c.read()
                if " OK" in r.text[:6] and not data.startswith(b"b2"):
                    raise dt.TestFailure("%r accepted: %s" % (data[:40], r.render()))
            except EOFError:
                c = s.login()
        c.close()
        alive(s)
        s.stop()
    finally:
        s.cleanup()


def mailbox_names_stay_inside():
    s = dt.server_with_user()
    try:
        before = set(os.listdir(s.tmp))
        c = s.login()
        for name in ('"../../escape"', '"a/../../escape"', '".."', '"/abs"', '"~root"',
                     '"x\\\\y"', '"%s"' % ("n" * 2000), '"a//b"'):
            u, t = c.command("CREATE %s" % name)
            # whatever the answer, nothing may appear outside the datadir
        after = set(os.listdir(s.tmp))
        if after - before:
            raise dt.TestFailure("files appeared outside the datadir: %r" % (after - before))
        parent = os.path.dirname(s.tmp)
        if os.path.exists(os.path.join(parent, "escape")) or os.path.exists("/abs"):
            raise dt.TestFailure("mailbox created outside the store")
        c.ok("LIST \"\" *")
        c.logout()
        alive(s)
        s.stop()
    finally:
        s.cleanup()


def main():
    R.run("STARTTLS command injection is not executed", starttls_injection)
    R.run("absurd literals, NUL bytes, deep nesting: no crash", hostile_input)
    R.run("mailbox names cannot escape the user store", mailbox_names_stay_inside)
    return R.done()


if __name__ == "__main__":
    sys.exit(main())
