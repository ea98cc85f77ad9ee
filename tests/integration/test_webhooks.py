"""Webhooks (issue 21 item 2) against a real HTTPS receiver.

The receiver is Python's http.server over TLS on loopback, with a certificate from a CA the
test makes (Hato trusts it through delivery.ca_file). It checks every POST's X-Hato-Signature
(HMAC-SHA256 of "<t>.<body>" under the hook's secret) before it keeps the events, and can go
down (its port closed) and come back on the same port.

- Every event type, with the exact schema: test_events.py's tests, with the events taken from
  the receiver instead of `queue tail`.
- The receiver down for 30 s, then back: every event arrives, none twice within a batch ID.
- SIGKILL while 1,000 events wait for a receiver that is down; a restart, the receiver up:
  every event arrives at least once.
- The README's receivers (Python and Node) accept what Hato sends and refuse a forgery.
- POSTs share one kept connection; a kept connection the receiver closes (a request on it
  unanswered) is replaced at once, without a failed POST.

Needs python3-aiosmtpd, dnsmasq-base, openssl, nodejs and python3-prometheus-client.
"""

import hashlib
import hmac
import http.server
import json
import os
import re
import subprocess
import sys
import threading
import time
import unittest
import urllib.request

import hatotest
import test_events
from hatotest import Daemon, RawSMTP, queue_id, wait_for
from test_admin import EVENT_KEYS, METRICS_LINE

try:
    import sinks
    from sinks import Dnsmasq, SmtpSink, TestCa
    MISSING = None
    if not os.access(sinks.DNSMASQ, os.X_OK):
        MISSING = f"{sinks.DNSMASQ} missing (apt-get install dnsmasq-base)"
except ImportError as e:  # python3-aiosmtpd not installed
    MISSING = f"{e} (apt-get install python3-aiosmtpd)"

SECRET = "s3cret-for-the-webhook-tests-0123"
SENDER = "app@sender.test"
MX = {d: [(10, "mx.sink.test")] for d in ("remote.test", "sender.test")}
HOSTS = {"mx.sink.test": "127.0.0.1"}
SIGNATURE = re.compile(r"^t=(\d+),v1=([0-9a-f]{64})$")
README = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "README.md")


def verify(secret, header, body):
    """The receiver's check, as the README shows it: the HMAC of "<t>.<body>"."""
    m = SIGNATURE.match(header or "")
    if not m:
        return False
    mac = hmac.new(secret.encode(), m.group(1).encode() + b"." + body, hashlib.sha256)
    return hmac.compare_digest(mac.hexdigest(), m.group(2))


class Receiver:
    """An HTTPS webhook receiver on 127.0.0.1; .batches is [(batch ID, [events])] of the POSTs
    whose signature was right, .forged counts the others (answered 401)."""

    def __init__(self, ca):
        self.ctx = ca.server_context("127.0.0.1")
        self.port = 0
        self.batches = []
        self.forged = 0
        self.posts = 0
        self.peers = []  # the client's (address, port) of each POST
        self.drop_second = False  # close, unanswered, every second request on a connection
        self.dropped = 0
        self.cond = threading.Condition()
        self.server = None
        self.thread = None

    def up(self):
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                self.requests = getattr(self, "requests", 0) + 1
                if outer.drop_second and self.requests % 2 == 0:
                    # As a server does that closes an idle connection just as a request
                    # comes: nothing read, nothing answered.
                    with outer.cond:
                        outer.dropped += 1
                    self.close_connection = True
                    return
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                ok = verify(SECRET, self.headers.get("X-Hato-Signature"), body)
                with outer.cond:
                    outer.posts += 1
                    outer.peers.append(self.client_address)
                    if ok:
                        outer.batches.append((self.headers.get("X-Hato-Batch"),
                                              json.loads(body)))
                    else:
                        outer.forged += 1
                    outer.cond.notify_all()
                self.send_response(204 if ok else 401)
                self.send_header("Content-Length", "0")
                self.end_headers()

        class Server(http.server.ThreadingHTTPServer):
            allow_reuse_address = True
            daemon_threads = True

        self.server = Server(("127.0.0.1", self.port), Handler)
        self.server.socket = self.ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def down(self):
        if self.server is not None:
            self.server.shutdown()
            self.thread.join(5)
            self.server.server_close()
            self.server = None

    def events(self):
        with self.cond:
            return [e for _, batch in self.batches for e in batch]

    def wait(self, pred, timeout):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for _, batch in self.batches:
                    for e in batch:
                        if pred(e):
                            return e
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(min(left, 0.2))


