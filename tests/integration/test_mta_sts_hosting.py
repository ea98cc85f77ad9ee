"""MTA-STS hosting (RFC 8461 3.3, issue 13): Hato serves its own policy over HTTPS.

The policy is fetched the way a sender fetches it: Python's urllib over HTTPS, trusting only
the test CA that issued Hato's certificate for mta-sts.example.test, with the name checked.
The test resolves mta-sts.example.test to the listener on 127.0.0.1 itself (a connection
class that dials the listener), so nothing but the name check and the TLS handshake is
bypassed. `hato dns records` must publish an id= that changes with the policy.
"""

import http.client
import os
import re
import shutil
import signal
import socket
import ssl
import urllib.error
import urllib.request

import hatotest
from hatotest import DOMAIN, HatoTestCase, wait_for
from sinks import TestCa

POLICY_HOST = f"mta-sts.{DOMAIN}"
POLICY_URL = f"https://{POLICY_HOST}/.well-known/mta-sts.txt"
WEB_LISTENING = re.compile(r'\blistening\b.*?\blistener="?(?P<name>[^"\s]+)"?.*?'
                           r'\baddress="?[^"\s]+:(?P<port>\d+)"?')


def web_port(d, name):
    """The port of a WebServer listener (`listening listener=NAME address=...`)."""
    found = {}

    def seen():
        for m in WEB_LISTENING.finditer(d.log_text()):
            found[m.group("name")] = int(m.group("port"))
        return name in found
    if not wait_for(seen, timeout=10):
        raise AssertionError(f"no `listening listener={name}` line\n" + d.log_tail())
    return found[name]


def fetch(url, port, cafile):
    """urllib GET of `url`, its host name dialled at 127.0.0.1:`port`, verified against
    `cafile` and the URL's host name. Returns (status, content type, body bytes)."""
    context = ssl.create_default_context(cafile=cafile)

    class Connection(http.client.HTTPSConnection):
        def connect(self):
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            self.sock = self._context.wrap_socket(sock, server_hostname=self.host)

    class Handler(urllib.request.HTTPSHandler):
        def https_open(self, req):
            return self.do_open(Connection, req, context=context)

    opener = urllib.request.build_opener(Handler(context=context))
    try:
        with opener.open(url, timeout=10) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read()


def parse_rfc8461(body):
    """The policy file as RFC 8461 3.2 defines it: CRLF (or LF) lines of `key: value`,
    version first and STSv1, mode one of three, max_age digits (at most a year), mx
    required unless mode is none. Returns {"version", "mode", "max_age", "mx": [...]}."""
    text = body.decode("ascii")
    lines = [l for l in re.split(r"\r?\n", text) if l]
    fields = {"mx": []}
    for i, line in enumerate(lines):
        m = re.fullmatch(r"([A-Za-z0-9_]+):[ \t]*([\x21-\x7e]*(?:[ \t]+[\x21-\x7e]+)*)[ \t]*",
                         line)
        assert m, f"not a policy line: {line!r}"
        key, value = m.group(1), m.group(2)
        if i == 0:
            assert (key, value) == ("version", "STSv1"), f"first line must be version: {line!r}"
        if key == "mx":
            fields["mx"].append(value)
        else:
            fields.setdefault(key, value)
    assert fields.get("mode") in ("enforce", "testing", "none"), fields
    assert re.fullmatch(r"[0-9]{1,10}", fields.get("max_age", "")), fields
    assert int(fields["max_age"]) <= 31557600
    if fields["mode"] != "none":
        assert fields["mx"], "mx required unless mode is none"
    return fields


