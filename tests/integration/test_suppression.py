"""Bounce categories and the suppression list (issue 21, items 3 and 4) against the real daemon.

An aiosmtpd sink (MX from dnsmasq, as in test_delivery.py) answers RCPT with real receivers'
words: a hard 550 5.1.1 suppresses the address (`hato suppress ls --json` shows it, reason
and source), the next submission to it is refused at RCPT with the 550 that names the
suppression (Python's smtplib as the client), `hato suppress remove` lets it through again,
and a reputation block, temporary or permanent, never suppresses anything. The categories
show in `hato queue show --json`, the delivery log line and hato_bounces_total. The CSV of
`hato suppress export` imports into a fresh daemon as it was.
"""
import json
import os
import re
import smtplib
import time
import unittest
import urllib.request

import hatotest
from hatotest import Daemon, wait_for

try:
    import sinks
    from sinks import Dnsmasq, SmtpSink
    MISSING = None
    if not os.access(sinks.DNSMASQ, os.X_OK):
        MISSING = f"{sinks.DNSMASQ} missing (apt-get install dnsmasq-base)"
except ImportError as e:  # python3-aiosmtpd not installed
    MISSING = f"{e} (apt-get install python3-aiosmtpd)"

SENDER = "app@sender.test"
MX = {d: [(10, "mx.sink.test")] for d in ("remote.test", "sender.test")}
HOSTS = {"mx.sink.test": "127.0.0.1"}
SLOW_RETRY = {"first": "10m", "max_interval": "1h", "max_age": "5d", "delay_warning": "4h"}
METRICS_LINE = re.compile(r"\bmetrics listening\b.*?\baddress=\"?(?P<host>[^\"\s]+):(?P<port>\d+)")

# Gmail's words (support.google.com/a/answer/3726730).
NO_SUCH_USER = ("550-5.1.1 The email account that you tried to reach does not exist. Please try\r\n"
                "550 5.1.1 double-checking the recipient's email address for typos - gsmtp")
LOW_REPUTATION = ("550-5.7.1 [192.0.2.1] Our system has detected that this message is likely\r\n"
                  "550 5.7.1 suspicious due to the very low reputation of the sending IP address.")
UNUSUAL_RATE = ("450-4.7.28 Our system has detected an unusual rate of unsolicited mail\r\n"
                "450 4.7.28 originating from your IP address. - gsmtp")


def message(subject):
    return (f"From: <{SENDER}>\r\nTo: whoever\r\nSubject: {subject}\r\n"
            f"Message-ID: <{subject.replace(' ', '.')}.{os.getpid()}@sender.test>\r\n"
            "\r\n"
            f"Body of {subject}.\r\n")