class Setup:
    """A CA, a receiver and the webhook's configuration lines, for a test case."""

    def make_receiver(self):
        self.ca = TestCa()
        self.addCleanup(self.ca.cleanup)
        self.receiver = Receiver(self.ca).up()
        self.addCleanup(self.receiver.down)
        self.secret_file = os.path.join(self.ca.dir, "hook.secret")
        with open(self.secret_file, "w") as f:
            f.write(SECRET + "\n")

    def hook_yaml(self):
        return [f"  ca_file: {json.dumps(self.ca.cert)}",
                "events:",
                "  webhooks:",
                f"    - {{url: \"https://127.0.0.1:{self.receiver.port}/hook\", "
                f"secret_file: {json.dumps(self.secret_file)}, batch: 50, timeout: 5s}}"]


@unittest.skipIf(MISSING, MISSING or "")
class WebhookSchemaTest(Setup, test_events.EventSchemaTest):
    """test_events.py's checks of every event type, on what the receiver got."""

    def setUp(self):
        self.make_receiver()
        super().setUp()

    def more_yaml(self):
        # Inside the delivery section test_events opens: ca_file first.
        return self.hook_yaml()

    def wait_event(self, pred, timeout):
        return self.receiver.wait(pred, timeout), self.receiver.events()

    def tearDown(self):
        self.assertEqual(self.receiver.forged, 0, "a POST with a bad signature")
        super().tearDown()


