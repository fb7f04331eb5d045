#!/usr/bin/env python3
"""run-protocol-tests.py - run IMAP transcript tests, system tests and
interop tests against $DARIUS_BIN_DIR/dariusd (default build/).

Usage: run-protocol-tests.py [--sanitizer] [-j N] [-v] [FILTER...]
  FILTER    substrings; only tests whose path contains one of them run
  --sanitizer  binaries are ASan/UBSan builds: longer timeouts, and any
               sanitizer report in a server's stderr fails the test

Last line: "protocol: N passed, N failed" (SKIPs are listed, not counted).

Transcript format (tests/transcripts/*.t), one item per line:
  # comment                      blank lines ignored
  @config KEY VALUE              server config line (before the server starts)
  @user NAME PASSWORD            create a user (darius user add) before start
  @connect plain|tls [NAME]      open a connection (becomes current); the
                                 greeting must be matched by S lines
  @use NAME                      switch the current connection
  @close                         close the current connection
  @eof                           the server must close the current connection
  @msg NAME ... @end             define a message: the lines between, each
                                 terminated by CRLF
  @append MAILBOX MSG [FLAG...]  append MSG out of band (fresh connection,
                                 first @user) before continuing
  @restart                       SIGTERM the server (exit 0 required), start
                                 again on the same datadir; connections closed
  @sleepless                     marker: this transcript needs no waiting
  C: TEXT     send TEXT + CRLF.  In TEXT: {%MSG} = synchronizing literal of
              message MSG (waits for a "+" continuation), {%MSG+} = LITERAL+
              (no wait), {%=TEXT} / {%=TEXT+} = literal of TEXT itself (UTF-8),
              %{c*N} = the character c repeated N times, ${NAME} = a value
              captured earlier by a (?P<NAME>...) group in an S~/S*/S& regex.
  C+ TEXT     send TEXT with \\r \\n \\\\ escapes, nothing appended, no waiting
  S: TEXT     the next server response must be exactly TEXT
  S~ REGEX    the next server response must fully match REGEX
  S* REGEX    skip server responses until one fully matches REGEX
  S& TEXT     (consecutive S& lines) the next responses, in any order;
              "S& ~REGEX" for a regex entry
Mailbox names in LIST/LSUB/STATUS responses are compared unquoted when the
quoted form holds only atom characters ("INBOX" and INBOX are the same astring),
and STATUS items are compared sorted by name (their order is not defined), so
S~ regexes for STATUS must list items alphabetically.
A server response is one line with any literals inlined; for matching,
the final CRLF is removed and CR/LF inside literals are shown as \\r \\n
(so a regex needs \\\\r\\\\n to match them).
"""

import concurrent.futures
import os
import re
import subprocess
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(HERE, "lib"))

import darius_test as dt  # noqa: E402


class Mismatch(Exception):
    def __init__(self, lineno, expected, got):
        super().__init__("line %d: expected %s\n      got %s" % (lineno, expected, got))
        self.lineno = lineno


def unescape(s):
    out = []
    i = 0
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s):
            n = s[i + 1]
            if n == "r":
                out.append("\r")
            elif n == "n":
                out.append("\n")
            elif n == "t":
                out.append("\t")
            elif n == "\\":
                out.append("\\")
            elif n == "x" and i + 3 < len(s) + 0 and re.fullmatch(r"[0-9a-fA-F]{2}", s[i + 2:i + 4]):
                out.append(chr(int(s[i + 2:i + 4], 16)))
                i += 4
                continue
            else:
                out.append(c + n)
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def parse_transcript(path):
    items = []
    msgs = {}
    config = []
    users = []
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    i = 0
    while i < len(lines):
        line = lines[i].rstrip("\r")
        lineno = i + 1
        i += 1
        if not line.strip() or line.startswith("#"):
            continue
        if line.startswith("@msg "):
            name = line.split()[1]
            body = []
            while i < len(lines) and lines[i].rstrip("\r") != "@end":
                body.append(lines[i].rstrip("\r"))
                i += 1
            if i >= len(lines):
                raise ValueError("%s:%d: @msg without @end" % (path, lineno))
            i += 1
            msgs[name] = "".join(b + "\r\n" for b in body).encode("utf-8")
            continue
        if line.startswith("@"):
            parts = line[1:].split()
            d = parts[0]
            if d == "config":
                config.append((parts[1], " ".join(parts[2:])))
            elif d == "user":
                users.append((parts[1], parts[2]))
            elif d in ("connect", "use", "close", "eof", "append", "restart"):
                items.append((lineno, d, parts[1:]))
            elif d == "sleepless":
                pass
            else:
                raise ValueError("%s:%d: unknown directive @%s" % (path, lineno, d))
            continue
        kind, text = line[:2], line[3:] if len(line) > 2 else ""
        if kind not in ("C:", "C+", "S:", "S~", "S*", "S&"):
            raise ValueError("%s:%d: bad line: %s" % (path, lineno, line))
        items.append((lineno, kind, text))
    return {"items": items, "msgs": msgs, "config": config, "users": users}


