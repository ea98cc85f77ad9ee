"""Hostile clients, round two (issue 29): recipient multiplication, the AUTH lockout
bypassed by interleaved valid logins, failed logins lost when the client hangs up, NUL
inside an AUTH PLAIN password and in DATA, junk commands and endless sessions, and HELP
naming AUTH where it is not offered.

Raw sockets against the real daemon. The inbound (MX) daemon asks dnsmasq, which answers
NXDOMAIN for every .test name, so SPF and DMARC finish at once.
"""

import base64
import os
import re
import threading
import time
import unittest
import urllib.request

import hatotest
from hatotest import DOMAIN, Daemon, HatoTestCase, RawSMTP, queue_id, wait_for
from sinks import Dnsmasq
from test_hostile import SourcedSMTP

METRICS_LINE = re.compile(r"\bmetrics listening\b.*?\baddress=\"?[^\"\s]+:(?P<port>\d+)")
SENDER = f"app@{DOMAIN}"


def plain_token(raw):
    return base64.b64encode(raw).decode()


def metric(d, name, labels):
    port = int(METRICS_LINE.search(d.log_text()).group("port"))
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    m = re.search(rf"^{name}\{{{re.escape(labels)}\}} (\d+)", text, re.M)
    return int(m.group(1)) if m else None


class InboundCase(unittest.TestCase):
    """One inbound daemon (mailbox support, alias help -> support) with a trusted
    submission listener, for the tests that need no login."""

    dns = mx = None

    @classmethod
    def setUpClass(cls):
        cls.dns = Dnsmasq().start()
        try:
            cls.mx = Daemon(
                listeners=[{"name": "mx", "role": "inbound", "tls": "none"},
                           {"name": "trusted", "role": "submission", "tls": "none",
                            "trusted_networks": ["127.0.0.0/8"]}],
                limits={"max_recipients": 2000, "max_errors": 100},
                domains=[{"name": DOMAIN, "mailboxes": ["support"],
                          "aliases": {"help": "support"}}],
                extra_yaml=(f"dns:\n  servers: [\"127.0.0.1:{cls.dns.port}\"]\n"
                            "inbound:\n"
                            "  limits: {error_slowdown: {after: 1000, disconnect_after: 1000}}\n"))
            cls.mx.start()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.mx is not None:
            try:
                cls.mx.stop(check=True)
            finally:
                cls.mx.cleanup()
                cls.mx = None
        if cls.dns is not None:
            cls.dns.cleanup()
            cls.dns = None

    def tearDown(self):
        self.mx.assert_alive()

    def session(self, listener):
        c = RawSMTP(self.mx.port(listener))
        self.addCleanup(c.close)
        c.greeting()
        c.ehlo()
        return c

    def maildir_files(self, mailbox="support"):
        out = []
        for sub in ("new", "cur"):
            d = os.path.join(self.mx.data_dir, "mail", DOMAIN, mailbox, sub)
            out += [os.path.join(d, n) for n in os.listdir(d)] if os.path.isdir(d) else []
        return out

    def files_with(self, token):
        n = 0
        for path in self.maildir_files():
            with open(path, "rb") as f:
                n += token.encode() in f.read()
        return n


class RecipientMultiplicationTest(InboundCase):

    def test_1000_identical_rcpts_give_one_maildir_file(self):
        token = f"dup-{time.time_ns()}"
        c = self.session("mx")
        self.assertEqual(c.cmd("MAIL FROM:<someone@remote.test>").code, 250)
        rcpts = ["support@example.test"] * 1000 + [
            "SUPPORT@EXAMPLE.TEST", "support+tag@Example.Test", "help@example.test"]
        c.send("".join(f"RCPT TO:<{r}>\r\n" for r in rcpts).encode())
        codes = [c.reply().code for _ in rcpts]
        self.assertEqual(codes, [250] * len(rcpts), "every duplicate still gets 250")
        self.assertEqual(c.cmd("DATA").code, 354)
        c.send(f"Subject: {token}\r\n\r\n{('x' * 98 + chr(13) + chr(10)) * 100}.\r\n".encode())
        r = c.reply()
        self.assertEqual(r.code, 250, r)
        qid = queue_id(r.text)
        # Delivered when the message has left the queue.
        self.assertTrue(wait_for(lambda: all(m.get("id") != qid for m in self.mx.queue_ls()),
                                 timeout=30, interval=0.2), self.mx.log_tail())
        self.assertEqual(self.files_with(token), 1, "one Maildir file for one mailbox")

