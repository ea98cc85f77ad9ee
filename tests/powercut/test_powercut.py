#!/usr/bin/python3
"""Each rule of powercut_fs (issue 25), shown on a real mount: what a cut keeps and loses.

Run: test_powercut.py --fs build/tests/powercut/powercut_fs --hato build/hato [unittest args]
Needs root (or fuse group rights), /dev/fuse and fusermount3 (Debian fuse3). HatoTest runs ten
power-cut rounds of bench/powercut_rounds.py (the long version) in the test suite, and one with
the planted bug (the commit's sync off) that must report mail lost.
"""
import argparse
import errno
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

FS = None
HATO = None
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PAGE = 4096


def fsync_dir(path):
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_file(path, data, sync=None, offset=0, create=True):
    """Write data at offset; sync is None, 'fsync' or 'fdatasync'."""
    flags = os.O_WRONLY | (os.O_CREAT if create else 0)
    fd = os.open(path, flags, 0o644)
    try:
        os.pwrite(fd, data, offset)
        if sync == 'fsync':
            os.fsync(fd)
        elif sync == 'fdatasync':
            os.fdatasync(fd)
    finally:
        os.close(fd)


def read_file(path):
    with open(path, 'rb') as f:
        return f.read()


class Mount:
    """powercut_fs mounted over a fresh backing directory, in the foreground."""

    def __init__(self, *options):
        self.top = tempfile.mkdtemp(prefix='powercut-')
        self.backing = os.path.join(self.top, 'backing')
        self.path = os.path.join(self.top, 'mnt')
        os.mkdir(self.backing)
        os.mkdir(self.path)
        self.proc = subprocess.Popen([FS, *options, self.backing, self.path, '-f'],
                                     stderr=subprocess.PIPE, text=True)
        while not os.path.ismount(self.path):
            if self.proc.poll() is not None:
                raise RuntimeError('powercut_fs exited: ' + self.proc.stderr.read())
            time.sleep(0.02)

    def __call__(self, *names):
        return os.path.join(self.path, *names)

    def control(self, command):
        with open(self('.powercut'), 'w') as f:
            f.write(command)

    def cut(self):
        self.control('cut')

    def status(self):
        return read_file(self('.powercut')).decode()

    def close(self):
        subprocess.run(['fusermount3', '-u', self.path], check=True)
        self.proc.wait()
        self.proc.stderr.close()
        shutil.rmtree(self.top)


class PowerCutTest(unittest.TestCase):
    options = ()

    def setUp(self):
        self.m = Mount(*self.options)
        self.addCleanup(self.m.close)

    def durable_file(self, name, data):
        """A file whose bytes and name are both durable."""
        write_file(self.m(name), data, sync='fsync')
        fsync_dir(self.m())


class FileDataTest(PowerCutTest):

    def test_write_without_fsync_is_lost(self):
        self.durable_file('f', b'durable')
        write_file(self.m('f'), b'UNSYNCED and longer', create=False)
        self.assertEqual(read_file(self.m('f')), b'UNSYNCED and longer')  # the page cache
        self.m.cut()
        self.assertEqual(read_file(self.m('f')), b'durable')

    def test_fsync_keeps_write(self):
        self.durable_file('f', b'durable')
        write_file(self.m('f'), b'SYNCED and longer', sync='fsync', create=False)
        self.m.cut()
        self.assertEqual(read_file(self.m('f')), b'SYNCED and longer')

    def test_fdatasync_keeps_write(self):
        self.durable_file('f', b'durable')
        write_file(self.m('f'), b'synced', sync='fdatasync', offset=7, create=False)
        self.m.cut()
        self.assertEqual(read_file(self.m('f')), b'durablesynced')

    def test_unsynced_truncate_is_lost(self):
        self.durable_file('f', b'0123456789')
        os.truncate(self.m('f'), 3)
        self.assertEqual(read_file(self.m('f')), b'012')
        self.m.cut()
        self.assertEqual(read_file(self.m('f')), b'0123456789')

    def test_write_after_fsync_is_lost_alone(self):
        self.durable_file('f', b'')
        fd = os.open(self.m('f'), os.O_WRONLY)
        os.write(fd, b'first;')
        os.fdatasync(fd)
        os.write(fd, b'second;')
        os.close(fd)  # closing syncs nothing
        self.m.cut()
        self.assertEqual(read_file(self.m('f')), b'first;')


