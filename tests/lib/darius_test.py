"""darius_test.py - helpers for Darius protocol/system/interop tests.

stdlib only. Main pieces:

  Server    start a dariusd on a fresh temporary datadir with a generated
            config (free ports, workers 2), wait for readiness by polling
            connect() with a deadline, create users with the `darius` CLI,
            stop with SIGTERM (asserting exit 0 within 5 s), keep the
            server's stderr in a file (sanitizer reports are searched there).
  Pop3      raw POP3 client (Server.pop3(), Server.pop3_login()); every
            Server also listens for POP3/POP3S on free ports
            (pop3_port, pop3s_port).
  Lmtp      raw LMTP client (Server.lmtp(unix=...)); every Server also
            listens for LMTP on a free TCP port (lmtp_port) and on the unix
            socket lmtp_socket in its tmp dir; lmtp_data() dot-stuffs.
  Client    raw IMAP client: send lines/literals, read logical responses
            (literals inlined), run a tagged command and collect untagged
            responses, STARTTLS, implicit TLS (no certificate verification:
            the test server's certificate is self-signed).

Environment:
  DARIUS_BIN_DIR   directory with dariusd and darius (default: build)
  DARIUS_SANITIZER set to 1 when the binaries are ASan/UBSan builds
                   (longer timeouts; stderr scanned for reports)
"""

import base64
import atexit
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def bin_dir():
    d = os.environ.get("DARIUS_BIN_DIR", "build")
    if not os.path.isabs(d):
        d = os.path.join(ROOT, d)
    return d


def sanitizer():
    return os.environ.get("DARIUS_SANITIZER", "") == "1"


def timeout_scale():
    return 4.0 if sanitizer() else 1.0


# Sanitizer report markers searched in a server's stderr.
SANITIZER_PATTERNS = [
    "ERROR: AddressSanitizer",
    "ERROR: LeakSanitizer",
    "runtime error:",
    "UndefinedBehaviorSanitizer",
    "SUMMARY: AddressSanitizer",
    "WARNING: ThreadSanitizer",
]


class TestFailure(Exception):
    pass