class NulInDataTest(InboundCase):

    def test_nul_in_data_refused_550_and_the_session_goes_on(self):
        for listener in ("trusted", "mx"):
            c = self.session(listener)
            sender, rcpt = ((SENDER, "x@remote.test") if listener == "trusted"
                            else ("someone@remote.test", f"support@{DOMAIN}"))
            self.assertEqual(c.cmd(f"MAIL FROM:<{sender}>").code, 250)
            self.assertEqual(c.cmd(f"RCPT TO:<{rcpt}>").code, 250)
            self.assertEqual(c.cmd("DATA").code, 354)
            c.send(b"Subject: nul\r\n\r\nbefore\r\n\0.\0\r\nafter\r\n.\r\n")
            r = c.reply()
            self.assertEqual((r.code, r.text[:5]), (550, "5.6.0"), f"{listener}: {r}")
            self.assertEqual(c.cmd("NOOP").code, 250)

class CommandLimitsTest(InboundCase):

    def test_help_on_the_mx_does_not_list_auth(self):
        r = self.session("mx").cmd("HELP")
        self.assertEqual(r.code, 214, r)
        self.assertNotIn("AUTH", r.text.split())

    def test_junk_commands_beyond_100_get_421(self):
        c = self.session("mx")
        junk = ["NOOP", "RSET", "VRFY support", "HELP"] * 25
        c.send("".join(f"{x}\r\n" for x in junk).encode())
        codes = [c.reply().code for _ in junk]
        self.assertTrue(all(200 <= code < 300 for code in codes), codes)
        r = c.cmd("NOOP")
        self.assertEqual((r.code, r.text[:5]), (421, "4.7.0"), r)
        self.assertEqual(c.replies_until_close(), [], "closed after the 421")


class SubmissionDuplicatesTest(HatoTestCase):
    """Mail for remote.test stays queued (the default daemon's DNS never answers)."""
    LIMITS = {"max_recipients": 1000}

    def test_submission_queues_one_copy_per_distinct_address(self):
        c = SourcedSMTP(self.hato.port("trusted"))
        self.addCleanup(c.close)
        c.greeting()
        c.ehlo()
        self.assertEqual(c.cmd(f"MAIL FROM:<{SENDER}>").code, 250)
        rcpts = ["x@remote.test"] * 500 + ["x@REMOTE.TEST", "X@remote.test"]
        c.send("".join(f"RCPT TO:<{r}>\r\n" for r in rcpts).encode())
        self.assertEqual([c.reply().code for _ in rcpts], [250] * len(rcpts))
        self.assertEqual(c.cmd("DATA").code, 354)
        c.send(b"Subject: dup\r\n\r\nhi\r\n.\r\n")
        r = c.reply()
        self.assertEqual(r.code, 250, r)
        got = sorted(x["rcpt"] for x in self.hato.queue_show(queue_id(r.text))["recipients"])
        # RFC 5321 2.4: the remote local part's case may matter, the domain's does not.
        self.assertEqual(got, ["X@remote.test", "x@remote.test"])


class NulAllowedTest(HatoTestCase):

    def test_listener_with_nul_allow_passes_it_on(self):
        d = self.own_daemon(listeners=[{"name": "trusted-nul", "role": "submission", "tls": "none",
                                        "trusted_networks": ["127.0.0.0/8"],
                                        "extra": {"nul": "allow"}}])
        d.start()
        with RawSMTP(d.port("trusted-nul")) as c:
            c.greeting()
            c.ehlo()
            self.assertEqual(c.cmd(f"MAIL FROM:<{SENDER}>").code, 250)
            self.assertEqual(c.cmd("RCPT TO:<x@remote.test>").code, 250)
            self.assertEqual(c.cmd("DATA").code, 354)
            c.send(b"Subject: nul\r\n\r\nbefore\0after\r\n.\r\n")
            r = c.reply()
        self.assertEqual(r.code, 250, r)
        self.assertIn(b"before\0after\r\n", d.queue_cat(queue_id(r.text)))


