#!/usr/bin/env python3
"""COMPRESS=DEFLATE (RFC 4978) end to end, with python's zlib as the
client's compressor (raw deflate, wbits=-15) over a raw socket, over
implicit TLS and after STARTTLS: commands and literals after COMPRESS,
IDLE with an unsolicited EXISTS that must arrive decodable without any
further client traffic (the server sync-flushes, RFC 4978 4), a large
FETCH streamed compressed, a second COMPRESS (BAD [COMPRESSIONACTIVE]),
COMPRESS pipelined with the first compressed command, 40,000 pipelined
compressed commands under a small conn_memory_limit, and hostile
streams: a decompression bomb (one line of 256 MiB inflated from a few
hundred KiB: BAD [TOOBIG], the session goes on, the worker's peak memory
does not grow by anything like it), corrupt deflate data and data after
a final block (the connection is closed, the server keeps serving)."""

import base64
import os
import re
import socket
import sys
import time
import zlib

import darius_test as dt

R = dt.Report("compress")
WAIT = 3.0


class ZSock:
    """A socket-like wrapper that deflates what is sent (sync flush after
    every send, as a client must so the server sees whole commands) and
    inflates what is received. Sits above TLS, as RFC 4978 3 requires."""

    def __init__(self, sock, leftover=b""):
        self.sock = sock
        self.comp = zlib.compressobj(6, zlib.DEFLATED, -15)
        self.deco = zlib.decompressobj(-15)
        self.pending = bytearray(self.deco.decompress(leftover))
        self.wire_in = len(leftover)
        self.wire_out = 0

    def sendall(self, data):
        z = self.comp.compress(data) + self.comp.flush(zlib.Z_SYNC_FLUSH)
        self.wire_out += len(z)
        self.sock.sendall(z)

    def send_compressed(self, z):
        """Raw (already compressed or deliberately broken) bytes."""
        self.wire_out += len(z)
        self.sock.sendall(z)

    def recv(self, n):
        while not self.pending:
            d = self.sock.recv(262144)
            if not d:
                return b""
            self.wire_in += len(d)
            self.pending += self.deco.decompress(d)
        out = bytes(self.pending[:n])
        del self.pending[:n]
        return out

    def settimeout(self, t):
        self.sock.settimeout(t)

    def gettimeout(self):
        return self.sock.gettimeout()

    def close(self):
        self.sock.close()


def compress(c):
    """COMPRESS DEFLATE on client c; from the OK on, c talks deflate."""
    u, t = c.ok("COMPRESS DEFLATE")
    if not t.render().endswith(" OK DEFLATE active"):
        raise dt.TestFailure("COMPRESS: %s" % t.render())
    leftover = bytes(c.buf)
    c.buf.clear()
    c.sock = ZSock(c.sock, leftover)
    return c.sock


def read_until(c, regex, what, wait=WAIT):
    c.settimeout(wait * dt.timeout_scale())
    seen = []
    try:
        while True:
            r = c.read()
            seen.append(r.render())
            if re.fullmatch(regex, r.render()):
                return r
    except dt.TestFailure as e:
        raise dt.TestFailure("%s: no /%s/ within %.1fs (%s); got %r" % (what, regex, wait, e, seen))
    finally:
        c.settimeout(c.timeout)


