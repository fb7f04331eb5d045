#!/usr/bin/env python3
"""Interop: mutt (2.x, "imap_deflate") over COMPRESS=DEFLATE.

Two real mutt runs against the server, both with imap_deflate set and
mutt's debug trace (-d 2, ~/.muttdebug0) checked for the COMPRESS exchange:

  1. batch mode (no terminal): mutt sends a message whose copy ($record,
     Fcc) is APPENDed to an IMAP folder over the compressed connection;
  2. interactive, on a pseudo-terminal: mutt opens INBOX (a 300 KB message
     put there by the test), shows the index, opens the message in its
     pager and quits; the test waits for each screen by its text, never by
     sleeping, so the FETCHes of the header list and of the body go
     through the compression layer.

Then the server's own view is checked: the Fcc copy is in "Sent" byte for
byte in its body, and the INBOX message is \\Seen (mutt read it)."""

import os
import pty
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import darius_test as dt

R = dt.Report("mutt-compress")
MUTT = dt.find_tool("mutt")


def write_rc(tmp, s):
    sendmail = os.path.join(tmp, "sendmail")
    with open(sendmail, "w") as f:
        f.write("#!/bin/sh\ncat > /dev/null\n")
    os.chmod(sendmail, 0o755)
    rc = os.path.join(tmp, "muttrc")
    lines = [
        "set folder=imap://alice@%s:%d/" % (s.host, s.port),
        "set imap_pass=secret",
        "set imap_authenticators=login",
        "set imap_deflate=yes",
        "set ssl_starttls=no",
        "set ssl_force_tls=no",
        "set spoolfile=+INBOX",
        "set record=+Sent",
        "set copy=yes",
        "set sendmail=%s" % sendmail,
        "set from=alice@example.org",
        "set use_from=yes",
        "set quit=yes",
        "set confirmcreate=no",
        "set confirmappend=no",
        "set move=no",
        "set mark_old=no",
        "set wait_key=no",
        "set header_cache=",
        "set message_cachedir=",
        "set imap_check_subscribed=no",
        "set mail_check=3600",
        "set timeout=3600",
        "",
    ]
    with open(rc, "w") as f:
        f.write("\n".join(lines))
    return rc


def compress_in_trace(tmp):
    trace = ""
    for name in os.listdir(tmp):
        if name.startswith(".muttdebug"):
            with open(os.path.join(tmp, name), errors="replace") as f:
                trace += f.read()
    return "COMPRESS DEFLATE" in trace and "OK DEFLATE active" in trace, trace


def batch_fcc(s, tmp, rc):
    body = "".join("fcc line %d over a deflated stream\n" % i for i in range(2000))
    p = subprocess.run([MUTT, "-n", "-F", rc, "-d", "2", "-s", "mutt fcc test", "bob@example.org"],
                       input=body, capture_output=True, text=True, timeout=60 * dt.timeout_scale(),
                       env=dict(os.environ, HOME=tmp, TERM="dumb"))
    if p.returncode != 0:
        raise dt.TestFailure("mutt exit %d: %s" % (p.returncode, (p.stdout + p.stderr)[-800:]))
    used, trace = compress_in_trace(tmp)
    if not used:
        raise dt.TestFailure("no COMPRESS exchange in mutt's trace: %s" % trace[-1500:])
    c = s.login()
    c.ok("SELECT Sent")
    u, _ = c.ok("FETCH 1:* (BODY.PEEK[TEXT] BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    if len(u) != 1:
        raise dt.TestFailure("Sent holds %d messages, want 1" % len(u))
    lits = u[0].literals
    text = [x for x in lits if b"fcc line 0 " in x]
    if not text or text[0].replace(b"\r\n", b"\n") != body.encode():
        raise dt.TestFailure("Fcc copy's body differs from what mutt was given")
    c.logout()
    return "Fcc APPEND over COMPRESS"


class Pty:
    """mutt on a pseudo-terminal; expect() waits for text on its screen."""

    def __init__(self, argv, env):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.execvpe(argv[0], argv, env)
        import fcntl
        import struct
        import termios
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 132, 0, 0))
        os.kill(self.pid, signal.SIGWINCH)
        self.out = b""

    def expect(self, text, what):
        deadline = time.monotonic() + 30 * dt.timeout_scale()
        start = len(self.out)
        while text.encode() not in self.out[start:]:
            left = deadline - time.monotonic()
            if left <= 0:
                raise dt.TestFailure("mutt never showed %s; screen tail: %r" % (what, self.out[-600:]))
            r, _, _ = select.select([self.fd], [], [], left)
            if r:
                try:
                    data = os.read(self.fd, 65536)
                except OSError:
                    data = b""
                if not data:
                    raise dt.TestFailure("mutt exited before showing %s: %r" % (what, self.out[-600:]))
                self.out += data

    def send(self, keys):
        os.write(self.fd, keys.encode())

    def wait(self):
        deadline = time.monotonic() + 30 * dt.timeout_scale()
        while time.monotonic() < deadline:
            r, _, _ = select.select([self.fd], [], [], 0.5)
            if r:
                try:
                    if not os.read(self.fd, 65536):
                        break
                except OSError:
                    break
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return os.waitstatus_to_exitcode(status)
        _, status = os.waitpid(self.pid, 0)
        return os.waitstatus_to_exitcode(status)

    def kill(self):
        try:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        except (OSError, ChildProcessError):
            pass
        try:
            os.close(self.fd)
        except OSError:
            pass


def interactive_read(s, tmp, rc):
    msg = dt.sample_message(7, size=300 * 1024, subject="read me through deflate")
    msg = msg.replace("Message number 7.", "Unique marker line for the pager.")
    c = s.login()
    c.ok("APPEND INBOX %L", [msg])
    c.logout()
    for name in os.listdir(tmp):
        if name.startswith(".muttdebug"):
            os.unlink(os.path.join(tmp, name))
    env = dict(os.environ, HOME=tmp, TERM="vt100", LINES="40", COLUMNS="132")
    m = Pty([MUTT, "-n", "-F", rc, "-d", "2", "-f", "=INBOX"], env)
    try:
        m.expect("read me through deflate", "the message in the index")
        m.send("\r")
        m.expect("Unique marker line", "the message body in the pager")
        m.send("q")
        m.send("q")
        rc_ = m.wait()
    except Exception:
        m.kill()
        raise
    if rc_ != 0:
        raise dt.TestFailure("mutt exit %d" % rc_)
    used, trace = compress_in_trace(tmp)
    if not used:
        raise dt.TestFailure("no COMPRESS exchange in mutt's trace: %s" % trace[-1500:])
    c = s.login()
    c.ok("SELECT INBOX")
    u, _ = c.ok("FETCH 1 (FLAGS)")
    if "\\Seen" not in u[0].render():
        raise dt.TestFailure("message not \\Seen after mutt read it: %s" % u[0].render())
    c.logout()
    return "index and pager over COMPRESS"


def main():
    if not MUTT:
        if dt.ci():
            R.fail("mutt", "mutt not installed (CI=true)")
        else:
            R.skip("mutt", "mutt not installed")
        return R.done()
    tmp = tempfile.mkdtemp(prefix="darius-mutt-")
    s = dt.server_with_user()
    try:
        rc = write_rc(tmp, s)
        R.run("mutt batch send, Fcc to IMAP with imap_deflate", batch_fcc, s, tmp, rc)
        R.run("mutt on a terminal reads INBOX with imap_deflate", interactive_read, s, tmp, rc)
        s.stop()
        R.check_sanitizer(s)
    finally:
        s.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)
    return R.done()


if __name__ == "__main__":
    sys.exit(main())
