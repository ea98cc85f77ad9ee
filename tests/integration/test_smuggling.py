"""SMTP smuggling (bare CR/LF end-of-data variants) and STARTTLS command injection.

Only <CRLF>.<CRLF> ends DATA. A message with a bare CR anywhere is rejected as a
whole (550 5.6.0) after the real end. A line ending in a bare LF is stored as if it
ended in CRLF (bare_lf: normalize, the default, as Postfix 3.9 does), so the whole
payload, the smuggled commands included, is one message; under bare_lf: reject it is
refused like a bare CR. Either way exactly one reply comes for the data, and nothing
smuggled is ever a transaction of its own.
"""

import base64

from hatotest import (DOMAIN, HOSTNAME, HatoTestCase, RawSMTP, client_context,
                      default_listeners, queue_id)

SEQUENCES = {
    "lf_dot_lf": b"\n.\n",
    "lf_dot_crlf": b"\n.\r\n",
    "cr_dot_cr": b"\r.\r",
    "crlf_dot_lf": b"\r\n.\n",
    "cr_dot_lf": b"\r.\n",
    "crlf_dot_cr": b"\r\n.\r",
    "lf_dot_cr": b"\n.\r",
}


def has_bare_cr(seq):
    """Whether the sequence, followed by the smuggled MAIL line, holds a CR without LF."""
    return any(b == 0x0D and seq[i + 1:i + 2] != b"\n" for i, b in enumerate(seq))


def smuggling_payload(seq, tag):
    """A first message, the sequence, a smuggled transaction, then the real end."""
    return (b"From: <app@example.test>\r\nSubject: carrier\r\n\r\nfirst part" + seq +
            f"MAIL FROM:<smuggled-{tag}@{DOMAIN}>\r\n"
            f"RCPT TO:<victim-{tag}@remote.test>\r\n"
            "DATA\r\n"
            f"From: <smuggled-{tag}@{DOMAIN}>\r\n"
            "Subject: smuggled\r\n\r\nsmuggled body\r\n".encode() +
            b"\r\n.\r\n")


def crlf_clean(data):
    """No CR without LF, no LF without CR."""
    return data.replace(b"\r\n", b"").count(b"\r") == 0 and \
        data.replace(b"\r\n", b"").count(b"\n") == 0