# A mailbox name may be sent as an atom or a quoted string; both are the same
# astring. Responses are compared with atom-like quoted names unquoted.
_MBOX_ATOM = r'"([^"\\\s(){%*\]\x00-\x1f]+)"'
_NORM = [
    (re.compile(r'^(\* (?:LIST|LSUB) \([^)]*\) (?:"."|NIL) )' + _MBOX_ATOM), r"\1\2"),
    (re.compile(r'^(\* STATUS )' + _MBOX_ATOM), r"\1\2"),
]


_STATUS = re.compile(r"^(\* STATUS (?:\S+|\"(?:[^\"\\\\]|\\\\.)*\") )\((.*)\)$")
_STATUS_ITEM = re.compile(r"([A-Za-z0-9=.-]+) (\([^)]*\)|\S+)")


def normalize(line):
    """Canonical form of a response for comparison: atom-like mailbox names
    unquoted; STATUS items sorted by name (their order is not defined)."""
    for rx, rep in _NORM:
        line = rx.sub(rep, line, count=1)
    m = _STATUS.match(line)
    if m:
        items = _STATUS_ITEM.findall(m.group(2))
        if " ".join("%s %s" % i for i in items) == m.group(2):
            line = "%s(%s)" % (m.group(1), " ".join("%s %s" % i for i in sorted(items)))
    return line


_LITREF = re.compile(r"\{%([A-Za-z0-9_.-]+|=[^}]*?)(\+?)\}|%\{(.)\*(\d+)\}")


