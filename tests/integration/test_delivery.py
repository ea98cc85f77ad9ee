"""Outbound delivery (issue 3): MX routing through dnsmasq, an aiosmtpd sink as the
destination, retries, bounces (RFC 3464 DSNs), SIGKILL durability, the smarthost.

Every test has its own daemon, DNS server and sink. All names are under .test and
served by dnsmasq (zone below); every MX host is contacted on `delivery.port`, the
sink's port. Mail is submitted on a trusted listener (no TLS, no AUTH) from
app@sender.test: sender.test is a configured domain without mailboxes (a sending-only
domain, routed by DNS), whose MX is the sink, so the DSNs Hato sends back to the
sender arrive at the sink too.
"""

import email.utils
import json
import os
import re
import subprocess
import tempfile
import time

import hatotest
from hatotest import HOSTNAME, Daemon, DaemonError, RawSMTP, queue_id, wait_for
from test_queue import ORIGINAL, strip_added

try:
    import sinks
    from sinks import Dnsmasq, FakeDns, SmtpSink
    MISSING = None
    if not os.access(sinks.DNSMASQ, os.X_OK):
        MISSING = f"{sinks.DNSMASQ} missing (apt-get install dnsmasq-base)"
except ImportError as e:  # python3-aiosmtpd not installed
    MISSING = f"{e} (apt-get install python3-aiosmtpd)"

SENDER = "app@sender.test"
SENDER_DOMAIN = "sender.test"

# The DNS zone every test gets. 127.0.0.2 refuses connections (the sink is bound to
# 127.0.0.1 only).
MX = {
    "remote.test": [(10, "mx.sink.test")],
    "sender.test": [(10, "mx.sink.test")],
    "refused.test": [(10, "mx.refused.test")],
    "backup.test": [(10, "mx.refused.test"), (20, "mx.sink.test")],
}
HOSTS = {
    "mx.sink.test": "127.0.0.1",
    "mx.refused.test": "127.0.0.2",
    "implicit.test": "127.0.0.1",   # A record, no MX: the implicit MX (RFC 5321 5.1)
}
NULL_MX = ["nullmx.test"]           # "MX 0 ." (RFC 7505)
# Anything else under .test (nx.test, lost.test) is NXDOMAIN.

FAST_RETRY = {"first": "1s", "max_interval": "4s", "max_age": "20s", "delay_warning": "10s"}

FIELD = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S*)')


def parse_fields(line):
    out = {}
    for k, v in FIELD.findall(line):
        if v.startswith('"'):
            try:
                v = json.loads(v)
            except ValueError:
                v = v[1:-1]
        out[k] = v
    return out


def message(subject, mid=None, extra=b""):
    mid = mid or email.utils.make_msgid(domain="client.sender.test")
    return (f"From: App <{SENDER}>\r\n"
            f"To: whoever\r\n"
            f"Subject: {subject}\r\n"
            f"Message-ID: {mid}\r\n"
            f"Date: {email.utils.formatdate()}\r\n"
            "\r\n"
            f"Body of {subject}.\r\n").encode() + extra


def dot_stuff(data):
    """SMTP transparency (RFC 5321 4.5.2), as any client does before DATA."""
    return (b"." if data.startswith(b".") else b"") + data.replace(b"\r\n.", b"\r\n..")


def addr_of(field_value):
    """'rfc822; a@b' -> 'a@b' (lower case)."""
    v = str(field_value or "")
    if ";" in v:
        v = v.split(";", 1)[1]
    return v.strip().strip("<>").lower()


