"""TLS-RPT (RFC 8460, issue 14): a day of mixed TLS results becomes one JSON report,
DKIM-signed and mailed through Hato's own queue to the rua of `_smtp._tls.<domain>`.

rpt.test has an MTA-STS policy in testing mode (served over HTTPS with a certificate from
the test's CA) and a TLS-RPT record whose rua is mailto:tlsrpt@reports.test. Its MX first
presents a certificate for another name (a failure that testing mode still delivers
through), then the right one (successes). POST /v1/tlsrpt/send on the admin socket asks for
the reports now instead of after midnight UTC.
"""

import http.client
import json
import os
import shutil
import socket
import tempfile

import hatotest
from test_delivery import HOSTS, MISSING, MX, SENDER_DOMAIN, DeliveryHarness, message
from test_dkim_e2e import DKIM_MISSING, keygen

try:
    from sinks import HttpsServer, TestCa
except ImportError:  # reported by DeliveryHarness.setUp through MISSING
    pass

DOMAIN = "rpt.test"
MX_NAME = "mx.rpt.test"
RCPT = "user@rpt.test"
RUA = "tlsrpt@reports.test"
POLICY = b"version: STSv1\r\nmode: testing\r\nmx: mx.rpt.test\r\nmax_age: 86400\r\n"


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=10)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.connect(self.path)


