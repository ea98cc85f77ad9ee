"""Destinations for Hato's outbound delivery tests: an SMTP sink and DNS servers.

    sink = SmtpSink()                   # a free port on 127.0.0.1, not yet listening
    sink.reply_rcpt("x@remote.test", "451 4.3.0 try later", times=2)
    sink.start()                        # aiosmtpd in a thread
    sink.wait_messages(1)               # -> [SinkMessage(mail_from, rcpt_tos, data, ...)]
    sink.stop()                         # port closed: the destination is down

    dns = Dnsmasq(mx={"remote.test": [(10, "mx.sink.test")]},
                  hosts={"mx.sink.test": "127.0.0.1"}, null_mx=["nullmx.test"])
    dns.start()                         # dnsmasq on 127.0.0.1:dns.port; names under
                                        # .test it does not know are NXDOMAIN
    dns.extra_args = [...]; dns.restart()  # other records, same port
    FakeDns("servfail").start()         # answers every query SERVFAIL
    FakeDns("dead").start()             # a bound UDP socket that never answers

    ca = TestCa()                       # a CA of our own (openssl); ca.cert is its PEM file
    ctx = ca.server_context("mx.example.test")  # a server cert for that name, signed by ca
    web = HttpsServer(ctx, {"/path": (200, "text/plain", b"body")}).start()  # on web.port

Besides the standard library this needs python3-aiosmtpd (for /usr/bin/python3) and
dnsmasq (Debian's dnsmasq-base, /usr/sbin/dnsmasq).
"""

import email
import json
import email.policy
import logging
import os
import shutil
import socket
import ssl
import struct
import subprocess
import tempfile
import threading
import time
import urllib.request

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult

import hatotest

DNSMASQ = "/usr/sbin/dnsmasq"
SINK_HOSTNAME = "sink.test"

# aiosmtpd logs every session at INFO and warns about deprecated attributes.
logging.getLogger("mail.log").setLevel(logging.CRITICAL)


def free_port(kind=socket.SOCK_STREAM, also=None):
    """A port free on 127.0.0.1 for `kind` (and for `also`, when given)."""
    for _ in range(50):
        s = socket.socket(socket.AF_INET, kind)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        if also is None:
            return port
        t = socket.socket(socket.AF_INET, also)
        try:
            t.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            t.close()
    raise RuntimeError("no free port")


# ---------------------------------------------------------------------------
# SMTP sink


def stop_process(proc, timeout=5, output=False):
    """Stops a helper daemon: SIGTERM, then SIGKILL after `timeout` seconds. With `output`,
    returns what it wrote to its piped stdout (for a failure message)."""
    if proc is None:
        return ""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    out = ""
    if proc.stdout:
        if output:
            out = proc.stdout.read().decode(errors="replace")
        proc.stdout.close()
    return out


def remove_dir(path):
    """Removes a fixture's temp dir, unless HATO_KEEP asks to keep it for inspection."""
    if not os.environ.get("HATO_KEEP"):
        shutil.rmtree(path, ignore_errors=True)


class SinkMessage:
    """One message the sink accepted (250 after DATA)."""

    def __init__(self, mail_from, mail_options, rcpt_tos, rcpt_options, data, peer, tls,
                 auth_user, helo):
        self.mail_from = mail_from          # "" for the null sender <>
        self.mail_options = mail_options    # ["BODY=8BITMIME", ...]
        self.rcpt_tos = rcpt_tos            # only the recipients that got 250
        self.rcpt_options = rcpt_options
        self.data = data                    # bytes after dot-unstuffing, CRLF line ends
        self.peer = peer
        self.tls = tls                      # None, or the TLS version ("TLSv1.3")
        self.auth_user = auth_user          # None, or the AUTH login
        self.helo = helo
        self.time = time.monotonic()

    def parsed(self):
        return email.message_from_bytes(self.data, policy=email.policy.default)

    def header(self, name):
        return self.parsed().get(name)

    @property
    def message_id(self):
        v = self.parsed().get("Message-ID")
        return str(v).strip() if v is not None else None

    def __repr__(self):
        return (f"SinkMessage(from={self.mail_from!r}, to={self.rcpt_tos!r}, "
                f"{len(self.data)} bytes, tls={self.tls}, auth={self.auth_user!r})")