class DeliveryHarness(hatotest.HatoTestCase):
    """No shared daemon: each test builds its own from the helpers below."""

    def setUp(self):
        self._daemons = []
        if MISSING:  # fail, not skip: a suite that skips delivery would hide a broken relay
            self.fail(f"test prerequisite missing: {MISSING}")

    def tearDown(self):
        for d in self._daemons:
            d.assert_alive()

    # -- parts ---------------------------------------------------------------------------
    def sink(self, start=True, **kw):
        s = SmtpSink(**kw)
        if start:
            s.start()
        self.addCleanup(s.stop)
        return s

    def dns(self, **kw):
        kw.setdefault("mx", MX)
        kw.setdefault("hosts", HOSTS)
        kw.setdefault("null_mx", NULL_MX)
        d = Dnsmasq(**kw)
        self.addCleanup(d.cleanup)
        return d.start()

    def fake_dns(self, mode):
        f = FakeDns(mode).start()
        self.addCleanup(f.stop)
        return f

    def relay(self, dns_port, sink_port, retry=None, tls=None, smarthost=None, domains=None,
              start=True, delivery=None):
        """A daemon with a trusted listener, delivering via DNS at dns_port to sink_port;
        `delivery` adds keys to the delivery section ({"ca_file": path, ...})."""
        retry = dict(FAST_RETRY, **(retry or {}))
        y = ["dns:", f"  servers: [\"127.0.0.1:{dns_port}\"]", "delivery:",
             f"  port: {sink_port}"]
        if tls:
            y.append(f"  tls: {tls}")
        for k, v in (delivery or {}).items():
            y.append(f"  {k}: {json.dumps(v)}")
        y.append("  retry:")
        y += [f"    {k}: {json.dumps(v)}" for k, v in retry.items()]
        if smarthost:
            y.append("  smarthost:")
            y += [f"    {k}: {json.dumps(v)}" for k, v in smarthost.items()]
        d = Daemon(listeners=[{"name": "trusted", "role": "submission", "tls": "none",
                               "trusted_networks": ["127.0.0.0/8"]}],
                   domains=domains or [{"name": hatotest.DOMAIN, "mailboxes": ["support"]},
                                       {"name": SENDER_DOMAIN}],
                   extra_yaml="\n".join(y) + "\n")
        self.adopt(d)
        if start:
            d.start()
        return d

    def password_file(self, password):
        fd, path = tempfile.mkstemp(prefix="hato-it-secret-")
        with os.fdopen(fd, "w") as f:
            f.write(password + "\n")
        self.addCleanup(os.unlink, path)
        return path

    # -- submitting -----------------------------------------------------------------------
    def submit(self, d, rcpts, data, sender=SENDER, mail_opts="", rcpt_opts=""):
        with RawSMTP(d.port("trusted")) as c:
            c.greeting()
            c.ehlo()
            r = c.cmd(f"MAIL FROM:<{sender}>{' ' + mail_opts if mail_opts else ''}")
            self.assertEqual(r.code, 250, r)
            for rcpt in rcpts:
                r = c.cmd(f"RCPT TO:<{rcpt}>{' ' + rcpt_opts if rcpt_opts else ''}")
                self.assertEqual(r.code, 250, r)
            r = c.cmd("DATA")
            self.assertEqual(r.code, 354, r)
            c.send(dot_stuff(data) + b".\r\n")
            r = c.reply()
            self.assertEqual(r.code, 250, r)
            c.cmd("QUIT")
            return queue_id(r.text)

    # -- looking -------------------------------------------------------------------------
    def deliveries(self, d, qid=None, rcpt=None):
        """The `delivery` log lines, as dicts of their fields."""
        out = []
        for line in d.log_text().splitlines():
            if not re.search(r"\sdelivery\s", line) or "status=" not in line:
                continue
            f = parse_fields(line)
            f["_line"] = line
            if qid and f.get("id") != qid:
                continue
            if rcpt and f.get("rcpt", "").lower() != rcpt.lower():
                continue
            out.append(f)
        return out

    def queue_ids(self, d):
        return {e["id"]: e for e in d.queue_ls()}

    def show(self, d, qid):
        """queue show --json, or None once the message has left the queue."""
        r = d.cli("queue", "show", qid, "--json")
        if r.returncode == 1:
            return None
        if r.returncode != 0:
            raise DaemonError(f"queue show {qid} exited {r.returncode}: {r.stderr!r}")
        return json.loads(r.stdout)

    def state(self, d, sink=None, qid=None):
        """What to print when something did not happen."""
        text = ["queue: " + json.dumps(d.queue_ls())[:2000]]
        if qid:
            try:
                text.append(f"queue show {qid}: " + json.dumps(self.show(d, qid))[:2000])
            except DaemonError as e:
                text.append(str(e))
        lines = [f["_line"] for f in self.deliveries(d)]
        text.append(f"delivery log lines ({len(lines)}):\n  " + "\n  ".join(lines[-15:]))
        if not lines and "delivery started" not in d.log_text():
            text.append("(no `delivery` log line at all, nor `delivery started`: "
                        "is there a delivery engine in this binary?)")
        if sink is not None:
            text.append(f"sink got {len(sink.messages)} messages: {sink.snapshot()}")
            text.append(f"sink saw {len(sink.connections())} connections, "
                        f"{len(sink.rcpt_events())} RCPTs")
        return "\n".join(text)

    def wait_left_queue(self, d, qid, timeout=15, sink=None):
        ok = wait_for(lambda: qid not in self.queue_ids(d), timeout=timeout, interval=0.1)
        self.assertTrue(ok, f"{qid} still queued after {timeout}s\n" + self.state(d, sink, qid))

    def expect_messages(self, sink, n, d, timeout=15, pred=None, what="messages"):
        got = sink.wait_messages(n, timeout=timeout, pred=pred)
        self.assertGreaterEqual(len(got), n, f"expected {n} {what} at the sink within "
                                             f"{timeout}s, got {len(got)}\n" + self.state(d, sink))
        return got

    def originals(self, sink, sender=SENDER):
        return [m for m in sink.snapshot() if m.mail_from == sender]

    # -- DSNs ----------------------------------------------------------------------------
    def parse_dsn(self, msg, action="failed"):
        """Checks a DSN at the sink; returns (message, parts, per-message fields,
        {final recipient: per-recipient fields})."""
        self.assertEqual(msg.mail_from, "", "a DSN has the null envelope sender")
        m = msg.parsed()
        self.assertEqual(m.get_content_type(), "multipart/report", msg.data[:800])
        self.assertEqual(m.get_param("report-type"), "delivery-status", m["Content-Type"])
        frm = email.utils.parseaddr(str(m["From"]))[1]
        self.assertEqual(frm.lower(), f"mailer-daemon@{HOSTNAME}", m["From"])
        self.assertIn(SENDER, str(m["To"]))
        self.assertIsNotNone(m["Date"])
        self.assertIsNotNone(m["Message-ID"])
        parts = list(m.iter_parts())
        types = [p.get_content_type() for p in parts]
        self.assertGreaterEqual(len(parts), 2, types)
        self.assertEqual(types[0], "text/plain", f"a human-readable part first: {types}")
        self.assertEqual(types[1], "message/delivery-status", types)
        blocks = parts[1].get_payload()
        self.assertIsInstance(blocks, list, "message/delivery-status parsed into field blocks")
        self.assertGreaterEqual(len(blocks), 2, "per-message fields, then one block per "
                                                "recipient")
        per_msg = blocks[0]
        self.assertIn("dns;", str(per_msg["Reporting-MTA"]).replace(" ", "").lower())
        per_rcpt = {}
        for b in blocks[1:]:
            self.assertIsNotNone(b["Final-Recipient"], f"block without Final-Recipient: {b}")
            self.assertIn("rfc822", str(b["Final-Recipient"]).lower())
            self.assertEqual(str(b["Action"]).strip().lower(), action, str(b))
            self.assertRegex(str(b["Status"]).strip(), r"^[245]\.\d{1,3}\.\d{1,3}$")
            per_rcpt[addr_of(b["Final-Recipient"])] = b
        return m, parts, per_msg, per_rcpt

    def dsns(self, sink, about=None):
        """DSNs at the sink (null sender), optionally only those naming `about`."""
        out = []
        for m in sink.bounces():
            if about is None or about.lower().encode() in m.data.lower():
                out.append(m)
        return out

    # =====================================================================================
    # Delivery

