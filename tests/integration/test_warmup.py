"""IP warm-up and traffic shaping (issue 7) against the real daemon: egress
addresses bound on loopback (127.0.0.1, 127.0.0.2), dnsmasq serving MX records that
look like a provider's (gmail-smtp-in.l.google.com), an aiosmtpd sink that sees the
peer address of every connection."""

import datetime
import json
import signal
import time

import hatotest
from hatotest import RawSMTP, wait_for
from test_delivery import MX, HOSTS, SENDER, DeliveryHarness, dot_stuff, message

GMX = dict(MX, **{"gmail.test": [(5, "gmail-smtp-in.l.google.com")]})
GHOSTS = dict(HOSTS, **{"gmail-smtp-in.l.google.com": "127.0.0.1"})


def utc_date(days_ago=0):
    d = datetime.datetime.now(datetime.timezone.utc).date() - datetime.timedelta(days=days_ago)
    return d.isoformat()


class WarmupTest(DeliveryHarness):

    def warm_daemon(self, dns, sink, egress, shaping=None, data_from=None):
        y = ["egress:"]
        for e in egress:
            y.append(f"  - {json.dumps(e)}")
        if shaping:
            y.append(f"shaping: {json.dumps(shaping)}")
        d = self.relay(dns.port, sink.port, start=False)
        d.extra_yaml += "\n".join(y) + "\n"
        d.write_config()
        d.start()
        return d

    def send(self, d, n, rcpt_domain="remote.test"):
        return [self.submit(d, [f"user{i}@{rcpt_domain}"], message(f"warm {i}"))
                for i in range(n)]

    def status(self, d):
        r = d.cli("warmup", "status", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        return [json.loads(l) for l in r.stdout.splitlines() if l.strip()]

    def test_day_one_allowance_holds_across_restart(self):
        dns, sink = self.dns(), self.sink()
        d = self.warm_daemon(dns, sink, [{"address": "127.0.0.1", "helo": "mail1.sender.test",
                                     "warmup": {"start": utc_date(), "daily": [5, 7]}}])
        ids = self.send(d, 12)
        wait_for(lambda: len(self.originals(sink)) >= 5, timeout=15)
        wait_for(lambda: all(m.get("attempts", 0) >= 1 for m in d.queue_ls())
                 and len(d.queue_ls()) == 7, timeout=15)
        time.sleep(1)
        self.assertEqual(len(self.originals(sink)), 5, "exactly the day-1 allowance is sent")
        waiting = d.queue_ls()
        self.assertEqual(len(waiting), 7)
        for m in waiting:
            self.assertIn("warm-up limit", m["last_response"], m)
            self.assertEqual(m["state"], "deferred", m)
        # Deferred to the next UTC day, never bounced.
        tomorrow = utc_date(-1)
        for m in waiting:
            self.assertTrue(m["next_attempt"].startswith(tomorrow), m)
        st = self.status(d)
        self.assertEqual(st[0]["address"], "127.0.0.1")
        self.assertEqual(st[0]["day"], 1)
        self.assertEqual(st[0]["allowance"], 5)
        self.assertEqual(st[0]["sent_today"], 5)

        # A restart does not reset the count: a flush tries again and is refused.
        d.stop(check=True)
        d.start()
        r = d.cli("queue", "flush")
        self.assertEqual(r.returncode, 0, r.stderr)
        time.sleep(2)
        self.assertEqual(len(self.originals(sink)), 5, "still 5 after a restart and a flush")
        self.assertEqual(self.status(d)[0]["sent_today"], 5)
        self.assertEqual(self.dsns(sink), [], "warm-up never bounces")
        self.assertTrue(all(m.peer[0] == "127.0.0.1" for m in self.originals(sink)))
        self.assertEqual({m.helo for m in self.originals(sink)}, {"mail1.sender.test"})
        del ids

    def test_reload_with_a_higher_allowance_sends_the_waiting_mail(self):
        # Issue 28 item 12: mail waiting for "warm-up limit" is considered again at a reload,
        # not at the next UTC day.
        dns, sink = self.dns(), self.sink()
        d = self.warm_daemon(dns, sink, [{"address": "127.0.0.1",
                                          "warmup": {"start": utc_date(), "daily": [3]}}])
        self.send(d, 6)
        wait_for(lambda: len(self.originals(sink)) >= 3, timeout=15)
        wait_for(lambda: len(d.queue_ls()) == 3
                 and all("warm-up limit" in m.get("last_response", "") for m in d.queue_ls()),
                 timeout=15)
        self.assertEqual(len(self.originals(sink)), 3, "the allowance of 3 is sent")
        tomorrow = utc_date(-1)
        self.assertTrue(all(m["next_attempt"].startswith(tomorrow) for m in d.queue_ls()),
                        d.queue_ls())
        d.extra_yaml = d.extra_yaml.replace('"daily": [3]', '"daily": [10]')
        d.write_config()
        offset = len(d.log_text())
        d.proc.send_signal(signal.SIGHUP)
        self.assertTrue(wait_for(lambda: "reloaded" in d.log_text()[offset:], timeout=10),
                        d.log_tail())
        self.assertNotIn("needs a restart", d.log_text()[offset:])
        self.assertTrue(wait_for(lambda: len(self.originals(sink)) >= 6, timeout=60),
                        f"the waiting mail goes out after the reload: {d.queue_ls()}\n"
                        + d.log_tail())
        self.assertEqual(self.status(d)[0]["allowance"], 10)
        self.assertEqual(self.status(d)[0]["sent_today"], 6)

    def test_day_two_sends_the_day_two_allowance(self):
        dns, sink = self.dns(), self.sink()
        d = self.warm_daemon(dns, sink, [{"address": "127.0.0.1",
                                     "warmup": {"start": utc_date(1), "daily": [5, 7]}}])
        self.send(d, 12)
        wait_for(lambda: len(self.originals(sink)) >= 7, timeout=15)
        wait_for(lambda: len(d.queue_ls()) == 5, timeout=15)
        time.sleep(1)
        self.assertEqual(len(self.originals(sink)), 7)
        self.assertEqual(self.status(d)[0]["day"], 2)

    def test_gmail_complaint_suspends_google_only(self):
        dns, sink = self.dns(mx=GMX, hosts=GHOSTS), self.sink()
        sink.reply_rcpt("victim@gmail.test",
                        "421 4.7.28 Our system has detected an unusual rate of mail")
        d = self.warm_daemon(dns, sink, [{"address": "127.0.0.1"}])
        self.submit(d, ["victim@gmail.test"], message("to gmail"))
        wait_for(lambda: any(s["suspensions"] for s in self.status(d)), timeout=15)
        st = self.status(d)[0]
        self.assertEqual([s["provider"] for s in st["suspensions"]], ["google"], st)
        # Mail to other domains keeps flowing from the same address.
        self.submit(d, ["someone@remote.test"], message("to remote"))
        wait_for(lambda: any("someone@remote.test" in m.rcpt_tos for m in self.originals(sink)),
                 timeout=15)
        # More mail for Google waits with the suspension as its reason.
        qid = self.submit(d, ["other@gmail.test"], message("to gmail again"))
        wait_for(lambda: (self.show(d, qid) or {}).get("attempts", 0) >= 1, timeout=15)
        self.assertIn("suspended", self.show(d, qid)["last_response"])
        self.assertFalse(any("other@gmail.test" in m.rcpt_tos for m in self.originals(sink)))

    def test_two_addresses_split_by_weight(self):
        dns, sink = self.dns(), self.sink()
        d = self.warm_daemon(dns, sink,
                        [{"address": "127.0.0.1", "weight": 1},
                         {"address": "127.0.0.2", "weight": 3}],
                        shaping={"default": {"messages_per_connection": 1}})
        n = 40
        self.send(d, n)
        wait_for(lambda: len(self.originals(sink)) >= n, timeout=30)
        peers = [m.peer[0] for m in self.originals(sink)]
        self.assertEqual(set(peers), {"127.0.0.1", "127.0.0.2"}, peers)
        share = peers.count("127.0.0.2") / len(peers)
        self.assertGreater(share, 0.5, f"127.0.0.2 has weight 3 of 4: {share:.2f}")
        self.assertLess(share, 0.95, f"127.0.0.1 still carries some: {share:.2f}")

    def send_batched(self, d, n, per_session=50):
        """n one-recipient messages to remote.test, many transactions per session."""
        sent = 0
        while sent < n:
            with RawSMTP(d.port("trusted")) as c:
                c.greeting()
                c.ehlo()
                for _ in range(min(per_session, n - sent)):
                    self.assertEqual(c.cmd(f"MAIL FROM:<{SENDER}>").code, 250)
                    self.assertEqual(c.cmd(f"RCPT TO:<user{sent}@remote.test>").code, 250)
                    self.assertEqual(c.cmd("DATA").code, 354)
                    c.send(dot_stuff(message(f"share {sent}")) + b".\r\n")
                    self.assertEqual(c.reply().code, 250)
                    sent += 1
                c.cmd("QUIT")

    def test_weights_are_shares_of_messages_over_reused_connections(self):
        # Issue 28 item 5: the egress is chosen per message, then an idle connection of
        # that egress carries it (or a new one opens). 1,000 messages, weights 1:3.
        dns, sink = self.dns(), self.sink()
        d = self.warm_daemon(dns, sink,
                             [{"address": "127.0.0.2", "weight": 1},
                              {"address": "127.0.0.3", "weight": 3}],
                             shaping={"default": {"rate": "1000/s"}})
        n = 1000
        self.send_batched(d, n)
        self.assertTrue(wait_for(lambda: len(self.originals(sink)) >= n, timeout=120),
                        f"{len(self.originals(sink))} of {n} delivered\n" + d.log_tail())
        peers = [m.peer[0] for m in self.originals(sink)]
        counts = {ip: peers.count(ip) for ip in set(peers)}
        share = {ip: 100.0 * c / n for ip, c in counts.items()}
        self.assertEqual(set(counts), {"127.0.0.2", "127.0.0.3"}, counts)
        self.assertLessEqual(abs(share["127.0.0.2"] - 25), 5, f"weight 1 of 4: {counts}")
        self.assertLessEqual(abs(share["127.0.0.3"] - 75), 5, f"weight 3 of 4: {counts}")
        connections = {}
        for e in sink.connections():
            connections[e[2][0]] = connections.get(e[2][0], 0) + 1
        for ip, c in counts.items():
            self.assertLess(connections[ip] * 5, c,
                            f"connections are reused: {connections} for {counts}")
