"""The inbound MX (issue 6) with real parts: Hato's inbound listener, dnsmasq serving SPF,
DKIM, DMARC and DNSBL records, Maildir delivery, and Dovecot (Debian's dovecot-imapd)
serving the Maildir to Python's imaplib.

One DNS server and one MX daemon for the class (relay.example.test, receiving for
example.test: mailboxes support and info, alias postmaster -> support). Clients connect
from 127.0.0.1 with EHLO client.test. The zone:

    reject.test      SPF "-all" for anything but 192.0.2.1;  DMARC p=reject
    softfail.test    SPF "~all";                              DMARC p=none
    quarantine.test  SPF "-all";                              DMARC p=quarantine
    pass.test        SPF passes 127.0.0.0/8;                  DMARC p=reject
    signer.test      SPF "-all"; DKIM key s1 (Ed25519);       DMARC p=reject, adkim=s
    bl.test          DNSBL: 127.0.0.2 listed (A 127.0.0.2, TXT reason)
    err.test         DNSBL: 127.0.0.1 answered 127.255.255.254 (the list's "query refused")

The DKIM test runs a second Hato that sends for signer.test (a domain with a DKIM key and
no mailboxes, so routed by MX): mail submitted there is signed by Hato and delivered to
the MX daemon, where it must pass DKIM and DMARC although SPF fails.

SPF-dependent tests (they need the SPF hook wired into `hato serve`):
test_p_reject_domain_failing_spf_is_refused, test_softfail_with_p_none_is_accepted_and_marked,
test_quarantine_files_in_junk, test_aligned_spf_pass_delivers, test_null_sender_is_accepted.
test_quarantine_files_in_junk also needs local delivery to honour the envelope's folder.

Needs dnsmasq-base, python3-aiosmtpd (sinks.py), dovecot-imapd and libpython3.11-testsuite
(Python's email test corpus).
"""

import email
import email.policy
import email.utils
import grp
import imaplib
import json
import os
import pwd
import re
import socket
import subprocess
import tempfile
import time
import unittest
import uuid

import hatotest
from hatotest import HOSTNAME, Daemon, RawSMTP, wait_for
from test_smuggling import SEQUENCES, has_bare_cr

try:
    import sinks
    from sinks import Dnsmasq, free_port, remove_dir, stop_process
    MISSING = None
    if not os.access(sinks.DNSMASQ, os.X_OK):
        MISSING = f"{sinks.DNSMASQ} missing (apt-get install dnsmasq-base)"
except ImportError as e:
    MISSING = f"{e} (apt-get install python3-aiosmtpd)"

DOVECOT = "/usr/sbin/dovecot"
DOMAIN = "example.test"
HELO = "client.test"

MX = {DOMAIN: [(10, "mx.example.test")]}
HOSTS = {
    "mx.example.test": "127.0.0.1",
    "2.0.0.127.bl.test": "127.0.0.2",          # 127.0.0.2 is listed in bl.test
    "1.0.0.127.err.test": "127.255.255.254",   # err.test refuses to answer for 127.0.0.1
}
TXT = {
    "reject.test": "v=spf1 ip4:192.0.2.1 -all",
    "_dmarc.reject.test": "v=DMARC1; p=reject",
    "softfail.test": "v=spf1 ~all",
    "_dmarc.softfail.test": "v=DMARC1; p=none",
    "quarantine.test": "v=spf1 -all",
    "_dmarc.quarantine.test": "v=DMARC1; p=quarantine",
    "pass.test": "v=spf1 ip4:127.0.0.0/8 -all",
    "_dmarc.pass.test": "v=DMARC1; p=reject",
    "signer.test": "v=spf1 -all",
    "_dmarc.signer.test": "v=DMARC1; p=reject; adkim=s",
    "2.0.0.127.bl.test": "Listed in the test DNSBL",
}
DNSBL = [{"zone": "bl.test", "action": "reject"}, {"zone": "err.test", "action": "reject"}]

OPEN_RELAY_FORMS = [
    "user@remote.test",                        # a foreign domain
    "user%remote.test@example.test",           # the %-hack
    '"user@remote.test"@example.test',         # a quoted local part hiding an '@'
    "@example.test:user@remote.test",          # a source route
    "@example.test,@relay.test:user@remote.test",
    "remote.test!user@example.test",           # a bang path
    "user@remote.test@example.test",           # user@a@b
    "support@example.test@remote.test",
    '"support@example.test"@remote.test',
    "support@[127.0.0.1]",                     # a domain literal: not one of our domains
]