class DeliveryTestCase(DeliveryHarness):

    def test_delivered_same_envelope_and_body(self):
        dns, sink = self.dns(), self.sink()
        d = self.relay(dns.port, sink.port)
        rcpts = ["first@remote.test", "second@remote.test"]
        qid = self.submit(d, rcpts, ORIGINAL, mail_opts="BODY=8BITMIME")
        self.expect_messages(sink, 1, d, pred=lambda m: m.mail_from == SENDER)
        wait_for(lambda: sum(len(m.rcpt_tos) for m in self.originals(sink)) >= 2, timeout=10)
        got = self.originals(sink)
        self.assertEqual(sorted(r for m in got for r in m.rcpt_tos), sorted(rcpts),
                         "each recipient exactly once\n" + self.state(d, sink))
        for m in got:
            received, added = strip_added(self, m.data, ORIGINAL)
            self.assertIn(HOSTNAME, received, received)
            self.assertIn("BODY=8BITMIME", [o.upper() for o in m.mail_options],
                          "8-bit mail to a peer offering 8BITMIME goes with BODY=8BITMIME")
            self.assertEqual(m.helo, HOSTNAME, "EHLO with the configured hostname")
        self.assertEqual(len(got), 1, "two recipients at one destination share a transaction")
        self.wait_left_queue(d, qid, sink=sink)

        lines = self.deliveries(d, qid=qid)
        self.assertEqual(sorted(l.get("rcpt") for l in lines), sorted(rcpts),
                         "one log line per recipient attempt:\n" + d.log_tail())
        for l in lines:
            self.assertEqual(l.get("status"), "delivered", l["_line"])
            self.assertEqual(l.get("dsn"), "2.0.0", l["_line"])
            self.assertEqual(l.get("relay"), f"mx.sink.test[127.0.0.1]:{sink.port}", l["_line"])
            self.assertRegex(l.get("delay", ""), r"^\d+(\.\d+)?s$", l["_line"])
            self.assertTrue(l.get("response", "").startswith("250"), l["_line"])
        time.sleep(0.5)
        self.assertEqual(self.dsns(sink), [], "no DSN for a delivered message")

    def test_implicit_mx_and_backup_mx(self):
        """No MX: the domain's own address. First MX refuses: the next one, in the same
        attempt."""
        dns, sink = self.dns(), self.sink()
        d = self.relay(dns.port, sink.port)
        t0 = time.monotonic()
        q1 = self.submit(d, ["user@implicit.test"], message("implicit mx"))
        q2 = self.submit(d, ["user@backup.test"], message("backup mx"))
        self.expect_messages(sink, 2, d, pred=lambda m: m.mail_from == SENDER)
        self.assertLess(time.monotonic() - t0, 4, "the backup MX is tried in the first "
                                                  "attempt, not after a retry")
        self.assertEqual(sorted(r for m in self.originals(sink) for r in m.rcpt_tos),
                         ["user@backup.test", "user@implicit.test"])
        self.wait_left_queue(d, q1)
        self.wait_left_queue(d, q2)
        last = self.deliveries(d, qid=q2)[-1]
        self.assertEqual(last.get("status"), "delivered", last["_line"])
        self.assertEqual(last.get("relay"), f"mx.sink.test[127.0.0.1]:{sink.port}", last["_line"])

    def test_opportunistic_starttls(self):
        dns, sink = self.dns(), self.sink(starttls=True)
        d = self.relay(dns.port, sink.port)
        self.submit(d, ["tls@remote.test"], message("starttls"))
        got = self.expect_messages(sink, 1, d, pred=lambda m: m.mail_from == SENDER)
        self.assertIn(got[0].tls, ("TLSv1.2", "TLSv1.3"),
                      "STARTTLS used when offered (delivery.tls: opportunistic)")

    def test_tls_required_defers_cleartext_peer(self):
        dns, sink = self.dns(), self.sink()  # no STARTTLS
        d = self.relay(dns.port, sink.port, tls="required")
        qid = self.submit(d, ["clear@remote.test"], message("tls required"))
        ok = wait_for(lambda: (self.show(d, qid) or {}).get("attempts", 0) >= 1, timeout=10)
        self.assertTrue(ok, "an attempt is recorded\n" + self.state(d, sink, qid))
        show = self.show(d, qid)
        self.assertEqual(show.get("state"), "deferred", show)
        self.assertEqual(sink.snapshot(), [], "nothing sent in clear")
        self.assertEqual(sink.rcpt_events(), [], "not even RCPT TO in clear")

    # =====================================================================================
    # Retries

    def test_451_then_accept_retries_on_schedule(self):
        dns, sink = self.dns(), self.sink()
        rcpt = "later@remote.test"
        sink.reply_rcpt(rcpt, "451 4.3.0 try later", times=2)
        d = self.relay(dns.port, sink.port)
        qid = self.submit(d, [rcpt], message("451 then accept"))

        # Between the attempts: deferred, the attempt and the reply visible.
        seen = wait_for(lambda: (lambda s: s if s and s.get("attempts", 0) >= 1 else None)(
            self.show(d, qid)), timeout=10, interval=0.05)
        self.assertTrue(seen, "queue show never showed an attempt (delivered already, or "
                              "never tried)\n" + self.state(d, sink, qid))
        self.assertEqual(seen.get("state"), "deferred", seen)
        self.assertIn("451", seen.get("last_response", ""), seen)
        r = seen["recipients"][0]
        self.assertEqual(r.get("state"), "pending", r)
        self.assertTrue(r.get("attempts"), r)
        self.assertIn("451 4.3.0 try later", r["attempts"][0].get("response", ""), r)
        self.assertIn("127.0.0.1", r["attempts"][0].get("host", ""), r)

        self.expect_messages(sink, 1, d, timeout=15, pred=lambda m: m.mail_from == SENDER)
        self.wait_left_queue(d, qid, sink=sink)
        time.sleep(1.5)
        tries = [t for t, _, _, _ in sink.rcpt_events(rcpt)]
        self.assertEqual(len(tries), 3, "two 451s, then 250: three attempts, no more\n"
                         + self.state(d, sink))
        self.assertEqual(len(self.originals(sink)), 1, "delivered once")
        gap1, gap2 = tries[1] - tries[0], tries[2] - tries[1]
        # first: 1s, then doubling (2s); jitter allowed, but not an immediate retry,
        # and not the default schedule (minutes).
        self.assertGreaterEqual(gap1, 0.5, f"first retry after ~1s, was {gap1:.2f}s")
        self.assertLessEqual(gap1, 2.5, f"first retry after ~1s, was {gap1:.2f}s")
        self.assertGreaterEqual(gap2, 1.0, f"second retry after ~2s, was {gap2:.2f}s")
        self.assertLessEqual(gap2, 4.5, f"second retry after ~2s, was {gap2:.2f}s")

        lines = self.deliveries(d, qid=qid)
        self.assertEqual([l.get("status") for l in lines], ["deferred", "deferred", "delivered"],
                         "\n".join(l["_line"] for l in lines))
        self.assertIn("451 4.3.0 try later", lines[0].get("response", ""), lines[0]["_line"])
        self.assertTrue(lines[0].get("dsn", "").startswith("4."), lines[0]["_line"])

    def test_refused_destination_deferred_and_marked_down(self):
        dns, sink = self.dns(), self.sink()
        d = self.relay(dns.port, sink.port)
        qids = [self.submit(d, [f"u{i}@refused.test"], message(f"refused {i}"))
                for i in range(5)]

        def all_deferred():
            q = self.queue_ids(d)
            return all(q.get(i, {}).get("state") == "deferred" for i in qids)
        self.assertTrue(wait_for(all_deferred, timeout=15),
                        "every message deferred\n" + self.state(d, sink))
        for qid in qids:
            lines = self.deliveries(d, qid=qid)
            self.assertTrue(lines, f"a delivery line for {qid}\n" + self.state(d, sink))
            self.assertEqual(lines[0].get("status"), "deferred", lines[0]["_line"])
        down = [l for l in d.log_text().splitlines()
                if re.search(r"\bdown\b", l) and ("refused.test" in l or "127.0.0.2" in l)]
        self.assertTrue(down, "the log shows the destination marked down\n" + d.log_tail())
        # While it is down, new mail for it waits without a connection attempt of its own.
        late = self.submit(d, ["late@refused.test"], message("refused late"))
        self.assertTrue(wait_for(lambda: self.deliveries(d, qid=late), timeout=5),
                        "the late message is deferred at once\n" + self.state(d, sink))
        line = self.deliveries(d, qid=late)[0]
        self.assertEqual(line.get("status"), "deferred", line["_line"])
        self.assertIn("down", line.get("response", ""),
                      "deferred because the destination is down: " + line["_line"])
        time.sleep(1)
        self.assertEqual(self.dsns(sink), [], "deferred, not bounced")
        self.assertEqual(set(qids + [late]) - set(self.queue_ids(d)), set(), "all still queued")

    # =====================================================================================
    # Bounces

    def test_550_for_one_of_two_recipients_dsn(self):
        dns, sink = self.dns(), self.sink()
        sink.reply_rcpt("nouser@remote.test", "550 5.1.1 no such user")
        d = self.relay(dns.port, sink.port)
        qid = self.submit(d, ["ok@remote.test", "nouser@remote.test"],
                          message("partly bounced"), mail_opts="RET=HDRS ENVID=env-550")
        self.expect_messages(sink, 1, d, pred=lambda m: m.mail_from == SENDER)
        dsn = self.expect_messages(sink, 1, d, pred=lambda m: m.mail_from == "", what="DSNs")[0]
        self.wait_left_queue(d, qid, sink=sink)

        self.assertEqual([m.rcpt_tos for m in self.originals(sink)], [["ok@remote.test"]])
        self.assertEqual(dsn.rcpt_tos, [SENDER], "the DSN goes to the envelope sender")
        m, parts, per_msg, per_rcpt = self.parse_dsn(dsn)
        self.assertEqual(sorted(per_rcpt), ["nouser@remote.test"], "only the failed recipient")
        b = per_rcpt["nouser@remote.test"]
        self.assertEqual(str(b["Status"]).strip(), "5.1.1")
        diag = str(b["Diagnostic-Code"] or "")
        self.assertTrue(diag.lower().replace(" ", "").startswith("smtp;"), diag)
        self.assertIn("550", diag)
        self.assertIn("no such user", diag)
        self.assertEqual(str(b["Remote-MTA"] or "").lower().replace(" ", ""), "dns;mx.sink.test")
        self.assertIn("env-550", str(per_msg["Original-Envelope-Id"] or ""),
                      "ENVID comes back as Original-Envelope-Id")
        self.assertEqual(len(parts), 3, [p.get_content_type() for p in parts])
        self.assertEqual(parts[2].get_content_type(), "text/rfc822-headers")
        self.assertIn("Subject: partly bounced", str(parts[2]), str(parts[2]))
        self.assertNotIn("Body of partly bounced", str(parts[2]), "RET=HDRS: headers only")
        self.assertEqual(len(sink.rcpt_events("nouser@remote.test")), 1, "5xx is not retried")

        lines = {l["rcpt"]: l for l in self.deliveries(d, qid=qid)}
        self.assertEqual(lines["ok@remote.test"].get("status"), "delivered")
        self.assertEqual(lines["nouser@remote.test"].get("status"), "bounced",
                         lines["nouser@remote.test"]["_line"])
        self.assertEqual(lines["nouser@remote.test"].get("dsn"), "5.1.1")
        self.assertIn("550 5.1.1 no such user", lines["nouser@remote.test"].get("response", ""))
        # The DSN itself leaves the queue once delivered.
        self.assertTrue(wait_for(lambda: not self.queue_ids(d), timeout=10),
                        self.state(d, sink))

    def test_null_mx_bounces_at_once(self):
        dns, sink = self.dns(), self.sink()
        d = self.relay(dns.port, sink.port)
        t0 = time.monotonic()
        qid = self.submit(d, ["user@nullmx.test"], message("null mx"))
        dsn = self.expect_messages(sink, 1, d, timeout=10, pred=lambda m: m.mail_from == "",
                                   what="DSNs")[0]
        self.assertLess(time.monotonic() - t0, 5, "null MX bounces at the first attempt")
        _, _, _, per_rcpt = self.parse_dsn(dsn)
        self.assertEqual(sorted(per_rcpt), ["user@nullmx.test"])
        self.assertEqual(str(per_rcpt["user@nullmx.test"]["Status"]).strip(), "5.1.10")
        self.wait_left_queue(d, qid, sink=sink)
        line = self.deliveries(d, qid=qid)[-1]
        self.assertEqual((line.get("status"), line.get("dsn")), ("bounced", "5.1.10"),
                         line["_line"])
        self.assertEqual(self.originals(sink), [], "nothing sent for a null MX domain")

    def test_nxdomain_bounces_ret_full(self):
        dns, sink = self.dns(), self.sink()
        d = self.relay(dns.port, sink.port)
        qid = self.submit(d, ["user@nx.test"], message("nxdomain"), mail_opts="RET=FULL")
        dsn = self.expect_messages(sink, 1, d, timeout=10, pred=lambda m: m.mail_from == "",
                                   what="DSNs")[0]
        _, parts, _, per_rcpt = self.parse_dsn(dsn)
        self.assertEqual(sorted(per_rcpt), ["user@nx.test"])
        self.assertEqual(str(per_rcpt["user@nx.test"]["Status"]).strip(), "5.1.2")
        types = [p.get_content_type() for p in parts]
        self.assertEqual(types[2:], ["message/rfc822"], f"RET=FULL returns the message: {types}")
        self.assertIn(b"Body of nxdomain.", dsn.data, "the whole original comes back")
        self.wait_left_queue(d, qid, sink=sink)
        line = self.deliveries(d, qid=qid)[-1]
        self.assertEqual(line.get("status"), "bounced", line["_line"])

    def test_bounce_to_undeliverable_sender_is_not_bounced(self):
        """A DSN that cannot be delivered is dropped (logged), never bounced itself."""
        dns, sink = self.dns(), self.sink()
        sink.reply_rcpt("nouser@remote.test", "550 5.1.1 no such user")
        d = self.relay(dns.port, sink.port,
                       domains=[{"name": hatotest.DOMAIN, "mailboxes": ["support"]},
                                {"name": "lost.test"}])  # NXDOMAIN: DSNs to it fail
        qid = self.submit(d, ["nouser@remote.test"], message("double bounce"),
                          sender="app@lost.test")
        self.wait_left_queue(d, qid, sink=sink)
        ok = wait_for(lambda: not self.queue_ids(d), timeout=10)
        self.assertTrue(ok, "the undeliverable DSN is dropped, not bounced\n" + self.state(d, sink))
        time.sleep(1)
        self.assertEqual(self.dsns(sink), [], "no bounce of a bounce")
        self.assertEqual(self.queue_ids(d), {})

    def test_delay_warning_then_expiry(self):
        dns, sink = self.dns(), self.sink()
        sink.reply_rcpt("slow@remote.test", "451 4.3.0 still busy")
        sink.reply_rcpt("quiet@remote.test", "451 4.3.0 still busy")
        d = self.relay(dns.port, sink.port, retry={"first": "1s", "max_interval": "2s",
                                                   "delay_warning": "3s", "max_age": "8s"})
        t0 = time.monotonic()
        q1 = self.submit(d, ["slow@remote.test"], message("slow"),
                         rcpt_opts="NOTIFY=FAILURE,DELAY")
        q2 = self.submit(d, ["quiet@remote.test"], message("quiet"), rcpt_opts="NOTIFY=NEVER")
        # The failure DSN for slow@ comes after max_age.
        self.expect_messages(sink, 2, d, timeout=25, pred=lambda m: m.mail_from == "",
                             what="DSNs (one delay notice, one failure)")
        self.wait_left_queue(d, q1, sink=sink)
        self.wait_left_queue(d, q2, sink=sink)
        time.sleep(1.5)
        dsns = self.dsns(sink)
        self.assertEqual(self.dsns(sink, about="quiet@remote.test"), [], "NOTIFY=NEVER: no DSN")
        self.assertEqual(len(dsns), 2, f"one delay notice and one failure: {dsns}")
        actions = []
        for m in dsns:
            blocks = m.parsed().get_payload()[1].get_payload()
            actions.append(str(blocks[1]["Action"]).strip().lower())
        self.assertEqual(actions, ["delayed", "failed"], "delay notice first, then the failure")
        self.parse_dsn(dsns[0], action="delayed")
        _, _, _, per_rcpt = self.parse_dsn(dsns[1], action="failed")
        self.assertIn("slow@remote.test", per_rcpt)
        self.assertIn("451", str(per_rcpt["slow@remote.test"]["Diagnostic-Code"] or ""),
                      "the last remote reply is reported")
        self.assertGreaterEqual(dsns[1].time - t0, 7, "expired after max_age (8s)")
        self.assertGreaterEqual(dsns[0].time - t0, 2.5, "delay notice after delay_warning (3s)")
        statuses = [l.get("status") for l in self.deliveries(d, qid=q1)]
        self.assertEqual(set(statuses[:-1]), {"deferred"}, statuses)
        other = [l for l in d.log_text().splitlines() if re.search(r"\sexpired\s", l)]
        self.assertEqual(statuses[-1], "expired",
                         f"the contract's log line: `delivery id=.. rcpt=slow@remote.test .. "
                         f"status=expired`; the delivery lines' statuses were {statuses}, "
                         f"other lines about expiry: {other}")

    # =====================================================================================
    # DNS trouble defers

    def assert_deferred_not_bounced(self, d, qid, min_attempts, timeout, sink=None):
        ok = wait_for(lambda: (self.show(d, qid) or {}).get("attempts", 0) >= min_attempts,
                      timeout=timeout, interval=0.2)
        self.assertTrue(ok, f"{min_attempts} attempts within {timeout}s\n"
                        + self.state(d, sink, qid))
        show = self.show(d, qid)
        self.assertEqual(show.get("state"), "deferred", show)
        self.assertEqual(show["recipients"][0].get("state"), "pending", show)
        self.assertEqual(list(self.queue_ids(d)), [qid], "no DSN queued: nothing bounced")
        statuses = {l.get("status") for l in self.deliveries(d, qid=qid)}
        self.assertEqual(statuses, {"deferred"}, "\n".join(
            l["_line"] for l in self.deliveries(d, qid=qid)))
        for l in self.deliveries(d, qid=qid):
            self.assertTrue(l.get("dsn", "4.").startswith("4."), l["_line"])

    def test_servfail_defers(self):
        fake, sink = self.fake_dns("servfail"), self.sink()
        d = self.relay(fake.port, sink.port)
        qid = self.submit(d, ["user@remote.test"], message("servfail"))
        self.assert_deferred_not_bounced(d, qid, min_attempts=3, timeout=15, sink=sink)
        self.assertGreater(fake.queries, 0, "the configured DNS server was asked")

    def test_dead_dns_server_defers(self):
        fake, sink = self.fake_dns("dead"), self.sink()
        d = self.relay(fake.port, sink.port, retry={"max_age": "5m", "delay_warning": "5m"})
        qid = self.submit(d, ["user@remote.test"], message("dead dns"))
        self.assert_deferred_not_bounced(d, qid, min_attempts=2, timeout=30, sink=sink)
        self.assertGreater(fake.queries, 0, "the configured DNS server was asked")
        self.assertEqual(sink.snapshot(), [])

    # =====================================================================================
    # Durability

    def test_20_queued_while_down_sigkill_restart_exactly_once(self):
        dns = self.dns()
        sink = self.sink(start=False)  # port chosen, nothing listening: refused
        d = self.relay(dns.port, sink.port, retry={"max_age": "5m", "delay_warning": "5m"})
        mids = {}
        for i in range(20):
            mid = f"<kill-{i}.{os.getpid()}@client.sender.test>"
            qid = self.submit(d, [f"r{i}@remote.test"], message(f"kill {i}", mid=mid))
            mids[mid] = qid

        def all_tried():
            q = self.queue_ids(d)
            return all(q.get(qid, {}).get("state") == "deferred" for qid in mids.values())
        self.assertTrue(wait_for(all_tried, timeout=20, interval=0.2),
                        "all 20 deferred while the destination is down\n" + self.state(d))
        d.kill()
        sink.start()
        d.start()
        want = set(mids)

        def arrived():
            return want <= {m.message_id for m in self.originals(sink)}
        ok = wait_for(arrived, timeout=40, interval=0.2)
        got = [m.message_id for m in self.originals(sink)]
        self.assertTrue(ok, f"missing after restart: {sorted(want - set(got))}\n"
                        + self.state(d, sink))
        self.assertTrue(wait_for(lambda: not self.queue_ids(d), timeout=10),
                        "queue empty after delivery\n" + self.state(d, sink))
        time.sleep(2)
        got = [m.message_id for m in self.originals(sink)]
        dups = sorted({x for x in got if got.count(x) > 1})
        self.assertEqual(dups, [], "each message exactly once")
        self.assertEqual(sorted(got), sorted(want))
        for m in self.originals(sink):
            self.assertEqual(len(m.rcpt_tos), 1, m)

    # =====================================================================================
    # Smarthost

    def smarthost_relay(self, sink, dns, password, tls="starttls"):
        # delivery.port (25) is unused: everything goes to the smarthost.
        return self.relay(dns.port, 25, smarthost={
            "host": "127.0.0.1", "port": sink.port, "tls": tls, "username": "relayuser",
            "password_file": self.password_file(password)})

    def test_smarthost_starttls_auth(self):
        dns = self.dns()
        sink = self.sink(starttls=True, users={"relayuser": "s3cret pw"}, require_auth=True,
                         require_tls=True)
        d = self.smarthost_relay(sink, dns, "s3cret pw")
        rcpts = ["someone@faraway.example", "user@nx.test"]
        qid = self.submit(d, rcpts, message("via smarthost"))
        got = self.expect_messages(sink, 1, d, pred=lambda m: m.mail_from == SENDER)
        wait_for(lambda: sum(len(m.rcpt_tos) for m in self.originals(sink)) >= 2, timeout=5)
        self.assertEqual(sorted(r for m in self.originals(sink) for r in m.rcpt_tos),
                         sorted(rcpts), "everything goes to the smarthost, whatever the DNS")
        self.assertIn(got[0].tls, ("TLSv1.2", "TLSv1.3"), "STARTTLS before AUTH")
        self.assertEqual(got[0].auth_user, "relayuser")
        self.wait_left_queue(d, qid, sink=sink)
        self.assertEqual([q for q in dns.queries() if q[0] == "MX"], [],
                         "no MX lookups in smarthost mode")
        line = self.deliveries(d, qid=qid)[-1]
        self.assertEqual(line.get("status"), "delivered", line["_line"])
        self.assertIn(f"127.0.0.1]:{sink.port}", line.get("relay", ""), line["_line"])

    def test_smarthost_implicit_tls_auth(self):
        dns = self.dns()
        sink = self.sink(implicit_tls=True, users={"relayuser": "pw-2"}, require_auth=True)
        d = self.smarthost_relay(sink, dns, "pw-2", tls="implicit")
        self.submit(d, ["someone@faraway.example"], message("implicit tls smarthost"))
        got = self.expect_messages(sink, 1, d, pred=lambda m: m.mail_from == SENDER)
        self.assertEqual(got[0].auth_user, "relayuser")
        self.assertIsNotNone(got[0].tls)

    def test_smarthost_wrong_credentials_defers(self):
        dns = self.dns()
        sink = self.sink(starttls=True, users={"relayuser": "right"}, require_auth=True,
                         require_tls=True)
        d = self.smarthost_relay(sink, dns, "wrong")
        qid = self.submit(d, ["someone@faraway.example"], message("bad credentials"))
        self.assert_deferred_not_bounced(d, qid, min_attempts=2, timeout=12, sink=sink)
        self.assertGreaterEqual(sink.auth_failures, 1, "it did try to log in")
        self.assertIn("535", self.show(d, qid).get("last_response", ""))
        self.assertEqual(sink.snapshot(), [], "nothing sent, no DSN")


