"""Helpers for Hato's integration tests: a daemon in a temp dir, and SMTP clients.

Only the Python standard library (run with Debian's /usr/bin/python3).

    d = Daemon(users={"alice": "pw"})   # temp dir, config, cert, users file
    d.start()                           # waits for the `listening` lines
    d.port("submission")
    d.kill(); d.start()                 # SIGKILL, then restart on the same data dir
    d.stop()                            # SIGTERM; asserts a clean exit (status 0)

Tests derive from HatoTestCase: one daemon per class, started on first use,
stopped (and checked for a clean exit) when the class is done. When a test
fails, run.py prints the tail of the daemon's log.
"""

import base64
import json
import os
import resource
import re
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import tempfile
import time
import unittest

HATO = os.environ.get("HATO_BIN", "")
HOSTNAME = "relay.example.test"
DOMAIN = "example.test"
START_TIMEOUT = 10.0
STOP_TIMEOUT = 15.0
IO_TIMEOUT = 10.0
CLI_TIMEOUT = 15.0

LISTENING = re.compile(
    r'\blistening\b.*?\blistener"?[=:]"?(?P<name>[^"\s]+)"?.*?\baddress"?[=:]"?'
    r'(?P<host>[^"\s]+):(?P<port>\d+)"?')  # text (key=value) or JSON ("key":"value") logs
# The line serve logs once it is fully up (signal handlers included), text or JSON.
STARTED = re.compile(r'(?:^\S+ info started |"event":"started")')

_cert_cache = None



_blackhole = None


def _blackhole_dns_port():
    """A UDP port that is bound but never read: DNS questions sent there time out."""
    global _blackhole
    if _blackhole is None:
        _blackhole = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        _blackhole.bind(("127.0.0.1", 0))
    return _blackhole.getsockname()[1]

def hato_bin():
    if not HATO:
        raise RuntimeError("HATO_BIN is not set (run through run.py --hato PATH)")
    return HATO


def _make_cert():
    """One self-signed certificate per test run (cached)."""
    global _cert_cache
    if _cert_cache is None:
        d = tempfile.mkdtemp(prefix="hato-it-cert-")
        cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
             "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
             "-keyout", key, "-out", cert],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)
        _cert_cache = (d, cert, key)
    return _cert_cache[1], _cert_cache[2]


def cleanup_cert():
    global _cert_cache
    if _cert_cache is not None:
        shutil.rmtree(_cert_cache[0], ignore_errors=True)
        _cert_cache = None


def _yaml_str(s):
    return json.dumps(s)  # a JSON string is a valid YAML flow scalar


def default_listeners():
    return [
        {"name": "submission", "role": "submission", "tls": "starttls"},
        {"name": "submissions", "role": "submission", "tls": "implicit"},
        {"name": "trusted", "role": "submission", "tls": "none",
         "trusted_networks": ["127.0.0.0/8"]},
        {"name": "untrusted", "role": "submission", "tls": "none",
         "trusted_networks": ["10.0.0.0/8", "::1/128"]},
    ]


DEFAULT_LIMITS = {
    "max_message_size": "1M",
    "max_recipients": 50,
    "max_errors": 5,
    "command_timeout": "30s",
    "data_timeout": "1m",
}


class DaemonError(AssertionError):
    pass


