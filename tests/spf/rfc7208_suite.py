#!/usr/bin/python3
"""rfc7208_suite.py - runs the RFC 7208 SPF test suite against Hato's evaluator.

The suite is the openspf.org one that Debian's python3-spf ships
(/usr/share/doc/python3-spf/rfc7208-tests.yml.gz). For each scenario a small DNS server on a
loopback port serves the scenario's zone data, and for each test the spf_check program (Hato's
check_host() over the real c-ares resolver) is run against that server. A test passes when the
result is one of those the suite allows and, where the suite gives one, the explanation is
exactly the expected text ("DEFAULT" standing for the default explanation).

Zone data follows the suite's conventions (those of its reference driver):
  * SPF records are also served as TXT, unless the name has TXT records of its own;
    "TXT: NONE" means the name has no TXT records.
  * TIMEOUT: queries for types the name has no records of get no answer at all.
  * names not in the zone are NXDOMAIN; known names without records of a type are NODATA.
  * CNAME: the alias and the records of its target (chains followed, loops cut).

Prints "N of M passed" and exits 1 if any test failed.
"""

import argparse
import gzip
import os
import socket
import struct
import subprocess
import sys
import threading

import yaml

DEFAULT_SUITE = "/usr/share/doc/python3-spf/rfc7208-tests.yml.gz"

TYPES = {"A": 1, "CNAME": 5, "PTR": 12, "MX": 15, "TXT": 16, "AAAA": 28, "SPF": 99}

# Tests the harness cannot run honestly, with the reason. Keep empty unless a test needs a DNS
# feature this server cannot serve; every entry must be explained in the report.
EXCEPTIONS = {}


def to_bytes(text):
    """YAML gives str; the suite's "\\xEF" escapes mean raw bytes, so keep them as such."""
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")


def encode_name(name):
    name = name.rstrip(".")
    out = b""
    if name:
        for label in name.split("."):
            raw = to_bytes(label)
            if not 0 < len(raw) < 64:
                raise ValueError("cannot encode name %r" % name)
            out += bytes([len(raw)]) + raw
    return out + b"\x00"


def encode_strings(strings):
    out = b""
    for s in strings:
        raw = to_bytes(s)
        # A character-string holds 255 octets; longer text is split, as publishers do.
        chunks = [raw[i:i + 255] for i in range(0, len(raw), 255)] or [b""]
        for chunk in chunks:
            out += bytes([len(chunk)]) + chunk
    return out


def rdata(rtype, value):
    if rtype == "A":
        return socket.inet_pton(socket.AF_INET, value)
    if rtype == "AAAA":
        return socket.inet_pton(socket.AF_INET6, value)
    if rtype == "MX":
        return struct.pack("!H", int(value[0])) + encode_name(value[1])
    if rtype in ("PTR", "CNAME"):
        return encode_name(value)
    if rtype in ("TXT", "SPF"):
        # A list is one record of several strings; an empty list is a record without any
        # (not valid DNS, which the suite uses to check that nothing crashes).
        return encode_strings([value] if isinstance(value, str) else value)
    raise ValueError("unknown record type %s" % rtype)


def load_zone(zonedata):
    """name (lower case) -> {"records": {type: [rdata]}, "timeout": bool}"""
    zone = {}
    for name, entries in zonedata.items():
        node = zone.setdefault(name.lower().rstrip("."), {"records": {}, "timeout": False})
        own_txt = any(isinstance(e, dict) and "TXT" in e for e in entries)
        for entry in entries:
            if entry == "TIMEOUT":
                node["timeout"] = True
                continue
            for rtype, value in entry.items():
                if value == "NONE":
                    continue
                node["records"].setdefault(rtype, []).append(rdata(rtype, value))
                if rtype == "SPF" and not own_txt:
                    node["records"].setdefault("TXT", []).append(rdata(rtype, value))
    return zone


def cname_target(node):
    targets = node["records"].get("CNAME")
    if not targets:
        return None
    raw, labels, pos = targets[0], [], 0
    while raw[pos]:
        labels.append(raw[pos + 1:pos + 1 + raw[pos]].decode("latin-1"))
        pos += 1 + raw[pos]
    return ".".join(labels).lower()


