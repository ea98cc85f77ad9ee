"""Complaints (issue 21, item 5): a feedback report (ARF, RFC 5965) made with Python's email
package and sent to complaints.address on the inbound listener produces a "complaint" event
(`hato queue tail --json`), a suppression of the complaining recipient (`hato suppress ls`),
a log line naming the original message, and hato_complaints_total; the report is still
delivered to the mailbox."""
import email.message
import email.policy
import json
import os
import re
import smtplib
import urllib.request
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

import hatotest
from hatotest import Daemon, wait_for
from test_admin import Tail
from test_delivery import SENDER, DeliveryHarness, message

try:
    from aiosmtpd.controller import Controller
    from aiosmtpd.lmtp import LMTP
    from sinks import free_port
except ImportError:  # DeliveryHarness fails the test and names the package
    Controller = object

FBL = f"fbl@{hatotest.DOMAIN}"
COMPLAINER = "reader@remote.test"
METRICS_LINE = re.compile(r"\bmetrics listening\b.*?\baddress=\"?[^\"\s]+:(?P<port>\d+)")


def arf_report(queue_id, complainer=COMPLAINER, sender="app@sender.test"):
    """An abuse report as a provider sends it: human part, feedback-report, the original."""
    report = MIMEMultipart("report", report_type="feedback-report")
    report["From"] = "Feedback Loop <fbl@feedback.remote.test>"
    report["To"] = FBL
    report["Subject"] = "Abuse report"
    report.attach(MIMEText("This is an email abuse report for a message you sent.\n"))
    feedback = email.message.Message()
    feedback.set_type("message/feedback-report")
    feedback.set_payload("Feedback-Type: abuse\r\nUser-Agent: RemoteFBL/1.0\r\nVersion: 1\r\n"
                         f"Original-Mail-From: <{sender}>\r\n"
                         f"Original-Rcpt-To: <{complainer}>\r\n"
                         "Source-IP: 192.0.2.10\r\n")
    report.attach(feedback)
    original = email.message.EmailMessage()
    original["Received"] = (f"from app.sender.test ([192.0.2.10]) by relay.example.test (Hato) "
                            f"with ESMTP id {queue_id}; Mon, 7 Dec 2026 10:00:00 +0000")
    original["From"] = sender
    original["To"] = complainer
    original["Subject"] = "Weekly offers"
    original["Message-ID"] = "<offer-1@sender.test>"
    original.set_content("Buy now.\n")
    wrapper = email.message.Message()
    wrapper.set_type("message/rfc822")
    wrapper.attach(original)
    report.attach(wrapper)
    return report.as_bytes(policy=email.policy.SMTP)


class LmtpServer(Controller):
    """aiosmtpd's LMTP server on loopback; .messages holds what it was given."""

    class Keep:
        def __init__(self):
            self.messages = []

        async def handle_DATA(self, server, session, envelope):
            self.messages.append(envelope)
            return "250 2.0.0 Ok: delivered"

    def __init__(self):
        self.keep = LmtpServer.Keep()
        super().__init__(self.keep, hostname="127.0.0.1", port=free_port())

    def factory(self):
        return LMTP(self.handler)


