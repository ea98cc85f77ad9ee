#!/usr/bin/python3
"""The benchmark's TLS load generator and TLS sink (issue 27) against each other: counts only.

Run: test_tls_tools.py --bin build/bench [unittest args]
Each test starts bench/smtpsink_tls on 127.0.0.1:0 with a fresh self-signed certificate
(openssl) and runs bench/smtpload_tls against it for a handful of messages: STARTTLS and
implicit TLS, AUTH PLAIN, a connection per message and a pool, the default size mix. What
the generator says it sent must be what the sink counted, message for message and byte for
byte; no time is measured or checked.
"""
import argparse
import email
import email.policy
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

BIN = None


def fields(line):
    """'a=1 b=2' -> {'a': '1', 'b': '2'}"""
    return dict(item.split("=", 1) for item in line.split() if "=" in item)


class Sink:
    """smtpsink_tls in the background; counts() reads its latest line."""

    def __init__(self, top, *args):
        self.out = os.path.join(top, "sink.out")
        self.err = open(os.path.join(top, "sink.err"), "w")
        with open(self.out, "w") as out:
            self.proc = subprocess.Popen(
                [os.path.join(BIN, "smtpsink_tls"), *args, "127.0.0.1:0"], stdout=out,
                stderr=self.err)
        self.port = None
        for _ in range(200):
            with open(self.out) as f:
                text = f.read()
            if "listening address=" in text:
                self.port = int(text.split("listening address=")[1].split()[0].rsplit(":", 1)[1])
                break
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        if self.port is None:
            self.stop()
            with open(self.err.name) as f:
                raise AssertionError("smtpsink_tls did not start: " + f.read())

    def counts(self):
        """The sink's last line, once it stops changing (it prints at most every 20 ms)."""
        last = None
        for _ in range(100):
            with open(self.out) as f:
                lines = [l for l in f.read().splitlines() if l.startswith("mesg=")]
            if lines and lines[-1] == last:
                return {k: int(v) for k, v in fields(last).items()}
            last = lines[-1] if lines else None
            time.sleep(0.1)
        return {k: int(v) for k, v in fields(last).items()}

    def stop(self):
        """SIGTERM; returns the exit status (0: it closed every connection and left)."""
        self.proc.terminate()
        rc = self.proc.wait(10)
        self.err.close()
        return rc


