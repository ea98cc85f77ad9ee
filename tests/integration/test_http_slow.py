"""Slow HTTP clients against Hato's web listeners (issue 29 item 5).

The MTA-STS listener faces the internet. Two attacks that used to hold its connections open
for as long as the attacker liked (libevent's evhttp had no connection cap, and a client
sending its headers a little at a time kept a connection past any timeout):

- slowhttptest (Debian's, not ours) in slowloris mode: 2,000 connections from one address,
  each sending a header line every 2 s and never finishing;
- slow heads from many addresses (127.0.0.x), which a per-address cap alone cannot stop.

During both a normal client, from an address of its own, must get the policy, and the daemon
must not hold more connections than its cap; afterwards the metrics show the refusals and the
head deadlines that did it, and the log says so in a few lines, not one per connection.
"""

import os
import re
import resource
import shutil
import socket
import subprocess
import time
import urllib.request

from hatotest import HatoTestCase, wait_for
from sinks import TestCa
from test_mta_sts_hosting import POLICY_HOST, POLICY_URL, parse_rfc8461, web_port
from test_admin import METRICS_LINE

CAP = 256  # net::HttpServerOptions::max_connections


def fetch_from(source, port, cafile):
    """GET the policy over HTTPS from the loopback address `source`, name and CA checked."""
    import http.client
    import ssl
    context = ssl.create_default_context(cafile=cafile)
    sock = socket.create_connection(("127.0.0.1", port), timeout=10,
                                    source_address=(source, 0))
    conn = http.client.HTTPSConnection(POLICY_HOST, context=context, timeout=10)
    conn.sock = context.wrap_socket(sock, server_hostname=POLICY_HOST)
    conn.request("GET", "/.well-known/mta-sts.txt", headers={"Host": POLICY_HOST})
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, body


def open_sockets(pid):
    """How many sockets the process holds (listeners included)."""
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:"):
                count += 1
        except OSError:
            pass
    return count


def metric(d, name, labels):
    m = METRICS_LINE.search(d.log_text())
    assert m, "no `metrics listening address=...` line\n" + d.log_tail()
    with urllib.request.urlopen(f"http://127.0.0.1:{m.group('port')}/metrics",
                                timeout=10) as r:
        text = r.read().decode()
    found = re.search(r"^" + re.escape(name + "{" + labels + "}") + r" (\S+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


def more_descriptors():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8192)), hard))


class SlowHttpTest(HatoTestCase):
    def setUp(self):
        super().setUp()
        self.ca = TestCa()
        self.addCleanup(self.ca.cleanup)
        self.d = self.own_daemon(extra_yaml=(
            'mta_sts:\n  listen: "127.0.0.1:0"\n  mode: enforce\n  mx: [relay.example.test]\n'
            'admin:\n  metrics: "127.0.0.1:0"\n'))
        cert, key = self.ca.issue(POLICY_HOST, "relay.example.test")
        shutil.copy(cert, os.path.join(self.d.dir, "cert.pem"))
        shutil.copy(key, os.path.join(self.d.dir, "key.pem"))
        self.d.start()
        self.port = web_port(self.d, "mta-sts")

    def assert_policy_served(self, source):
        status, body = fetch_from(source, self.port, self.ca.cert)
        self.assertEqual(status, 200, body)
        self.assertEqual(parse_rfc8461(body)["mx"], ["relay.example.test"])

    def test_slowhttptest_2000_slow_heads_leave_the_policy_served(self):
        attack = subprocess.Popen(
            ["slowhttptest", "-H", "-c", "2000", "-r", "500", "-i", "2", "-x", "10", "-p", "3",
             "-l", "25", "-u", f"https://127.0.0.1:{self.port}/.well-known/mta-sts.txt"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            preexec_fn=more_descriptors)
        self.addCleanup(lambda: attack.poll() is None and attack.kill())
        most = 0
        try:
            for _ in range(6):  # over about 15 s, while the attack holds its connections
                time.sleep(2.5)
                most = max(most, open_sockets(self.d.proc.pid))
                self.assert_policy_served("127.0.0.2")
        finally:
            output, _ = attack.communicate(timeout=120)
        output = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", output)
        self.assertIn("SLOW HEADERS", output)  # slowhttptest ran the attack asked for
        # slowhttptest's own count of connections the server closed on it.
        closed = [int(n) for n in re.findall(r"^closed:\s+(\d+)$", output, re.M)]
        self.assertTrue(closed and closed[-1] > 0, output[-600:])
        self.assertLess(most, CAP + 64, f"the daemon held {most} sockets\n{self.d.log_tail()}")
        refused = metric(self.d, "hato_http_refused_total",
                         'listener="mta-sts",reason="per_client"')
        self.assertGreater(refused, 1000, self.d.log_tail())
        lines = [l for l in self.d.log_text().splitlines() if "http connections refused" in l]
        self.assertTrue(0 < len(lines) < 20, f"{len(lines)} refusal log lines")
        self.assertIn('listener=mta-sts', lines[0])
        self.assert_policy_served("127.0.0.2")

    def test_slow_heads_from_many_addresses_are_cut_at_the_deadline_and_make_room(self):
        slow = []
        try:
            # 300 addresses, two slow heads each: more than the cap in all, under it per address.
            for host in range(10, 160):
                for _ in range(2):
                    s = socket.create_connection(("127.0.0.1", self.port), timeout=10,
                                                 source_address=(f"127.0.0.{host}", 0))
                    s.sendall(b"\x16\x03\x01")  # the first bytes of a TLS hello, then nothing
                    slow.append(s)
            self.assert_policy_served("127.0.0.2")
            self.assertLess(open_sockets(self.d.proc.pid), CAP + 64)
            evicted = metric(self.d, "hato_http_refused_total",
                             'listener="mta-sts",reason="evicted"')
            self.assertGreater(evicted, 0, self.d.log_tail())
            # The ones still open are closed by the head deadline (10 s), however long they wait.
            self.assertTrue(
                wait_for(lambda: metric(self.d, "hato_http_timeouts_total",
                                        'listener="mta-sts",phase="head"') > 0, timeout=30),
                self.d.log_tail())
            self.assertTrue(wait_for(lambda: open_sockets(self.d.proc.pid) < 64, timeout=30),
                            f"{open_sockets(self.d.proc.pid)} sockets still open")
        finally:
            for s in slow:
                s.close()
        self.assert_policy_served("127.0.0.2")


if __name__ == "__main__":
    import unittest
    unittest.main()