def session_works(c, how):
    """A few commands, a literal and the capability change, compressed."""
    u, t = c.ok("CAPABILITY")
    caps = u[0].render()
    if "COMPRESS=DEFLATE" in caps or "IMAP4rev2" not in caps:
        raise dt.TestFailure("%s: CAPABILITY after COMPRESS: %s" % (how, caps))
    c.ok("APPEND INBOX %L", [dt.sample_message(1)])
    c.ok("SELECT INBOX")
    u, t = c.ok("FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    if not u or "Subject: test 1" not in u[0].render():
        raise dt.TestFailure("%s: FETCH: %r" % (how, [r.render() for r in u]))
    # RFC 4978 3: a second COMPRESS is BAD, the stream goes on
    u, t = c.command("COMPRESS DEFLATE")
    if not re.fullmatch(r"t\d+ BAD \[COMPRESSIONACTIVE\] .*", t.render()):
        raise dt.TestFailure("%s: second COMPRESS: %s" % (how, t.render()))
    # RFC 8437 4.1 would end the compression layer: not offered, refused
    if "UNAUTHENTICATE" in caps:
        raise dt.TestFailure("%s: UNAUTHENTICATE offered with COMPRESS: %s" % (how, caps))
    u, t = c.command("UNAUTHENTICATE")
    if not re.fullmatch(r"t\d+ BAD \[COMPRESSIONACTIVE\] .*", t.render()):
        raise dt.TestFailure("%s: UNAUTHENTICATE with COMPRESS: %s" % (how, t.render()))
    c.ok("NOOP")
    c.logout()


def plain(s):
    c = s.login()
    compress(c)
    session_works(c, "plaintext")


def implicit_tls(s):
    c = s.login(tls=True)
    compress(c)
    session_works(c, "implicit TLS")


def after_starttls(s):
    c = s.client()
    c.greeting()
    c.starttls()
    c.ok("LOGIN alice secret")
    compress(c)
    session_works(c, "STARTTLS")


def pipelined(s):
    """Compressed bytes right behind the COMPRESS line (in one segment)
    are taken as compressed: the conn moves its buffered input over."""
    c = s.login()
    comp = zlib.compressobj(6, zlib.DEFLATED, -15)
    z = comp.compress(b"p2 NOOP\r\n") + comp.flush(zlib.Z_SYNC_FLUSH)
    c.send_raw(b"p1 COMPRESS DEFLATE\r\n" + z)
    r = c.read()
    if r.render() != "p1 OK DEFLATE active":
        raise dt.TestFailure("COMPRESS: %s" % r.render())
    leftover = bytes(c.buf)
    c.buf.clear()
    zs = ZSock(c.sock, leftover)
    zs.comp = comp  # the client's stream continues
    c.sock = zs
    u, t = c.collect("p2")
    if not t.render().startswith("p2 OK"):
        raise dt.TestFailure("pipelined NOOP: %s" % t.render())
    c.logout()


def idle(s):
    for tls in (False, True):
        a = s.login(tls=tls)
        compress(a)
        a.ok("SELECT INBOX")
        u, t = a.ok("STATUS INBOX (MESSAGES)")
        n = int(re.search(r"MESSAGES (\d+)", u[0].render()).group(1))
        tag = a.next_tag()
        a.send(tag + " IDLE")
        a.expect(r"\+ .*")
        b = s.login()
        t0 = time.monotonic()
        b.ok("APPEND INBOX %L", [dt.sample_message(n + 1)])
        # arrives and decodes with no further byte from the client: the
        # server flushed its deflate stream after the EXISTS
        read_until(a, r"\* %d EXISTS" % (n + 1), "EXISTS while idling (tls=%s)" % tls)
        lat = (time.monotonic() - t0) * 1000
        a.send("DONE")
        u, t = a.collect(tag)
        if not t.text.startswith(tag + " OK"):
            raise dt.TestFailure("IDLE ended with %s" % t.render())
        a.logout()
        b.logout()
    return "EXISTS %.0f ms after APPEND" % lat


def big_fetch(s):
    c = s.login()
    big = dt.sample_message(7, size=6 * 1024 * 1024)
    c.settimeout(60 * dt.timeout_scale())
    c.ok("APPEND INBOX %L", [big])
    c.ok("SELECT INBOX")
    zs = compress(c)
    before = zs.wire_in
    u, t = c.ok("FETCH 1:* (BODY.PEEK[])")
    got = [r.literals[0] for r in u if r.literals]
    if big.encode() not in got:
        raise dt.TestFailure("large FETCH: body not returned intact (%d literals)" % len(got))
    wire = zs.wire_in - before
    plain_len = sum(len(x) for x in got)
    if wire * 4 > plain_len:
        raise dt.TestFailure("large FETCH: %d bytes on the wire for %d" % (wire, plain_len))
    # incompressible data (base64 of random bytes) in many deflate pieces,
    # through back-pressure: a small receive window keeps the server's
    # socket full, so output waits at the high-water mark again and again
    rnd = base64.encodebytes(os.urandom(3 * 1024 * 1024)).decode().replace("\n", "\r\n")
    msg = dt.sample_message(8).split("\r\n\r\n")[0] + "\r\n\r\n" + rnd
    c.ok("APPEND INBOX %L", [msg])
    zs.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32768)
    tag = c.next_tag()
    c.send(tag + " FETCH * (BODY.PEEK[])")
    u, t = c.collect(tag)
    got = [r.literals[0] for r in u if r.literals]
    if not t.render().startswith(tag + " OK") or got != [msg.encode()]:
        d = next((i for i in range(min(len(got[0]), len(msg))) if got[0][i] != msg.encode()[i]), -1) if got else -2
        raise dt.TestFailure("random FETCH: %s, %d literals, len %d vs %d, first diff %d" % (t.render(), len(got), len(got[0]) if got else 0, len(msg), d))
    c.logout()
    return "%d KiB sent as %d KiB" % (plain_len // 1024, wire // 1024)


def peak_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def bomb(s):
    """256 MiB of one line, inflated from a few hundred KiB: the reader's
    line limit applies to the inflated bytes (BAD [TOOBIG]), the session
    survives, and no worker's peak RSS grows by more than 48 MiB."""
    pids = s.worker_pids()
    peaks = {p: peak_kb(p) for p in pids}
    c = s.login()
    zs = compress(c)
    comp = zs.comp
    chunk = b"a" * (1 << 20)
    head = comp.compress(b"x1 NOOP ")
    zs.send_compressed(head)
    sent = len(head)
    for _ in range(256):
        z = comp.compress(chunk)
        sent += len(z)
        zs.send_compressed(z)
    z = comp.compress(b"\r\nx2 NOOP\r\n") + comp.flush(zlib.Z_SYNC_FLUSH)
    sent += len(z)
    zs.send_compressed(z)
    c.settimeout(60 * dt.timeout_scale())
    r = c.read()
    if not re.fullmatch(r"x1 BAD \[TOOBIG\] .*", r.render()):
        raise dt.TestFailure("bomb line: %s" % r.render()[:200])
    u, t = c.collect("x2")
    if not t.render().startswith("x2 OK"):
        raise dt.TestFailure("after the bomb: %s" % t.render())
    c.logout()
    grown = max(peak_kb(p) - peaks.get(p, 0) for p in pids) if pids else 0
    if grown > 48 * 1024:
        raise dt.TestFailure("a worker's peak RSS grew by %d KiB for the bomb" % grown)
    return "%d KiB compressed -> 256 MiB, worker peak +%d KiB" % (sent // 1024, grown)


def pipelined_flood(s):
    """40,000 pipelined NOOPs (480 KB once inflated, a few KB on the wire)
    under conn_memory_limit 256 KiB: inflation waits while the reader
    works through what it has (32 commands a turn), so input never piles
    up past the limit and every command is answered."""
    c = s.login()
    zs = compress(c)
    n = 40000
    zs.sendall(b"".join(b"n%d NOOP\r\n" % i for i in range(n)))
    c.settimeout(60 * dt.timeout_scale())
    ok = 0
    last = None
    while ok < n:
        r = c.read()
        last = r.render()
        if last.startswith("* BYE"):
            raise dt.TestFailure("closed after %d NOOPs: %s" % (ok, last))
        if re.fullmatch(r"n\d+ OK .*", last):
            ok += 1
    if last != "n%d OK NOOP completed" % (n - 1):
        raise dt.TestFailure("last reply: %s" % last)
    c.ok("NOOP")
    c.logout()
    return "%d NOOPs from %d compressed bytes" % (n, zs.wire_out)


def corrupt(s):
    for what, data in (("corrupt deflate data", b"\xff\xff\xff\xff\xff\xff\xff\xff"),
                       ("data after a final block", None)):
        c = s.login()
        zs = compress(c)
        if data is None:
            data = zs.comp.compress(b"y1 NOOP\r\n") + zs.comp.flush(zlib.Z_FINISH) + b"\x00\x01\x02"
        zs.send_compressed(data)
        if not c.at_eof(WAIT):
            raise dt.TestFailure("%s: connection not closed" % what)
        c.close()
    # the server is fine
    d = s.login()
    d.ok("NOOP")
    d.logout()


def main():
    with dt.server_with_user() as s:
        for name, fn in (("COMPRESS on plaintext", plain),
                         ("COMPRESS with implicit TLS", implicit_tls),
                         ("COMPRESS after STARTTLS", after_starttls),
                         ("compressed command pipelined behind COMPRESS", pipelined),
                         ("IDLE: unsolicited EXISTS arrives compressed and flushed", idle),
                         ("decompression bomb bounded by the line limit", bomb),
                         ("large FETCH compressed", big_fetch),
                         ("corrupt stream closes the connection", corrupt)):
            R.run(name, fn, s)
        R.check_sanitizer(s)
    with dt.server_with_user(config={"conn_memory_limit": "262144"}) as s:
        R.run("pipelined compressed commands within conn_memory_limit", pipelined_flood, s)
        R.check_sanitizer(s)
    return R.done()


if __name__ == "__main__":
    sys.exit(main())
