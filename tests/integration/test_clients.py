"""Real clients through Hato (issue 28, items 1, 2, 6 and 8).

Every test has its own daemon; mail relayed by Hato goes to a sink through
`delivery.smarthost` (no DNS). The peers are the real programs users run:
nodemailer (a pool of 20), a private Postfix as relay client and null client,
Exim run from Debian's unpacked package, `openssl s_client`, curl, Python's smtplib
and ssl. See peers.py for how each is run.

  1. Parallel logins with the right password are not "too many failed logins".
  2. An authenticated client may send with the null sender <> (its bounces).
  6. Hato ends TLS with close_notify after QUIT, as a server and as a client.
  8. Bare LF on submission is stored as CRLF (Postfix's `normalize`); a lone "." line
     that did not end DATA stays content and is dot-stuffed when sent on;
     listeners[].bare_lf: reject keeps refusing; bare CR is refused everywhere.
"""

import email.utils
import json
import os
import re
import smtplib
import socket
import ssl
import subprocess
import tempfile

import hatotest
from hatotest import RawSMTP, queue_id, wait_for

try:
    import peers
    from sinks import SmtpSink
    MISSING = None
except ImportError as e:  # python3-aiosmtpd not installed
    MISSING = f"{e} (apt-get install python3-aiosmtpd)"

USER, PASSWORD = "alice", "alice-secret-1"
SENDER_DOMAIN = "sender.test"  # a sending-only domain of Hato's: trusted clients may use it
SENDER = "app@" + SENDER_DOMAIN
RCPT = "someone@remote.test"
PEER_TIMEOUT = 180  # a busy 2-core machine: the peers' own timeouts are generous too
RETRY = {"first": "2s", "max_interval": "4s", "max_age": "5m", "delay_warning": "4m"}

LISTENERS = [
    {"name": "submission", "role": "submission", "tls": "starttls"},
    {"name": "submissions", "role": "submission", "tls": "implicit"},
    {"name": "trusted", "role": "submission", "tls": "none",
     "trusted_networks": ["127.0.0.0/8"]},
    {"name": "inbound", "role": "inbound", "tls": "starttls"},
]


def message(subject, mid, sender=SENDER, to=RCPT, body="Hello.\r\n"):
    return (f"From: <{sender}>\r\nTo: <{to}>\r\nSubject: {subject}\r\n"
            f"Message-ID: <{mid}>\r\nDate: {email.utils.formatdate()}\r\n\r\n{body}").encode()


def matching_lines(text, pattern):
    return [l for l in text.splitlines() if re.search(pattern, l)]


class ClientsCase(hatotest.HatoTestCase):
    """No shared daemon: each test makes the daemon and peers it needs."""

    def setUp(self):
        self._daemons = []
        if MISSING:  # fail, not skip
            self.fail(f"test prerequisite missing: {MISSING}")

    def tearDown(self):
        for d in self._daemons:
            d.assert_alive()

    # -- parts -----------------------------------------------------------------
    def relay(self, sink_port, smarthost_tls="none", listeners=None):
        """A daemon with alice, relaying everything to 127.0.0.1:sink_port."""
        y = ["delivery:", "  smarthost:", '    host: "127.0.0.1"', f"    port: {sink_port}",
             f"    tls: {smarthost_tls}", "  retry:"]
        y += [f"    {k}: {json.dumps(v)}" for k, v in RETRY.items()]
        d = hatotest.Daemon(users={USER: PASSWORD}, listeners=listeners or LISTENERS,
                            domains=[{"name": hatotest.DOMAIN, "mailboxes": ["support"]},
                                     {"name": SENDER_DOMAIN}],
                            extra_yaml="\n".join(y) + "\n")
        return self.adopt(d).start()

    def sink(self):
        s = SmtpSink()
        s.start()
        self.addCleanup(s.stop)
        return s

    def wire_sink(self):
        s = peers.WireSink().start()
        self.addCleanup(s.stop)
        return s

    def postfix(self, relay_port, **kw):
        pf = peers.Postfix(relay_port, sasl=(USER, PASSWORD), **kw)
        self.addCleanup(pf.cleanup)
        return pf.start()

    def hato_received(self, d):
        return matching_lines(d.log_text(), r"\breceived\b")


# =================================================================================
# 1. Parallel logins


