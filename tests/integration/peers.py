"""Real SMTP peers for test_clients.py: a private Postfix, Exim run from an unpacked
Debian package, nodemailer under node, and a STARTTLS sink that sees the raw wire.

    pf = Postfix(relay_port=hato_port, sasl=("alice", "pw")).start()
    pf.submit("app@sender.test", ["x@remote.test"], msg_bytes)   # into its smtpd
    pf.maillog()
    pf.stop()

    exim = Exim(relay_port=hato_port, user="alice", password="pw")
    exim.send("app@sender.test", "x@remote.test", msg_bytes)   # exim -C ... -odi
    exim.mainlog()

    sink = WireSink().start()           # STARTTLS, AUTH PLAIN (any login), records raw DATA
    sink.wait_messages(1); sink.sessions   # [WireSession(close_notify=True/False/None, ...)]

    run_node(script_text, timeout=120)  # node with NODE_PATH=/usr/share/nodejs

Needs: postfix, libsasl2-modules, nodejs, node-nodemailer, openssl; Exim comes from
`fetch_exim.sh` (apt-get download + dpkg-deb -x, no install: exim4 conflicts with postfix).
"""

import json
import os
import pwd
import select
import shutil
import smtplib
import socket
import ssl
import subprocess
import tempfile
import threading
import time

import hatotest
import sinks

POSTFIX = "/usr/sbin/postfix"
NODE = "/usr/bin/node"
NODE_PATH = "/usr/share/nodejs"
HERE = os.path.dirname(os.path.abspath(__file__))
FETCH_EXIM = os.path.join(HERE, "fetch_exim.sh")
EXIM_DIR = os.environ.get("HATO_EXIM_DIR", "/var/tmp/hato-test-exim")
PEER_TIMEOUT = 60.0


def _wait(pred, timeout, interval=0.1):
    return hatotest.wait_for(pred, timeout=timeout, interval=interval)


