#!/usr/bin/python3
"""Power-cut rounds (issue 25 item 2, first version): Hato's data_dir on powercut_fs.

Each round: clients submit over SMTP (smtplib) to a trusted listener; at a random moment Hato
is killed with SIGKILL and the power is cut (powercut_fs drops every unsynced write and
directory entry); Hato restarts on what survived, and every message that got a 250 is looked
for in the queue (`hato queue ls`) and compared byte for byte (`hato queue cat`). By default
delivery is off (DNS never answers), so every acknowledged message must stay in the queue.
With --deliver, dnsmasq routes the recipients to an aiosmtpd sink and Hato delivers and removes
while it runs: a message is found when it is in the queue or reached the sink; a copy reached
the sink more than once is a duplicate (allowed: a cut inside the removal window delivers
again, never loses); copies at the sink are compared byte for byte too. With --local, messages
go to a local mailbox (support@example.test) and Hato writes them into a Maildir under data_dir
(so on the mount): found there counts too (with --deliver as well, the clients alternate).
With --inbound, half the clients send through an inbound (MX) listener to that mailbox, as
mail from outside arrives (SPF and DNSBL lookups go to the dnsmasq of --deliver, or to none).

Prints per round and in total: acknowledged, found, duplicated, lost, corrupted. Exits 1 if any
message was lost or corrupted, or if Hato did not start on the surviving state.

With --planted-bug, Hato runs with HATO_DEBUG_UNSAFE_NO_SYNC=1 (its commits are not synced),
to show that the rounds can fail: then the exit status is 0 only if they found mail lost.
Run through bench/powercut_rounds.sh.
"""
import argparse
import os
import random
import re
import shutil
import smtplib
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
import hatotest  # noqa: E402
from hatotest import Daemon, DaemonError, queue_id  # noqa: E402


class Mount:
    """powercut_fs over a fresh backing directory."""

    def __init__(self, fs, mode, seed):
        self.top = tempfile.mkdtemp(prefix="hato-powercut-")
        self.backing = os.path.join(self.top, "backing")
        self.path = os.path.join(self.top, "mnt")
        os.mkdir(self.backing)
        os.mkdir(self.path)
        self.log = open(os.path.join(self.top, "powercut_fs.log"), "w")
        self.proc = subprocess.Popen([fs, f"--mode={mode}", f"--seed={seed}", self.backing,
                                      self.path, "-f"], stderr=self.log)
        while not os.path.ismount(self.path):
            if self.proc.poll() is not None:
                raise RuntimeError(f"powercut_fs exited {self.proc.returncode}")
            time.sleep(0.02)

    def cut(self):
        with open(os.path.join(self.path, ".powercut"), "w") as f:
            f.write("cut")

    def close(self):
        subprocess.run(["fusermount3", "-u", self.path], check=False)
        self.proc.wait()
        self.log.close()
        if not os.environ.get("HATO_KEEP") and not os.path.ismount(self.path):
            shutil.rmtree(self.top, ignore_errors=True)


class Load:
    """Clients that submit in a loop and remember what got a 250: Message-ID -> (qid, body)."""

    def __init__(self, doors, clients, round_no):
        # (port, recipient patterns used in turn ("{k}": the client)); client k uses door
        # k mod len(doors).
        self.doors = doors
        self.by_door = [0] * len(doors)  # acknowledged through each
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.acked = {}
        self.threads = [threading.Thread(target=self.client, args=(k, round_no), daemon=True)
                        for k in range(clients)]
        for t in self.threads:
            t.start()

    def client(self, k, round_no):
        seq = 0
        port, rcpts = self.doors[k % len(self.doors)]
        while not self.stop.is_set():
            try:
                with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
                    s.ehlo("client.sender.test")
                    while not self.stop.is_set():
                        seq += 1
                        mid = f"<pc-{round_no}-{k}-{seq}.{os.getpid()}@client.sender.test>"
                        pad = "\r\n".join(["x" * 76] * (seq % 30))
                        rcpt = rcpts[seq % len(rcpts)].format(k=k)
                        body = (f"From: <app@sender.test>\r\nTo: <{rcpt}>\r\n"
                                f"Subject: powercut {round_no}-{k}-{seq}\r\nMessage-ID: {mid}\r\n"
                                f"\r\nround {round_no} client {k} message {seq}\r\n{pad}\r\n")
                        for code, text in (s.mail("app@sender.test"),
                                           s.rcpt(rcpt)):
                            if code != 250:
                                raise smtplib.SMTPResponseException(code, text)
                        code, text = s.data(body.encode())
                        if code == 250:
                            with self.lock:
                                self.acked[mid] = (queue_id(text), body.encode())
                                self.by_door[k % len(self.doors)] += 1
            except (OSError, smtplib.SMTPException) as e:
                if os.environ.get("POWERCUT_DEBUG"):
                    print(f"  client {k}: {e!r}", flush=True)
                time.sleep(0.05)

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(30)
        return dict(self.acked)


