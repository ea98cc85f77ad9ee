"""Inbound MX, the rest of issue 6, with real parts: ClamAV's clamd and rspamd as content
scanners at the end of DATA, Dovecot's LMTP as a per-domain local transport (read back
through IMAP), and the per-client limits of an inbound listener, driven by smtplib.

- ScannerTest: Debian's clamd (its own clamd.conf: TCPSocket on a free loopback port,
  Foreground, a database dir holding only a body signature made here) and Debian's rspamd
  (a minimal config in a temp dir; GTUBE gives reject, a Lua rule scoring 7 gives
  "add header"), and a Hato MX asking both. Also scanners that are down: 451, or delivery
  with on_failure: accept.
- LmtpTest: Dovecot with LMTP (dovecot-lmtpd) and IMAP; example.test delivered over LMTP.
  An LMTP server that is down defers the mail, which arrives once it is up.
- ClientLimitsTest: messages per client address (450 4.7.0), the slow-down on repeated
  errors (delayed replies, then 421 for the address, also in its next session),
  connections per client address.

Needs clamav-daemon, rspamd, dovecot-imapd, dovecot-lmtpd, dnsmasq-base, python3-aiosmtpd.
"""

import email
import email.policy
import imaplib
import os
import shutil
import smtplib
import socket
import struct
import subprocess
import tempfile
import unittest
import uuid

import hatotest
from hatotest import Daemon, RawSMTP, wait_for
from test_inbound import DOVECOT, Dovecot, dot_stuff, message_in

try:
    from sinks import Dnsmasq, free_port, remove_dir, stop_process
    MISSING = None
except ImportError as e:
    MISSING = f"{e} (apt-get install python3-aiosmtpd)"

CLAMD = "/usr/sbin/clamd"
RSPAMD = "/usr/bin/rspamd"
DOMAIN = "example.test"
HELO = "client.test"
VIRUS_TOKEN = "HATO-TEST-VIRUS-7f3a"      # the test signature matches these bytes
SPAMMY_TOKEN = "hato-test-spammy"         # the test Lua rule scores 7 for these
GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
# SPF passes for the test client, so SPF and DMARC never refuse the test mail.
# quarantine.test fails SPF and DMARC asks for quarantine: the Junk folder.
TXT = {"pass.test": "v=spf1 ip4:127.0.0.0/8 -all", "_dmarc.pass.test": "v=DMARC1; p=none",
       "quarantine.test": "v=spf1 -all", "_dmarc.quarantine.test": "v=DMARC1; p=quarantine"}
SENDER = "someone@pass.test"


def message(subject, body="Hello.", extra_headers="", sender=SENDER):
    return (f"{extra_headers}From: <{sender}>\r\nTo: <support@{DOMAIN}>\r\n"
            f"Subject: {subject}\r\nMessage-ID: <{uuid.uuid4().hex}@client.test>\r\n"
            f"\r\n{body}\r\n").encode()


def send(port, rcpts, data, sender=SENDER):
    """One transaction; the replies to MAIL, each RCPT and the end of DATA (or None)."""
    with RawSMTP(port) as c:
        c.greeting()
        c.ehlo(HELO)
        mail = c.cmd(f"MAIL FROM:<{sender}>")
        rcpt = [c.cmd(f"RCPT TO:<{r}>") for r in rcpts]
        final = None
        if mail.code == 250 and any(r.code == 250 for r in rcpt):
            r = c.cmd("DATA")
            assert r.code == 354, r
            c.send(dot_stuff(data) + b".\r\n")
            final = c.reply()
        c.cmd("QUIT")
        return mail, rcpt, final


def wait_port(port, proc, timeout):
    def up():
        if proc.poll() is not None:
            return True
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return False
    return wait_for(up, timeout=timeout, interval=0.1) and proc.poll() is None


def closed_port():
    """A loopback port nobody listens on (a scanner or LMTP server that is down)."""
    return free_port()