class SmugglingTest(HatoTestCase):
    # The trusted listener once more, refusing bare LF instead of normalising it.
    LISTENERS = default_listeners() + [
        {"name": "strict", "role": "submission", "tls": "none",
         "trusted_networks": ["127.0.0.0/8"], "extra": {"bare_lf": "reject"}}]

    def session(self, tls):
        """tls: False (trusted, no AUTH), True or "starttls" (STARTTLS+AUTH), "implicit"
        (the implicit TLS listener, AUTH)."""
        if tls:
            implicit = tls == "implicit"
            c = RawSMTP(self.hato.port("submissions" if implicit else "submission"),
                        implicit_tls=implicit)
            self.addCleanup(c.close)
            c.greeting()
            c.ehlo()
            if not implicit:
                c.starttls()
                c.ehlo()
            r = c.cmd("AUTH PLAIN " + base64.b64encode(b"\0alice\0alice-secret-1").decode())
            self.assertEqual(r.code, 235, r)
        else:
            c = RawSMTP(self.hato.port("strict" if tls is None else "trusted"))
            self.addCleanup(c.close)
            c.greeting()
            c.ehlo()
        return c

    def run_smuggle(self, seq, tag, tls, check=True):
        """tls as for session(); None: the bare_lf: reject listener."""
        c = self.session(tls)
        sender = f"carrier-{tag}@{DOMAIN}"
        self.assertEqual(c.cmd(f"MAIL FROM:<{sender}>").code, 250)
        self.assertEqual(c.cmd("RCPT TO:<rcpt@remote.test>").code, 250)
        self.assertEqual(c.cmd("DATA").code, 354)
        c.send(smuggling_payload(seq, tag) + b"QUIT\r\n")
        replies = c.replies_until_close()
        if not check:
            return replies
        self.assertEqual(len(replies), 2,
                         f"exactly one reply for the data, then 221 for QUIT; got {replies}")
        self.assertEqual(replies[1].code, 221, replies)
        if has_bare_cr(seq) or tls is None:
            self.assertEqual(replies[0].code, 550, replies)
            self.assertTrue(replies[0].lines[-1].startswith("5.6.0"), replies)
            self.assertNotIn("queued", str(replies[0]))
            return replies
        # Normalised: one message, the carrier, holding the smuggled commands as text.
        self.assertEqual(replies[0].code, 250, replies)
        stored = self.hato.queue_cat(queue_id(replies[0].text))
        body = stored.split(b"\r\n\r\n", 1)[1]
        self.assertTrue(body.startswith(b"first part\r\n"), body)
        self.assertIn(f"\r\nMAIL FROM:<smuggled-{tag}@{DOMAIN}>\r\n".encode(), body)
        self.assertTrue(crlf_clean(stored), f"a bare CR or LF was stored: {stored!r}")
        self.assertEqual(self.hato.queue_show(queue_id(replies[0].text))["from"], sender)
        return replies

    def test_bare_cr_refused_everywhere_bare_lf_under_reject_550(self):
        c = self.session(None)
        for data in (b"Subject: t\n\nbare lf body\n",
                     b"Subject: t\r\n\r\nline one\nline two\r\n",
                     b"Subject: t\r\n\r\nline one\rline two\r\n",
                     b"Subject: t\r\n\r\nends with a bare cr\r\r\n"):
            with self.subTest(data=data):
                self.assertEqual(c.cmd(f"MAIL FROM:<app@{DOMAIN}>").code, 250)
                self.assertEqual(c.cmd("RCPT TO:<rcpt@remote.test>").code, 250)
                self.assertEqual(c.cmd("DATA").code, 354)
                c.send(data + b"\r\n.\r\n")
                r = c.reply()
                self.assertEqual(r.code, 550, r)
                self.assertTrue(r.lines[-1].startswith("5.6.0"), r)
        # The session survives, and a clean message goes through.
        self.assertEqual(c.cmd(f"MAIL FROM:<app@{DOMAIN}>").code, 250)
        self.assertEqual(c.cmd("RCPT TO:<rcpt@remote.test>").code, 250)
        self.assertEqual(c.cmd("DATA").code, 354)
        c.send(b"Subject: t\r\n\r\n..dot-stuffed line\r\n.\r\n")
        r = c.reply()
        self.assertEqual(r.code, 250, r)
        queue_id(r.text)
        # On a normalising listener only the bare CR is refused.
        c = self.session(False)
        for data, code in ((b"Subject: t\r\n\r\nline one\rline two\r\n", 550),
                           (b"Subject: t\r\n\r\nends with a bare cr\r\r\n", 550),
                           (b"Subject: t\n\nbare lf body\n", 250)):
            with self.subTest(data=data, listener="trusted"):
                self.assertEqual(c.cmd(f"MAIL FROM:<app@{DOMAIN}>").code, 250)
                self.assertEqual(c.cmd("RCPT TO:<rcpt@remote.test>").code, 250)
                self.assertEqual(c.cmd("DATA").code, 354)
                c.send(data + b"\r\n.\r\n")
                self.assertEqual(c.reply().code, code)

    def test_nothing_smuggled_is_queued(self):
        for name, seq in SEQUENCES.items():
            for tls in (False, None):
                self.run_smuggle(seq, f"q-{name}", tls=tls, check=False)
        # A carrier may be queued (normalised, its smuggled part as text); nothing else.
        bad = [f"{e.get('id')} from={e.get('from')} to={e.get('to')}"
               for e in self.hato.queue_ls()
               if e.get("from", "").startswith("smuggled-")
               or any(t.startswith("victim-") for t in e.get("to", []))]
        if bad:
            self.fail("nothing of a rejected or smuggled message may be queued, but: "
                      + "; ".join(bad))


MODES = {False: ("", ""), True: ("tls_", " (STARTTLS+AUTH)"),
         "implicit": ("implicit_", " (implicit TLS+AUTH)"),
         None: ("reject_", " (bare_lf: reject)")}


def _make(name, seq, tls):
    prefix, note = MODES[tls]

    def test(self):
        self.run_smuggle(seq, f"{prefix.replace('_', '-')}{name}", tls)
    test.__name__ = f"test_smuggle_{prefix}{name}"
    test.__doc__ = f"{seq!r} then a smuggled transaction{note}"
    return test


