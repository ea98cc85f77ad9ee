"""`hato config check`, `hato user add`, and crypt(3) hashes made by other tools."""

import os
import re
import secrets
import smtplib
import subprocess
import unittest
import warnings

from hatotest import IO_TIMEOUT, Daemon, HatoTestCase, client_context, hato_bin

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import crypt  # deprecated in 3.11, still the way to check crypt(3) hashes

CRYPT64 = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def sha512_crypt(password):
    return crypt.crypt(password, crypt.mksalt(crypt.METHOD_SHA512))


def yescrypt(password):
    salt = "".join(secrets.choice(CRYPT64) for _ in range(21)) + "/"
    h = crypt.crypt(password, f"$y$j9T${salt}$")
    assert h and h.startswith("$y$"), f"this libxcrypt cannot make yescrypt hashes: {h!r}"
    return h


class ConfigCheckTest(unittest.TestCase):

    def setUp(self):
        self.d = Daemon(users={})
        self.addCleanup(self.d.cleanup)
        with open(self.d.config) as f:
            self.lines = f.read().splitlines()

    def write(self, lines):
        with open(self.d.config, "w") as f:
            f.write("\n".join(lines) + "\n")

    def check(self):
        return self.d.cli("config", "check")

    def line_of(self, needle):
        for i, line in enumerate(self.lines):
            if needle in line:
                return i
        raise AssertionError(f"{needle!r} not in the test config")

    def assertConfigError(self, lineno):
        r = self.check()
        self.assertEqual(r.returncode, 2, r)
        pat = re.compile(rf"^{re.escape(self.d.config)}:(\d+):(\d+): \S")
        locs = [(int(m.group(1)), int(m.group(2)))
                for m in map(pat.match, r.stderr.splitlines()) if m]
        self.assertTrue(locs, f"no FILE:LINE:COL: message line in {r.stderr!r}")
        self.assertIn(lineno, [l for l, _ in locs], f"expected an error on line {lineno}: "
                                                    f"{r.stderr!r}")
        for line in r.stderr.splitlines():
            self.assertRegex(line, pat, "every stderr line is FILE:LINE:COL: message")
        return r

    def test_valid_config(self):
        r = self.check()
        self.assertEqual(r.returncode, 0, r)

    def test_a_key_serve_refuses_fails_the_check_too(self):
        # issue 29 item 8: the shipped unit runs `config check` before `serve`.
        key = os.path.join(self.d.dir, "dkim.pem")
        r = subprocess.run([hato_bin(), "dkim", "keygen", "--domain", "example.test",
                            "--selector", "s1", "--out", key], capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.d.domains = [{"name": "example.test", "mailboxes": ["support"],
                           "dkim": [{"selector": "s1", "key": key}]}]
        self.d.write_config()
        os.chmod(key, 0o644)
        r = self.check()
        self.assertNotEqual(r.returncode, 0, r)
        self.assertIn(key + ": private key is readable by every user", r.stderr)
        serve = subprocess.run([hato_bin(), "serve", "-c", self.d.config], capture_output=True,
                               text=True, timeout=30)
        self.assertNotEqual(serve.returncode, 0)
        self.assertIn(key + ": private key is readable by every user", serve.stdout + serve.stderr)
        os.chmod(key, 0o600)
        r = self.check()
        self.assertEqual(r.returncode, 0, r)

    def test_a_certificate_serve_cannot_load_fails_the_check(self):
        cert = os.path.join(self.d.dir, "cert.pem")
        with open(cert, "w") as f:
            f.write("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
        r = self.check()
        self.assertNotEqual(r.returncode, 0, r)
        self.assertIn(cert, r.stderr)

    def test_unknown_key(self):
        self.lines.insert(2, "listners: []")
        self.write(self.lines)
        self.assertConfigError(3)

    def test_bad_duration(self):
        i = self.line_of("command_timeout")
        self.lines[i] = '  command_timeout: "30 parsecs"'
        self.write(self.lines)
        self.assertConfigError(i + 1)

    def test_bad_address(self):
        i = self.line_of("address:")
        self.lines[i] = '    address: "127.0.0.1:notaport"'
        self.write(self.lines)
        self.assertConfigError(i + 1)

    def test_bad_cidr(self):
        i = self.line_of("trusted_networks")
        self.lines[i] = '    trusted_networks: ["127.0.0.0/33"]'
        self.write(self.lines)
        self.assertConfigError(i + 1)

    def test_bad_role_and_size(self):
        i = self.line_of("role:")
        j = self.line_of("max_message_size")
        self.lines[i] = "    role: postmaster"
        self.lines[j] = '  max_message_size: "lots"'
        self.write(self.lines)
        r = self.assertConfigError(i + 1)
        self.assertIn(f":{j + 1}:", r.stderr, "every problem is reported, not only the first")

    def test_missing_certificate_file(self):
        i = self.line_of("certificate:")
        self.lines[i] = '  certificate: "/nonexistent/cert.pem"'
        self.write(self.lines)
        self.assertConfigError(i + 1)

    def test_serve_with_bad_config_exits_2(self):
        self.lines.insert(2, "listners: []")
        self.write(self.lines)
        r = subprocess.run([hato_bin(), "serve", "-c", self.d.config], capture_output=True,
                           text=True, timeout=10, stdin=subprocess.DEVNULL)
        self.assertEqual(r.returncode, 2, r)


class UsersTest(HatoTestCase):
    USERS = {}

    @classmethod
    def get_daemon(cls):
        if cls.__dict__.get("daemon") is None and not cls.__dict__.get("_start_error"):
            try:
                d = Daemon(users={"carol": "carol pw with spaces"})
                cls.daemon = d
                with open(d.users_file, "a") as f:
                    f.write(f"dave:{sha512_crypt('dave-sha512')}\n")
                    f.write(f"erin:{yescrypt('erin-yescrypt')}\n")
                d.start()
            except Exception as e:
                cls._start_error = f"starting the daemon failed: {e}"
                raise
        return super().get_daemon()

    def test_user_add_writes_crypt_hash(self):
        with open(self.hato.users_file) as f:
            lines = f.read().splitlines()
        carol = [l for l in lines if l.startswith("carol:")]
        self.assertEqual(len(carol), 1, lines)
        h = carol[0].split(":", 1)[1]
        self.assertRegex(h, r"^\$(y|6|7|2b|gy)\$", "a standard crypt(3) format")
        self.assertEqual(crypt.crypt("carol pw with spaces", h), h, "libcrypt verifies it")
        self.assertNotEqual(crypt.crypt("carol pw", h), h)
        mode = os.stat(self.hato.users_file).st_mode & 0o777
        self.assertEqual(mode & 0o007, 0, f"users file not world-readable ({oct(mode)})")

    def login(self, user, password):
        s = smtplib.SMTP_SSL("127.0.0.1", self.hato.port("submissions"),
                             local_hostname="client.example.net", timeout=IO_TIMEOUT,
                             context=client_context())
        self.addCleanup(s.close)
        s.ehlo()
        s.user, s.password = user, password
        try:
            return s.auth("PLAIN", s.auth_plain)[0]
        except smtplib.SMTPAuthenticationError as e:
            return e.smtp_code

    def test_hashes_from_other_tools(self):
        self.assertEqual(self.login("carol", "carol pw with spaces"), 235, "hato user add")
        self.assertEqual(self.login("dave", "dave-sha512"), 235, "SHA-512-crypt ($6$)")
        self.assertEqual(self.login("erin", "erin-yescrypt"), 235, "yescrypt ($y$)")
        self.assertEqual(self.login("erin", "erin-wrong"), 535)
