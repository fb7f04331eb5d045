#!/usr/bin/env python3
"""Interop: python3 imaplib with COMPRESS=DEFLATE (RFC 4978). imaplib has
no COMPRESS of its own; after the tagged OK its socket and reader are
wrapped in zlib's raw deflate (wbits=-15, a sync flush after every
command), the way a client library adds it. The session: capability
check, append (a literal, and a 2 MB one), select, fetch, search, store,
expunge, status, list, a refused second COMPRESS, logout; over plain
(allowplaintext) and implicit TLS."""

import imaplib
import ssl
import sys
import zlib

import darius_test as dt

R = dt.Report("imaplib-compress")


class ZSocket:
    """Deflates what imaplib sends (imaplib writes with sendall)."""

    def __init__(self, sock):
        self.sock = sock
        self.comp = zlib.compressobj(6, zlib.DEFLATED, -15)

    def sendall(self, data):
        self.sock.sendall(self.comp.compress(data) + self.comp.flush(zlib.Z_SYNC_FLUSH))

    def __getattr__(self, name):
        return getattr(self.sock, name)


class ZFile:
    """Inflates what imaplib reads (readline and read on self.file)."""

    def __init__(self, sock, leftover):
        self.sock = sock
        self.deco = zlib.decompressobj(-15)
        self.buf = bytearray(self.deco.decompress(leftover))

    def _fill(self):
        d = self.sock.recv(65536)
        if not d:
            return False
        self.buf += self.deco.decompress(d)
        return True

    def readline(self, limit=-1):
        while True:
            i = self.buf.find(b"\n")
            if i >= 0 or (limit > 0 and len(self.buf) >= limit):
                n = i + 1 if i >= 0 else limit
                if limit > 0:
                    n = min(n, limit)
                out = bytes(self.buf[:n])
                del self.buf[:n]
                return out
            if not self._fill():
                out = bytes(self.buf)
                self.buf.clear()
                return out

    def read(self, n):
        while len(self.buf) < n and self._fill():
            pass
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def close(self):
        pass


def compress(m):
    typ, data = m._simple_command("COMPRESS", "DEFLATE")
    assert typ == "OK", (typ, data)
    # whatever the buffered reader already holds past the OK is compressed
    # (a non-blocking look: the server sends nothing until the next command)
    raw = m.sock
    old = raw.gettimeout()
    raw.settimeout(0)
    try:
        leftover = m.file.peek(1) or b""
    except (BlockingIOError, ssl.SSLWantReadError, OSError):
        leftover = b""
    finally:
        raw.settimeout(old)
    leftover = m.file.read(len(leftover)) if leftover else b""
    m.sock = ZSocket(raw)
    m.file = ZFile(raw, leftover)


def session(s, tls):
    imaplib.Commands.setdefault("COMPRESS", ("AUTH", "SELECTED"))
    if tls:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        m = imaplib.IMAP4_SSL(s.host, s.tls_port, ssl_context=ctx)
    else:
        m = imaplib.IMAP4(s.host, s.port)
    assert "COMPRESS=DEFLATE" not in m.capabilities, m.capabilities
    m.login("alice", "secret")
    typ, data = m.capability()
    assert typ == "OK" and b"COMPRESS=DEFLATE" in data[0], data
    compress(m)
    typ, data = m.capability()
    assert typ == "OK" and b"COMPRESS=DEFLATE" not in data[0], data
    typ, _ = m.create("Work")
    assert typ == "OK", typ
    msg = dt.sample_message(7, subject="imaplib compressed").encode()
    big = dt.sample_message(8, size=2 * 1024 * 1024, subject="big one").encode()
    typ, data = m.append("Work", "(\\Flagged)", imaplib.Time2Internaldate(1700000000), msg)
    assert typ == "OK", (typ, data)
    typ, data = m.append("Work", None, None, big)
    assert typ == "OK", (typ, data)
    typ, data = m.select("Work")
    assert typ == "OK" and data[0] == b"2", (typ, data)
    typ, data = m.fetch("1:2", "(FLAGS BODY.PEEK[])")
    assert typ == "OK", typ
    assert data[0][1] == msg and data[2][1] == big, "bodies differ"
    assert b"\\Flagged" in data[0][0], data[0][0]
    typ, data = m.search(None, "SUBJECT", '"imaplib compressed"')
    assert typ == "OK" and data[0] == b"1", data
    typ, data = m.store("1", "+FLAGS", "(\\Deleted)")
    assert typ == "OK", typ
    typ, data = m.expunge()
    assert typ == "OK" and data[0] == b"1", data
    typ, data = m.status("Work", "(MESSAGES)")
    assert typ == "OK" and b"MESSAGES 1" in data[0], data
    typ, data = m.list()
    assert typ == "OK" and any(b"Work" in x for x in data), data
    try:   # RFC 4978 3: BAD when already active (imaplib raises on BAD)
        m._simple_command("COMPRESS", "DEFLATE")
        raise AssertionError("a second COMPRESS was accepted")
    except imaplib.IMAP4.error as e:
        assert "COMPRESSIONACTIVE" in str(e), e
    typ, _ = m.noop()
    assert typ == "OK", typ
    m.close()
    typ, _ = m.logout()
    assert typ == "BYE", typ


def main():
    for tls in (False, True):
        def run(tls=tls):
            with dt.server_with_user() as s:
                session(s, tls)
        R.run("imaplib compressed session (%s)" % ("TLS" if tls else "plain"), run)
    return R.done()


if __name__ == "__main__":
    sys.exit(main())