class InboundDaemon(Daemon):
    """A Daemon whose domains may carry extra keys (aliases, dkim), as YAML lines."""

    def __init__(self, domain_yaml=None, **kw):
        self.domain_yaml = domain_yaml or {}
        super().__init__(**kw)

    def write_config(self):
        super().write_config()
        with open(self.config) as f:
            lines = f.read().split("\n")
        out = []
        for line in lines:
            out.append(line)
            m = re.fullmatch(r"  - name: (\S+)", line)
            if m and m.group(1) in self.domain_yaml:
                out.extend("    " + extra for extra in self.domain_yaml[m.group(1)])
        with open(self.config, "w") as f:
            f.write("\n".join(out))


def dot_stuff(data):
    return (b"." if data.startswith(b".") else b"") + data.replace(b"\r\n.", b"\r\n..")


def message(sender, subject, extra_headers=""):
    return (f"{extra_headers}"
            f"From: <{sender}>\r\n"
            f"To: <support@{DOMAIN}>\r\n"
            f"Subject: {subject}\r\n"
            f"Message-ID: <{uuid.uuid4().hex}@client.test>\r\n"
            f"Date: {email.utils.formatdate()}\r\n"
            "\r\n"
            f"Body of {subject}.\r\n").encode()


def message_in(new_dir, token):
    """The raw message in a Maildir's new/ whose bytes contain `token`, or None."""
    try:
        names = os.listdir(new_dir)
    except FileNotFoundError:
        return None
    for name in names:
        with open(os.path.join(new_dir, name), "rb") as f:
            data = f.read()
        if token.encode() in data:
            return data
    return None


def parse(raw):
    return email.message_from_bytes(raw, policy=email.policy.default)