class _Rule:
    def __init__(self, reply, times):
        self.reply = reply
        self.times = times  # None: always

    def take(self):
        if self.times is None:
            return self.reply
        if self.times > 0:
            self.times -= 1
            return self.reply
        return None


class _Handler:
    def __init__(self, sink):
        self.sink = sink

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        # aiosmtpd reads one command at a time, so pipelined commands work; say so.
        if self.sink.pipelining:
            responses.insert(-1, "250-PIPELINING")
        return responses

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        reply = self.sink._take("mail", None) or "250 2.1.0 OK"
        self.sink._note("mail", address, reply)
        if reply.startswith("2"):
            envelope.mail_from = address  # "<>" for the null sender (aiosmtpd needs it set)
            envelope.mail_options.extend(mail_options)
        return reply

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self.sink._take("rcpt", address) or "250 2.1.5 OK"
        self.sink._note("rcpt", address, reply)
        if reply.startswith("2"):
            envelope.rcpt_tos.append(address)
            envelope.rcpt_options.extend(rcpt_options)
        return reply

    async def handle_DATA(self, server, session, envelope):
        reply = self.sink._take("data", None) or "250 2.0.0 OK: sunk"
        self.sink._note("data", ",".join(envelope.rcpt_tos), reply)
        if reply.startswith("2"):
            # STARTTLS or implicit TLS alike: the transport has an SSL object.
            obj = server.transport.get_extra_info("ssl_object") if server.transport else None
            tls = obj.version() if obj is not None else None
            auth = None
            if session.authenticated and session.auth_data is not None:
                login = getattr(session.auth_data, "login", session.auth_data)
                auth = login.decode() if isinstance(login, bytes) else str(login)
            data = envelope.original_content or b""
            mail_from = "" if envelope.mail_from in ("<>", "") else envelope.mail_from
            self.sink._record(SinkMessage(
                mail_from, list(envelope.mail_options), list(envelope.rcpt_tos),
                list(envelope.rcpt_options), data, session.peer, tls, auth, session.host_name))
        return reply


class _CountingSMTP(SMTP):
    def connection_made(self, transport):
        # Called again with the TLS transport after STARTTLS: count connections once.
        if getattr(self, "_original_transport", None) is None:
            self._counted_peer = transport.get_extra_info("peername")
            self._sink_ref._connection(self._counted_peer)
        super().connection_made(transport)

    def connection_lost(self, exc):
        peer, self._counted_peer = getattr(self, "_counted_peer", None), None
        if peer is not None:
            self._sink_ref._disconnected(peer)
        super().connection_lost(exc)


class _SinkController(Controller):
    def __init__(self, sink, **kw):
        self._sink = sink
        super().__init__(_Handler(sink), **kw)

    def factory(self):
        s = _CountingSMTP(self.handler, **self.SMTP_kwargs)
        s._sink_ref = self._sink
        return s


def server_tls_context():
    cert, key = hatotest._make_cert()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return ctx


