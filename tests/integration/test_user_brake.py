"""The stolen-password brake (issue 22 item 3, limits.brake): a user with a week of baseline
(seeded with `hato user baseline`, as if learned) who sends 20 times that in minutes through
SMTP AUTH with Python's smtplib is frozen; its later mail is accepted and held (`queue ls
--state held`), the postmaster gets one notice in its Maildir naming what was seen and
`hato user thaw NAME`, a `frozen` event reaches `queue tail --json`, its next login is logged
with the client address, and `user thaw` releases the held mail to the sink. A user under its
baseline is not frozen; with action refuse a frozen user's MAIL gets 451 4.7.1."""

import email
import email.policy
import json
import os
import re
import smtplib
import unittest

import hatotest
from hatotest import HatoTestCase, client_context, wait_for
from test_admin import Tail
from test_complaints import FBL, arf_report

try:
    from sinks import Dnsmasq, SmtpSink
    MISSING = None
except ImportError as e:  # pragma: no cover - dev.sh installs it
    MISSING = f"{e} (apt-get install python3-aiosmtpd)"

SENDER = "alice@example.test"
BASELINE = 2  # messages an hour, as if learned over a week
BURST = 20 * BASELINE
RETRY = {"first": "2s", "max_interval": "4s", "max_age": "5m", "delay_warning": "4m"}


def message(user, n):
    return (f"From: {user}@example.test\r\nTo: x@remote.test\r\nSubject: brake {user} {n}\r\n"
            f"\r\nmessage {n}\r\n").encode()