class SessionLifetimeTest(HatoTestCase):
    LIMITS = {"max_session_time": "2s"}

    def test_a_noop_every_half_second_does_not_keep_the_session(self):
        c = SourcedSMTP(self.hato.port("trusted"))
        self.addCleanup(c.close)
        c.greeting()
        c.ehlo()
        t0 = time.monotonic()
        while time.monotonic() - t0 < 10:
            r = c.cmd("NOOP")
            if r.code != 250:
                break
            time.sleep(0.5)
        self.assertEqual((r.code, r.text[:5]), (421, "4.4.2"), r)
        self.assertLess(time.monotonic() - t0, 5)
        self.assertIn("session too long", self.hato.log_text())


class AuthPlainNulTest(HatoTestCase):
    USERS = {"alice": "alice-secret-1"}

    def test_nul_inside_the_password_is_refused(self):
        with SourcedSMTP(self.hato.port("submissions"), source="127.0.0.21",
                         implicit_tls=True) as c:
            c.greeting()
            c.ehlo()
            r = c.cmd("AUTH PLAIN " + plain_token(b"\0alice\0alice-secret-1\0GARBAGE"))
            self.assertIn(r.code, (501, 535), f"a NUL inside the password logged in: {r}")
            r = c.cmd("AUTH PLAIN " + plain_token(b"\0alice\0alice-secret-1"))
            self.assertEqual(r.code, 235, r)


class AuthFailuresTest(HatoTestCase):
    """Its own daemon per test: the guard's counts per address must start at zero."""

    USERS = {"alice": "alice-secret-1", "mallory": "mallory-secret-2"}

    def start_daemon(self):
        d = self.own_daemon(limits={"command_timeout": "60s"},
                            extra_yaml="admin:\n  metrics: \"127.0.0.1:0\"\n")
        d.start()
        return d

    def login(self, d, source, user, password):
        """One AUTH PLAIN on its own implicit TLS connection: the reply code (None: closed)."""
        with SourcedSMTP(d.port("submissions"), source=source, implicit_tls=True,
                         timeout=60) as c:
            c.greeting()
            c.ehlo()
            try:
                return c.auth_plain(user, password).code
            except EOFError:
                return None

    def test_interleaved_valid_logins_buy_no_more_guesses(self):
        # The attacker owns mallory and guesses alice's password, logging in as mallory
        # between rounds of five parallel guesses. At most ten guesses may be checked.
        d = self.start_daemon()
        attacker = "127.0.0.31"
        codes = []
        for _ in range(3):
            results = [None] * 5
            threads = [threading.Thread(
                target=lambda i=i: results.__setitem__(
                    i, self.login(d, attacker, "alice", f"guess-{time.time_ns()}")),
                daemon=True) for i in range(5)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            codes += results
            self.login(d, attacker, "mallory", self.USERS["mallory"])
        checked = codes.count(535)
        self.assertLessEqual(checked, 10, f"{checked} guesses at alice were checked: {codes}")
        self.assertEqual(codes.count(421), 15 - checked, codes)
        # Another address is not affected.
        self.assertEqual(self.login(d, "127.0.0.32", "alice", self.USERS["alice"]), 235)

    def test_client_hanging_up_after_a_wrong_password_is_logged_and_counted(self):
        d = self.start_daemon()
        labels = 'listener="submissions"'
        for i in range(3):
            c = SourcedSMTP(d.port("submissions"), source="127.0.0.33", implicit_tls=True)
            c.greeting()
            c.ehlo()
            token = plain_token(b"\0alice\0wrong-" + str(i).encode())
            c.send(f"AUTH PLAIN {token}\r\n".encode())
            c.close()  # before the delayed 535
        failed = re.compile(r"\bauth\b.*\balice\b.*failed: wrong user or password")
        self.assertTrue(wait_for(lambda: len(failed.findall(d.log_text())) == 3, timeout=5),
                        d.log_tail())
        # Registered at zero at start, so this is these three.
        self.assertEqual(metric(d, "hato_auth_failures_total", labels), 3)


if __name__ == "__main__":
    unittest.main()