class MtaStsHostingTest(HatoTestCase):
    def setUp(self):
        super().setUp()
        self.ca = TestCa()
        self.addCleanup(self.ca.cleanup)

    def hosting_daemon(self, mta_sts_yaml):
        # The MX of its domain (an inbound listener), which is what MTA-STS describes.
        d = self.own_daemon(extra_yaml="mta_sts:\n" + mta_sts_yaml,
                            listeners=hatotest.default_listeners() + [
                                {"name": "mx", "role": "inbound", "tls": "starttls"}])
        cert, key = self.ca.issue(POLICY_HOST, "relay.example.test")
        shutil.copy(cert, os.path.join(d.dir, "cert.pem"))
        shutil.copy(key, os.path.join(d.dir, "key.pem"))
        return d

    def sts_id(self, d):
        r = d.cli("dns", "records", "--domain", DOMAIN)
        self.assertEqual(r.returncode, 0, r.stderr)
        m = re.search(rf'^_mta-sts\.{re.escape(DOMAIN)}\.?\s.*?"v=STSv1; id=([^";]+)"',
                      r.stdout, re.M)
        self.assertIsNotNone(m, r.stdout)
        self.assertRegex(m.group(1), r"^[A-Za-z0-9]{1,32}$")  # RFC 8461 3.1
        return m.group(1)

    def test_policy_served_over_https_and_parses(self):
        d = self.hosting_daemon('  listen: "127.0.0.1:0"\n  mode: enforce\n  max_age: 1d\n'
                                '  mx: [relay.example.test, "*.mx.example.test"]\n')
        d.start()
        port = web_port(d, "mta-sts")
        status, ctype, body = fetch(POLICY_URL, port, self.ca.cert)
        self.assertEqual(status, 200, body)
        self.assertTrue(ctype.startswith("text/plain"), ctype)  # RFC 8461 3.3
        fields = parse_rfc8461(body)
        self.assertEqual(fields["mode"], "enforce")
        self.assertEqual(fields["max_age"], "86400")
        self.assertEqual(fields["mx"], ["relay.example.test", "*.mx.example.test"])
        self.assertIn(b"\r\n", body)

        # Another host name or path: nothing to serve.
        status, _, _ = fetch(f"https://{POLICY_HOST}/.well-known/other.txt", port, self.ca.cert)
        self.assertEqual(status, 404)

        # A client that does not trust the issuing CA refuses the certificate.
        other = TestCa("Other CA")
        self.addCleanup(other.cleanup)
        with self.assertRaises(urllib.error.URLError):
            fetch(POLICY_URL, port, other.cert)

    def test_defaults_testing_mode_and_hostname_as_mx(self):
        d = self.hosting_daemon('  listen: "127.0.0.1:0"\n')
        d.start()
        status, _, body = fetch(POLICY_URL, web_port(d, "mta-sts"), self.ca.cert)
        self.assertEqual(status, 200)
        fields = parse_rfc8461(body)
        self.assertEqual(fields["mode"], "testing")
        self.assertEqual(fields["mx"], ["relay.example.test"])
        self.assertEqual(fields["max_age"], "604800")

    def test_dns_records_id_follows_the_policy(self):
        d = self.hosting_daemon('  listen: "127.0.0.1:0"\n  mode: testing\n')
        first = self.sts_id(d)
        self.assertEqual(first, self.sts_id(d))  # stable while the policy stays
        d.extra_yaml = 'mta_sts:\n  listen: "127.0.0.1:0"\n  mode: enforce\n'
        d.write_config()
        enforce = self.sts_id(d)
        self.assertNotEqual(first, enforce)
        d.extra_yaml = ('mta_sts:\n  listen: "127.0.0.1:0"\n  mode: enforce\n'
                        '  mx: [mx2.example.test]\n')
        d.write_config()
        self.assertNotEqual(enforce, self.sts_id(d))

    def test_operator_switches_to_enforce_with_a_reload(self):
        d = self.hosting_daemon('  listen: "127.0.0.1:0"\n  mode: testing\n')
        d.start()
        port = web_port(d, "mta-sts")
        _, _, body = fetch(POLICY_URL, port, self.ca.cert)
        self.assertEqual(parse_rfc8461(body)["mode"], "testing")
        testing_id = self.sts_id(d)
        # The operator changes the mode and reloads; the certificate files stay ours.
        cert, key = os.path.join(d.dir, "cert.pem"), os.path.join(d.dir, "key.pem")
        saved = (open(cert, "rb").read(), open(key, "rb").read())
        d.extra_yaml = 'mta_sts:\n  listen: "127.0.0.1:0"\n  mode: enforce\n'
        d.write_config()
        open(cert, "wb").write(saved[0])
        open(key, "wb").write(saved[1])
        d.proc.send_signal(signal.SIGHUP)
        self.assertTrue(wait_for(lambda: "reloaded" in d.log_text(), timeout=10), d.log_tail())
        _, _, body = fetch(POLICY_URL, port, self.ca.cert)
        self.assertEqual(parse_rfc8461(body)["mode"], "enforce")
        self.assertNotEqual(self.sts_id(d), testing_id)