class TlsToolsTest(unittest.TestCase):
    def setUp(self):
        self.top = tempfile.mkdtemp(prefix="tls-tools-")
        self.cert = os.path.join(self.top, "c.pem")
        self.key = os.path.join(self.top, "k.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-subj", "/CN=localhost", "-keyout", self.key, "-out", self.cert],
                       check=True, capture_output=True)
        self.sinks = []

    def tearDown(self):
        codes = [s.stop() for s in self.sinks]
        errors = ""
        if os.path.exists(os.path.join(self.top, "sink.err")):
            with open(os.path.join(self.top, "sink.err")) as f:
                errors = f.read()
        shutil.rmtree(self.top)
        self.assertEqual(codes, [0] * len(codes), errors)

    def sink(self, *args):
        s = Sink(self.top, "-c", self.cert, "-k", self.key, "-a", "relay:pw 1", *args)
        self.sinks.append(s)
        return s

    def load(self, port, *args, password="pw 1"):
        r = subprocess.run([os.path.join(BIN, "smtpload_tls"), "-u", "relay", "-p", password,
                            "-w", "20", *args, f"127.0.0.1:{port}"],
                           capture_output=True, text=True, timeout=120)
        line = [l for l in r.stdout.splitlines() if l.startswith("ok=")]
        self.assertEqual(len(line), 1, r.stdout + r.stderr)
        return r.returncode, fields(line[0]), r.stderr

    def check_run(self, sink, args, n, conns):
        before = sink.counts()
        rc, got, err = self.load(sink.port, "-m", str(n), *args)
        self.assertEqual((rc, got["ok"], got["failed"]), (0, str(n), "0"), err)
        after = sink.counts()
        self.assertEqual(after["mesg"] - before["mesg"], n, "the sink counted every message")
        self.assertEqual(after["bytes"] - before["bytes"], int(got["bytes"]),
                         "the sink counted the bytes the generator sent")
        self.assertEqual(after["auth"] - before["auth"], int(got["conns"]), "AUTH on each one")
        self.assertEqual(after["tls"] - before["tls"], int(got["conns"]), "TLS on each one")
        self.assertTrue(conns(int(got["conns"])), f"connections: {got['conns']}")
        return got, after["resumed"] - before["resumed"]

    def test_starttls_a_connection_per_message(self):
        s = self.sink()
        got, _ = self.check_run(s, ["-s", "4"], 30, lambda c: c == 30)
        sizes = dict(x.split("x") for x in got["mix"].split("/"))
        self.assertEqual(sum(int(v) for v in sizes.values()), 30)
        self.assertEqual(sorted(sizes), sorted(["4096", "40960", "409600"]), "the default mix")

    def test_starttls_pool_resends_on_few_connections(self):
        s = self.sink()
        # 3 sessions, at most 10 messages a connection: 40 messages need 4 to 6 connections.
        self.check_run(s, ["-s", "3", "-P", "-k", "10"], 40, lambda c: 4 <= c <= 6)

    def test_implicit_tls_with_resumption(self):
        s = self.sink("-i")
        got, resumed = self.check_run(s, ["-s", "1", "-T", "implicit", "-R", "-l", "2000"], 10,
                                      lambda c: c == 10)
        self.assertEqual(resumed, int(got["resumed"]))
        self.assertGreaterEqual(resumed, 8, "every handshake after the first ticket resumes")

    def test_duration_instead_of_a_count(self):
        s = self.sink()
        before = s.counts()
        rc, got, err = self.load(s.port, "-D", "1", "-s", "2", "-P", "-l", "1000")
        self.assertEqual((rc, got["failed"]), (0, "0"), err)
        self.assertGreater(int(got["ok"]), 0)
        self.assertEqual(s.counts()["mesg"] - before["mesg"], int(got["ok"]))

    def test_wrong_password_fails_every_message(self):
        s = self.sink()
        rc, got, err = self.load(s.port, "-m", "5", "-s", "2", password="wrong")
        self.assertEqual((rc, got["ok"], got["failed"]), (1, "0", "5"))
        self.assertIn("535", err)
        self.assertEqual(s.counts()["mesg"], 0)

    def test_messages_are_mime_as_announced(self):
        dump = os.path.join(self.top, "dump")
        os.mkdir(dump)
        s = self.sink("-d", dump)
        self.check_run(s, ["-s", "2", "-z", "4k:1,40k:1,400k:1", "-S", "7"], 12, lambda c: c == 12)
        kinds = {}
        for name in os.listdir(dump):
            with open(os.path.join(dump, name), "rb") as f:
                raw = f.read()
            msg = email.message_from_bytes(raw, policy=email.policy.default)
            self.assertEqual(msg["MIME-Version"], "1.0")
            kinds.setdefault(msg.get_content_type(), []).append((len(raw), msg))
        self.assertEqual(sorted(kinds), ["multipart/alternative", "multipart/mixed", "text/plain"])
        for size, _ in kinds["text/plain"]:
            self.assertLess(abs(size - 4096), 200, size)
        for size, _ in kinds["multipart/alternative"]:
            self.assertLess(abs(size - 40960), 400, size)
        for size, msg in kinds["multipart/mixed"]:
            self.assertLess(abs(size - 409600), 400, size)
            part = [p for p in msg.iter_attachments()][0]
            self.assertEqual(part["Content-Transfer-Encoding"], "base64")
            self.assertGreater(len(part.get_content()), 290000, "the decoded attachment")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True, help="the directory holding smtpload_tls, smtpsink_tls")
    args, rest = ap.parse_known_args()
    BIN = os.path.abspath(args.bin)
    unittest.main(argv=[sys.argv[0]] + rest)
