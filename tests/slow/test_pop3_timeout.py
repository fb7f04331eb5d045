#!/usr/bin/env python3
"""POP3 autologout (RFC 1939 section 3): with poptimeout at its minimum of
10 minutes, an idle session is closed after 10 minutes and not before, and
since it never reached the UPDATE state its DELE is not carried out.

This takes ten minutes by nature, so tools/test.sh starts it in the
background right after the normal build and collects it at the end of the
suite instead of running it in line."""

import socket
import sys
import time

import darius_test as dt

R = dt.Report("pop3-timeout")
MSG = b"From: a@example.org\r\nSubject: keep me\r\n\r\nbody\r\n"


def autologout():
    s = dt.server_with_user(config={"poptimeout": "10"})
    try:
        c = s.login()
        c.ok("APPEND INBOX %L", literals=[MSG])
        c.logout()
        p = s.pop3_login()
        p.ok("DELE 1")
        t0 = time.monotonic()
        p.settimeout(15 * 60)
        # The server closes without a reply (RFC 1939 3: "without entering
        # the UPDATE state"); EOF is the expected outcome.
        try:
            data = p.sock.recv(4096)
        except (socket.timeout, TimeoutError):
            raise dt.TestFailure("still open after 15 minutes")
        except ConnectionError:
            data = b""
        elapsed = time.monotonic() - t0
        if data:
            raise dt.TestFailure("unexpected data instead of a close: %r" % data[:100])
        if elapsed < 595:
            raise dt.TestFailure("closed after %.0f s, before the 10-minute minimum" % elapsed)
        if elapsed > 700:
            raise dt.TestFailure("closed only after %.0f s" % elapsed)
        q = s.pop3_login()
        st = q.ok("STAT")
        q.ok("QUIT")
        if not st.startswith("+OK 1 "):
            raise dt.TestFailure("DELE of a timed-out session was carried out: " + st)
        return "closed after %.0f s; message kept" % elapsed
    finally:
        s.cleanup()


def main():
    R.run("poptimeout 10: idle session closed after 10 minutes, DELE not carried out", autologout)
    print("slow: %d passed, %d failed" % (R.passed, R.failed))
    return R.done()


if __name__ == "__main__":
    sys.exit(main())
