#!/usr/bin/python3
"""Hato on a failing disk (issue 25 item 3): data_dir on powercut_fs with its fault switches.

- EIO on the queue's sync: new mail gets 451 4.3.0 (never 250), the log says the disk failed
  and the queue is read-only, stored mail is still delivered, and once the disk works again
  Hato accepts by itself (no restart); nothing acknowledged is lost.
- ENOSPC and EIO on a Maildir write: that recipient is deferred, nothing half delivered, and
  after the fault it is delivered, byte for byte.
- A 200 ms sync: everything is still accepted and kept, and NOOP on another session is
  answered while commits wait on the disk (the loop never waits on a sync).

Run: test_failing_disk.py --fs build/tests/powercut/powercut_fs --hato build/hato [unittest
args]. Needs root, /dev/fuse and fusermount3 (ctest powercut_faults).
"""
import argparse
import os
import smtplib
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'integration'))
sys.path.insert(0, os.path.join(ROOT, 'bench'))
import hatotest  # noqa: E402
from hatotest import Daemon, RawSMTP, queue_id, wait_for  # noqa: E402
from powercut_rounds import Mount  # noqa: E402

FS = None
MAILBOX = 'support@' + hatotest.DOMAIN


def message(n, rcpt):
    return (f'From: <app@sender.test>\r\nTo: <{rcpt}>\r\nSubject: disk {n}\r\n'
            f'Message-ID: <disk-{n}.{os.getpid()}@sender.test>\r\n\r\nbody {n}\r\n'
            + 'x' * 70 + '\r\n').encode()


class FailingDiskTest(unittest.TestCase):
    deliver = False  # an aiosmtpd sink behind dnsmasq for remote.test

    def setUp(self):
        self.mount = Mount(FS, 'normal', 1)
        self.addCleanup(self.mount.close)
        extra = ('delivery:\n  retry:\n    first: 1s\n    max_interval: 1s\n    max_age: 1h\n'
                 '    delay_warning: 1h\n')
        self.sink = None
        if self.deliver:
            from sinks import Dnsmasq, SmtpSink
            dns = Dnsmasq(mx={'remote.test': [(10, 'mx.sink.test')]},
                          hosts={'mx.sink.test': '127.0.0.1'}).start()
            self.addCleanup(dns.cleanup)
            self.sink = SmtpSink()
            self.sink.start()
            self.addCleanup(self.sink.stop)
            extra = (f'dns:\n  servers: ["127.0.0.1:{dns.port}"]\n'
                     + extra.replace('delivery:\n', f'delivery:\n  port: {self.sink.port}\n'))
        d = Daemon(listeners=[{'name': 'trusted', 'role': 'submission', 'tls': 'none',
                               'trusted_networks': ['127.0.0.0/8']}],
                   domains=[{'name': hatotest.DOMAIN, 'mailboxes': ['support']},
                            {'name': 'sender.test'}], extra_yaml=extra,
                   limits={'max_junk_commands': 100000})  # the NOOPs of SlowSyncTest
        self.addCleanup(d.cleanup)
        d.data_dir = os.path.join(self.mount.path, 'data')
        os.mkdir(d.data_dir)
        fd = os.open(self.mount.path, os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)
        d.write_config()
        self.d = d.start()
        self.maildir = os.path.join(d.data_dir, 'mail', hatotest.DOMAIN, 'support')

    def control(self, command):
        with open(os.path.join(self.mount.path, '.powercut'), 'w') as f:
            f.write(command)

    def send(self, s, n, rcpt):
        """One transaction on smtplib session `s`: (code, text) of the DATA reply."""
        for code, text in (s.mail('app@sender.test'), s.rcpt(rcpt)):
            self.assertEqual(code, 250, text)
        return s.data(message(n, rcpt))

    def session(self):
        s = smtplib.SMTP('127.0.0.1', self.d.port('trusted'), timeout=30)
        self.addCleanup(s.close)
        s.ehlo('client.sender.test')
        return s

    def maildir_files(self):
        out = {}
        for sub in ('tmp', 'new', 'cur'):
            try:
                names = os.listdir(os.path.join(self.maildir, sub))
            except FileNotFoundError:
                continue
            for name in names:
                try:
                    with open(os.path.join(self.maildir, sub, name), 'rb') as f:
                        out[sub + '/' + name] = f.read()
                except FileNotFoundError:
                    pass  # moved from tmp/ to new/ between the listing and the read
        return out


