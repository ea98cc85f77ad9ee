"""Events (issue 21 item 1): every kind of event, as `hato queue tail --json` prints it, has the
one schema of INTERFACE.md ("Event JSON") with its fields filled in.

A real daemon submits over STARTTLS with SMTP AUTH, delivers over STARTTLS from a configured
egress address to an aiosmtpd sink (DNS from dnsmasq) that answers per recipient: 250, 550 5.1.1,
or 451 until the message expires. A delay notice and failure reports go to the sender, whose
domain's MX is the same sink. The operator holds, releases and deletes one message. The log lines that report events carry
the same fields (the `received` line, the `delivery` lines, ...).

Needs python3-aiosmtpd and dnsmasq-base, as test_delivery.py.
"""

import json
import os
import re
import unittest

import hatotest
from hatotest import Daemon, RawSMTP, queue_id, wait_for
from test_admin import EVENT_KEYS, Tail

try:
    import sinks
    from sinks import Dnsmasq, SmtpSink
    MISSING = None
    if not os.access(sinks.DNSMASQ, os.X_OK):
        MISSING = f"{sinks.DNSMASQ} missing (apt-get install dnsmasq-base)"
except ImportError as e:  # python3-aiosmtpd not installed
    MISSING = f"{e} (apt-get install python3-aiosmtpd)"

SENDER = "app@sender.test"
USER, PASSWORD = "app", "app-secret-1"
MX = {d: [(10, "mx.sink.test")] for d in ("remote.test", "sender.test")}
HOSTS = {"mx.sink.test": "127.0.0.1"}

TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
QUEUE_ID = re.compile(r"^[0-9A-Z]{16}$")


def message(subject):
    mid = f"<{subject.replace(' ', '.')}.{os.getpid()}@sender.test>"
    text = (f"From: <{SENDER}>\r\nTo: whoever\r\nSubject: {subject}\r\nMessage-ID: {mid}\r\n"
            f"\r\nBody of {subject}.\r\n")
    return text.encode(), mid


def check_schema(test, e):
    """The one schema: every key, in order, of its type; returns the event."""
    test.assertEqual(list(e), EVENT_KEYS, e)
    test.assertEqual(list(e["tls"]), ["version", "policy"], e)
    test.assertIsInstance(e["attempt"], int, e)
    for k in EVENT_KEYS:
        if k not in ("tls", "attempt"):
            test.assertIsInstance(e[k], str, f"{k} in {e}")
    test.assertRegex(e["time"], TIME)
    test.assertRegex(e["id"], QUEUE_ID)
    return e


def submit(test, d, rcpts, subject):
    """Submits on the STARTTLS listener as USER; returns (queue ID, Message-ID)."""
    data, mid = message(subject)
    with RawSMTP(d.port("submission")) as c:
        c.greeting()
        c.ehlo()
        c.starttls()
        c.ehlo()
        test.assertEqual(c.auth_plain(USER, PASSWORD).code, 235)
        test.assertEqual(c.cmd(f"MAIL FROM:<{SENDER}>").code, 250)
        for rcpt in rcpts:
            test.assertEqual(c.cmd(f"RCPT TO:<{rcpt}>").code, 250)
        test.assertEqual(c.cmd("DATA").code, 354)
        c.send(data + b".\r\n")
        r = c.reply()
        test.assertEqual(r.code, 250, r)
        c.cmd("QUIT")
        return queue_id(r.text), mid