def crlf(data):
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


MESSAGE_ID = re.compile(rb"^Message-ID: (<[^>\r\n]*>)", re.M | re.I)


_READ = {}  # path -> (size, mtime_ns, Message-ID, bytes): files read before


def maildir_copies(mailbox):
    """Message-ID -> [bytes] of the files in the Maildir's new/ and cur/. A file is read again
    only when its size or mtime changed (a cut may have replaced it): the rounds would
    otherwise slow down with every message delivered before."""
    out = {}
    seen = set()
    for sub in ("new", "cur"):
        try:
            entries = list(os.scandir(os.path.join(mailbox, sub)))
        except FileNotFoundError:
            continue
        for e in entries:
            try:
                st = e.stat()
            except FileNotFoundError:
                continue
            seen.add(e.path)
            known = _READ.get(e.path)
            if not known or known[:2] != (st.st_size, st.st_mtime_ns):
                with open(e.path, "rb") as f:
                    data = f.read()
                m = MESSAGE_ID.search(data)
                known = _READ[e.path] = (st.st_size, st.st_mtime_ns,
                                         m.group(1).decode() if m else None, data)
            out.setdefault(known[2], []).append(known[3])
    for gone in [p for p in _READ if p.startswith(mailbox) and p not in seen]:
        del _READ[gone]
    return out


def delivered_copies(sink, mailbox):
    """Message-ID -> [bytes] of every copy delivered, at the sink and in the Maildir."""
    delivered = maildir_copies(mailbox) if mailbox else {}
    for m in sink.snapshot() if sink else ():
        delivered.setdefault(m.message_id, []).append(m.data)
    return delivered


def check(d, sink, mailbox, acked, compare):
    """found, the Message-IDs lost, corrupted among `acked`, and the delivered copies (as
    delivered_copies); the bytes of those in `compare` are compared (in the queue, at the sink
    or in the Maildir). The Maildir and the sink are read once per round: reading them grows
    with every message delivered before."""
    present = {m["id"] for m in d.queue_ls()}
    delivered = delivered_copies(sink, mailbox)
    found = corrupted = 0
    lost = set()
    later = None  # what was delivered since the listing, read when needed, not per message
    for mid, (qid, body) in acked.items():
        if qid not in present and mid not in delivered:
            lost.add(mid)
            print(f"  lost: {qid} {mid}")
            continue
        found += 1
        if mid not in compare:
            continue
        copies = [crlf(c) for c in delivered.get(mid, [])]
        if qid in present:
            try:
                copies.append(crlf(d.queue_cat(qid)))
            except DaemonError:  # delivered and removed since the listing
                if later is None or mid not in later:  # read again only when it is not there
                    later = delivered_copies(sink, mailbox)
                copies += [crlf(c) for c in later.get(mid, [])]
        if not copies or any(body not in c for c in copies):
            corrupted += 1
            print(f"  corrupted: {qid} {mid}")
    return found, lost, corrupted, delivered