class QueueSyncEioTest(FailingDiskTest):
    deliver = True

    def test_eio_on_queue_sync_451_read_only_then_recovers(self):
        s = self.session()
        # Stored before the fault, kept back by the sink until the fault is on.
        self.sink.reply_data('451 4.0.0 not yet')
        code, text = self.send(s, 1, 'r1@remote.test')
        self.assertEqual(code, 250, text)
        stored = queue_id(text)
        self.assertTrue(wait_for(lambda: any(e[1] == 'data' for e in self.sink.events),
                                 timeout=10), 'no first attempt\n' + self.d.log_tail())
        self.control('fail-sync /data/queue')
        self.sink.clear_rules()
        for n in (2, 3):
            code, text = self.send(s, n, 'r@remote.test')
            self.assertEqual((code, text[:5]), (451, b'4.3.0'), text)
        log = self.d.log_text()
        self.assertIn('queue disk failed', log)
        self.assertIn('the queue is read-only', log)
        # Stored mail is still delivered, read from the read-only queue.
        got = self.sink.wait_messages(1, timeout=20)
        self.assertEqual(len(got), 1, 'the stored message was not delivered during the fault\n'
                         + self.d.log_tail())
        self.assertIn(message(1, 'r1@remote.test'), got[0].data.replace(b'\n', b'\r\n')
                      .replace(b'\r\r\n', b'\r\n'))
        # The disk works again: acceptance comes back by itself, within seconds.
        self.control('clear')
        replies = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            # A session each time: one that gets five errors is closed.
            with smtplib.SMTP('127.0.0.1', self.d.port('trusted'), timeout=30) as s:
                s.ehlo('client.sender.test')
                code, text = self.send(s, 10 + len(replies), 'r@remote.test')
            replies.append(code)
            if code == 250:
                break
            self.assertEqual((code, text[:5]), (451, b'4.3.0'), text)
            time.sleep(0.2)
        self.assertEqual(replies[-1], 250, 'no 250 after the fault was cleared: %s\n%s'
                         % (replies, self.d.log_tail()))
        self.assertIn('queue disk recovered', self.d.log_text())
        self.d.assert_alive()
        accepted_after = message(10 + len(replies) - 1, 'r@remote.test')
        got = self.sink.wait_messages(
            1, timeout=20, pred=lambda m: accepted_after in m.data.replace(b'\n', b'\r\n')
            .replace(b'\r\r\n', b'\r\n'))
        self.assertEqual(len(got), 1, 'mail accepted after the recovery was not delivered\n'
                         + self.d.log_tail())
        # Nothing acknowledged is lost: the first message is delivered; whatever the queue
        # still holds is readable after a restart on what the disk kept.
        self.d.stop()
        self.control('cut')
        self.d.start()
        listed = {m['id'] for m in self.d.queue_ls()}
        self.assertTrue(stored in listed or self.sink.wait_messages(1), listed)


class MaildirWriteFaultTest(FailingDiskTest):

    def check_deferred_then_delivered(self, kind):
        s = self.session()
        self.control(f'fail-write {kind} /data/mail')
        code, text = self.send(s, 1, MAILBOX)
        self.assertEqual(code, 250, text)
        qid = queue_id(text)
        wait_for(lambda: f'id={qid}' in self.d.log_text() and 'status=deferred'
                 in self.d.log_text(), timeout=20)
        self.assertRegex(self.d.log_text(), rf'id={qid}.*status=deferred')
        self.assertEqual(self.maildir_files(), {}, 'half delivered')  # no file anywhere
        queued = self.d.queue_cat(qid)  # still queued, as accepted
        self.control('clear')
        # Delivered means in new/: a file in tmp/ may still be being written.
        self.assertTrue(wait_for(lambda: any(k.startswith('new/') for k in self.maildir_files()),
                                 timeout=20),
                        'not delivered once the disk works\n' + self.d.log_tail())
        files = self.maildir_files()
        self.assertEqual(list(files)[0].split('/')[0], 'new', files.keys())
        want = (f'Return-Path: <app@sender.test>\nDelivered-To: {MAILBOX}\n'.encode()
                + queued.replace(b'\r\n', b'\n'))
        self.assertEqual(list(files.values()), [want])
        wait_for(lambda: qid not in {m['id'] for m in self.d.queue_ls()}, timeout=10)
        self.assertNotIn(qid, {m['id'] for m in self.d.queue_ls()})

    def test_enospc_on_maildir_write_defers_then_delivers(self):
        self.check_deferred_then_delivered('enospc')

    def test_eio_on_maildir_write_defers_then_delivers(self):
        self.check_deferred_then_delivered('eio')


class SlowSyncTest(FailingDiskTest):

    def test_200ms_sync_loses_nothing_and_noop_is_answered(self):
        self.control('sync-delay 200')
        idle = RawSMTP(self.d.port('trusted'))
        self.addCleanup(idle.close)
        idle.greeting()
        idle.ehlo()
        acked, commit_times = {}, []

        def submit():
            s = smtplib.SMTP('127.0.0.1', self.d.port('trusted'), timeout=30)
            s.ehlo('client.sender.test')
            for n in range(8):
                start = time.monotonic()
                code, text = self.send(s, n, 'r@remote.test')
                commit_times.append(time.monotonic() - start)
                if code == 250:
                    acked[queue_id(text)] = message(n, 'r@remote.test')
            s.quit()

        t = threading.Thread(target=submit)
        t.start()
        noops = []
        while t.is_alive():
            start = time.monotonic()
            self.assertEqual(idle.cmd('NOOP').code, 250)
            noops.append(time.monotonic() - start)
            time.sleep(0.01)
        t.join()
        self.assertEqual(len(acked), 8)
        # The disk really was slow: every commit waited for at least one 200 ms sync.
        self.assertGreaterEqual(min(commit_times), 0.2, commit_times)
        # The loop never waited on a sync: each NOOP is answered well within one.
        self.assertLess(max(noops), 0.05, 'slowest NOOPs (s): %s' % sorted(noops)[-5:])
        self.assertGreater(len(noops), 10)
        for qid, body in acked.items():
            self.assertIn(body, self.d.queue_cat(qid).replace(b'\n', b'\r\n')
                          .replace(b'\r\r\n', b'\r\n'))


def main():
    global FS
    parser = argparse.ArgumentParser()
    parser.add_argument('--fs', required=True, help='the powercut_fs binary')
    parser.add_argument('--hato', required=True, help='the hato binary')
    args, rest = parser.parse_known_args()
    FS = os.path.abspath(args.fs)
    hatotest.HATO = os.path.abspath(args.hato)
    os.environ['HATO_BIN'] = hatotest.HATO
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == '__main__':
    main()