class TlsRptTest(DeliveryHarness):
    def test_day_of_mixed_results_is_reported_as_rfc8460_json(self):
        if DKIM_MISSING:
            self.fail(f"test prerequisite missing: {DKIM_MISSING}")
        ca = TestCa()
        self.addCleanup(ca.cleanup)
        keydir = tempfile.mkdtemp(prefix="hato-it-dkim-")
        self.addCleanup(shutil.rmtree, keydir, True)
        key, txt = keygen(self, keydir, "r1", "rsa-sha256")

        web = HttpsServer(ca.server_context(f"mta-sts.{DOMAIN}"),
                          {"/.well-known/mta-sts.txt": (200, "text/plain", POLICY)}).start()
        self.addCleanup(web.stop)
        dns = self.dns(
            mx=dict(MX, **{DOMAIN: [(10, MX_NAME)], "reports.test": [(10, "mx.sink.test")]}),
            hosts=dict(HOSTS, **{MX_NAME: "127.0.0.1", f"mta-sts.{DOMAIN}": "127.0.0.1"}),
            extra_args=[f"--txt-record=_mta-sts.{DOMAIN},v=STSv1; id=1;",
                        f"--txt-record=_smtp._tls.{DOMAIN},v=TLSRPTv1; rua=mailto:{RUA}"])
        sink = self.sink(starttls=True, tls_context=ca.server_context("wrong.rpt.test"))
        domains = [{"name": hatotest.DOMAIN, "mailboxes": ["support"]},
                   {"name": SENDER_DOMAIN,
                    "dkim": [{"selector": "r1", "algorithm": "rsa-sha256", "key": key}]}]
        d = self.relay(dns.port, sink.port, domains=domains,
                       delivery={"ca_file": ca.cert, "mta_sts_port": web.port,
                                 "tls_report_from": f"tls-reports@{SENDER_DOMAIN}",
                                 "tls_report_organization": "Hato Test"})

        # One session with a certificate for another name: testing mode delivers anyway.
        self.submit(d, [RCPT], message("tlsrpt mismatch"))
        self.expect_messages(sink, 1, d)
        # Then the right certificate: a new sink process on the same port, so the next
        # messages need new sessions.
        sink.stop()
        sink.tls_context = ca.server_context(MX_NAME)
        sink.start()
        self.submit(d, [RCPT], message("tlsrpt ok 1"))
        self.expect_messages(sink, 2, d)
        lines = self.deliveries(d, rcpt=RCPT)
        self.assertEqual([l["status"] for l in lines], ["delivered", "delivered"], lines)
        self.assertNotEqual(lines[0]["tls_failure"], "-", lines[0]["_line"])
        self.assertEqual(lines[1]["tls_failure"], "-", lines[1]["_line"])

        conn = UnixHTTPConnection(os.path.join(d.data_dir, "admin.sock"))
        conn.request("POST", "/v1/tlsrpt/send")
        r = conn.getresponse()
        body = r.read().decode()
        self.assertEqual(r.status, 200, body)
        self.assertGreaterEqual(json.loads(body)["reports"], 1, body)

        reports = self.expect_messages(sink, 1, d, what="TLS reports",
                                       pred=lambda m: RUA in m.rcpt_tos)
        msg = reports[0]
        self.assertEqual(msg.mail_from, f"tls-reports@{SENDER_DOMAIN}")
        m = msg.parsed()
        self.assertEqual(m.get_content_type(), "multipart/report")
        self.assertEqual(m.get_param("report-type"), "tlsrpt")
        self.assertEqual(str(m["TLS-Report-Domain"]), DOMAIN)
        self.assertEqual(str(m["TLS-Report-Submitter"]), "Hato Test")
        self.assertIn(f"Report Domain: {DOMAIN}", str(m["Subject"]))
        parts = [p for p in m.iter_parts() if p.get_content_type() == "application/tlsrpt+json"]
        self.assertEqual(len(parts), 1, [p.get_content_type() for p in m.iter_parts()])
        self.assertTrue(parts[0].get_filename().startswith(f"Hato Test!{DOMAIN}!"))
        report = json.loads(parts[0].get_payload(decode=True))

        # RFC 8460 4.4: the fields and their types.
        self.assertEqual(report["organization-name"], "Hato Test")
        self.assertIsInstance(report["report-id"], str)
        self.assertEqual(report["contact-info"], f"tls-reports@{SENDER_DOMAIN}")
        start, end = report["date-range"]["start-datetime"], report["date-range"]["end-datetime"]
        self.assertRegex(start, r"^\d{4}-\d\d-\d\dT00:00:00Z$")
        self.assertRegex(end, r"^\d{4}-\d\d-\d\dT00:00:00Z$")
        self.assertLess(start, end)
        policies = report["policies"]
        self.assertEqual(len(policies), 1, policies)
        p = policies[0]
        self.assertEqual(p["policy"]["policy-type"], "sts")
        self.assertEqual(p["policy"]["policy-domain"], DOMAIN)
        self.assertEqual(p["policy"]["policy-string"],
                         ["version: STSv1", "mode: testing", "mx: mx.rpt.test", "max_age: 86400"])
        self.assertEqual(p["policy"]["mx-host"], [MX_NAME])
        self.assertEqual(p["summary"]["total-failure-session-count"], 1, p)
        self.assertGreaterEqual(p["summary"]["total-successful-session-count"], 1, p)
        details = p["failure-details"]
        self.assertEqual(len(details), 1, details)
        self.assertEqual(details[0]["result-type"], "certificate-host-mismatch")
        self.assertEqual(details[0]["receiving-mx-hostname"], MX_NAME)
        self.assertEqual(details[0]["receiving-ip"], "127.0.0.1")
        self.assertEqual(details[0]["failed-session-count"], 1)

        # DKIM-signed by Hato's key for the From domain, and the signature verifies.
        import dkim
        records = {f"r1._domainkey.{SENDER_DOMAIN}.": txt}

        def dnsfunc(name, timeout=5):
            k = name.decode() if isinstance(name, bytes) else name
            return records.get(k if k.endswith(".") else k + ".", "").encode()
        self.assertTrue(dkim.DKIM(msg.data).verify(dnsfunc=dnsfunc), msg.data[:600])

        # Reported counts are gone: asking again sends nothing for rpt.test.
        conn = UnixHTTPConnection(os.path.join(d.data_dir, "admin.sock"))
        conn.request("POST", "/v1/tlsrpt/send")
        again = json.loads(conn.getresponse().read().decode())
        self.assertLessEqual(again["reports"], 1, again)  # at most reports.test's own sessions


if __name__ == "__main__":
    import unittest
    unittest.main()