class Clamd:
    """Debian's clamd on a free loopback port with one custom body signature."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="hato-it-clamd-")
        self.port = free_port()
        self.proc = None

    def __enter__(self):
        db = os.path.join(self.dir, "db")
        os.makedirs(db)
        with open(os.path.join(db, "hato.ndb"), "w") as f:
            # name:target type (0 = any):offset (* = anywhere):hex bytes
            f.write(f"Hato.Test.Virus:0:*:{VIRUS_TOKEN.encode().hex()}\n")
        conf = os.path.join(self.dir, "clamd.conf")
        with open(conf, "w") as f:
            f.write(f"Foreground yes\nTCPSocket {self.port}\nTCPAddr 127.0.0.1\n"
                    f"DatabaseDirectory {db}\nLogFile {self.dir}/clamd.log\n"
                    f"PidFile {self.dir}/clamd.pid\nTemporaryDirectory {self.dir}\n")
        self.proc = subprocess.Popen([CLAMD, "-c", conf], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if not wait_port(self.port, self.proc, 60):
            raise AssertionError("clamd did not start: " + self.stop())
        return self

    def scan(self, data):
        """INSTREAM from the test itself: shows the signature works before Hato is judged."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as s:
            s.sendall(b"zINSTREAM\0" + struct.pack(">I", len(data)) + data + b"\0\0\0\0")
            out = b""
            while not out.endswith(b"\0"):
                chunk = s.recv(4096)
                if not chunk:
                    break
                out += chunk
        return out.rstrip(b"\0").decode()

    def stop(self):
        out = stop_process(self.proc, timeout=10, output=True)
        self.proc = None
        return out

    def __exit__(self, *exc):
        self.stop()
        remove_dir(self.dir)


