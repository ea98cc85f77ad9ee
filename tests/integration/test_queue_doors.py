"""One door into the queue (issue 20): the mail Hato writes itself enters the queue the way
submitted mail does, so `hato queue tail --json` shows a "received" event for it, naming
its recipient, and /metrics counts it by origin.

Each test starts `queue tail --json` before anything happens, makes the daemon write one
kind of message of its own (a DSN for a 550, a delay notice for a 451 that lasts, a TLS
report asked for on the admin socket), finds that message's queue ID in the `delivery`
log line of its delivery to the sink, and expects the "received" event with that ID and
that recipient. DNS from dnsmasq and the aiosmtpd sink, as in test_delivery.py; the tail
as in test_admin.py.
"""

import json
import os
import re
import urllib.request

import hatotest
from test_admin import METRICS_LINE, Tail, UnixHTTPConnection
from test_delivery import HOSTS, MX, SENDER, DeliveryHarness, message
from hatotest import wait_for

RUA = "tlsrpt@reports.test"


class QueueDoorsTest(DeliveryHarness):

    def relay_with_tail(self, dns_port, sink_port, **kw):
        """A daemon with /metrics on a free port, and a tail subscribed before any mail."""
        d = self.relay(dns_port, sink_port, start=False, **kw)
        d.extra_yaml += 'admin:\n  metrics: "127.0.0.1:0"\n'
        d.write_config()
        d.start()
        before = d.log_text().count("admin tail started")
        tail = Tail(d)
        self.addCleanup(tail.stop)
        ok = wait_for(lambda: d.log_text().count("admin tail started") > before, timeout=5)
        self.assertTrue(ok, "the tail did not subscribe\n" + d.log_tail())
        return d, tail

    def delivered_id(self, d, sink, rcpt, what):
        """The queue ID of the message delivered to `rcpt` (its `delivery` log line)."""
        ok = wait_for(lambda: [l for l in self.deliveries(d, rcpt=rcpt)
                               if l.get("status") == "delivered"], timeout=20)
        self.assertTrue(ok, f"no {what} delivered to {rcpt}\n" + self.state(d, sink))
        lines = [l for l in self.deliveries(d, rcpt=rcpt) if l.get("status") == "delivered"]
        self.assertEqual(len(lines), 1, [l["_line"] for l in lines])
        return lines[0]["id"]

    def expect_received(self, tail, qid, rcpt, what):
        """The tail's "received" event for qid names rcpt (and only rcpt)."""
        got = tail.wait(lambda e: e.get("event") == "received" and e.get("id") == qid,
                        timeout=10)
        self.assertIsNotNone(got, f"no `received` event for the {what} {qid}; the tail saw "
                                  f"{[e for _, e in tail.events()]}")
        rcpts = [e["rcpt"] for _, e in tail.events()
                 if e.get("event") == "received" and e.get("id") == qid]
        self.assertEqual(rcpts, [rcpt], f"the {what}'s `received` events: {rcpts}")

    def queued_count(self, d, origin):
        """hato_queued_messages_total{origin=...} on /metrics."""
        m = METRICS_LINE.search(d.log_text())
        self.assertIsNotNone(m, "no `metrics listening address=...` line\n" + d.log_tail())
        url = f"http://127.0.0.1:{m.group('port')}/metrics"
        with urllib.request.urlopen(url, timeout=10) as resp:
            text = resp.read().decode()
        found = re.search(r'^hato_queued_messages_total\{origin="' + re.escape(origin) +
                          r'"\} (\S+)$', text, re.M)
        self.assertIsNotNone(found, f"no hato_queued_messages_total for {origin}:\n{text}")
        return float(found.group(1))

    # =====================================================================================

    def test_bounce_is_received_with_the_original_sender_as_recipient(self):
        dns, sink = self.dns(), self.sink()
        sink.reply_rcpt("nouser@remote.test", "550 5.1.1 no such user")
        d, tail = self.relay_with_tail(dns.port, sink.port)
        qid = self.submit(d, ["nouser@remote.test"], message("doors bounce"))
        self.expect_received(tail, qid, "nouser@remote.test", "submitted message")
        dsn = self.delivered_id(d, sink, SENDER, "DSN")
        self.assertNotEqual(dsn, qid)
        self.assertRegex(d.log_text(), rf"\sbounce\s.*id={dsn}\s.*original={qid}\b")
        self.expect_received(tail, dsn, SENDER, "DSN")
        self.assertEqual(self.queued_count(d, "bounce"), 1)
        self.assertEqual(self.queued_count(d, "submission"), 1)

    def test_delay_notice_is_received_with_the_original_sender_as_recipient(self):
        dns, sink = self.dns(), self.sink()
        sink.reply_rcpt("slow@remote.test", "451 4.3.0 still busy")
        d, tail = self.relay_with_tail(dns.port, sink.port,
                                       retry={"first": "1s", "max_interval": "2s",
                                              "delay_warning": "3s", "max_age": "1h"})
        qid = self.submit(d, ["slow@remote.test"], message("doors delay"))
        notice = self.delivered_id(d, sink, SENDER, "delay notice")
        self.assertRegex(d.log_text(), rf"\sdelay notice\s.*id={notice}\s.*original={qid}\b")
        self.expect_received(tail, notice, SENDER, "delay notice")
        self.assertEqual(self.queued_count(d, "delay"), 1)
        self.assertEqual(self.queued_count(d, "bounce"), 0)

    def test_tls_report_is_received_with_the_rua_as_recipient(self):
        dns = self.dns(mx=dict(MX, **{"reports.test": [(10, "mx.sink.test")]}), hosts=HOSTS,
                       extra_args=[f"--txt-record=_smtp._tls.remote.test,"
                                   f"v=TLSRPTv1; rua=mailto:{RUA}"])
        sink = self.sink()
        d, tail = self.relay_with_tail(dns.port, sink.port)
        # A session to remote.test's MX (no STARTTLS at the sink) is a day's count to report.
        self.submit(d, ["someone@remote.test"], message("doors tlsrpt"))
        self.expect_messages(sink, 1, d)
        conn = UnixHTTPConnection(os.path.join(d.data_dir, "admin.sock"))
        conn.request("POST", "/v1/tlsrpt/send")
        r = conn.getresponse()
        body = r.read().decode()
        self.assertEqual(r.status, 200, body)
        self.assertGreaterEqual(json.loads(body)["reports"], 1, body)
        report = self.delivered_id(d, sink, RUA, "TLS report")
        self.expect_received(tail, report, RUA, "TLS report")
        self.assertEqual(self.queued_count(d, "tls-report"), 1)


if __name__ == "__main__":
    import unittest
    unittest.main()