class TranscriptRun:
    def __init__(self, path, spec):
        self.path = path
        self.spec = spec
        self.server = None
        self.conns = {}
        self.cur = None
        self.trace = []   # recent exchange for failure reports
        self.vars = {}    # (?P<name>...) captures from S~/S*/S& regexes

    def msg(self, name, lineno):
        if name in self.spec["msgs"]:
            return self.spec["msgs"][name]
        p = os.path.join(HERE, "transcripts", "msgs", name)
        if os.path.exists(p):
            with open(p, "rb") as f:
                data = f.read()
            # files are stored with LF; messages travel with CRLF
            return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        raise ValueError("line %d: unknown message %s" % (lineno, name))

    def conn(self, lineno):
        if self.cur is None:
            raise Mismatch(lineno, "an open connection", "none (@connect missing)")
        return self.conns[self.cur]

    def read(self, lineno):
        c = self.conn(lineno)
        try:
            r = c.read()
        except EOFError:
            raise Mismatch(lineno, "a server response", "connection closed")
        except dt.TestFailure as e:
            raise Mismatch(lineno, "a server response", str(e))
        self.trace.append("S: " + r.render())
        return normalize(r.render())

    def send(self, data):
        c = self.conns[self.cur]
        self.trace.append("C: " + data.decode("utf-8", "replace").rstrip("\r\n")[:200]
                          .replace("\r", "\\r").replace("\n", "\\n"))
        try:
            c.send_raw(data)
        except OSError as e:
            raise dt.TestFailure("send failed: %s" % e)

    def subst(self, lineno, text):
        def rep(m):
            if m.group(1) not in self.vars:
                raise ValueError("line %d: ${%s} was never captured" % (lineno, m.group(1)))
            return self.vars[m.group(1)]
        return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", rep, text)

    def rmatch(self, regex, got):
        m = re.fullmatch(regex, got)
        if m:
            self.vars.update({k: v for k, v in m.groupdict().items() if v is not None})
        return m

    def do_client_line(self, lineno, text):
        text = self.subst(lineno, text)
        # split into chunks at synchronizing literals
        pos = 0
        pending = b""
        for m in _LITREF.finditer(text):
            pending += text[pos:m.start()].encode("utf-8")
            pos = m.end()
            if m.group(3) is not None:
                pending += (m.group(3) * int(m.group(4))).encode("utf-8")
                continue
            if m.group(1).startswith("="):
                data = m.group(1)[1:].encode("utf-8")
            else:
                data = self.msg(m.group(1), lineno)
            if m.group(2) == "+":
                pending += b"{%d+}\r\n" % len(data) + data
                continue
            self.send(pending + b"{%d}\r\n" % len(data))
            pending = b""
            got = self.read(lineno)
            if not got.startswith("+"):
                raise Mismatch(lineno, "a '+' continuation request", got)
            pending = data
        pending += text[pos:].encode("utf-8") + b"\r\n"
        self.send(pending)

    def out_of_band_append(self, lineno, args):
        if not self.spec["users"]:
            raise ValueError("line %d: @append needs a @user" % lineno)
        user, pw = self.spec["users"][0]
        mbox, name, flags = args[0], args[1], args[2:]
        c = self.server.login(user, pw)
        try:
            fl = (" (" + " ".join(flags) + ")") if flags else ""
            _, t = c.command("APPEND %s%s %%L" % (mbox, fl), [self.msg(name, lineno)])
            if " OK" not in t.text[:8]:
                raise Mismatch(lineno, "@append OK", t.render())
            c.command("LOGOUT")
        finally:
            c.close()

    def close_all(self):
        for c in self.conns.values():
            c.close()
        self.conns = {}
        self.cur = None

    def start_server(self):
        cfg = dict(self.spec["config"])
        self.server = dt.Server(config=cfg, start=False)
        for u, p in self.spec["users"]:
            self.server.add_user(u, p)
        self.server.start()

    def run(self):
        items = self.spec["items"]
        self.start_server()
        try:
            i = 0
            while i < len(items):
                lineno, kind, arg = items[i]
                i += 1
                if kind == "connect":
                    mode = arg[0] if arg else "plain"
                    name = arg[1] if len(arg) > 1 else "main"
                    if name in self.conns:
                        self.conns[name].close()
                    self.conns[name] = self.server.client(tls=(mode == "tls"))
                    self.cur = name
                    self.trace.append("@connect %s %s" % (mode, name))
                elif kind == "use":
                    if arg[0] not in self.conns:
                        raise ValueError("line %d: no connection %s" % (lineno, arg[0]))
                    self.cur = arg[0]
                    self.trace.append("@use %s" % arg[0])
                elif kind == "close":
                    self.conn(lineno).close()
                    del self.conns[self.cur]
                    self.cur = None
                elif kind == "eof":
                    c = self.conn(lineno)
                    if c.buf:
                        raise Mismatch(lineno, "connection close", "more data: %r" % c.buf[:100])
                    if not c.at_eof(3.0):
                        raise Mismatch(lineno, "connection close", "connection still open")
                elif kind == "append":
                    self.out_of_band_append(lineno, arg)
                elif kind == "restart":
                    self.close_all()
                    self.server.stop()
                    self.server.start()
                elif kind == "C:":
                    self.do_client_line(lineno, arg)
                    if re.match(r"^\S+ STARTTLS\s*$", arg, re.I):
                        self.pending_starttls = True
                elif kind == "C+":
                    self.send(unescape(arg).encode("utf-8"))
                elif kind in ("S:", "S~", "S*"):
                    arg = self.subst(lineno, arg)
                if kind == "S:":
                    got = self.read(lineno)
                    arg = normalize(arg)
                    if got != arg:
                        raise Mismatch(lineno, repr(arg), repr(got))
                    self.maybe_starttls(arg)
                elif kind == "S~":
                    got = self.read(lineno)
                    if not self.rmatch(arg, got):
                        raise Mismatch(lineno, "/%s/" % arg, repr(got))
                    self.maybe_starttls(got)
                elif kind == "S*":
                    n = 0
                    while True:
                        got = self.read(lineno)
                        if self.rmatch(arg, got):
                            break
                        n += 1
                        if n > 100000:
                            raise Mismatch(lineno, "/%s/" % arg, "too many responses")
                    self.maybe_starttls(got)
                elif kind == "S&":
                    group = [arg]
                    while i < len(items) and items[i][1] == "S&":
                        group.append(items[i][2])
                        i += 1
                    stop = items[i] if i < len(items) and items[i][1] in ("S:", "S~") else None
                    self.match_group(lineno, group, stop)
                    if stop:
                        i += 1
            self.close_all()
            self.server.stop()
            reports = self.server.sanitizer_reports() if dt.sanitizer() else []
            if reports:
                raise dt.TestFailure("sanitizer report in server stderr: %s\n%s"
                                     % (reports, self.server.stderr_text()[-3000:]))
        finally:
            self.close_all()
            if self.server:
                if self.server.proc is not None:
                    self.server.kill_group()
                self.stderr_tail = self.server.stderr_text()[-6000:]
                self.server._reported = True   # reported by run_transcript
                self.server.cleanup()

    stderr_tail = ""

    pending_starttls = False

    def _entry_match(self, e, got):
        if e.startswith("?"):
            e = e[1:]
        if e.startswith("~"):
            return self.rmatch(e[1:], got) is not None
        return normalize(e) == got

    def match_group(self, lineno, group, stop):
        """Unordered responses. Entries starting with '?' are optional. When
        stop (the following S:/S~ line) is given, responses are read until one
        matches it; every response before it must match a group entry.
        Without stop, exactly the number of required entries is read."""
        group = [self.subst(lineno, e) for e in group]
        if stop is not None:
            stop = (stop[0], stop[1], self.subst(lineno, stop[2]))
        required = [e for e in group if not e.startswith("?")]
        got_list = []
        remaining = list(group)
        while True:
            if stop is None and len(got_list) >= len(required):
                break
            got = self.read(lineno)
            if stop is not None:
                sk, sp = stop[1], stop[2]
                if (sk == "S:" and got == normalize(sp)) or (sk == "S~" and self.rmatch(sp, got)):
                    self.maybe_starttls(got)
                    break
            got_list.append(got)
            hit = next((e for e in remaining if self._entry_match(e, got)), None)
            if hit is None:
                raise Mismatch(lineno, "one of (any order) %r" % remaining, repr(got))
            remaining.remove(hit)
        missing = [e for e in remaining if not e.startswith("?")]
        if missing:
            raise Mismatch(lineno, "(any order) %r" % missing, "responses %r" % got_list)

    def maybe_starttls(self, got):
        """After the tagged OK of a STARTTLS, start the TLS handshake."""
        if self.pending_starttls and re.match(r"^\S+ (OK|NO|BAD)", got):
            self.pending_starttls = False
            if re.match(r"^\S+ OK", got):
                c = self.conns[self.cur]
                if c.buf:
                    raise dt.TestFailure("plaintext data after STARTTLS OK: %r" % c.buf[:100])
                c.sock = c._wrap(c.sock)
                self.trace.append("(TLS handshake done)")