class SuppressionTest(hatotest.HatoTestCase):
    """Each test has its own daemon, DNS server and sink."""

    def setUp(self):
        self._daemons = []
        if MISSING:  # fail, not skip: a suite that skips delivery would hide a broken relay
            self.fail(f"test prerequisite missing: {MISSING}")

    def tearDown(self):
        for d in self._daemons:
            d.assert_alive()

    # -- parts ---------------------------------------------------------------------------
    def sink(self):
        s = SmtpSink()
        s.start()
        self.addCleanup(s.stop)
        return s

    def dns(self):
        d = Dnsmasq(mx=MX, hosts=HOSTS)
        self.addCleanup(d.cleanup)
        return d.start()

    def relay(self, dns_port=None, sink_port=25, suppression=None):
        y = ["admin:", '  metrics: "127.0.0.1:0"']
        if dns_port is not None:
            y += ["dns:", f"  servers: [\"127.0.0.1:{dns_port}\"]"]
        y += ["delivery:", f"  port: {sink_port}", "  retry:"]
        y += [f"    {k}: {json.dumps(v)}" for k, v in SLOW_RETRY.items()]
        if suppression:
            y += ["suppression:"] + [f"  {k}: {json.dumps(v)}" for k, v in suppression.items()]
        d = Daemon(listeners=[{"name": "trusted", "role": "submission", "tls": "none",
                               "trusted_networks": ["127.0.0.0/8"]}],
                   domains=[{"name": hatotest.DOMAIN, "mailboxes": ["support"]},
                            {"name": "sender.test"}],
                   extra_yaml="\n".join(y) + "\n")
        self.adopt(d)
        self._daemons.append(d)
        d.start()
        return d

    def send(self, d, rcpts, subject):
        """smtplib's sendmail: the recipients it refused, {rcpt: (code, text)}; raises when
        every one was refused."""
        with smtplib.SMTP("127.0.0.1", d.port("trusted"), timeout=10) as s:
            refused = s.sendmail(SENDER, rcpts, message(subject))
            return {r: (code, text.decode()) for r, (code, text) in refused.items()}

    def suppressed(self, d, *args):
        r = d.cli("suppress", "ls", "--json", *args)
        self.assertEqual(r.returncode, 0, r.stderr)
        return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]

    def ok(self, d, *args):
        r = d.cli("suppress", *args)
        self.assertEqual(r.returncode, 0, f"hato suppress {' '.join(args)}: {r.stderr!r}")
        return r

    def metrics(self, d):
        m = METRICS_LINE.search(d.log_text())
        self.assertIsNotNone(m, "no `metrics listening address=...` line\n" + d.log_tail())
        url = f"http://{m.group('host')}:{m.group('port')}/metrics"
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.read().decode()

    def attempts_of(self, d, qid, rcpt):
        show = d.queue_show(qid)
        for r in show["recipients"]:
            if r["rcpt"] == rcpt:
                return r["attempts"]
        self.fail(f"{rcpt} not in queue show {qid}: {show}")

    # =====================================================================================

    def test_a_hard_550_suppresses_and_the_next_submission_is_refused_until_removed(self):
        dns, sink = self.dns(), self.sink()
        sink.reply_rcpt("gone@remote.test", NO_SUCH_USER)
        d = self.relay(dns.port, sink.port)
        self.assertEqual(self.send(d, ["gone@remote.test"], "first"), {})

        def listed():
            return [e for e in self.suppressed(d) if e["address"] == "gone@remote.test"]
        self.assertTrue(wait_for(lambda: listed(), timeout=20),
                        "the 550 5.1.1 did not suppress the address\n" + d.log_tail())
        e = listed()[0]
        self.assertEqual((e["reason"], e["source"], e["domain"]),
                         ("invalid-recipient", "bounce", "sender.test"), e)
        self.assertIsNotNone(e["expires"], e)  # 365 days by default
        self.assertRegex(d.log_text(), r"delivery\b.*rcpt=\"?gone@remote.test.*"
                                       r"category=\"?invalid-recipient")
        # The DSN's log line names the category of what it reports.
        self.assertTrue(wait_for(lambda: re.search(r" info bounce .*categories=\"?invalid-recipient",
                                                   d.log_text()), timeout=10), d.log_tail())
        self.assertRegex(self.metrics(d), r'hato_bounces_total\{category="invalid-recipient",'
                                          r'provider="other"\} [1-9]')
        # The table form says the same.
        table = self.ok(d, "ls").stdout
        self.assertIn("gone@remote.test", table)
        self.assertIn("invalid-recipient", table)

        # The next message to it: refused at RCPT, naming the suppression and the way out.
        with self.assertRaises(smtplib.SMTPRecipientsRefused) as cm:
            self.send(d, ["gone@remote.test"], "second")
        code, text = cm.exception.recipients["gone@remote.test"]
        today = e["first_seen"][:10]
        self.assertEqual(code, 550)
        self.assertEqual(text.decode(),
                         f"5.1.1 <gone@remote.test>: suppressed (invalid-recipient, since {today});"
                         " remove with: hato suppress remove gone@remote.test")
        # Other recipients of the same message still go.
        self.assertEqual(self.send(d, ["gone@remote.test", "fine@remote.test"], "mixed"),
                         {"gone@remote.test": (550, text.decode())})

        r = d.cli("suppress", "remove", "gone@remote.test")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(listed(), [])
        self.assertEqual(self.send(d, ["gone@remote.test"], "third"), {})
        r = d.cli("suppress", "remove", "never@remote.test")
        self.assertEqual(r.returncode, 1, "removing what is not there fails")
        self.assertIn("not suppressed", r.stderr)

    def test_a_reputation_block_never_suppresses(self):
        dns, sink = self.dns(), self.sink()
        sink.reply_rcpt("warm@remote.test", LOW_REPUTATION)
        sink.reply_rcpt("busy@remote.test", UNUSUAL_RATE)
        d = self.relay(dns.port, sink.port)
        with smtplib.SMTP("127.0.0.1", d.port("trusted"), timeout=10) as s:
            s.sendmail(SENDER, ["warm@remote.test", "busy@remote.test"], message("warm-up"))
        qid = None

        def deferred():
            nonlocal qid
            for m in d.queue_ls():
                if "busy@remote.test" in m["to"] and m["attempts"] >= 1:
                    qid = m["id"]
                    return True
            return False
        self.assertTrue(wait_for(deferred, timeout=20), "no attempt recorded\n" + d.log_tail())
        # The 4xx stays queued with its category; the 5xx bounced with its own.
        busy = self.attempts_of(d, qid, "busy@remote.test")
        self.assertEqual(busy[-1]["category"], "reputation-block", busy)
        warm = self.attempts_of(d, qid, "warm@remote.test")
        self.assertEqual(warm[-1]["category"], "reputation-block", warm)
        show = d.cli("queue", "show", qid)
        self.assertIn("category: reputation-block", show.stdout)
        self.assertEqual(self.suppressed(d), [], "a reputation block suppressed an address")
        self.assertEqual(self.send(d, ["warm@remote.test"], "again"), {})

    def test_csv_export_imports_into_a_fresh_daemon(self):
        a = self.relay()
        self.ok(a, "add", "x@remote.test", "--reason", "asked us, twice", "--domain", "sender.test")
        self.ok(a, "add", "Y@Remote.test")
        before = sorted(self.suppressed(a), key=lambda e: e["address"])
        self.assertEqual([e["address"] for e in before], ["x@remote.test", "y@remote.test"])
        self.assertEqual(before[0]["domain"], "sender.test")
        self.assertEqual(before[1]["domain"], "")
        self.assertEqual(before[0]["source"], "manual")
        self.assertEqual(self.suppressed(a, "--domain", "sender.test"), [before[0]])
        csv_text = self.ok(a, "export").stdout
        lines = csv_text.splitlines()
        self.assertEqual(lines[0], "address,domain,reason,source,first_seen,expires")
        self.assertIn('x@remote.test,sender.test,"asked us, twice",manual,', csv_text)

        b = self.relay()
        path = os.path.join(b.dir, "list.csv")
        with open(path, "w", newline="") as f:
            f.write(csv_text)
        r = self.ok(b, "import", path)
        self.assertIn("imported 2", r.stdout)
        after = sorted(self.suppressed(b), key=lambda e: e["address"])
        self.assertEqual(after, before)
        # A broken file adds nothing and names the line.
        with open(path, "w") as f:
            f.write("address,domain,reason,source,first_seen,expires\n"
                    "z@remote.test,,,,,\n"
                    "not an address,,,,,\n")
        r = b.cli("suppress", "import", path)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn(f"{path}:3:", r.stderr)
        self.assertEqual(len(self.suppressed(b)), 2)

    def test_at_submission_bounce_accepts_and_bounces_at_once(self):
        dns, sink = self.dns(), self.sink()
        d = self.relay(dns.port, sink.port, suppression={"at_submission": "bounce"})
        self.ok(d, "add", "gone@remote.test", "--reason", "complained")
        self.assertEqual(self.send(d, ["gone@remote.test", "fine@remote.test"], "mixed"), {})
        # fine@ is delivered; gone@ never reaches the sink, and its bounce goes to the sender.
        got = sink.wait_messages(2, timeout=20)
        self.assertEqual(len(got), 2, d.log_tail())
        tos = sorted(r for m in got for r in m.rcpt_tos)
        self.assertEqual(tos, [SENDER, "fine@remote.test"])
        dsn = next(m for m in got if m.rcpt_tos == [SENDER])
        self.assertIn(b"suppressed (complained", dsn.data)
        self.assertRegex(d.log_text(), r"delivery\b.*rcpt=\"?gone@remote.test.*status=\"?bounced")


if __name__ == "__main__":
    unittest.main()