def _read(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


# ---------------------------------------------------------------------------
# Postfix


class Postfix:
    """A private Postfix (own config dir, queue and maillog in a temp dir, no chroot):
    its smtpd on a free loopback port takes mail from mynetworks, and everything leaves
    through relayhost [127.0.0.1]:relay_port with STARTTLS (encrypt) and SASL."""

    def __init__(self, relay_port, sasl=None, extra_main=None, transports=None):
        self.dir = tempfile.mkdtemp(prefix="hato-it-postfix-")
        self.etc = os.path.join(self.dir, "etc")
        self.spool = os.path.join(self.dir, "spool")
        self.maillog_path = os.path.join(self.dir, "maillog")
        self.relay_port = relay_port
        self.sasl = sasl
        self.extra_main = dict(extra_main or {})
        self.transports = dict(transports or {})
        self.port = None
        self.started = False

    def _main_cf(self):
        m = {
            "compatibility_level": "3.6",
            "queue_directory": self.spool,
            "data_directory": os.path.join(self.dir, "data"),
            "meta_directory": "/etc/postfix",
            "myhostname": "postfix-client.example.test",
            "mydomain": "example.test",
            "myorigin": "$myhostname",
            "inet_interfaces": "127.0.0.1",
            "inet_protocols": "ipv4",
            "mydestination": "",
            "mynetworks": "127.0.0.0/8",
            "relay_domains": "",
            "alias_maps": "",
            "alias_database": "",
            "local_recipient_maps": "",
            "relayhost": f"[127.0.0.1]:{self.relay_port}",
            "smtp_tls_security_level": "encrypt",
            "smtp_tls_loglevel": "1",
            "smtpd_relay_restrictions": "permit_mynetworks, reject",
            "maillog_file_prefixes": self.dir,
            "maillog_file": self.maillog_path,
            "syslog_name": "postfix-hatotest",
            # A message deferred by Hato is retried only minutes later: the tests
            # look at the first attempt.
            "delay_warning_time": "0h",
        }
        if self.sasl:
            m.update({
                "smtp_sasl_auth_enable": "yes",
                "smtp_sasl_password_maps": f"texthash:{self.etc}/sasl_passwd",
                "smtp_sasl_security_options": "noanonymous",
                "smtp_sasl_tls_security_options": "noanonymous",
                "smtp_sasl_mechanism_filter": "plain",
            })
        if self.transports:
            m["transport_maps"] = f"texthash:{self.etc}/transport"
        m.update(self.extra_main)
        return "".join(f"{k} = {v}\n" for k, v in m.items())

    def start(self):
        if not os.access(POSTFIX, os.X_OK):
            raise RuntimeError(f"{POSTFIX} missing (apt-get install postfix)")
        os.makedirs(self.etc)
        os.makedirs(self.spool)
        os.makedirs(os.path.join(self.dir, "data"))
        shutil.chown(os.path.join(self.dir, "data"), "postfix")
        os.chmod(self.dir, 0o755)  # the postfix user reaches its data dir
        if os.path.exists("/etc/postfix/dynamicmaps.cf"):
            shutil.copy("/etc/postfix/dynamicmaps.cf", self.etc)
        self.port = sinks.free_port()
        # smtpd on our port instead of :25; no chroot (the chroot would be the private
        # spool without the files a chroot needs).
        out = []
        with open("/etc/postfix/master.cf") as f:
            for line in f:
                fields = line.split()
                if line[:1].isalpha() and len(fields) >= 8:
                    if fields[0] == "smtp" and fields[1] == "inet":
                        fields[0] = f"127.0.0.1:{self.port}"
                    if fields[4] == "y":
                        fields[4] = "n"
                    line = " ".join(fields) + "\n"
                out.append(line)
        with open(os.path.join(self.etc, "master.cf"), "w") as f:
            f.writelines(out)
        with open(os.path.join(self.etc, "main.cf"), "w") as f:
            f.write(self._main_cf())
        if self.sasl:
            with open(os.path.join(self.etc, "sasl_passwd"), "w") as f:
                f.write(f"[127.0.0.1]:{self.relay_port} {self.sasl[0]}:{self.sasl[1]}\n")
        if self.transports:
            with open(os.path.join(self.etc, "transport"), "w") as f:
                f.writelines(f"{k} {v}\n" for k, v in self.transports.items())
        for step in ("check", "start"):
            r = subprocess.run([POSTFIX, "-c", self.etc, step], capture_output=True,
                               text=True, timeout=PEER_TIMEOUT)
            if r.returncode != 0:
                raise RuntimeError(f"postfix {step} exited {r.returncode}: {r.stdout}{r.stderr}"
                                   f"\nmaillog:\n{self.maillog()[-2000:]}")
            if step == "start":
                self.started = True
        if not _wait(self._listening, PEER_TIMEOUT):
            raise RuntimeError(f"postfix smtpd not listening on {self.port} within "
                               f"{PEER_TIMEOUT}s\nmaillog:\n{self.maillog()[-2000:]}")
        return self

    def _listening(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2):
                return True
        except OSError:
            return False

    def master_pid(self):
        try:
            with open(os.path.join(self.spool, "pid", "master.pid")) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def stop(self):
        if self.started:
            pid = self.master_pid()
            subprocess.run([POSTFIX, "-c", self.etc, "stop"], capture_output=True,
                           timeout=PEER_TIMEOUT)
            self.started = False
            if pid and not _wait(lambda: not _alive(pid), 30):
                subprocess.run([POSTFIX, "-c", self.etc, "abort"], capture_output=True,
                               timeout=PEER_TIMEOUT)
                _wait(lambda: not _alive(pid), 10)

    def cleanup(self):
        try:
            self.stop()
        finally:
            sinks.remove_dir(self.dir)

    def maillog(self):
        return _read(self.maillog_path)

    def submit(self, sender, rcpts, messages):
        """Hands messages (bytes each) to this Postfix's smtpd in one session."""
        with smtplib.SMTP("127.0.0.1", self.port, timeout=PEER_TIMEOUT) as s:
            s.ehlo("feeder.example.test")
            for data in messages:
                s.sendmail(sender, rcpts, data)

    def queue(self):
        r = subprocess.run(["/usr/sbin/postqueue", "-c", self.etc, "-j"], capture_output=True,
                           text=True, timeout=PEER_TIMEOUT)
        return [json.loads(l) for l in r.stdout.splitlines() if l.strip()]


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is gone for our purposes.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][:1] != "Z"
    except (OSError, IndexError):
        return False


