"""An ECDSA P-256 certificate beside the RSA one on the same listener (tls.additional):
`openssl s_client -sigalgs` gets the ECDSA certificate when it allows only ECDSA signatures
and the RSA one when it allows only RSA, over TLS 1.2 and 1.3; a second pair of one key type
is refused by `hato config check`."""

import os
import re
import subprocess

from hatotest import HatoTestCase

TIMEOUT = 30
RSA_SIGALGS = "RSA-PSS+SHA256:RSA+SHA256"
ECDSA_SIGALGS = "ECDSA+SHA256"


def make_pair(directory, name, newkey):
    cert, key = os.path.join(directory, name + ".pem"), os.path.join(directory, name + ".key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", newkey, "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-keyout", key, "-out", cert],
                   check=True, capture_output=True, timeout=60)
    os.chmod(key, 0o600)
    return cert, key


def with_additional(d, pairs):
    """Adds tls.additional to the daemon's config, under tls.key."""
    with open(d.config) as f:
        text = f.read()
    key_line = re.search(r"^  key: .*\n", text, re.M)
    extra = "  additional:\n" + "".join(
        f'    - {{certificate: "{c}", key: "{k}"}}\n' for c, k in pairs)
    text = text[:key_line.end()] + extra + text[key_line.end():]
    with open(d.config, "w") as f:
        f.write(text)


class TlsCertificatesTest(HatoTestCase):

    def s_client(self, d, version, sigalgs):
        cmd = ["openssl", "s_client", "-connect", f"127.0.0.1:{d.port('submission')}",
               f"-{version}", "-crlf", "-ign_eof", "-starttls", "smtp", "-sigalgs", sigalgs]
        r = subprocess.run(cmd, input="QUIT\n", capture_output=True, text=True, timeout=TIMEOUT)
        return r.stdout + r.stderr

    def peer(self, out):
        """(signature type, public key type) of the handshake, from s_client's output."""
        sig = re.search(r"^Peer signature type: (\S+)", out, re.M)
        key = re.search(r"^\s+a:PKEY: ([^,]+),", out, re.M)
        self.assertTrue(sig and key, f"no handshake:\n{out}")
        return sig.group(1), key.group(1)

    def test_client_signature_algorithms_pick_the_certificate(self):
        d = self.own_daemon()
        with_additional(d, [make_pair(d.dir, "ecdsa", "ec:" + self.p256(d.dir))])
        d.start()
        for version in ("tls1_2", "tls1_3"):
            with self.subTest(version=version):
                self.assertEqual(self.peer(self.s_client(d, version, ECDSA_SIGALGS)),
                                 ("ECDSA", "id-ecPublicKey"))
                self.assertEqual(self.peer(self.s_client(d, version, RSA_SIGALGS)),
                                 ("RSA-PSS", "rsaEncryption"))

    def test_rsa_alone_serves_no_ecdsa_client(self):
        # Without the additional pair, an ECDSA-only client has nothing to accept.
        out = self.s_client(self.hato, "tls1_3", ECDSA_SIGALGS)
        self.assertIsNone(re.search(r"^Peer signature type:", out, re.M), out)

    def test_two_pairs_of_one_key_type_refused(self):
        d = self.own_daemon()
        with_additional(d, [make_pair(d.dir, "rsa2", "rsa:2048")])
        r = d.cli("config", "check")
        self.assertNotEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("same key type", r.stdout + r.stderr)

    def p256(self, directory):
        path = os.path.join(directory, "p256.param")
        subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-out", path],
                       check=True, capture_output=True, timeout=60)
        return path
