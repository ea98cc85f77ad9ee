"""Hostile clients (issue 10): each attack meets a limit, a timeout or a slow-down, and
the daemon keeps serving everyone else.

Every attack runs against a live daemon while a well-behaved client submits a message
and must be answered promptly (`assertServed`); the daemon's memory is read from
/proc during the floods. Attackers come from 127.0.0.1 and the bystanders from other
loopback addresses (127.0.0.2 ...), so limits per client address can tell them apart.
Also here: TLS below 1.2 and weak ciphers are refused (openssl s_client).
"""

import base64
import os
import resource
import select
import socket
import ssl
import subprocess
import threading
import time

import hatotest
from test_admin import sanitized
from hatotest import (DOMAIN, HatoTestCase, ProtocolError, RawSMTP, client_context, queue_id,
                      wait_for)

SENDER = f"app@{DOMAIN}"
COMMAND_TIMEOUT = 3.0
DATA_TIMEOUT = 5.0
MAX_RECIPIENTS = 100
BYSTANDER = "127.0.0.2"
SERVED_WITHIN = 5.0  # seconds for a bystander's whole transaction during an attack


class SourcedSMTP(RawSMTP):
    """RawSMTP from a chosen source address (any 127.0.0.0/8 address works on Linux)."""

    def __init__(self, port, source="127.0.0.1", implicit_tls=False, timeout=hatotest.IO_TIMEOUT):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                             source_address=(source, 0))
        self.timeout = timeout
        self.buf = b""
        self.tls = False
        if implicit_tls:
            self.sock = client_context().wrap_socket(self.sock)
            self.tls = True


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def plain_token(user, password):
    return base64.b64encode(f"\0{user}\0{password}".encode()).decode()


class HostileCase(HatoTestCase):
    LIMITS = {"command_timeout": f"{int(COMMAND_TIMEOUT)}s", "data_timeout": f"{int(DATA_TIMEOUT)}s",
              "max_recipients": MAX_RECIPIENTS, "max_errors": 10}

    def session(self, source="127.0.0.1", listener="trusted"):
        c = SourcedSMTP(self.hato.port(listener), source=source)
        self.addCleanup(c.close)
        c.greeting()
        c.ehlo()
        return c

    def assertServed(self, source=BYSTANDER, daemon=None, what=""):
        """A bystander submits one message on the trusted listener, in time."""
        d = daemon or self.hato
        t0 = time.monotonic()
        try:
            with SourcedSMTP(d.port("trusted"), source=source, timeout=SERVED_WITHIN) as c:
                c.greeting()
                c.ehlo()
                self.assertEqual(c.cmd(f"MAIL FROM:<{SENDER}>").code, 250)
                self.assertEqual(c.cmd("RCPT TO:<bystander@remote.test>").code, 250)
                self.assertEqual(c.cmd("DATA").code, 354)
                c.send(b"Subject: bystander\r\n\r\nstill served\r\n.\r\n")
                r = c.reply()
                self.assertEqual(r.code, 250, r)
                c.cmd("QUIT")
        except (OSError, EOFError, ProtocolError) as e:
            self.fail(f"a bystander from {source} was not served {what}: {e!r}")
        took = time.monotonic() - t0
        self.assertLess(took, SERVED_WITHIN, f"bystander took {took:.1f}s {what}")
        return took

    def queued_message(self, reply):
        return self.hato.queue_cat(queue_id(reply.text))


