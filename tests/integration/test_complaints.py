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
from test_delivery import DeliveryHarness

FBL = f"fbl@{hatotest.DOMAIN}"
COMPLAINER = "reader@remote.test"
METRICS_LINE = re.compile(r"\bmetrics listening\b.*?\baddress=\"?[^\"\s]+:(?P<port>\d+)")


def arf_report(queue_id):
    """An abuse report as a provider sends it: human part, feedback-report, the original."""
    report = MIMEMultipart("report", report_type="feedback-report")
    report["From"] = "Feedback Loop <fbl@feedback.remote.test>"
    report["To"] = FBL
    report["Subject"] = "Abuse report"
    report.attach(MIMEText("This is an email abuse report for a message you sent.\n"))
    feedback = email.message.Message()
    feedback.set_type("message/feedback-report")
    feedback.set_payload("Feedback-Type: abuse\r\nUser-Agent: RemoteFBL/1.0\r\nVersion: 1\r\n"
                         "Original-Mail-From: <app@sender.test>\r\n"
                         f"Original-Rcpt-To: <{COMPLAINER}>\r\n"
                         "Source-IP: 192.0.2.10\r\n")
    report.attach(feedback)
    original = email.message.EmailMessage()
    original["Received"] = (f"from app.sender.test ([192.0.2.10]) by relay.example.test (Hato) "
                            f"with ESMTP id {queue_id}; Mon, 7 Dec 2026 10:00:00 +0000")
    original["From"] = "app@sender.test"
    original["To"] = COMPLAINER
    original["Subject"] = "Weekly offers"
    original["Message-ID"] = "<offer-1@sender.test>"
    original.set_content("Buy now.\n")
    wrapper = email.message.Message()
    wrapper.set_type("message/rfc822")
    wrapper.attach(original)
    report.attach(wrapper)
    return report.as_bytes(policy=email.policy.SMTP)


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
        self.assertIn('message_id="<offer-1@sender.test>"', line[0])
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


if __name__ == "__main__":
    import unittest
    unittest.main()
