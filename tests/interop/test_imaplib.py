#!/usr/bin/env python3
"""Interop: a python3 imaplib session (login, select, append, fetch, search,
store, expunge, logout), over plain (allowplaintext) and implicit TLS."""

import imaplib
import ssl
import sys

import darius_test as dt

R = dt.Report("imaplib")


def session(s, tls):
    if tls:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        m = imaplib.IMAP4_SSL(s.host, s.tls_port, ssl_context=ctx)
    else:
        m = imaplib.IMAP4(s.host, s.port)
    m.login("alice", "secret")
    typ, _ = m.create("Work")
    assert typ == "OK", typ
    msg = dt.sample_message(7, subject="imaplib hello").encode()
    typ, data = m.append("Work", "(\\Flagged)", imaplib.Time2Internaldate(1700000000), msg)
    assert typ == "OK", (typ, data)
    typ, data = m.select("Work")
    assert typ == "OK" and data[0] == b"1", (typ, data)
    typ, data = m.fetch("1", "(FLAGS BODY.PEEK[])")
    assert typ == "OK", typ
    assert data[0][1] == msg, "body differs"
    assert b"\\Flagged" in data[0][0], data[0][0]
    typ, data = m.search(None, "SUBJECT", '"imaplib hello"')
    assert typ == "OK" and data[0] == b"1", data
    typ, data = m.uid("SEARCH", None, "ALL")
    assert typ == "OK" and data[0] == b"1", data
    typ, data = m.store("1", "+FLAGS", "(\\Deleted)")
    assert typ == "OK", typ
    typ, data = m.expunge()
    assert typ == "OK" and data[0] == b"1", data
    typ, data = m.status("Work", "(MESSAGES)")
    assert typ == "OK" and b"MESSAGES 0" in data[0], data
    typ, data = m.list()
    assert typ == "OK" and any(b"Work" in x for x in data), data
    m.close()
    typ, _ = m.logout()
    assert typ == "BYE", typ


def main():
    for tls in (False, True):
        def run(tls=tls):
            with dt.server_with_user() as s:
                session(s, tls)
        R.run("imaplib session (%s)" % ("TLS" if tls else "plain"), run)
    return R.done()


if __name__ == "__main__":
    sys.exit(main())