# Reads every DSN in a Maildir's new/ with two independent bounce parsers and prints one
# line per recipient each finds: "<parser> <address> <action> <status>"; and for each file
# what BounceParser took it for: "bounceparser-kind <file> bounce|not-bounce <type>".
DSN_READERS = r"""
use strict;
use warnings;
use Sisimai;
use Mail::DeliveryStatus::BounceParser;
my ($dir) = @ARGV;
opendir(my $dh, $dir) or die "cannot read $dir: $!";
for my $name (sort grep { -f "$dir/$_" } readdir $dh) {
    open(my $fh, '<', "$dir/$name") or die "cannot open $name: $!";
    my $raw = do { local $/; <$fh> };
    close $fh;
    my $bounce = eval { Mail::DeliveryStatus::BounceParser->new($raw) };
    die "BounceParser: $@" unless $bounce;
    print join(' ', 'bounceparser-kind', $name, $bounce->is_bounce ? 'bounce' : 'not-bounce',
               ($bounce->{type} // '-') =~ s/\s+/_/gr), "\n";
    for my $r ($bounce->reports) {
        my @f = map { my $v = $r->get($_) // '-'; $v =~ s/\s+\z//; $v =~ s/\s+/_/g; $v }
                ('email', 'action', 'status');
        print join(' ', 'bounceparser', @f), "\n";
    }
}
my $list = Sisimai->make($dir) // [];
for my $e (@$list) {
    print join(' ', 'sisimai', $e->recipient->address, $e->action || '-',
               $e->deliverystatus || '-'), "\n";
}
"""