for _name, _seq in SEQUENCES.items():
    for _tls in MODES:
        _t = _make(_name, _seq, _tls)
        setattr(SmugglingTest, _t.__name__, _t)


class StartTlsInjectionTest(HatoTestCase):
    """Plaintext pipelined behind STARTTLS must be discarded (CVE-2011-0411 class)."""

    def inject(self, injected):
        c = RawSMTP(self.hato.port("submission"))
        self.addCleanup(c.close)
        c.greeting()
        c.ehlo()
        c.send(b"STARTTLS\r\n" + injected)
        r = c.reply()
        self.assertEqual(r.code, 220, r)
        self.assertEqual(c.buf, b"", "no plaintext may follow the STARTTLS 220")
        c.sock = client_context().wrap_socket(c.sock)
        # The first reply under TLS must be the one for our EHLO.
        r = c.cmd("EHLO client.example.net")
        self.assertEqual(r.code, 250, r)
        self.assertTrue(r.lines[0].startswith(HOSTNAME),
                        f"first reply under TLS is not the EHLO reply (injected command "
                        f"answered?): {r}")
        self.assertGreater(len(r.lines), 1, f"EHLO reply expected, got {r}")
        r = c.cmd("NOOP")
        self.assertEqual(r.code, 250, r)
        c.send("QUIT\r\n")
        replies = c.replies_until_close()
        self.assertEqual([x.code for x in replies], [221], replies)
        return c

    def test_injected_rset_discarded(self):
        self.inject(b"RSET\r\n")

    def test_injected_mail_discarded(self):
        self.inject(f"MAIL FROM:<app@{DOMAIN}>\r\nRCPT TO:<x@remote.test>\r\n".encode())

    def test_injected_auth_discarded(self):
        token = base64.b64encode(b"\0alice\0alice-secret-1").decode()
        c = RawSMTP(self.hato.port("submission"))
        self.addCleanup(c.close)
        c.greeting()
        c.ehlo()
        c.send(f"STARTTLS\r\nAUTH PLAIN {token}\r\n".encode())
        self.assertEqual(c.reply().code, 220)
        self.assertEqual(c.buf, b"")
        c.sock = client_context().wrap_socket(c.sock)
        r = c.cmd("EHLO client.example.net")
        self.assertTrue(r.code == 250 and r.lines[0].startswith(HOSTNAME), r)
        # Had the injected AUTH been run, MAIL would now be allowed.
        r = c.cmd(f"MAIL FROM:<alice@{DOMAIN}>")
        self.assertEqual(r.code, 530, f"the injected AUTH must not count: {r}")


class OpenRelayTest(HatoTestCase):
    """Every address form of the inbound battery (test_inbound.OPEN_RELAY_FORMS: %-hack,
    quoted local parts, source routes, ! paths, user@a@b, literals) on every submission
    listener without AUTH: nothing is accepted, nothing queued. (The inbound listener's
    battery is test_inbound's test_every_open_relay_form_is_refused_at_rcpt.)"""

    ROLES = {"submission": "starttls", "submissions": "implicit", "untrusted": "none"}

    def session(self, listener):
        mode = self.ROLES[listener]
        c = RawSMTP(self.hato.port(listener), implicit_tls=mode == "implicit")
        self.addCleanup(c.close)
        c.greeting()
        c.ehlo()
        if mode == "starttls":
            c.starttls()
            c.ehlo()
        return c

    def test_every_form_on_every_listener_without_auth(self):
        from test_inbound import OPEN_RELAY_FORMS
        for listener in self.ROLES:
            for sender in (f"app@{DOMAIN}", "someone@remote.test"):
                for form in OPEN_RELAY_FORMS:
                    with self.subTest(listener=listener, sender=sender, rcpt=form):
                        # A session each: the refusals count towards max_errors.
                        c = self.session(listener)
                        for line in (f"MAIL FROM:<{sender}>", f"RCPT TO:<{form}>", "DATA"):
                            r = c.cmd(line)
                            self.assertIn(r.code // 100, (4, 5), f"{line} on {listener}: {r}")
                        c.close()
        # This class has its own daemon: nothing at all may be in its queue.
        self.assertEqual(self.hato.queue_ls(), [], "nothing may be queued without AUTH")
