"""TLS-RPT reception (RFC 8460, issue 13): reports mailed to the rua that `hato dns records`
publishes (postmaster@<domain>) are read at local delivery into the log and into
hato_tlsrpt_received_failures_total{organization,result_type}.

The report is RFC 8460's example, sent the way reporters send it: multipart/report with
report-type="tlsrpt" and the JSON gzip'd in an application/tlsrpt+gzip part, over SMTP.
"""

import email.policy
import gzip
import json
import re
import smtplib
import urllib.request
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

from hatotest import DOMAIN, HatoTestCase, wait_for
from sinks import Dnsmasq

METRICS_LINE = re.compile(r"\bmetrics listening\b.*?\baddress=\"?[^\"\s]+:(?P<port>\d+)")

REPORT = {
    "organization-name": "Company-X",
    "date-range": {"start-datetime": "2026-11-27T00:00:00Z",
                   "end-datetime": "2026-11-27T23:59:59Z"},
    "contact-info": "sts-reporting@company-x.test",
    "report-id": "5065427c-23d3-47ca-b6e0-946ea0e8c4be",
    "policies": [{
        "policy": {"policy-type": "sts",
                   "policy-string": ["version: STSv1", "mode: testing",
                                     "mx: relay.example.test", "max_age: 86400"],
                   "policy-domain": DOMAIN, "mx-host": ["relay.example.test"]},
        "summary": {"total-successful-session-count": 5326,
                    "total-failure-session-count": 303},
        "failure-details": [
            {"result-type": "certificate-expired", "sending-mta-ip": "2001:db8:abcd:12::1",
             "receiving-mx-hostname": "relay.example.test", "failed-session-count": 100},
            {"result-type": "starttls-not-supported", "sending-mta-ip": "2001:db8:abcd:13::1",
             "receiving-mx-hostname": "relay.example.test", "receiving-ip": "203.0.113.56",
             "failed-session-count": 200},
            {"result-type": "validation-failure", "sending-mta-ip": "198.51.100.62",
             "receiving-ip": "203.0.113.58", "receiving-mx-hostname": "relay.example.test",
             "failed-session-count": 3}]}]}


def report_mail(rcpt, gzipped=True):
    msg = MIMEMultipart("report", report_type="tlsrpt")
    msg["From"] = "reports@company-x.test"
    msg["To"] = rcpt
    msg["Subject"] = f"Report Domain: {DOMAIN} Submitter: company-x.test"
    msg["TLS-Report-Domain"] = DOMAIN
    msg["TLS-Report-Submitter"] = "company-x.test"
    msg.attach(MIMEText("This is an aggregate TLS report from company-x.test"))
    body = json.dumps(REPORT).encode()
    if gzipped:
        part = MIMEApplication(gzip.compress(body), "tlsrpt+gzip")
        part.add_header("Content-Disposition", "attachment", filename="report.json.gz")
    else:
        part = MIMEApplication(body, "tlsrpt+json")
    msg.attach(part)
    return msg.as_bytes(policy=email.policy.SMTP)  # CRLF line ends


class TlsRptReceptionTest(HatoTestCase):
    def metric(self, d, name, labels):
        port = int(METRICS_LINE.search(d.log_text()).group("port"))
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()
        m = re.search(rf"^{name}\{{{re.escape(labels)}\}} (\d+)", text.decode(), re.M)
        return int(m.group(1)) if m else None

    def test_report_mailed_to_rua_shows_in_metrics_and_log(self):
        # The reporter's domain has no SPF or DMARC records (NXDOMAIN from dnsmasq).
        dns = Dnsmasq().start()
        self.addCleanup(dns.cleanup)
        d = self.own_daemon(listeners=[{"name": "mx", "role": "inbound", "tls": "none"}],
                            domains=[{"name": DOMAIN, "mailboxes": ["postmaster"]}],
                            extra_yaml=("admin:\n  metrics: \"127.0.0.1:0\"\n"
                                        f"dns:\n  servers: [\"127.0.0.1:{dns.port}\"]\n"))
        d.start()
        rcpt = f"postmaster@{DOMAIN}"
        with smtplib.SMTP("127.0.0.1", d.port("mx"), timeout=10) as s:
            s.sendmail("reports@company-x.test", [rcpt], report_mail(rcpt, gzipped=True))
            s.sendmail("reports@company-x.test", [rcpt], report_mail(rcpt, gzipped=False))
        labels = 'organization="Company-X",result_type="starttls-not-supported"'
        ok = wait_for(lambda: self.metric(d, "hato_tlsrpt_received_failures_total", labels) == 400,
                      timeout=15)
        self.assertTrue(ok, d.log_tail())
        self.assertEqual(self.metric(d, "hato_tlsrpt_received_failures_total",
                                     'organization="Company-X",result_type="certificate-expired"'),
                         200)
        self.assertEqual(self.metric(d, "hato_tlsrpt_received_reports_total",
                                     'organization="Company-X"'), 2)
        log = d.log_text()
        self.assertIn("TLS report received", log)
        self.assertRegex(log, r"TLS report failure .*result_type=starttls-not-supported")
        # Ordinary mail to the same mailbox is not taken for a report.
        with smtplib.SMTP("127.0.0.1", d.port("mx"), timeout=10) as s:
            s.sendmail("a@remote.test", [rcpt], b"Subject: hello\r\n\r\nnot a report\r\n")
        self.assertTrue(wait_for(lambda: d.log_text().count("delivered to maildir") >= 3,
                                 timeout=15), d.log_tail())
        self.assertEqual(d.log_text().count("TLS report received"), 2)
