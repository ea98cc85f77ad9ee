"""DKIM at submission (issue 4): a message submitted to Hato reaches the sink with a
valid signature for each of the domain's keys (RSA and Ed25519), checked by
python3-dkim, a verifier nobody here wrote. The keys and their DNS records come from
`hato dkim keygen`, exactly as an operator makes them."""

import os
import re
import shutil
import subprocess
import tempfile

import hatotest
from test_delivery import SENDER, SENDER_DOMAIN, DeliveryHarness, message

try:
    import dkim  # python3-dkim (Debian), with python3-nacl for Ed25519
    DKIM_MISSING = None
except ImportError as e:
    DKIM_MISSING = f"{e} (apt-get install python3-dkim python3-nacl)"


def keygen(testcase, directory, selector, algorithm):
    """Runs `hato dkim keygen`; returns (key file, TXT record value)."""
    out = os.path.join(directory, f"{selector}.pem")
    r = subprocess.run([hatotest.hato_bin(), "dkim", "keygen", "--domain", SENDER_DOMAIN,
                        "--selector", selector, "--algorithm", algorithm, "--out", out],
                       capture_output=True, text=True, timeout=60)
    testcase.assertEqual(r.returncode, 0, r.stderr)
    testcase.assertEqual(os.stat(out).st_mode & 0o777, 0o600, "the private key is mode 0600")
    # Zone-file form: NAME IN TXT ( "..." "..." ); the record is the strings joined.
    strings = re.findall(r'"((?:[^"\\]|\\.)*)"', r.stdout)
    testcase.assertTrue(strings, r.stdout)
    testcase.assertTrue(all(len(s) <= 255 for s in strings), "TXT strings of at most 255")
    return out, "".join(strings)


class DkimAtSubmissionTest(DeliveryHarness):

    def test_submitted_message_carries_valid_rsa_and_ed25519_signatures(self):
        if DKIM_MISSING:
            self.fail(f"test prerequisite missing: {DKIM_MISSING}")
        keydir = tempfile.mkdtemp(prefix="hato-it-dkim-")
        self.addCleanup(shutil.rmtree, keydir, True)
        rsa_key, rsa_txt = keygen(self, keydir, "r1", "rsa-sha256")
        ed_key, ed_txt = keygen(self, keydir, "e1", "ed25519-sha256")
        records = {f"r1._domainkey.{SENDER_DOMAIN}.": rsa_txt,
                   f"e1._domainkey.{SENDER_DOMAIN}.": ed_txt}

        dns, sink = self.dns(), self.sink()
        domains = [{"name": hatotest.DOMAIN, "mailboxes": ["support"]},
                   {"name": SENDER_DOMAIN, "dkim": [
                       {"selector": "r1", "algorithm": "rsa-sha256", "key": rsa_key},
                       {"selector": "e1", "algorithm": "ed25519-sha256", "key": ed_key}]}]
        d = self.relay(dns.port, sink.port, domains=domains)
        body = message("signed twice",
                       extra=b"Folded line\r\n  with continuation and trailing space   \r\n"
                             b"caf\xc3\xa9 \xe2\x82\xac\r\n")
        self.submit(d, ["someone@remote.test"], body)
        self.expect_messages(sink, 1, d, pred=lambda m: m.mail_from == SENDER)
        data = self.originals(sink)[0].data

        def dnsfunc(name, timeout=5):
            key = name.decode() if isinstance(name, bytes) else name
            if not key.endswith("."):
                key += "."
            value = records.get(key)
            return value.encode() if value else None

        sigs = [l for l in data.split(b"\r\n") if l.lower().startswith(b"dkim-signature:")]
        self.assertEqual(len(sigs), 2, data[:2000])
        algorithms = set()
        for idx in range(2):
            verifier = dkim.DKIM(data)
            ok = verifier.verify(idx=idx, dnsfunc=dnsfunc)
            self.assertTrue(ok, f"signature {idx} does not verify:\n{data[:3000]!r}")
            algorithms.add(re.search(rb"a=([\w-]+)", sigs[idx]).group(1).decode())
        self.assertEqual(algorithms, {"rsa-sha256", "ed25519-sha256"})

        # A changed body must fail (the verifier is not just saying yes).
        tampered = data.replace(b"signed twice.", b"signed thrice.")
        try:
            verdict = dkim.DKIM(tampered).verify(idx=0, dnsfunc=dnsfunc)
        except dkim.ValidationError:
            verdict = False
        self.assertFalse(verdict, "a changed body must not verify")
