"""MTA-STS (RFC 8461, issue 14): policies fetched over HTTPS decide where and how mail goes.

The parts are real: dnsmasq serves the MX, the `_mta-sts` TXT record and the address of
mta-sts.sts.test (127.0.0.1); a Python HTTPS server serves the policy with a certificate
from a CA the test makes with openssl (Hato trusts it through `delivery.ca_file`); the MX
is an aiosmtpd sink offering STARTTLS with a certificate from the same CA, for the MX's
name (mx.sts.test) or for another name. Policy hosts are asked on port 443 in production;
`delivery.mta_sts_port` points Hato at the test server's port instead.
"""

from hatotest import wait_for
from test_delivery import HOSTS, MISSING, MX, DeliveryHarness, message

try:
    from sinks import HttpsServer, TestCa
except ImportError:  # reported by DeliveryHarness.setUp through MISSING
    pass

DOMAIN = "sts.test"
MX_NAME = "mx.sts.test"
POLICY_HOST = "mta-sts.sts.test"
POLICY_PATH = "/.well-known/mta-sts.txt"
RCPT = "user@sts.test"
TXT = f"--txt-record=_mta-sts.{DOMAIN},v=STSv1; id=20240101T000000;"


def policy(mode, *mx, max_age=86400):
    lines = ["version: STSv1", f"mode: {mode}"] + [f"mx: {m}" for m in mx]
    return ("\r\n".join(lines + [f"max_age: {max_age}"]) + "\r\n").encode()


