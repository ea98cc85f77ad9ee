"""ACME (RFC 8555, issue 13): Hato obtains its certificate from pebble, Let's Encrypt's test
CA, serves it on its TLS listeners, renews it, and keeps serving throughout.

Everything is real: pebble (Debian's package) runs on loopback with its API certificate
from a test CA (Hato trusts it through tls.acme.ca_file), `-dnsserver` pointing at dnsmasq,
which maps the names ordered to 127.0.0.1, and its HTTP-01 port set to Hato's challenge
listener (tls.acme.http). The certificates are checked with `openssl s_client` against the
root pebble makes at start (fetched from its management API), and the MTA-STS policy is
fetched with Python's urllib trusting only that root.
"""

import os
import re
import subprocess
import time
import urllib.request

from hatotest import DOMAIN, HOSTNAME, HatoTestCase, wait_for
from sinks import Dnsmasq, Pebble, TestCa, free_port
from test_mta_sts_hosting import POLICY_HOST, POLICY_URL, fetch, parse_rfc8461, web_port

INSTALLED = "ACME certificate installed"
METRICS_LINE = re.compile(r"\bmetrics listening\b.*?\baddress=\"?[^\"\s]+:(?P<port>\d+)")


def metric(d, line_re):
    port = int(METRICS_LINE.search(d.log_text()).group("port"))
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    m = re.search(line_re, text, re.M)
    return m.group(1) if m else None


def served_certificate(port, root, name=HOSTNAME, implicit=True):
    """(verify ok, serial) of the certificate `openssl s_client` gets on 127.0.0.1:`port`."""
    args = ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", name,
            "-CAfile", root, "-verify_hostname", name, "-verify_return_error"]
    if not implicit:
        args += ["-starttls", "smtp"]
    r = subprocess.run(args, input=b"", capture_output=True, timeout=30)
    out = r.stdout.decode(errors="replace")
    ok = r.returncode == 0 and "Verify return code: 0 (ok)" in out
    pem = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", out, re.S)
    serial = None
    if pem:
        x = subprocess.run(["openssl", "x509", "-noout", "-serial"], input=pem.group(0).encode(),
                           capture_output=True, timeout=30)
        serial = x.stdout.decode().strip()
    return ok, serial, out + r.stderr.decode(errors="replace")