class DnsServer:
    """Answers UDP queries from one scenario's zone until stopped."""

    def __init__(self, zone):
        self.zone = zone
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.stopping = False
        self.thread = threading.Thread(target=self.serve, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping = True
        self.thread.join()
        self.sock.close()

    def serve(self):
        while not self.stopping:
            try:
                query, peer = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            reply = self.answer(query)
            if reply is not None:
                self.sock.sendto(reply, peer)

    def answer(self, query):
        if len(query) < 12:
            return None
        qid, flags, qdcount = struct.unpack("!HHH", query[:6])
        if qdcount != 1:
            return None
        pos, labels = 12, []
        while pos < len(query) and query[pos]:
            length = query[pos]
            labels.append(query[pos + 1:pos + 1 + length].decode("latin-1"))
            pos += 1 + length
        question_end = pos + 5
        if question_end > len(query):
            return None
        qtype = struct.unpack("!H", query[pos + 1:pos + 3])[0]
        qname_wire = query[12:pos + 1]
        name = ".".join(labels).lower()
        type_name = next((t for t, v in TYPES.items() if v == qtype), None)

        answers, rcode, owner = [], 0, qname_wire
        node = self.zone.get(name)
        if node is None:
            rcode = 3
        else:
            seen = set()
            while True:
                records = node["records"]
                if type_name in records:
                    answers += [(owner, qtype, r) for r in records[type_name]]
                    break
                target = cname_target(node) if type_name != "CNAME" else None
                if target is None:
                    if not answers and node["timeout"]:
                        return None  # the suite's TIMEOUT: no answer at all
                    break
                answers.append((owner, TYPES["CNAME"], records["CNAME"][0]))
                if target in seen or target not in self.zone:
                    break  # a CNAME loop, or an alias to nowhere: what we have so far
                seen.add(target)
                node, owner = self.zone[target], encode_name(target)

        header = struct.pack("!HHHHHH", qid, 0x8400 | (flags & 0x0100) | 0x0080 | rcode, 1,
                             len(answers), 0, 0)
        body = query[12:question_end]
        for owner_wire, rtype, data in answers:
            body += owner_wire + struct.pack("!HHIH", rtype, 1, 300, len(data)) + data
        return header + body


def run_test(checker, port, test):
    cmd = [checker, "--dns", "127.0.0.1:%d" % port, "--ip", str(test["host"]),
           "--sender", str(test.get("mailfrom", "")), "--helo", str(test.get("helo", "")),
           "--default-exp", "DEFAULT", "--timeout-ms", "500"]
    proc = subprocess.run(cmd, capture_output=True, timeout=120)
    fields = {}
    for line in proc.stdout.decode("utf-8", "replace").splitlines():
        key, _, value = line.partition(": ")
        fields[key] = value
    if proc.returncode != 0 or "result" not in fields:
        fields["result"] = "harness error (exit %d): %s" % (
            proc.returncode, proc.stderr.decode("utf-8", "replace").strip())
    return fields


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checker", required=True, help="the spf_check program")
    parser.add_argument("--suite", default=DEFAULT_SUITE)
    parser.add_argument("--only", help="run only the tests with this name")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()

    if not os.path.exists(args.suite):
        print("%s is missing: install Debian's python3-spf" % args.suite, file=sys.stderr)
        return 1
    opener = gzip.open if args.suite.endswith(".gz") else open
    with opener(args.suite, "rb") as f:
        scenarios = list(yaml.safe_load_all(f))

    passed, failed, excepted = 0, [], []
    for scenario in scenarios:
        tests = {n: t for n, t in scenario["tests"].items() if not args.only or n == args.only}
        if not tests:
            continue
        with DnsServer(load_zone(scenario["zonedata"])) as server:
            for name, test in tests.items():
                if name in EXCEPTIONS:
                    excepted.append((name, EXCEPTIONS[name]))
                    continue
                expected = test["result"]
                expected = expected if isinstance(expected, list) else [expected]
                got = run_test(args.checker, server.port, test)
                ok = got["result"] in expected
                want_exp = test.get("explanation")
                if ok and want_exp is not None and got.get("explanation") != want_exp:
                    ok = False
                line = "%-32s %-10s want %s%s" % (
                    name, got["result"], "/".join(expected),
                    "" if want_exp is None else " (exp %r, got %r)" % (
                        want_exp, got.get("explanation")))
                if ok:
                    passed += 1
                    if args.verbose:
                        print("ok   " + line + "  [" + got.get("problem", "") + "]")
                else:
                    failed.append(name)
                    print("FAIL " + line + "  [" + scenario["description"] + "; " +
                          got.get("problem", "") + "]")
    total = passed + len(failed) + len(excepted)
    for name, why in excepted:
        print("not run: %s: %s" % (name, why))
    print("%d of %d passed" % (passed, total))
    return 1 if failed or not total else 0


if __name__ == "__main__":
    sys.exit(main())
