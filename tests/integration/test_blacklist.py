"""Blacklist monitoring (issue 8) against the real daemon.

dnsmasq serves a test blocklist: bl.test lists 127.0.0.2 (an A record 127.0.0.2 and a TXT
reason at 2.0.0.127.bl.test) and nothing else; err.test answers every query with
127.255.255.254, the way big lists say "query refused". Egress addresses 127.0.0.1 and
127.0.0.2 are bound on loopback, the aiosmtpd sink sees the peer address of each connection,
and a local http.server takes the webhook's POSTs. Listings come and go by restarting dnsmasq
on the same port with other records.
"""

import http.server
import json
import re
import threading
import time
import urllib.request

from hatotest import Daemon, wait_for
from test_admin import METRICS_LINE
from test_delivery import DeliveryHarness, message, SENDER

REASON = "Listed by bl.test: see http://bl.test/lookup?ip=127.0.0.2"
LISTING = ["--address=/2.0.0.127.bl.test/127.0.0.2",
           f"--txt-record=2.0.0.127.bl.test,{REASON}"]  # argv: no quotes
REFUSING = ["--address=/err.test/127.255.255.254"]
POSTMASTER = "postmaster@sender.test"


class Webhook:
    """An HTTP listener on a free loopback port that records every POSTed JSON body."""

    def __init__(self):
        self.posts = []
        self._cond = threading.Condition()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with outer._cond:
                    outer.posts.append({"path": self.path,
                                        "type": self.headers.get("Content-Type"),
                                        "body": json.loads(body)})
                    outer._cond.notify_all()
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def events(self, **match):
        with self._cond:
            return [p["body"] for p in self.posts
                    if all(p["body"].get(k) == v for k, v in match.items())]

    def wait(self, timeout=15, **match):
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                got = [p["body"] for p in self.posts
                       if all(p["body"].get(k) == v for k, v in match.items())]
                if got or time.monotonic() > deadline:
                    return got
                self._cond.wait(0.2)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class BlacklistTest(DeliveryHarness):

    def webhook(self):
        w = Webhook()
        self.addCleanup(w.stop)
        return w

    def monitored(self, dns, sink, webhook=None, zones=("bl.test", "err.test"),
                  clean_checks=2, extra=()):
        d = self.relay(dns.port, sink.port, start=False)
        y = ["egress:",
             "  - {address: 127.0.0.1, helo: mail1.sender.test}",
             "  - {address: 127.0.0.2, helo: mail2.sender.test}",
             # One message per connection: every message chooses its address afresh.
             'shaping: {"default": {"messages_per_connection": 1}}',
             "admin:",
             '  metrics: "127.0.0.1:0"',
             "blacklist_monitor:",
             "  interval: 1s",
             f"  zones: {json.dumps(list(zones))}",
             "  domain_zones: [dbl.test]",
             f"  clean_checks: {clean_checks}",
             f"  notify: {POSTMASTER}"]
        if webhook:
            y.append(f"  webhook: http://127.0.0.1:{webhook.port}/hato")
        y += list(extra)
        d.extra_yaml += "\n".join(y) + "\n"
        d.write_config()
        d.start()
        return d

    def status(self, d):
        r = d.cli("blacklist", "status", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        return [json.loads(l) for l in r.stdout.splitlines() if l.strip()]

    def entry(self, status, address, zone):
        for e in status:
            if e.get("check") == "dnsbl" and e["address"] == address and e["zone"] == zone:
                return e
        self.fail(f"no line for {address} on {zone} in {status}")

    def ptr(self, status, address):
        return next(e for e in status if e.get("check") == "ptr" and e["address"] == address)

    def wait_status(self, d, pred, what, timeout=15):
        last = []

        def check():
            last[:] = self.status(d)
            try:
                return pred(last)
            except (StopIteration, KeyError, AssertionError):
                return False
        ok = wait_for(check, timeout=timeout, interval=0.2)
        self.assertTrue(ok, f"{what} within {timeout}s; status:\n" +
                        "\n".join(json.dumps(e) for e in last) + "\n" + d.log_tail())

    def send(self, d, n, tag):
        return [self.submit(d, [f"{tag}{i}@remote.test"], message(f"{tag} {i}"))
                for i in range(n)]

    def peers_of(self, sink, tag):
        return [m.peer[0] for m in self.originals(sink) if any(r.startswith(tag)
                                                               for r in m.rcpt_tos)]

    def metric(self, d, line_re):
        port = int(METRICS_LINE.search(d.log_text()).group("port"))
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()
        m = re.search(line_re, text.decode(), re.M)
        return m.group(1) if m else None

    # ----------------------------------------------------------------------------------

    def test_listed_address_leaves_rotation_and_returns_after_clean_checks(self):
        dns = self.dns(extra_args=LISTING + REFUSING)
        sink, hook = self.sink(), self.webhook()
        d = self.monitored(dns, sink, hook)

        # Within one interval: 127.0.0.2 listed with the list's reason, 127.0.0.1 clean.
        self.wait_status(
            d, lambda s: self.entry(s, "127.0.0.2", "bl.test")["listed"]
            and self.entry(s, "127.0.0.1", "bl.test")["last_checked"] is not None,
            "127.0.0.2 listed on bl.test and 127.0.0.1 checked")
        st = self.status(d)
        listed = self.entry(st, "127.0.0.2", "bl.test")
        self.assertEqual(listed["reason"], REASON, listed)
        self.assertIsNotNone(listed["since"], listed)
        self.assertIsNone(listed["error"], listed)
        self.assertFalse(listed["in_rotation"], listed)
        clean = self.entry(st, "127.0.0.1", "bl.test")
        self.assertFalse(clean["listed"], clean)
        self.assertIsNone(clean["error"], clean)
        self.assertIsNone(clean["reason"], clean)
        self.assertIsNotNone(clean["since"], clean)
        self.assertTrue(clean["in_rotation"], clean)
        # The sending domains are checked on the domain zones.
        dbl = [e for e in st if e.get("check") == "dbl"]
        self.assertIn("sender.test", [e["domain"] for e in dbl], st)
        self.assertTrue(all(not e["listed"] for e in dbl), dbl)
        # Reverse DNS: dnsmasq's host records give 127.0.0.1 the PTR mx.sink.test, which
        # points back.
        p = self.ptr(st, "127.0.0.1")
        self.assertIn("mx.sink.test", p["ptr"], p)
        self.assertTrue(p["forward_confirmed"], p)
        self.assertIsNone(p["error"], p)

        # 127.255.255.254 from err.test is an error of the list, not a listing.
        for address in ("127.0.0.1", "127.0.0.2"):
            e = self.entry(st, address, "err.test")
            self.assertFalse(e["listed"], e)
            self.assertIsNotNone(e["error"], e)
            self.assertIn("127.255.255.254", e["error"], e)
            self.assertIsNone(e["since"], f"never answered, so never clean either: {e}")

        # Logged, in the metrics, POSTed to the webhook, mailed to the postmaster.
        self.assertRegex(d.log_text(), r"blacklisted\s.*address=\"?127\.0\.0\.2.*zone=\"?bl\.test")
        self.assertEqual(self.metric(d, r'^hato_blacklist_listed\{address="127\.0\.0\.2",'
                                        r'zone="bl\.test"\} (\S+)$'), "1")
        self.assertEqual(self.metric(d, r'^hato_blacklist_listed\{address="127\.0\.0\.1",'
                                        r'zone="bl\.test"\} (\S+)$'), "0")
        self.assertEqual(self.metric(d, r'^hato_blacklist_listed\{address="127\.0\.0\.1",'
                                        r'zone="err\.test"\} (\S+)$'), "0")
        posts = hook.wait(event="listed", address="127.0.0.2", zone="bl.test")
        self.assertEqual(len(posts), 1, hook.posts)
        self.assertEqual(posts[0]["reason"], REASON)
        self.assertFalse(posts[0]["in_rotation"])
        self.assertEqual(hook.posts[0]["path"], "/hato")
        self.assertEqual(hook.posts[0]["type"], "application/json")
        self.assertEqual(hook.events(event="listed", address="127.0.0.1"), [], hook.posts)
        self.assertEqual(hook.events(zone="err.test"), [], "an error is no listing")
        notices = self.expect_messages(sink, 1, d, pred=lambda m: POSTMASTER in m.rcpt_tos,
                                       what="postmaster notices")
        notice = notices[0]
        self.assertEqual(notice.mail_from, "", "a notice has the null sender")
        self.assertIn("MAILER-DAEMON@example.test", str(notice.header("From")))
        body = notice.parsed().get_content()
        self.assertIn("127.0.0.2 is listed on bl.test", body)
        self.assertIn(REASON, body)
        self.assertIn("left the egress rotation", body)

        # Mail sent now leaves from 127.0.0.1 only.
        self.send(d, 12, "first")
        self.expect_messages(sink, 12, d, pred=lambda m: m.rcpt_tos[0].startswith("first"))
        self.assertEqual(set(self.peers_of(sink, "first")), {"127.0.0.1"})

        r = d.cli("blacklist", "status")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"127\.0\.0\.2\s+bl\.test\s+LISTED.*OUT")
        self.assertIn(REASON, r.stdout)
        r = d.cli("blacklist", "check")
        self.assertEqual(r.returncode, 1, "check exits 1 while something is listed\n" + r.stdout)

        # The list drops 127.0.0.2: first "delisted" (still out of rotation: one clean check
        # of two), then "returned" after the second clean check.
        dns.extra_args = list(REFUSING)
        dns.restart()
        returned = hook.wait(event="returned", address="127.0.0.2", zone="bl.test")
        self.assertEqual(len(returned), 1, hook.posts)
        delisted = hook.events(event="delisted", address="127.0.0.2", zone="bl.test")
        self.assertEqual(len(delisted), 1, hook.posts)
        self.assertFalse(delisted[0]["in_rotation"],
                         "after one clean check of two it stays out")
        self.assertTrue(returned[0]["in_rotation"])
        order = [p["body"]["event"] for p in hook.posts if p["body"]["address"] == "127.0.0.2"
                 and p["body"]["zone"] == "bl.test"]
        self.assertEqual(order, ["listed", "delisted", "returned"])
        e = self.entry(self.status(d), "127.0.0.2", "bl.test")
        self.assertFalse(e["listed"], e)
        self.assertTrue(e["in_rotation"], e)

        # Back in rotation: mail leaves from both addresses again.
        self.send(d, 20, "second")
        self.expect_messages(sink, 20, d, pred=lambda m: m.rcpt_tos[0].startswith("second"))
        self.assertEqual(set(self.peers_of(sink, "second")), {"127.0.0.1", "127.0.0.2"})

    def test_state_survives_a_restart(self):
        dns, sink = self.dns(extra_args=LISTING), self.sink()
        d = self.monitored(dns, sink, zones=("bl.test",))
        self.wait_status(d, lambda s: self.entry(s, "127.0.0.2", "bl.test")["listed"],
                         "127.0.0.2 listed")
        before = self.entry(self.status(d), "127.0.0.2", "bl.test")
        d.stop(check=True)
        d.start()
        after = self.entry(self.status(d), "127.0.0.2", "bl.test")
        self.assertTrue(after["listed"], after)
        self.assertEqual(after["since"], before["since"], "the listing's start is kept")
        self.assertFalse(after["in_rotation"], after)
        # Checked again after the restart, still the same listing.
        self.wait_status(d, lambda s: self.entry(s, "127.0.0.2", "bl.test")["last_checked"]
                         > before["last_checked"], "a new check after the restart")
        self.assertEqual(self.entry(self.status(d), "127.0.0.2", "bl.test")["since"],
                         before["since"])
        # One listing, one notice: the restart did not make it new.
        time.sleep(1)
        self.assertEqual(len(sink.wait_messages(
            1, timeout=5, pred=lambda m: POSTMASTER in m.rcpt_tos)), 1)
        self.assertEqual(len([m for m in sink.snapshot() if POSTMASTER in m.rcpt_tos]), 1)

    def test_every_address_listed_keeps_sending_unless_configured(self):
        both = LISTING + ["--address=/1.0.0.127.bl.test/127.0.0.3"]
        dns, sink = self.dns(extra_args=both), self.sink()
        d = self.monitored(dns, sink, zones=("bl.test",))
        self.wait_status(d, lambda s: self.entry(s, "127.0.0.1", "bl.test")["listed"]
                         and self.entry(s, "127.0.0.2", "bl.test")["listed"], "both listed")
        st = self.status(d)
        self.assertTrue(all(self.entry(st, a, "bl.test")["in_rotation"]
                            for a in ("127.0.0.1", "127.0.0.2")),
                        "keep_last_address (default): never no address at all")
        self.send(d, 2, "kept")
        self.expect_messages(sink, 2, d, pred=lambda m: m.rcpt_tos[0].startswith("kept"))

        d2 = self.monitored(dns, sink, zones=("bl.test",),
                            extra=["  keep_last_address: false"])
        self.wait_status(d2, lambda s: not self.entry(s, "127.0.0.1", "bl.test")["in_rotation"]
                         and not self.entry(s, "127.0.0.2", "bl.test")["in_rotation"],
                         "both out of rotation")
        qid = self.submit(d2, ["waits@remote.test"], message("waits"))
        ok = wait_for(lambda: (self.show(d2, qid) or {}).get("attempts", 0) >= 1, timeout=10)
        self.assertTrue(ok, self.state(d2, sink, qid))
        self.assertIn("out of rotation", self.show(d2, qid)["last_response"])
        self.assertFalse(any("waits@remote.test" in m.rcpt_tos for m in sink.snapshot()))

    def test_cli_exit_statuses(self):
        dns, sink = self.dns(), self.sink()
        d = self.relay(dns.port, sink.port)
        r = d.cli("blacklist", "status")
        self.assertEqual(r.returncode, 1, r)
        self.assertIn("not configured", r.stderr)
        r = d.cli("blacklist", "frobnicate")
        self.assertEqual(r.returncode, 2, r)
        stopped = Daemon(extra_yaml="blacklist_monitor: {zones: [bl.test]}\n")
        self.addCleanup(stopped.cleanup)
        r = stopped.cli("blacklist", "status", "--json")
        self.assertEqual(r.returncode, 3, r)
        bad = Daemon(extra_yaml="blacklist_monitor: {webhook: \"ftp://h.test/x\"}\n")
        self.addCleanup(bad.cleanup)
        r = bad.cli("config", "check")
        self.assertEqual(r.returncode, 2, r)
        self.assertRegex(r.stderr, r"hato\.yaml:\d+:\d+: .*not an http:// or https:// URL")
        r = d.cli("blacklist", "check", "--json")
        self.assertEqual(r.returncode, 1, r)