class AcmeTest(HatoTestCase):
    LISTENERS = [
        {"name": "submissions", "role": "submission", "tls": "implicit"},
        {"name": "submission", "role": "submission", "tls": "starttls"},
    ]

    def setUp(self):
        super().setUp()
        self.ca = TestCa()
        self.addCleanup(self.ca.cleanup)
        self.dns = Dnsmasq(hosts={HOSTNAME: "127.0.0.1", POLICY_HOST: "127.0.0.1"}).start()
        self.addCleanup(self.dns.cleanup)

    def acme_daemon(self, validity=None, mta_sts=False, alpn=False):
        """alpn: no HTTP-01 listener; pebble validates with TLS-ALPN-01 on the MTA-STS
        listener (the port that is 443 in production)."""
        http_port, tls_port = free_port(), free_port()
        pebble = Pebble(self.ca, http_port, self.dns.port, validity=validity, tls_port=tls_port)
        self.addCleanup(pebble.cleanup)
        pebble.start()
        extra = 'admin:\n  metrics: "127.0.0.1:0"\n'
        if mta_sts or alpn:
            port = tls_port if alpn else 0
            extra += f'mta_sts:\n  listen: "127.0.0.1:{port}"\n  mode: enforce\n'
        d = self.own_daemon(listeners=self.LISTENERS, extra_yaml=extra)
        with open(d.config) as f:
            text = f.read()
        acme = (f"  acme:\n    directory: \"{pebble.directory}\"\n"
                f"    email: postmaster@{DOMAIN}\n"
                + ("" if alpn else f"    http: \"127.0.0.1:{http_port}\"\n") +
                f"    ca_file: \"{self.ca.cert}\"\n")
        text = re.sub(r"(^tls:\n  certificate: .*\n  key: .*\n)", lambda m: m.group(1) + acme,
                      text, count=1, flags=re.M)
        with open(d.config, "w") as f:
            f.write(text)
        d.start()
        root = os.path.join(pebble.dir, "root.pem")
        with open(root, "wb") as f:
            f.write(pebble.root_pem())
        return d, pebble, root

    def wait_installed(self, d, pebble, count, timeout=60):
        ok = wait_for(lambda: d.log_text().count(INSTALLED) >= count, timeout=timeout,
                      interval=0.2)
        self.assertTrue(ok, f"no {count} x `{INSTALLED}`\n" + d.log_tail(30) +
                        "\n--- pebble ---\n" + pebble.log_text()[-3000:])

    def test_certificate_obtained_served_and_policy_fetched(self):
        d, pebble, root = self.acme_daemon(mta_sts=True)
        self.wait_installed(d, pebble, 1)
        # Served on the implicit-TLS and STARTTLS listeners, chained to pebble's root.
        for name, implicit in (("submissions", True), ("submission", False)):
            served = wait_for(lambda: served_certificate(d.port(name), root,
                                                          implicit=implicit)[0], timeout=15)
            ok, serial, out = served_certificate(d.port(name), root, implicit=implicit)
            self.assertTrue(served and ok, out)
        # The account key stays in the data dir, private.
        key = os.path.join(d.data_dir, "acme", "account.key")
        self.assertEqual(os.stat(key).st_mode & 0o777, 0o600)
        # The MTA-STS policy, over HTTPS with the ACME certificate (mta-sts.<domain> is in it).
        port = web_port(d, "mta-sts")
        status, _, body = fetch(POLICY_URL, port, root)
        self.assertEqual(status, 200, body)
        self.assertEqual(parse_rfc8461(body)["mode"], "enforce")

    def test_short_lived_certificate_is_renewed_while_serving(self):
        # 30 s certificates: renewal is due after 20 s (two thirds of the lifetime).
        d, pebble, root = self.acme_daemon(validity=30)
        self.wait_installed(d, pebble, 1)
        self.assertTrue(wait_for(lambda: served_certificate(d.port("submissions"), root)[0],
                                 timeout=15), d.log_tail())
        first = served_certificate(d.port("submissions"), root)[1]
        serials, failures = {first}, []
        deadline = time.monotonic() + 90
        while d.log_text().count(INSTALLED) < 2 and time.monotonic() < deadline:
            ok, serial, out = served_certificate(d.port("submissions"), root)
            if not ok:
                failures.append(out)
            serials.add(serial)
            time.sleep(0.5)
        self.wait_installed(d, pebble, 2, timeout=1)
        self.assertIn("ACME renewal scheduled", d.log_text())
        # The new certificate reaches new connections without a restart.
        self.assertTrue(wait_for(
            lambda: served_certificate(d.port("submissions"), root)[1] not in (None, first),
            timeout=15), d.log_tail())
        self.assertEqual(failures, [], "a handshake failed during renewal")
        self.assertGreaterEqual(
            int(metric(d, r'^hato_acme_orders_total\{result="issued"\} (\d+)')), 2)
        self.assertEqual(metric(d, r'^hato_acme_orders_total\{result="failed"\} (\d+)'), "0")
        self.assertIsNotNone(metric(d, r"^hato_acme_next_order_timestamp_seconds (\d+)"))
        self.assertEqual(d.exits, [])

    def test_tls_alpn_01_on_the_https_port(self):
        d, pebble, root = self.acme_daemon(alpn=True)
        self.wait_installed(d, pebble, 1)
        self.assertIn('type=tls-alpn-01', d.log_text())
        self.assertNotIn('type=http-01', d.log_text())
        self.assertTrue(wait_for(lambda: served_certificate(d.port("submissions"), root)[0],
                                 timeout=15), d.log_tail())
        # Ordinary HTTPS on the same port still gets the policy with the new certificate.
        status, _, body = fetch(POLICY_URL, web_port(d, "mta-sts"), root)
        self.assertEqual(status, 200, body)