NODEMAILER_POOL = r"""
const nodemailer = require('nodemailer');
const cfg = %(cfg)s;
const transport = nodemailer.createTransport({
  host: '127.0.0.1', port: cfg.port, secure: false, requireTLS: true,
  auth: {user: cfg.user, pass: cfg.pass},
  pool: true, maxConnections: 20, maxMessages: 1000,
  tls: {rejectUnauthorized: false},
  connectionTimeout: 120000, greetingTimeout: 120000, socketTimeout: 120000,
});
const jobs = [];
for (let i = 0; i < cfg.count; i++) {
  jobs.push(transport.sendMail({
    from: cfg.from, to: cfg.to, subject: 'pool message ' + i,
    messageId: '<pool-' + i + '@nodemailer.client.test>', text: 'Message ' + i + '.\n',
  }).then(info => ({i, ok: true, response: info.response}),
          err => ({i, ok: false, code: err.code || null, responseCode: err.responseCode || null,
                   response: err.response || null, message: String(err.message)})));
}
Promise.all(jobs).then(results => {
  console.log(JSON.stringify(results));
  transport.close();
});
"""


# A 421 reply (not "421" inside a queue ID), or the refusal's words.
REFUSED = r"\b421[ -]|too many failed"


class ParallelLoginTest(ClientsCase):
    COUNT = 60

    def test_nodemailer_pool_of_20_delivers_everything(self):
        sink = self.sink()
        d = self.relay(sink.port)
        cfg = {"port": d.port("submission"), "user": USER, "pass": PASSWORD, "from": SENDER,
               "to": RCPT, "count": self.COUNT}
        r = peers.run_node(NODEMAILER_POOL % {"cfg": json.dumps(cfg)}, timeout=PEER_TIMEOUT)
        self.assertEqual(r.returncode, 0, f"node exited {r.returncode}\n{r.stdout}\n{r.stderr}")
        results = json.loads(r.stdout.strip().splitlines()[-1])
        failed = [x for x in results if not x["ok"]]
        self.assertEqual(failed, [], f"{len(failed)} of {self.COUNT} messages refused by "
                                     f"Hato through a nodemailer pool of 20:\n"
                                     + "\n".join(json.dumps(x) for x in failed[:10]))
        got = sink.wait_messages(self.COUNT, timeout=PEER_TIMEOUT,
                                 pred=lambda m: m.mail_from == SENDER)
        ids = {m.message_id for m in got}
        want = {f"<pool-{i}@nodemailer.client.test>" for i in range(self.COUNT)}
        self.assertEqual(want - ids, set(), f"not at the sink; hato log:\n{d.log_tail()}")
        self.assertNotIn("too many failed logins", d.log_text())

    def test_postfix_relay_client_with_concurrency_20(self):
        sink = self.sink()
        d = self.relay(sink.port)
        pf = self.postfix(d.port("submission"), extra_main={
            "initial_destination_concurrency": "20",
            "default_destination_concurrency_limit": "20",
            "smtp_destination_concurrency_limit": "20",
        })
        msgs = [message(f"postfix relay {i}", f"pf-{i}@postfix.client.test")
                for i in range(self.COUNT)]
        pf.submit(SENDER, [RCPT], msgs)

        def done():
            if matching_lines(pf.maillog(), REFUSED):
                return True  # refusals: no need to wait for the retries
            return len(sink.wait_messages(self.COUNT, timeout=0,
                                          pred=lambda m: m.mail_from == SENDER)) >= self.COUNT
        wait_for(done, timeout=PEER_TIMEOUT, interval=0.5)
        log = pf.maillog()
        refused = matching_lines(log, REFUSED)
        self.assertEqual(refused, [], f"Postfix (concurrency 20) was refused by Hato "
                                      f"({len(refused)} lines):\n" + "\n".join(refused[:10]))
        got = sink.wait_messages(self.COUNT, timeout=0, pred=lambda m: m.mail_from == SENDER)
        ids = {m.message_id for m in got}
        want = {f"<pf-{i}@postfix.client.test>" for i in range(self.COUNT)}
        self.assertEqual(want - ids, set(),
                         "not relayed to the sink\nmaillog tail:\n"
                         + "\n".join(log.splitlines()[-20:]) + "\n" + d.log_tail())
        sent = matching_lines(log, r"relay=127\.0\.0\.1\[127\.0\.0\.1\]:\d+.*status=sent")
        self.assertGreaterEqual(len(sent), self.COUNT, "\n".join(log.splitlines()[-20:]))
        tls = matching_lines(log, r"TLS connection established to 127\.0\.0\.1")
        self.assertTrue(tls, "Postfix used STARTTLS (smtp_tls_security_level = encrypt)")


# =================================================================================
# 2. The null sender


