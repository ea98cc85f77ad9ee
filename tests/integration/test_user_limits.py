"""Per-user limits (issue 22 item 2, limits.users): a submitting user over its quota gets
451 4.7.1 with a sentence that names the limit and when it resets, from Python's smtplib as an
application would meet it; the counts survive a restart; the metric and the log say who."""

import re
import smtplib
import time
import unittest
import urllib.request

from hatotest import HatoTestCase, client_context
from test_admin import METRICS_LINE

SENDER = "alice@example.test"


def message(n):
    return (f"From: {SENDER}\r\nTo: x@remote.test\r\nSubject: limits {n}\r\n\r\n"
            f"message {n}\r\n").encode()


def clear_of_minute_end():
    """A 5/m quota counts per clock minute: start early in one, so the six messages and the
    restart below fall in the same minute."""
    while time.gmtime().tm_sec > 20:
        time.sleep(1)


class UserLimitsTest(HatoTestCase):
    def setUp(self):
        super().setUp()
        self.d = self.own_daemon(
            limits={"users": {"default": {"messages": "5/m"},
                              "bob": {"recipients": ["3/h", "1000/d"]}}},
            allowed_senders={"bob": ["bob@example.test"]},
            extra_yaml='admin:\n  metrics: "127.0.0.1:0"\n')
        self.d.start()

    def send(self, user, password, sender, rcpts, n):
        with smtplib.SMTP("127.0.0.1", self.d.port("submission"), timeout=10) as s:
            s.starttls(context=client_context())
            s.login(user, password)
            return s.sendmail(sender, rcpts, message(n))

    def metric(self, labels):
        m = METRICS_LINE.search(self.d.log_text())
        with urllib.request.urlopen(f"http://127.0.0.1:{m.group('port')}/metrics",
                                    timeout=10) as r:
            text = r.read().decode()
        found = re.search(r"^hato_user_limited_total\{" + re.escape(labels) + r"\} (\S+)$",
                          text, re.M)
        return float(found.group(1)) if found else 0.0

    def test_the_sixth_message_in_a_minute_is_refused_and_the_count_survives_a_restart(self):
        clear_of_minute_end()
        for n in range(5):
            self.assertEqual(self.send("alice", self.USERS["alice"], SENDER,
                                       ["x@remote.test"], n), {})
        with self.assertRaises(smtplib.SMTPSenderRefused) as refused:
            self.send("alice", self.USERS["alice"], SENDER, ["x@remote.test"], 6)
        self.assertEqual(refused.exception.smtp_code, 451)
        text = refused.exception.smtp_error.decode()
        self.assertRegex(text, r"^4\.7\.1 user alice has reached its limit of 5 messages per "
                               r"minute .*resets at \d\d:\d\d:00 UTC$")
        self.assertEqual(self.metric('user="alice",limit="5/m messages"'), 1)
        self.assertIn("user over its limit user=alice", self.d.log_text())

        self.d.stop(check=True)
        self.d.start()
        with self.assertRaises(smtplib.SMTPSenderRefused) as again:
            self.send("alice", self.USERS["alice"], SENDER, ["x@remote.test"], 7)
        self.assertEqual(again.exception.smtp_code, 451)
        # Another user has a count of its own.
        self.assertEqual(self.send("bob", self.USERS["bob"], "bob@example.test",
                                   ["y@remote.test"], 8), {})

    def test_recipients_over_the_quota_are_refused_one_by_one(self):
        rcpts = [f"r{i}@remote.test" for i in range(4)]
        refused = self.send("bob", self.USERS["bob"], "bob@example.test", rcpts, 1)
        self.assertEqual(list(refused), ["r3@remote.test"])
        code, text = refused["r3@remote.test"]
        self.assertEqual(code, 451)
        self.assertIn(b"limit of 3 recipients per hour", text)
        with self.assertRaises(smtplib.SMTPRecipientsRefused):
            self.send("bob", self.USERS["bob"], "bob@example.test", ["r4@remote.test"], 2)
        # bob's own entry names no message quota, so default's 5/m applies to his messages.
        self.assertEqual(self.metric('user="bob",limit="3/h recipients"'), 2)


if __name__ == "__main__":
    unittest.main()