class DirectoryTest(PowerCutTest):

    def test_create_without_dir_fsync_is_lost(self):
        write_file(self.m('new'), b'data', sync='fsync')
        self.assertTrue(os.path.exists(self.m('new')))
        self.m.cut()
        self.assertFalse(os.path.exists(self.m('new')))

    def test_create_with_dir_fsync_stays(self):
        write_file(self.m('new'), b'data', sync='fsync')
        fsync_dir(self.m())
        self.m.cut()
        self.assertEqual(read_file(self.m('new')), b'data')

    def test_rename_over_without_dir_fsync_reverts(self):
        # RocksDB's CURRENT: write a temporary file, sync it, rename it over the old one.
        self.durable_file('CURRENT', b'MANIFEST-000001\n')
        write_file(self.m('000002.dbtmp'), b'MANIFEST-000002\n', sync='fsync')
        os.rename(self.m('000002.dbtmp'), self.m('CURRENT'))
        self.assertEqual(read_file(self.m('CURRENT')), b'MANIFEST-000002\n')
        self.m.cut()
        self.assertEqual(read_file(self.m('CURRENT')), b'MANIFEST-000001\n')
        self.assertFalse(os.path.exists(self.m('000002.dbtmp')))

    def test_rename_over_with_dir_fsync_stays(self):
        self.durable_file('CURRENT', b'MANIFEST-000001\n')
        write_file(self.m('000002.dbtmp'), b'MANIFEST-000002\n', sync='fsync')
        os.rename(self.m('000002.dbtmp'), self.m('CURRENT'))
        fsync_dir(self.m())
        self.m.cut()
        self.assertEqual(read_file(self.m('CURRENT')), b'MANIFEST-000002\n')
        self.assertEqual(sorted(os.listdir(self.m())), ['CURRENT'])

    def test_unlink_without_dir_fsync_comes_back(self):
        self.durable_file('gone', b'still here')
        os.unlink(self.m('gone'))
        self.assertFalse(os.path.exists(self.m('gone')))
        self.m.cut()
        self.assertEqual(read_file(self.m('gone')), b'still here')

    def test_unlink_with_dir_fsync_stays_gone(self):
        self.durable_file('gone', b'x')
        os.unlink(self.m('gone'))
        fsync_dir(self.m())
        self.m.cut()
        self.assertEqual(os.listdir(self.m()), [])

    def test_link_without_dir_fsync_is_lost(self):
        # Maildir delivery: link tmp/x to new/x, then unlink tmp/x.
        os.mkdir(self.m('tmp'))
        os.mkdir(self.m('new'))
        fsync_dir(self.m())
        write_file(self.m('tmp', 'x'), b'mail', sync='fsync')
        fsync_dir(self.m('tmp'))
        os.link(self.m('tmp', 'x'), self.m('new', 'x'))
        os.unlink(self.m('tmp', 'x'))
        fsync_dir(self.m('tmp'))  # tmp/x is gone for good, new/x not yet durable
        self.m.cut()
        self.assertEqual(os.listdir(self.m('tmp')), [])
        self.assertEqual(os.listdir(self.m('new')), [])

    def test_mkdir_without_parent_fsync_is_lost(self):
        os.mkdir(self.m('d'))
        write_file(self.m('d', 'f'), b'data', sync='fsync')
        fsync_dir(self.m('d'))
        self.m.cut()
        self.assertFalse(os.path.exists(self.m('d')))

    def test_rmdir_without_parent_fsync_comes_back(self):
        os.mkdir(self.m('d'))
        fsync_dir(self.m())
        os.rmdir(self.m('d'))
        self.m.cut()
        self.assertTrue(os.path.isdir(self.m('d')))

    def test_control_file_reports(self):
        write_file(self.m('f'), b'x')
        self.assertIn('unsynced_files=1', self.m.status())
        self.m.cut()
        self.assertIn('unsynced_files=0 unsynced_dirs=0 cuts=1', self.m.status())


class ReorderTest(PowerCutTest):
    options = ('--mode=reorder', '--seed=7')

    def test_later_write_applied_without_earlier(self):
        pages = 64
        self.durable_file('f', b'\0' * PAGE * pages)
        fd = os.open(self.m('f'), os.O_WRONLY)
        for i in range(pages):
            os.pwrite(fd, bytes([i + 1]) * PAGE, i * PAGE)
        os.close(fd)
        self.m.cut()
        data = read_file(self.m('f'))
        applied = [data[i * PAGE] == i + 1 for i in range(pages)]
        for i in range(pages):  # each page is whole: written or not
            self.assertIn(data[i * PAGE:(i + 1) * PAGE], (b'\0' * PAGE, bytes([i + 1]) * PAGE))
        later_without_earlier = any(applied[j] and not all(applied[:j]) for j in range(pages))
        self.assertTrue(later_without_earlier, 'applied: %s' % applied)
        self.assertFalse(all(applied), 'a cut applied every unsynced write')