class DeliveryBase(Setup, hatotest.HatoTestCase):
    """A daemon with a trusted submission listener and the webhook(s) of hook_yaml()."""

    def setUp(self):
        self._daemons = []
        self.make_receiver()
        self.sink = SmtpSink()
        self.sink.start()
        self.addCleanup(self.sink.stop)
        dns = Dnsmasq(mx=MX, hosts=HOSTS)
        self.addCleanup(dns.cleanup)
        dns.start()
        y = ["admin:", '  metrics: "127.0.0.1:0"',
             "dns:", f"  servers: [\"127.0.0.1:{dns.port}\"]",
             "delivery:", f"  port: {self.sink.port}"] + self.hook_yaml()
        self.d = Daemon(listeners=[{"name": "trusted", "role": "submission", "tls": "none",
                                    "trusted_networks": ["127.0.0.0/8"]}],
                        domains=[{"name": hatotest.DOMAIN, "mailboxes": ["support"]},
                                 {"name": "sender.test"}],
                        extra_yaml="\n".join(y) + "\n")
        self.adopt(self.d)
        self.d.start()

    def tearDown(self):
        for d in self._daemons:
            d.assert_alive()

    def submit(self, n_messages, rcpts_each, tag):
        """Messages over one connection; returns {queue ID: [recipients]}."""
        out = {}
        with RawSMTP(self.d.port("trusted")) as c:
            c.greeting()
            c.ehlo()
            for i in range(n_messages):
                self.assertEqual(c.cmd(f"MAIL FROM:<{SENDER}>").code, 250)
                rcpts = [f"{tag}{i}.{k}@remote.test" for k in range(rcpts_each)]
                for r in rcpts:
                    self.assertEqual(c.cmd(f"RCPT TO:<{r}>").code, 250)
                self.assertEqual(c.cmd("DATA").code, 354)
                c.send(f"From: <{SENDER}>\r\nSubject: {tag} {i}\r\n"
                       f"Message-ID: <{tag}.{i}@sender.test>\r\n\r\nbody\r\n.\r\n".encode())
                r = c.reply()
                self.assertEqual(r.code, 250, r)
                out[queue_id(r.text)] = rcpts
            c.cmd("QUIT")
        return out

    def expected(self, sent):
        return {(event, qid, rcpt) for qid, rcpts in sent.items() for rcpt in rcpts
                for event in ("received", "delivered")}

    def arrived(self):
        return {(e["event"], e["id"], e["rcpt"]) for e in self.receiver.events()}

    def status(self):
        r = self.d.cli("events", "status", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = [json.loads(l) for l in r.stdout.splitlines() if l.strip()]
        hooks = [l for l in lines if "hook" in l]
        self.assertEqual(len(hooks), 1, lines)
        return hooks[0], lines[-1]

    def metrics(self):
        """{(name, labels as a sorted tuple): value} of /metrics (Prometheus' own parser)."""
        from prometheus_client.parser import text_string_to_metric_families
        m = METRICS_LINE.search(self.d.log_text())
        self.assertIsNotNone(m, self.d.log_tail())
        url = f"http://127.0.0.1:{m.group('port')}/metrics"
        with urllib.request.urlopen(url, timeout=10) as resp:
            text = resp.read().decode()
        return {(s.name, tuple(sorted(s.labels.items()))): s.value
                for f in text_string_to_metric_families(text) for s in f.samples}

    def assert_no_duplicates_within_a_batch(self):
        with self.receiver.cond:
            batches = list(self.receiver.batches)
        for batch_id, events in batches:
            self.assertRegex(batch_id or "", r"^\d+-\d+$")
            keys = [json.dumps(e, sort_keys=True) for e in events]
            self.assertEqual(len(keys), len(set(keys)), f"batch {batch_id} repeats an event")
            for e in events:
                self.assertEqual(list(e), EVENT_KEYS, e)


@unittest.skipIf(MISSING, MISSING or "")
class WebhookDeliveryTest(DeliveryBase):

    def test_receiver_down_for_30s_then_back(self):
        self.receiver.down()
        sent = self.submit(20, 2, "down")
        want = self.expected(sent)
        self.assertTrue(wait_for(lambda: self.status()[0]["backlog"] >= len(want), 20),
                        self.status())
        hook, _ = self.status()
        self.assertNotEqual(hook["last_failure"], "")
        self.assertEqual(hook["last_success"], "")
        self.assertNotEqual(hook["last_error"], "")
        time.sleep(30)
        self.assertEqual(self.receiver.posts, 0)
        self.receiver.up()
        # The next retry comes at most 32 s later (backoff doubling from 1 s).
        ok = wait_for(lambda: want <= self.arrived(), timeout=120, interval=0.5)
        self.assertTrue(ok, f"missing: {sorted(want - self.arrived())[:10]}\n{self.d.log_tail()}")
        self.assert_no_duplicates_within_a_batch()
        self.assertEqual(self.receiver.forged, 0)
        self.assertTrue(wait_for(lambda: self.status()[0]["backlog"] == 0, 10), self.status())
        hook, outbox = self.status()
        self.assertNotEqual(hook["last_success"], "")
        self.assertEqual(outbox["dropped"], 0)
        url = f"https://127.0.0.1:{self.receiver.port}/hook"
        m = self.metrics()
        self.assertGreaterEqual(m[("hato_webhook_events_total",
                                   (("hook", url), ("result", "sent")))], len(want))
        self.assertGreater(m[("hato_webhook_events_total", (("hook", url), ("result", "failed")))],
                           0)
        self.assertEqual(m[("hato_webhook_backlog", (("hook", url),))], 0)
        self.assertEqual(m[("hato_events_dropped_total", ())], 0)
        r = self.d.cli("events", "status")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(f"https://127.0.0.1:{self.receiver.port}/hook", r.stdout)

    def test_sigkill_with_1000_events_pending_loses_none(self):
        self.receiver.down()
        sent = self.submit(100, 5, "kill")
        want = self.expected(sent)
        self.assertEqual(len(want), 1000)
        # Every message delivered: all 1,000 events are in the outbox, none sent.
        self.assertTrue(wait_for(lambda: len(self.sink.snapshot()) >= 100, 60),
                        self.d.log_tail())
        self.assertTrue(wait_for(lambda: self.status()[0]["backlog"] >= 1000, 30),
                        self.status())
        self.d.kill()
        self.receiver.up()
        self.d.start()
        ok = wait_for(lambda: want <= self.arrived(), timeout=120, interval=0.5)
        self.assertTrue(ok, f"{len(want - self.arrived())} events missing, e.g. "
                            f"{sorted(want - self.arrived())[:5]}\n{self.d.log_tail()}")
        self.assert_no_duplicates_within_a_batch()
        self.assertEqual(self.receiver.forged, 0)

    def test_readme_receivers_check_the_signature(self):
        """The Python and Node receivers of README.md, run as written, on a body and
        signature Hato made; a changed body is refused."""
        sent = self.submit(1, 1, "readme")
        qid = next(iter(sent))
        self.assertIsNotNone(self.receiver.wait(lambda e: e["id"] == qid, 30))
        text = open(README).read()
        python = re.search(r"```python\n(# webhook receiver.*?)```", text, re.S)
        node = re.search(r"```js\n(// webhook receiver.*?)```", text, re.S)
        self.assertIsNotNone(python, "README: no Python receiver")
        self.assertIsNotNone(node, "README: no Node receiver")
        body = json.dumps(self.receiver.events()).encode()
        t = str(int(time.time()))
        sig = f"t={t},v1=" + hmac.new(SECRET.encode(), t.encode() + b"." + body,
                                      hashlib.sha256).hexdigest()
        for forged in (False, True):
            data = body + (b" " if forged else b"")
            env = dict(os.environ, HOOK_SECRET=SECRET, SIGNATURE=sig)
            py = subprocess.run([sys.executable, "-c", python.group(1) +
                                 "\nimport sys, os\nprint(verify(os.environ['SIGNATURE'], "
                                 "sys.stdin.buffer.read()))\n"],
                                input=data, capture_output=True, env=env, timeout=30)
            js = subprocess.run(["node", "-e", node.group(1) +
                                 "\nlet b = [];process.stdin.on('data', d => b.push(d));"
                                 "process.stdin.on('end', () => console.log("
                                 "verify(process.env.SIGNATURE, Buffer.concat(b))));\n"],
                                input=data, capture_output=True, env=env, timeout=30)
            self.assertEqual(py.stdout.decode().strip(), "False" if forged else "True", py)
            self.assertEqual(js.stdout.decode().strip(), "false" if forged else "true", js)


@unittest.skipIf(MISSING, MISSING or "")
class WebhookConnectionTest(DeliveryBase):
    """POSTs go over one kept HTTPS connection rather than a TLS handshake each; a kept
    connection the receiver closed is replaced without a failure."""

    def one_by_one(self, n, tag):
        """n messages, each submitted once the events of the one before arrived: a POST each."""
        for i in range(n):
            want = self.expected(self.submit(1, 1, f"{tag}{i}-"))
            self.assertTrue(wait_for(lambda: want <= self.arrived(), 20, interval=0.05),
                            f"missing: {want - self.arrived()}\n{self.d.log_tail()}")

    def failed(self):
        url = f"https://127.0.0.1:{self.receiver.port}/hook"
        return self.metrics()[("hato_webhook_events_total", (("hook", url), ("result", "failed")))]

    def test_posts_share_one_connection(self):
        self.one_by_one(4, "kept")
        with self.receiver.cond:
            peers = list(self.receiver.peers)
        self.assertGreaterEqual(len(peers), 4)
        self.assertEqual(len(set(peers)), 1, f"a connection per POST: {peers}")
        self.assertEqual(self.failed(), 0)

    def test_a_kept_connection_closed_by_the_receiver_is_replaced(self):
        self.receiver.drop_second = True
        self.one_by_one(6, "dropped")
        self.assertGreaterEqual(self.receiver.dropped, 2, "no POST came on a kept connection")
        self.assertEqual(self.failed(), 0, self.d.log_tail())
        hook, _ = self.status()
        self.assertEqual(hook["last_failure"], "", hook)
        self.assert_no_duplicates_within_a_batch()


@unittest.skipIf(MISSING, MISSING or "")
class WebhookCursorTest(DeliveryBase):
    """Each hook's cursor is stored with the outbox trims (at most once a second) and at
    shutdown: a restart goes on after the last acknowledged batch instead of sending again
    every event still in the outbox."""

    def hook_yaml(self):
        # A second hook, down at first, keeps every event in the outbox: without stored
        # cursors the first one would get them all again after a restart.
        self.other = Receiver(self.ca).up()
        self.other.down()
        self.addCleanup(self.other.down)
        self.urls = [f"https://127.0.0.1:{self.receiver.port}/hook",
                     f"https://127.0.0.1:{self.other.port}/other"]
        return super().hook_yaml() + [
            f"    - {{url: \"{self.urls[1]}\", secret_file: {json.dumps(self.secret_file)}, "
            "batch: 50, timeout: 5s}"]

    def backlogs(self):
        r = self.d.cli("events", "status", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = [json.loads(l) for l in r.stdout.splitlines() if l.strip()]
        return [next(l["backlog"] for l in lines if l.get("hook") == url) for url in self.urls]

    def since(self, receiver, posts):
        """What `receiver` got after its first `posts` POSTs."""
        with receiver.cond:
            return {(e["event"], e["id"], e["rcpt"]) for _, b in receiver.batches[posts:]
                    for e in b}

    def restart_and_send_one(self, tag):
        """SIGTERM, start again, one new message: the first hook gets only its events (those
        of before would come first: one POST at a time, in outbox order)."""
        posts = self.receiver.posts
        self.d.stop()
        self.d.start()
        want = self.expected(self.submit(1, 1, tag))
        ok = wait_for(lambda: want <= self.since(self.receiver, posts), 30, interval=0.2)
        self.assertTrue(ok, f"new events missing: {want - self.since(self.receiver, posts)}\n"
                            + self.d.log_tail())
        self.assertEqual(self.since(self.receiver, posts), want,
                         "the first hook was sent events it had acknowledged before the restart")
        return want

    def test_a_restart_resumes_after_the_last_acknowledged_batch(self):
        before = self.expected(self.submit(3, 2, "before"))
        self.assertTrue(wait_for(lambda: before <= self.arrived(), 30), self.d.log_tail())
        self.assertTrue(wait_for(lambda: self.backlogs()[0] == 0, 10), self.backlogs())
        after = self.restart_and_send_one("after")
        # The second hook comes up: it gets everything, from its own cursor.
        self.other.up()
        both = before | after
        got = lambda: {(e["event"], e["id"], e["rcpt"]) for e in self.other.events()}
        self.assertTrue(wait_for(lambda: both <= got(), 60, interval=0.5),
                        f"missing: {both - got()}\n{self.d.log_tail()}")
        self.assertTrue(wait_for(lambda: self.backlogs() == [0, 0], 10), self.backlogs())
        # The outbox is empty now, and numbered from 1 again at the next start: the stored
        # cursors must not skip the new events.
        other_posts = self.other.posts
        last = self.restart_and_send_one("last")
        self.assertTrue(wait_for(lambda: last <= self.since(self.other, other_posts), 30),
                        self.d.log_tail())
        self.assertEqual(self.since(self.other, other_posts), last)
        self.assertEqual((self.receiver.forged, self.other.forged), (0, 0))


if __name__ == "__main__":
    unittest.main()
