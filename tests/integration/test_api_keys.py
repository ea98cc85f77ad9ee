"""API keys for the HTTP API (issue 22): `hato user key add NAME` prints a key once, the keys
file beside the users file keeps only its ID and a SHA-256, `user key ls` names it by ID and
`user key remove NAME ID` takes it away. Checked the way an operator would: the CLI's output
and the file on disk, with Python's hashlib as the independent hasher."""

import hashlib
import os
import re
import stat
import unittest

from hatotest import Daemon


class ApiKeysTest(unittest.TestCase):
    def setUp(self):
        self.d = Daemon(users={"app": "app-secret-1"})
        self.addCleanup(self.d.cleanup)

    def cli(self, *args, code=0):
        r = self.d.cli("user", "key", *args)
        self.assertEqual(r.returncode, code, r.stderr)
        return r

    def test_a_key_is_shown_once_kept_as_its_hash_and_removed_by_id(self):
        key = self.cli("add", "app").stdout.strip()
        m = re.fullmatch(r"hato_([A-Za-z0-9]{8})_[A-Za-z0-9]{40}", key)
        self.assertIsNotNone(m, key)
        key_id = m.group(1)
        path = self.d.users_file + ".keys"
        with open(path) as f:
            stored = f.read()
        self.assertEqual(stored, f"{key_id}:app:{hashlib.sha256(key.encode()).hexdigest()}\n")
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o640)
        self.assertEqual(self.cli("ls").stdout, f"app {key_id}\n")
        self.assertIn("no key", self.cli("remove", "app", "nosuchid", code=1).stderr)
        self.cli("remove", "app", key_id)
        self.assertEqual(self.cli("ls").stdout, "")
        self.assertEqual(self.cli("frobnicate", code=2).stdout, "")


if __name__ == "__main__":
    unittest.main()