@unittest.skipIf(MISSING, MISSING or "")
class EventSchemaTest(hatotest.HatoTestCase):

    def setUp(self):
        self._daemons = []
        self.sink = SmtpSink(starttls=True)
        self.sink.start()
        self.addCleanup(self.sink.stop)
        dns = Dnsmasq(mx=MX, hosts=HOSTS)
        self.addCleanup(dns.cleanup)
        dns.start()
        y = ["dns:", f"  servers: [\"127.0.0.1:{dns.port}\"]",
             "egress:", "  - {address: 127.0.0.1}",
             "delivery:", f"  port: {self.sink.port}",
             "  retry: {first: 1s, max_interval: 1s, max_age: 6s, delay_warning: 2s}"]
        y += self.more_yaml()
        y += ["log: {format: json}"]
        d = Daemon(users={USER: PASSWORD},
                   domains=[{"name": hatotest.DOMAIN, "mailboxes": ["support"]},
                            {"name": "sender.test"}],
                   extra_yaml="\n".join(y) + "\n")
        self.adopt(d)
        d.start()
        self.d = d
        before = d.log_text().count("admin tail started")
        self.tail = Tail(d)
        self.addCleanup(self.tail.stop)
        self.assertTrue(wait_for(lambda: d.log_text().count("admin tail started") > before, 5))

    def tearDown(self):
        for d in self._daemons:
            d.assert_alive()

    def more_yaml(self):
        """Configuration lines a subclass adds after the delivery section's (test_webhooks.py:
        delivery.ca_file and a webhook)."""
        return []

    def wait_event(self, pred, timeout):
        """The first event matching pred, or None; and what was seen, for the message."""
        got = self.tail.wait(pred, timeout=timeout)
        return (got[1] if got else None), [e for _, e in self.tail.events()]

    def event(self, pred, what, timeout=20.0):
        got, seen = self.wait_event(pred, timeout)
        self.assertIsNotNone(got, f"no {what}; seen: {seen}\n{self.d.log_tail()}")
        return check_schema(self, got)

    def of(self, event, qid, rcpt=None, timeout=20.0):
        return self.event(lambda e: e["event"] == event and e["id"] == qid
                          and (rcpt is None or e["rcpt"] == rcpt), f"{event} of {qid}", timeout)

    def origin(self, qid, mid):
        """The fields every event about a submitted message carries."""
        return {"id": qid, "message_id": mid, "sender": SENDER, "user": USER,
                "listener": "submission"}

    def assert_fields(self, e, **want):
        self.assertEqual({k: e[k] for k in want}, want, e)

    def test_delivery_results_carry_the_connection(self):
        self.sink.reply_rcpt("dead@remote.test", "550 5.1.1 no such user here")
        qid, mid = submit(self, self.d, ["ok@remote.test", "dead@remote.test"], "results one")
        base = self.origin(qid, mid)
        for rcpt in ("ok@remote.test", "dead@remote.test"):
            e = self.of("received", qid, rcpt)
            self.assert_fields(e, **base, rcpt=rcpt, category="", dsn="", response="", mx="",
                               address="", egress="", tls={"version": "", "policy": ""},
                               attempt=0, original="")
        conn = {"mx": "mx.sink.test", "address": "127.0.0.1", "egress": "127.0.0.1",
                "original": "", "category": ""}
        e = self.of("delivered", qid, "ok@remote.test")
        self.assert_fields(e, **base, **conn, rcpt="ok@remote.test", dsn="2.0.0",
                           response="250 2.0.0 OK: sunk", attempt=1)
        self.assertRegex(e["tls"]["version"], r"^TLSv1\.[23]$")
        self.assertEqual(e["tls"]["policy"], "opportunistic")
        e = self.of("bounced", qid, "dead@remote.test")
        self.assert_fields(e, **dict(conn, category="invalid-recipient"), **base,
                           rcpt="dead@remote.test", dsn="5.1.1",
                           response="550 5.1.1 no such user here", attempt=1, tls=e["tls"])
        self.assertEqual(e["tls"]["policy"], "opportunistic")
        # The failure report: its own queue ID, about the original, to the sender.
        e = self.event(lambda e: e["event"] == "dsn_sent" and e["original"] == qid,
                       f"dsn_sent about {qid}")
        self.assertNotEqual(e["id"], qid)
        self.assert_fields(e, message_id=f"<{e['id']}@{hatotest.HOSTNAME}>", sender="",
                           rcpt=SENDER, user="", listener="bounce", category="", dsn="",
                           response="failure report for 1 recipient", mx="", address="",
                           egress="", tls={"version": "", "policy": ""}, attempt=0)
        # The report itself is received like any message (and delivered to the sender's MX).
        self.assert_fields(self.of("received", e["id"], SENDER), sender="", user="",
                           listener="bounce", message_id=e["message_id"])

    def test_deferred_delay_notice_expired(self):
        self.sink.reply_rcpt("slow@remote.test", "451 4.3.0 try again later")
        qid, mid = submit(self, self.d, ["slow@remote.test"], "slow one")
        base = self.origin(qid, mid)
        e = self.of("deferred", qid, "slow@remote.test")
        self.assert_fields(e, **base, rcpt="slow@remote.test", dsn="4.3.0",
                           response="451 4.3.0 try again later", mx="mx.sink.test",
                           address="127.0.0.1", egress="127.0.0.1", attempt=1, original="")
        e = self.event(lambda e: e["event"] == "deferred" and e["id"] == qid and e["attempt"] == 2,
                       "a second attempt")
        e = self.event(lambda e: e["event"] == "delay_notice" and e["original"] == qid,
                       f"delay_notice about {qid}")
        self.assert_fields(e, message_id=f"<{e['id']}@{hatotest.HOSTNAME}>", sender="",
                           rcpt=SENDER, user="", listener="delay", dsn="",
                           response="delay notice for 1 recipient", mx="", attempt=0)
        e = self.of("expired", qid, "slow@remote.test")
        self.assert_fields(e, **base, rcpt="slow@remote.test", dsn="4.4.7", category="expired",
                           response="451 4.3.0 try again later", mx="", address="", egress="",
                           tls={"version": "", "policy": ""}, original="")
        self.assertGreaterEqual(e["attempt"], 2)
        e = self.event(lambda e: e["event"] == "dsn_sent" and e["original"] == qid,
                       f"dsn_sent about {qid}")
        self.assert_fields(e, rcpt=SENDER, listener="bounce",
                           response="failure report for 1 recipient")

    def log_lines(self, name, qid):
        """The JSON log lines called `name` about queue ID qid, as dicts."""
        out = []
        for line in self.d.log_text().splitlines():
            try:
                f = json.loads(line)
            except ValueError:
                continue
            if f.get("event") == name and f.get("id") == qid:
                out.append(f)
        return out

    def assert_logged_as(self, e, name, **also):
        """The log line `name` about e's message (and recipient) carries e's fields: the same
        names and values (tls.version and tls.policy as tls_version, tls_policy)."""
        want = {k: v for k, v in e.items() if k not in ("event", "time", "tls", "attempt")}
        want.update(tls_version=e["tls"]["version"], tls_policy=e["tls"]["policy"],
                    attempt=str(e["attempt"]), **also)
        lines = [f for f in self.log_lines(name, e["id"]) if f.get("rcpt") == e["rcpt"]]
        self.assertEqual(len(lines), 1, f"one `{name}` line for {e['id']} {e['rcpt']}; "
                                        f"the event: {e}\n{self.d.log_tail()}")
        self.assertEqual({k: lines[0].get(k) for k in want}, want, lines[0])

    def test_the_log_speaks_the_event_schema(self):
        self.sink.reply_rcpt("dead@remote.test", "550 5.1.1 no such user here")
        qid, _ = submit(self, self.d, ["ok@remote.test", "dead@remote.test"], "logged one")
        self.assert_logged_as(self.of("delivered", qid, "ok@remote.test"), "delivery",
                              status="delivered")
        self.assert_logged_as(self.of("bounced", qid, "dead@remote.test"), "delivery",
                              status="bounced")
        e = self.event(lambda e: e["event"] == "dsn_sent" and e["original"] == qid,
                       f"dsn_sent about {qid}")
        self.assert_logged_as(e, "bounce", categories="invalid-recipient")

    def test_the_received_event_has_its_log_line(self):
        qid, _ = submit(self, self.d, ["one@remote.test", "two@remote.test"], "received one")
        for rcpt in ("one@remote.test", "two@remote.test"):
            self.assert_logged_as(self.of("received", qid, rcpt), "received")
        self.of("delivered", qid, "one@remote.test")
        # Hato's own mail too: a failure report is received like any message.
        self.sink.reply_rcpt("gone@remote.test", "550 5.1.1 no such user here")
        qid, _ = submit(self, self.d, ["gone@remote.test"], "received two")
        e = self.event(lambda e: e["event"] == "dsn_sent" and e["original"] == qid,
                       f"dsn_sent about {qid}")
        self.assert_logged_as(self.of("received", e["id"], SENDER), "received",
                              listener="bounce", sender="")

    def test_operator_actions(self):
        self.sink.reply_rcpt("kept@remote.test", "451 4.3.0 try again later")
        qid, mid = submit(self, self.d, ["kept@remote.test"], "kept one")
        base = self.origin(qid, mid)
        self.of("deferred", qid, "kept@remote.test")
        none = {"rcpt": "", "category": "", "dsn": "", "mx": "", "address": "", "egress": "",
                "tls": {"version": "", "policy": ""}, "attempt": 0, "original": ""}
        for verb, event in (("hold", "held"), ("release", "released"), ("delete", "deleted")):
            r = self.d.cli("queue", verb, qid)
            self.assertEqual(r.returncode, 0, r.stderr)
            e = self.of(event, qid)
            self.assert_fields(e, **base, **none, response=f"{event} by the operator")


if __name__ == "__main__":
    unittest.main()