class CommandLinesTest(HostileCase):

    def test_100kb_command_lines(self):
        c = self.session()
        for line in [b"NOOP " + b"x" * 100_000,
                     b"MAIL FROM:<" + b"a" * 100_000 + b"@example.test>",
                     b"EHLO " + b"h" * 100_000]:
            c.send(line + b"\r\n")
            r = c.reply()
            self.assertEqual((r.code, r.lines[-1][:5]), (500, "5.5.2"), r)
        self.assertEqual(c.cmd("NOOP").code, 250, "the session goes on after long lines")
        # Inside a transaction the transaction survives.
        self.assertEqual(c.cmd(f"MAIL FROM:<{SENDER}>").code, 250)
        c.send(b"RCPT TO:<" + b"r" * 100_000 + b"@remote.test>\r\n")
        self.assertEqual(c.reply().code, 500)
        self.assertEqual(c.cmd("RCPT TO:<ok@remote.test>").code, 250)
        self.assertEqual(c.cmd("DATA").code, 354)
        c.send(b"Subject: t\r\n\r\nx\r\n.\r\n")
        self.assertEqual(c.reply().code, 250)
        self.assertServed()

    def test_megabyte_line_without_end_keeps_memory_flat(self):
        pid = self.hato.proc.pid
        before = rss_kb(pid)
        c = self.session()
        chunk = b"y" * 65536
        for _ in range(160):  # 10 MiB, no line end
            c.send(chunk)
        self.assertServed(what="while a 10 MiB line arrives")
        c.send(b"\r\n")
        r = c.reply()
        self.assertEqual(r.code, 500, r)
        grown = rss_kb(pid) - before
        # ASan's quarantine holds freed memory for a while: allow it more room.
        limit = 64 * 1024 if sanitized() else 16 * 1024
        self.assertLess(grown, limit, f"daemon grew by {grown} KiB for one long line")

    def test_10000_rcpts_meet_the_limit_and_the_session_goes_on(self):
        c = self.session()
        self.assertEqual(c.cmd(f"MAIL FROM:<{SENDER}>").code, 250)
        n = 10_000
        cmds = b"".join(b"RCPT TO:<r%d@remote.test>\r\n" % i for i in range(n))
        sender = threading.Thread(target=c.send, args=(cmds,), daemon=True)
        sender.start()
        codes = []
        try:
            for _ in range(n):
                codes.append(c.reply().code)
        except (EOFError, ProtocolError, OSError) as e:
            tail = codes[-3:]
            self.fail(f"session ended after {len(codes)} RCPT replies (last {tail}): {e!r}; "
                      f"RFC 5321 4.5.3.1.8 wants 452 for the excess and the transaction kept")
        finally:
            sender.join(10)
        self.assertEqual(codes[:MAX_RECIPIENTS], [250] * MAX_RECIPIENTS)
        self.assertEqual(set(codes[MAX_RECIPIENTS:]), {452}, "excess recipients get 452")
        self.assertEqual(c.cmd("DATA").code, 354)
        c.send(b"Subject: many\r\n\r\nx\r\n.\r\n")
        r = c.reply()
        self.assertEqual(r.code, 250, r)
        rcpts = self.hato.queue_show(queue_id(r.text))["recipients"]
        self.assertEqual(len(rcpts), MAX_RECIPIENTS)
        self.assertServed()