class Rspamd:
    """Debian's rspamd with a minimal configuration of its own: one normal worker on a free
    loopback port, actions reject 15 / add_header 6 / greylist 5.5, a Lua rule scoring 7
    for SPAMMY_TOKEN. GTUBE is built into rspamd (reject)."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="hato-it-rspamd-")
        self.port = free_port()
        self.proc = None

    def __enter__(self):
        lua = os.path.join(self.dir, "hato_test.lua")
        with open(lua, "w") as f:
            f.write(f"""rspamd_config:register_symbol{{
  name = 'HATO_TEST_SPAMMY',
  score = 7.0,
  callback = function(task)
    for _, p in ipairs(task:get_text_parts() or {{}}) do
      local c = p:get_content()
      if c and tostring(c):find('{SPAMMY_TOKEN.replace("-", "%-")}') then return true end
    end
    return false
  end
}}
""")
        conf = os.path.join(self.dir, "rspamd.conf")
        with open(conf, "w") as f:
            f.write(f"""options {{
  pidfile = "{self.dir}/rspamd.pid";
  dns {{ nameserver = ["127.0.0.1:{closed_port()}"]; timeout = 1s; retransmits = 1; }}
}}
logging {{ type = "file"; filename = "{self.dir}/rspamd.log"; level = "info"; }}
actions {{ reject = 15; add_header = 6; greylist = 5.5; }}
lua = "{lua}";
worker "normal" {{ bind_socket = "127.0.0.1:{self.port}"; count = 1; }}
""")
        args = [RSPAMD, "-f", "-c", conf, f"--var=DBDIR={self.dir}", f"--var=RUNDIR={self.dir}",
                f"--var=LOGDIR={self.dir}"]
        if os.getuid() == 0:
            args.append("-i")  # rspamd refuses root without it
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, cwd=self.dir)
        if not wait_port(self.port, self.proc, 60):
            raise AssertionError("rspamd did not start: " + self.stop() + self.log())
        return self

    def log(self):
        try:
            with open(os.path.join(self.dir, "rspamd.log"), errors="replace") as f:
                return f.read()[-3000:]
        except OSError:
            return ""

    def stop(self):
        out = stop_process(self.proc, timeout=15, output=True)[-3000:]
        self.proc = None
        return out

    def __exit__(self, *exc):
        self.stop()
        remove_dir(self.dir)


def scanners_yaml(clamd_port, rspamd_port, on_failure="tempfail"):
    return ("inbound:\n"
            "  scanners:\n"
            f"    clamav: {{address: \"127.0.0.1:{clamd_port}\", timeout: 20s,"
            f" on_failure: {on_failure}}}\n"
            f"    rspamd: {{url: \"http://127.0.0.1:{rspamd_port}\", timeout: 20s,"
            f" on_failure: {on_failure}}}\n")


class MxMixin:
    """An inbound Hato for example.test (mailbox support) with dnsmasq for SPF."""

    @classmethod
    def start_dns(cls):
        cls.dns = Dnsmasq(extra_args=[f"--txt-record={k},{v}" for k, v in TXT.items()]).start()

    @classmethod
    def make_mx(cls, extra_yaml="", domain_extra=None, limits=None):
        d = Daemon(listeners=[{"name": "mx", "role": "inbound", "tls": "none"}],
                   limits=dict({"max_errors": 100}, **(limits or {})),
                   domains=[{"name": DOMAIN, "mailboxes": ["support"]}],
                   extra_yaml=f"dns:\n  servers: [\"127.0.0.1:{cls.dns.port}\"]\n" + extra_yaml)
        if domain_extra:
            with open(d.config) as f:
                text = f.read()
            text = text.replace(f"  - name: {DOMAIN}\n",
                                f"  - name: {DOMAIN}\n    {domain_extra}\n")
            with open(d.config, "w") as f:
                f.write(text)
        return d

    def maildir_find(self, daemon, token, folder=""):
        base = os.path.join(daemon.data_dir, "mail", DOMAIN, "support")
        new = os.path.join(base, "." + folder if folder else "", "new")
        return wait_for(lambda: message_in(new, token), timeout=15, interval=0.1)


class ScannerTest(MxMixin, unittest.TestCase):
    dns = clamd = rspamd = mx = None

    @classmethod
    def setUpClass(cls):
        cls._setup_error = MISSING
        for path, pkg in ((CLAMD, "clamav-daemon"), (RSPAMD, "rspamd")):
            if not cls._setup_error and not os.access(path, os.X_OK):
                cls._setup_error = f"{path} missing (apt-get install {pkg})"
        if cls._setup_error:
            return
        try:
            cls.start_dns()
            cls.clamd = Clamd().__enter__()
            cls.rspamd = Rspamd().__enter__()
            cls.mx = cls.make_mx(scanners_yaml(cls.clamd.port, cls.rspamd.port)).start()
        except Exception:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for attr in ("mx",):
            d = getattr(cls, attr)
            if d is not None:
                try:
                    d.stop(check=True)
                finally:
                    d.cleanup()
                setattr(cls, attr, None)
        for attr in ("clamd", "rspamd"):
            if getattr(cls, attr) is not None:
                getattr(cls, attr).__exit__(None, None, None)
                setattr(cls, attr, None)
        if cls.dns is not None:
            cls.dns.cleanup()
            cls.dns = None

    def setUp(self):
        if self._setup_error:
            self.fail(f"test prerequisite missing: {self._setup_error}")
        self._daemons = [self.mx]

    def tearDown(self):
        for d in self._daemons:
            d.assert_alive()

    def deliver(self, daemon, data):
        mail, rcpt, final = send(daemon.port("mx"), [f"support@{DOMAIN}"], data)
        self.assertEqual((mail.code, rcpt[0].code), (250, 250), (mail, rcpt))
        return final

    def test_clean_mail_is_delivered_with_its_spam_score(self):
        token = "clean-" + uuid.uuid4().hex[:8]
        final = self.deliver(self.mx, message(token))
        self.assertEqual(final.code, 250, final)
        raw = self.maildir_find(self.mx, token)
        self.assertIsNotNone(raw, self.mx.log_tail())
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        self.assertRegex(str(msg["X-Spam-Score"]), r"^\d+\.\d\d / 15\.00$")
        self.assertIsNone(msg["X-Spam"])

    def test_virus_is_refused_naming_it(self):
        body = f"An attachment of sorts: {VIRUS_TOKEN}"
        self.assertIn("Hato.Test.Virus", self.clamd.scan(message("probe", body)))
        token = "virus-" + uuid.uuid4().hex[:8]
        final = self.deliver(self.mx, message(token, body))
        self.assertEqual(final.code, 554, final)
        self.assertTrue(final.lines[-1].startswith("5.7.1"), final)
        self.assertIn("Hato.Test.Virus", str(final))
        self.assertIn("virus found: Hato.Test.Virus", self.mx.log_text())
        self.assertEqual(self.mx.queue_ls(), [])

    def test_gtube_is_rejected(self):
        final = self.deliver(self.mx, message("gtube-" + uuid.uuid4().hex[:8], GTUBE))
        self.assertEqual(final.code, 550, final)
        self.assertTrue(final.lines[-1].startswith("5.7.1"), final)
        self.assertIn("rspamd action reject", self.mx.log_text())

    def test_add_header_action_files_into_junk(self):
        token = "spammy-" + uuid.uuid4().hex[:8]
        final = self.deliver(self.mx, message(token, f"Buy now {SPAMMY_TOKEN}"))
        self.assertEqual(final.code, 250, final)
        raw = self.maildir_find(self.mx, token, folder="Junk")
        self.assertIsNotNone(raw, self.mx.log_tail())
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        self.assertEqual(str(msg["X-Spam"]), "Yes")
        self.assertEqual(str(msg["X-Spam-Score"]), "7.00 / 15.00")

    def test_scanner_down_gives_451_and_the_client_keeps_the_mail(self):
        down = self.make_mx(scanners_yaml(closed_port(), self.rspamd.port)).start()
        try:
            final = self.deliver(down, message("down-" + uuid.uuid4().hex[:8]))
            self.assertEqual(final.code, 451, final)
            self.assertTrue(final.lines[-1].startswith("4.7.1"), final)
            self.assertIn("scanner failed", down.log_text())
            self.assertEqual(down.queue_ls(), [])
            down.assert_alive()
        finally:
            down.stop()
            down.cleanup()

    def test_scanner_down_with_on_failure_accept_delivers(self):
        down = self.make_mx(scanners_yaml(closed_port(), closed_port(), "accept")).start()
        try:
            token = "accept-" + uuid.uuid4().hex[:8]
            final = self.deliver(down, message(token))
            self.assertEqual(final.code, 250, final)
            self.assertIsNotNone(self.maildir_find(down, token), down.log_tail())
            self.assertIn("accepted unscanned", down.log_text())
            down.assert_alive()
        finally:
            down.stop()
            down.cleanup()


class LmtpTest(MxMixin, unittest.TestCase):
    dns = None

    @classmethod
    def setUpClass(cls):
        cls._setup_error = MISSING
        lmtpd = "/usr/lib/dovecot/lmtp"
        if not cls._setup_error and not os.access(DOVECOT, os.X_OK):
            cls._setup_error = f"{DOVECOT} missing (apt-get install dovecot-imapd)"
        if not cls._setup_error and not os.access(lmtpd, os.X_OK):
            cls._setup_error = f"{lmtpd} missing (apt-get install dovecot-lmtpd)"
        if not cls._setup_error:
            cls.start_dns()

    @classmethod
    def tearDownClass(cls):
        if cls.dns is not None:
            cls.dns.cleanup()
            cls.dns = None

    def setUp(self):
        if self._setup_error:
            self.fail(f"test prerequisite missing: {self._setup_error}")
        self._daemons = []
        self.mail_dir = tempfile.mkdtemp(prefix="hato-it-lmtp-mail-")
        os.makedirs(os.path.join(self.mail_dir, "support"))
        self.addCleanup(shutil.rmtree, self.mail_dir, True)

    def tearDown(self):
        for d in self._daemons:
            d.assert_alive()

    def start_mx(self, lmtp_port):
        target = lmtp_port if isinstance(lmtp_port, str) else f"127.0.0.1:{lmtp_port}"
        mx = self.make_mx(domain_extra=f"lmtp: \"{target}\"")
        self._daemons.append(mx)
        self.addCleanup(mx.cleanup)
        self.addCleanup(mx.stop)
        return mx.start()

    def imap_find(self, dovecot, token, folder="INBOX"):
        imap = imaplib.IMAP4("127.0.0.1", dovecot.port, timeout=10)
        try:
            imap.login("support", "imap-secret")
            typ, _ = imap.select(folder, readonly=True)
            self.assertEqual(typ, "OK", dovecot.log())
            typ, ids = imap.search(None, "SUBJECT", token)
            found = ids[0].split()
            if not found:
                return None
            typ, data = imap.fetch(found[0], "(BODY.PEEK[HEADER])")
            return data[0][1].decode()
        finally:
            imap.logout()

    def test_delivered_over_lmtp_and_read_over_imap(self):
        with Dovecot(self.mail_dir, {"support": "imap-secret"}, lmtp=True) as dovecot:
            mx = self.start_mx(dovecot.lmtp_port)
            token = "lmtp-" + uuid.uuid4().hex[:8]
            mail, rcpt, final = send(mx.port("mx"), [f"support@{DOMAIN}"], message(token))
            self.assertEqual(final.code, 250, final)
            header = wait_for(lambda: self.imap_find(dovecot, token), timeout=15, interval=0.2)
            self.assertIsNotNone(header, mx.log_tail() + "\n" + dovecot.log())
            self.assertIn("Received: from " + HELO, header)
            self.assertIn("Authentication-Results: " + hatotest.HOSTNAME, header)
            self.assertIn(f"Return-Path: <{SENDER}>", header)   # written by Dovecot
            self.assertIn("status=delivered", mx.log_text())
            self.assertIn("lmtp[127.0.0.1:", mx.log_text())
            # Hato's Maildir writer was not used.
            self.assertFalse(os.path.exists(os.path.join(mx.data_dir, "mail", DOMAIN)))

    def test_delivered_over_a_unix_socket(self):
        with Dovecot(self.mail_dir, {"support": "imap-secret"}, lmtp=True) as dovecot:
            path = os.path.join(dovecot.dir, "run", "lmtp")  # Dovecot's own LMTP socket
            self.assertTrue(wait_for(lambda: os.path.exists(path), timeout=10), dovecot.log())
            mx = self.start_mx("unix:" + path)
            token = "unix-" + uuid.uuid4().hex[:8]
            mail, rcpt, final = send(mx.port("mx"), [f"support@{DOMAIN}"], message(token))
            self.assertEqual(final.code, 250, final)
            header = wait_for(lambda: self.imap_find(dovecot, token), timeout=15, interval=0.2)
            self.assertIsNotNone(header, mx.log_tail() + "\n" + dovecot.log())
            self.assertIn(f"lmtp[unix:{path}]", mx.log_text())

    def test_quarantine_over_lmtp_lands_in_junk(self):
        with Dovecot(self.mail_dir, {"support": "imap-secret"}, lmtp=True) as dovecot:
            mx = self.start_mx(dovecot.lmtp_port)
            token = "junk-" + uuid.uuid4().hex[:8]
            sender = "someone@quarantine.test"
            mail, rcpt, final = send(mx.port("mx"), [f"support@{DOMAIN}"],
                                     message(token, sender=sender), sender=sender)
            self.assertEqual(final.code, 250, final)
            header = wait_for(lambda: self.imap_find(dovecot, token, "Junk"), timeout=15,
                              interval=0.2)
            self.assertIsNotNone(header, mx.log_tail() + "\n" + dovecot.log())
            self.assertIn("dmarc=fail", header)
            self.assertIsNone(self.imap_find(dovecot, token, "INBOX"))

    def test_lmtp_server_down_defers_then_delivers(self):
        port = closed_port()
        mx = self.start_mx(port)  # nothing listens there yet
        token = "later-" + uuid.uuid4().hex[:8]
        mail, rcpt, final = send(mx.port("mx"), [f"support@{DOMAIN}"], message(token))
        self.assertEqual(final.code, 250, final)
        qid = final.lines[-1].split()[-1]
        deferred = wait_for(
            lambda: any(e["id"] == qid and e["state"] == "deferred" for e in mx.queue_ls()),
            timeout=15, interval=0.2)
        self.assertTrue(deferred, mx.log_tail())
        self.assertIn("4.4.1", mx.queue_show(qid)["last_response"])
        with Dovecot(self.mail_dir, {"support": "imap-secret"}, lmtp=port) as dovecot:
            r = mx.cli("queue", "flush")  # all, and destinations marked down get a new try
            self.assertEqual(r.returncode, 0, r.stderr)
            header = wait_for(lambda: self.imap_find(dovecot, token), timeout=20, interval=0.3)
            self.assertIsNotNone(header, mx.log_tail() + "\n" + dovecot.log())
            self.assertTrue(wait_for(lambda: mx.queue_ls() == [], timeout=10), mx.queue_ls())


class ClientLimitsTest(MxMixin, unittest.TestCase):
    dns = None

    @classmethod
    def setUpClass(cls):
        cls._setup_error = MISSING
        if not MISSING:
            cls.start_dns()

    @classmethod
    def tearDownClass(cls):
        if cls.dns is not None:
            cls.dns.cleanup()
            cls.dns = None

    def setUp(self):
        if self._setup_error:
            self.fail(f"test prerequisite missing: {self._setup_error}")
        self._daemons = []

    def tearDown(self):
        for d in self._daemons:
            d.assert_alive()

    def start_mx(self, limits_yaml):
        mx = self.make_mx("inbound:\n  limits:\n" + limits_yaml)
        self._daemons.append(mx)
        self.addCleanup(mx.cleanup)
        self.addCleanup(mx.stop)
        return mx.start()

    def test_message_rate_per_client_address(self):
        mx = self.start_mx("    messages_per_client: 2/h\n")
        with smtplib.SMTP("127.0.0.1", mx.port("mx"), timeout=10) as c:
            c.ehlo(HELO)
            for i in range(2):
                refused = c.sendmail(SENDER, [f"support@{DOMAIN}"], message(f"rate-{i}"))
                self.assertEqual(refused, {})
            with self.assertRaises(smtplib.SMTPSenderRefused) as cm:
                c.sendmail(SENDER, [f"support@{DOMAIN}"], message("rate-2"))
            self.assertEqual(cm.exception.smtp_code, 450)
            self.assertTrue(cm.exception.smtp_error.startswith(b"4.7.0"), cm.exception)
        # A new connection from the same address does not start afresh.
        with smtplib.SMTP("127.0.0.1", mx.port("mx"), timeout=10) as c:
            c.ehlo(HELO)
            code, text = c.mail(SENDER)
            self.assertEqual(code, 450, text)
        self.assertIn("message rate limit for this client address exceeded", mx.log_text())

    def test_repeated_errors_slow_replies_then_421_for_the_address(self):
        mx = self.start_mx("    error_slowdown: {after: 1, delay: 200ms, max_delay: 400ms,"
                           " disconnect_after: 4}\n")
        with smtplib.SMTP("127.0.0.1", mx.port("mx"), timeout=10) as c:
            c.ehlo(HELO)
            c.mail(SENDER)
            for i in range(3):
                code, _ = c.rcpt(f"nobody{i}@{DOMAIN}")
                self.assertEqual(code, 550)
            # Valid commands are still answered, at once.
            self.assertEqual(c.rcpt(f"support@{DOMAIN}")[0], 250)
        log = mx.log_text()
        self.assertEqual(log.count("slowing down"), 2, mx.log_tail())
        self.assertIn("delay=200ms", log)
        self.assertIn("delay=400ms", log)
        # The fourth error from this address, in a new session: the reply, then 421.
        with smtplib.SMTP("127.0.0.1", mx.port("mx"), timeout=10) as c:
            c.ehlo(HELO)
            c.mail(SENDER)
            code, _ = c.rcpt(f"nobody9@{DOMAIN}")
            self.assertEqual(code, 550)
            code, text = c.getreply()
            self.assertEqual(code, 421, text)
            self.assertIn(b"too many errors from your address", text)
        self.assertIn("too many recent errors from this client address", mx.log_text())

    def test_accepted_mail_wipes_the_error_count(self):
        mx = self.start_mx("    error_slowdown: {after: 1, delay: 100ms, disconnect_after: 2}\n")
        with smtplib.SMTP("127.0.0.1", mx.port("mx"), timeout=10) as c:
            c.ehlo(HELO)
            c.mail(SENDER)
            self.assertEqual(c.rcpt(f"nobody@{DOMAIN}")[0], 550)
            self.assertEqual(c.rcpt(f"support@{DOMAIN}")[0], 250)
            code, _ = c.data(message("wipe"))
            self.assertEqual(code, 250)
            c.mail(SENDER)
            # Without the wipe this would be the second error: 421.
            self.assertEqual(c.rcpt(f"nobody2@{DOMAIN}")[0], 550)
            self.assertEqual(c.noop()[0], 250)

    def test_connections_per_client_address(self):
        mx = self.start_mx("    connections_per_client: 2\n")
        held = [socket.create_connection(("127.0.0.1", mx.port("mx")), timeout=10)
                for _ in range(2)]
        try:
            for s in held:
                self.assertTrue(s.recv(100).startswith(b"220"))
            with socket.create_connection(("127.0.0.1", mx.port("mx")), timeout=10) as s:
                self.assertTrue(s.recv(200).startswith(b"421 4.7.0 Too many connections from "
                                                       b"your address"))
        finally:
            for s in held:
                s.close()
        # Once one goes, a new one is welcome.
        self.assertTrue(wait_for(lambda: self._greeted(mx), timeout=10, interval=0.2))

    @staticmethod
    def _greeted(mx):
        with socket.create_connection(("127.0.0.1", mx.port("mx")), timeout=10) as s:
            return s.recv(100).startswith(b"220")


if __name__ == "__main__":
    unittest.main()