class MtaStsTest(DeliveryHarness):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.ca = None
        if MISSING:
            return
        cls.ca = TestCa()
        cls.web_ctx = cls.ca.server_context(POLICY_HOST)
        cls.mx_ctx = cls.ca.server_context(MX_NAME)
        cls.wrong_ctx = cls.ca.server_context("wrong.sts.test")

    @classmethod
    def tearDownClass(cls):
        if cls.ca is not None:
            cls.ca.cleanup()
        super().tearDownClass()

    # -- parts ---------------------------------------------------------------------------
    def web(self, body, content_type="text/plain", status=200, ctx=None):
        w = HttpsServer(ctx or self.web_ctx, {POLICY_PATH: (status, content_type, body)})
        w.start()
        self.addCleanup(w.stop)
        return w

    def zone(self, txt=True):
        return self.dns(mx=dict(MX, **{DOMAIN: [(10, MX_NAME)]}),
                        hosts=dict(HOSTS, **{MX_NAME: "127.0.0.1", POLICY_HOST: "127.0.0.1"}),
                        extra_args=[TXT] if txt else [])

    def mx_sink(self, ctx):
        return self.sink(starttls=True, tls_context=ctx)

    def sts_relay(self, dns, sink, web):
        return self.relay(dns.port, sink.port,
                          delivery={"ca_file": self.ca.cert, "mta_sts_port": web.port})

    def outcome(self, d, qid, sink=None, timeout=20):
        """The first delivery log line of qid (waits for it)."""
        got = []

        def seen():
            got[:] = self.deliveries(d, qid=qid)
            return bool(got)
        self.assertTrue(wait_for(seen, timeout=timeout, interval=0.1),
                        f"no delivery line for {qid}\n" + self.state(d, sink, qid))
        return got[0]

    def policy_requests(self, web):
        return [r for r in web.requests if r[0] == "GET" and r[1] == POLICY_PATH]

    # -- enforce --------------------------------------------------------------------------
    def test_enforce_delivers_to_matching_certificate(self):
        dns, web, sink = self.zone(), self.web(policy("enforce", MX_NAME)), self.mx_sink(self.mx_ctx)
        d = self.sts_relay(dns, sink, web)
        qid = self.submit(d, [RCPT], message("sts enforce ok"))
        line = self.outcome(d, qid, sink)
        self.assertEqual(line["status"], "delivered", line["_line"])
        self.assertEqual(line["tls_policy"], "mta-sts", line["_line"])
        self.assertTrue(line["tls_version"].startswith("TLSv1."), line["_line"])
        self.assertNotEqual(line["cipher"], "-", line["_line"])
        self.assertEqual(line["tls_failure"], "-", line["_line"])
        got = self.expect_messages(sink, 1, d)
        self.assertIsNotNone(got[0].tls, "delivered over TLS")
        reqs = self.policy_requests(web)
        self.assertEqual(len(reqs), 1, web.requests)
        self.assertEqual(reqs[0][2].get("Host"), f"{POLICY_HOST}:{web.port}")

    def test_enforce_refuses_certificate_for_another_name(self):
        dns, web = self.zone(), self.web(policy("enforce", MX_NAME))
        sink = self.mx_sink(self.wrong_ctx)
        d = self.sts_relay(dns, sink, web)
        qid = self.submit(d, [RCPT], message("sts enforce mismatch"))
        line = self.outcome(d, qid, sink)
        self.assertEqual(line["status"], "deferred", line["_line"])
        self.assertEqual(line["dsn"], "4.7.5", line["_line"])
        self.assertEqual(line["tls_policy"], "mta-sts", line["_line"])
        self.assertIn(f"certificate not valid for {MX_NAME}", line["response"], line["_line"])
        self.assertGreaterEqual(len(sink.connections()), 1, "the MX was contacted")
        self.assertEqual(sink.snapshot(), [], "nothing may be sent to an unauthenticated MX")
        self.assertEqual(sink.rcpt_events(), [], "not even an envelope")
        self.assertIn(qid, self.queue_ids(d), "deferred, not bounced")

    def test_enforce_refuses_mx_the_policy_does_not_name(self):
        dns, web = self.zone(), self.web(policy("enforce", "other.sts.test", "*.elsewhere.test"))
        sink = self.mx_sink(self.mx_ctx)
        d = self.sts_relay(dns, sink, web)
        qid = self.submit(d, [RCPT], message("sts enforce mx not listed"))
        line = self.outcome(d, qid, sink)
        self.assertEqual(line["status"], "deferred", line["_line"])
        self.assertEqual(line["dsn"], "4.7.5", line["_line"])
        self.assertIn("matches none of its MX hosts", line["response"], line["_line"])
        self.assertEqual(sink.connections(), [], "an MX outside the policy is not contacted")

    def test_enforce_refuses_mx_without_starttls(self):
        dns, web = self.zone(), self.web(policy("enforce", MX_NAME))
        sink = self.sink()  # no STARTTLS
        d = self.sts_relay(dns, sink, web)
        qid = self.submit(d, [RCPT], message("sts enforce no tls"))
        line = self.outcome(d, qid, sink)
        self.assertEqual(line["status"], "deferred", line["_line"])
        self.assertEqual(line["dsn"], "4.7.5", line["_line"])
        self.assertIn("STARTTLS", line["response"], line["_line"])
        self.assertEqual(sink.snapshot(), [])

    def test_queue_show_names_the_policy_and_the_cipher(self):
        dns, web = self.zone(), self.web(policy("enforce", MX_NAME))
        sink = self.mx_sink(self.mx_ctx)
        sink.reply_rcpt(RCPT, "451 4.3.0 not now")
        d = self.sts_relay(dns, sink, web)
        qid = self.submit(d, [RCPT], message("sts queue show"))
        line = self.outcome(d, qid, sink)
        self.assertEqual(line["status"], "deferred", line["_line"])
        shown = self.show(d, qid)
        attempt = shown["recipients"][0]["attempts"][-1]
        self.assertEqual(attempt["tls_policy"], "mta-sts", attempt)
        self.assertEqual(attempt["tls_version"], line["tls_version"], attempt)
        self.assertEqual(attempt["tls_cipher"], line["cipher"], attempt)
        text = d.cli("queue", "show", qid).stdout
        self.assertIn(f"tls: mta-sts, {line['tls_version']} {line['cipher']}", text)

    # -- testing --------------------------------------------------------------------------
    def test_testing_delivers_and_records_the_failure(self):
        dns, web = self.zone(), self.web(policy("testing", MX_NAME))
        sink = self.mx_sink(self.wrong_ctx)
        d = self.sts_relay(dns, sink, web)
        qid = self.submit(d, [RCPT], message("sts testing mismatch"))
        line = self.outcome(d, qid, sink)
        self.assertEqual(line["status"], "delivered", line["_line"])
        self.assertEqual(line["tls_policy"], "mta-sts-testing", line["_line"])
        self.assertIn(f"certificate not valid for {MX_NAME}", line["tls_failure"], line["_line"])
        self.assertTrue(line["tls_version"].startswith("TLSv1."), line["_line"])
        self.expect_messages(sink, 1, d)

    # -- fetching ---------------------------------------------------------------------------
    def test_redirect_is_not_followed(self):
        dns = self.zone()
        web = HttpsServer(self.web_ctx, {
            POLICY_PATH: (301, {"Location": "/elsewhere.txt"}, b""),
            "/elsewhere.txt": (200, "text/plain", policy("enforce", "other.sts.test"))})
        web.start()
        self.addCleanup(web.stop)
        sink = self.mx_sink(self.wrong_ctx)
        d = self.sts_relay(dns, sink, web)
        qid = self.submit(d, [RCPT], message("sts redirect"))
        line = self.outcome(d, qid, sink)
        # Without a policy the MX gets opportunistic TLS, whatever its certificate.
        self.assertEqual(line["tls_policy"], "opportunistic", line["_line"])
        self.assertEqual(line["status"], "delivered", line["_line"])
        self.assertEqual([r[1] for r in web.requests], [POLICY_PATH], "the redirect was followed")
        self.assertIn("HTTP 301", d.log_text())

    def test_policy_host_with_untrusted_certificate_gives_no_policy(self):
        other_ca = TestCa("Another CA")
        self.addCleanup(other_ca.cleanup)
        dns = self.zone()
        web = self.web(policy("enforce", "other.sts.test"),
                       ctx=other_ca.server_context(POLICY_HOST))
        sink = self.mx_sink(self.mx_ctx)
        d = self.sts_relay(dns, sink, web)
        qid = self.submit(d, [RCPT], message("sts untrusted policy host"))
        line = self.outcome(d, qid, sink)
        self.assertEqual(line["tls_policy"], "opportunistic", line["_line"])
        self.expect_messages(sink, 1, d)
        self.assertIn("not trusted", d.log_text())

    def test_policy_served_as_html_is_invalid(self):
        dns = self.zone()
        web = self.web(policy("enforce", "other.sts.test"), content_type="text/html")
        sink = self.mx_sink(self.mx_ctx)
        d = self.sts_relay(dns, sink, web)
        qid = self.submit(d, [RCPT], message("sts html"))
        line = self.outcome(d, qid, sink)
        self.assertEqual(line["tls_policy"], "opportunistic", line["_line"])
        self.assertIn("not text/plain", d.log_text())

    # -- the cache ------------------------------------------------------------------------
    def test_cached_policy_outlives_its_txt_record_and_a_restart(self):
        dns, web = self.zone(), self.web(policy("enforce", MX_NAME))
        sink = self.mx_sink(self.mx_ctx)
        d = self.sts_relay(dns, sink, web)
        qid = self.submit(d, [RCPT], message("sts cache first"))
        self.expect_messages(sink, 1, d)
        self.wait_left_queue(d, qid, sink=sink)
        d.stop()
        # Now DNS has no _mta-sts record, the policy host is gone, and the MX presents a
        # certificate for another name: only the policy in the store can refuse it.
        web.stop()
        dns2 = self.zone(txt=False)
        d.extra_yaml = d.extra_yaml.replace(f"127.0.0.1:{dns.port}", f"127.0.0.1:{dns2.port}")
        d.write_config()
        dns.stop()
        sink.stop()
        sink.tls_context = self.wrong_ctx
        sink.start()
        d.start()
        qid2 = self.submit(d, [RCPT], message("sts cache second"))
        line = self.outcome(d, qid2, sink)
        self.assertEqual(line["status"], "deferred", line["_line"])
        self.assertEqual(line["dsn"], "4.7.5", line["_line"])
        self.assertEqual(line["tls_policy"], "mta-sts", line["_line"])
        self.assertEqual(len(self.originals(sink)), 1, "only the first message arrived")


if __name__ == "__main__":
    import unittest
    unittest.main()
