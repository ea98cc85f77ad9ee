"""TLS session resumption on the submission listeners, seen by `openssl s_client`: a session
saved with -sess_out is offered back with -sess_in and the server takes it ("Reused"), with
TLS 1.2 (ticket, and session ID without a ticket) and TLS 1.3, on STARTTLS and implicit TLS,
and tickets still open after SIGHUP made a new TLS context (the ticket keys are the process's,
net/ticket_keys.h)."""

import os
import re
import signal
import subprocess
import tempfile
import urllib.request

from hatotest import HatoTestCase, wait_for

TIMEOUT = 30
SESSION_LINE = re.compile(r"^(New|Reused), .*$", re.M)


class TlsResumptionTest(HatoTestCase):

    def s_client(self, d, listener, version, session, save, extra=()):
        """One connection: QUIT after the handshake; returns s_client's output."""
        cmd = ["openssl", "s_client", "-connect", f"127.0.0.1:{d.port(listener)}",
               f"-{version}", "-crlf", "-ign_eof", *extra]
        if listener == "submission":
            cmd += ["-starttls", "smtp", "-name", "client.example.net"]
        cmd += ["-sess_out" if save else "-sess_in", session]
        r = subprocess.run(cmd, input="QUIT\n", capture_output=True, text=True, timeout=TIMEOUT)
        out = r.stdout + r.stderr
        self.assertIn("221", out, f"no 221 to QUIT: {' '.join(cmd)}\n{out}")
        return out

    def assert_resumes(self, d, listener, version, extra=(), between=None):
        tag = "TLSv1.3" if version == "tls1_3" else "TLSv1.2"
        with tempfile.TemporaryDirectory() as tmp:
            session = os.path.join(tmp, "session.pem")
            out = self.s_client(d, listener, version, session, True, extra)
            self.assertIn(f"New, {tag}", self.session_line(out), out)
            self.assertTrue(os.path.getsize(session) > 0, "s_client saved no session")
            if between:
                between()
            out = self.s_client(d, listener, version, session, False, extra)
            self.assertIn(f"Reused, {tag}", self.session_line(out), "the session was not resumed")
            if version == "tls1_3" and "-no_ticket" not in extra:
                # A TLS 1.3 ticket is for one use (RFC 8446 C.4): a resumed connection must
                # hand out a new one, or the client's next connection is a full handshake.
                self.assertTrue("Post-Handshake New Session Ticket arrived" in out,
                                "no new ticket after resumption")

    def session_line(self, out):
        m = SESSION_LINE.search(out)
        self.assertIsNotNone(m, out)
        return m.group(0)

    def test_tls13_ticket_starttls(self):
        self.assert_resumes(self.hato, "submission", "tls1_3")

    def test_tls12_ticket_starttls(self):
        self.assert_resumes(self.hato, "submission", "tls1_2")

    def test_tls12_session_id_without_ticket(self):
        # A TLS 1.2 client that asks for no ticket resumes from the server's session cache.
        self.assert_resumes(self.hato, "submission", "tls1_2", extra=["-no_ticket"])

    def test_tls13_ticket_implicit_tls(self):
        self.assert_resumes(self.hato, "submissions", "tls1_3")

    def test_tickets_survive_a_reload(self):
        # SIGHUP loads the certificate into a new TLS context; a ticket from before it
        # must still be taken, as after a certificate renewal.
        d = self.own_daemon(extra_yaml='admin:\n  metrics: "127.0.0.1:0"\n').start()

        def reload():
            before = d.log_text().count("info reloaded")
            d.proc.send_signal(signal.SIGHUP)
            self.assertTrue(wait_for(lambda: d.log_text().count("info reloaded") > before,
                                     timeout=10), "no `reloaded` line\n" + d.log_tail())
        for version in ("tls1_3", "tls1_2"):
            with self.subTest(version=version):
                self.assert_resumes(d, "submission", version, between=reload)
        self.assertEqual(self.resumed_metric(d), 2)

    def resumed_metric(self, d):
        port = re.search(r"\bmetrics listening\b.*?\baddress=\"?[^\"\s]+:(\d+)", d.log_text())
        self.assertIsNotNone(port, d.log_tail())
        text = urllib.request.urlopen(f"http://127.0.0.1:{port.group(1)}/metrics",
                                      timeout=10).read().decode()
        m = re.search(r"^hato_tls_resumed_total (\d+)$", text, re.M)
        self.assertIsNotNone(m, "no hato_tls_resumed_total")
        return int(m.group(1))
