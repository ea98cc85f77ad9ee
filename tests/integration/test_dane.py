"""DANE for SMTP (RFC 7672, issue 14): TLSA records from a DNSSEC-validating resolver pin
the MX's key.

The resolver is Debian's unbound, validating a zone (dane.test) that ldns-signzone signed
with keys made for the test; its DS is unbound's trust anchor, so answers carry the AD bit
that Hato trusts (as Postfix does, Hato relies on its configured DNS server to validate).
The MX is an aiosmtpd sink with STARTTLS and a certificate from a CA Hato does NOT trust:
with DANE-EE(3) only the key matters. TLSA records are at _<delivery.port>._tcp.<mx>, the
port Hato connects to (25 in production; the sink's port here).
"""

from hatotest import wait_for
from test_delivery import MISSING, DeliveryHarness, message

try:
    from sinks import HttpsServer, TestCa, Unbound, tlsa_sha256_spki
    import ssl
except ImportError:  # reported by DeliveryHarness.setUp through MISSING
    pass

ZONE = "dane.test"
MX_NAME = "mx.dane.test"
RCPT = "user@dane.test"


class DaneTest(DeliveryHarness):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.ca = None
        if MISSING:
            return
        cls.ca = TestCa("Untrusted DANE CA")
        cls.mx_cert, cls.mx_key = cls.ca.issue(MX_NAME)
        cls.other_cert, _ = cls.ca.issue(MX_NAME)  # same name, another key

    @classmethod
    def tearDownClass(cls):
        if cls.ca is not None:
            cls.ca.cleanup()
        super().tearDownClass()

    def mx_sink(self, with_chain=False):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        if with_chain:
            chain = self.mx_cert + ".chain"
            with open(chain, "w") as out, open(self.mx_cert) as a, open(self.ca.cert) as b:
                out.write(a.read() + b.read())
            ctx.load_cert_chain(chain, self.mx_key)
        else:
            ctx.load_cert_chain(self.mx_cert, self.mx_key)
        return self.sink(starttls=True, tls_context=ctx)

    def resolver(self, sink, tlsa, unsigned=False):
        records = ["@ IN MX 10 mx", "mx IN A 127.0.0.1"]
        records += [f"_{sink.port}._tcp.mx IN TLSA {t}" for t in tlsa]
        u = Unbound(ZONE, records, unsigned=unsigned)
        self.addCleanup(u.cleanup)
        return u.start()

    def outcome(self, d, qid, sink):
        got = []

        def seen():
            got[:] = self.deliveries(d, qid=qid)
            return bool(got)
        self.assertTrue(wait_for(seen, timeout=20, interval=0.1),
                        f"no delivery line for {qid}\n" + self.state(d, sink, qid))
        return got[0]

    def test_tlsa_pins_the_mx_key(self):
        sink = self.mx_sink()
        dns = self.resolver(sink, [f"3 1 1 {tlsa_sha256_spki(self.mx_cert)}"])
        d = self.relay(dns.port, sink.port)
        qid = self.submit(d, [RCPT], message("dane pinned"))
        line = self.outcome(d, qid, sink)
        self.assertEqual(line["status"], "delivered", line["_line"])
        self.assertEqual(line["tls_policy"], "dane", line["_line"])
        self.assertTrue(line["tls_version"].startswith("TLSv1."), line["_line"])
        self.assertEqual(line["tls_failure"], "-", line["_line"])
        got = self.expect_messages(sink, 1, d)
        self.assertIsNotNone(got[0].tls)

    def test_a_different_key_defers_the_mail(self):
        sink = self.mx_sink()
        dns = self.resolver(sink, [f"3 1 1 {tlsa_sha256_spki(self.other_cert)}"])
        d = self.relay(dns.port, sink.port)
        qid = self.submit(d, [RCPT], message("dane wrong key"))
        line = self.outcome(d, qid, sink)
        self.assertEqual(line["status"], "deferred", line["_line"])
        self.assertEqual(line["dsn"], "4.7.5", line["_line"])
        self.assertEqual(line["tls_policy"], "dane", line["_line"])
        self.assertIn("matches no TLSA record", line["response"], line["_line"])
        self.assertGreaterEqual(len(sink.connections()), 1, "the MX was contacted")
        self.assertEqual(sink.snapshot(), [], "nothing goes to a server that fails DANE")
        self.assertEqual(sink.rcpt_events(), [])
        self.assertIn(qid, self.queue_ids(d), "deferred, not bounced")

    def test_no_cleartext_fallback_under_dane(self):
        sink = self.sink()  # no STARTTLS at all
        dns = self.resolver(sink, [f"3 1 1 {tlsa_sha256_spki(self.mx_cert)}"])
        d = self.relay(dns.port, sink.port)
        qid = self.submit(d, [RCPT], message("dane no starttls"))
        line = self.outcome(d, qid, sink)
        self.assertEqual(line["status"], "deferred", line["_line"])
        self.assertEqual(line["dsn"], "4.7.5", line["_line"])
        self.assertIn("STARTTLS", line["response"], line["_line"])
        self.assertEqual(sink.snapshot(), [])

    def test_dane_ta_authenticates_through_the_ca_key(self):
        sink = self.mx_sink(with_chain=True)
        dns = self.resolver(sink, [f"2 1 1 {tlsa_sha256_spki(self.ca.cert)}"])
        d = self.relay(dns.port, sink.port)
        qid = self.submit(d, [RCPT], message("dane ta"))
        line = self.outcome(d, qid, sink)
        self.assertEqual(line["status"], "delivered", line["_line"])
        self.assertEqual(line["tls_policy"], "dane", line["_line"])
        self.expect_messages(sink, 1, d)

    def test_unsigned_tlsa_is_not_trusted(self):
        # The same wrong-key record, but without DNSSEC: no AD bit, so no DANE, and the
        # mail goes out with opportunistic TLS.
        sink = self.mx_sink()
        dns = self.resolver(sink, [f"3 1 1 {tlsa_sha256_spki(self.other_cert)}"],
                            unsigned=True)
        d = self.relay(dns.port, sink.port)
        qid = self.submit(d, [RCPT], message("dane unsigned"))
        line = self.outcome(d, qid, sink)
        self.assertEqual(line["status"], "delivered", line["_line"])
        self.assertEqual(line["tls_policy"], "opportunistic", line["_line"])
        self.expect_messages(sink, 1, d)

    def test_sts_enforce_without_tlsa_defers_an_mx_outside_the_policy(self):
        # Issue 28 item 4: a DNSSEC-signed MX set without TLSA records, and an MTA-STS
        # policy in enforce mode that does not name the MX. The host is skipped before any
        # connection; RFC 8461 forbids a permanent failure for that: deferred, 4.7.5, no DSN.
        sink = self.mx_sink()
        policy = (b"version: STSv1\r\nmode: enforce\r\nmx: other.dane.test\r\n"
                  b"max_age: 86400\r\n")
        web = HttpsServer(self.ca.server_context(f"mta-sts.{ZONE}"),
                          {"/.well-known/mta-sts.txt": (200, "text/plain", policy)}).start()
        self.addCleanup(web.stop)
        u = Unbound(ZONE, ["@ IN MX 10 mx", "mx IN A 127.0.0.1", "mta-sts IN A 127.0.0.1",
                           '_mta-sts IN TXT "v=STSv1; id=20240101;"'])
        self.addCleanup(u.cleanup)
        dns = u.start()
        d = self.relay(dns.port, sink.port,
                       delivery={"ca_file": self.ca.cert, "mta_sts_port": web.port})
        qid = self.submit(d, [RCPT], message("sts enforce, signed mx, no tlsa"))
        line = self.outcome(d, qid, sink)
        self.assertEqual(line["status"], "deferred", line["_line"])
        self.assertEqual(line["dsn"], "4.7.5", line["_line"])
        self.assertIn(f"MX host {MX_NAME} is not in MTA-STS policy", line["response"],
                      line["_line"])
        self.assertEqual(sink.connections(), [], "an MX outside the policy is not contacted")
        self.assertEqual(list(self.queue_ids(d)), [qid], "deferred; no DSN queued")
        self.assertNotIn(" bounce ", d.log_text())


if __name__ == "__main__":
    import unittest
    unittest.main()
