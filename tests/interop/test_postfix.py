#!/usr/bin/env python3
"""Interop: Debian's Postfix delivering to Darius over LMTP, end to end.

A private Postfix instance (postfix -c DIR) lives in a temporary
directory: its own queue and data directories, smtpd on a free loopback
port, no chroot, no DNS, no local or external delivery, its log written
to DIR/maillog (maillog_file + postlogd, Postfix >= 3.4) so no syslog is
needed. Two virtual domains:

    darius.test      virtual_transport = lmtp:unix:<dariusd's socket>
    tcp.darius.test  transport_maps -> lmtp:inet:[127.0.0.1]:<LMTP port>

A message is submitted with smtplib to several recipients: two existing
users, one unknown (550 5.1.1 -> bounced), one over quota (452 4.2.2 ->
deferred), one reached over TCP, and two with Sieve scripts (issue 11):
erin's erejects it (550 5.7.1 at LMTP time -> bounced with the reason),
frank's files it into a folder it creates. The test polls Postfix's log for
each recipient's outcome (with a deadline) and checks the mailboxes.
Postfix is always stopped in a finally block."""

import os
import re
import shutil
import smtplib
import subprocess
import sys
import tempfile
import time

import darius_test as dt

R = dt.Report("postfix")
POSTFIX = dt.find_tool("postfix", ["/usr/sbin"])

