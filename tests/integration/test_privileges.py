"""Least privilege (issue 10): with `user:` set, `hato serve` started as root binds its
ports, reads its keys, then runs as that user (no way back to root), and mail still
flows into the queue; SIGHUP reloads as that user. A private key every user may read
is refused at start.

Needs root (CI runs as root): it creates the system user hato-it if missing.
"""

import os
import pwd
import signal
import subprocess
import unittest

import hatotest
from hatotest import DOMAIN, Daemon, RawSMTP, queue_id, wait_for

USER = "hato-it"


def test_user():
    """The unprivileged user the daemon switches to, created when missing."""
    try:
        return pwd.getpwnam(USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
                        "--shell", "/usr/sbin/nologin", USER], check=True, capture_output=True)
        return pwd.getpwnam(USER)


def proc_ids(pid):
    """(real, effective, saved, fs) uids and gids, and supplementary groups, of a process."""
    ids = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("Uid", "Gid", "Groups"):
                ids[key] = [int(x) for x in value.split()]
    return ids


def keygen(path):
    r = subprocess.run([hatotest.hato_bin(), "dkim", "keygen", "--domain", DOMAIN, "--selector",
                        "s1", "--out", path], capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        raise AssertionError(f"hato dkim keygen failed: {r.stderr}")


class PrivilegeTest(unittest.TestCase):

    def daemon(self, dkim_mode=0o600):
        pw = test_user()
        d = Daemon(listeners=[{"name": "trusted", "role": "submission", "tls": "none",
                               "trusted_networks": ["127.0.0.0/8"]},
                              {"name": "submission", "role": "submission", "tls": "starttls"}],
                   extra_yaml=f"user: {USER}\n")
        self.addCleanup(d.cleanup)
        key = os.path.join(d.dir, "dkim.pem")
        keygen(key)
        os.chmod(key, dkim_mode)
        d.domains = [{"name": DOMAIN, "mailboxes": ["support"],
                      "dkim": [{"selector": "s1", "key": key}]}]
        d.write_config()
        # What the user must be able to read for a SIGHUP reload (documented in the
        # README): the keys and the users file; and it must get through the parents of
        # its data dir.
        os.chmod(d.dir, 0o711)
        for path in (key, os.path.join(d.dir, "key.pem"), d.users_file):
            if os.path.exists(path):
                os.chown(path, pw.pw_uid, pw.pw_gid)
        return d, pw

    def test_runs_as_the_configured_user_and_mail_still_flows(self):
        d, pw = self.daemon()
        d.start()
        self.addCleanup(d.stop)
        # The ports are bound (and announced) before the switch.
        self.assertTrue(wait_for(lambda: "dropped privileges" in d.log_text(), timeout=10),
                        d.log_tail())
        ids = proc_ids(d.proc.pid)
        self.assertEqual(ids["Uid"], [pw.pw_uid] * 4, f"/proc/{d.proc.pid}/status Uid: {ids}")
        self.assertEqual(ids["Gid"], [pw.pw_gid] * 4, f"/proc/{d.proc.pid}/status Gid: {ids}")
        self.assertNotIn(0, ids["Groups"], "no supplementary group of root is kept")

        with RawSMTP(d.port("trusted")) as c:
            c.greeting()
            c.ehlo()
            self.assertEqual(c.cmd(f"MAIL FROM:<app@{DOMAIN}>").code, 250)
            self.assertEqual(c.cmd("RCPT TO:<someone@remote.test>").code, 250)
            self.assertEqual(c.cmd("DATA").code, 354)
            c.send(f"From: <app@{DOMAIN}>\r\nSubject: least privilege\r\n\r\nhi\r\n.\r\n".encode())
            r = c.reply()
            self.assertEqual(r.code, 250, r)
            qid = queue_id(r.text)
            c.cmd("QUIT")
        self.assertIn(qid, [e.get("id") for e in d.queue_ls()], "the message is queued")
        # Files the daemon made after the switch belong to the user.
        queue_dir = os.path.join(d.data_dir, "queue")
        owners = {os.stat(os.path.join(queue_dir, f)).st_uid for f in os.listdir(queue_dir)}
        self.assertEqual(owners, {pw.pw_uid}, "the queue belongs to the unprivileged user")

        # SIGHUP re-reads configuration and keys as the unprivileged user.
        d.proc.send_signal(signal.SIGHUP)
        self.assertTrue(wait_for(lambda: "reloaded" in d.log_text(), timeout=10),
                        "SIGHUP reload works after the switch\n" + d.log_tail())
        self.assertNotIn("reload refused", d.log_text())
        d.assert_alive()

    def test_world_readable_dkim_key_is_refused(self):
        d, _ = self.daemon(dkim_mode=0o644)
        r = subprocess.run([hatotest.hato_bin(), "serve", "-c", d.config], capture_output=True,
                           text=True, timeout=30)
        self.assertNotEqual(r.returncode, 0, "hato serve must refuse to start")
        out = r.stdout + r.stderr
        self.assertIn(os.path.join(d.dir, "dkim.pem") + ": private key is readable by every user",
                      out)