class NullSenderTest(ClientsCase):

    def test_authenticated_null_sender_is_accepted_and_relayed(self):
        sink = self.sink()
        d = self.relay(sink.port)
        with smtplib.SMTP("127.0.0.1", d.port("submission"), timeout=60) as s:
            s.ehlo("client.example.test")
            s.starttls(context=hatotest.client_context())
            s.ehlo("client.example.test")
            s.login(USER, PASSWORD)
            code, text = s.mail("")
            self.assertEqual(code, 250, f"MAIL FROM:<> after AUTH: {code} {text.decode()}")
            code, text = s.rcpt(SENDER)
            self.assertEqual(code, 250, f"RCPT TO:<{SENDER}>: {code} {text.decode()}")
            code, text = s.data(message("null sender", "null-1@client.test",
                                        sender="mailer-daemon@client.test", to=SENDER))
            self.assertEqual(code, 250, f"DATA: {code} {text.decode()}")
        got = sink.wait_messages(1, timeout=60, pred=lambda m: m.mail_from == "")
        self.assertEqual(len(got), 1, "relayed with MAIL FROM:<>\n" + d.log_tail())
        self.assertEqual(got[0].rcpt_tos, [SENDER])

    def test_postfix_null_client_bounce_reaches_its_sender(self):
        """Postfix bounces mail for bounce.test itself (error transport); its DSN to
        app@sender.test leaves through the relayhost, Hato, with MAIL FROM:<>."""
        sink = self.sink()
        d = self.relay(sink.port)
        # smtpd would refuse the recipient at RCPT: accept it, bounce it on delivery.
        pf = self.postfix(d.port("submission"),
                          transports={"bounce.test": "error:5.1.1 mailbox unknown"},
                          extra_main={"smtpd_reject_unlisted_recipient": "no"})
        pf.submit(SENDER, ["nobody@bounce.test"],
                  [message("to be bounced", "bounce-me@client.test", to="nobody@bounce.test")])
        relay_done = r"relay=127\.0\.0\.1\[127\.0\.0\.1\]:\d+.*status=(bounced|deferred)"
        wait_for(lambda: sink.bounces() or re.search(relay_done, pf.maillog()),
                 timeout=PEER_TIMEOUT, interval=0.5)
        log = pf.maillog()
        bounces = [m for m in sink.bounces() if m.rcpt_tos == [SENDER]]
        self.assertEqual(len(bounces), 1, "Postfix's bounce did not get through Hato\n"
                         "maillog:\n" + "\n".join(matching_lines(log, r"status=|said:")))
        dsn = bounces[0].parsed()
        self.assertEqual(dsn.get_content_type(), "multipart/report", bounces[0].data[:500])
        self.assertIn("nobody@bounce.test", bounces[0].data.decode("utf-8", "replace"))
        self.assertIn("MAILER-DAEMON", str(dsn["From"]))


# =================================================================================
# 6. TLS close_notify


S_CLIENT_BAD = re.compile(r"unexpected eof|SSL routines|:error:", re.I)


