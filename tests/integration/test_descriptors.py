"""Descriptor exhaustion (issue 29, item 1): a daemon whose descriptor limit is smaller than
the connections thrown at it pauses accepting instead of spinning the loop, logs a handful of
lines instead of gigabytes, keeps serving the sessions it has, and accepts again afterwards."""
import os
import shutil
import socket
import time
import unittest

from hatotest import HatoTestCase, RawSMTP
from sinks import TestCa
from test_mta_sts_hosting import POLICY_HOST, POLICY_URL, fetch, web_port

LIMIT = 256     # soft and hard: the daemon cannot raise it
FLOOD = 400     # connections, more than the limit allows


def flood(port, count, sources=1):
    """`count` connections, from `sources` loopback addresses in turn (127.0.0.10 up): a web
    listener takes at most 16 from one address, so a flood past the descriptor limit there
    must come from many."""
    def source(i):
        return ("127.0.0.1" if sources == 1 else f"127.0.0.{10 + i % sources}", 0)
    return [socket.create_connection(("127.0.0.1", port), timeout=5, source_address=source(i))
            for i in range(count)]


def cpu_share(pid, seconds):
    """The share of one CPU the process used over the next `seconds`."""
    before, t0 = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    return (cpu_seconds(pid) - before) / (time.monotonic() - t0)


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime


class DescriptorFloodTest(HatoTestCase):
    def test_a_flood_past_the_descriptor_limit_pauses_accepting_and_spares_the_loop(self):
        d = self.own_daemon(rlimit_nofile=(LIMIT, LIMIT)).start()
        port = d.port("trusted")
        log = d.log_text()
        self.assertIn("descriptor limit below what limits.max_connections needs", log,
                      d.log_tail())
        lines_before = len(log.splitlines())

        held = RawSMTP(port)  # a session made before the flood
        held.greeting()
        held.ehlo()

        sockets = []
        try:
            sockets = flood(port, FLOOD)
            time.sleep(1.0)  # the daemon has hit its limit by now
            used = cpu_share(d.proc.pid, 3.0)
            self.assertLess(used, 0.20, f"the daemon used {used:.0%} of a CPU while out of "
                                        f"descriptors\n{d.log_tail()}")

            started = time.monotonic()
            noop = held.cmd("NOOP")
            answered = time.monotonic() - started
            self.assertEqual(noop.code, 250)
            self.assertLess(answered, 0.1, f"NOOP took {answered * 1000:.0f} ms")

            # One `connect` line per connection accepted (at most the limit allows) is the
            # normal per-connection log; everything else the flood caused stays under 100 lines.
            written = d.log_text().splitlines()[lines_before:]
            connects = [l for l in written if " info connect peer=" in l]
            self.assertLess(len(connects), LIMIT)
            self.assertLess(len(written) - len(connects), 100, d.log_tail())
            self.assertIn("cannot accept connections, pausing the listener", d.log_text())
        finally:
            for s in sockets:
                s.close()

        # The flood is gone: new clients are greeted again.
        deadline = time.monotonic() + 10
        while True:
            try:
                fresh = RawSMTP(port, timeout=2)
                fresh.greeting()
                fresh.close()
                break
            except (OSError, AssertionError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        self.assertEqual(held.cmd("QUIT").code, 221)
        held.close()

    def test_a_flood_of_the_mta_sts_https_listener_leaves_it_serving_afterwards(self):
        ca = TestCa()
        self.addCleanup(ca.cleanup)
        d = self.own_daemon(rlimit_nofile=(LIMIT, LIMIT),
                            extra_yaml='mta_sts:\n  listen: "127.0.0.1:0"\n  mode: testing\n')
        cert, key = ca.issue(POLICY_HOST, "relay.example.test")
        shutil.copy(cert, os.path.join(d.dir, "cert.pem"))
        shutil.copy(key, os.path.join(d.dir, "key.pem"))
        d.start()
        port = web_port(d, "mta-sts")
        held = RawSMTP(d.port("trusted"))
        held.greeting()
        sockets = []
        try:
            sockets = flood(port, FLOOD, sources=40)
            time.sleep(1.0)
            used = cpu_share(d.proc.pid, 3.0)
            self.assertLess(used, 0.20, f"the daemon used {used:.0%} of a CPU\n{d.log_tail()}")
            self.assertEqual(held.cmd("NOOP").code, 250)  # SMTP sessions go on meanwhile
            self.assertIn("cannot accept connections, pausing the listener listener=mta-sts",
                          d.log_text())
        finally:
            for s in sockets:
                s.close()
        status, _, _ = fetch(POLICY_URL, port, ca.cert)
        self.assertEqual(status, 200)
        held.close()


if __name__ == "__main__":
    unittest.main()
