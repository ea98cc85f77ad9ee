"""DMARC aggregate reports received (issue 24, items 1-2): reports built here after RFC 7489
Appendix C, shaped as Google (zip, one record per source), Microsoft (gzip, several records
per source), Yahoo (gzip, policy_evaluated reasons) and Mail.ru (a plain XML part) send them,
with IPv4 and IPv6 sources, are mailed over SMTP to dmarc_reports.rua on the inbound listener;
`hato dmarc summary --json` is checked field by field (PTR names and the domain's SPF record
from dnsmasq, "ours" by egress address or SPF), with the alerts and the metric. A zip bomb, an
XML with an external entity and an XML nested 10,000 deep are each refused with a log line
and kept as mail, while a normal message sent right after still arrives."""

import email.policy
import gzip
import io
import ipaddress
import json
import os
import re
import smtplib
import time
import urllib.request
import zipfile
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

from hatotest import DOMAIN, HatoTestCase, wait_for
from sinks import Dnsmasq

RUA = f"dmarc-reports@{DOMAIN}"
METRICS_LINE = re.compile(r"\bmetrics listening\b.*?\baddress=\"?[^\"\s]+:(?P<port>\d+)")

# Yesterday, UTC, as the reporters' date_range covers it.
BEGIN = (int(time.time()) // 86400 - 1) * 86400
END = BEGIN + 86399

EGRESS = "127.0.0.1"            # ours: an egress address
SPF_V4 = "198.51.100.7"         # ours: inside the domain's SPF record
SPF_V6 = "2001:db8:1::25"       # ours too, IPv6
STRANGER_V4 = "203.0.113.66"    # unknown, over the threshold (12 + 1 in a day)
STRANGER_V6 = "2001:db8:bad::1"  # unknown, IPv6
PTRS = {EGRESS: f"out.{DOMAIN}", SPF_V4: f"mx-out.{DOMAIN}", SPF_V6: f"v6.{DOMAIN}",
        STRANGER_V4: "host.spammer.test"}


def record(ip, count, dkim, spf, disposition="none", reasons=(), dkim_result=None,
           spf_result=None):
    reason = "".join(f"<reason><type>{t}</type><comment>{c}</comment></reason>"
                     for t, c in reasons)
    return f"""
  <record>
    <row>
      <source_ip>{ip}</source_ip>
      <count>{count}</count>
      <policy_evaluated>
        <disposition>{disposition}</disposition>
        <dkim>{dkim}</dkim>
        <spf>{spf}</spf>{reason}
      </policy_evaluated>
    </row>
    <identifiers>
      <header_from>{DOMAIN}</header_from>
    </identifiers>
    <auth_results>
      <dkim>
        <domain>{DOMAIN}</domain>
        <selector>s1</selector>
        <result>{dkim_result or dkim}</result>
      </dkim>
      <spf>
        <domain>{DOMAIN}</domain>
        <scope>mfrom</scope>
        <result>{spf_result or spf}</result>
      </spf>
    </auth_results>
  </record>"""


def feedback(org, email_, report_id, records, begin=BEGIN, end=END):
    """An aggregate report as RFC 7489 Appendix C lays it out."""
    return f"""<?xml version="1.0" encoding="UTF-8" ?>
<feedback>
  <version>1.0</version>
  <report_metadata>
    <org_name>{org}</org_name>
    <email>{email_}</email>
    <extra_contact_info>https://support.example/dmarc</extra_contact_info>
    <report_id>{report_id}</report_id>
    <date_range>
      <begin>{begin}</begin>
      <end>{end}</end>
    </date_range>
  </report_metadata>
  <policy_published>
    <domain>{DOMAIN}</domain>
    <adkim>r</adkim>
    <aspf>r</aspf>
    <p>none</p>
    <sp>none</sp>
    <pct>100</pct>
    <fo>0</fo>
  </policy_published>{"".join(records)}
</feedback>
""".encode()


def report_mail(sender, receiver, content, mime, filename):
    """The mail of RFC 7489 7.2.1.1: subject and file name by convention."""
    msg = MIMEMultipart("mixed")
    msg["From"] = sender
    msg["To"] = RUA
    msg["Subject"] = f"Report Domain: {DOMAIN} Submitter: {receiver} Report-ID: <{filename}>"
    msg.attach(MIMEText(f"This is an aggregate report from {receiver}.\n"))
    maintype, subtype = mime.split("/")
    if maintype == "text":
        part = MIMEText(content.decode(), subtype)
    else:
        part = MIMEApplication(content, subtype)
    part.add_header("Content-Disposition", "attachment", filename=filename)
    msg.attach(part)
    return msg.as_bytes(policy=email.policy.SMTP)


def zipped(name, content):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(name, content)
    return buf.getvalue()


def base_name(receiver, report_id):
    return f"{receiver}!{DOMAIN}!{BEGIN}!{END}!{report_id}"


def google():
    xml = feedback("google.com", "noreply-dmarc-support@google.com", "1733616000123", [
        record(EGRESS, 20, "pass", "pass"),
        record(STRANGER_V4, 12, "fail", "fail")])
    name = base_name("google.com", "1733616000123")
    return report_mail("noreply-dmarc-support@google.com", "google.com",
                       zipped(name + ".xml", xml), "application/zip", name + ".zip")


def microsoft():
    xml = feedback("Enterprise Outlook", "dmarcreport@microsoft.com",
                   "8b1ab3a5c7d64b2c9f0e1d2c3b4a5968", [
                       record(EGRESS, 3, "pass", "pass"),
                       record(EGRESS, 2, "pass", "fail", spf_result="softfail"),
                       record(SPF_V4, 4, "pass", "pass"),
                       record(SPF_V4, 1, "pass", "pass")])
    name = base_name("enterprise.protection.outlook.com", "8b1ab3a5c7d64b2c9f0e1d2c3b4a5968")
    return report_mail("dmarcreport@microsoft.com", "enterprise.protection.outlook.com",
                       gzip.compress(xml), "application/gzip", name + ".xml.gz")


def yahoo():
    xml = feedback("Yahoo", "dmarchelp@yahooinc.com", "1733702400.512345", [
        record(SPF_V6, 3, "fail", "pass", reasons=[("forwarded", "")]),
        record(STRANGER_V4, 1, "fail", "fail", disposition="none",
               reasons=[("local_policy", "arc=pass")])])
    name = base_name("yahoo.com", "1733702400.512345")
    return report_mail("dmarchelp@yahooinc.com", "yahoo.com", gzip.compress(xml),
                       "application/gzip", name + ".xml.gz")


def mailru():
    xml = feedback("Mail.Ru", "dmarc_support@corp.mail.ru", "27363484659134926", [
        record(STRANGER_V6, 2, "fail", "fail", disposition="quarantine")])
    name = base_name("mail.ru", "27363484659134926")
    return report_mail("dmarc_support@corp.mail.ru", "mail.ru", xml, "text/xml", name + ".xml")


def dnsmasq():
    spf = f"v=spf1 ip4:198.51.100.0/24 ip6:2001:db8:1::/48 -all"
    args = [f"--txt-record={DOMAIN},{spf}"]
    for ip, name in PTRS.items():
        args.append(f"--ptr-record={ipaddress.ip_address(ip).reverse_pointer},{name}")
    return Dnsmasq(extra_args=args).start()


class DmarcReportsTest(HatoTestCase):
    def start_daemon(self):
        dns = dnsmasq()
        self.addCleanup(dns.cleanup)
        d = self.own_daemon(
            listeners=[{"name": "mx", "role": "inbound", "tls": "none"}],
            domains=[{"name": DOMAIN, "mailboxes": ["support", "dmarc-reports"]}],
            extra_yaml=("admin:\n  metrics: \"127.0.0.1:0\"\n"
                        f"dns:\n  servers: [\"127.0.0.1:{dns.port}\"]\n"
                        f"egress:\n  - {{address: \"{EGRESS}\"}}\n"
                        f"dmarc_reports:\n  rua: {RUA}\n  unknown_threshold: 10\n"))
        d.start()
        return d

    def send(self, d, sender, rcpt, data):
        with smtplib.SMTP("127.0.0.1", d.port("mx"), timeout=30) as s:
            s.sendmail(sender, [rcpt], data)

    def metric(self, d, name, labels):
        port = int(METRICS_LINE.search(d.log_text()).group("port"))
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()
        m = re.search(rf"^{name}\{{{re.escape(labels)}\}} (\d+)", text.decode(), re.M)
        return int(m.group(1)) if m else None

    def summary(self, d, *args):
        r = d.cli("dmarc", "summary", "--json", *args)
        self.assertEqual(r.returncode, 0, r.stderr + d.log_tail())
        return {row["source"]: row for row in map(json.loads, r.stdout.splitlines())}

    def maildir_count(self, d, mailbox):
        new = os.path.join(d.data_dir, "mail", DOMAIN, mailbox, "new")
        return len(os.listdir(new)) if os.path.isdir(new) else 0

    def test_reports_of_four_receivers_are_summarised_per_source(self):
        d = self.start_daemon()
        for m in (google(), microsoft(), yahoo(), mailru(), google()):  # Google's twice
            self.send(d, "reports@reporter.test", RUA, m)
        self.assertTrue(wait_for(lambda: d.log_text().count("DMARC report received") == 4
                                 and "seen before" in d.log_text(), timeout=20), d.log_tail())
        # Every source is looked up (PTR, SPF) before it is accounted.
        self.assertTrue(wait_for(lambda: self.metric(
            d, "hato_dmarc_report_messages_total",
            f'domain="{DOMAIN}",source_kind="unknown",result="fail"') == 15, timeout=20),
            d.log_tail())
        rows = self.summary(d)
        self.assertEqual(set(rows), {EGRESS, SPF_V4, SPF_V6, STRANGER_V4, STRANGER_V6})
        def expect(ip, ptr, ours, messages, spf, dkim, dmarc, disposition, reporters):
            row = rows[ip]
            got = {k: row[k] for k in ("domain", "source", "ptr", "ours", "messages", "spf_pass",
                                       "spf_fail", "dkim_pass", "dkim_fail", "dmarc_pass",
                                       "dmarc_fail", "none", "quarantine", "reject",
                                       "reporters")}
            self.assertEqual(got, {
                "domain": DOMAIN, "source": ip, "ptr": ptr, "ours": ours, "messages": messages,
                "spf_pass": spf[0], "spf_fail": spf[1], "dkim_pass": dkim[0],
                "dkim_fail": dkim[1], "dmarc_pass": dmarc[0], "dmarc_fail": dmarc[1],
                "none": disposition[0], "quarantine": disposition[1],
                "reject": disposition[2], "reporters": sorted(reporters)}, ip)
        # Google's second copy is not counted: 20 + Microsoft's 3 + 2 (two records).
        expect(EGRESS, PTRS[EGRESS], True, 25, (23, 2), (25, 0), (25, 0), (25, 0, 0),
               ["Enterprise Outlook", "google.com"])
        expect(SPF_V4, PTRS[SPF_V4], True, 5, (5, 0), (5, 0), (5, 0), (5, 0, 0),
               ["Enterprise Outlook"])
        expect(SPF_V6, PTRS[SPF_V6], True, 3, (3, 0), (0, 3), (3, 0), (3, 0, 0), ["Yahoo"])
        expect(STRANGER_V4, PTRS[STRANGER_V4], False, 13, (0, 13), (0, 13), (0, 13),
               (13, 0, 0), ["Yahoo", "google.com"])
        expect(STRANGER_V6, None, False, 2, (0, 2), (0, 2), (0, 2), (0, 2, 0), ["Mail.Ru"])
        self.assertEqual(rows[SPF_V4]["spf_record"], "pass")
        self.assertEqual(rows[STRANGER_V4]["spf_record"], "fail")

        # A filter by domain; and a window that leaves yesterday out.
        self.assertEqual(set(self.summary(d, "--domain", DOMAIN)), set(rows))
        self.assertEqual(self.summary(d, "--domain", "other.test"), {})
        self.assertEqual(self.summary(d, "--days", "1"), {})
        # The table for people.
        r = d.cli("dmarc", "summary")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, rf"{re.escape(STRANGER_V4)}\s+host\.spammer\.test\s+no\s+13")

        # The metric, by source kind and DMARC result.
        labels = f'domain="{DOMAIN}",source_kind="%s",result="%s"'
        self.assertEqual(self.metric(d, "hato_dmarc_report_messages_total",
                                     labels % ("ours", "pass")), 33)
        self.assertEqual(self.metric(d, "hato_dmarc_report_messages_total",
                                     labels % ("ours", "fail")), 0)
        self.assertEqual(self.metric(d, "hato_dmarc_reports_total", 'result="counted"'), 4)
        self.assertEqual(self.metric(d, "hato_dmarc_reports_total", 'result="duplicate"'), 1)

        # Alerts: the unknown source once (over 10 with Google's 12), ours failing alignment
        # at Microsoft (SPF) and Yahoo (DKIM).
        log = d.log_text()
        unknown = [l for l in log.splitlines() if "an unknown source sends as our domain" in l]
        self.assertEqual(len(unknown), 1, log)
        self.assertIn(f"source={STRANGER_V4}", unknown[0])
        failing = [l for l in log.splitlines() if "our address fails alignment" in l]
        self.assertEqual(sorted(re.search(r"source=(\S+)", l).group(1) for l in failing),
                         sorted([EGRESS, SPF_V6]), log)
        self.assertEqual(self.metric(d, "hato_dmarc_alerts_total", 'kind="unknown_source"'), 1)
        self.assertEqual(self.metric(d, "hato_dmarc_alerts_total", 'kind="ours_failing"'), 2)
        # Every report is still mail in the rua's Maildir.
        self.assertEqual(self.maildir_count(d, "dmarc-reports"), 5)

    def refused_then_mail_flows(self, d, data, reason, n):
        self.send(d, "reports@hostile.test", RUA, data)
        self.assertTrue(wait_for(lambda: d.log_text().count("DMARC report refused") == n,
                                 timeout=30), d.log_tail())
        line = [l for l in d.log_text().splitlines() if "DMARC report refused" in l][-1]
        self.assertRegex(line, r"\bid=\S+")
        self.assertIn("from=reports@hostile.test", line)
        self.assertRegex(line, reason)
        token = f"after-hostile-{n}"
        self.send(d, "friend@remote.test", f"support@{DOMAIN}",
                  f"Subject: {token}\r\n\r\nstill flowing\r\n".encode())
        self.assertTrue(wait_for(lambda: self.maildir_count(d, "support") == n, timeout=20),
                        d.log_tail())
        self.assertEqual(self.maildir_count(d, "dmarc-reports"), n)  # kept as mail

    def test_hostile_reports_are_refused_while_mail_flows(self):
        d = self.start_daemon()
        # 50 MB of zeros: about 50 KB zipped.
        name = base_name("bomb.test", "1")
        bomb = zipped(name + ".xml", b"0" * (50 * 1024 * 1024))
        self.assertLess(len(bomb), 200 * 1024)
        self.refused_then_mail_flows(
            d, report_mail("r@bomb.test", "bomb.test", bomb, "application/zip", name + ".zip"),
            r"reason=.*20 MiB unpacked", 1)

        with open("/etc/passwd") as f:
            secret = f.readline().strip()
        xxe = feedback("&xxe;", "x@xxe.test", "xxe-1", [record(STRANGER_V4, 1, "fail", "fail")])
        xxe = xxe.replace(b"<feedback>", b'<!DOCTYPE feedback [<!ENTITY xxe SYSTEM '
                                         b'"file:///etc/passwd">]>\n<feedback>', 1)
        name = base_name("xxe.test", "xxe-1")
        self.refused_then_mail_flows(
            d, report_mail("r@xxe.test", "xxe.test", xxe, "text/xml", name + ".xml"),
            r"reason=.*DTD", 2)

        deep = b"<a>" * 10000 + b"</a>" * 10000
        nested = feedback("deep.test", "x@deep.test", "deep-1", []).replace(
            b"</feedback>", deep + b"</feedback>")
        name = base_name("deep.test", "deep-1")
        self.refused_then_mail_flows(
            d, report_mail("r@deep.test", "deep.test", gzip.compress(nested),
                           "application/gzip", name + ".xml.gz"),
            r"reason=.*(depth|nested)", 3)

        self.assertEqual(self.summary(d), {})
        self.assertEqual(self.metric(d, "hato_dmarc_reports_total", 'result="refused"'), 3)
        self.assertNotIn(secret, d.log_text())
        r = d.cli("dmarc", "summary")
        self.assertNotIn(secret, r.stdout + r.stderr)
