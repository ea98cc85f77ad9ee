"""Authenticated submission: TLS (STARTTLS and implicit), AUTH, who may send."""

import base64
import json
import os
import re
import smtplib
import ssl
import subprocess

from hatotest import (DOMAIN, HOSTNAME, IO_TIMEOUT, HatoTestCase, RawSMTP, auth_plain,
                      client_context, ehlo_keywords, queue_id, wait_for)

ALICE = ("alice", "alice-secret-1")
BOB = ("bob", "bob-secret-2")
RCPT = "someone@remote.test"
MESSAGE = (b"From: Alice <alice@example.test>\r\n"
           b"To: someone@remote.test\r\n"
           b"Subject: submission test\r\n"
           b"\r\n"
           b"Hello from the integration tests.\r\n")
QID = re.compile(r"^[A-Za-z0-9]{16}$")
# Python's email test corpus (Debian: libpython3.11-testsuite).
PY_EMAIL_DATA = "/usr/lib/python3.11/test/test_email/data"


def corpus_message(name):
    """A message of Python's email test corpus, with CRLF line ends."""
    path = os.path.join(PY_EMAIL_DATA, name)
    if not os.path.exists(path):
        raise AssertionError(f"{path} missing (apt-get install libpython3.11-testsuite)")
    with open(path, "rb") as f:
        return f.read().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def swaks(port, *args, timeout=30):
    cmd = ["swaks", "--server", "127.0.0.1", "--port", str(port), "--helo", "client.example.net",
           "--timeout", "10", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


class SubmissionTest(HatoTestCase):

    def assertQueued(self, code, resp):
        text = resp.decode() if isinstance(resp, bytes) else resp
        self.assertEqual(code, 250, text)
        self.assertTrue(text.startswith("2.0.0 Ok: queued as "), text)
        qid = queue_id(text)
        self.assertRegex(qid, QID, "queue IDs are 16 characters")
        return qid

    def smtp(self, listener="submission"):
        s = smtplib.SMTP("127.0.0.1", self.hato.port(listener), local_hostname="client.example.net",
                         timeout=IO_TIMEOUT)
        self.addCleanup(s.close)
        return s

    def send(self, s, sender="alice@example.test", rcpt=RCPT, msg=MESSAGE):
        code, resp = s.mail(sender)
        self.assertEqual(code, 250, resp)
        code, resp = s.rcpt(rcpt)
        self.assertEqual(code, 250, resp)
        code, resp = s.data(msg)
        return self.assertQueued(code, resp)

    # -- greeting and EHLO --------------------------------------------------------
    def test_greeting_and_ehlo_before_tls(self):
        with RawSMTP(self.hato.port("submission")) as c:
            g = c.greeting()
            self.assertEqual(g.lines[0], f"{HOSTNAME} ESMTP Hato")
            r = c.ehlo()
            self.assertTrue(r.lines[0].startswith(HOSTNAME), r)
            kw = ehlo_keywords(r)
            for k in ("PIPELINING", "SIZE", "8BITMIME", "ENHANCEDSTATUSCODES", "SMTPUTF8", "DSN",
                      "STARTTLS"):
                self.assertIn(k, kw, f"EHLO should advertise {k}: {r}")
            self.assertEqual(kw["SIZE"], [str(1024 * 1024)], "SIZE is max_message_size (1M)")
            self.assertNotIn("AUTH", kw, "AUTH must not be advertised before TLS")
            c.starttls()
            r = c.ehlo()
            kw = ehlo_keywords(r)
            self.assertNotIn("STARTTLS", kw, "STARTTLS must not be advertised under TLS")
            self.assertIn("AUTH", kw)
            self.assertEqual({m.upper() for m in kw["AUTH"]} & {"PLAIN", "LOGIN"},
                             {"PLAIN", "LOGIN"}, r)

    # -- STARTTLS + AUTH ------------------------------------------------------------
    def test_starttls_auth_plain_smtplib(self):
        s = self.smtp()
        s.ehlo()
        self.assertTrue(s.has_extn("starttls"))
        self.assertFalse(s.has_extn("auth"))
        code, _ = s.starttls(context=client_context())
        self.assertEqual(code, 220)
        s.ehlo()
        s.user, s.password = ALICE
        code, resp = s.auth("PLAIN", s.auth_plain, initial_response_ok=True)
        self.assertEqual(code, 235)
        self.assertTrue(resp.startswith(b"2.7.0"), resp)
        self.send(s)
        s.quit()

    def test_starttls_auth_login_smtplib(self):
        s = self.smtp()
        s.ehlo()
        s.starttls(context=client_context())
        s.ehlo()
        s.user, s.password = ALICE
        # No initial response: the classic 334 Username: / 334 Password: exchange.
        code, resp = s.auth("LOGIN", s.auth_login, initial_response_ok=False)
        self.assertEqual(code, 235)
        self.assertTrue(resp.startswith(b"2.7.0"), resp)
        self.send(s)
        s.quit()

    def test_auth_plain_without_initial_response(self):
        with RawSMTP(self.hato.port("submission")) as c:
            c.greeting()
            c.ehlo()
            c.starttls()
            c.ehlo()
            r = c.cmd("AUTH PLAIN")
            self.assertEqual(r.code, 334, r)
            r = c.cmd(base64.b64encode(b"\0alice\0alice-secret-1").decode())
            self.assertEqual(r.code, 235, r)
            self.assertTrue(r.lines[0].startswith("2.7.0"), r)

    def test_starttls_auth_plain_swaks(self):
        r = swaks(self.hato.port("submission"), "--tls", "--auth", "PLAIN",
                  "--auth-user", ALICE[0], "--auth-password", ALICE[1],
                  "--from", "alice@example.test", "--to", RCPT)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertRegex(r.stdout, r"<~ +235 2\.7\.0")
        self.assertRegex(r.stdout, r"<~ +250 2\.0\.0 Ok: queued as [A-Za-z0-9]{16}")

    def test_starttls_auth_login_swaks(self):
        r = swaks(self.hato.port("submission"), "--tls", "--auth", "LOGIN",
                  "--auth-user", BOB[0], "--auth-password", BOB[1],
                  "--from", "bob@example.test", "--to", RCPT)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertRegex(r.stdout, r"<~ +235 2\.7\.0")
        self.assertRegex(r.stdout, r"<~ +250 2\.0\.0 Ok: queued as [A-Za-z0-9]{16}")

    # -- implicit TLS -------------------------------------------------------------------
    def test_implicit_tls_smtplib(self):
        s = smtplib.SMTP_SSL("127.0.0.1", self.hato.port("submissions"),
                             local_hostname="client.example.net", timeout=IO_TIMEOUT,
                             context=client_context())
        self.addCleanup(s.close)
        s.ehlo()
        self.assertFalse(s.has_extn("starttls"), "no STARTTLS under implicit TLS")
        self.assertTrue(s.has_extn("auth"))
        self.assertIn(s.sock.version(), ("TLSv1.2", "TLSv1.3"))
        s.user, s.password = ALICE
        code, _ = s.auth("PLAIN", s.auth_plain)
        self.assertEqual(code, 235)
        self.send(s)
        s.quit()

    def test_implicit_tls_swaks(self):
        for mech, (user, pw) in (("PLAIN", ALICE), ("LOGIN", ALICE)):
            with self.subTest(mech=mech):
                r = swaks(self.hato.port("submissions"), "--tlsc", "--auth", mech,
                          "--auth-user", user, "--auth-password", pw,
                          "--from", "alice@example.test", "--to", RCPT)
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                self.assertRegex(r.stdout, r"<~ +250 2\.0\.0 Ok: queued as [A-Za-z0-9]{16}")

    def test_tls_older_than_1_2_refused(self):
        ctx = client_context()
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        try:
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        except ssl.SSLError:
            pass
        with RawSMTP(self.hato.port("submission")) as c:
            c.greeting()
            c.ehlo()
            r = c.cmd("STARTTLS")
            self.assertEqual(r.code, 220)
            with self.assertRaises((ssl.SSLError, OSError)):
                c.sock = ctx.wrap_socket(c.sock)
                c.cmd("EHLO client.example.net")

    # -- refusals ---------------------------------------------------------------------
    def test_auth_before_tls_refused_538(self):
        with RawSMTP(self.hato.port("submission")) as c:
            c.greeting()
            c.ehlo()
            token = base64.b64encode(b"\0alice\0alice-secret-1").decode()
            r = c.cmd(f"AUTH PLAIN {token}")
            self.assertEqual(r.code, 538, r)
            self.assertTrue(r.lines[-1].startswith("5.7.11"), r)
            r = c.cmd("AUTH LOGIN")
            self.assertEqual(r.code, 538, r)
            # Still not authenticated.
            r = c.cmd("MAIL FROM:<alice@example.test>")
            self.assertEqual(r.code, 530, r)

    def test_wrong_password_535(self):
        s = self.smtp()
        s.ehlo()
        s.starttls(context=client_context())
        s.ehlo()
        s.user, s.password = "alice", "not-the-password"
        with self.assertRaises(smtplib.SMTPAuthenticationError) as cm:
            s.auth("PLAIN", s.auth_plain)
        self.assertEqual(cm.exception.smtp_code, 535)
        self.assertTrue(cm.exception.smtp_error.startswith(b"5.7.8"), cm.exception.smtp_error)
        # An unknown user looks the same.
        s.user, s.password = "mallory", "whatever"
        with self.assertRaises(smtplib.SMTPAuthenticationError) as cm:
            s.auth("LOGIN", s.auth_login, initial_response_ok=False)
        self.assertEqual(cm.exception.smtp_code, 535)
        # And the session is not authenticated.
        code, resp = s.mail("alice@example.test")
        self.assertEqual(code, 530, resp)

    def test_mail_without_auth_530(self):
        with RawSMTP(self.hato.port("submission")) as c:
            c.greeting()
            c.ehlo()
            r = c.cmd("MAIL FROM:<alice@example.test>")
            self.assertEqual(r.code, 530, r)
            self.assertTrue(r.lines[-1].startswith("5.7.0"), r)
            c.starttls()
            c.ehlo()
            r = c.cmd("MAIL FROM:<alice@example.test>")
            self.assertEqual(r.code, 530, r)
            self.assertTrue(r.lines[-1].startswith("5.7.0"), r)
        with RawSMTP(self.hato.port("submissions"), implicit_tls=True) as c:
            c.greeting()
            c.ehlo()
            r = c.cmd("MAIL FROM:<alice@example.test>")
            self.assertEqual(r.code, 530, r)

    def test_foreign_sender_553(self):
        s = self.smtp()
        s.ehlo()
        s.starttls(context=client_context())
        s.ehlo()
        s.user, s.password = ALICE
        s.auth("PLAIN", s.auth_plain)
        for sender in ("alice@foreign.test", "alice@sub.example.test", "alice@example.test.evil"):
            code, resp = s.mail(sender)
            self.assertEqual(code, 553, f"{sender}: {resp!r}")
            self.assertTrue(resp.startswith(b"5.7.1"), resp)
            s.rset()
        # The session goes on: an address of our domain is accepted.
        self.send(s, sender="Alice@EXAMPLE.test")
        s.quit()

    def test_allowed_senders_narrowed_per_user(self):
        s = smtplib.SMTP_SSL("127.0.0.1", self.hato.port("submissions"),
                             local_hostname="client.example.net", timeout=IO_TIMEOUT,
                             context=client_context())
        self.addCleanup(s.close)
        s.ehlo()
        s.user, s.password = BOB
        s.auth("PLAIN", s.auth_plain)
        code, resp = s.mail("alice@example.test")
        self.assertEqual(code, 553, resp)
        self.assertTrue(resp.startswith(b"5.7.1"), resp)
        s.rset()
        self.send(s, sender="bob@example.test")
        s.quit()

    # -- trusted networks ------------------------------------------------------------
    def test_trusted_network_without_auth(self):
        s = self.smtp("trusted")
        s.ehlo()
        self.assertFalse(s.has_extn("starttls"), "tls: none offers no STARTTLS")
        self.send(s, sender=f"app@{DOMAIN}")
        s.quit()

    def test_trusted_network_swaks(self):
        r = swaks(self.hato.port("trusted"), "--from", f"monitor@{DOMAIN}", "--to", RCPT)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertRegex(r.stdout, r"<- +250 2\.0\.0 Ok: queued as [A-Za-z0-9]{16}")

    def test_other_trusted_network_needs_auth(self):
        with RawSMTP(self.hato.port("untrusted")) as c:
            c.greeting()
            kw = ehlo_keywords(c.ehlo())
            self.assertNotIn("AUTH", kw, "no AUTH without TLS")
            r = c.cmd(f"MAIL FROM:<app@{DOMAIN}>")
            self.assertEqual(r.code, 530, f"127.0.0.1 is not in 10.0.0.0/8: {r}")
            self.assertTrue(r.lines[-1].startswith("5.7.0"), r)

    def test_header_line_without_colon_is_refused_naming_it(self):
        """msg_19 starts with a line that is not a header field; msg_35 has one after three
        good fields and no empty line (so it was all taken as header). Each gets 550 5.6.0
        naming the line's number and its start; the session goes on and a good message is
        queued after them."""
        cases = {
            "msg_19.txt": (1, "Send Ppp mailing list submissions to"),
            "msg_35.txt": (4, "counter to RFC 2822, there's no separati"),
        }
        s = self.smtp("trusted")
        s.ehlo()
        for name, (line, start) in cases.items():
            with self.subTest(message=name):
                code, resp = s.mail(f"app@{DOMAIN}")
                self.assertEqual(code, 250, resp)
                code, resp = s.rcpt(RCPT)
                self.assertEqual(code, 250, resp)
                code, text = s.data(corpus_message(name))
                text = text.decode()
                self.assertEqual(code, 550, text)
                self.assertTrue(text.startswith("5.6.0 "), text)
                self.assertIn(f"line {line} ", text)
                self.assertIn(f'"{start}', text)
        self.send(s, sender=f"app@{DOMAIN}")
        s.quit()
        log = self.hato.log_text()
        self.assertRegex(log, r"reject .*reason=\"header line 4 is not a header field")


class UsersFileTest(HatoTestCase):
    """Users added or removed while the daemon runs count at once, without SIGHUP."""

    def login(self, user, password):
        return auth_plain(self.hato.port("submission"), user, password)

    def test_user_added_while_running_logs_in_at_once(self):
        r = self.hato.cli("user", "add", "carol", "--password-stdin", input="carol-secret-3\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("user carol saved in", r.stderr)
        self.assertIn("the running daemon has reloaded it (3 users)", r.stderr)
        code, resp = self.login("carol", "carol-secret-3")
        self.assertEqual(code, 235, resp)
        self.assertIn("users file reloaded", self.hato.log_text())

        r = self.hato.cli("user", "remove", "carol")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("the running daemon has reloaded it (2 users)", r.stderr)
        code, resp = self.login("carol", "carol-secret-3")
        self.assertEqual(code, 535, resp)

    def test_users_file_edited_by_hand_is_read_again(self):
        # An operator pasting a line made elsewhere (mkpasswd, doveadm pw): no CLI, no signal.
        other = self.hato.users_file + ".new"
        r = subprocess.run([self.hato_bin(), "user", "add", "dave", "--password-stdin", "-c",
                            self.config_pointing_at(other)],
                           input="dave-secret-4\n", capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(other) as f:
            line = [l for l in f.read().splitlines() if l.startswith("dave:")][0]
        before = self.hato.log_text().count("users file reloaded")
        with open(self.hato.users_file, "a") as f:
            f.write(line + "\n")
        self.assertTrue(wait_for(lambda: self.hato.log_text().count("users file reloaded") > before,
                                 timeout=15), "the edited users file was not read again\n"
                        + self.hato.log_tail())
        code, resp = self.login("dave", "dave-secret-4")
        self.assertEqual(code, 235, resp)

    def hato_bin(self):
        from hatotest import hato_bin
        return hato_bin()

    def config_pointing_at(self, users_file):
        """A copy of the daemon's config whose users_file (and admin socket) is elsewhere,
        so the CLI writes there and tells no daemon."""
        with open(self.hato.config) as f:
            text = f.read()
        text = text.replace(json.dumps(self.hato.users_file), json.dumps(users_file))
        text += f"admin:\n  socket: {json.dumps(users_file + '.sock')}\n"
        path = users_file + ".yaml"
        with open(path, "w") as f:
            f.write(text)
        return path
    # -- header syntax: never queue (and sign) what cannot be parsed -----------------