# ---------------------------------------------------------------------------
# Exim, unpacked from Debian's package (it conflicts with postfix, so not installed)


def exim_binary():
    """/usr/sbin/exim4 inside the unpacked tree; fetch_exim.sh unpacks it (and makes the
    Debian-exim user) when missing."""
    path = os.path.join(EXIM_DIR, "root", "usr", "sbin", "exim4")
    try:
        pwd.getpwnam("Debian-exim")
        ready = os.access(path, os.X_OK)
    except KeyError:
        ready = False
    if not ready:
        r = subprocess.run([FETCH_EXIM, EXIM_DIR], capture_output=True, text=True, timeout=600)
        if r.returncode != 0 or not os.access(path, os.X_OK):
            raise RuntimeError(f"{FETCH_EXIM} {EXIM_DIR} exited {r.returncode}:\n"
                               f"{r.stdout}{r.stderr}")
    return path


EXIM_CONF = """\
primary_hostname = exim-client.example.test
# Exim re-executes itself for delivery: this binary, not the compiled-in /usr/sbin/exim4.
exim_path = {binary}
qualify_domain = example.test
spool_directory = {spool}
log_file_path = {log}/%slog
pid_file_path = {spool}/exim.pid
keep_environment =
add_environment = <; PATH=/usr/bin:/bin
trusted_users = root
tls_advertise_hosts =
message_logs = false

begin routers
hato:
  driver = manualroute
  domains = *
  transport = hato_smtp
  route_list = * 127.0.0.1::{port} byname
  self = send

begin transports
hato_smtp:
  driver = smtp
  port = {port}
  hosts_require_tls = *
  hosts_require_auth = *
  tls_verify_certificates =
  tls_try_verify_hosts =
  allow_localhost

begin retry
*   *   F,1m,1m

begin authenticators
plain:
  driver = plaintext
  public_name = PLAIN
  client_send = ^{login}^{password}
"""