class UserBrakeTest(HatoTestCase):
    def relay(self, action="hold", min_bounces=20, listeners=None, extra=()):
        if MISSING:  # fail, not skip
            self.fail(MISSING)
        self.sink = SmtpSink()
        self.sink.start()
        self.addCleanup(self.sink.stop)
        y = ["delivery:", "  smarthost:", '    host: "127.0.0.1"', f"    port: {self.sink.port}",
             "    tls: none", "  retry:"]
        y += [f"    {k}: {json.dumps(v)}" for k, v in RETRY.items()]
        d = self.own_daemon(
            limits={"brake": {"enabled": True, "floor": 20, "action": action,
                              "min_bounces": min_bounces}},
            allowed_senders={"bob": ["bob@example.test"]},
            domains=[{"name": hatotest.DOMAIN, "mailboxes": ["support", "postmaster", "fbl"]}],
            listeners=listeners, extra_yaml="\n".join(y + list(extra)) + "\n")
        d.start()
        return d

    def login(self, d, user):
        s = smtplib.SMTP("127.0.0.1", d.port("submission"), timeout=10)
        s.starttls(context=client_context())
        s.login(user, self.USERS[user])
        return s

    def baseline(self, d, user, messages):
        r = d.cli("user", "baseline", user, str(messages), str(messages))
        self.assertEqual(r.returncode, 0, r.stderr)

    def held(self, d):
        r = d.cli("queue", "ls", "--state", "held", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]

    def postmaster_mail(self, d):
        new = os.path.join(d.data_dir, "mail", hatotest.DOMAIN, "postmaster", "new")
        names = sorted(os.listdir(new)) if os.path.isdir(new) else []
        out = []
        for name in names:
            with open(os.path.join(new, name), "rb") as f:
                out.append(email.message_from_binary_file(f, policy=email.policy.default))
        return out

    def alice_at_sink(self, n):
        return self.sink.wait_messages(n, pred=lambda m: m.mail_from == SENDER)

    def test_twenty_times_the_baseline_freezes_holds_tells_and_thaw_releases(self):
        d = self.relay()
        tail = Tail(d)
        self.addCleanup(tail.stop)
        self.assertTrue(wait_for(lambda: "admin tail started" in d.log_text(), timeout=5))
        self.baseline(d, "alice", BASELINE)
        self.baseline(d, "bob", 10)

        # bob, under his baseline, is not frozen.
        with self.login(d, "bob") as s:
            for n in range(5):
                self.assertEqual(s.sendmail("bob@example.test", ["y@remote.test"],
                                            message("bob", n)), {})
        # alice: 20 x her baseline in one session, every message accepted (250).
        with self.login(d, "alice") as s:
            for n in range(BURST):
                self.assertEqual(s.sendmail(SENDER, ["x@remote.test"], message("alice", n)), {})

        # The 21st message (over 10 x 2 and over the floor of 20) froze her: the 19 after it
        # are held, hers alone.
        held = self.held(d)
        self.assertEqual(len(held), BURST - 21, held)
        self.assertEqual({m["from"] for m in held}, {SENDER})
        r = d.cli("user", "frozen")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"^alice \S+ 21 messages in the last hour, over 10 x its "
                                   r"usual 2 an hour\n$")

        # The event, through the same outbox and bus as the others.
        got = tail.wait(lambda e: e.get("event") == "frozen", timeout=10)
        self.assertIsNotNone(got, f"no frozen event; the tail saw {tail.events()}")
        self.assertEqual(got[1]["user"], "alice")
        self.assertIn("21 messages in the last hour", got[1]["response"])

        # One notice in the postmaster's Maildir, saying what was seen and how to release.
        self.assertTrue(wait_for(lambda: self.postmaster_mail(d), timeout=20), d.log_tail())
        notices = self.postmaster_mail(d)
        self.assertEqual(len(notices), 1)
        self.assertEqual(notices[0]["Subject"], "User alice frozen by the sending brake")
        body = notices[0].get_body().get_content()
        self.assertIn("21 messages in the last hour, over 10 x its usual 2 an hour", body)
        self.assertIn("hato user thaw alice", body)

        # A frozen user's login is logged with the client's address; its mail is still
        # accepted, and held.
        with self.login(d, "alice") as s:
            self.assertEqual(s.sendmail(SENDER, ["x@remote.test"], message("alice", 99)), {})
        self.assertRegex(d.log_text(), r"login of a frozen user user=alice client=127\.0\.0\.1")
        self.assertEqual(len(self.held(d)), BURST - 20)

        # bob's 5 and alice's first 21 reach the sink; nothing held does.
        self.assertEqual(len(self.sink.wait_messages(5, pred=lambda m: m.mail_from ==
                                                     "bob@example.test")), 5)
        self.assertEqual(len(self.alice_at_sink(21)), 21)

        r = d.cli("user", "thaw", "alice")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(f"{BURST - 20} held messages released", r.stderr)
        self.assertEqual(self.held(d), [])
        self.assertEqual(d.cli("user", "frozen").stdout, "")
        self.assertEqual(len(self.alice_at_sink(BURST + 1)), BURST + 1)
        # Thawed, the burst is forgiven: her next message goes out.
        with self.login(d, "alice") as s:
            self.assertEqual(s.sendmail(SENDER, ["x@remote.test"], message("alice", 100)), {})
        self.assertEqual(self.held(d), [])
        r = d.cli("user", "thaw", "alice")
        self.assertEqual(r.returncode, 1)
        self.assertIn("user alice is not frozen", r.stderr)

    def test_a_jump_in_hard_bounces_freezes(self):
        d = self.relay(min_bounces=5)
        for n in range(6):
            self.sink.reply_rcpt(f"gone{n}@remote.test", "550 5.1.1 no such user")
        # One delivered, then each to an address that does not exist: 5 hard bounces of 6
        # results is over 20%, with the minimum of 5 reached at the fifth.
        with self.login(d, "bob") as s:
            s.sendmail("bob@example.test", ["fine@remote.test"], message("bob", 0))
            self.assertTrue(wait_for(lambda: re.search(r"status=delivered\b.*rcpt=fine@|"
                                                       r"rcpt=fine@.*status=delivered\b",
                                                       d.log_text()), timeout=20), d.log_tail())
            for n in range(6):
                s.sendmail("bob@example.test", [f"gone{n}@remote.test"], message("bob", n + 1))

        def frozen():
            return d.cli("user", "frozen").stdout
        self.assertTrue(wait_for(lambda: frozen(), timeout=30), d.log_tail())
        self.assertRegex(frozen(), r"^bob \S+ 5 hard bounces in 6 delivery results over the last "
                                   r"day \(83\.33%, over the limit of 20%\)\n$")
        self.assertTrue(wait_for(lambda: any(m["Subject"] == "User bob frozen by the sending "
                                             "brake" for m in self.postmaster_mail(d)),
                                 timeout=20), d.log_tail())

    def test_spam_complaints_about_a_users_mail_freeze_it(self):
        # An inbound listener takes the providers' feedback reports at complaints.address;
        # dnsmasq answers its SPF and DNSBL lookups.
        dns = Dnsmasq().start()
        self.addCleanup(dns.cleanup)
        d = self.relay(listeners=hatotest.default_listeners() + [
                           {"name": "mx", "role": "inbound", "tls": "none"}],
                       extra=[f"complaints:\n  address: {FBL}",
                              f'dns:\n  servers: ["127.0.0.1:{dns.port}"]'])
        with self.login(d, "bob") as s:
            for n in range(5):
                s.sendmail("bob@example.test", [f"reader{n}@remote.test"], message("bob", n))
        self.sink.wait_messages(5, pred=lambda m: m.mail_from == "bob@example.test")
        self.assertTrue(wait_for(lambda: d.log_text().count("status=delivered") >= 5,
                                 timeout=20), d.log_tail())

        def frozen():
            return d.cli("user", "frozen").stdout
        # Five readers press "report spam" (the default min_complaints): 5 of 5 delivered is
        # far over 0.3%. Four are not enough.
        with smtplib.SMTP("127.0.0.1", d.port("mx"), timeout=30) as s:
            for n in range(5):
                if n == 4:
                    self.assertTrue(wait_for(lambda: d.log_text().count(" complaint ") >= 4,
                                             timeout=20), d.log_tail())
                    self.assertEqual(frozen(), "", "four complaints are under min_complaints")
                s.sendmail("fbl@feedback.remote.test", [FBL],
                           arf_report(f"06H53RK76G00000{n}", complainer=f"reader{n}@remote.test",
                                      sender="bob@example.test"))
        self.assertTrue(wait_for(lambda: frozen(), timeout=30), d.log_tail())
        self.assertRegex(frozen(), r"^bob \S+ 5 spam complaints about 5 delivered messages over "
                                   r"the last day \(100%, over the limit of 0\.3%\)\n$")
        self.assertTrue(wait_for(lambda: any(m["Subject"] == "User bob frozen by the sending "
                                             "brake" for m in self.postmaster_mail(d)),
                                 timeout=20), d.log_tail())
        # Its next message is held, not sent.
        with self.login(d, "bob") as s:
            s.sendmail("bob@example.test", ["reader9@remote.test"], message("bob", 9))
        self.assertTrue(wait_for(lambda: len(self.held(d)) == 1, timeout=10), d.log_tail())

    def test_with_action_refuse_a_frozen_user_gets_451_at_mail(self):
        d = self.relay(action="refuse")
        self.baseline(d, "alice", BASELINE)
        with self.login(d, "alice") as s:
            for n in range(21):
                self.assertEqual(s.sendmail(SENDER, ["x@remote.test"], message("alice", n)), {})
            with self.assertRaises(smtplib.SMTPSenderRefused) as refused:
                s.sendmail(SENDER, ["x@remote.test"], message("alice", 21))
        self.assertEqual(refused.exception.smtp_code, 451)
        self.assertRegex(refused.exception.smtp_error.decode(),
                         r"^4\.7\.1 user alice is frozen by the sending brake")
        self.assertEqual(self.held(d), [])
        # The freeze survives a restart.
        d.stop(check=True)
        d.start()
        with self.login(d, "alice") as s:
            with self.assertRaises(smtplib.SMTPSenderRefused):
                s.sendmail(SENDER, ["x@remote.test"], message("alice", 22))
        self.assertEqual(d.cli("user", "thaw", "alice").returncode, 0)
        with self.login(d, "alice") as s:
            self.assertEqual(s.sendmail(SENDER, ["x@remote.test"], message("alice", 23)), {})


if __name__ == "__main__":
    unittest.main()