class SmtpSink:
    """An SMTP server that records what it is sent and answers as told.

    starttls: offer STARTTLS; implicit_tls: TLS from the first byte;
    users: {login: password} for AUTH PLAIN/LOGIN (offered under TLS only);
    require_auth: 530 for MAIL before AUTH (aiosmtpd's auth_required);
    require_tls: 530 for anything but EHLO/STARTTLS/QUIT before STARTTLS.
    """

    def __init__(self, port=None, host="127.0.0.1", starttls=False, implicit_tls=False,
                 users=None, require_auth=False, require_tls=False, pipelining=True,
                 tls_context=None):
        self.host = host
        self.port = port or free_port()
        self.starttls = starttls
        self.implicit_tls = implicit_tls
        self.users = dict(users or {})
        self.require_auth = require_auth
        self.require_tls = require_tls
        self.pipelining = pipelining
        self.tls_context = tls_context  # None: the run's self-signed localhost certificate
        self.messages = []      # SinkMessage, in arrival order
        self.events = []        # (monotonic time, "connect"|"mail"|"rcpt"|"data", arg, reply)
        self.auth_failures = 0
        self.open_from = {}     # peer IP -> connections open now
        self.most_open_from = {}  # peer IP -> the most ever open at once
        self._rules = {}        # ("rcpt", addr) / ("data", None) / ("mail", None) -> [_Rule]
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._controller = None

    # -- behaviour -----------------------------------------------------------
    def reply_rcpt(self, address, reply, times=None):
        """Answer RCPT TO:<address> with `reply` (the next `times` times, or always)."""
        with self._lock:
            self._rules.setdefault(("rcpt", address.lower()), []).append(_Rule(reply, times))

    def reply_data(self, reply, times=None):
        """Answer the end of DATA with `reply` (the next `times` times, or always)."""
        with self._lock:
            self._rules.setdefault(("data", None), []).append(_Rule(reply, times))

    def reply_mail(self, reply, times=None):
        with self._lock:
            self._rules.setdefault(("mail", None), []).append(_Rule(reply, times))

    def clear_rules(self):
        with self._lock:
            self._rules.clear()

    def _take(self, kind, arg):
        with self._lock:
            for rule in self._rules.get((kind, arg.lower() if arg else None), []):
                r = rule.take()
                if r is not None:
                    return r
        return None

    def _note(self, kind, arg, reply):
        with self._cond:
            self.events.append((time.monotonic(), kind, arg, reply))
            self._cond.notify_all()

    def _connection(self, peer):
        with self._lock:
            n = self.open_from[peer[0]] = self.open_from.get(peer[0], 0) + 1
            self.most_open_from[peer[0]] = max(n, self.most_open_from.get(peer[0], 0))
        self._note("connect", peer, None)

    def _disconnected(self, peer):
        with self._lock:
            self.open_from[peer[0]] -= 1

    def _record(self, msg):
        with self._cond:
            self.messages.append(msg)
            self._cond.notify_all()

    def _authenticate(self, server, session, envelope, mechanism, auth_data):
        login = getattr(auth_data, "login", b"")
        password = getattr(auth_data, "password", b"")
        login = login.decode() if isinstance(login, bytes) else str(login)
        password = password.decode() if isinstance(password, bytes) else str(password)
        ok = self.users.get(login) == password
        with self._cond:
            if not ok:
                self.auth_failures += 1
            self.events.append((time.monotonic(), "auth", login, "235" if ok else "535"))
            self._cond.notify_all()
        return AuthResult(success=ok, handled=False, auth_data=auth_data)

    # -- process -------------------------------------------------------------
    def start(self):
        assert self._controller is None, "sink already running"
        kw = dict(hostname=self.host, port=self.port, server_hostname=SINK_HOSTNAME,
                  ident="sink", enable_SMTPUTF8=True, data_size_limit=None)
        if self.implicit_tls:
            kw["ssl_context"] = self.tls_context or server_tls_context()
        if self.starttls:
            kw["tls_context"] = self.tls_context or server_tls_context()
            kw["require_starttls"] = self.require_tls
        if self.users:
            kw["authenticator"] = self._authenticate
            kw["auth_required"] = self.require_auth
            # aiosmtpd only knows TLS it started itself (STARTTLS); under implicit TLS
            # the connection is encrypted from the start.
            kw["auth_require_tls"] = not self.implicit_tls
        c = _SinkController(self, **kw)
        t0 = time.monotonic()
        c.start()
        self._controller = c
        # Controller.start() makes a connection of its own to check the server is up:
        # not one of Hato's.
        with self._lock:
            self.events = [e for e in self.events if e[1] != "connect" or e[0] < t0]
        return self

    def stop(self):
        c, self._controller = self._controller, None
        if c is not None:
            c.stop()

    @property
    def running(self):
        return self._controller is not None

    # -- what arrived --------------------------------------------------------
    def snapshot(self):
        with self._lock:
            return list(self.messages)

    def wait_messages(self, n, timeout=30.0, pred=None):
        """Waits until at least n accepted messages (matching pred) are here; returns them."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                got = [m for m in self.messages if pred is None or pred(m)]
                if len(got) >= n:
                    return got
                left = deadline - time.monotonic()
                if left <= 0:
                    return got
                self._cond.wait(min(left, 0.2))

    def rcpt_events(self, address=None):
        with self._lock:
            return [e for e in self.events
                    if e[1] == "rcpt" and (address is None or e[2].lower() == address.lower())]

    def connections(self):
        with self._lock:
            return [e for e in self.events if e[1] == "connect"]

    def bounces(self):
        """Messages with the null sender."""
        return [m for m in self.snapshot() if m.mail_from == ""]


# ---------------------------------------------------------------------------
# DNS


def dns_query_packet(name, qtype, qid=0x1234):
    """A DNS query (RD set) for name/qtype ("MX", "A", ...): stdlib only."""
    types = {"A": 1, "MX": 15, "AAAA": 28, "TXT": 16}
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\0" + struct.pack(">HH", types[qtype], 1)


def dns_rcode(packet):
    return struct.unpack(">H", packet[2:4])[0] & 0xF


class Dnsmasq:
    """dnsmasq answering for .test names from the records given, on a free port.

    mx: {domain: [(preference, host), ...]}; hosts: {name: "127.0.0.1"} (A/AAAA);
    null_mx: domains with the RFC 7505 null MX ("MX 0 .").
    Any other name under .test is NXDOMAIN; names elsewhere are REFUSED.
    Every query is logged; queries() lists them as (type, name).
    """

    def __init__(self, mx=None, hosts=None, null_mx=(), extra_args=()):
        self.mx = dict(mx or {})
        self.hosts = dict(hosts or {})
        self.null_mx = list(null_mx)
        self.extra_args = list(extra_args)
        self.dir = tempfile.mkdtemp(prefix="hato-it-dns-")
        self.log_path = os.path.join(self.dir, "dnsmasq.log")
        self.port = None
        self.proc = None

    def args(self):
        a = [DNSMASQ, "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv",
             "--no-hosts", "--no-poll", f"--port={self.port}", "--listen-address=127.0.0.1",
             "--bind-interfaces", "--pid-file", "--log-queries",
             f"--log-facility={self.log_path}", "--local=/test/", "--cache-size=0"]
        if os.geteuid() == 0:
            a.append("--user=root")  # keep writing the log in our 0700 temp dir
        for domain, records in self.mx.items():
            for pref, host in records:
                a.append(f"--mx-host={domain},{host},{pref}")
        for name, addr in self.hosts.items():
            a.append(f"--host-record={name},{addr}")
        for domain in self.null_mx:
            # MX RDATA: preference 0 (2 octets) and the root name (one zero octet).
            a.append(f"--dns-rr={domain},15,000000")
        return a + self.extra_args

    def start(self, timeout=10.0):
        if not os.access(DNSMASQ, os.X_OK):
            raise RuntimeError(f"{DNSMASQ} missing (apt-get install dnsmasq-base)")
        last = ""
        for _ in range(5):  # the port may be taken between choosing and binding it
            self.port = free_port(socket.SOCK_DGRAM, also=socket.SOCK_STREAM)
            last = self._spawn(timeout)
            if last is None:
                return self
        raise RuntimeError(f"dnsmasq did not start: {last}")

    def restart(self, timeout=10.0):
        """Stops and starts again on the same port, with the records and extra_args as they
        are now (dnsmasq reads its command line only at start; SIGHUP would not do)."""
        self.stop()
        last = self._spawn(timeout)
        if last is not None:
            raise RuntimeError(f"dnsmasq did not restart on port {self.port}: {last}")
        return self

    def _spawn(self, timeout):
        """Runs dnsmasq on self.port; None once it answers, else what it said as it died."""
        self.proc = subprocess.Popen(self.args(), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return self.proc.stdout.read().decode(errors="replace")
            if self._answers():
                return None
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"dnsmasq did not answer on port {self.port}")

    def _answers(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(0.2)
        try:
            s.sendto(dns_query_packet("probe.test", "A"), ("127.0.0.1", self.port))
            s.recv(512)
            return True
        except OSError:
            return False
        finally:
            s.close()

    def queries(self):
        """[(type, name)] of the queries dnsmasq saw so far."""
        out = []
        try:
            with open(self.log_path, errors="replace") as f:
                for line in f:
                    i = line.find("query[")
                    if i >= 0:
                        rest = line[i + 6:]
                        qtype, _, tail = rest.partition("]")
                        out.append((qtype, tail.split()[0].lower() if tail.split() else ""))
        except OSError:
            pass
        return out

    def stop(self):
        stop_process(self.proc)
        self.proc = None

    def cleanup(self):
        self.stop()
        remove_dir(self.dir)


class FakeDns:
    """A DNS server that fails: "servfail" answers every query with RCODE 2;
    "dead" is a bound UDP socket that never answers. Counts the queries it got."""

    def __init__(self, mode):
        assert mode in ("servfail", "dead")
        self.mode = mode
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.queries = 0
        self._stop = threading.Event()
        self._thread = None

    def start(self):
        self.sock.settimeout(0.1)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.is_set():
            try:
                pkt, addr = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            self.queries += 1
            if self.mode == "dead" or len(pkt) < 12:
                continue
            qid, flags, qd = struct.unpack(">HHH", pkt[:6])
            # Echo the question; QR, opcode and RD from the query, RA, RCODE 2.
            end = 12
            for _ in range(qd):
                while end < len(pkt) and pkt[end] != 0:
                    end += pkt[end] + 1
                end += 5
            resp = struct.pack(">HHHHHH", qid, 0x8000 | (flags & 0x7900) | 0x0080 | 2, qd,
                               0, 0, 0) + pkt[12:end]
            try:
                self.sock.sendto(resp, addr)
            except OSError:
                pass

    def stop(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2)
        self.sock.close()


# ---------------------------------------------------------------------------
# A certificate authority of the test's own, and an HTTPS server


class TestCa:
    """A CA made with openssl in a temp dir; issues server certificates for given names.

    ca.cert is the CA certificate (PEM) to tell Hato to trust (delivery.ca_file).
    """

    def __init__(self, name="Hato Test CA"):
        self.dir = tempfile.mkdtemp(prefix="hato-it-ca-")
        self.cert = os.path.join(self.dir, "ca.pem")
        self.key = os.path.join(self.dir, "ca.key")
        self._serial = 0
        self._run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                   "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj", f"/CN={name}",
                   "-addext", "basicConstraints=critical,CA:TRUE",
                   "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                   "-keyout", self.key, "-out", self.cert])

    def _run(self, args):
        subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       timeout=60, cwd=self.dir)

    def issue(self, *names):
        """(cert.pem, key.pem) for the DNS names (or IPv4 addresses) given, signed by this CA."""
        self._serial += 1
        base = os.path.join(self.dir, f"server{self._serial}")
        key, csr, cert, ext = base + ".key", base + ".csr", base + ".pem", base + ".ext"
        with open(ext, "w") as f:
            f.write("basicConstraints=CA:FALSE\n"
                    "keyUsage=digitalSignature,keyEncipherment\n"
                    "extendedKeyUsage=serverAuth\n"
                    "subjectAltName=" + ",".join(
                        f"IP:{n}" if n[0].isdigit() else f"DNS:{n}" for n in names) + "\n")
        self._run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt",
                   "ec_paramgen_curve:P-256", "-nodes", "-subj", f"/CN={names[0]}",
                   "-keyout", key, "-out", csr])
        self._run(["openssl", "x509", "-req", "-in", csr, "-CA", self.cert, "-CAkey", self.key,
                   "-set_serial", str(1000 + self._serial), "-days", "1", "-extfile", ext,
                   "-out", cert])
        return cert, key

    def server_context(self, *names):
        cert, key = self.issue(*names)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        return ctx

    def cleanup(self):
        if not os.environ.get("HATO_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)


class HttpsServer:
    """http.server over TLS on 127.0.0.1 (a free port): serves `routes`, a dict of
    path -> (status, content type, body bytes), or (status, {headers}, body bytes).
    Records each request as (method, path, headers, body) in .requests."""

    def __init__(self, tls_context, routes=None):
        import http.server

        self.routes = dict(routes or {})
        self.requests = []
        self._lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _answer(self, method):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with outer._lock:
                    outer.requests.append((method, self.path, dict(self.headers), body))
                    route = outer.routes.get(self.path)
                if route is None:
                    route = (404, "text/plain", b"not found\n")
                status, headers, payload = route
                if isinstance(headers, str):
                    headers = {"Content-Type": headers}
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self):
                self._answer("GET")

            def do_POST(self):
                self._answer("POST")

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.socket = tls_context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self._thread = None

    def start(self):
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def set_route(self, path, status, content_type, body):
        with self._lock:
            self.routes[path] = (status, content_type, body)

    def stop(self):
        if self._thread is not None:
            self.server.shutdown()
            self._thread.join(5)
            self._thread = None
        self.server.server_close()


# ---------------------------------------------------------------------------
# A DNSSEC-validating resolver over a zone signed for the test

UNBOUND = "/usr/sbin/unbound"
LDNS_KEYGEN = "/usr/bin/ldns-keygen"
LDNS_SIGNZONE = "/usr/bin/ldns-signzone"


def tlsa_sha256_spki(cert_pem_path):
    """The association data of a "3 1 1" (or "2 1 1") TLSA record: SHA-256 of the
    certificate's SubjectPublicKeyInfo, in hex (openssl does the DER work)."""
    pub = subprocess.run(["openssl", "x509", "-in", cert_pem_path, "-noout", "-pubkey"],
                         check=True, capture_output=True, timeout=30).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pub,
                         check=True, capture_output=True, timeout=30).stdout
    import hashlib
    return hashlib.sha256(der).hexdigest()