class TornTest(PowerCutTest):
    options = ('--mode=torn',)

    def test_aligned_write_is_torn_in_half(self):
        self.durable_file('f', b'B' * 2 * PAGE)
        write_file(self.m('f'), b'A' * 2 * PAGE, create=False)
        self.m.cut()
        self.assertEqual(read_file(self.m('f')), b'A' * (PAGE // 2) + b'B' * (PAGE * 3 // 2))


class FaultTest(PowerCutTest):
    """The failing-disk switches (faults.h): each on, then cleared."""

    def test_fail_sync_returns_eio_under_prefix_until_cleared(self):
        os.mkdir(self.m('q'))
        fsync_dir(self.m())
        self.m.control('fail-sync /q')
        for sync in ('fsync', 'fdatasync'):
            with self.assertRaises(OSError) as e:
                write_file(self.m('q', 'wal'), b'unsynced', sync=sync)
            self.assertEqual(e.exception.errno, errno.EIO)
        with self.assertRaises(OSError) as e:
            fsync_dir(self.m('q'))
        self.assertEqual(e.exception.errno, errno.EIO)
        write_file(self.m('other'), b'fine', sync='fsync')  # outside the prefix
        self.assertIn('fail_sync=/q', self.m.status())
        self.m.cut()  # the failed sync made nothing durable
        self.assertEqual(os.listdir(self.m('q')), [])
        self.m.control('clear')
        write_file(self.m('q', 'wal'), b'synced', sync='fsync')
        fsync_dir(self.m('q'))
        self.m.cut()
        self.assertEqual(read_file(self.m('q', 'wal')), b'synced')

    def test_fail_write_returns_the_error_under_prefix_until_cleared(self):
        os.mkdir(self.m('mail'))
        for kind, code in (('enospc', errno.ENOSPC), ('eio', errno.EIO)):
            self.m.control('fail-write %s /mail' % kind)
            with self.assertRaises(OSError) as e:
                write_file(self.m('mail', 'x'), b'data')
            self.assertEqual(e.exception.errno, code)
            self.assertEqual(read_file(self.m('mail', 'x')), b'')  # nothing written
            write_file(self.m('other'), b'fine')
            self.assertEqual(read_file(self.m('other')), b'fine')
        self.m.control('clear')
        write_file(self.m('mail', 'x'), b'data')
        self.assertEqual(read_file(self.m('mail', 'x')), b'data')

    def test_sync_delay_slows_every_sync(self):
        # Only a lower bound: a sleep is never shorter; an upper bound would be a timed test.
        self.m.control('sync-delay 300')
        self.assertIn('sync_delay_ms=300', self.m.status())
        start = time.monotonic()
        write_file(self.m('f'), b'y', sync='fsync')
        fsync_dir(self.m())
        self.assertGreaterEqual(time.monotonic() - start, 0.6)  # two syncs of 300 ms each
        self.m.cut()
        self.assertEqual(read_file(self.m('f')), b'y')  # slow, still durable
        self.m.control('clear')
        self.assertIn('fail_sync=- fail_write=- sync_delay_ms=0', self.m.status())

    def test_unknown_command_is_refused(self):
        for bad in ('fail-write ebusy /x', 'fail-write eio', 'sync-delay soon'):
            with self.assertRaises(OSError) as e:
                self.m.control(bad)
            self.assertEqual(e.exception.errno, errno.EINVAL)


class HatoTest(unittest.TestCase):
    """Ten rounds of bench/powercut_rounds.py in all (the long run is the script's): submissions,
    SIGKILL, cut, restart; every acknowledged message must be found, byte for byte."""

    def run_rounds(self, rounds, *options):
        r = subprocess.run([sys.executable, os.path.join(ROOT, 'bench', 'powercut_rounds.py'),
                            '--rounds', str(rounds), '--seed', '1', '--hato', HATO, '--fs', FS,
                            *options], capture_output=True, text=True)
        out = '\n'.join(l for l in r.stdout.splitlines() if not l.startswith('  lost: '))
        return r, out

    def rounds(self, rounds, *options):
        r, out = self.run_rounds(rounds, *options)
        self.assertEqual(r.returncode, 0, out + r.stderr[-3000:])
        self.assertRegex(out, r'total: rounds=%d acknowledged=[1-9]\d* found=[1-9]\d* '
                         r'duplicated=\d+ lost=0 corrupted=0' % rounds)

    def test_queued_mail_survives(self):
        # The queue directory Hato creates must itself be durable.
        self.rounds(4)

    def test_mail_in_maildir_survives(self):
        # So must the Maildir directories it creates for a mailbox's first message; the disk
        # reorders unsynced writes.
        self.rounds(3, '--local', '--mode', 'reorder')

    def test_delivered_mail_survives(self):
        # Submission and inbound load, deliveries and removals going on (a removal is written
        # unsynced: a cut may deliver again, never lose); the disk tears pages.
        self.rounds(3, '--deliver', '--inbound', '--mode', 'torn')

    def test_planted_bug_is_caught(self):
        # With the commit's sync off (HATO_DEBUG_UNSAFE_NO_SYNC=1) the rounds must see the loss.
        r, out = self.run_rounds(1, '--planted-bug')
        self.assertEqual(r.returncode, 0, out + r.stderr[-3000:])
        self.assertRegex(out, r'total: rounds=1 acknowledged=[1-9]\d* found=\d+ duplicated=\d+ '
                         r'lost=[1-9]\d* corrupted=\d+')


def main():
    global FS, HATO
    parser = argparse.ArgumentParser()
    parser.add_argument('--fs', required=True, help='the powercut_fs binary')
    parser.add_argument('--hato', required=True, help='the hato binary')
    args, rest = parser.parse_known_args()
    FS = os.path.abspath(args.fs)
    HATO = os.path.abspath(args.hato)
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == '__main__':
    main()