def duplicates(delivered):
    """Message-IDs delivered more than once, from delivered_copies()."""
    if os.environ.get("POWERCUT_DEBUG"):
        print("  duplicates:", {mid: len(c) for mid, c in delivered.items() if len(c) > 1})
    return sum(1 for c in delivered.values() if len(c) > 1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--hato", default="build/hato")
    ap.add_argument("--fs", default="build/tests/powercut/powercut_fs")
    ap.add_argument("--mode", default="normal", choices=["normal", "reorder", "torn"])
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--deliver", action="store_true",
                    help="deliver to a sink while the rounds run (deliveries and removals)")
    ap.add_argument("--local", action="store_true",
                    help="deliver to a local Maildir on the mount while the rounds run")
    ap.add_argument("--inbound", action="store_true",
                    help="half the clients send to an inbound (MX) listener, for the local "
                         "mailbox (implies --local)")
    ap.add_argument("--planted-bug", action="store_true",
                    help="turn the commit's sync off (HATO_DEBUG_UNSAFE_NO_SYNC=1): lost must be > 0")
    ap.add_argument("--compare", type=int, default=200,
                    help="messages of each round compared byte for byte (`queue cat`), 0: all")
    args = ap.parse_args()
    args.local = args.local or args.inbound
    os.environ["HATO_BIN"] = os.path.abspath(args.hato)
    hatotest.HATO = os.path.abspath(args.hato)
    rng = random.Random(args.seed)
    if args.planted_bug:
        os.environ["HATO_DEBUG_UNSAFE_NO_SYNC"] = "1"  # inherited by hato serve and the CLI
    print(f"seed={args.seed} mode={args.mode} clients={args.clients}"
          + (" planted-bug=commit-sync-off" if args.planted_bug else ""))
    dns = sink = None
    extra = ""
    if args.deliver:
        from sinks import Dnsmasq, SmtpSink
        dns = Dnsmasq(mx={"remote.test": [(10, "mx.sink.test")]},
                      hosts={"mx.sink.test": "127.0.0.1"}).start()
        sink = SmtpSink()
        sink.start()
        extra = (f"dns:\n  servers: [\"127.0.0.1:{dns.port}\"]\ndelivery:\n  port: {sink.port}\n"
                 "  retry:\n    first: 1s\n    max_interval: 2s\n    max_age: 1h\n"
                 "    delay_warning: 1h\n")
    mount = Mount(os.path.abspath(args.fs), args.mode, args.seed)
    listeners = [{"name": "trusted", "role": "submission", "tls": "none",
                  "trusted_networks": ["127.0.0.0/8"]}]
    if args.inbound:
        listeners.append({"name": "mx", "role": "inbound", "tls": "none"})
    d = Daemon(listeners=listeners,
               domains=[{"name": hatotest.DOMAIN, "mailboxes": ["support"]},
                        {"name": "sender.test"}], extra_yaml=extra)
    # data_dir on the mount, made durable itself (the rounds are about what Hato writes in it).
    d.data_dir = os.path.join(mount.path, "data")
    mailbox = os.path.join(d.data_dir, "mail", hatotest.DOMAIN, "support") if args.local else None
    rcpts = (["r{k}@remote.test"] if args.deliver or not args.local else []) + (
        [f"support@{hatotest.DOMAIN}"] if args.local else [])
    os.mkdir(d.data_dir)
    fd = os.open(mount.path, os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)
    d.write_config()
    acked = {}           # acknowledged and not (yet) lost: Message-ID -> (queue ID, bytes)
    total_acked = lost_total = corrupted_total = 0
    status = 0
    r = 0
    try:
        d.start()
        for r in range(1, args.rounds + 1):
            doors = [(d.port("trusted"), rcpts)]
            if args.inbound:
                doors.append((d.port("mx"), [f"support@{hatotest.DOMAIN}"]))
            load = Load(doors, args.clients, r)
            time.sleep(rng.uniform(0.3, 2.0))
            d.kill()
            mount.cut()
            new = load.finish()
            acked.update(new)
            total_acked += len(new)
            try:
                d.start(timeout=60)
            except DaemonError as e:
                print(f"round {r}: hato did not start on the surviving state\n{e}")
                status = 1
                break
            compare = set(new) if not args.compare or len(new) <= args.compare else set(
                rng.sample(sorted(new), args.compare))
            found, lost, corrupted, delivered = check(d, sink, mailbox, acked, compare)
            lost_total += len(lost)
            corrupted_total += corrupted
            print(f"round {r}: acknowledged={total_acked} (+{len(new)}) found={found} "
                  f"duplicated={duplicates(delivered)} lost={len(lost)} corrupted={corrupted} "
                  f"compared={len(compare)}"
                  + (f" inbound={load.by_door[1]}" if args.inbound else ""), flush=True)
            # A lost message is counted once: forget it.
            acked = {m: v for m, v in acked.items() if m not in lost}
    finally:
        counted_duplicates = duplicates(delivered_copies(sink, mailbox))  # before the mount goes
        if d.running():
            d.kill()
        mount.close()
        d.cleanup()
        if sink:
            sink.stop()
            dns.cleanup()
    print(f"total: rounds={r} acknowledged={total_acked} found={total_acked - lost_total} "
          f"duplicated={counted_duplicates} lost={lost_total} corrupted={corrupted_total}"
          + ("" if status == 0 else " (not checked: hato did not start)"))
    if args.planted_bug:
        caught = lost_total > 0 and status == 0
        print("planted bug " + ("caught: the rounds found acknowledged mail lost" if caught
                                else "NOT caught: the rounds cannot see a missing sync"))
        return 0 if caught else 1
    if lost_total or corrupted_total:
        status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
