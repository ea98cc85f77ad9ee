"""Durability and what is stored: SIGKILL after 250, restart, `queue show/cat/ls`,
the Received header with TLS details, Message-ID/Date added when missing."""

import email.utils
import re
import smtplib
import threading

from hatotest import (DOMAIN, HOSTNAME, IO_TIMEOUT, HatoTestCase, RawSMTP, client_context,
                      queue_id, wait_for)

SENDER = "alice@example.test"
RCPTS = ["first@remote.test", "second@other.test"]

# Original message: no Message-ID, no Date. Dot lines, trailing white space,
# 8-bit UTF-8, an empty line in the body, a 998-octet line, a folded header.
ORIGINAL = (
    b"From: Alice <alice@example.test>\r\n"
    b"To: first@remote.test, second@other.test\r\n"
    b"Subject: durability =?utf-8?q?test?=\r\n"
    b"X-Folded: first part\r\n"
    b"\tsecond part\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: 8bit\r\n"
    b"\r\n"
    b"Line one.\r\n"
    b".a line starting with a dot\r\n"
    b"..two dots\r\n"
    b"trailing spaces   \r\n"
    b"\r\n"
    b"caf\xc3\xa9 \xe2\x9c\x89 8-bit\r\n"
    + b"x" * 998 + b"\r\n"
    b"last line\r\n"
)


def split_message(stored):
    """(list of raw header fields incl. CRLF, the rest from the blank line on)."""
    end = stored.find(b"\r\n\r\n")
    if end < 0:
        raise AssertionError(f"no CRLF CRLF header/body separator in stored message: "
                             f"{stored[:300]!r}")
    head, rest = stored[:end + 2], stored[end + 2:]
    fields = []
    for line in head.split(b"\r\n")[:-1]:
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += line + b"\r\n"
        elif re.match(rb"^[!-9;-~]+:", line):
            fields.append(line + b"\r\n")
        else:
            raise AssertionError(f"malformed header line {line!r} (neither 'Name:' nor a "
                                 f"continuation) in {head[:600]!r}")
    return fields, rest


def field_name(f):
    return f.split(b":", 1)[0].strip().lower().decode("ascii", "replace")


def unfold(f):
    return re.sub(rb"\r\n[ \t]", b" ", f).decode("utf-8", "replace").strip()


def strip_added(testcase, stored, original):
    """Checks `stored` is Hato's headers + `original` and returns (received, added fields).

    The Received header must be the very first field; Message-ID and Date may be
    added (only where the original lacks them). Everything else is the original,
    byte for byte, in order.
    """
    fields, rest = split_message(stored)
    orig_names = {field_name(f) for f in split_message(original)[0]}
    testcase.assertEqual(field_name(fields[0]), "received",
                         f"the Received header must be on top: {fields[0]!r}")
    kept, added = [], {}
    for f in fields[1:]:
        n = field_name(f)
        if n in ("message-id", "date") and n not in orig_names:
            testcase.assertNotIn(n, added, f"two {n} fields added")
            added[n] = f
        else:
            kept.append(f)
    testcase.assertEqual(b"".join(kept) + rest, original,
                         "the original headers and body follow Hato's headers exactly")
    return unfold(fields[0]), added