def run_transcript(path):
    t0 = time.monotonic()
    name = os.path.relpath(path, ROOT)
    try:
        spec = parse_transcript(path)
    except (ValueError, IndexError) as e:
        return name, False, "parse error: %s" % e, 0
    r = TranscriptRun(path, spec)
    try:
        r.run()
        return name, True, "", time.monotonic() - t0
    except Mismatch as e:
        detail = str(e)
    except dt.TestFailure as e:
        detail = str(e)
    except Exception as e:  # noqa: BLE001
        detail = "%s: %s\n%s" % (type(e).__name__, e, traceback.format_exc(limit=3))
    tail = "\n".join("      | " + t[:300] for t in r.trace[-12:])
    err = ""
    if r.stderr_tail.strip():
        lines = r.stderr_tail.splitlines()
        reps = [p for p in dt.SANITIZER_PATTERNS if p in r.stderr_tail]
        n = 60 if reps else 15
        err = "\n    server stderr (tail%s):\n" % (", SANITIZER REPORT" if reps else "") + "\n".join(
            "      ! " + x for x in lines[-n:])
    return name, False, detail + "\n    last exchange:\n" + tail + err, time.monotonic() - t0


_RESULT = re.compile(r"^(PASS|FAIL|SKIP)\b(.*)$")


