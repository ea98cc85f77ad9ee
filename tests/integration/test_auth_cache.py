"""The login cache (auth.cache_ttl): a second AUTH with the same password skips crypt(3),
and a password changed or a user removed in users_file fails at once with the old one."""

import re
import subprocess
import urllib.request

from hatotest import IO_TIMEOUT, HatoTestCase, auth_plain, hato_bin, wait_for

METRICS_LINE = re.compile(r"\bmetrics listening\b.*?\baddress=\"?[^\"\s]+:(?P<port>\d+)")
CACHE = re.compile(r'^hato_auth_cache_total\{result="(hit|miss)"\} (\d+)$', re.M)


class AuthCacheTest(HatoTestCase):

    def relay(self):
        d = self.own_daemon(users={"alice": "alice-old-1"},
                            extra_yaml='admin:\n  metrics: "127.0.0.1:0"\n')
        d.start()
        return d

    def cache_counts(self, d):
        m = METRICS_LINE.search(d.log_text())
        self.assertIsNotNone(m, "no `metrics listening` line\n" + d.log_tail())
        url = f"http://127.0.0.1:{m.group('port')}/metrics"
        text = urllib.request.urlopen(url, timeout=IO_TIMEOUT).read().decode()
        counts = {"hit": 0, "miss": 0}
        counts.update({k: int(v) for k, v in CACHE.findall(text)})
        return counts

    def login(self, d, user, password):
        return auth_plain(d.port("submission"), user, password)

    def test_second_login_is_a_cache_hit(self):
        d = self.relay()
        for _ in range(2):
            code, resp = self.login(d, "alice", "alice-old-1")
            self.assertEqual(code, 235, resp)
        self.assertEqual(self.cache_counts(d), {"hit": 1, "miss": 1})

    def test_changed_password_refused_at_once(self):
        d = self.relay()
        for _ in range(2):
            code, resp = self.login(d, "alice", "alice-old-1")
            self.assertEqual(code, 235, resp)
        # `hato user add` over the existing user tells the daemon, which reloads the file.
        r = d.cli("user", "add", "alice", "--password-stdin", input="alice-new-2\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("the running daemon has reloaded it", r.stderr)
        code, resp = self.login(d, "alice", "alice-old-1")
        self.assertEqual(code, 535, f"the old password still logs in: {resp}")
        for _ in range(2):
            code, resp = self.login(d, "alice", "alice-new-2")
            self.assertEqual(code, 235, resp)
        r = d.cli("user", "remove", "alice")
        self.assertEqual(r.returncode, 0, r.stderr)
        code, resp = self.login(d, "alice", "alice-new-2")
        self.assertEqual(code, 535, f"a removed user still logs in: {resp}")
        self.assertEqual(self.cache_counts(d)["hit"], 2)

    def test_hand_edited_users_file_refuses_old_password(self):
        # The file changed under the daemon (no CLI, no signal): the watch reloads it.
        d = self.relay()
        for _ in range(2):
            code, resp = self.login(d, "alice", "alice-old-1")
            self.assertEqual(code, 235, resp)
        other = d.users_file + ".new"
        r = subprocess.run([hato_bin(), "user", "add", "alice", "--password-stdin", "-c",
                            self.config_pointing_at(d, other)],
                           input="alice-new-2\n", capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        before = d.log_text().count("users file reloaded")
        with open(other) as f, open(d.users_file, "w") as out:
            out.write(f.read())
        self.assertTrue(wait_for(lambda: d.log_text().count("users file reloaded") > before,
                                 timeout=15), "the edited users file was not read again\n"
                        + d.log_tail())
        code, resp = self.login(d, "alice", "alice-old-1")
        self.assertEqual(code, 535, f"the old password still logs in: {resp}")
        code, resp = self.login(d, "alice", "alice-new-2")
        self.assertEqual(code, 235, resp)

    def test_cache_off_with_ttl_zero(self):
        d = self.own_daemon(users={"alice": "alice-old-1"},
                            extra_yaml='admin:\n  metrics: "127.0.0.1:0"\nauth:\n  cache_ttl: 0\n')
        d.start()
        for _ in range(2):
            code, resp = self.login(d, "alice", "alice-old-1")
            self.assertEqual(code, 235, resp)
        self.assertEqual(self.cache_counts(d), {"hit": 0, "miss": 0})

    def config_pointing_at(self, d, users_file):
        """A copy of the daemon's config whose users_file (and admin socket) is elsewhere,
        so the CLI writes there and tells no daemon."""
        import json
        with open(d.config) as f:
            text = f.read()
        text = text.replace(json.dumps(d.users_file), json.dumps(users_file))
        text = text.replace('admin:\n  metrics: "127.0.0.1:0"\n', "")
        text += f"admin:\n  socket: {json.dumps(users_file + '.sock')}\n"
        path = users_file + ".yaml"
        with open(path, "w") as f:
            f.write(text)
        return path