class ComplaintsTest(DeliveryHarness):
    def test_an_arf_report_suppresses_counts_and_announces_the_complaint(self):
        dns = self.dns()
        d = Daemon(listeners=[{"name": "mx", "role": "inbound", "tls": "none"}],
                   domains=[{"name": hatotest.DOMAIN, "mailboxes": ["support", "fbl"]}],
                   extra_yaml=(f"dns:\n  servers: [\"127.0.0.1:{dns.port}\"]\n"
                               f"complaints:\n  address: {FBL}\n"
                               "admin:\n  metrics: \"127.0.0.1:0\"\n"))
        self.adopt(d)
        d.start()
        tail = Tail(d)
        self.addCleanup(tail.stop)
        self.assertTrue(wait_for(lambda: "admin tail started" in d.log_text(), timeout=5))

        queue_id = "06H53RK76G000000"
        with smtplib.SMTP("127.0.0.1", d.port("mx"), timeout=30) as s:
            s.sendmail("fbl@feedback.remote.test", [FBL], arf_report(queue_id))

        got = tail.wait(lambda e: e.get("event") == "complaint", timeout=20)
        self.assertIsNotNone(got, f"no complaint event; the tail saw {tail.events()}\n"
                                  + d.log_tail())
        _, got = got
        self.assertEqual(got["id"], queue_id)
        self.assertEqual(got["rcpt"], COMPLAINER)

        line = [l for l in d.log_text().splitlines() if " complaint " in l]
        self.assertTrue(line, d.log_tail())
        self.assertIn(f"id={queue_id}", line[0])  # the message complained about, as in the event
        self.assertIn("message_id=<offer-1@sender.test>", line[0])
        self.assertIn("suppressed=yes", line[0])

        r = d.cli("suppress", "ls", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        entries = [json.loads(l) for l in r.stdout.splitlines() if l.strip()]
        mine = [e for e in entries if e.get("address") == COMPLAINER]
        self.assertEqual(len(mine), 1, entries)
        self.assertEqual(mine[0].get("source"), "complaint")

        port = METRICS_LINE.search(d.log_text()).group("port")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
            text = resp.read().decode()
        m = re.search(r'^hato_complaints_total\{provider="[^"]+"\} (\S+)$', text, re.M)
        self.assertIsNotNone(m, text)
        self.assertEqual(float(m.group(1)), 1.0)

        # The report itself is in the mailbox, as any mail to it would be.
        new = os.path.join(d.data_dir, "mail", hatotest.DOMAIN, "fbl", "new")
        self.assertTrue(wait_for(lambda: os.listdir(new), timeout=10))

    def test_an_arf_report_delivered_over_lmtp_is_read_too(self):
        """complaints.address in a domain delivered over LMTP: the report goes to the LMTP
        server and is read as one delivered to a Maildir is."""
        dns = self.dns()
        lmtp = LmtpServer()
        lmtp.start()
        self.addCleanup(lmtp.stop)
        d = Daemon(listeners=[{"name": "mx", "role": "inbound", "tls": "none"}],
                   domains=[{"name": hatotest.DOMAIN, "mailboxes": ["fbl"]}],
                   extra_yaml=(f"dns:\n  servers: [\"127.0.0.1:{dns.port}\"]\n"
                               f"complaints:\n  address: {FBL}\n"))
        with open(d.config) as f:
            text = f.read()
        with open(d.config, "w") as f:
            f.write(text.replace(f"  - name: {hatotest.DOMAIN}\n", f"  - name: {hatotest.DOMAIN}\n"
                                 f"    lmtp: \"127.0.0.1:{lmtp.port}\"\n"))
        self.adopt(d)
        d.start()
        queue_id = "06H53RK76G000000"
        with smtplib.SMTP("127.0.0.1", d.port("mx"), timeout=30) as s:
            s.sendmail("fbl@feedback.remote.test", [FBL], arf_report(queue_id))
        self.assertTrue(wait_for(lambda: lmtp.keep.messages, timeout=20), d.log_tail())
        self.assertTrue(wait_for(lambda: " complaint " in d.log_text(), timeout=10),
                        d.log_tail())
        line = [l for l in d.log_text().splitlines() if " complaint " in l][0]
        self.assertIn(f"id={queue_id}", line)
        self.assertIn(f"rcpt={COMPLAINER}", line)
        self.assertIn("suppressed=yes", line)
        r = d.cli("suppress", "ls", "--json")
        entries = [json.loads(l) for l in r.stdout.splitlines() if l.strip()]
        self.assertEqual([(e["address"], e["source"]) for e in entries],
                         [(COMPLAINER, "complaint")])

    def metric(self, d, name, provider):
        port = METRICS_LINE.search(d.log_text()).group("port")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
            text = resp.read().decode()
        m = re.search(rf'^{name}\{{provider="{provider}"\}} (\S+)$', text, re.M)
        return float(m.group(1)) if m else None

    def test_a_complaint_rate_over_the_limit_suspends_the_provider(self):
        """10 messages delivered to the provider "sinkmail" (the sink's MX), then ARF
        complaints by two of their recipients: 20% is over suspend_above (10%), so the egress
        address is suspended for that provider, as a throttling reply would do."""
        dns, sink = self.dns(), self.sink()
        y = [f"dns:\n  servers: [\"127.0.0.1:{dns.port}\"]",
             f"delivery:\n  port: {sink.port}",
             "egress:\n  - {address: 127.0.0.1}",
             "shaping:",
             "  providers: [{name: sinkmail, mx_suffix: [sink.test]}]",
             "  complaints: {min_delivered: 5, slow_above: 5%, suspend_above: 10%, for: 2h}",
             f"complaints:\n  address: {FBL}",
             "admin:\n  metrics: \"127.0.0.1:0\""]
        d = Daemon(listeners=[{"name": "mx", "role": "inbound", "tls": "none"},
                              {"name": "trusted", "role": "submission", "tls": "none",
                               "trusted_networks": ["127.0.0.0/8"]}],
                   domains=[{"name": hatotest.DOMAIN, "mailboxes": ["support", "fbl"]},
                            {"name": "sender.test"}],
                   extra_yaml="\n".join(y) + "\n")
        self.adopt(d)
        d.start()
        ids = [self.submit(d, [f"reader{i}@remote.test"], message(f"offer {i}"))
               for i in range(10)]
        self.assertTrue(wait_for(lambda: len(self.originals(sink)) >= 10, timeout=30),
                        d.log_tail())
        self.assertEqual(self.metric(d, "hato_complaint_rate", "sinkmail"), 0.0)
        for i in range(2):
            with smtplib.SMTP("127.0.0.1", d.port("mx"), timeout=30) as s:
                s.sendmail("fbl@feedback.remote.test", [FBL],
                           arf_report(ids[i], f"reader{i}@remote.test"))

        def suspension():
            r = d.cli("warmup", "status", "--json")
            self.assertEqual(r.returncode, 0, r.stderr)
            for line in r.stdout.splitlines():
                for s in json.loads(line).get("suspensions", []):
                    if s["provider"] == "sinkmail":
                        return s
            return None

        self.assertTrue(wait_for(lambda: suspension() is not None, timeout=20),
                        d.cli("warmup", "status", "--json").stdout + d.log_tail())
        self.assertIn("complaint rate 20.00% (2 complaints, 10 delivered) over 10.00%",
                      suspension()["reason"])
        self.assertEqual(self.metric(d, "hato_complaint_rate", "sinkmail"), 0.2)
        lines = [l for l in d.log_text().splitlines() if "complaint rate over the limit" in l]
        self.assertTrue(lines, d.log_tail())
        self.assertIn("provider=sinkmail", lines[-1])
        self.assertIn("action=suspend", lines[-1])
        # One complaint (10%) was at the slow-down line only: a slowdown first.
        self.assertIn("action=\"slow down\"", lines[0])
        # The suspension holds the next message to that provider back.
        qid = self.submit(d, ["reader10@remote.test"], message("offer 10"))
        self.assertTrue(wait_for(lambda: any(
            "suspended" in (a.get("response") or "") for r in (self.show(d, qid) or {}).get(
                "recipients", []) for a in r.get("attempts", [])), timeout=20),
            f"{self.show(d, qid)}\n{d.log_tail()}")
        self.assertEqual(len(self.originals(sink)), 10)


if __name__ == "__main__":
    import unittest
    unittest.main()