class StoredMessageTest(HatoTestCase):

    def submit(self, port_name, msg, sender=SENDER, rcpts=RCPTS, mail_opts=(), rcpt_opts=()):
        """STARTTLS + AUTH PLAIN; returns (queue id, TLS version, cipher, smtp)."""
        s = smtplib.SMTP("127.0.0.1", self.daemon_under_test.port(port_name),
                         local_hostname="client.example.net", timeout=IO_TIMEOUT)
        self.addCleanup(s.close)
        s.ehlo()
        s.starttls(context=client_context())
        s.ehlo()
        s.user, s.password = "alice", "alice-secret-1"
        s.auth("PLAIN", s.auth_plain)
        code, resp = s.mail(sender, list(mail_opts))
        self.assertEqual(code, 250, resp)
        for r in rcpts:
            code, resp = s.rcpt(r, list(rcpt_opts))
            self.assertEqual(code, 250, resp)
        code, resp = s.data(msg)
        self.assertEqual(code, 250, resp)
        return queue_id(resp), s.sock.version(), s.sock.cipher()[0], s

    def check_stored(self, d, qid, original, tls_version, cipher):
        stored = d.queue_cat(qid)
        received, added = strip_added(self, stored, original)
        self.assertIn(HOSTNAME, received, received)
        v = tls_version.replace("TLSv", "")  # "1.3"
        self.assertRegex(received, rf"TLS\s*v?{re.escape(v)}",
                         f"Received names the TLS version {tls_version}: {received}")
        self.assertIn(cipher, received, f"Received names the cipher: {received}")
        self.assertRegex(received, r";\s*\S.*\d{4}", "Received ends with a date")
        return added

    # -- the SIGKILL test ------------------------------------------------------------------
    def test_sigkill_after_250_then_restart(self):
        d = self.daemon_under_test = self.own_daemon()
        d.start()
        qid, version, cipher, s = self.submit(
            "submission", ORIGINAL, mail_opts=["BODY=8BITMIME", "RET=HDRS", "ENVID=env-1"],
            rcpt_opts=["NOTIFY=FAILURE,DELAY"])
        d.kill()  # right after the 250, before QUIT
        s.close()
        r = d.cli("queue", "ls", "--json")
        self.assertEqual(r.returncode, 3, f"queue ls with the daemon down exits 3: {r}")
        d.start()

        show = d.queue_show(qid)
        self.assertEqual(show.get("id"), qid)
        self.assertEqual(show.get("from"), SENDER)
        self.assertEqual(sorted(show.get("to", [])), sorted(RCPTS))
        self.assertEqual(sorted(x.get("rcpt") for x in show.get("recipients", [])),
                         sorted(RCPTS))
        for key in ("state", "attempts", "created", "next_attempt", "size", "last_response"):
            self.assertIn(key, show)

        listed = {e["id"]: e for e in d.queue_ls()}
        self.assertIn(qid, listed)
        self.assertEqual(listed[qid]["from"], SENDER)

        added = self.check_stored(d, qid, ORIGINAL, version, cipher)
        self.assertIn("message-id", added, "Message-ID added when missing")
        self.assertIn("date", added, "Date added when missing")
        mid = unfold(added["message-id"]).split(":", 1)[1].strip()
        self.assertRegex(mid, r"^<[^<>@\s]+@[^<>@\s]+>$")
        date = unfold(added["date"]).split(":", 1)[1].strip()
        self.assertIsNotNone(email.utils.parsedate_to_datetime(date), date)

    def test_many_sessions_sigkill_all_found(self):
        """Messages acknowledged by parallel sessions all survive SIGKILL; IDs ordered."""
        d = self.own_daemon()
        d.start()
        port = d.port("trusted")
        ids, errors = [], []

        def worker(n):
            try:
                with RawSMTP(port) as c:
                    c.greeting()
                    c.ehlo()
                    mine = []
                    for i in range(5):
                        assert c.cmd(f"MAIL FROM:<app{n}@{DOMAIN}>").code == 250
                        assert c.cmd(f"RCPT TO:<r{n}-{i}@remote.test>").code == 250
                        assert c.cmd("DATA").code == 354
                        c.send(f"Subject: {n}-{i}\r\n\r\nbody {n} {i}\r\n.\r\n".encode())
                        r = c.reply()
                        assert r.code == 250, r
                        mine.append(queue_id(r.text))
                    ids.append(mine)
            except Exception as e:  # reported below
                errors.append(repr(e))

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        self.assertEqual(errors, [])
        d.kill()
        d.start()
        all_ids = [i for mine in ids for i in mine]
        self.assertEqual(len(set(all_ids)), 30, "queue IDs are unique")
        for mine in ids:
            self.assertEqual(mine, sorted(mine), "IDs of one session increase with time")
        listed = {e["id"] for e in d.queue_ls()}
        self.assertEqual(sorted(set(all_ids) - listed), [], "every acknowledged message is found")
        # New IDs after the restart sort after the old ones (never reused).
        with RawSMTP(d.port("trusted")) as c:
            c.greeting()
            c.ehlo()
            self.assertEqual(c.cmd(f"MAIL FROM:<app@{DOMAIN}>").code, 250)
            self.assertEqual(c.cmd("RCPT TO:<late@remote.test>").code, 250)
            self.assertEqual(c.cmd("DATA").code, 354)
            c.send(b"Subject: late\r\n\r\nlate\r\n.\r\n")
            new = queue_id(c.reply().text)
        self.assertGreater(new, max(all_ids))

    def test_sigkill_under_load_leaves_only_whole_messages(self):
        """SIGKILL while sessions are mid-transaction: every acknowledged message is
        found, and everything found is a whole message (no half-written one)."""
        d = self.own_daemon()
        d.start()
        port = d.port("trusted")
        acked, stop, lock = {}, threading.Event(), threading.Lock()

        def original(n, i):
            return (f"Subject: load {n}-{i}\r\n\r\n".encode()
                    + f"line {n}-{i} ".encode() * 40 + b"\r\n"
                    + f"body {n}-{i}\r\n".encode() * 60 + f"end {n}-{i}\r\n".encode())

        def worker(n):
            try:
                with RawSMTP(port, timeout=5) as c:
                    c.greeting()
                    c.ehlo()
                    i = 0
                    while not stop.is_set():
                        c.send(f"MAIL FROM:<load{n}@{DOMAIN}>\r\nRCPT TO:<r{n}@remote.test>\r\n"
                               "DATA\r\n")
                        if [c.reply().code for _ in range(3)] != [250, 250, 354]:
                            return
                        data = original(n, i)
                        half = len(data) // 2
                        c.send(data[:half])   # two writes: a kill may fall in between
                        c.send(data[half:] + b".\r\n")
                        r = c.reply()
                        if r.code == 250:
                            with lock:
                                acked[queue_id(r.text)] = (n, i)
                        i += 1
            except (EOFError, OSError, AssertionError):
                pass  # the daemon was killed under us

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        wait_for(lambda: len(acked) >= 60, timeout=10)
        d.kill()
        stop.set()
        for t in threads:
            t.join(10)
        self.assertGreaterEqual(len(acked), 60, "the load did not get going")
        d.start()
        listed = {e["id"]: e for e in d.queue_ls()}
        missing = sorted(set(acked) - set(listed))
        self.assertEqual(missing, [], f"acknowledged before SIGKILL, lost after restart "
                                      f"({len(missing)} of {len(acked)})")
        # Everything queued is whole: the unacknowledged ones, and a sample of the rest.
        check = [q for q in listed if q not in acked] + sorted(acked)[-10:]
        for qid in check:
            stored = d.queue_cat(qid)
            m = re.search(rb"\r\nSubject: load (\d+)-(\d+)\r\n", stored)
            self.assertIsNotNone(m, f"{qid}: no Subject: {stored[:400]!r}")
            n, i = int(m.group(1)), int(m.group(2))
            if qid in acked:
                self.assertEqual(acked[qid], (n, i), f"{qid} holds another message")
            strip_added(self, stored, original(n, i))

    def test_sigterm_then_restart_keeps_queue(self):
        d = self.daemon_under_test = self.own_daemon()
        d.start()
        qid, version, cipher, s = self.submit("submission", ORIGINAL)
        s.quit()
        d.stop(check=True)
        d.start()
        self.assertEqual(d.queue_show(qid).get("from"), SENDER)
        self.check_stored(d, qid, ORIGINAL, version, cipher)

    # -- headers, on the shared daemon ------------------------------------------------------
    def test_existing_message_id_and_date_kept(self):
        self.daemon_under_test = self.hato
        msg = (b"Message-ID: <kept.1@client.example.net>\r\n"
               b"Date: Mon, 02 Nov 2026 10:00:00 +0000\r\n"
               b"From: alice@example.test\r\n"
               b"Subject: has ids\r\n"
               b"\r\n"
               b"body\r\n")
        qid, version, cipher, s = self.submit("submission", msg)
        s.quit()
        stored = self.hato.queue_cat(qid)
        added = self.check_stored(self.hato, qid, msg, version, cipher)
        self.assertEqual(added, {}, "nothing but Received added when Message-ID and Date exist")
        fields, _ = split_message(stored)
        self.assertEqual([field_name(f) for f in fields].count("message-id"), 1)
        self.assertEqual([field_name(f) for f in fields].count("date"), 1)
        self.assertTrue(stored.endswith(msg), "Received prepended, original untouched")

    def test_added_headers_match_field_names_exactly(self):
        """Message-Id in another case counts; X-Date, Resent-Date or 'Date:' in the
        body do not count as a Date field."""
        self.daemon_under_test = self.hato
        msg = (b"Message-Id: <case.1@client.example.net>\r\n"
               b"X-Date: Mon, 02 Nov 2026 10:00:00 +0000\r\n"
               b"Resent-Date: Mon, 02 Nov 2026 10:00:00 +0000\r\n"
               b"Subject: field names\r\n"
               b"\r\n"
               b"Date: this is the body\r\n")
        qid, version, cipher, s = self.submit("submission", msg, rcpts=RCPTS[:1])
        s.quit()
        added = self.check_stored(self.hato, qid, msg, version, cipher)
        self.assertEqual(sorted(added), ["date"], "only Date is missing")

    def test_implicit_tls_received_header(self):
        self.daemon_under_test = self.hato
        s = smtplib.SMTP_SSL("127.0.0.1", self.hato.port("submissions"),
                             local_hostname="client.example.net", timeout=IO_TIMEOUT,
                             context=client_context())
        self.addCleanup(s.close)
        s.ehlo()
        s.user, s.password = "alice", "alice-secret-1"
        s.auth("PLAIN", s.auth_plain)
        s.mail(SENDER)
        s.rcpt(RCPTS[0])
        code, resp = s.data(ORIGINAL)
        self.assertEqual(code, 250, resp)
        qid = queue_id(resp)
        self.check_stored(self.hato, qid, ORIGINAL, s.sock.version(), s.sock.cipher()[0])
        show = self.hato.queue_show(qid)
        self.assertEqual(show.get("to"), [RCPTS[0]])
        s.quit()

    def test_queue_show_unknown_id_exit_1(self):
        r = self.hato.cli("queue", "show", "0000000000000000", "--json")
        self.assertEqual(r.returncode, 1, r)
        self.assertTrue(r.stderr.strip(), "an error line on stderr")