class CloseNotifyTest(ClientsCase):

    def s_client(self, port, starttls):
        args = ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-crlf", "-ign_eof",
                "-servername", hatotest.HOSTNAME]
        if starttls:
            args += ["-starttls", "smtp"]
        r = subprocess.run(args, input="EHLO client.example.test\nQUIT\n",
                           capture_output=True, text=True, timeout=PEER_TIMEOUT)
        out = r.stdout + r.stderr
        self.assertIn("221", r.stdout, f"no 221 to QUIT:\n{out[-3000:]}")
        bad = [l for l in out.splitlines() if S_CLIENT_BAD.search(l)]
        self.assertEqual(bad, [], f"openssl s_client saw no clean TLS close "
                                  f"(exit {r.returncode}):\n" + "\n".join(bad))
        self.assertEqual(r.returncode, 0, out[-3000:])

    def test_openssl_s_client_starttls_clean_close(self):
        d = self.relay(1)
        self.s_client(d.port("submission"), starttls=True)

    def test_openssl_s_client_implicit_tls_clean_close(self):
        d = self.relay(1)
        self.s_client(d.port("submissions"), starttls=False)

    def test_openssl_s_client_inbound_listener_clean_close(self):
        d = self.relay(1)
        self.s_client(d.port("inbound"), starttls=True)

    def python_close(self, port, implicit):
        """QUIT under TLS, then read: b"" (ragged EOFs not suppressed) means close_notify."""
        ctx = hatotest.client_context()
        # Python sets this by default (OpenSSL 3): a bare EOF would read as a clean end.
        ctx.options &= ~ssl.OP_IGNORE_UNEXPECTED_EOF
        sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        try:
            if not implicit:
                f = sock.makefile("rb")
                self.assertTrue(f.readline().startswith(b"220"))
                sock.sendall(b"EHLO client.example.test\r\n")
                while not f.readline().startswith(b"250 "):
                    pass
                sock.sendall(b"STARTTLS\r\n")
                self.assertTrue(f.readline().startswith(b"220"))
                f.close()
            tls = ctx.wrap_socket(sock, suppress_ragged_eofs=False)
            sock = tls
            buf = b""
            if implicit:
                while b"\r\n" not in buf:
                    buf += tls.recv(4096)
                self.assertTrue(buf.startswith(b"220"), buf)
                buf = b""
            tls.sendall(b"EHLO client.example.test\r\nQUIT\r\n")
            try:
                while True:
                    chunk = tls.recv(4096)
                    if not chunk:
                        break  # close_notify
                    buf += chunk
            except ssl.SSLZeroReturnError:
                pass  # close_notify
            except ssl.SSLError as e:  # UNEXPECTED_EOF_WHILE_READING: a bare TCP close
                self.fail(f"TCP closed without close_notify after {buf[-40:]!r}: {e}")
            self.assertIn(b"\r\n221 ", b"\r\n" + buf, buf)
        finally:
            sock.close()

    def test_python_ssl_sees_close_notify(self):
        d = self.relay(1)
        with self.subTest(listener="submission (STARTTLS)"):
            self.python_close(d.port("submission"), implicit=False)
        with self.subTest(listener="submissions (implicit TLS)"):
            self.python_close(d.port("submissions"), implicit=True)

    def test_exim_client_logs_no_tls_error(self):
        sink = self.sink()
        d = self.relay(sink.port)
        exim = peers.Exim(d.port("submission"), USER, PASSWORD)
        self.addCleanup(exim.cleanup)
        r = exim.send(SENDER, RCPT, message("via exim", "exim-1@exim.client.test"))
        mainlog = exim.mainlog()
        self.assertEqual(r.returncode, 0, f"exim exited {r.returncode}: {r.stderr!r}\n"
                                          f"mainlog:\n{mainlog}\npaniclog:\n{exim.paniclog()}")
        self.assertRegex(mainlog, r"=> " + re.escape(RCPT) + r".*X=TLS",
                         "delivered to Hato under TLS")
        self.assertIn("Completed", mainlog)
        errors = matching_lines(mainlog + exim.paniclog(),
                                r"TLS error|non-properly terminated|unexpected eof|SSL_read")
        self.assertEqual(errors, [], "Exim logged a TLS error for Hato's close:\n"
                                     + "\n".join(errors))
        got = sink.wait_messages(1, timeout=60, pred=lambda m: m.mail_from == SENDER)
        self.assertEqual(len(got), 1, d.log_tail())

    def test_delivery_sends_close_notify(self):
        """Hato as a client: STARTTLS to the smarthost, QUIT, then close_notify."""
        sink = self.wire_sink()
        d = self.relay(sink.port, smarthost_tls="starttls")
        with RawSMTP(d.port("trusted")) as c:
            c.greeting()
            c.ehlo()
            self.assertEqual(c.cmd(f"MAIL FROM:<{SENDER}>").code, 250)
            self.assertEqual(c.cmd(f"RCPT TO:<{RCPT}>").code, 250)
            self.assertEqual(c.cmd("DATA").code, 354)
            c.send(message("close_notify", "cn-1@client.test") + b".\r\n")
            queue_id(c.expect(250).text)
            c.cmd("QUIT")
        got = sink.wait_messages(1, timeout=60)
        self.assertEqual(len(got), 1, d.log_tail())
        # Hato may keep the connection for a while before QUIT: wait for the end.
        closed = sink.wait_closed(1, timeout=PEER_TIMEOUT)
        self.assertTrue(closed, f"Hato never closed its connection: {sink.sessions}")
        s = closed[0]
        self.assertIsNotNone(s.tls, s)
        quit_sent = "QUIT" in s.commands
        self.assertTrue(quit_sent and s.close_notify,
                        f"Hato ended its TLS session {'with' if quit_sent else 'without'} QUIT "
                        f"and {'with' if s.close_notify else 'without'} close_notify "
                        f"({s.close_detail or s.error}): {s}")


# =================================================================================
# 8. Bare LF


# A message as a script writes it: LF only. The lone "." lines are content, and what
# follows the first one looks like a second transaction to a server that takes LF.LF
# as the end of data: it must reach the sink as the text of this one message.
LF_FILE = (
    "From: <{sender}>\n"
    "To: <{rcpt}>\n"
    "Subject: bare LF from curl\n"
    "Message-ID: <lf-1@curl.client.test>\n"
    "\n"
    "first line\n"
    ".\n"
    "MAIL FROM:<smuggled@evil.test>\n"
    "RCPT TO:<victim@remote.test>\n"
    "DATA\n"
    "Subject: smuggled\n"
    "\n"
    "smuggled body\n"
    ".\n"
    "last line\n"
)