class InboundTest(unittest.TestCase):
    dns = None
    mx = None

    @classmethod
    def setUpClass(cls):
        cls._setup_error = MISSING
        if MISSING:
            return
        try:
            cls._start()
        except Exception:
            cls._stop()
            raise

    @classmethod
    def _start(cls):
        cls.keydir = tempfile.mkdtemp(prefix="hato-it-dkim-")
        cls.key = os.path.join(cls.keydir, "signer.test.s1.pem")
        r = subprocess.run([hatotest.hato_bin(), "dkim", "keygen", "--domain", "signer.test",
                            "--selector", "s1", "--algorithm", "ed25519-sha256", "--out",
                            cls.key], capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            raise AssertionError(f"hato dkim keygen failed: {r.stderr}")
        # 's1._domainkey.signer.test. IN TXT ( "v=DKIM1; k=ed25519; p=..." )'
        record = "".join(re.findall(r'"([^"]*)"', r.stdout))
        txt = dict(TXT, **{"s1._domainkey.signer.test": record})
        args = [f"--txt-record={name},{value}" for name, value in txt.items()]
        cls.dns = Dnsmasq(mx=MX, hosts=HOSTS, extra_args=args).start()
        cls.mx = InboundDaemon(
            listeners=[{"name": "mx", "role": "inbound", "tls": "none"}],
            limits={"max_errors": 100},
            domains=[{"name": DOMAIN, "mailboxes": ["support", "info"]}],
            domain_yaml={DOMAIN: ["aliases: {postmaster: support}"]},
            extra_yaml=("dns:\n"
                        f"  servers: [\"127.0.0.1:{cls.dns.port}\"]\n"
                        "inbound:\n"
                        f"  dnsbl: {json.dumps(DNSBL)}\n"
                        "  dmarc: enforce\n"
                        # Every test client is 127.0.0.1: the refusals tested here must not
                        # slow down the next tests (test_scanners.ClientLimitsTest tests that).
                        "  limits: {error_slowdown: {after: 1000, disconnect_after: 1000}}\n"))
        cls.mx.start()

    @classmethod
    def _stop(cls):
        if cls.mx is not None:
            try:
                cls.mx.stop(check=True)
            finally:
                cls.mx.cleanup()
                cls.mx = None
        if cls.dns is not None:
            cls.dns.cleanup()
            cls.dns = None
        if getattr(cls, "keydir", None):
            subprocess.run(["rm", "-rf", cls.keydir])

    @classmethod
    def tearDownClass(cls):
        cls._stop()

    def setUp(self):
        if self._setup_error:
            self.fail(f"test prerequisite missing: {self._setup_error}")
        self._daemons = [self.mx]

    def tearDown(self):
        for d in self._daemons:
            d.assert_alive()

    # -- helpers ---------------------------------------------------------------------------
    def maildir(self, mailbox="support", folder=""):
        path = os.path.join(self.mx.data_dir, "mail", DOMAIN, mailbox)
        return os.path.join(path, "." + folder) if folder else path

    def wait_in_maildir(self, token, mailbox="support", folder="", timeout=15):
        """The raw message whose Subject carries `token`, once it is in new/."""
        new = os.path.join(self.maildir(mailbox, folder), "new")
        found = wait_for(lambda: message_in(new, token), timeout=timeout, interval=0.1)
        self.assertIsNotNone(found, f"no message with {token!r} in {new} after {timeout}s\n"
                             + self.mx.log_tail())
        return found

    def count_in_maildir(self, token, mailbox="support"):
        n = 0
        for sub in ("new", "cur"):
            d = os.path.join(self.maildir(mailbox), sub)
            for name in os.listdir(d) if os.path.isdir(d) else []:
                with open(os.path.join(d, name), "rb") as f:
                    n += token.encode() in f.read()
        return n

    def send(self, sender, rcpts, data, helo=HELO, port=None):
        """One transaction; the replies to MAIL, each RCPT and the end of DATA (None if not
        reached)."""
        with RawSMTP(port or self.mx.port("mx")) as c:
            c.greeting()
            c.ehlo(helo)
            mail = c.cmd(f"MAIL FROM:<{sender}>")
            rcpt_replies = [c.cmd(f"RCPT TO:<{r}>") for r in rcpts]
            final = None
            if mail.code == 250 and any(r.code == 250 for r in rcpt_replies):
                r = c.cmd("DATA")
                self.assertEqual(r.code, 354, r)
                c.send(dot_stuff(data) + b".\r\n")
                final = c.reply()
            c.cmd("QUIT")
            return mail, rcpt_replies, final

    def deliver(self, sender, subject, rcpt="support@" + DOMAIN, **kw):
        mail, rcpts, final = self.send(sender, [rcpt], message(sender, subject, **kw))
        self.assertEqual(mail.code, 250, mail)
        self.assertEqual(rcpts[0].code, 250, rcpts[0])
        return final

    def our_auth_results(self, msg):
        values = [str(v) for v in msg.get_all("Authentication-Results") or []]
        ours = [v for v in values if v.split(";", 1)[0].strip().lower() == HOSTNAME]
        self.assertEqual(len(ours), 1, f"Authentication-Results fields: {values}")
        return re.sub(r"\s+", " ", ours[0])

    # -- delivery --------------------------------------------------------------------------
    def test_support_lands_in_maildir_with_trace_headers(self):
        token = "support-" + uuid.uuid4().hex[:8]
        final = self.deliver("someone@pass.test", token)
        self.assertEqual(final.code, 250, final)
        raw = self.wait_in_maildir(token)
        # Maildir readers (Dovecot, mutt, mbsync, Sisimai) expect LF line ends (issue 28).
        self.assertNotIn(b"\r\n", raw, "a Maildir file has LF line ends")
        self.assertIn(f"Subject: {token}\n".encode(), raw)
        msg = parse(raw)
        received = str(msg.get_all("Received")[0])
        self.assertIn(f"by {HOSTNAME}", received)
        self.assertIn("[127.0.0.1]", received)
        ar = self.our_auth_results(msg)
        self.assertIn("dkim=none", ar)
        self.assertIn("dmarc=", ar)
        self.assertIn("header.from=pass.test", ar)

    def test_postmaster_alias_lands_in_support(self):
        token = "postmaster-" + uuid.uuid4().hex[:8]
        final = self.deliver("someone@pass.test", token, rcpt="postmaster@" + DOMAIN)
        self.assertEqual(final.code, 250, final)
        msg = parse(self.wait_in_maildir(token, mailbox="support"))
        self.assertIsNotNone(msg.get("Received"))
        self.our_auth_results(msg)

    def test_second_mailbox(self):
        token = "info-" + uuid.uuid4().hex[:8]
        final = self.deliver("someone@pass.test", token, rcpt="Info@Example.Test")
        self.assertEqual(final.code, 250, final)
        self.wait_in_maildir(token, mailbox="info")

    def test_null_sender_is_accepted(self):
        # A bounce: MAIL FROM:<>, SPF checks the HELO name (pass.test passes for 127.0.0.1),
        # which aligns with the bounce's From.
        token = "bounce-" + uuid.uuid4().hex[:8]
        mail, rcpts, final = self.send("", ["support@" + DOMAIN],
                                       message("MAILER-DAEMON@pass.test", token), helo="pass.test")
        self.assertEqual(mail.code, 250, mail)
        self.assertEqual(final.code, 250, final)
        ar = self.our_auth_results(parse(self.wait_in_maildir(token)))
        self.assertIn("spf=pass smtp.helo=pass.test", ar)
        self.assertIn("dmarc=pass", ar)

    # -- recipients --------------------------------------------------------------------------
    def test_unknown_users_are_refused_at_rcpt(self):
        _, rcpts, final = self.send("someone@pass.test",
                                    ["nobody@" + DOMAIN, "support.x@" + DOMAIN], b"")
        for r in rcpts:
            self.assertEqual(r.code, 550, r)
            self.assertTrue(r.lines[-1].startswith("5.1.1"), r)
        self.assertIsNone(final)

    def test_every_open_relay_form_is_refused_at_rcpt(self):
        for form in OPEN_RELAY_FORMS:
            with self.subTest(rcpt=form):
                _, rcpts, final = self.send("someone@pass.test", [form], b"")
                self.assertGreaterEqual(rcpts[0].code, 500, rcpts[0])
                self.assertLess(rcpts[0].code, 600, rcpts[0])
                self.assertIsNone(final)

    def test_no_smuggling_sequence_ends_data(self):
        """Only <CRLF>.<CRLF> ends DATA on the MX too: each bare CR/LF end-of-data variant
        gets one reply for the whole message: 550 5.6.0 with a bare CR (nothing reaches a
        mailbox), 250 with bare LFs alone (normalised: the carrier reaches its mailbox with
        the smuggled commands as text). The smuggled transaction never reaches one."""
        tags = {}
        for name, seq in SEQUENCES.items():
            with self.subTest(sequence=name):
                tag = tags[name] = f"{name}-{uuid.uuid4().hex[:6]}"
                with RawSMTP(self.mx.port("mx")) as c:
                    c.greeting()
                    c.ehlo(HELO)
                    self.assertEqual(c.cmd("MAIL FROM:<someone@pass.test>").code, 250)
                    self.assertEqual(c.cmd(f"RCPT TO:<support@{DOMAIN}>").code, 250)
                    self.assertEqual(c.cmd("DATA").code, 354)
                    c.send(b"From: <someone@pass.test>\r\nSubject: carrier-" + tag.encode() +
                           b"\r\n\r\nfirst part" + seq +
                           b"MAIL FROM:<someone@pass.test>\r\n"
                           b"RCPT TO:<info@" + DOMAIN.encode() + b">\r\nDATA\r\n"
                           b"Subject: smuggled-" + tag.encode() + b"\r\n\r\nsmuggled\r\n"
                           b"\r\n.\r\nQUIT\r\n")
                    replies = c.replies_until_close()
                if has_bare_cr(seq):
                    self.assertEqual([r.code for r in replies], [550, 221], replies)
                    self.assertTrue(replies[0].lines[-1].startswith("5.6.0"), replies)
                else:
                    self.assertEqual([r.code for r in replies], [250, 221], replies)
        # A clean message sent afterwards reaching both mailboxes shows the queue has
        # delivered what came before it; nothing of the refused ones may be there.
        token = "after-smuggling-" + uuid.uuid4().hex[:8]
        for mailbox in ("support", "info"):
            final = self.deliver("someone@pass.test", token, rcpt=f"{mailbox}@{DOMAIN}")
            self.assertEqual(final.code, 250, final)
            self.wait_in_maildir(token, mailbox=mailbox)
        for name, tag in tags.items():
            carrier = 0 if has_bare_cr(SEQUENCES[name]) else 1
            self.assertEqual(self.count_in_maildir(tag, "support"), carrier,
                             f"{name}: the carrier reaches support only when accepted")
            self.assertEqual(self.count_in_maildir(tag, "info"), 0,
                             f"{name}: the smuggled transaction reached info")

    # -- SPF and DMARC -------------------------------------------------------------------------
    def test_p_reject_domain_failing_spf_is_refused(self):
        token = "reject-" + uuid.uuid4().hex[:8]
        final = self.deliver("someone@reject.test", token)
        self.assertEqual(final.code, 550, final)
        self.assertTrue(final.lines[-1].startswith("5.7.1"), final)
        self.assertIn("reject.test", final.text)
        time.sleep(0.5)
        self.assertEqual(self.count_in_maildir(token), 0)

    def test_refused_message_does_not_leak_recipients_into_the_next_one(self):
        # After a 550 at the end of DATA the transaction is over: the next MAIL starts afresh.
        token = "leak-" + uuid.uuid4().hex[:8]
        with RawSMTP(self.mx.port("mx")) as c:
            c.greeting()
            c.ehlo(HELO)
            self.assertEqual(c.cmd("MAIL FROM:<a@reject.test>").code, 250)
            self.assertEqual(c.cmd(f"RCPT TO:<support@{DOMAIN}>").code, 250)
            self.assertEqual(c.cmd("DATA").code, 354)
            c.send(message("a@reject.test", token + "-refused") + b".\r\n")
            self.assertEqual(c.reply().code, 550)
            self.assertEqual(c.cmd("MAIL FROM:<b@pass.test>").code, 250)
            self.assertEqual(c.cmd(f"RCPT TO:<info@{DOMAIN}>").code, 250)
            self.assertEqual(c.cmd("DATA").code, 354)
            c.send(message("b@pass.test", token) + b".\r\n")
            self.assertEqual(c.reply().code, 250)
            c.cmd("QUIT")
        self.wait_in_maildir(token, mailbox="info")
        time.sleep(0.5)
        self.assertEqual(self.count_in_maildir(token, mailbox="support"), 0)

    def test_softfail_with_p_none_is_accepted_and_marked(self):
        token = "softfail-" + uuid.uuid4().hex[:8]
        final = self.deliver("someone@softfail.test", token)
        self.assertEqual(final.code, 250, final)
        ar = self.our_auth_results(parse(self.wait_in_maildir(token)))
        self.assertIn("spf=softfail smtp.mailfrom=softfail.test", ar)
        self.assertIn("dmarc=fail (p=none dis=none) header.from=softfail.test", ar)

    def test_aligned_spf_pass_delivers(self):
        token = "spfpass-" + uuid.uuid4().hex[:8]
        final = self.deliver("someone@pass.test", token)
        self.assertEqual(final.code, 250, final)
        ar = self.our_auth_results(parse(self.wait_in_maildir(token)))
        self.assertIn("spf=pass smtp.mailfrom=pass.test", ar)
        self.assertIn("dmarc=pass (p=reject dis=none) header.from=pass.test", ar)

    def test_quarantine_files_in_junk(self):
        token = "junk-" + uuid.uuid4().hex[:8]
        final = self.deliver("someone@quarantine.test", token)
        self.assertEqual(final.code, 250, final)
        ar = self.our_auth_results(parse(self.wait_in_maildir(token, folder="Junk")))
        self.assertIn("dmarc=fail (p=quarantine dis=quarantine)", ar)
        self.assertEqual(self.count_in_maildir(token), 0)  # not in the inbox

    def test_message_dkim_signed_by_hato_passes_dmarc(self):
        sender = InboundDaemon(
            listeners=[{"name": "trusted", "role": "submission", "tls": "none",
                        "trusted_networks": ["127.0.0.0/8"]}],
            domains=[{"name": "signer.test"}],
            domain_yaml={"signer.test": [
                "dkim: [{selector: s1, algorithm: ed25519-sha256, key: "
                + json.dumps(self.key) + "}]"]},
            extra_yaml=("dns:\n"
                        f"  servers: [\"127.0.0.1:{self.dns.port}\"]\n"
                        "delivery:\n"
                        f"  port: {self.mx.port('mx')}\n"
                        "  retry: {first: 1s, max_interval: 2s}\n"))
        self._daemons.append(sender)

        def fin():
            try:
                sender.stop(check=True)
            finally:
                sender.cleanup()
        self.addCleanup(fin)
        sender.start()
        token = "dkim-" + uuid.uuid4().hex[:8]
        mail, rcpts, final = self.send("app@signer.test", ["support@" + DOMAIN],
                                       message("app@signer.test", token),
                                       port=sender.port("trusted"))
        self.assertEqual(final.code, 250, final)
        msg = parse(self.wait_in_maildir(token, timeout=20))
        self.assertIsNotNone(msg.get("DKIM-Signature"))
        ar = self.our_auth_results(msg)
        self.assertIn("dkim=pass header.d=signer.test header.s=s1 header.a=ed25519-sha256", ar)
        self.assertIn("dmarc=pass (p=reject dis=none) header.from=signer.test", ar)

    # -- DMARC with several authors (RFC 7489 6.6.1) ------------------------------------------
    def multi_author(self, from_value, token):
        """A message from someone@pass.test (SPF passes) whose From field is `from_value`."""
        return (f"From: {from_value}\r\n"
                f"To: <support@{DOMAIN}>\r\n"
                f"Subject: {token}\r\n"
                f"Message-ID: <{uuid.uuid4().hex}@client.test>\r\n"
                f"Date: {email.utils.formatdate()}\r\n"
                "\r\n"
                f"Body of {token}.\r\n").encode()

    def dmarc_rejections(self):
        """How many DMARC log lines name a queue ID and reject.test's p=reject disposition."""
        return len(re.findall(r"^\S+ info dmarc .*\bid=[A-Za-z0-9]{16}\b.* from=reject\.test .*"
                              r"disposition=reject", self.mx.log_text(), re.M))

    def test_every_author_domain_is_evaluated(self):
        """pass.test passes (aligned SPF), reject.test fails under p=reject: whatever the order,
        inside a group or behind a display name with a comma and an '@', the message is
        refused, and the DMARC log line for reject.test names the queue ID."""
        forms = {
            "pass-first": "bob@pass.test, ceo@reject.test",
            "reject-first": "ceo@reject.test, bob@pass.test",
            "group": "Board: bob@pass.test, ceo@reject.test;",
            "display-names": '"Bob, bob@pass.test" <bob@pass.test>, =?UTF-8?Q?C=C3=A9o?= '
                             "(chief) <ceo@reject.test>",
            "group-reject-first": "Board: ceo@reject.test, bob@pass.test;, other@pass.test",
        }
        for name, from_value in forms.items():
            with self.subTest(form=name):
                token = f"multi-{name}-{uuid.uuid4().hex[:8]}"
                logged = self.dmarc_rejections()
                mail, rcpts, final = self.send("someone@pass.test", ["support@" + DOMAIN],
                                               self.multi_author(from_value, token))
                self.assertEqual(final.code, 550, final)
                self.assertTrue(final.lines[-1].startswith("5.7.1"), final)
                self.assertIn("reject.test", final.text)
                self.assertTrue(wait_for(lambda: self.dmarc_rejections() > logged, timeout=5),
                                "no DMARC log line with id= for reject.test\n" +
                                self.mx.log_tail())
        time.sleep(0.5)
        for name in forms:
            self.assertEqual(self.count_in_maildir(f"multi-{name}-"), 0, name)

    def test_multi_author_message_gets_one_dmarc_clause_per_domain(self):
        """Accepted multi-author mail: OpenDMARC's clause, once per author domain in From order
        (pass.test passes; softfail.test fails under p=none), and each DMARC log line carries
        the ID the client was given."""
        token = "multi-ok-" + uuid.uuid4().hex[:8]
        mail, rcpts, final = self.send(
            "someone@pass.test", ["support@" + DOMAIN],
            self.multi_author("Ann <ann@pass.test>, (x) dev@softfail.test, Bob <bob@Pass.Test.>",
                              token))
        self.assertEqual(final.code, 250, final)
        qid = hatotest.queue_id(final.text)
        ar = self.our_auth_results(parse(self.wait_in_maildir(token)))
        self.assertEqual(ar, f"{HOSTNAME}; spf=pass smtp.mailfrom=pass.test; dkim=none; "
                             "dmarc=pass (p=reject dis=none) header.from=pass.test; "
                             "dmarc=fail (p=none dis=none) header.from=softfail.test")
        log = self.mx.log_text()
        for domain, result in (("pass.test", "pass"), ("softfail.test", "fail")):
            self.assertRegex(log, rf"dmarc .*id={qid} .*from={re.escape(domain)} .*"
                                  rf"result={result}")

    def test_multi_author_with_a_quarantine_author_goes_to_junk(self):
        token = "multi-junk-" + uuid.uuid4().hex[:8]
        mail, rcpts, final = self.send(
            "someone@pass.test", ["support@" + DOMAIN],
            self.multi_author("ann@pass.test, eve@quarantine.test", token))
        self.assertEqual(final.code, 250, final)
        ar = self.our_auth_results(parse(self.wait_in_maildir(token, folder="Junk")))
        self.assertIn("dmarc=pass (p=reject dis=none) header.from=pass.test; "
                      "dmarc=fail (p=quarantine dis=quarantine) header.from=quarantine.test", ar)
        self.assertEqual(self.count_in_maildir(token), 0)

    def test_unparseable_header_is_still_accepted_from_the_internet(self):
        """Submission refuses a header line without a colon (Python's msg_35); mail from the
        internet is not ours to refuse for it, and we do not sign it."""
        path = "/usr/lib/python3.11/test/test_email/data/msg_35.txt"
        if not os.path.exists(path):
            self.fail(f"{path} missing (apt-get install libpython3.11-testsuite)")
        with open(path, "rb") as f:
            data = f.read().replace(b"\n", b"\r\n")
        token = "here's something interesting"
        before = self.count_in_maildir(token)
        _, _, final = self.send("someone@pass.test", ["support@" + DOMAIN], data)
        self.assertEqual(final.code, 250, final)
        self.assertTrue(wait_for(lambda: self.count_in_maildir(token) > before, timeout=15),
                        self.mx.log_tail())

    # -- Authentication-Results hygiene -----------------------------------------------------
    def test_forged_authentication_results_are_removed(self):
        token = "forged-" + uuid.uuid4().hex[:8]
        forged = (f"Authentication-Results: {HOSTNAME}; dkim=pass header.d=bank.test;\r\n"
                  "\tdmarc=pass header.from=bank.test\r\n"
                  f"Authentication-Results: \"{HOSTNAME.upper()}\"; spf=pass\r\n"
                  "Authentication-Results: mx.elsewhere.test; spf=pass\r\n")
        final = self.deliver("someone@pass.test", token, extra_headers=forged)
        self.assertEqual(final.code, 250, final)
        msg = parse(self.wait_in_maildir(token))
        ar = self.our_auth_results(msg)  # exactly one with our id: ours
        self.assertNotIn("bank.test", ar)
        others = [str(v) for v in msg.get_all("Authentication-Results")]
        self.assertTrue(any(v.startswith("mx.elsewhere.test") for v in others), others)

    # -- DNSBL -------------------------------------------------------------------------------
    def test_listed_client_is_refused_with_the_zone_named(self):
        s = socket.create_connection(("127.0.0.1", self.mx.port("mx")), timeout=10,
                                     source_address=("127.0.0.2", 0))
        try:
            data = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break  # closed after the reply
                data += chunk
        finally:
            s.close()
        text = data.decode()
        self.assertTrue(text.startswith("554 5.7.1 "), text)
        self.assertIn("client [127.0.0.2] blocked using bl.test", text)
        self.assertIn("Listed in the test DNSBL", text)

    def test_error_answer_is_not_a_listing(self):
        # err.test answers 127.255.255.254 for 127.0.0.1: logged, never a refusal.
        with RawSMTP(self.mx.port("mx")) as c:
            c.greeting()
            c.ehlo(HELO)
        self.assertTrue(wait_for(lambda: "dnsbl error answer" in self.mx.log_text(), timeout=5),
                        self.mx.log_tail())
        self.assertIn("127.255.255.254", self.mx.log_text())

    # -- IMAP --------------------------------------------------------------------------------
    def test_dovecot_shows_the_delivered_message(self):
        if not os.access(DOVECOT, os.X_OK):
            self.fail(f"{DOVECOT} missing (apt-get install dovecot-imapd)")
        token = "imap-" + uuid.uuid4().hex[:8]
        final = self.deliver("someone@pass.test", token)
        self.assertEqual(final.code, 250, final)
        self.wait_in_maildir(token)
        with Dovecot(os.path.join(self.mx.data_dir, "mail", DOMAIN),
                     {"support": "imap-secret"}) as dovecot:
            imap = imaplib.IMAP4("127.0.0.1", dovecot.port, timeout=10)
            try:
                try:
                    imap.login("support", "imap-secret")
                except imaplib.IMAP4.error as e:
                    self.fail(f"IMAP login failed: {e}\n--- dovecot.log ---\n{dovecot.log()}")
                typ, _ = imap.select("INBOX", readonly=True)
                self.assertEqual(typ, "OK")
                typ, ids = imap.search(None, "SUBJECT", token)
                self.assertEqual(typ, "OK")
                found = ids[0].split()
                self.assertEqual(len(found), 1, (ids, dovecot.log()))
                typ, data = imap.fetch(found[0], "(BODY.PEEK[HEADER])")
                header = data[0][1].decode()
                self.assertIn("Authentication-Results: " + HOSTNAME, header)
                self.assertIn("Received: from " + HELO, header)
            finally:
                imap.logout()


class Dovecot:
    """Debian's Dovecot over the Maildirs below `domain_dir` (<domain_dir>/<user>), IMAP on
    a free loopback port, plaintext login, no TLS, in its own temp dir."""

    def __init__(self, domain_dir, users, lmtp=False):
        self.domain_dir = domain_dir
        self.users = users
        # lmtp: also LMTP on loopback (self.lmtp_port): True for a free port, or the port
        self.lmtp = lmtp
        self.lmtp_port = None
        self.dir = tempfile.mkdtemp(prefix="hato-it-dovecot-")
        self.port = None
        self.proc = None

    def __enter__(self):
        uid, gid = os.getuid(), os.getgid()
        if uid == 0:
            # Dovecot will not open a mailbox as root: give the Maildirs to nobody, and let
            # it through the (0700) directories above them.
            uid = gid = 65534
            for user in self.users:
                subprocess.run(["chown", "-R", f"{uid}:{gid}",
                                os.path.join(self.domain_dir, user)], check=True)
            path = self.domain_dir
            while path not in ("/", ""):
                os.chmod(path, os.stat(path).st_mode | 0o001)
                path = os.path.dirname(path)
        with open(os.path.join(self.dir, "passwd"), "w") as f:
            for user, password in self.users.items():
                f.write(f"{user}:{{PLAIN}}{password}\n")
        # Dovecot's auth process runs as its own user and must read the (test-only) passwords.
        os.chmod(self.dir, 0o755)
        os.chmod(os.path.join(self.dir, "passwd"), 0o644)
        os.makedirs(os.path.join(self.dir, "state"))
        self.port = free_port()
        # Not root: Dovecot's own processes run as us, without the chroots only root may make.
        unprivileged = ""
        login_chroot = ""
        if os.getuid() != 0:
            user = pwd.getpwuid(os.getuid()).pw_name
            group = grp.getgrgid(os.getgid()).gr_name
            unprivileged = (f"default_internal_user = {user}\n"
                            f"default_internal_group = {group}\n"
                            f"default_login_user = {user}\n"
                            "service anvil {\n  chroot =\n}\n")
            login_chroot = "  chroot =\n"
        lmtp = ""
        if self.lmtp:
            self.lmtp_port = free_port() if self.lmtp is True else self.lmtp
            # An address detail names the folder ("support+Junk@..."), as Hato sends it.
            lmtp = f"""lmtp_save_to_detail_mailbox = yes
namespace inbox {{
  inbox = yes
  mailbox Junk {{
    auto = create
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {self.lmtp_port}
  }}
}}
"""
        conf = os.path.join(self.dir, "dovecot.conf")
        with open(conf, "w") as f:
            f.write(f"""base_dir = {self.dir}/run
state_dir = {self.dir}/state
log_path = {self.dir}/dovecot.log
protocols = imap{" lmtp" if self.lmtp else ""}
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
mail_location = maildir:~
{unprivileged}{lmtp}passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%n {self.dir}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={self.domain_dir}/%n
}}
service imap-login {{
{login_chroot}  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
""")
        self.proc = subprocess.Popen([DOVECOT, "-F", "-c", conf], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if not wait_for(self._answers, timeout=10, interval=0.1):
            out = self.stop()
            raise AssertionError(f"dovecot did not answer on port {self.port}: {out}\n"
                                 + self.log())
        return self

    def _answers(self):
        if self.proc.poll() is not None:
            return True  # exited: reported by the caller's next step
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                return s.recv(100).startswith(b"* OK")
        except OSError:
            return False

    def log(self):
        try:
            with open(os.path.join(self.dir, "dovecot.log"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        out = stop_process(self.proc, timeout=10, output=True)
        self.proc = None
        return out

    def __exit__(self, *exc):
        self.stop()
        remove_dir(self.dir)