def run_script(path):
    """Run a python/shell test script; count its PASS/FAIL/SKIP lines."""
    name = os.path.relpath(path, ROOT)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.path.join(HERE, "lib") + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [sys.executable, path] if path.endswith(".py") else ["sh", path]
    t0 = time.monotonic()
    limit = 400 if dt.sanitizer() else 180
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True, errors="replace", cwd=ROOT)
    try:
        out, _ = p.communicate(timeout=limit)
        rc = p.returncode
    except subprocess.TimeoutExpired:
        # SIGTERM first: the script's handler (darius_test) stops its servers
        p.terminate()
        try:
            out, _ = p.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            out, _ = p.communicate()
        out = (out or "") + "\n(script timed out after %d s)" % limit
        rc = -1
    res = {"PASS": 0, "FAIL": 0, "SKIP": 0}
    lines = []
    for line in out.splitlines():
        m = _RESULT.match(line)
        if m:
            res[m.group(1)] += 1
        lines.append(line)
    if rc != 0 and res["FAIL"] == 0:
        res["FAIL"] += 1
        lines.append("FAIL %s: script exited with status %s" % (name, rc))
    if res["PASS"] + res["FAIL"] + res["SKIP"] == 0:
        res["FAIL"] += 1
        lines.append("FAIL %s: no results reported" % name)
    return name, res, lines, time.monotonic() - t0


def main(argv):
    verbose = False
    jobs = int(os.environ.get("PROTO_JOBS", "2"))
    filters = []
    args = list(argv)
    while args:
        a = args.pop(0)
        if a == "--sanitizer":
            os.environ["DARIUS_SANITIZER"] = "1"
        elif a == "-v":
            verbose = True
        elif a == "-j":
            jobs = int(args.pop(0))
        else:
            filters.append(a)

    def want(p):
        return not filters or any(f in p for f in filters)

    passed = failed = skipped = 0
    tdir = os.path.join(HERE, "transcripts")
    transcripts = sorted(os.path.join(tdir, f) for f in os.listdir(tdir) if f.endswith(".t"))
    transcripts = [t for t in transcripts if want(t)]
    if not os.access(os.path.join(dt.bin_dir(), "dariusd"), os.X_OK):
        print("FAIL: no dariusd in %s" % dt.bin_dir())
        print("protocol: 0 passed, 1 failed")
        return 1

    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as ex:
        for name, ok, detail, secs in ex.map(run_transcript, transcripts):
            if ok:
                passed += 1
                print("PASS %s (%.1fs)" % (name, secs), flush=True)
            else:
                failed += 1
                print("FAIL %s (%.1fs)\n    %s" % (name, secs, detail), flush=True)

    scripts = []
    for sub in ("system", "interop"):
        d = os.path.join(HERE, sub)
        if os.path.isdir(d):
            scripts += sorted(os.path.join(d, f) for f in os.listdir(d)
                              if (f.endswith(".py") or f.endswith(".sh")) and not f.startswith("_"))
    for s in scripts:
        if not want(s):
            continue
        name, res, lines, secs = run_script(s)
        passed += res["PASS"]
        failed += res["FAIL"]
        skipped += res["SKIP"]
        for line in lines:
            if verbose or res["FAIL"] or _RESULT.match(line):
                print("  " + line if not _RESULT.match(line) else line)
        print("%s %s: %d passed, %d failed, %d skipped (%.1fs)"
              % ("ok  " if res["FAIL"] == 0 else "FAIL", name, res["PASS"], res["FAIL"],
                 res["SKIP"], secs), flush=True)

    if skipped:
        print("protocol: %d skipped" % skipped)
    print("protocol: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