class Exim:
    """Exim as a submission client of Hato: one config, spool and log in a temp dir."""

    def __init__(self, relay_port, user, password):
        self.binary = exim_binary()
        self.dir = tempfile.mkdtemp(prefix="hato-it-exim-")
        os.chmod(self.dir, 0o755)
        self.spool = os.path.join(self.dir, "spool")
        self.log = os.path.join(self.dir, "log")
        os.makedirs(self.spool)
        os.makedirs(self.log)
        # Exim writes its spool and log as its compiled-in user (root may not deliver).
        for p in (self.spool, self.log):
            shutil.chown(p, "Debian-exim", "Debian-exim")
        self.conf = os.path.join(self.dir, "exim.conf")
        with open(self.conf, "w") as f:
            f.write(EXIM_CONF.format(binary=self.binary, spool=self.spool, log=self.log,
                                     port=relay_port, login=user, password=password))

    def env(self):
        return {"PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "LANG": "C"}

    def send(self, sender, rcpt, data, timeout=2 * PEER_TIMEOUT):
        """exim -odi: delivered (or not) before the command returns."""
        return subprocess.run([self.binary, "-C", self.conf, "-odi", "-oi", "-f", sender,
                               "--", rcpt], input=data, capture_output=True,
                              timeout=timeout, env=self.env())

    def mainlog(self):
        return _read(os.path.join(self.log, "mainlog"))

    def paniclog(self):
        return _read(os.path.join(self.log, "paniclog"))

    def cleanup(self):
        sinks.remove_dir(self.dir)


# ---------------------------------------------------------------------------
# node


def run_node(script, timeout=180):
    """Runs a JS program with Debian's node modules on the path; returns CompletedProcess."""
    if not os.access(NODE, os.X_OK):
        raise RuntimeError(f"{NODE} missing (apt-get install nodejs)")
    fd, path = tempfile.mkstemp(prefix="hato-it-", suffix=".js")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(script)
        env = dict(os.environ, NODE_PATH=NODE_PATH)
        return subprocess.run([NODE, path], capture_output=True, text=True, timeout=timeout,
                              env=env)
    finally:
        os.unlink(path)


# ---------------------------------------------------------------------------
# A STARTTLS sink that sees the wire


class WireSession:
    def __init__(self, peer):
        self.peer = peer
        self.tls = None              # TLS version after STARTTLS
        self.auth = None
        self.commands = []           # every command line as received
        self.close_notify = None     # after QUIT/221: True (close_notify), False (bare EOF)
        self.close_detail = ""
        self.error = None
        self.closed = False          # the session is over (QUIT, EOF or error)

    def __repr__(self):
        return (f"WireSession(peer={self.peer}, tls={self.tls}, close_notify={self.close_notify}"
                f" {self.close_detail!r}, commands={self.commands[-8:]!r}, error={self.error!r})")


class WireMessage:
    def __init__(self, mail_from, rcpts, wire):
        self.mail_from = mail_from   # "" for <>
        self.rcpt_tos = rcpts
        self.wire = wire             # DATA bytes exactly as sent, up to and including CRLF.CRLF
        body = wire[:-3]             # without the ".\r\n" that ended it
        lines = body.split(b"\r\n")
        self.data = b"\r\n".join(l[1:] if l.startswith(b".") else l for l in lines)

    def __repr__(self):
        return f"WireMessage(from={self.mail_from!r}, to={self.rcpt_tos}, wire={self.wire[:200]!r})"


class WireSink:
    """A small threaded SMTP server: EHLO with STARTTLS and AUTH PLAIN (any login after
    STARTTLS), records DATA exactly as it came over the wire. After QUIT it answers 221
    and reads on: a clean TLS end (close_notify) or a bare TCP EOF is noted per session."""

    def __init__(self):
        self.port = None
        self.sessions = []
        self.messages = []
        self._cond = threading.Condition()
        self._sock = None
        self._threads = []
        self._stopping = False

    def start(self):
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(50)
        self.port = self._sock.getsockname()[1]
        self._ctx = sinks.server_tls_context()
        # Python sets this by default (OpenSSL 3): a bare EOF would read as a clean end.
        self._ctx.options &= ~ssl.OP_IGNORE_UNEXPECTED_EOF
        t = threading.Thread(target=self._accept, daemon=True)
        t.start()
        self._threads.append(t)
        return self

    def stop(self):
        self._stopping = True
        if self._sock:
            self._sock.close()
            self._sock = None

    def _accept(self):
        while not self._stopping:
            try:
                r, _, _ = select.select([self._sock], [], [], 0.2)
                if not r:
                    continue
                conn, peer = self._sock.accept()
            except (OSError, ValueError):
                return
            s = WireSession(peer)
            with self._cond:
                self.sessions.append(s)
            t = threading.Thread(target=self._serve, args=(conn, s), daemon=True)
            t.start()

    def _serve(self, conn, s):
        conn.settimeout(60)
        buf = [b""]
        sock = [conn]

        def readline():
            while b"\r\n" not in buf[0]:
                chunk = sock[0].recv(65536)
                if not chunk:
                    raise EOFError
                buf[0] += chunk
            line, buf[0] = buf[0].split(b"\r\n", 1)
            return line

        def send(text):
            sock[0].sendall(text.encode() + b"\r\n")

        try:
            send("220 wire.sink.test ESMTP")
            mail_from, rcpts = None, []
            while True:
                line = readline()
                s.commands.append(line.decode("utf-8", "replace"))
                verb = line.split(b" ", 1)[0].upper()
                if verb in (b"EHLO", b"HELO"):
                    ext = ["PIPELINING", "8BITMIME", "SMTPUTF8", "SIZE 100000000"]
                    ext.append("AUTH PLAIN" if s.tls else "STARTTLS")
                    send("250-wire.sink.test")
                    for i, e in enumerate(ext):
                        send(("250 " if i == len(ext) - 1 else "250-") + e)
                elif verb == b"STARTTLS" and not s.tls:
                    send("220 2.0.0 go ahead")
                    if buf[0]:
                        raise RuntimeError(f"plaintext after STARTTLS: {buf[0]!r}")
                    sock[0] = self._ctx.wrap_socket(conn, server_side=True,
                                                    suppress_ragged_eofs=False)
                    s.tls = sock[0].version()
                elif verb == b"AUTH":
                    s.auth = line.decode()
                    if len(line.split()) < 3:  # no initial response: ask for it
                        send("334 ")
                        s.commands.append(readline().decode("utf-8", "replace"))
                    send("235 2.7.0 ok")
                elif verb == b"MAIL":
                    arg = line.decode("utf-8", "replace")[10:].split(" ", 1)[0]
                    mail_from, rcpts = arg.strip("<>"), []
                    send("250 2.1.0 ok")
                elif verb == b"RCPT":
                    rcpts.append(line.decode("utf-8", "replace")[8:].split(" ", 1)[0].strip("<>"))
                    send("250 2.1.5 ok")
                elif verb == b"DATA":
                    send("354 go on")
                    wire = b""
                    while True:
                        l = readline() + b"\r\n"
                        wire += l
                        if l == b".\r\n":
                            break
                    with self._cond:
                        self.messages.append(WireMessage(mail_from, rcpts, wire))
                        self._cond.notify_all()
                    send("250 2.0.0 ok: sunk")
                elif verb == b"RSET":
                    mail_from, rcpts = None, []
                    send("250 2.0.0 ok")
                elif verb == b"NOOP":
                    send("250 2.0.0 ok")
                elif verb == b"QUIT":
                    send("221 2.0.0 bye")
                    self._after_quit(sock[0], s)
                    return
                else:
                    send("502 5.5.2 not here")
        except Exception as e:  # noqa: BLE001 - recorded for the test's message
            s.error = f"{type(e).__name__}: {e}"
        finally:
            with self._cond:
                s.closed = True
                self._cond.notify_all()
            try:
                sock[0].close()
            except OSError:
                pass

    def _after_quit(self, sock, s):
        if not isinstance(sock, ssl.SSLSocket):
            s.close_notify = None
            s.close_detail = "no TLS"
            return
        try:
            while True:
                chunk = sock.recv(4096)
                if not chunk:
                    # suppress_ragged_eofs=False: b"" only for a close_notify.
                    s.close_notify = True
                    s.close_detail = "close_notify received"
                    return
        except ssl.SSLZeroReturnError:
            s.close_notify, s.close_detail = True, "close_notify received"
        except ssl.SSLEOFError as e:
            s.close_notify, s.close_detail = False, f"TCP EOF without close_notify ({e})"
        except (ssl.SSLError, OSError) as e:
            s.close_notify, s.close_detail = False, f"{type(e).__name__}: {e}"

    def wait_messages(self, n, timeout=30.0):
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.messages) < n and time.monotonic() < deadline:
                self._cond.wait(0.2)
            return list(self.messages)

    def wait_closed(self, n, timeout=30.0):
        """Waits until n sessions are over; returns them."""
        def done():
            return [x for x in self.sessions if x.closed]
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(done()) < n and time.monotonic() < deadline:
                self._cond.wait(0.2)
            return done()