class BadBytesTest(HostileCase):

    def test_nul_bytes_in_commands(self):
        c = self.session()
        problems = []
        for line in [b"NO\0OP", b"MAIL FROM:<a\0b@example.test>", b"EHLO a\0b.example"]:
            r = c.cmd(line.decode("latin-1"))
            if r.code < 500:
                problems.append(f"{line!r} -> {r}")
        c.ehlo()
        self.assertEqual(c.cmd(f"MAIL FROM:<{SENDER}>").code, 250)
        for addr in ["x\0y@remote.test", "x@remote\0.test", "x@[192.0.2.1\0]"]:
            r = c.cmd(f"RCPT TO:<{addr}>")
            if r.code < 500:
                problems.append(f"RCPT TO:<{addr!r}> -> {r}")
        self.assertEqual(c.cmd("NOOP").code, 250)
        self.assertServed()
        self.assertEqual(problems, [], "NUL bytes accepted in commands")

    def test_nul_bytes_in_data_do_not_break_the_session(self):
        c = self.session()
        self.assertEqual(c.cmd(f"MAIL FROM:<{SENDER}>").code, 250)
        self.assertEqual(c.cmd("RCPT TO:<x@remote.test>").code, 250)
        self.assertEqual(c.cmd("DATA").code, 354)
        c.send(b"Subject: \0nul\r\n\r\n\0\0\0\r\n.\0\r\n.\r\n")
        r = c.reply()
        self.assertIn(r.code, (250, 550, 554), r)
        if r.code == 250:
            self.assertIn(b"\0\0\0\r\n", self.queued_message(r), "stored as sent")
        self.assertEqual(c.cmd("NOOP").code, 250)
        self.assertServed()

    def test_control_characters_never_reach_the_stored_header(self):
        # EHLO's argument and a domain literal end up in the Received field: a bare CR
        # there is a header line break for the next hop (SMTP smuggling's sibling).
        for helo, rcpt in [("c.example\rX-Injected:yes", "x@remote.test"),
                           ("c.example", "x@[192.0.2.1\rX-Injected:yes]"),
                           ("c\x01\x7f.example", "x@remote.test")]:
            with self.subTest(helo=helo, rcpt=rcpt):
                c = SourcedSMTP(self.hato.port("trusted"))
                self.addCleanup(c.close)
                c.greeting()
                r = c.cmd(f"EHLO {helo}")
                if r.code != 250:
                    continue  # refused: fine
                self.assertEqual(c.cmd(f"MAIL FROM:<{SENDER}>").code, 250)
                r = c.cmd(f"RCPT TO:<{rcpt}>")
                if r.code != 250:
                    continue  # refused: fine
                self.assertEqual(c.cmd("DATA").code, 354)
                c.send(b"Subject: t\r\n\r\nx\r\n.\r\n")
                r = c.reply()
                self.assertEqual(r.code, 250, r)
                stored = self.queued_message(r)
                head = stored.split(b"\r\n\r\n", 1)[0]
                bad = [b for b in set(head) if (b < 0x20 and b not in (9, 10, 13)) or b == 0x7f]
                self.assertEqual(bad, [], f"control characters in the stored header: {head!r}")
                self.assertNotIn(b"\rX-Injected", head.replace(b"\r\n", b""),
                                 f"bare CR in the stored header: {head!r}")

    def test_invalid_utf8(self):
        c = self.session()
        problems = []
        # Without SMTPUTF8 an 8-bit address is refused outright.
        r = c.cmd(b"MAIL FROM:<\xff\xfe@example.test>")
        self.assertGreaterEqual(r.code, 500, r)
        r = c.cmd(b"HELO \xc3\x28.example")
        self.assertIn(r.code // 100, (2, 5), r)
        c.ehlo()
        # With SMTPUTF8 an address must still be UTF-8 (RFC 6531 3.3).
        for addr in [b"\xff\xfe@example.test", b"app@\xc3\x28.example.test",
                     b"\xed\xa0\x80@example.test", b"\xc0\xaf@example.test"]:
            r = c.cmd(b"MAIL FROM:<" + addr + b"> SMTPUTF8")
            if r.code == 250:
                c.cmd("RSET")
            if r.code < 500:
                problems.append(f"MAIL FROM:<{addr!r}> SMTPUTF8 -> {r}")
        self.assertEqual(c.cmd(f"MAIL FROM:<{SENDER}> SMTPUTF8").code, 250)
        for addr in [b"\xff@remote.test", b"x@\xe2\x82.test"]:
            r = c.cmd(b"RCPT TO:<" + addr + b">")
            if r.code < 500:
                problems.append(f"RCPT TO:<{addr!r}> -> {r}")
        r = c.cmd("RCPT TO:<\u00fc@remote.test>")
        self.assertEqual(r.code, 250, r)
        self.assertEqual(c.cmd("NOOP").code, 250)
        self.assertServed()
        self.assertEqual(problems, [], "addresses that are not UTF-8 accepted under SMTPUTF8")


class FloodTest(HostileCase):

    def test_pipelined_noop_flood_without_reading(self):
        pid = self.hato.proc.pid
        before = rss_kb(pid)
        s = socket.create_connection(("127.0.0.1", self.hato.port("trusted")), timeout=5)
        self.addCleanup(s.close)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # and never read
        total = 32 * 1024 * 1024
        chunk = b"NOOP\r\n" * 10923  # 64 KiB
        sent = 0
        peak = before
        t_end = time.monotonic() + 30
        blocked = False
        s.settimeout(2.0)
        while sent < total and time.monotonic() < t_end:
            try:
                s.sendall(chunk)
            except socket.timeout:
                blocked = True  # the daemon stopped reading: back-pressure, fine
                break
            except OSError:
                break  # the daemon closed the connection: fine too
            sent += len(chunk)
            if sent % (1024 * 1024) < len(chunk):
                peak = max(peak, rss_kb(pid))
        peak = max(peak, rss_kb(pid))
        self.assertServed(what=f"after a flood of {sent >> 20} MiB of NOOPs")
        grown = peak - before
        self.assertLess(grown, 16 * 1024,
                        f"daemon memory grew by {grown} KiB while {sent >> 20} MiB of NOOPs "
                        f"arrived unread (blocked={blocked}); replies must not pile up unbounded")

    def test_pipelined_flood_does_not_starve_others(self):
        s = socket.create_connection(("127.0.0.1", self.hato.port("trusted")), timeout=5)
        self.addCleanup(s.close)
        stop = threading.Event()

        def flood():
            chunk = b"RSET\r\nNOOP\r\n" * 5000
            while not stop.is_set():
                try:
                    s.sendall(chunk)
                    s.setblocking(False)
                    try:
                        while s.recv(1 << 20):
                            pass
                    except (BlockingIOError, ssl.SSLWantReadError):
                        pass
                    s.setblocking(True)
                except OSError:
                    return
        t = threading.Thread(target=flood, daemon=True)
        t.start()
        try:
            time.sleep(0.5)
            for _ in range(3):
                self.assertServed(what="during a pipelined flood that reads its replies")
        finally:
            stop.set()
            t.join(5)


class TimeoutTest(HostileCase):

    def wait_closed(self, c, within):
        """Replies until the server closes; fails if it has not closed `within` s."""
        c.sock.settimeout(within)
        t0 = time.monotonic()
        replies = c.replies_until_close()
        return replies, time.monotonic() - t0

    def test_idle_connection_closed_by_command_timeout(self):
        c = SourcedSMTP(self.hato.port("trusted"))
        self.addCleanup(c.close)
        c.greeting()
        replies, took = self.wait_closed(c, COMMAND_TIMEOUT + 5)
        self.assertEqual([r.code for r in replies], [421], replies)
        self.assertLess(took, COMMAND_TIMEOUT + 3)

    def test_half_closed_client_is_let_go(self):
        c = SourcedSMTP(self.hato.port("trusted"))
        self.addCleanup(c.close)
        c.greeting()
        c.send(b"EHLO half.example\r\nMAIL FROM:<" + SENDER.encode())
        c.sock.shutdown(socket.SHUT_WR)  # FIN: nothing more will come
        c.sock.settimeout(COMMAND_TIMEOUT + 5)
        t0 = time.monotonic()
        replies = c.replies_until_close()
        self.assertLess(time.monotonic() - t0, COMMAND_TIMEOUT + 3,
                        "a half-closed connection is released")
        self.assertEqual(replies[0].code, 250, replies)
        self.assertServed()

    def test_connect_and_never_read(self):
        # Many connections that never read nor write: all time out, none blocks others.
        socks = [socket.create_connection(("127.0.0.1", self.hato.port("trusted")))
                 for _ in range(50)]
        for s in socks:
            self.addCleanup(s.close)
        self.assertServed(what="with 50 silent connections open")
        time.sleep(COMMAND_TIMEOUT + 2)
        closed = 0
        for s in socks:
            s.settimeout(2)
            data = b""
            try:
                while True:
                    d = s.recv(4096)
                    if not d:
                        closed += 1
                        break
                    data += d
            except (socket.timeout, OSError):
                pass
        self.assertEqual(closed, 50, "every silent connection was closed after the timeout")

    def slowloris(self, in_data, results):
        try:
            c = SourcedSMTP(self.hato.port("trusted"), timeout=30)
            c.greeting()
            if in_data:
                c.ehlo()
                c.cmd(f"MAIL FROM:<{SENDER}>")
                c.cmd("RCPT TO:<slow@remote.test>")
                c.cmd("DATA")
            t0 = time.monotonic()
            limit = (DATA_TIMEOUT if in_data else COMMAND_TIMEOUT) + 6
            closed = False
            while time.monotonic() - t0 < limit:
                try:
                    c.sock.sendall(b"x")
                except OSError:
                    closed = True
                    break
                r, _, _ = select.select([c.sock], [], [], 1.0)
                if r:
                    try:
                        d = c.sock.recv(4096)
                    except OSError:
                        d = b""
                    c.buf += d
                    if not d:
                        closed = True
                        break
            results[in_data] = (closed, time.monotonic() - t0, c.buf)
            c.close()
        except Exception as e:  # reported by the test
            results[in_data] = (False, 0, repr(e))

    def test_slowloris_one_byte_per_second(self):
        results = {}
        threads = [threading.Thread(target=self.slowloris, args=(d, results), daemon=True)
                   for d in (False, True)]
        for t in threads:
            t.start()
        time.sleep(1)
        self.assertServed(what="while two clients trickle a byte a second")
        for t in threads:
            t.join(30)
        problems = []
        for in_data, name, timeout in ((False, "command line", COMMAND_TIMEOUT),
                                       (True, "message", DATA_TIMEOUT)):
            closed, took, buf = results[in_data]
            if not closed:
                problems.append(f"a {name} trickled a byte a second was never cut off ({took:.0f}s, "
                                f"timeout {timeout:.0f}s): the timeout restarts with every byte; "
                                f"got {buf!r}")
            elif b"421" not in buf:
                problems.append(f"the slow {name} was closed without a 421: {buf!r}")
        self.assertEqual(problems, [])


class ConnectionFloodTest(HostileCase):
    MAX_CONNECTIONS = 100
    ATTACK = 5000  # concurrent connections from one address (issue 10)

    def open_many(self, port, n):
        # The test's own descriptors: n sockets need a soft limit above n.
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft != resource.RLIM_INFINITY and soft < n + 256:
            want = n + 256 if hard == resource.RLIM_INFINITY else min(hard, n + 256)
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
            self.addCleanup(resource.setrlimit, resource.RLIMIT_NOFILE, (soft, hard))
        socks = []
        for _ in range(n):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            socks.append(s)
        for s in socks:
            self.addCleanup(s.close)
        return socks

    def first_replies(self, socks, wait=5.0):
        """For each socket: b'220', b'421', b'' (closed without a word) or None (silent)."""
        out = [None] * len(socks)
        deadline = time.monotonic() + wait
        pending = {s.fileno(): i for i, s in enumerate(socks)}
        while pending and time.monotonic() < deadline:
            p = select.poll()
            for fd in pending:
                p.register(fd, select.POLLIN | select.POLLERR | select.POLLHUP)
            for fd, _ in p.poll(200):
                i = pending.pop(fd)
                try:
                    out[i] = socks[i].recv(3)
                except OSError:
                    out[i] = b""
        return out

    def test_connection_flood_meets_the_limit_and_recovers(self):
        d = self.own_daemon(limits=dict(self.LIMITS, max_connections=self.MAX_CONNECTIONS))
        d.start()
        socks = self.open_many(d.port("trusted"), self.ATTACK)
        firsts = self.first_replies(socks)
        greeted = firsts.count(b"220")
        refused = firsts.count(b"421")
        self.assertLessEqual(greeted, self.MAX_CONNECTIONS, "no more sessions than the limit")
        self.assertGreater(refused, 0, f"421 for the excess (got {set(firsts)})")
        d.assert_alive()
        for s in socks:
            s.close()
        time.sleep(0.5)
        self.assertServed(source="127.0.0.1", daemon=d, what="after the flood")
        self.assertServed(daemon=d, what="after the flood")

    def test_connection_flood_from_one_address_does_not_lock_out_others(self):
        d = self.own_daemon(limits=dict(self.LIMITS, max_connections=self.MAX_CONNECTIONS))
        d.start()
        socks = self.open_many(d.port("trusted"), self.ATTACK)
        self.first_replies(socks)
        # The attacker holds its connections open; another address must still get in.
        self.assertServed(daemon=d, what=f"while 127.0.0.1 holds {self.ATTACK} connections "
                          f"(limits.max_connections {self.MAX_CONNECTIONS}): one address must "
                          f"not be able to take every slot")


class AuthGuessingTest(HostileCase):
    USERS = {"alice": "alice-secret-1"}
    # Failed logins are answered after up to 16 s: longer than the other tests' timeout.
    LIMITS = dict(HostileCase.LIMITS, command_timeout="30s")

    def guess(self, source, password="wrong", user="alice"):
        """One AUTH PLAIN on the implicit TLS listener: (reply, seconds it took)."""
        with SourcedSMTP(self.hato.port("submissions"), source=source, implicit_tls=True,
                         timeout=40) as c:
            c.greeting()
            c.ehlo()
            t0 = time.monotonic()
            try:
                r = c.auth_plain(user, password)
            except EOFError:
                r = None
            return r, time.monotonic() - t0

    def test_guessing_slows_down_then_421_while_others_log_in(self):
        attacker = "127.0.0.3"
        delays = []
        for _ in range(3):
            r, took = self.guess(attacker)
            self.assertEqual(r.code, 535, r)
            delays.append(took)
        self.assertGreater(delays[0], 0.8, f"even the first failure is slowed: {delays}")
        self.assertGreater(delays[1], delays[0] + 0.5, f"later failures take longer: {delays}")
        self.assertGreater(delays[2], delays[1] + 0.5, f"later failures take longer: {delays}")
        # Seven more at once bring the count to ten; meanwhile the right user gets in.
        results = [None] * 7
        threads = [threading.Thread(target=lambda i=i: results.__setitem__(i, self.guess(attacker)),
                                    daemon=True) for i in range(7)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        r, took = self.guess("127.0.0.4", password=self.USERS["alice"])
        self.assertEqual(r.code, 235, r)
        self.assertLess(took, 3.0, "a good login from elsewhere is not slowed by the guesser")
        for t in threads:
            t.join(40)
        self.assertEqual([x[0].code for x in results if x], [535] * 7)
        r, took = self.guess(attacker)
        self.assertIsNotNone(r, "a reply before the close")
        self.assertEqual((r.code, r.lines[-1][:5]), (421, "4.7.0"), r)
        # Even the right password is refused from the blocked address for now.
        r, _ = self.guess(attacker, password=self.USERS["alice"])
        self.assertEqual(r.code, 421, r)
        self.assertServed()

    def test_parallel_guesses_are_bounded_too(self):
        # Guessing on many connections at once must not buy more checked passwords than
        # guessing one after another: at most ten wrong passwords are looked at per
        # address and window.
        attacker = "127.0.0.5"
        n = 30
        results = [None] * n
        threads = [threading.Thread(target=lambda i=i: results.__setitem__(i, self.guess(attacker)),
                                    daemon=True) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        codes = [x[0].code if x and x[0] else None for x in results]
        checked = codes.count(535)
        self.assertLessEqual(checked, 10, f"{checked} of {n} parallel guesses were checked "
                                          f"(535) instead of refused (421): {codes}")
        self.assertServed()


class TlsVersionsTest(HostileCase):

    def s_client(self, listener, *args):
        cmd = ["openssl", "s_client", "-connect", f"127.0.0.1:{self.hato.port(listener)}",
               "-brief", *args]
        if listener == "submission":
            cmd[2:2] = ["-starttls", "smtp"]
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=20)
        return r.returncode, r.stdout + r.stderr

    def test_old_protocols_refused(self):
        for listener in ("submission", "submissions"):
            for proto in ("-tls1", "-tls1_1"):
                with self.subTest(listener=listener, proto=proto):
                    # SECLEVEL=0: the client itself would refuse these otherwise.
                    rc, out = self.s_client(listener, proto, "-cipher", "DEFAULT@SECLEVEL=0")
                    self.assertNotEqual(rc, 0, out)
                    self.assertNotIn("Protocol version: TLSv1.1", out)
                    self.assertNotIn("Protocol version: TLSv1\n", out)

    def test_weak_ciphers_refused_and_strong_accepted(self):
        for listener in ("submission", "submissions"):
            with self.subTest(listener=listener):
                rc, out = self.s_client(listener, "-tls1_2")
                self.assertEqual(rc, 0, out)
                self.assertIn("Protocol version: TLSv1.2", out)
                rc, out = self.s_client(listener, "-tls1_3")
                self.assertEqual(rc, 0, out)
                for weak in ("AES128-SHA", "DES-CBC3-SHA:@SECLEVEL=0", "RC4-SHA:@SECLEVEL=0",
                             "ECDHE-RSA-AES128-SHA", "NULL-SHA256:@SECLEVEL=0"):
                    rc, out = self.s_client(listener, "-tls1_2", "-cipher", weak)
                    self.assertNotEqual(rc, 0, f"{weak} accepted: {out}")
        self.assertServed()


# ---------------------------------------------------------------------------------------
# A hostile server on the delivery side


import test_delivery  # noqa: E402  (its helpers: dnsmasq, a relay with a trusted listener)


def own_tests_only(cls):
    """The delivery tests' helpers without their tests (they run in test_delivery)."""
    for name in dir(test_delivery.DeliveryTestCase):
        if name.startswith("test") and name not in cls.__dict__:
            setattr(cls, name, None)
    return cls


class RefusingServer:
    """Takes MAIL and RCPT, answers DATA with 554 and hangs up at once (as some do)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.stop = threading.Event()
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        self.sock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            self.connections += 1
            threading.Thread(target=self.session, args=(conn,), daemon=True).start()

    def session(self, conn):
        f = conn.makefile("rb")
        try:
            conn.sendall(b"220 refusing.test ESMTP\r\n")
            for line in f:
                verb = line[:4].upper()
                if verb in (b"EHLO", b"HELO"):
                    conn.sendall(b"250 refusing.test\r\n")
                elif verb in (b"MAIL", b"RCPT", b"RSET", b"NOOP"):
                    conn.sendall(b"250 2.0.0 ok\r\n")
                elif verb == b"DATA":
                    conn.sendall(b"554 5.7.1 not from you, bye\r\n")
                    break
                elif verb == b"QUIT":
                    conn.sendall(b"221 bye\r\n")
                    break
                else:
                    conn.sendall(b"502 no\r\n")
        except OSError:
            pass
        finally:
            conn.close()

    def close(self):
        self.stop.set()
        self.sock.close()


@own_tests_only
class HostileServerTest(test_delivery.DeliveryTestCase):

    def test_data_refused_then_hang_up_still_settles_the_message(self):
        server = RefusingServer()
        self.addCleanup(server.close)
        dns = self.dns()
        d = self.relay(dns.port, server.port)
        qid = self.submit(d, ["x@remote.test"], message_bytes())
        ok = wait_for(lambda: self.deliveries(d, qid=qid), timeout=15, interval=0.3)
        self.assertTrue(ok, f"after 554 to DATA and a hang-up ({server.connections} connections) "
                            f"the message got no delivery result at all: its transaction callback "
                            f"was lost and it stays in flight until a restart\n" + self.state(d))


def message_bytes():
    return test_delivery.message("refused at DATA")