class Unbound:
    """Debian's unbound as a validating resolver on a free loopback port, answering for
    one zone that ldns-signzone signed with keys made here; the zone's DS is unbound's
    trust anchor, so answers from it carry the AD bit and a broken signature is SERVFAIL.

    records: zone file lines relative to the origin ("@ MX 10 mx", "mx A 127.0.0.1",
    "_25._tcp.mx TLSA 3 1 1 ab12..."). SOA and NS are added. unsigned=True serves the
    zone unsigned (no trust anchor for it): answers come without the AD bit.
    """

    def __init__(self, zone, records, unsigned=False):
        self.zone = zone.rstrip(".")
        self.records = list(records)
        self.unsigned = unsigned
        self.dir = tempfile.mkdtemp(prefix="hato-it-unbound-")
        self.log_path = os.path.join(self.dir, "unbound.log")
        self.port = None
        self.proc = None

    def _run(self, args):
        return subprocess.run(args, check=True, capture_output=True, timeout=60,
                              cwd=self.dir).stdout.decode().strip()

    def _zonefile(self):
        z = self.zone + "."
        lines = [f"$ORIGIN {z}", "$TTL 300",
                 f"@ IN SOA ns.{z} hostmaster.{z} 1 3600 600 86400 300",
                 f"@ IN NS ns.{z}", "ns IN A 127.0.0.1"]
        lines += self.records
        path = os.path.join(self.dir, "zone")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        if self.unsigned:
            return path, None
        ksk = self._run([LDNS_KEYGEN, "-a", "ECDSAP256SHA256", "-k", z])
        zsk = self._run([LDNS_KEYGEN, "-a", "ECDSAP256SHA256", z])
        self._run([LDNS_SIGNZONE, path, zsk, ksk])
        return path + ".signed", os.path.join(self.dir, ksk + ".ds")

    def start(self, timeout=10.0):
        for tool in (UNBOUND, LDNS_KEYGEN, LDNS_SIGNZONE):
            if not os.access(tool, os.X_OK):
                raise RuntimeError(f"{tool} missing (apt-get install unbound ldnsutils)")
        zonefile, anchor = self._zonefile()
        last = ""
        for _ in range(5):  # the port may be taken between choosing and binding it
            self.port = free_port(socket.SOCK_DGRAM, also=socket.SOCK_STREAM)
            conf = os.path.join(self.dir, "unbound.conf")
            with open(conf, "w") as f:
                f.write("server:\n"
                        "  interface: 127.0.0.1\n"
                        f"  port: {self.port}\n"
                        "  do-ip6: no\n"
                        "  do-daemonize: no\n"
                        "  username: \"\"\n"
                        "  chroot: \"\"\n"
                        f"  directory: \"{self.dir}\"\n"
                        "  pidfile: \"\"\n"
                        "  use-syslog: no\n"
                        f"  logfile: \"{self.log_path}\"\n"
                        "  verbosity: 1\n"
                        "  val-log-level: 2\n"
                        # .test is one of unbound's default local zones (RFC 6761).
                        "  local-zone: \"test.\" nodefault\n"
                        "  access-control: 127.0.0.0/8 allow\n"
                        "  module-config: \"validator iterator\"\n"
                        + (f"  trust-anchor-file: \"{anchor}\"\n" if anchor else "")
                        + "auth-zone:\n"
                        f"  name: \"{self.zone}.\"\n"
                        f"  zonefile: \"{zonefile}\"\n"
                        # Used as if it came from upstream, so the validator checks it.
                        "  for-upstream: yes\n"
                        "  for-downstream: no\n"
                        "  fallback-enabled: no\n"
                        "remote-control:\n"
                        "  control-enable: no\n")
            self.proc = subprocess.Popen([UNBOUND, "-d", "-c", conf], stdin=subprocess.DEVNULL,
                                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    last = self.proc.stdout.read().decode(errors="replace") + self._log()
                    break
                if self._answers():
                    return self
                time.sleep(0.05)
            else:
                self.stop()
                raise RuntimeError(f"unbound did not answer on port {self.port}: {self._log()}")
        raise RuntimeError(f"unbound did not start: {last}")

    def _log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()[-3000:]
        except OSError:
            return ""

    def _answers(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(0.2)
        try:
            s.sendto(dns_query_packet(f"ns.{self.zone}", "A"), ("127.0.0.1", self.port))
            return dns_rcode(s.recv(4096)) == 0
        except OSError:
            return False
        finally:
            s.close()

    def stop(self):
        stop_process(self.proc)
        self.proc = None

    def cleanup(self):
        self.stop()
        remove_dir(self.dir)


# ---------------------------------------------------------------------------
# ACME test CA

PEBBLE = "/usr/bin/pebble"


class Pebble:
    """Let's Encrypt's test CA (Debian's pebble) on free loopback ports.

    http_port: where pebble's validator sends HTTP-01 requests (Hato's challenge listener);
    tls_port: where it connects for TLS-ALPN-01; dns_port: the dnsmasq that maps the names ordered to 127.0.0.1; validity: certificate
    lifetime in seconds (pebble's certificateValidityPeriod), short to force renewals.
    pebble serves its API over HTTPS with a certificate from `ca` (a TestCa) for 127.0.0.1;
    root_pem() is the root that signs the certificates it issues (new on every start).
    """

    def __init__(self, ca, http_port, dns_port, validity=None, tls_port=None):
        self.dir = tempfile.mkdtemp(prefix="hato-it-pebble-")
        self.log_path = os.path.join(self.dir, "pebble.log")
        self.ca = ca
        self.port = free_port()
        self.management_port = free_port()
        cert, key = ca.issue("localhost", "127.0.0.1")
        config = {"pebble": {
            "listenAddress": f"127.0.0.1:{self.port}",
            "managementListenAddress": f"127.0.0.1:{self.management_port}",
            "certificate": cert, "privateKey": key,
            "httpPort": http_port, "tlsPort": tls_port or free_port(),
            "ocspResponderURL": "", "externalAccountBindingRequired": False}}
        if validity:
            config["pebble"]["certificateValidityPeriod"] = validity
        self.config = os.path.join(self.dir, "pebble.json")
        with open(self.config, "w") as f:
            json.dump(config, f)
        self.dns_port = dns_port
        self.proc = None

    @property
    def directory(self):
        return f"https://127.0.0.1:{self.port}/dir"

    def start(self, timeout=20.0):
        if not os.access(PEBBLE, os.X_OK):
            raise RuntimeError(f"{PEBBLE} missing (apt-get install pebble)")
        env = dict(os.environ, PEBBLE_VA_NOSLEEP="1", PEBBLE_WFE_NONCEREJECT="0",
                   PEBBLE_AUTHZREUSE="0")
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [PEBBLE, "-config", self.config, "-dnsserver", f"127.0.0.1:{self.dns_port}"],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT, env=env,
            cwd=self.dir)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("pebble exited:\n" + self.log_text())
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                socket.create_connection(("127.0.0.1", self.management_port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("pebble did not listen:\n" + self.log_text())

    def root_pem(self):
        ctx = ssl.create_default_context(cafile=self.ca.cert)
        url = f"https://127.0.0.1:{self.management_port}/roots/0"
        with urllib.request.urlopen(url, context=ctx, timeout=10) as r:
            return r.read()

    def log_text(self):
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self._log.close()
        self.proc = None

    def cleanup(self):
        self.stop()
        if not os.environ.get("HATO_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)
