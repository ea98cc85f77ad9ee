"""The SMTP engine on the wire: pipelining, the state machine, RFC 5321 limits, errors."""

import time

from hatotest import DOMAIN, HatoTestCase, ProtocolError, RawSMTP, ehlo_keywords, queue_id

SENDER = f"app@{DOMAIN}"
MAX_ERRORS = 5
MAX_RECIPIENTS = 5


def body(text=b"Subject: t\r\n\r\nhello\r\n"):
    return text


class ProtocolTest(HatoTestCase):
    LIMITS = {"max_errors": MAX_ERRORS, "max_recipients": MAX_RECIPIENTS,
              "max_message_size": "1M"}

    def session(self):
        """A raw session on the trusted listener (no TLS, no AUTH needed), after EHLO."""
        c = RawSMTP(self.hato.port("trusted"))
        self.addCleanup(c.close)
        c.greeting()
        c.ehlo()
        return c

    def send_message(self, c, data, rcpts=("someone@remote.test",)):
        rep = c.cmd(f"MAIL FROM:<{SENDER}>")
        self.assertEqual(rep.code, 250, rep)
        for r in rcpts:
            rep = c.cmd(f"RCPT TO:<{r}>")
            self.assertEqual(rep.code, 250, rep)
        rep = c.cmd("DATA")
        self.assertEqual(rep.code, 354, rep)
        c.send(data + b".\r\n")
        return c.reply()

    def assertQueued(self, rep):
        self.assertEqual(rep.code, 250, rep)
        self.assertTrue(rep.lines[-1].startswith("2.0.0 Ok: queued as "), rep)
        return queue_id(rep.lines[-1])

    def assertAlive(self, c):
        rep = c.cmd("NOOP")
        self.assertEqual(rep.code, 250, f"session should survive: {rep}")

    # -- simple commands --------------------------------------------------------------
    def test_simple_commands(self):
        c = self.session()
        self.assertEqual(c.cmd("NOOP").code, 250)
        self.assertEqual(c.cmd("RSET").code, 250)
        self.assertEqual(c.cmd("VRFY someone").code, 252)
        self.assertEqual(c.cmd("HELP").code, 214)
        rep = c.cmd("HELO client.example.net")
        self.assertEqual(rep.code, 250, rep)
        rep = c.cmd("QUIT")
        self.assertEqual(rep.code, 221, rep)
        self.assertEqual(c.replies_until_close(), [])

    def test_enhanced_status_codes(self):
        c = self.session()
        rep = c.cmd(f"MAIL FROM:<{SENDER}>")
        self.assertRegex(rep.lines[-1], r"^2\.1\.0 ")
        rep = c.cmd("RCPT TO:<someone@remote.test>")
        self.assertRegex(rep.lines[-1], r"^2\.1\.5 ")

    def test_bad_sequence_503(self):
        c = self.session()
        rep = c.cmd("RCPT TO:<someone@remote.test>")
        self.assertEqual(rep.code, 503, rep)
        rep = c.cmd("DATA")
        self.assertEqual(rep.code, 503, rep)
        rep = c.cmd(f"MAIL FROM:<{SENDER}>")
        self.assertEqual(rep.code, 250, rep)
        rep = c.cmd(f"MAIL FROM:<{SENDER}>")
        self.assertEqual(rep.code, 503, "nested MAIL")
        rep = c.cmd("DATA")
        self.assertIn(rep.code, (503, 554), "DATA without a recipient")
        self.assertEqual(c.cmd("RSET").code, 250)
        self.assertQueued(self.send_message(c, body()))

    def test_unknown_command_and_syntax_errors(self):
        c = self.session()
        rep = c.cmd("FROBNICATE")
        self.assertEqual(rep.code, 500, rep)
        self.assertTrue(rep.lines[-1].startswith("5.5."), rep)
        rep = c.cmd("MAIL FROM:no-brackets-and spaces")
        self.assertEqual(rep.code // 100, 5, rep)
        self.assertAlive(c)

    # -- pipelining ---------------------------------------------------------------------
    def test_pipelined_transaction(self):
        c = self.session()
        c.send(f"MAIL FROM:<{SENDER}>\r\nRCPT TO:<a@remote.test>\r\n"
               f"RCPT TO:<b@remote.test>\r\nDATA\r\n")
        codes = [c.reply().code for _ in range(4)]
        self.assertEqual(codes, [250, 250, 250, 354])
        # The message, then the next transaction and QUIT, in one write.
        c.send(body() + b".\r\n" + f"RSET\r\nMAIL FROM:<{SENDER}>\r\nRCPT TO:<c@remote.test>\r\n"
               f"NOOP\r\nQUIT\r\n".encode())
        replies = c.replies_until_close()
        self.assertEqual([r.code for r in replies], [250, 250, 250, 250, 250, 221], replies)
        self.assertQueued(replies[0])

    def test_pipelined_with_a_bad_recipient(self):
        c = self.session()
        c.send(f"MAIL FROM:<{SENDER}>\r\nRCPT TO:<a@remote.test>\r\nRCPT TO:<not an address>\r\n"
               f"RCPT TO:<b@remote.test>\r\nDATA\r\n")
        replies = [c.reply() for _ in range(5)]
        codes = [r.code for r in replies]
        self.assertEqual(codes[:2], [250, 250], replies)
        self.assertEqual(codes[2] // 100, 5, replies)
        self.assertEqual(codes[3:], [250, 354], replies)
        c.send(body() + b".\r\n")
        self.assertQueued(c.reply())

    def test_pipelined_all_recipients_refused(self):
        c = self.session()
        c.send(f"MAIL FROM:<{SENDER}>\r\nRCPT TO:<bad address>\r\nDATA\r\n")
        replies = [c.reply() for _ in range(3)]
        self.assertEqual(replies[0].code, 250, replies)
        self.assertEqual(replies[1].code // 100, 5, replies)
        self.assertIn(replies[2].code, (503, 554), f"DATA with no valid recipient: {replies}")
        # The message text the client sends anyway must not be taken as commands
        # producing a queued message; the session goes on.
        self.assertEqual(c.cmd("RSET").code, 250)

    # -- limits -------------------------------------------------------------------------------
    def test_command_line_too_long_500(self):
        c = self.session()
        for n in (600, 5000, 100000):
            rep = c.cmd("NOOP " + "x" * n)
            self.assertEqual(rep.code, 500, f"{n}-byte line: {rep}")
            self.assertTrue(rep.lines[-1].startswith("5.5.2"), rep)
            self.assertAlive(c)
        rep = c.cmd(f"MAIL FROM:<{'a' * 600}@{DOMAIN}>")
        self.assertEqual(rep.code, 500, rep)
        self.assertTrue(rep.lines[-1].startswith("5.5.2"), rep)

    def test_command_line_boundary_512(self):
        c = self.session()
        # RFC 5321 4.5.3.1.4: 512 octets including the CRLF is legal; NOOP takes a string.
        line = "NOOP " + "x" * (510 - 5)
        self.assertEqual(len(line) + 2, 512)
        rep = c.cmd(line)
        self.assertEqual(rep.code, 250, f"a 512-octet command line is legal: {rep}")
        rep = c.cmd(line + "x")
        self.assertEqual(rep.code, 500, f"513 octets: {rep}")
        self.assertTrue(rep.lines[-1].startswith("5.5.2"), rep)

    def test_text_line_boundary(self):
        c = self.session()
        ok = b"Subject: t\r\n\r\n" + b"a" * 998 + b"\r\n"
        self.assertQueued(self.send_message(c, ok))
        too_long = b"Subject: t\r\n\r\n" + b"a" * 999 + b"\r\nmore\r\n"
        rep = self.send_message(c, too_long)
        self.assertEqual(rep.code, 552, rep)
        self.assertTrue(rep.lines[-1].startswith("5.3.4"), rep)

    def test_text_line_too_long_552_session_survives(self):
        c = self.session()
        data = b"Subject: t\r\n\r\nstart\r\n" + b"b" * 20000 + b"\r\nend\r\n"
        rep = self.send_message(c, data)
        self.assertEqual(rep.code, 552, rep)
        self.assertTrue(rep.lines[-1].startswith("5.3.4"), rep)
        self.assertAlive(c)
        self.assertQueued(self.send_message(c, body()))

    def test_message_too_big_552_session_survives(self):
        c = self.session()
        line = b"c" * 76 + b"\r\n"
        data = b"Subject: big\r\n\r\n" + line * (1100 * 1024 // len(line))
        self.assertGreater(len(data), 1024 * 1024)
        rep = self.send_message(c, data)
        self.assertEqual(rep.code, 552, rep)
        self.assertTrue(rep.lines[-1].startswith("5.3.4"), rep)
        self.assertAlive(c)
        self.assertQueued(self.send_message(c, body()))

    def test_declared_size_too_big_552(self):
        c = self.session()
        kw = ehlo_keywords(c.cmd("EHLO client.example.net"))
        limit = int(kw["SIZE"][0])
        self.assertEqual(limit, 1024 * 1024)
        rep = c.cmd(f"MAIL FROM:<{SENDER}> SIZE={limit + 1}")
        self.assertEqual(rep.code, 552, rep)
        self.assertTrue(rep.lines[-1].startswith("5.3.4"), rep)
        rep = c.cmd(f"MAIL FROM:<{SENDER}> SIZE=4096 BODY=8BITMIME")
        self.assertEqual(rep.code, 250, rep)

    def test_smtputf8_and_8bitmime(self):
        c = self.session()
        rep = c.cmd(f"MAIL FROM:<j\u00f6ran@{DOMAIN}> SMTPUTF8 BODY=8BITMIME")
        self.assertEqual(rep.code, 250, rep)
        rep = c.cmd("RCPT TO:<\u7528\u6237@b\u00fccher.remote.test>")
        self.assertEqual(rep.code, 250, rep)
        self.assertEqual(c.cmd("DATA").code, 354)
        c.send("Subject: caf\u00e9\r\n\r\n\u2709 8-bit body\r\n.\r\n".encode())
        self.assertQueued(c.reply())

    def test_dsn_parameters_accepted(self):
        c = self.session()
        rep = c.cmd(f"MAIL FROM:<{SENDER}> RET=HDRS ENVID=QQ314159")
        self.assertEqual(rep.code, 250, rep)
        rep = c.cmd("RCPT TO:<a@remote.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;a@remote.test")
        self.assertEqual(rep.code, 250, rep)
        rep = c.cmd("RCPT TO:<b@remote.test> NOTIFY=NEVER")
        self.assertEqual(rep.code, 250, rep)
        self.assertEqual(c.cmd("DATA").code, 354)
        c.send(body() + b".\r\n")
        self.assertQueued(c.reply())

    def test_too_many_recipients_452(self):
        c = self.session()
        self.assertEqual(c.cmd(f"MAIL FROM:<{SENDER}>").code, 250)
        for i in range(MAX_RECIPIENTS):
            rep = c.cmd(f"RCPT TO:<r{i}@remote.test>")
            self.assertEqual(rep.code, 250, rep)
        rep = c.cmd("RCPT TO:<one-too-many@remote.test>")
        self.assertEqual(rep.code, 452, rep)
        self.assertTrue(rep.lines[-1].startswith("4.5.3"), rep)
        self.assertEqual(c.cmd("DATA").code, 354)
        c.send(body() + b".\r\n")
        self.assertQueued(c.reply())

    def test_too_many_errors_421(self):
        c = self.session()
        got_421_at = None
        for i in range(1, MAX_ERRORS + 3):
            c.send("BOGUS\r\n")
            try:
                rep = c.reply()
            except EOFError:
                self.fail(f"connection closed without a 421 after {i} errors")
            if rep.code == 421:
                got_421_at = i
                self.assertTrue(rep.lines[-1].startswith("4.7.0"), rep)
                break
            self.assertEqual(rep.code // 100, 5, rep)
        self.assertIsNotNone(got_421_at, f"no 421 after {MAX_ERRORS + 2} errors")
        self.assertIn(got_421_at, (MAX_ERRORS, MAX_ERRORS + 1),
                      f"421 came after {got_421_at} errors; max_errors is {MAX_ERRORS}")
        self.assertEqual(c.replies_until_close(), [], "the server closes after 421")

    def test_too_many_errors_pipelined(self):
        c = self.session()
        c.send("BOGUS\r\n" * (MAX_ERRORS + 5))
        replies = c.replies_until_close()
        self.assertEqual(replies[-1].code, 421, replies)
        self.assertLessEqual(len(replies), MAX_ERRORS + 1, replies)


class TimeoutTest(HatoTestCase):
    LIMITS = {"command_timeout": "1s", "data_timeout": "2s"}

    def test_command_timeout_closes(self):
        c = RawSMTP(self.hato.port("trusted"))
        self.addCleanup(c.close)
        c.greeting()
        c.ehlo()
        t0 = time.monotonic()
        replies = c.replies_until_close()
        elapsed = time.monotonic() - t0
        self.assertLess(elapsed, 6, "command_timeout 1s")
        self.assertGreater(elapsed, 0.5)
        self.assertTrue(all(r.code == 421 for r in replies), replies)
        self.assertEqual(len(replies), 1, f"a 421 before closing: {replies}")

    def test_data_timeout_closes(self):
        c = RawSMTP(self.hato.port("trusted"))
        self.addCleanup(c.close)
        c.greeting()
        c.ehlo()
        self.assertEqual(c.cmd(f"MAIL FROM:<{SENDER}>").code, 250)
        self.assertEqual(c.cmd("RCPT TO:<a@remote.test>").code, 250)
        self.assertEqual(c.cmd("DATA").code, 354)
        c.send(b"Subject: t\r\n\r\npartial")
        t0 = time.monotonic()
        try:
            replies = c.replies_until_close()
        except ProtocolError as e:
            self.fail(f"not closed after data_timeout: {e}")
        elapsed = time.monotonic() - t0
        self.assertLess(elapsed, 8, "data_timeout 2s")
        self.assertTrue(all(r.code == 421 for r in replies), replies)