MASTER_CF = """\
{port} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""

MAIN_CF = """\
compatibility_level = 3.6
queue_directory = {dir}/queue
data_directory = {dir}/data
maillog_file = {dir}/maillog
maillog_file_prefixes = {dir}
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
shlib_directory = /usr/lib/postfix
meta_directory = /etc/postfix
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = mx.darius.test
mydomain = darius.test
myorigin = darius.test
mydestination =
mynetworks = 127.0.0.0/8
relayhost =
alias_maps =
alias_database =
local_recipient_maps =
local_transport = error:local delivery is disabled
default_transport = error:no external delivery in tests
virtual_mailbox_domains = darius.test, tcp.darius.test
virtual_mailbox_maps =
virtual_transport = lmtp:unix:{sock}
transport_maps = inline:{{ tcp.darius.test=lmtp:inet:[127.0.0.1]:{lmtp_port} }}
smtpd_reject_unlisted_recipient = no
smtpd_recipient_restrictions = permit_mynetworks, reject
disable_dns_lookups = yes
smtp_dns_support_level = disabled
lmtp_host_lookup = native
smtputf8_enable = no
biff = no
append_dot_mydomain = no
readme_directory = no
html_directory = no
queue_run_delay = 3600s
minimal_backoff_time = 3600s
maximal_backoff_time = 3600s
"""


def postfix(d, *args):
    return subprocess.run([POSTFIX, "-c", d] + list(args), capture_output=True, text=True, timeout=60)


def master_pid(d):
    try:
        with open(os.path.join(d, "queue", "pid", "master.pid")) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def stop_postfix(d):
    pid = master_pid(d)
    postfix(d, "stop")
    if pid:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except OSError:
                return
            time.sleep(0.1)
        try:
            os.kill(pid, 9)  # our own master only, by its pid
        except OSError:
            pass


def wait_log(path, want, deadline_s):
    """Poll the log until every regex in want matched or the deadline."""
    deadline = time.monotonic() + deadline_s
    text = ""
    while time.monotonic() < deadline:
        try:
            with open(path, errors="replace") as f:
                text = f.read()
        except OSError:
            text = ""
        if all(re.search(w, text) for w in want):
            return True, text
        time.sleep(0.2)
    return False, text


def search(s, user, mid, mailbox="INBOX"):
    c = s.login(user, s.users[user])
    c.ok("EXAMINE %s" % mailbox)
    u, _ = c.ok("UID SEARCH HEADER Message-ID %s" % mid)
    uids = []
    for r in u:
        if r.text.startswith("* SEARCH"):
            uids += r.text.split()[2:]
    body = b""
    if uids:
        u, _ = c.ok("UID FETCH %s BODY.PEEK[]" % uids[0])
        body = u[0].literals[-1] if u and u[0].literals else b""
    c.logout()
    return len(uids), body


def main():
    if not POSTFIX or not os.path.exists("/usr/lib/postfix/sbin/master"):
        if dt.ci():
            R.fail("postfix", "postfix not installed (CI=true)")
        else:
            R.skip("postfix", "postfix not installed")
        return R.done()
    if os.geteuid() != 0:
        R.skip("postfix", "a private Postfix instance needs root")
        return R.done()
    s = dt.Server(start=False)
    pdir = tempfile.mkdtemp(prefix="darius-postfix-")
    started = False
    try:
        for u in ("alice", "bob", "carol", "dave", "erin", "frank"):
            s.add_user(u, u + "pw")
        scripts = {
            # ereject: refused at LMTP time whatever the sender (the test
            # submits with the null sender, for which a plain reject is
            # dropped rather than answered, RFC 5429 2.2: no MDN to <>)
            "erin": 'require "ereject";\r\nereject "erin does not take mail from Postfix tests";\r\n',
            "frank": 'require ["fileinto", "mailbox"];\r\n'
                     'if header :contains "subject" "via postfix" { fileinto :create "Postfix"; }\r\n',
        }
        for u, text in scripts.items():
            path = os.path.join(s.tmp, u + ".sieve")
            with open(path, "w") as f:
                f.write(text)
            r = s.cli("sieve", "put", "--activate", u, "main", path)
            if r.returncode != 0:
                raise dt.TestFailure("sieve put for %s: %s" % (u, r.stderr.strip()))
        # Postfix's lmtp client runs as "postfix": it must reach the socket.
        os.chmod(s.tmp, 0o755)
        s.start()
        r = s.cli("quota", "set", "user/carol", "message=0")
        quota_ok = r.returncode == 0
        if not quota_ok:
            R.skip("over quota via Postfix", "quota CLI failed: %s" % r.stderr.strip())
        os.chmod(pdir, 0o755)
        smtp_port = dt.free_port()
        with open(os.path.join(pdir, "main.cf"), "w") as f:
            f.write(MAIN_CF.format(dir=pdir, sock=s.lmtp_socket, lmtp_port=s.lmtp_port))
        with open(os.path.join(pdir, "master.cf"), "w") as f:
            f.write(MASTER_CF.format(port="127.0.0.1:%d" % smtp_port))
        for sub in ("queue", "data"):
            os.makedirs(os.path.join(pdir, sub))
        shutil.chown(os.path.join(pdir, "data"), "postfix", "postfix")
        r = postfix(pdir, "start")
        if r.returncode != 0:
            R.fail("postfix start", (r.stdout + r.stderr)[-800:])
            return R.done()
        started = True
        dt.wait_port("127.0.0.1", smtp_port, time.monotonic() + 20 * dt.timeout_scale())

        mid = "<pf-%d@darius.test>" % os.getpid()
        rcpts = ["alice@darius.test", "bob+Nosuch@darius.test", "nobody@darius.test",
                 "carol@darius.test", "dave@tcp.darius.test", "erin@darius.test", "frank@darius.test"]
        msg = ("From: tester@example.org\r\nTo: undisclosed-recipients:;\r\nSubject: via postfix\r\n"
               "Message-ID: %s\r\n\r\nHello from Postfix.\r\n" % mid)
        with smtplib.SMTP("127.0.0.1", smtp_port, timeout=30) as c:
            c.ehlo("client.test")
            refused = c.sendmail("", rcpts, msg)
        R.check(not refused, "Postfix accepted all recipients at SMTP", repr(refused))

        log = os.path.join(pdir, "maillog")
        want = [r"to=<alice@darius\.test>.*status=sent \(250 2\.1\.5",
                r"to=<bob\+Nosuch@darius\.test>.*status=sent \(250 2\.1\.5",
                r"to=<nobody@darius\.test>.*status=bounced \(host .* said: 550 5\.1\.1",
                r"to=<dave@tcp\.darius\.test>.*relay=127\.0\.0\.1\[127\.0\.0\.1\]:%d.*status=sent" % s.lmtp_port,
                r"to=<erin@darius\.test>.*status=bounced \(host .* said: 550 5\.7\.1 .*erin does not take mail",
                r"to=<frank@darius\.test>.*status=sent \(250 2\.1\.5"]
        if quota_ok:
            want.append(r"to=<carol@darius\.test>.*status=deferred \(host .* said: 452 4\.2\.2")
        ok, text = wait_log(log, want, 60 * dt.timeout_scale())
        lines = [l for l in text.splitlines() if "to=<" in l]
        R.check(ok, "Postfix logs per-recipient outcomes (sent, bounced 550 5.1.1, deferred 452 4.2.2, TCP, "
                "Sieve reject 550 5.7.1, Sieve fileinto)",
                "\n".join(lines[-10:]) or text[-1500:])

        n, body = search(s, "alice", mid)
        R.check(n == 1 and body.startswith(b"Return-Path: <>\r\nReceived: from mx.darius.test"),
                "alice has the message with Return-Path and Received", repr(body[:300]))
        R.check(search(s, "bob", mid)[0] == 1, "bob+Nosuch landed in bob's INBOX")
        R.check(search(s, "dave", mid)[0] == 1, "dave received over lmtp:inet")
        R.check(search(s, "erin", mid)[0] == 0, "nothing stored for erin, whose script rejected it")
        R.check(search(s, "frank", mid, "Postfix")[0] == 1 and search(s, "frank", mid)[0] == 0,
                "frank's script filed it into the folder it created, not INBOX")
        if quota_ok:
            R.check(search(s, "carol", mid)[0] == 0, "nothing stored for the over-quota recipient")
        s.stop()
    except Exception as e:  # noqa: BLE001
        R.fail("postfix end-to-end", "%s: %s" % (type(e).__name__, e))
    finally:
        if started:
            stop_postfix(pdir)
        shutil.rmtree(pdir, ignore_errors=True)
        s.cleanup()
    return R.done()


if __name__ == "__main__":
    sys.exit(main())
