#!/usr/bin/python3
"""bench/cluster_cost.py - what sharing limits through redis costs (issue 12).

One Hato node, one egress address with a warm-up allowance far above the run (so every
message goes through the warm-up counter) and shaping wide open, N messages submitted
over 8 concurrent SMTP sessions to an aiosmtpd sink; the end-to-end rate from the first
submission to the sink holding the N-th. Run twice in the same process: embedded state
(RocksDB, the default) and `cluster:` with a real redis-server on loopback.

    /usr/bin/python3 bench/cluster_cost.py [--messages 500] [--rounds 1] [--hato build/hato]

--rounds R alternates the two R times and prints each round's difference and the median:
this shared machine's speed drifts within minutes, so only neighbouring runs compare.
"""

import argparse
import json
import statistics
import concurrent.futures
import os
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))

import hatotest  # noqa: E402
from test_cluster import ClusterTest  # noqa: E402
from test_delivery import message  # noqa: E402
from test_warmup import utc_date  # noqa: E402

RESULTS = {"embedded": [], "redis": [], "redis_count": None}
LEASE = int(os.environ.get("LEASE", "50"))


class Cost(ClusterTest):
    messages = 500
    per_connection = 1000

    def run_one(self, clustered):
        dns, sink = self.dns(), self.sink()
        egress = [{"address": "127.0.0.1",
                   "warmup": {"start": utc_date(), "daily": [10_000_000]}}]
        d = self.relay(dns.port, sink.port, start=False)
        y = ["egress:"] + [f"  - {json.dumps(e)}" for e in egress]
        y.append(f"shaping: {{default: {{connections: 20, messages_per_connection: "
                 f"{self.per_connection}, rate: \"100000/s\"}}}}")
        if clustered:
            redis = self.redis()
            y += ["cluster:", f"  redis: \"{redis.url()}\"", "  node: bench1", f"  lease: {LEASE}"]
        d.extra_yaml += "\n".join(y) + "\n"
        d.write_config()
        d.start()
        if clustered:
            self.assertTrue(hatotest.wait_for(lambda: redis.cli("ZCARD", "hato:nodes") == "1",
                                              timeout=10))
        n = self.messages
        start = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda i: self.submit(d, [f"u{i}@remote.test"], message(f"b {i}")),
                          range(n)))
        self.assertTrue(hatotest.wait_for(lambda: len(self.originals(sink)) >= n, timeout=300,
                                          interval=0.05))
        elapsed = time.monotonic() - start
        RESULTS["redis" if clustered else "embedded"].append(n / elapsed)
        if clustered:
            RESULTS["redis_count"] = redis.cli("GET", f"hato:w/127.0.0.1/{utc_date()}")

    def test_embedded(self):
        self.run_one(False)

    def test_redis(self):
        self.run_one(True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=1)
    # 1: every message opens a connection, so each asks the cluster for a connection slot.
    ap.add_argument("--per-connection", type=int, default=1000)
    ap.add_argument("--hato", default=os.path.join(HERE, "..", "build", "hato"))
    a = ap.parse_args()
    os.environ["HATO_BIN"] = os.path.abspath(a.hato)
    hatotest.HATO = os.path.abspath(a.hato)
    Cost.messages = a.messages
    Cost.per_connection = a.per_connection
    suite = unittest.TestSuite([Cost(t) for _ in range(a.rounds)
                                for t in ("test_embedded", "test_redis")])
    r = unittest.TextTestRunner(verbosity=1).run(suite)
    if not r.wasSuccessful():
        return 1
    print(f"{a.messages} messages, 8 sessions, {a.per_connection} per outbound connection, "
          "one node, end to end:")
    diffs = []
    for i, (e, r) in enumerate(zip(RESULTS["embedded"], RESULTS["redis"]), 1):
        diffs.append(100 * (r / e - 1))
        print(f"  round {i}: embedded state (RocksDB) {e:8.1f} msg/s, "
              f"redis backend (cluster:) {r:8.1f} msg/s ({diffs[-1]:+.1f}%)")
    print(f"  redis vs embedded, median of {len(diffs)} rounds: {statistics.median(diffs):+.1f}%")
    print(f"  redis warm-up counter after the last run: {RESULTS['redis_count']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
