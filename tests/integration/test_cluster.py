"""Several Hato nodes sharing limits through a real redis-server (issue 12): three daemons
on loopback, one egress address (127.0.0.1) shared by all of them, dnsmasq for the MX
records, an aiosmtpd sink as every destination."""

import json
import os
import shutil
import signal
import smtplib
import socket
import subprocess
import tempfile
import time

import hatotest
from hatotest import client_context, wait_for
from test_acme import metric
from test_blacklist import LISTING
from test_delivery import DeliveryHarness, message
from test_user_limits import clear_of_minute_end
from test_warmup import GMX, GHOSTS, utc_date

REDIS = shutil.which("redis-server")
REDIS_CLI = shutil.which("redis-cli")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Redis:
    """A redis-server of the test's own on a free loopback port, in its own directory."""

    def __init__(self, persistent=False, password=None):
        self.port = free_port()
        self.password = password
        self.dir = tempfile.mkdtemp(prefix="hato-it-redis-")
        self.persistent = persistent
        self.proc = None

    def start(self):
        args = [REDIS, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--dir", self.dir, "--logfile", os.path.join(self.dir, "redis.log")]
        # Persistent: what the nodes counted survives a stop, as with a real deployment.
        args += ["--appendonly", "yes", "--appendfsync", "always"] if self.persistent \
            else ["--appendonly", "no"]
        if self.password:
            args += ["--requirepass", self.password]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not wait_for(lambda: self.cli("PING") == "PONG", timeout=10):
            raise RuntimeError(f"redis-server did not start on port {self.port}")
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=10)
        self.proc = None

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def cli(self, *args):
        auth = ["--no-auth-warning", "-a", self.password] if self.password else []
        r = subprocess.run([REDIS_CLI, "-p", str(self.port), *auth, *args], capture_output=True,
                           text=True, timeout=10)
        return r.stdout.strip()

    def url(self, password=None):
        password = password or self.password
        return f"redis://{':' + password + '@' if password else ''}127.0.0.1:{self.port}"