class Daemon:
    """A `hato serve` process in its own temp dir."""

    def __init__(self, users=None, listeners=None, limits=None, allowed_senders=None,
                 domains=None, extra_yaml="", rlimit_nofile=None):
        self.dir = tempfile.mkdtemp(prefix="hato-it-")
        self.config = os.path.join(self.dir, "hato.yaml")
        self.users_file = os.path.join(self.dir, "users")
        self.data_dir = os.path.join(self.dir, "data")
        self.log_path = os.path.join(self.dir, "hato.log")
        self.listeners = listeners if listeners is not None else default_listeners()
        self.limits = dict(DEFAULT_LIMITS, **(limits or {}))
        self.allowed_senders = allowed_senders or {}
        self.domains = domains or [{"name": DOMAIN, "mailboxes": ["support"]}]
        self.extra_yaml = extra_yaml
        self.rlimit_nofile = rlimit_nofile  # (soft, hard) descriptor limit for the daemon
        self.proc = None
        self.ports = {}
        self.exits = []          # exit statuses of previous runs
        self._log_file = None
        self._saved_log = None
        try:
            self.write_config()
            for name, password in (users or {}).items():
                self.add_user(name, password)
        except BaseException:
            if not os.environ.get("HATO_KEEP"):
                shutil.rmtree(self.dir, ignore_errors=True)
            raise

    # -- files ---------------------------------------------------------------
    def write_config(self):
        cert, key = _make_cert()
        shutil.copy(cert, os.path.join(self.dir, "cert.pem"))
        shutil.copy(key, os.path.join(self.dir, "key.pem"))
        y = []
        y.append(f"hostname: {HOSTNAME}")
        y.append(f"data_dir: {_yaml_str(self.data_dir)}")
        y.append(f"users_file: {_yaml_str(self.users_file)}")
        y.append("tls:")
        y.append(f"  certificate: {_yaml_str(os.path.join(self.dir, 'cert.pem'))}")
        y.append(f"  key: {_yaml_str(os.path.join(self.dir, 'key.pem'))}")
        y.append("listeners:")
        for l in self.listeners:
            y.append(f"  - name: {l['name']}")
            y.append(f"    address: {_yaml_str(l.get('address', '127.0.0.1:0'))}")
            y.append(f"    role: {l.get('role', 'submission')}")
            y.append(f"    tls: {l.get('tls', 'starttls')}")
            if l.get("trusted_networks"):
                y.append(f"    trusted_networks: {json.dumps(l['trusted_networks'])}")
            for k, v in l.get("extra", {}).items():  # other listener keys (bare_lf)
                y.append(f"    {k}: {json.dumps(v)}")
        y.append("domains:")
        for d in self.domains:
            y.append(f"  - name: {d['name']}")
            if d.get("mailboxes"):
                y.append(f"    mailboxes: {json.dumps(d['mailboxes'])}")
            if d.get("aliases"):
                y.append(f"    aliases: {json.dumps(d['aliases'])}")
            if d.get("dkim"):
                y.append("    dkim:")
                for k in d["dkim"]:
                    y.append(f"      - {json.dumps(k)}")
        y.append("limits:")
        for k, v in self.limits.items():
            y.append(f"  {k}: {json.dumps(v)}")
        if self.allowed_senders:
            y.append("allowed_senders:")
            for user, addrs in self.allowed_senders.items():
                y.append(f"  {user}: {json.dumps(addrs)}")
        if "dns:" not in self.extra_yaml:
            # Tests that are not about delivery keep their mail: every DNS
            # question goes to a server that never answers, so it is deferred.
            y.append("dns:")
            y.append(f"  servers: [\"127.0.0.1:{_blackhole_dns_port()}\"]")
        text = "\n".join(y) + "\n" + self.extra_yaml
        with open(self.config, "w") as f:
            f.write(text)

    def add_user(self, name, password):
        r = self.cli("user", "add", name, "--password-stdin", input=password + "\n")
        if r.returncode != 0:
            raise DaemonError(f"hato user add {name} exited {r.returncode}: {r.stderr!r}")

    # -- CLI -----------------------------------------------------------------
    def cli(self, *args, input=None, text=True, timeout=CLI_TIMEOUT):
        """Runs `hato ARGS -c CONFIG`; returns the CompletedProcess."""
        return subprocess.run([hato_bin(), *args, "-c", self.config], input=input,
                              capture_output=True, text=text, timeout=timeout)

    def queue_ls(self):
        r = self.cli("queue", "ls", "--json")
        if r.returncode != 0:
            raise DaemonError(f"hato queue ls --json exited {r.returncode}: {r.stderr.strip()!r}")
        return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]

    def queue_show(self, qid):
        r = self.cli("queue", "show", qid, "--json")
        if r.returncode != 0:
            raise DaemonError(f"hato queue show {qid} --json exited {r.returncode}: "
                              f"{r.stderr.strip()!r}")
        return json.loads(r.stdout)

    def queue_cat(self, qid):
        r = self.cli("queue", "cat", qid, text=False)
        if r.returncode != 0:
            raise DaemonError(f"hato queue cat {qid} exited {r.returncode}: {r.stderr.strip()!r}")
        return r.stdout

    # -- process -------------------------------------------------------------
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout=START_TIMEOUT):
        assert not self.running(), "daemon already running"
        self._log_file = open(self.log_path, "ab")
        start_offset = self._log_file.tell()
        limit = self.rlimit_nofile
        self.proc = subprocess.Popen([hato_bin(), "serve", "-c", self.config],
                                     stdin=subprocess.DEVNULL, stdout=self._log_file,
                                     stderr=self._log_file, cwd=self.dir,
                                     preexec_fn=(lambda: resource.setrlimit(
                                         resource.RLIMIT_NOFILE, limit)) if limit else None)
        wanted = {l["name"] for l in self.listeners}
        deadline = time.monotonic() + timeout
        ports = {}
        started = False
        while True:
            with open(self.log_path, "rb") as f:
                f.seek(start_offset)
                for line in f.read().decode("utf-8", "replace").splitlines():
                    m = LISTENING.search(line)
                    if m:
                        ports[m.group("name")] = int(m.group("port"))
                    started = started or STARTED.search(line) is not None
            # `started` comes once the signal handlers are in place: a SIGTERM sent
            # earlier would kill the daemon instead of stopping it.
            if wanted <= ports.keys() and started:
                break
            if self.proc.poll() is not None:
                status = self.proc.returncode
                self._reap()
                raise DaemonError(f"hato serve exited with status {status} while starting\n"
                                  + self.log_tail())
            if time.monotonic() > deadline:
                self.proc.kill()
                self.proc.wait()
                self._reap()
                missing = (f"`listening` line for {sorted(wanted - ports.keys())}"
                           if not wanted <= ports.keys() else "`started` line")
                raise DaemonError(f"hato serve: no {missing} within {timeout}s\n"
                                  + self.log_tail())
            time.sleep(0.02)
        self.ports = ports
        return self

    def port(self, name):
        return self.ports[name]

    def _reap(self):
        if self._log_file:
            self._log_file.close()
            self._log_file = None
        if self.proc is not None:
            self.exits.append(self.proc.returncode)

    def stop(self, check=True):
        """SIGTERM and wait; with check, asserts exit status 0 (no crash)."""
        if self.proc is None or self._log_file is None:
            return 0  # never started, or already stopped/killed and reaped
        if self.proc.poll() is not None:
            status = self.proc.returncode
            self._reap()
            if check:
                raise DaemonError(f"hato serve had exited with status {status} "
                                  f"(crash?) before it was stopped\n" + self.log_tail())
            return status
        self.proc.send_signal(signal.SIGTERM)
        try:
            status = self.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            self._reap()
            raise DaemonError(f"hato serve did not stop within {STOP_TIMEOUT}s of SIGTERM\n"
                              + self.log_tail())
        self._reap()
        if check and status != 0:
            raise DaemonError(f"hato serve exited with status {status} on SIGTERM "
                              f"(expected 0)\n" + self.log_tail())
        return status

    def kill(self):
        """SIGKILL, as a crash would."""
        assert self.running(), "daemon not running"
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=STOP_TIMEOUT)
        self._reap()

    def assert_alive(self):
        if self.proc is not None and self.proc.poll() is not None:
            status = self.proc.returncode
            raise DaemonError(f"hato serve died during the test (status {status})\n"
                              + self.log_tail())

    def log_text(self):
        if self._saved_log is not None:
            return self._saved_log
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_tail(self, n=40):
        lines = self.log_text().splitlines()[-n:]
        return f"--- hato log ({self.log_path}), last {len(lines)} lines ---\n" + \
            "\n".join(lines) + "\n--- end of hato log ---"

    def cleanup(self):
        if self.running():
            self.proc.kill()
            self.proc.wait()
            self._reap()
        self._saved_log = self.log_text()
        if not os.environ.get("HATO_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)


# ---------------------------------------------------------------------------
# Test base class


class HatoTestCase(unittest.TestCase):
    """One daemon per class (started lazily, stopped with SIGTERM at the end)."""

    USERS = {"alice": "alice-secret-1", "bob": "bob-secret-2"}
    ALLOWED_SENDERS = {"bob": ["bob@example.test"]}
    LISTENERS = None
    LIMITS = None
    daemon = None
    _start_error = None

    @classmethod
    def get_daemon(cls):
        if cls.__dict__.get("_start_error"):
            raise DaemonError(cls._start_error)
        if cls.__dict__.get("daemon") is None:
            try:
                d = Daemon(users=cls.USERS, listeners=cls.LISTENERS, limits=cls.LIMITS,
                           allowed_senders=cls.ALLOWED_SENDERS)
            except Exception as e:
                cls._start_error = f"setting up the daemon failed: {e}"
                raise
            cls.daemon = d
            try:
                d.start()
            except Exception as e:
                cls._start_error = f"starting the daemon failed: {e}"
                raise
        return cls.daemon

    def setUp(self):
        self._daemons = []
        self.hato = self.get_daemon()
        self._daemons.append(self.hato)

    def tearDown(self):
        self.hato.assert_alive()

    @classmethod
    def tearDownClass(cls):
        d = cls.__dict__.get("daemon")
        if d is not None:
            cls.daemon = None
            try:
                d.stop(check=True)
            finally:
                d.cleanup()

    def own_daemon(self, **kw):
        """A daemon for this test only (stopped and checked at cleanup)."""
        kw.setdefault("users", self.USERS)
        kw.setdefault("allowed_senders", self.ALLOWED_SENDERS)
        return self.adopt(Daemon(**kw))

    def adopt(self, d):
        """Makes d this test's: checked alive after it, stopped (exit 0) and removed."""
        self._daemons.append(d)

        def fin():
            try:
                d.stop(check=True)
            finally:
                d.cleanup()
        self.addCleanup(fin)
        return d


# ---------------------------------------------------------------------------
# SMTP clients


def client_context():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def auth_plain(port, user, password):
    """(code, text) of AUTH PLAIN after STARTTLS on `port`, as smtplib's client gets it;
    a refusal is returned, not raised."""
    s = smtplib.SMTP("127.0.0.1", port, local_hostname="client.example.net", timeout=IO_TIMEOUT)
    try:
        s.ehlo()
        s.starttls(context=client_context())
        s.ehlo()
        s.user, s.password = user, password
        try:
            code, resp = s.auth("PLAIN", s.auth_plain, initial_response_ok=True)
        except smtplib.SMTPAuthenticationError as e:
            code, resp = e.smtp_code, e.smtp_error
        s.quit()
    finally:
        s.close()
    return code, resp


class Reply:
    def __init__(self, code, lines):
        self.code = code
        self.lines = lines  # text after "NNN-" / "NNN "

    @property
    def text(self):
        return "\n".join(self.lines)

    def __repr__(self):
        return f"Reply({self.code}, {self.lines!r})"

    def __str__(self):
        return "\n".join(f"{self.code} {l}" for l in self.lines)


class ProtocolError(AssertionError):
    pass


class RawSMTP:
    """A byte-level SMTP client: send exact bytes, read replies one by one."""

    def __init__(self, port, host="127.0.0.1", implicit_tls=False, timeout=IO_TIMEOUT):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.timeout = timeout
        self.buf = b""
        self.tls = False
        if implicit_tls:
            self.sock = client_context().wrap_socket(self.sock)
            self.tls = True

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def _fill(self):
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            raise ProtocolError(f"no reply within {self.timeout}s (buffer {self.buf!r})")
        if not chunk:
            raise EOFError("connection closed by server")
        self.buf += chunk

    def readline(self):
        while b"\r\n" not in self.buf:
            if len(self.buf) > 100000:
                raise ProtocolError("reply line too long")
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def reply(self):
        """Reads one (possibly multi-line) reply."""
        lines, code = [], None
        while True:
            line = self.readline().decode("utf-8", "replace")
            if len(line) < 3 or not line[:3].isdigit() or (len(line) > 3 and line[3] not in " -"):
                raise ProtocolError(f"malformed reply line {line!r}")
            if code is None:
                code = int(line[:3])
            elif int(line[:3]) != code:
                raise ProtocolError(f"reply code changed inside a multi-line reply: {line!r}")
            lines.append(line[4:])
            if len(line) == 3 or line[3] == " ":
                return Reply(code, lines)

    def expect(self, code, enhanced=None):
        r = self.reply()
        if r.code != code or (enhanced and not r.lines[-1].startswith(enhanced)):
            raise ProtocolError(f"expected {code} {enhanced or ''}, got {r}")
        return r

    def cmd(self, line):
        """Sends one command (str as UTF-8, or raw bytes) and reads its reply."""
        self.send(line + (b"\r\n" if isinstance(line, bytes) else "\r\n"))
        return self.reply()

    def replies_until_close(self, limit=50):
        """All replies until the server closes the connection."""
        out = []
        while len(out) < limit:
            try:
                out.append(self.reply())
            except EOFError:
                if self.buf:
                    raise ProtocolError(f"partial reply at close: {self.buf!r}")
                return out
            except (ConnectionResetError, ssl.SSLError, OSError) as e:
                if isinstance(e, socket.timeout):
                    raise ProtocolError(f"connection not closed within {self.timeout}s; "
                                        f"replies so far {out}")
                return out
        raise ProtocolError(f"too many replies: {out}")

    def greeting(self):
        return self.expect(220)

    def ehlo(self, name="client.example.net"):
        r = self.cmd(f"EHLO {name}")
        if r.code != 250:
            raise ProtocolError(f"EHLO refused: {r}")
        return r

    def starttls(self):
        r = self.cmd("STARTTLS")
        if r.code != 220:
            raise ProtocolError(f"STARTTLS refused: {r}")
        if self.buf:
            raise ProtocolError(f"plaintext after the STARTTLS 220: {self.buf!r}")
        self.sock = client_context().wrap_socket(self.sock)
        self.tls = True
        return r

    def auth_plain(self, user, password):
        token = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
        return self.cmd(f"AUTH PLAIN {token}")


def ehlo_keywords(reply):
    """EHLO reply lines after the first, as {KEYWORD: [params]}."""
    kw = {}
    for line in reply.lines[1:]:
        parts = line.split()
        if parts:
            kw[parts[0].upper()] = parts[1:]
    return kw


QUEUED = re.compile(r"\bqueued as (\S+)")


def queue_id(text):
    """The queue ID from a `250 2.0.0 Ok: queued as ID` reply text."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    m = QUEUED.search(text)
    if not m:
        raise ProtocolError(f"no 'queued as ID' in {text!r}")
    return m.group(1)


def wait_for(pred, timeout=5.0, interval=0.02):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            return v
        time.sleep(interval)
