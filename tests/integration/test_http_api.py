"""The HTTP API (issue 22 item 1): POST /v1/messages over HTTPS with an API key, from the
clients applications already have - curl, Python's requests, Node's built-in fetch - each
checking the server certificate. What arrives at the sink is read back by Python's `email`
parser and verified by python3-dkim; the answers are checked as a program would read them
(status, JSON body, Retry-After)."""

import base64
import email
import email.policy
import json
import os
import shutil
import subprocess
import tempfile
import time

import hatotest
from hatotest import Daemon, wait_for
from test_delivery import FAST_RETRY, SENDER_DOMAIN, DeliveryHarness
from test_dkim_e2e import DKIM_MISSING, keygen

try:
    import requests  # python3-requests (Debian)
    REQUESTS_MISSING = None
except ImportError as e:
    REQUESTS_MISSING = f"{e} (apt-get install python3-requests)"

if DKIM_MISSING is None:
    import dkim

APP = "app"
APP_SENDER = f"app@{SENDER_DOMAIN}"
PDF = b"%PDF-1.4\n" + bytes(range(256)) * 8  # binary: every byte value
CSV = "name,city\nZoë,Kraków\n".encode()


def cert_file():
    return hatotest._make_cert()[0]


class HttpApiHarness(DeliveryHarness):
    """A relay with an http listener, one user `app` with an API key, DKIM for sender.test."""

    def api_relay(self, dns_port, sink_port, limits=None, dkim_keys=None, start=True):
        y = ["dns:", f"  servers: [\"127.0.0.1:{dns_port}\"]", "delivery:",
             f"  port: {sink_port}", "  retry:"]
        y += [f"    {k}: {json.dumps(v)}" for k, v in FAST_RETRY.items()]
        sender_domain = {"name": SENDER_DOMAIN}
        if dkim_keys:
            sender_domain["dkim"] = dkim_keys
        d = Daemon(users={APP: "app-password-1"},
                   listeners=[{"name": "submission", "role": "submission", "tls": "starttls"},
                              {"name": "api", "role": "http", "tls": "implicit"}],
                   domains=[{"name": hatotest.DOMAIN, "mailboxes": ["support"]}, sender_domain],
                   allowed_senders={APP: [APP_SENDER]}, limits=limits,
                   extra_yaml="\n".join(y) + "\n")
        self.adopt(d)
        r = d.cli("user", "key", "add", APP)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.key = r.stdout.strip()
        if start:
            d.start()
        return d

    def url(self, d, path="/v1/messages"):
        return f"https://127.0.0.1:{d.port('api')}{path}"

    def curl(self, d, body, content_type="application/json", key=None, headers=(),
             path="/v1/messages", method="POST"):
        """(status, headers dict in lower case, JSON body) from curl with the CA checked."""
        hdr = tempfile.NamedTemporaryFile(prefix="hato-it-curl-", delete=False)
        hdr.close()
        self.addCleanup(os.unlink, hdr.name)
        cmd = ["curl", "-sS", "--cacert", cert_file(), "-X", method, self.url(d, path),
               "-D", hdr.name, "-H", f"Content-Type: {content_type}",
               "-H", f"Authorization: Bearer {key or self.key}", "--data-binary", "@-"]
        for h in headers:
            cmd += ["-H", h]
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        r = subprocess.run(cmd, input=data, capture_output=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(hdr.name) as f:
            lines = f.read().splitlines()
        status = int(lines[0].split()[1])
        fields = {}
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                fields[k.strip().lower()] = v.strip()
        return status, fields, json.loads(r.stdout)

    def submitted(self, sink, d, n=1):
        got = self.expect_messages(sink, n, d, pred=lambda m: m.mail_from == APP_SENDER)
        return [m for m in got if m.mail_from == APP_SENDER]


class HttpApiTest(HttpApiHarness):

    def test_json_with_text_html_and_two_attachments_is_valid_signed_mime(self):
        if DKIM_MISSING:
            self.fail(f"test prerequisite missing: {DKIM_MISSING}")
        keydir = tempfile.mkdtemp(prefix="hato-it-dkim-")
        self.addCleanup(shutil.rmtree, keydir, True)
        key_file, txt = keygen(self, keydir, "api", "rsa-sha256")
        dns, sink = self.dns(), self.sink()
        d = self.api_relay(dns.port, sink.port, dkim_keys=[
            {"selector": "api", "algorithm": "rsa-sha256", "key": key_file}])
        subject = "Grüße aus Köln — 状態レポート " + "long " * 20
        request = {
            "from": {"name": "Zoë Müller", "email": APP_SENDER},
            "to": ["Ada Lovelace <ada@remote.test>"],
            "cc": "bob@remote.test",
            "bcc": ["hidden@remote.test"],
            "reply_to": "help@sender.test",
            "subject": subject,
            "text": "Hello Ada,\nthe report is attached. ünïcödé\n" + "x" * 1200 + "\n",
            "html": "<p>Hello <b>Ada</b>, the report is attached.</p>",
            "headers": {"X-Campaign": "spring", "X-Note": "naïve"},
            "attachments": [
                {"name": "rapport été.pdf", "type": "application/pdf",
                 "content": base64.b64encode(PDF).decode()},
                {"name": "cities.csv", "type": "text/csv",
                 "content": base64.b64encode(CSV).decode()}],
        }
        status, headers, body = self.curl(d, request)
        self.assertEqual(status, 202, body)
        self.assertRegex(body["id"], r"^[0-9A-Z]{16}$")
        msg = self.submitted(sink, d)[0]
        self.assertEqual(sorted(msg.rcpt_tos),
                         ["ada@remote.test", "bob@remote.test", "hidden@remote.test"])
        data = msg.data
        for line in data.split(b"\r\n"):
            self.assertLessEqual(len(line), 998, line[:100])
        parsed = email.message_from_bytes(data, policy=email.policy.default)
        self.assertEqual(str(parsed["Subject"]), subject)
        self.assertEqual(parsed["From"].addresses[0].display_name, "Zoë Müller")
        self.assertEqual(parsed["From"].addresses[0].addr_spec, APP_SENDER)
        self.assertEqual(parsed["To"].addresses[0].display_name, "Ada Lovelace")
        self.assertEqual(parsed["Cc"].addresses[0].addr_spec, "bob@remote.test")
        self.assertEqual(parsed["Reply-To"].addresses[0].addr_spec, "help@sender.test")
        self.assertIsNone(parsed["Bcc"], "Bcc recipients are in the envelope only")
        self.assertEqual(str(parsed["X-Note"]), "naïve")
        self.assertEqual(str(parsed["X-Campaign"]), "spring")
        self.assertEqual(parsed["Message-ID"], f"<{body['id']}@{hatotest.HOSTNAME}>")
        self.assertEqual(parsed.get_content_type(), "multipart/mixed")
        self.assertEqual(parsed.get_body(("plain",)).get_content().replace("\r\n", "\n"),
                         request["text"])
        self.assertEqual(parsed.get_body(("html",)).get_content().strip(), request["html"])
        attachments = [(a.get_filename(), a.get_content_type(), a.get_payload(decode=True))
                       for a in parsed.iter_attachments()]
        self.assertEqual(attachments, [("rapport été.pdf", "application/pdf", PDF),
                                       ("cities.csv", "text/csv", CSV)])
        self.assertEqual(parsed.defects, [])

        def dnsfunc(name, timeout=5):
            name = name.decode() if isinstance(name, bytes) else name
            return txt.encode() if name.rstrip(".") == f"api._domainkey.{SENDER_DOMAIN}" else None
        self.assertTrue(dkim.DKIM(data).verify(dnsfunc=dnsfunc), data[:1500])

    def test_raw_message_arrives_byte_for_byte_after_hatos_headers(self):
        if REQUESTS_MISSING:
            self.fail(f"test prerequisite missing: {REQUESTS_MISSING}")
        dns, sink = self.dns(), self.sink()
        d = self.api_relay(dns.port, sink.port)
        raw = (f"From: App <{APP_SENDER}>\r\nTo: someone@remote.test\r\n"
               "Subject: raw through requests\r\nDate: Mon, 07 Dec 2026 10:00:00 +0000\r\n"
               "Message-ID: <raw-1@sender.test>\r\nMIME-Version: 1.0\r\n"
               "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n"
               "\r\ncafé\r\n.\r\n..leading dots\r\n  trailing space  \r\n").encode()
        r = requests.post(self.url(d), data=raw, verify=cert_file(), timeout=30,
                          params={"from": APP_SENDER, "to": "someone@remote.test,two@remote.test"},
                          headers={"Authorization": f"Bearer {self.key}",
                                   "Content-Type": "message/rfc822"})
        self.assertEqual(r.status_code, 202, r.text)
        msg = self.submitted(sink, d)[0]
        self.assertEqual(sorted(msg.rcpt_tos), ["someone@remote.test", "two@remote.test"])
        self.assertTrue(msg.data.endswith(raw), msg.data[:1000])
        added = msg.data[:-len(raw)].decode()
        names = [line.split(":")[0] for line in added.split("\r\n")
                 if line and not line[0].isspace()]
        self.assertEqual(names, ["Received"], added)
        self.assertIn(f"with HTTPSA id {r.json()['id']}", added)

    def test_the_same_post_twice_with_one_idempotency_key_queues_one_message(self):
        dns = self.dns()
        sink = self.sink(start=False)  # mail stays queued: count it there
        d = self.api_relay(dns.port, sink.port)
        script = """
const [url, key, body] = process.argv.slice(1);
async function post(idem) {
  const r = await fetch(url, {method: 'POST', body,
      headers: {'Authorization': 'Bearer ' + key, 'Content-Type': 'application/json',
                'Idempotency-Key': idem}});
  return {status: r.status, replayed: r.headers.get('idempotent-replayed'), body: await r.json()};
}
(async () => {
  const out = [await post('order-42'), await post('order-42'), await post('order-43')];
  console.log(JSON.stringify(out));
})().catch(e => { console.error(e); process.exit(1); });
"""
        body = json.dumps({"from": APP_SENDER, "to": "x@remote.test", "subject": "once",
                           "text": "only once\n"})
        env = dict(os.environ, NODE_EXTRA_CA_CERTS=cert_file(), NODE_NO_WARNINGS="1")
        r = subprocess.run(["node", "-e", script, self.url(d), self.key, body],
                           capture_output=True, text=True, timeout=60, env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        first, again, other = json.loads(r.stdout)
        self.assertEqual((first["status"], again["status"], other["status"]), (202, 202, 202))
        self.assertEqual(again["body"]["id"], first["body"]["id"])
        self.assertEqual(again["replayed"], "true")
        self.assertNotEqual(other["body"]["id"], first["body"]["id"])
        ids = sorted(m["id"] for m in d.queue_ls())
        self.assertEqual(ids, sorted([first["body"]["id"], other["body"]["id"]]))
        # The record outlives a restart; the same key with another request is refused.
        d.stop()
        d.start()
        status, _, replay = self.curl(d, json.loads(body), headers=["Idempotency-Key: order-42"])
        self.assertEqual((status, replay["id"]), (202, first["body"]["id"]))
        changed = dict(json.loads(body), subject="twice?")
        status, _, err = self.curl(d, changed, headers=["Idempotency-Key: order-42"])
        self.assertEqual((status, err["code"]), (422, "idempotency_key_reused"))
        self.assertEqual(len(d.queue_ls()), 2)

    def test_sigkill_right_after_a_202_loses_nothing(self):
        dns = self.dns()
        sink = self.sink(start=False)
        d = self.api_relay(dns.port, sink.port)
        status, _, body = self.curl(d, {"from": APP_SENDER, "to": "x@remote.test",
                                        "subject": "durable", "text": "survives\n"})
        self.assertEqual(status, 202, body)
        d.kill()
        d.start()
        self.assertEqual([m["id"] for m in d.queue_ls()], [body["id"]])
        sink.start()
        self.submitted(sink, d)

    def test_twenty_thousand_recipients_in_one_post_are_queued(self):
        # Recipient checks that answer at once must not nest one call per recipient: the
        # stack of a 20,000-recipient POST would overflow (and take the daemon down).
        # DNS that never answers: no delivery attempt starts while the test looks. (An attempt
        # that fails to connect handles all 20,000 results in one turn of the loop; under ASan
        # the admin socket then went unanswered for over 10 s - a known issue, not this test's.)
        sink = self.sink(start=False)
        d = self.api_relay(hatotest._blackhole_dns_port(), sink.port,
                           limits={"max_recipients": 20000})
        rcpts = [f"r{i}@remote.test" for i in range(20000)]
        status, _, body = self.curl(d, {"from": APP_SENDER, "to": rcpts[:1], "bcc": rcpts[1:],
                                        "subject": "many", "text": "to everyone\n"})
        self.assertEqual(status, 202, body)
        r = d.cli("queue", "show", body["id"], "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        shown = json.loads(r.stdout)
        self.assertEqual(len(shown["recipients"]), 20000)
        self.assertTrue(d.running())

    def test_each_error_is_json_with_a_code_and_a_sentence(self):
        dns = self.dns()
        sink = self.sink(start=False)
        d = self.api_relay(dns.port, sink.port)
        good = {"from": APP_SENDER, "to": "x@remote.test", "subject": "s", "text": "t"}
        cases = [
            (dict(good, to=["x@remote.test", "not an address"]), {}, 400, "invalid_field",
             "to[1]"),
            (dict(good, colour="red"), {}, 400, "invalid_field", "colour"),
            (dict(good, attachments=[{"name": "a", "type": "x/y", "content": "!!"}]), {}, 400,
             "invalid_field", "attachments[0].content"),
            (good, {"key": "hato_nope_nope"}, 401, "unauthorized", None),
            (good, {"path": "/v1/nothing"}, 404, "not_found", None),
            (good, {"content_type": "text/plain"}, 415, "unsupported_media_type", None),
            (dict(good, **{"from": "boss@sender.test"}), {}, 422, "sender_refused", "from"),
            ("x" * (2 << 20), {"content_type": "message/rfc822"}, 413, "too_large", None),
        ]
        for request, kw, status, code, field in cases:
            with self.subTest(code=code, field=field):
                body = request.encode() if isinstance(request, str) else request
                got, headers, err = self.curl(d, body, **kw)
                self.assertEqual((got, err["code"]), (status, code), err)
                self.assertIsInstance(err["message"], str)
                self.assertGreater(len(err["message"]), 10)
                self.assertEqual(err.get("field"), field)
                self.assertEqual(headers["content-type"], "application/json")
                if status == 401:
                    self.assertIn("Bearer", headers["www-authenticate"])
        got, headers, err = self.curl(d, good, method="GET")
        self.assertEqual((got, err["code"], headers["allow"]), (405, "method_not_allowed", "POST"))
        self.assertEqual(d.queue_ls(), [], "nothing refused was queued")


class HttpApiDiskFullTest(HttpApiHarness):

    def test_a_full_disk_gets_503_with_retry_after_then_202_when_space_returns(self):
        import test_diskfull
        mnt = test_diskfull.DiskFullTest.small_fs(self)
        dns = self.dns()
        sink = self.sink(start=False)
        d = self.api_relay(dns.port, sink.port, start=False)
        d.data_dir = os.path.join(mnt, "data")
        d.write_config()
        d.start()
        good = {"from": APP_SENDER, "to": "x@remote.test", "subject": "s", "text": "t"}
        self.assertEqual(self.curl(d, good)[0], 202)
        filler = os.path.join(mnt, "filler")
        test_diskfull.fill(filler)
        status, headers, err = self.curl(d, good)
        self.assertEqual((status, err["code"]), (503, "unavailable"), err)
        self.assertIn("4.3.1", err["message"])
        self.assertGreater(int(headers["retry-after"]), 0)
        os.unlink(filler)
        self.assertTrue(wait_for(lambda: self.curl(d, good)[0] == 202, timeout=15),
                        "accepted again once space returned")
        self.assertEqual(len(d.queue_ls()), 2)


class HttpApiLimitsTest(HttpApiHarness):

    def test_the_sixth_http_message_in_a_minute_gets_429_naming_the_limit(self):
        while time.gmtime().tm_sec > 20:  # six messages and a restart in one clock minute
            time.sleep(1)
        dns = self.dns()
        sink = self.sink(start=False)
        d = self.api_relay(dns.port, sink.port, limits={"users": {"default": {"messages": "5/m"}}})
        good = {"from": APP_SENDER, "to": "x@remote.test", "subject": "s", "text": "t"}
        for _ in range(5):
            self.assertEqual(self.curl(d, good)[0], 202)
        status, headers, err = self.curl(d, good)
        self.assertEqual((status, err["code"]), (429, "rate_limited"), err)
        self.assertRegex(err["message"], r"^451 4\.7\.1 user app has reached its limit of 5 "
                                         r"messages per minute")
        self.assertTrue(1 <= int(headers["retry-after"]) <= 60, headers)
        d.stop()
        d.start()
        self.assertEqual(self.curl(d, good)[0], 429, "the count survives a restart")
        self.assertEqual(len(d.queue_ls()), 5)


if __name__ == "__main__":
    import unittest
    unittest.main()
