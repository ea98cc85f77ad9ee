"""Undeliverable bounces (issue 21, item 6): a DSN whose own delivery fails goes to the
postmaster of the sender's domain, as Postfix's double bounce does, instead of vanishing.

An application sends from noreply@example.test, an address of a local domain that is no
mailbox; the remote sink refuses the recipient, so Hato writes a DSN to noreply@..., which
local delivery refuses in turn. The postmaster mailbox must then hold a report that carries
the undeliverable DSN, and the log and the tail must say where it went."""

import email
import email.policy
import os

import hatotest
from hatotest import wait_for
from test_delivery import DeliveryHarness, message
from test_inbound import message_in

NOREPLY = f"noreply@{hatotest.DOMAIN}"


class DoubleBounceTest(DeliveryHarness):
    def test_a_bounce_for_a_sender_that_is_no_mailbox_reaches_the_postmaster(self):
        dns, sink = self.dns(), self.sink()
        sink.reply_rcpt("nouser@remote.test", "550 5.1.1 no such user")
        d = self.relay(dns.port, sink.port,
                       domains=[{"name": hatotest.DOMAIN, "mailboxes": ["support", "postmaster"]}])
        qid = self.submit(d, ["nouser@remote.test"], message("double bounce"), sender=NOREPLY)

        new = os.path.join(d.data_dir, "mail", hatotest.DOMAIN, "postmaster", "new")
        found = wait_for(lambda: message_in(new, qid), timeout=30, interval=0.2)
        self.assertIsNotNone(found, f"nothing about {qid} in {new}\n" + d.log_tail())
        report = email.message_from_bytes(found, policy=email.policy.default)
        self.assertEqual(report["To"].addresses[0].addr_spec, f"postmaster@{hatotest.DOMAIN}")
        self.assertEqual(report.get_content_type(), "multipart/report")
        status = [p for p in report.walk() if p.get_content_type() == "message/delivery-status"]
        self.assertTrue(status, found[:2000])
        text = found.decode("utf-8", "replace")
        self.assertIn(f"Final-Recipient: rfc822; {NOREPLY}", text)  # the DSN that failed
        self.assertIn("nouser@remote.test", text)  # inside it, the original failure

        log = d.log_text()
        self.assertIn("undeliverable report sent to the postmaster", log)
        lines = [l for l in log.splitlines() if "undeliverable report sent" in l]
        self.assertIn(f"failed={NOREPLY}", lines[0])
        self.assertIn(f"to=postmaster@{hatotest.DOMAIN}", lines[0])
        # Exactly one report: the double bounce itself is never bounced again.
        names = os.listdir(new)
        self.assertEqual(len(names), 1, names)


if __name__ == "__main__":
    import unittest
    unittest.main()