class ClusterTest(DeliveryHarness):

    def setUp(self):
        super().setUp()
        if not REDIS or not REDIS_CLI:
            self.fail("test prerequisite missing: redis-server and redis-cli (Debian redis-server)")

    def redis(self, persistent=False):
        r = Redis(persistent)
        self.addCleanup(r.cleanup)
        return r.start()

    def node(self, name, redis, dns, sink, egress, local_share=None, extra=(), retry=None,
             password=None, users=None, limits=None):
        """`users` adds a submission listener (STARTTLS, AUTH) with those users."""
        d = self.relay(dns.port, sink.port, retry=retry, start=False)
        if users:
            d.listeners.append({"name": "submission", "role": "submission", "tls": "starttls"})
            for user, secret in users.items():
                d.add_user(user, secret)
        d.limits.update(limits or {})
        y = ["egress:"] + [f"  - {json.dumps(e)}" for e in egress]
        y += ["cluster:", f"  redis: {json.dumps(redis.url(password))}", f"  node: {name}"]
        if local_share:
            y.append(f"  local_share: {local_share}")
        y += list(extra)
        d.extra_yaml += "\n".join(y) + "\n"
        d.write_config()
        d.start()
        return d

    def nodes(self, redis, dns, sink, egress, extra=(), **kw):
        """Three nodes; extra[i] (YAML lines) goes to node i+1 alone."""
        ds = [self.node(f"node{i}", redis, dns, sink, egress,
                        extra=extra[i - 1] if extra else (), **kw) for i in (1, 2, 3)]
        # Every node has heartbeated: the shares are set.
        self.assertTrue(wait_for(lambda: redis.cli("ZCARD", "hato:nodes") == "3", timeout=15))
        return ds

    def send(self, d, n, tag, rcpt_domain="remote.test"):
        return [self.submit(d, [f"{tag}{i}@{rcpt_domain}"], message(f"{tag} {i}"))
                for i in range(n)]

    def status(self, d, *extra):
        r = d.cli("warmup", "status", "--json", *extra)
        self.assertEqual(r.returncode, 0, r.stderr)
        return [json.loads(l) for l in r.stdout.splitlines() if l.strip()]

    def test_day_one_allowance_is_shared_exactly(self):
        redis, dns, sink = self.redis(), self.dns(), self.sink()
        egress = [{"address": "127.0.0.1", "helo": "mail1.sender.test",
                   "warmup": {"start": utc_date(), "daily": [10, 20]}}]
        ds = self.nodes(redis, dns, sink, egress)
        for i, d in enumerate(ds):
            self.send(d, 10, f"n{i}m")
        self.assertTrue(wait_for(lambda: len(self.originals(sink)) >= 10, timeout=30))
        # Every held-back message has been refused at least once, by the cluster's count.
        self.assertTrue(wait_for(lambda: sum(len(d.queue_ls()) for d in ds) == 20
                                 and all(m.get("attempts", 0) >= 1
                                         for d in ds for m in d.queue_ls()), timeout=30))
        # Unused leases go back after 3s and a spent counter is asked again after 2s;
        # nothing more may go out in the meantime either.
        time.sleep(6)
        self.assertEqual(len(self.originals(sink)), 10, "exactly the day-1 allowance, cluster-wide")
        key = f"hato:w/127.0.0.1/{utc_date()}"
        self.assertEqual(redis.cli("GET", key), "10")
        waiting = [m for d in ds for m in d.queue_ls()]
        self.assertEqual(len(waiting), 20)
        for m in waiting:
            self.assertEqual(m["state"], "deferred", m)
            self.assertIn("warm-up", m["last_response"], m)
        self.assertEqual(sum(s["sent_today"] for d in ds for s in self.status(d)), 10)
        self.assertEqual(self.dsns(sink), [], "warm-up never bounces")

    def test_complaint_on_one_node_suspends_all(self):
        redis, dns, sink = self.redis(), self.dns(mx=GMX, hosts=GHOSTS), self.sink()
        sink.reply_rcpt("victim@gmail.test",
                        "421 4.7.28 Our system has detected an unusual rate of mail")
        ds = self.nodes(redis, dns, sink, [{"address": "127.0.0.1"}])
        self.submit(ds[0], ["victim@gmail.test"], message("to gmail"))
        for d in ds:
            self.assertTrue(wait_for(lambda: any(s["suspensions"] for s in self.status(d)),
                                     timeout=15), "every node hears of the suspension")
            st = self.status(d)[0]
            self.assertEqual([s["provider"] for s in st["suspensions"]], ["google"], st)
        # Another node holds its own mail for Google back, and still sends elsewhere.
        qid = self.submit(ds[2], ["other@gmail.test"], message("to gmail from node3"))
        self.assertTrue(wait_for(lambda: (self.show(ds[2], qid) or {}).get("attempts", 0) >= 1,
                                 timeout=15))
        self.assertIn("suspended", self.show(ds[2], qid)["last_response"])
        self.submit(ds[1], ["someone@remote.test"], message("to remote"))
        self.assertTrue(wait_for(lambda: any("someone@remote.test" in m.rcpt_tos
                                             for m in self.originals(sink)), timeout=15))
        self.assertFalse(any("other@gmail.test" in m.rcpt_tos for m in self.originals(sink)))
        self.assertIn("suspended by another node", ds[2].log_text())

    def test_suspensions_and_slowdowns_that_are_over_are_dropped_from_redis(self):
        redis, dns, sink = self.redis(), self.dns(), self.sink()
        now_ms = int(time.time() * 1000)
        redis.cli("HSET", "hato:suspensions", "127.0.0.1/yahoo", f"{now_ms - 60000} old complaint",
                  "127.0.0.1/google", f"{now_ms + 3600000} 4.7.28 rate")
        redis.cli("HSET", "hato:slowdowns", "127.0.0.1/microsoft", f"{now_ms - 1000} 0.5 old",
                  "127.0.0.1/apple", f"{now_ms + 3600000} 0.5 deferrals")
        d = self.node("node1", redis, dns, sink, [{"address": "127.0.0.1"}])
        self.assertTrue(wait_for(lambda: redis.cli("HEXISTS", "hato:suspensions",
                                                   "127.0.0.1/yahoo") == "0"
                                 and redis.cli("HEXISTS", "hato:slowdowns",
                                               "127.0.0.1/microsoft") == "0", timeout=15),
                        "entries that are over leave redis")
        self.assertEqual(redis.cli("HEXISTS", "hato:suspensions", "127.0.0.1/google"), "1")
        self.assertEqual(redis.cli("HEXISTS", "hato:slowdowns", "127.0.0.1/apple"), "1")
        # The ones still running apply on the node.
        self.assertTrue(wait_for(lambda: [s["provider"] for s in self.status(d)[0]["suspensions"]]
                                 == ["google"], timeout=15), self.status(d))
        self.assertTrue(wait_for(lambda: [s["provider"] for s in self.status(d)[0]["slowdowns"]]
                                 == ["apple"], timeout=15), self.status(d))

    def test_redis_down_loses_nothing_and_sharing_resumes(self):
        redis = self.redis(persistent=True)
        dns, sink = self.dns(mx=GMX, hosts=GHOSTS), self.sink()
        egress = [{"address": "127.0.0.1", "warmup": {"start": utc_date(), "daily": [1000]}}]
        ds = self.nodes(redis, dns, sink, egress, local_share=0.5)
        key = f"hato:w/127.0.0.1/{utc_date()}"
        for i, d in enumerate(ds):
            self.send(d, 5, f"before{i}m")
        self.assertTrue(wait_for(lambda: len(self.originals(sink)) == 15, timeout=30))
        # Idle leases came back: the count is what was sent.
        self.assertTrue(wait_for(lambda: redis.cli("GET", key) == "15", timeout=10))

        redis.stop()
        for d in ds:
            self.assertTrue(wait_for(lambda: "redis connection lost" in d.log_text(), timeout=10))
        for i, d in enumerate(ds):
            self.send(d, 5, f"during{i}m")
        self.assertTrue(wait_for(lambda: len(self.originals(sink)) == 30, timeout=30))
        self.assertEqual(sum(len(d.queue_ls()) for d in ds), 0)

        redis.start()  # same port, same directory: the counts from before are back
        # Each node adds what it sent from its local share: 15 before + 15 during.
        self.assertTrue(wait_for(lambda: redis.cli("GET", key) == "30", timeout=20))
        self.assertTrue(wait_for(lambda: redis.cli("ZCARD", "hato:nodes") == "3", timeout=15))
        # Sharing works again: a complaint node1 hears stops node3.
        sink.reply_rcpt("victim@gmail.test",
                        "421 4.7.28 Our system has detected an unusual rate of mail")
        self.submit(ds[0], ["victim@gmail.test"], message("to gmail"))
        self.assertTrue(wait_for(lambda: any(s["suspensions"] for s in self.status(ds[2])),
                                 timeout=15))
        self.assertEqual(self.dsns(sink), [], "nothing bounced because redis was away")
        got = sorted(r for m in self.originals(sink) for r in m.rcpt_tos)
        want = sorted(f"{w}{i}m{j}@remote.test" for w in ("before", "during")
                      for i in range(3) for j in range(5))
        self.assertEqual(got, want, "every message arrived once")

    def test_cluster_view_shows_every_node(self):
        redis, dns, sink = self.redis(), self.dns(), self.sink()
        egress = [{"address": "127.0.0.1", "warmup": {"start": utc_date(), "daily": [2]}}]
        ds = self.nodes(redis, dns, sink, egress)
        self.send(ds[1], 4, "view")  # 2 go out, 2 wait on node2
        self.assertTrue(wait_for(lambda: len(self.originals(sink)) == 2
                                 and len(ds[1].queue_ls()) == 2, timeout=20))

        def views():
            r = ds[0].cli("queue", "summary", "--cluster", "--json")
            self.assertEqual(r.returncode, 0, r.stderr)
            return {n["node"]: n for n in json.loads(r.stdout)}

        # Asked of node1, the view has all three, node2 with its two waiting messages.
        self.assertTrue(wait_for(lambda: views().get("node2", {}).get("queue", {})
                                 .get("waiting") == 2, timeout=10))
        v = views()
        self.assertEqual(sorted(v), ["node1", "node2", "node3"])
        self.assertEqual(v["node1"]["queue"]["waiting"], 0)
        self.assertTrue(all(n["cluster"]["connected"] for n in v.values()))
        self.assertEqual(sum(n["warmup"][0]["sent_today"] for n in v.values()), 2)
        table = ds[2].cli("queue", "summary", "--cluster")
        self.assertEqual(table.returncode, 0, table.stderr)
        self.assertIn("-- 3 live nodes", table.stdout)
        self.assertRegex(table.stdout, r"node2\s+\S+\s+2\s+0\s+0\s+sharing")
        w = ds[2].cli("warmup", "status", "--cluster")
        self.assertEqual(w.returncode, 0, w.stderr)
        for name in ("node1", "node2", "node3"):
            self.assertIn(f"{name} (", w.stdout)
        self.assertEqual(w.stdout.count("127.0.0.1"), 3, w.stdout)

        # A node that stops leaves the view once its heartbeat runs out.
        ds[2].stop(check=True)
        self._daemons.remove(ds[2])  # stopped on purpose, not died
        self.assertTrue(wait_for(lambda: sorted(views()) == ["node1", "node2"], timeout=15))
        # Without a cluster the daemon says so.
        solo = self.relay(dns.port, sink.port)
        r = solo.cli("warmup", "status", "--cluster")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("not in a cluster", r.stderr)

    def peers(self, sink, tag):
        return {m.peer[0] for m in self.originals(sink)
                if any(r.startswith(tag) for r in m.rcpt_tos)}

    def out_of_rotation(self, d, address):
        return next(s for s in self.status(d) if s["address"] == address).get("out_of_rotation")

    def test_a_listing_one_node_sees_takes_the_address_out_on_every_node(self):
        redis, dns, sink = self.redis(), self.dns(extra_args=LISTING), self.sink()
        egress = [{"address": "127.0.0.1", "helo": "mail1.sender.test"},
                  {"address": "127.0.0.2", "helo": "mail2.sender.test"}]
        # One message per connection: every message chooses its address afresh.
        shaping = ['shaping: {"default": {"messages_per_connection": 1}}']
        monitor = ["blacklist_monitor:", "  interval: 1s", "  zones: [bl.test]",
                   "  clean_checks: 2"]
        ds = self.nodes(redis, dns, sink, egress, extra=(shaping + monitor, shaping, shaping))
        self.assertTrue(wait_for(lambda: "127.0.0.2/node1" in
                                 redis.cli("HKEYS", "hato:blacklist").split(), timeout=15),
                        "node1 publishes its listing")
        for d in ds[1:]:
            self.assertTrue(wait_for(lambda: self.out_of_rotation(d, "127.0.0.2"), timeout=10),
                            d.log_tail())
            self.assertIn("seen by node1", self.out_of_rotation(d, "127.0.0.2"))
            self.assertIsNone(self.out_of_rotation(d, "127.0.0.1"))
        self.assertIn("another node of the cluster sees it listed", ds[2].log_text())

        for i, d in enumerate(ds):
            self.send(d, 8, f"listed{i}m")
        self.assertTrue(wait_for(lambda: len(self.originals(sink)) == 24, timeout=30))
        for i in range(3):
            self.assertEqual(self.peers(sink, f"listed{i}m"), {"127.0.0.1"}, f"node{i + 1}")

        # The list drops it; after two clean checks node1 lets it back, and so do the others.
        dns.extra_args = []
        dns.restart()
        self.assertTrue(wait_for(lambda: redis.cli("HLEN", "hato:blacklist") == "0", timeout=20))
        for d in ds:
            self.assertTrue(wait_for(lambda: self.out_of_rotation(d, "127.0.0.2") is None,
                                     timeout=10), d.log_tail())
        self.assertIn("back in rotation: no node of the cluster holds it", ds[1].log_text())
        for i, d in enumerate(ds):
            self.send(d, 20, f"clean{i}m")
        self.assertTrue(wait_for(lambda: len(self.originals(sink)) == 84, timeout=40))
        for i in range(3):
            self.assertEqual(self.peers(sink, f"clean{i}m"), {"127.0.0.1", "127.0.0.2"},
                             f"node{i + 1}")

    def test_connections_are_counted_across_the_cluster(self):
        redis, dns, sink = self.redis(), self.dns(), self.sink()
        shaping = ['shaping: {"default": {"connections": 2, "messages_per_connection": 2}}']
        # Mail waiting for a slot is deferred like any that waits on a limit: not expired here.
        ds = self.nodes(redis, dns, sink, [{"address": "127.0.0.1"}],
                        extra=(shaping, shaping, shaping),
                        retry={"max_age": "5m", "delay_warning": "5m"})
        for i, d in enumerate(ds):
            self.send(d, 20, f"c{i}m")
        self.assertTrue(wait_for(lambda: len(self.originals(sink)) == 60, timeout=90),
                        f"{len(self.originals(sink))} of 60 arrived")
        # Each node alone would have opened 2; together they never had more than 2 open.
        self.assertEqual(sink.most_open_from.get("127.0.0.1"), 2, sink.most_open_from)
        self.assertGreater(len(sink.connections()), 3, "the connections came and went")
        got = sorted(r for m in self.originals(sink) for r in m.rcpt_tos)
        self.assertEqual(got, sorted(f"c{i}m{j}@remote.test" for i in range(3)
                                     for j in range(20)))
        # Idle slots go back: nothing is held once the mail is out.
        self.assertTrue(wait_for(lambda: redis.cli("HLEN", "hato:conn/127.0.0.1/default")
                                 == "0", timeout=15))

    def test_a_node_started_without_redis_delivers_then_joins(self):
        redis, dns, sink = Redis(), self.dns(), self.sink()
        self.addCleanup(redis.cleanup)  # not started: the node comes up without it
        egress = [{"address": "127.0.0.1", "warmup": {"start": utc_date(), "daily": [1000]}}]
        d = self.node("lonely", redis, dns, sink, egress, local_share=0.5,
                      extra=["admin:", '  metrics: "127.0.0.1:0"'])
        # The first connect fails once the loop runs, just after start-up.
        self.assertTrue(wait_for(lambda: "cannot reach redis" in d.log_text(), timeout=10),
                        d.log_tail())
        self.assertEqual(metric(d, r"^hato_cluster_redis_up (\S+)$"), "0")
        self.send(d, 5, "offline")
        self.assertTrue(wait_for(lambda: len(self.originals(sink)) == 5, timeout=30))
        self.assertEqual(d.queue_ls(), [])

        redis.start()
        self.assertTrue(wait_for(lambda: metric(d, r"^hato_cluster_redis_up (\S+)$") == "1",
                                 timeout=20), d.log_tail())
        key = f"hato:w/127.0.0.1/{utc_date()}"
        # What it sent alone is added to the cluster's count, and it heartbeats.
        self.assertTrue(wait_for(lambda: redis.cli("GET", key) == "5", timeout=15))
        self.assertTrue(wait_for(lambda: redis.cli("ZRANGE", "hato:nodes", "0", "-1")
                                 == "lonely", timeout=15))
        self.send(d, 5, "online")
        self.assertTrue(wait_for(lambda: len(self.originals(sink)) == 10, timeout=30))
        # Counted through leases now: the idle ones go back, leaving what was sent.
        self.assertTrue(wait_for(lambda: redis.cli("GET", key) == "10", timeout=15))
        st = self.status(d)[0]
        self.assertEqual(st["sent_today"], 10)
        self.assertIn("cluster_counted_today", st)

    def test_redis_password_is_sent_and_a_refusal_named(self):
        redis = Redis(password="s3cret pass")
        self.addCleanup(redis.cleanup)
        redis.start()
        dns, sink = self.dns(), self.sink()
        egress = [{"address": "127.0.0.1"}]
        good = self.node("good", redis, dns, sink, egress)
        bad = self.node("bad", redis, dns, sink, egress, password="wrong",
                        extra=["admin:", '  metrics: "127.0.0.1:0"'])
        self.assertTrue(wait_for(lambda: redis.cli("ZRANGE", "hato:nodes", "0", "-1") == "good",
                                 timeout=15))
        self.assertTrue(wait_for(lambda: "redis refused the password" in bad.log_text(),
                                 timeout=15), bad.log_tail())
        self.assertIn("WRONGPASS", bad.log_text())
        self.assertEqual(metric(bad, r"^hato_cluster_redis_up (\S+)$"), "0")
        self.assertEqual(bad.log_text().count("redis refused the password"), 1, "said once")
        # The refused node still delivers, within its local share; the other shares.
        self.send(bad, 2, "bad")
        self.send(good, 2, "good")
        self.assertTrue(wait_for(lambda: len(self.originals(sink)) == 4, timeout=30))
        self.assertNotIn("s3cret", good.log_text())
        r = good.cli("queue", "summary", "--cluster", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("s3cret", r.stdout)
        self.assertIn("redis://:***@127.0.0.1", r.stdout)

    def test_a_users_quota_counts_across_the_cluster_and_survives_a_restart(self):
        redis, dns, sink = self.redis(persistent=True), self.dns(), self.sink()
        users = {"alice": "alice-secret-1"}
        ds = self.nodes(redis, dns, sink, [{"address": "127.0.0.1"}], users=users,
                        limits={"users": {"default": {"messages": "5/m"}}})

        def send(d, n):
            with smtplib.SMTP("127.0.0.1", d.port("submission"), timeout=10) as s:
                s.starttls(context=client_context())
                s.login("alice", users["alice"])
                return s.sendmail("alice@example.test", ["x@remote.test"],
                                  f"From: alice@example.test\r\nSubject: quota {n}\r\n\r\n"
                                  f"quota {n}\r\n".encode())

        def refused(d):
            with self.assertRaises(smtplib.SMTPSenderRefused) as r:
                send(d, "over")
            self.assertEqual(r.exception.smtp_code, 451, r.exception)
            return r.exception.smtp_error.decode()

        clear_of_minute_end()
        # Five in all through three nodes: the quota of 5 a minute is one, not one per node.
        for d, n in zip(ds, (2, 2, 1)):
            for i in range(n):
                self.assertEqual(send(d, f"{d.dir[-6:]}-{i}"), {})
        for d in ds:
            text = refused(d)
            self.assertIn("4.7.1 user alice has reached its limit of 5 messages per minute", text)
            self.assertIn("5 used across the cluster", text)
            self.assertRegex(text, r"it resets at \d\d:\d\d:00 UTC")
        keys = redis.cli("KEYS", "hato:u/alice/messages/60/*").split()
        self.assertEqual(len(keys), 1, keys)
        self.assertEqual(redis.cli("GET", keys[0]), "5")
        # A node that restarts reads the cluster's count, not an empty one of its own.
        ds[0].stop()
        ds[0].start()
        self.assertIn("5 used across the cluster", refused(ds[0]))
        self.assertTrue(wait_for(lambda: len(self.originals(sink, "alice@example.test")) == 5,
                                 timeout=30))
        self.assertEqual(len(self.originals(sink, "alice@example.test")), 5)