def free_port():
    """A TCP port that was free a moment ago (bind port 0 and release it)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(host, port, deadline, proc=None):
    """Poll connect() until the port accepts or the deadline passes.
    Readiness check, not a sleep: each attempt is a real connect."""
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            s = socket.create_connection((host, port), timeout=0.5)
            s.close()
            return True
        except OSError:
            # short back-off between connect attempts while the server binds
            time.sleep(0.02)
    return False


def port_listening(port, pid):
    """Does process pid hold a socket in LISTEN state on the TCP port?
    (Another process's listener on the port - the port race start()
    handles - does not count.)"""
    inodes = set()
    try:
        for fd in os.listdir("/proc/%d/fd" % pid):
            try:
                link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
            except OSError:
                continue
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
    except OSError:
        return False
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(name) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    if (fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port
                            and fields[9] in inodes):
                        return True
        except (OSError, StopIteration, IndexError, ValueError):
            continue
    return False


def wait_listening(port, deadline, proc):
    """Poll /proc until proc listens on the port (no connection made), the
    process exits, or the deadline passes."""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        if port_listening(port, proc.pid):
            return True
        time.sleep(0.02)   # back-off between polls while the server binds
    return False


_LIVE = set()   # servers not cleaned up yet (killed on exit / SIGTERM)


def _cleanup_all():
    for srv in list(_LIVE):
        try:
            srv.cleanup()
        except Exception:  # noqa: BLE001 - best effort at exit
            pass


def _on_sigterm(signum, frame):
    # the protocol runner sends SIGTERM to a script that overran its time
    # limit: leave no server behind
    _cleanup_all()
    print("FAIL: terminated (time limit)", flush=True)
    os._exit(1)


atexit.register(_cleanup_all)
try:
    signal.signal(signal.SIGTERM, _on_sigterm)
except ValueError:
    pass  # not the main thread


class Server:
    """A dariusd on a fresh datadir. Use as a context manager or call
    start()/stop() explicitly."""

    def __init__(self, config=None, workers=2, allowplaintext=True, start=True):
        self.tmp = tempfile.mkdtemp(prefix="darius-test-")
        self.datadir = os.path.join(self.tmp, "data")
        os.makedirs(self.datadir)
        self.host = "127.0.0.1"
        self.lmtp_socket = os.path.join(self.tmp, "lmtp.sock")
        self.sieve_socket = os.path.join(self.tmp, "sieve.sock")
        self._pick_ports()
        self.conf = {
            "datadir": self.datadir,
            "allowplaintext": "yes" if allowplaintext else "no",
            "workers": str(workers),
            "auth_failure_delay": "0",
            "auth_failures_per_host": "0",
        }
        self.conf.update(self._listen_conf())
        self._fixed = set(config) if config else set()
        if config:
            self.conf.update(config)
        self.conf_path = os.path.join(self.tmp, "imapd.conf")
        self.stderr_path = os.path.join(self.tmp, "dariusd.stderr")
        self.proc = None
        self.users = {}
        self._stderr_file = None
        _LIVE.add(self)
        self.write_config()
        if start:
            self.start()

    def _pick_ports(self):
        """Six distinct free ports: IMAP, IMAPS, POP3, POP3S, LMTP, ManageSieve. The
        built-in defaults would collide between servers run in parallel;
        a port found free can still be taken by another test before the
        server binds it, which start() handles by picking again."""
        taken = set()
        ports = []
        while len(ports) < 6:
            p = free_port()
            if p not in taken:
                taken.add(p)
                ports.append(p)
        (self.port, self.tls_port, self.pop3_port, self.pop3s_port, self.lmtp_port,
         self.sieve_port) = ports

    def _listen_conf(self):
        return {
            "listen_imap": "%s:%d" % (self.host, self.port),
            "listen_imaps": "%s:%d" % (self.host, self.tls_port),
            "listen_pop3": "%s:%d" % (self.host, self.pop3_port),
            "listen_pop3s": "%s:%d" % (self.host, self.pop3s_port),
            "listen_lmtp": "%s:%d, %s" % (self.host, self.lmtp_port, self.lmtp_socket),
            "listen_sieve": "%s:%d, %s" % (self.host, self.sieve_port, self.sieve_socket),
        }

    # ---- files -----------------------------------------------------------
    def write_config(self, extra_lines=None):
        with open(self.conf_path, "w") as f:
            f.write("# generated by tests/lib/darius_test.py\n")
            for k, v in self.conf.items():
                f.write("%s: %s\n" % (k, v))
            for line in extra_lines or []:
                f.write(line + "\n")

    @property
    def dariusd(self):
        return os.path.join(bin_dir(), "dariusd")

    @property
    def darius(self):
        return os.path.join(bin_dir(), "darius")

    def stderr_text(self):
        try:
            with open(self.stderr_path, "r", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def sanitizer_reports(self):
        text = self.stderr_text()
        return [p for p in SANITIZER_PATTERNS if p in text]

    def cert_path(self):
        c = self.conf.get("tls_server_cert")
        return c if c else os.path.join(self.datadir, "tls", "server.crt")

    # ---- process ---------------------------------------------------------
    def start(self, timeout=10.0):
        # Another test may grab one of our ports between free_port() and
        # the server's bind: then pick new ports and try again.
        for attempt in range(5):
            mark = os.path.getsize(self.stderr_path) if os.path.exists(self.stderr_path) else 0
            try:
                return self._start_once(timeout)
            except TestFailure:
                with open(self.stderr_path, "rb") as f:
                    f.seek(mark)
                    new = f.read().decode("utf-8", "replace")
                if "Address already in use" not in new or attempt == 4:
                    raise
                self._pick_ports()
                self.conf.update({k: v for k, v in self._listen_conf().items() if k not in self._fixed})
                self.write_config()

    def _start_once(self, timeout):
        if not os.access(self.dariusd, os.X_OK):
            raise TestFailure("no dariusd at %s" % self.dariusd)
        self._stderr_file = open(self.stderr_path, "ab")
        env = dict(os.environ)
        # own process group: kill_group() reaches master and workers
        self.proc = subprocess.Popen([self.dariusd, "-C", self.conf_path],
                                     stdin=subprocess.DEVNULL, stdout=self._stderr_file,
                                     stderr=self._stderr_file, start_new_session=True,
                                     env=env, cwd=self.tmp)
        deadline = time.monotonic() + timeout * timeout_scale()
        # Ready means every TCP listener is listening, read from /proc, not
        # by connecting: a probe connection counts as an unauthenticated
        # connection until its worker sees the close, and with a small
        # maxconnections it evicts a test's own connection (seen in CI:
        # ManageSieve's maxconnections test lost its second login to the
        # IMAP probe). The master binds IMAP and IMAPS first and exits when
        # a later listener (POP3, POP3S, LMTP, ManageSieve) loses a port
        # race; wait_listening() sees the exit and start() retries.
        if not wait_listening(self.port, deadline, self.proc):
            rc = self.proc.poll()
            self.kill_group()
            raise TestFailure("dariusd not accepting on %d (exit %s); stderr:\n%s"
                              % (self.port, rc, self.stderr_text()[-2000:]))
        if not wait_listening(self.tls_port, deadline, self.proc):
            rc = self.proc.poll()
            self.kill_group()
            raise TestFailure("dariusd not accepting on TLS port %d (exit %s); stderr:\n%s"
                              % (self.tls_port, rc, self.stderr_text()[-2000:]))
        for key in ("listen_pop3", "listen_pop3s", "listen_lmtp", "listen_sieve"):
            for item in str(self.conf.get(key, "")).replace(",", " ").split():
                host, sep, port = item.rpartition(":")
                if not sep or not port.isdigit() or item.startswith("/"):
                    continue
                if not wait_listening(int(port), deadline, self.proc):
                    rc = self.proc.poll()
                    self.kill_group()
                    raise TestFailure("dariusd not accepting on %s (exit %s); stderr:\n%s"
                                      % (item, rc, self.stderr_text()[-2000:]))
        return self

    def pid(self):
        return self.proc.pid if self.proc else None

    def worker_pids(self):
        """Children of the master, from /proc."""
        pids = []
        try:
            for tid in os.listdir("/proc/%d/task" % self.proc.pid):
                with open("/proc/%d/task/%s/children" % (self.proc.pid, tid)) as f:
                    pids += [int(x) for x in f.read().split()]
        except OSError:
            pass
        return sorted(set(pids))

    def stop(self, timeout=5.0):
        """SIGTERM; returns the exit status. Raises TestFailure when it does
        not exit with status 0 within timeout seconds."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=timeout * timeout_scale())
        except subprocess.TimeoutExpired:
            self.kill_group()
            raise TestFailure("dariusd did not exit within %.0f s of SIGTERM" % timeout)
        finally:
            self._close_stderr()
        self.proc = None
        # workers must be gone too
        if rc != 0:
            raise TestFailure("dariusd exited with status %s after SIGTERM; stderr tail:\n%s"
                              % (rc, self.stderr_text()[-2000:]))
        if sanitizer() and self.sanitizer_reports():
            self._reported = True
            raise TestFailure("sanitizer report in dariusd stderr:\n%s"
                              % self.stderr_text()[-3000:])
        return rc

    def kill_group(self):
        """SIGKILL the master and all workers (whole process group)."""
        if self.proc is None:
            return
        pgid = self.proc.pid
        try:
            os.killpg(pgid, signal.SIGKILL)
        except OSError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        # Waiting for the master is not enough: a killed worker releases its
        # file descriptors (the listening sockets) only after its address
        # space is torn down, which takes a while for a large (ASan) one.
        # Until the whole group is gone, a restart could not bind, and a
        # dying worker could still accept a connection. Poll with a deadline.
        deadline = time.monotonic() + 10 * timeout_scale()
        while time.monotonic() < deadline:
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                break
            except OSError:
                break
            time.sleep(0.01)
        self._close_stderr()
        self.proc = None

    def _close_stderr(self):
        if self._stderr_file:
            self._stderr_file.close()
            self._stderr_file = None

    def signal(self, sig):
        self.proc.send_signal(sig)

    def cleanup(self):
        """Kill what is left, report sanitizer findings, remove the datadir.
        A sanitizer report found here is printed as a FAIL line, so a script
        run by the protocol runner counts it even when its checks passed."""
        if self.proc is not None:
            self.kill_group()
        if sanitizer() and not getattr(self, "_reported", False):
            reps = self.sanitizer_reports()
            if reps:
                self._reported = True
                tail = "\n".join("    ! " + x for x in self.stderr_text().splitlines()[-60:])
                print("FAIL sanitizer: report in dariusd stderr (%s)\n%s" % (", ".join(reps), tail),
                      flush=True)
        shutil.rmtree(self.tmp, ignore_errors=True)
        _LIVE.discard(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        try:
            if self.proc is not None and exc[0] is None:
                self.stop()
        finally:
            self.cleanup()
        return False

    # ---- admin -----------------------------------------------------------
    def cli(self, *args, input_text=None):
        return subprocess.run([self.darius, "-C", self.conf_path] + list(args),
                              input=input_text, capture_output=True, text=True,
                              timeout=60)

    def add_user(self, name, password):
        r = self.cli("user", "add", name, input_text=password + "\n")
        if r.returncode != 0:
            raise TestFailure("darius user add %s failed (%d): %s%s"
                              % (name, r.returncode, r.stdout, r.stderr))
        self.users[name] = password

    # ---- clients ---------------------------------------------------------
    def client(self, tls=False, timeout=None):
        c = Client(self.host, self.tls_port if tls else self.port, tls=tls,
                   timeout=timeout)
        return c

    def pop3(self, tls=False, timeout=None):
        """A connected, greeted POP3 client (Pop3)."""
        c = Pop3(self.host, self.pop3s_port if tls else self.pop3_port, tls=tls, timeout=timeout)
        c.greeting()
        return c

    def pop3_login(self, user=None, password=None, tls=False):
        if user is None:
            user, password = next(iter(self.users.items()))
        c = self.pop3(tls=tls)
        c.ok("USER " + user)
        c.ok("PASS " + password)
        return c

    def lmtp(self, unix=False, timeout=None):
        """A connected, greeted LMTP client (Lmtp): TCP or the unix socket."""
        if unix:
            c = Lmtp(path=self.lmtp_socket, timeout=timeout)
        else:
            c = Lmtp(self.host, self.lmtp_port, timeout=timeout)
        c.expect(220)
        return c

    def sieve(self, unix=False, timeout=None):
        """A connected, greeted ManageSieve client (Sieve): TCP or the
        unix socket. The greeting's capability lines are in .greet_caps."""
        if unix:
            c = Sieve(path=self.sieve_socket, timeout=timeout)
        else:
            c = Sieve(self.host, self.sieve_port, timeout=timeout)
        lines, _ = c.greeting()
        c.greet_caps = Sieve.caps(lines)
        return c

    def sieve_login(self, user=None, password=None):
        """ManageSieve client authenticated with PLAIN (allowplaintext)."""
        if user is None:
            user, password = next(iter(self.users.items()))
        c = self.sieve()
        ir = base64.b64encode(("\0%s\0%s" % (user, password)).encode()).decode()
        c.ok('AUTHENTICATE "PLAIN" "%s"' % ir)
        return c

    def login(self, user=None, password=None, tls=False):
        """Connected, greeted and logged-in client."""
        if user is None:
            user, password = next(iter(self.users.items()))
        c = self.client(tls=tls)
        c.greeting()
        c.ok("LOGIN %s %s" % (quote(user), quote(password)))
        return c


def quote(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def literal(data):
    if isinstance(data, str):
        data = data.encode()
    return b"{%d}\r\n" % len(data) + data


_LIT_RE = re.compile(rb"\{(\d+)\}\r\n$")


class Lmtp:
    """Raw LMTP client (RFC 2033): reply() returns (code, [lines])."""

    def __init__(self, host=None, port=None, path=None, timeout=None):
        if timeout is None:
            timeout = 10.0 * timeout_scale()
        if path:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(timeout)
            self.sock.connect(path)
        else:
            self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send_raw(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def send(self, line):
        self.send_raw(line.encode() + b"\r\n" if isinstance(line, str) else line + b"\r\n")

    def readline(self):
        while b"\n" not in self.buf:
            d = self.sock.recv(65536)
            if not d:
                raise TestFailure("LMTP connection closed; buffered %r" % self.buf)
            self.buf += d
        line, self.buf = self.buf.split(b"\n", 1)
        return line.rstrip(b"\r").decode("utf-8", "replace")

    def reply(self):
        lines = []
        while True:
            l = self.readline()
            if len(l) < 3 or not l[:3].isdigit():
                raise TestFailure("bad LMTP reply line %r" % l)
            lines.append(l)
            if len(l) == 3 or l[3] == " ":
                return int(l[:3]), lines

    def expect(self, code, what=""):
        c, lines = self.reply()
        if c != code:
            raise TestFailure("%s: expected %d, got %r" % (what or "LMTP", code, lines))
        return lines

    def cmd(self, line):
        self.send(line)
        return self.reply()

    def at_eof(self, timeout=2.0):
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(1) == b""
        except (socket.timeout, OSError):
            return False


def lmtp_data(msg):
    """Dot-stuff a message (bytes or str, any line endings) for DATA."""
    if isinstance(msg, str):
        msg = msg.encode()
    lines = msg.replace(b"\r\n", b"\n").split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    out = b"".join((b"." + l if l.startswith(b".") else l) + b"\r\n" for l in lines)
    return out + b".\r\n"


class Pop3:
    """Raw POP3 client (RFC 1939): send lines, read single-line and
    multi-line responses (dot-unstuffed, lines without CRLF)."""

    def __init__(self, host, port, tls=False, timeout=None):
        self.timeout = (timeout or 5.0) * timeout_scale()
        sock = socket.create_connection((host, port), timeout=self.timeout)
        if tls:
            sock = Client._wrap(sock)
        self.sock = sock
        self.buf = bytearray()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def settimeout(self, t):
        self.sock.settimeout(t)

    def send_raw(self, data):
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.sock.sendall(data)

    def send(self, line):
        if isinstance(line, str):
            line = line.encode("utf-8")
        self.send_raw(line + b"\r\n")

    def _fill(self):
        try:
            d = self.sock.recv(262144)
        except socket.timeout:
            raise TestFailure("timeout waiting for the POP3 server (%.1fs)" % self.sock.gettimeout())
        except ssl.SSLError as e:
            raise TestFailure("TLS error: %s" % e)
        except ConnectionResetError:
            d = b""
        if not d:
            raise EOFError("connection closed by server")
        self.buf += d

    def readline_raw(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line = bytes(self.buf[:i + 2])
                del self.buf[:i + 2]
                return line
            if len(self.buf) > 64 * 1024 * 1024:
                raise TestFailure("POP3 line too long")
            self._fill()

    def line(self):
        return self.readline_raw()[:-2].decode("utf-8", "replace")

    def multiline_raw(self):
        """Body of a multi-line response as bytes, exactly as sent
        between the status line and the terminator (still dot-stuffed)."""
        out = bytearray()
        while True:
            ln = self.readline_raw()
            if ln == b".\r\n":
                return bytes(out)
            out += ln

    def multiline(self):
        lines = []
        for ln in self.multiline_raw().split(b"\r\n")[:-1]:
            if ln.startswith(b"."):
                ln = ln[1:]
            lines.append(ln.decode("utf-8", "replace"))
        return lines

    def cmd(self, line):
        self.send(line)
        return self.line()

    def ok(self, line):
        r = self.cmd(line)
        if not r.startswith("+OK"):
            raise TestFailure("expected +OK for %r, got %r" % (line, r))
        return r

    def err(self, line, code=None):
        r = self.cmd(line)
        if not r.startswith("-ERR"):
            raise TestFailure("expected -ERR for %r, got %r" % (line, r))
        if code and not r.startswith("-ERR [%s]" % code):
            raise TestFailure("expected -ERR [%s] for %r, got %r" % (code, line, r))
        return r

    def ok_multi(self, line):
        r = self.ok(line)
        return r, self.multiline()

    def greeting(self):
        r = self.line()
        if not r.startswith("+OK"):
            raise TestFailure("bad POP3 greeting: %r" % r)
        return r

    def starttls(self):
        self.ok("STLS")
        if self.buf:
            raise TestFailure("data after STLS +OK before handshake")
        self.sock = Client._wrap(self.sock)

    def at_eof(self, timeout=2.0):
        old = self.sock.gettimeout()
        self.sock.settimeout(timeout * timeout_scale())
        try:
            while True:
                try:
                    self._fill()
                except EOFError:
                    return True
                except TestFailure:
                    return False
                except OSError:
                    return True
        finally:
            try:
                self.sock.settimeout(old)
            except OSError:
                pass


class Sieve:
    """Raw ManageSieve client (RFC 5804): send commands, read responses.
    A response is (lines, status_line): lines are the data lines before
    the final OK/NO/BYE line, each with its literals inlined (bytes);
    the status line is returned as text with its literals inlined."""

    def __init__(self, host=None, port=None, path=None, tls=False, timeout=None):
        self.timeout = (timeout or 5.0) * timeout_scale()
        if path:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self.timeout)
            sock.connect(path)
        else:
            sock = socket.create_connection((host, port), timeout=self.timeout)
        if tls:
            sock = Client._wrap(sock)
        self.sock = sock
        self.buf = bytearray()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send_raw(self, data):
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.sock.sendall(data)

    def send(self, line):
        if isinstance(line, str):
            line = line.encode("utf-8")
        self.send_raw(line + b"\r\n")

    def _fill(self):
        try:
            d = self.sock.recv(262144)
        except socket.timeout:
            raise TestFailure("timeout waiting for the ManageSieve server (%.1fs)" % self.sock.gettimeout())
        except ssl.SSLError as e:
            raise TestFailure("TLS error: %s" % e)
        except ConnectionResetError:
            d = b""
        if not d:
            raise EOFError("connection closed by server")
        self.buf += d

    def _read(self, n):
        while len(self.buf) < n:
            self._fill()
        d = bytes(self.buf[:n])
        del self.buf[:n]
        return d

    def readline_raw(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line = bytes(self.buf[:i + 2])
                del self.buf[:i + 2]
                return line
            if len(self.buf) > 64 * 1024 * 1024:
                raise TestFailure("ManageSieve line too long")
            self._fill()

    def line(self):
        """One logical line: literals ({N} at the end) are inlined."""
        out = b""
        while True:
            ln = self.readline_raw()[:-2]
            m = re.search(rb"\{(\d+)\+?\}$", ln)
            if not m:
                return out + ln
            out += ln[:m.start()] + b"{" + self._read(int(m.group(1))) + b"}"

    def response(self):
        lines = []
        while True:
            ln = self.line()
            if re.match(rb"^(OK|NO|BYE)( |$)", ln):
                return lines, ln.decode("utf-8", "replace")
            lines.append(ln)

    def cmd(self, line):
        self.send(line)
        return self.response()

    def ok(self, line, code=None):
        lines, st = self.cmd(line)
        if not st.startswith("OK"):
            raise TestFailure("expected OK for %r, got %r" % (line, st))
        if code and not st.startswith("OK (%s" % code):
            raise TestFailure("expected OK (%s) for %r, got %r" % (code, line, st))
        return lines, st

    def no(self, line, code=None):
        lines, st = self.cmd(line)
        if not st.startswith("NO"):
            raise TestFailure("expected NO for %r, got %r" % (line, st))
        if code and not st.startswith("NO (%s" % code):
            raise TestFailure("expected NO (%s) for %r, got %r" % (code, line, st))
        return lines, st

    def greeting(self):
        lines, st = self.response()
        if not st.startswith("OK"):
            raise TestFailure("bad ManageSieve greeting: %r" % st)
        return lines, st

    @staticmethod
    def caps(lines):
        """Capability lines as a dict name -> value (None without one)."""
        out = {}
        for ln in lines:
            m = re.match(rb'^"([^"]*)"(?: "([^"]*)")?$', ln)
            if not m:
                raise TestFailure("bad capability line %r" % ln)
            out[m.group(1).decode().upper()] = m.group(2).decode() if m.group(2) is not None else None
        return out

    def starttls(self):
        self.ok("STARTTLS")
        if self.buf:
            raise TestFailure("data after STARTTLS OK before the handshake")
        self.sock = Client._wrap(self.sock)
        return self.greeting()

    def at_eof(self, timeout=2.0):
        old = self.sock.gettimeout()
        self.sock.settimeout(timeout * timeout_scale())
        try:
            while True:
                try:
                    self._fill()
                except EOFError:
                    return True
                except TestFailure:
                    return False
                except OSError:
                    return True
        finally:
            try:
                self.sock.settimeout(old)
            except OSError:
                pass


def sieve_literal(data):
    if isinstance(data, str):
        data = data.encode()
    return b"{%d+}\r\n" % len(data) + data


class Response:
    """One logical server response: text with literals inlined (raw bytes),
    plus the list of literal payloads."""

    def __init__(self, raw, literals):
        self.raw = raw
        self.literals = literals

    @property
    def text(self):
        return self.raw.decode("utf-8", "replace")

    def render(self):
        """Printable form: CR and LF (inside literals) as \\r and \\n."""
        s = self.raw
        if s.endswith(b"\r\n"):
            s = s[:-2]
        return s.decode("utf-8", "replace").replace("\r", "\\r").replace("\n", "\\n")

    def __repr__(self):
        return "<Response %r>" % self.render()


class Client:
    def __init__(self, host, port, tls=False, timeout=None):
        self.timeout = (timeout or 5.0) * timeout_scale()
        sock = socket.create_connection((host, port), timeout=self.timeout)
        if tls:
            sock = self._wrap(sock)
        self.sock = sock
        self.buf = bytearray()
        self.tagn = 0
        self.log = []

    @staticmethod
    def _wrap(sock):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx.wrap_socket(sock, server_hostname="localhost")

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def settimeout(self, t):
        self.sock.settimeout(t)

    # ---- raw I/O ---------------------------------------------------------
    def send_raw(self, data):
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.log.append(("C", data))
        self.sock.sendall(data)

    def send(self, line):
        if isinstance(line, str):
            line = line.encode("utf-8")
        self.send_raw(line + b"\r\n")

    def _fill(self):
        try:
            d = self.sock.recv(262144)
        except socket.timeout:
            raise TestFailure("timeout waiting for server (%.1fs)" % self.sock.gettimeout())
        except ssl.SSLError as e:
            raise TestFailure("TLS error: %s" % e)
        except ConnectionResetError:
            d = b""
        if not d:
            raise EOFError("connection closed by server")
        self.buf += d

    def _readline(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line = bytes(self.buf[:i + 2])
                del self.buf[:i + 2]
                return line
            if len(self.buf) > 16 * 1024 * 1024:
                raise TestFailure("server line too long")
            self._fill()

    def _readn(self, n):
        while len(self.buf) < n:
            self._fill()
        d = bytes(self.buf[:n])
        del self.buf[:n]
        return d

    def read(self):
        """Next logical response (a line with its literals)."""
        raw = b""
        lits = []
        while True:
            line = self._readline()
            raw += line
            m = _LIT_RE.search(line)
            # a "+ " continuation line may legitimately end in {N}? no: only
            # responses carry literals.
            if m:
                data = self._readn(int(m.group(1)))
                raw += data
                lits.append(data)
                continue
            r = Response(raw, lits)
            self.log.append(("S", raw))
            return r

    def at_eof(self, timeout=2.0):
        """True when the server closes the connection within timeout."""
        old = self.sock.gettimeout()
        self.sock.settimeout(timeout * timeout_scale())
        try:
            while True:
                try:
                    self._fill()
                except EOFError:
                    return True
                except TestFailure:
                    return False
                except OSError:
                    return True
        finally:
            try:
                self.sock.settimeout(old)
            except OSError:
                pass

    # ---- commands --------------------------------------------------------
    def greeting(self):
        r = self.read()
        if not r.text.startswith("* OK") and not r.text.startswith("* PREAUTH"):
            raise TestFailure("bad greeting: %s" % r.render())
        return r

    def next_tag(self):
        self.tagn += 1
        return "t%d" % self.tagn

    def command(self, cmd, literals=()):
        """Send a tagged command; cmd may contain %L placeholders for
        synchronizing literals taken from literals (the client waits for
        '+'). Returns (untagged responses, tagged response)."""
        tag = self.next_tag()
        parts = cmd.split("%L")
        if len(parts) - 1 != len(literals):
            raise ValueError("literal count mismatch")
        first = (tag + " " + parts[0]).encode("utf-8")
        pending = first
        untagged = []
        for i, lit in enumerate(literals):
            if isinstance(lit, str):
                lit = lit.encode("utf-8")
            self.send_raw(pending + b"{%d}\r\n" % len(lit))
            while True:
                r = self.read()
                if r.text.startswith("+"):
                    break
                if r.text.startswith(tag + " "):
                    return untagged, r
                untagged.append(r)
            pending = lit + parts[i + 1].encode("utf-8")
        self.send_raw(pending + b"\r\n")
        return self.collect(tag, untagged)

    def collect(self, tag, untagged=None):
        untagged = untagged if untagged is not None else []
        while True:
            r = self.read()
            if r.text.startswith(tag + " "):
                return untagged, r
            untagged.append(r)

    def ok(self, cmd, literals=()):
        u, t = self.command(cmd, literals)
        if t.text.split(" ", 2)[1:2] != ["OK"]:
            raise TestFailure("expected OK for %r, got %s" % (cmd, t.render()))
        return u, t

    def starttls(self):
        self.ok("STARTTLS")
        if self.buf:
            raise TestFailure("data after STARTTLS OK before handshake")
        self.sock = self._wrap(self.sock)

    def expect(self, regex):
        r = self.read()
        if not re.fullmatch(regex, r.render()):
            raise TestFailure("expected /%s/, got %s" % (regex, r.render()))
        return r

    def logout(self):
        u, t = self.command("LOGOUT")
        self.close()
        return u, t


def untagged_match(untagged, regex):
    out = []
    for r in untagged:
        m = re.fullmatch(regex, r.render())
        if m:
            out.append(m)
    return out


class Report:
    """PASS/FAIL/SKIP lines for python test scripts, counted by the runner."""

    def __init__(self, name):
        self.name = name
        self.passed = 0
        self.failed = 0
        self.skipped = 0

    def ok(self, what, detail=""):
        self.passed += 1
        print("PASS %s: %s%s" % (self.name, what, (" (" + detail + ")") if detail else ""),
              flush=True)

    def fail(self, what, detail=""):
        self.failed += 1
        print("FAIL %s: %s%s" % (self.name, what, (": " + detail) if detail else ""),
              flush=True)

    def skip(self, what, detail=""):
        self.skipped += 1
        print("SKIP %s: %s%s" % (self.name, what, (": " + detail) if detail else ""),
              flush=True)

    def check(self, cond, what, detail=""):
        if cond:
            self.ok(what)
        else:
            self.fail(what, detail)
        return cond

    def check_sanitizer(self, server):
        """A check that server has logged no sanitizer report (they only
        appear under --sanitizer; call it after the last test of server)."""
        reports = server.sanitizer_reports()
        return self.check(not reports, "no sanitizer reports", ", ".join(reports))

    def run(self, what, fn, *args):
        """Run fn(*args); a TestFailure/exception is a FAIL."""
        try:
            r = fn(*args)
            if r is None or r is True:
                self.ok(what)
            elif r is False:
                self.fail(what)
            else:
                self.ok(what, str(r))
        except Exception as e:  # noqa: BLE001 - every error is a test failure
            self.fail(what, "%s: %s" % (type(e).__name__, e))

    def done(self):
        return 1 if self.failed else 0


def ci():
    return os.environ.get("CI", "") not in ("", "0", "false", "no")


def find_tool(name, extra=()):
    p = shutil.which(name)
    if p:
        return p
    for d in extra:
        c = os.path.join(d, name)
        if os.access(c, os.X_OK):
            return c
    return None


def sample_message(n, size=0, subject=None):
    body = "Message number %d.\r\n" % n
    if size > len(body):
        line = ("x" * 76 + "\r\n")
        body += line * ((size - len(body)) // len(line) + 1)
    return ("From: Alice <alice@example.org>\r\n"
            "To: Bob <bob@example.org>\r\n"
            "Subject: %s\r\n"
            "Date: Mon, 7 Feb 1994 21:52:25 -0800\r\n"
            "Message-ID: <%d.test@example.org>\r\n"
            "\r\n" % (subject or ("test %d" % n), n)) + body


def _proc_net_tcp():
    """(local_port, remote_port, inode) of IPv4/IPv6 TCP sockets."""
    out = []
    for fn in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(fn) as f:
                next(f)
                for line in f:
                    p = line.split()
                    lp = int(p[1].rsplit(":", 1)[1], 16)
                    rp = int(p[2].rsplit(":", 1)[1], 16)
                    out.append((lp, rp, p[9]))
        except OSError:
            pass
    return out


def socket_owner_pid(server, client):
    """The dariusd process (master or worker) holding the server side of
    client's connection, found via /proc/net/tcp inodes and /proc/PID/fd."""
    cport = client.sock.getsockname()[1]
    inodes = {ino for lp, rp, ino in _proc_net_tcp() if rp == cport and lp in (server.port, server.tls_port,
                                                                   server.pop3_port, server.pop3s_port,
                                                                   server.sieve_port)}
    for pid in server.worker_pids() + [server.pid()]:
        try:
            for fd in os.listdir("/proc/%d/fd" % pid):
                try:
                    t = os.readlink("/proc/%d/fd/%s" % (pid, fd))
                except OSError:
                    continue
                if t.startswith("socket:[") and t[8:-1] in inodes:
                    return pid
        except OSError:
            continue
    return None


def server_with_user(user="alice", password="secret", **kw):
    """A started Server with one user created before start."""
    s = Server(start=False, **kw)
    try:
        s.add_user(user, password)
        s.start()
    except Exception:
        s.cleanup()
        raise
    return s