class BareLfTest(ClientsCase):

    def listeners_with_reject(self):
        return LISTENERS + [{"name": "lfreject", "role": "submission", "tls": "none",
                             "trusted_networks": ["127.0.0.0/8"],
                             "extra": {"bare_lf": "reject"}}]

    def test_curl_lf_file_is_delivered_with_crlf(self):
        sink = self.wire_sink()
        d = self.relay(sink.port)
        fd, path = tempfile.mkstemp(prefix="hato-it-lf-")
        self.addCleanup(os.unlink, path)
        with os.fdopen(fd, "w") as f:
            f.write(LF_FILE.format(sender=SENDER, rcpt=RCPT))
        r = subprocess.run(
            ["curl", "--silent", "--show-error", "--verbose",
             "--url", f"smtp://127.0.0.1:{d.port('submission')}",
             "--mail-from", SENDER, "--mail-rcpt", RCPT, "--upload-file", path,
             "--user", f"{USER}:{PASSWORD}", "--ssl-reqd", "-k"],
            capture_output=True, text=True, timeout=PEER_TIMEOUT)
        replies = [l for l in r.stderr.splitlines() if l.startswith("< ")]
        self.assertEqual(r.returncode, 0, f"curl exited {r.returncode}: "
                         + "\n".join(l for l in r.stderr.splitlines()
                                     if l.startswith("curl:")) + "\nlast replies:\n"
                         + "\n".join(replies[-3:]))
        got = sink.wait_messages(1, timeout=60)
        self.assertGreaterEqual(len(got), 1, d.log_tail())
        sink.wait_closed(1, timeout=PEER_TIMEOUT)  # the session is over: nothing else comes
        got = sink.wait_messages(1, timeout=0)
        self.assertEqual(len(got), 1, f"one message in, one out: {got}")
        m = got[0]
        self.assertEqual(m.mail_from, SENDER)
        self.assertEqual(m.rcpt_tos, [RCPT])
        commands = [c for s in sink.sessions for c in s.commands]
        self.assertFalse([c for c in commands if "evil.test" in c or "victim@" in c],
                         f"smuggled commands reached the sink: {commands}")
        # CRLF everywhere on the wire; the lone dots dot-stuffed.
        self.assertNotIn(b"\n", m.wire.replace(b"\r\n", b""), m.wire)
        self.assertNotIn(b"\r", m.wire.replace(b"\r\n", b""), m.wire)
        self.assertEqual(m.wire.count(b"\r\n..\r\n"), 2, m.wire)
        body = m.data.split(b"\r\n\r\n", 1)[1]
        want = (b"first line\r\n.\r\nMAIL FROM:<smuggled@evil.test>\r\n"
                b"RCPT TO:<victim@remote.test>\r\nDATA\r\nSubject: smuggled\r\n\r\n"
                b"smuggled body\r\n.\r\nlast line\r\n")
        self.assertTrue(body.startswith(want), f"body at the sink: {body!r}")
        self.assertIn(b"Subject: bare LF from curl\r\n", m.data)

    def bare(self, port, data):
        with RawSMTP(port) as c:
            c.greeting()
            c.ehlo()
            self.assertEqual(c.cmd(f"MAIL FROM:<{SENDER}>").code, 250)
            self.assertEqual(c.cmd(f"RCPT TO:<{RCPT}>").code, 250)
            self.assertEqual(c.cmd("DATA").code, 354)
            c.send(data + b"\r\n.\r\n")
            return c.reply()

    def test_bare_lf_reject_listener_still_refuses(self):
        d = self.relay(1, listeners=self.listeners_with_reject())
        r = self.bare(d.port("lfreject"), b"Subject: lf\n\nfirst\n.\nsecond")
        self.assertEqual(r.code, 550, r)
        self.assertTrue(r.lines[-1].startswith("5.6.0"), r)
        self.assertEqual(d.queue_ls(), [])

    def test_bare_cr_is_refused_on_both(self):
        d = self.relay(1, listeners=self.listeners_with_reject())
        for name in ("trusted", "lfreject"):
            with self.subTest(listener=name):
                r = self.bare(d.port(name), b"Subject: cr\r\n\r\nfirst\rsecond")
                self.assertEqual(r.code, 550, r)
                self.assertTrue(r.lines[-1].startswith("5.6.0"), r)
        self.assertEqual(d.queue_ls(), [])