class DsnReadersTest(DeliveryHarness):
    """Issue 28 (items 10, 11): DSNs to a local mailbox, read from its Maildir file by
    Sisimai and Mail::DeliveryStatus::BounceParser (Debian's libsisimai-perl and
    libmail-deliverystatus-bounceparser-perl), as a user's bounce processing would."""

    LOCAL = f"support@{hatotest.DOMAIN}"
    RCPTS = ["first@remote.test", "second@remote.test"]

    def new_dir(self, d):
        return os.path.join(d.data_dir, "mail", hatotest.DOMAIN, "support", "new")

    def dsn_files(self, d):
        new = self.new_dir(d)
        return sorted(os.listdir(new)) if os.path.isdir(new) else []

    def readers(self, d):
        """{parser: {recipient: (action, status)}} over the Maildir's DSNs."""
        r = subprocess.run(["perl", "-e", DSN_READERS, self.new_dir(d)], capture_output=True,
                           timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        out = {"sisimai": {}, "bounceparser": {}, "bounceparser-kind": {}}
        for line in r.stdout.decode().splitlines():
            parser, address, action, status = line.split(" ")
            out[parser][address.lower()] = (action.lower(), status)
        return out, r.stdout.decode()

    def test_dsn_readers_see_every_recipient_of_a_bounce_in_maildir(self):
        dns, sink = self.dns(), self.sink()
        for rcpt in self.RCPTS:
            sink.reply_rcpt(rcpt, "550 5.1.1 no such user here")
        d = self.relay(dns.port, sink.port)
        self.submit(d, self.RCPTS, message("bounce to a mailbox"), sender=self.LOCAL)
        self.assertTrue(wait_for(lambda: self.dsn_files(d), timeout=15),
                        self.state(d, sink))
        got, text = self.readers(d)
        want = {r: ("failed", "5.1.1") for r in self.RCPTS}
        self.assertEqual(got["sisimai"], want, text)
        self.assertEqual(got["bounceparser"], want, text)
        self.assertEqual([k for k, _ in got["bounceparser-kind"].values()], ["bounce"], text)
        with open(os.path.join(self.new_dir(d), self.dsn_files(d)[0]), "rb") as f:
            raw = f.read()
        self.assertNotIn(b"\r\n", raw, "a Maildir file has LF line ends")

    def test_dsn_readers_see_every_recipient_of_a_delay_notice_in_maildir(self):
        dns, sink = self.dns(), self.sink()
        for rcpt in self.RCPTS:
            sink.reply_rcpt(rcpt, "452 4.2.2 mailbox full, try later")
        d = self.relay(dns.port, sink.port, retry={"first": "1s", "max_interval": "2s",
                                                   "delay_warning": "2s", "max_age": "1h"})
        self.submit(d, self.RCPTS, message("delayed to a mailbox"), sender=self.LOCAL)
        self.assertTrue(wait_for(lambda: self.dsn_files(d), timeout=20),
                        self.state(d, sink))
        with open(os.path.join(self.new_dir(d), self.dsn_files(d)[0]), "rb") as f:
            raw = f.read()
        # The last deferral's status, not 4.4.7 ("delivery time expired"): the message is
        # still being retried.
        self.assertEqual(raw.count(b"\nAction: delayed\nStatus: 4.2.2\n"), 2, raw)
        got, text = self.readers(d)
        want = {r: ("delayed", "4.2.2") for r in self.RCPTS}
        self.assertEqual(got["sisimai"], want, text)
        # BounceParser reports only failures: a delay notice is, by its design, "not a
        # bounce", of type "delivery-status delayed" (it stops at the first Action: delayed).
        self.assertEqual(list(got["bounceparser-kind"].values()),
                         [("not-bounce", "delivery-status_delayed")], text)
        self.assertEqual(len(self.dsn_files(d)), 1, "one delay notice")
