"""Operations (issue 11): `hato dns records|check`, `hato backup create|restore`, and
reloading certificates and configuration without a restart.

DNS: what `dns records` prints is loaded into dnsmasq (MX, TXT, and A records for the host)
and `dns check` must then pass; a wrong DKIM key, an SPF record without our address and a
missing DMARC record must each be reported with the line that fixes it, and exit 1.

Backups: clients submit in threads while `backup create` runs; delivery goes to a DNS server
that never answers, so everything stays queued. The backup is restored into a fresh data dir,
a daemon started on it, and every ID acknowledged before the backup began must be listed.

Reloads: a certificate replaced on disk (renamed over, as lego does; or a symlink repointed,
as certbot does) must be what the next TLS connection gets, with SIGHUP, and without it; a
broken configuration on SIGHUP must leave the old one running and say why in the log.

Needs dnsmasq (dnsmasq-base) and openssl, like test_delivery.py.
"""

import json
import os
import re
import shutil
import signal
import smtplib
import ssl
import subprocess
import tempfile
import threading
import time
import unittest

import hatotest
from hatotest import DOMAIN, HOSTNAME, IO_TIMEOUT, Daemon, HatoTestCase, queue_id, wait_for

try:
    import sinks
    from sinks import Dnsmasq
    MISSING = None
    if not os.access(sinks.DNSMASQ, os.X_OK):
        MISSING = f"{sinks.DNSMASQ} missing (apt-get install dnsmasq-base)"
except ImportError as e:  # python3-aiosmtpd, which sinks.py also imports
    MISSING = f"{e} (apt-get install python3-aiosmtpd)"

SENDER = f"app@{DOMAIN}"
RELOAD_WAIT = 10.0  # how long a reload may take to show in the log
# How long the daemon may take to notice certificate files replaced without a signal.
WATCH_WAIT = 10.0

ZONE_LINE = re.compile(r"^(?P<owner>\S+?)\.?\s+(?:\d+\s+)?IN\s+(?P<type>MX|TXT)\s+(?P<rdata>.*)$")
QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')


def parse_zone(text):
    """[(owner, type, value)] from zone-file lines: MX value "pref host", TXT the strings."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(";"):
            continue
        m = ZONE_LINE.match(line)
        if not m:
            raise AssertionError(f"not a zone-file line: {line!r}")
        if m["type"] == "MX":
            pref, host = m["rdata"].split()
            out.append((m["owner"].lower(), "MX", (int(pref), host.rstrip(".").lower())))
        else:
            out.append((m["owner"].lower(), "TXT", QUOTED.findall(m["rdata"])))
    return out


def dnsmasq_for(records, hosts, ptrs=None):
    """A Dnsmasq (not started) serving `records` as parse_zone() returns them, plus `hosts`
    (name: IPv4 address) and `ptrs` (IPv4 address: name)."""
    mx, extra = {}, []
    for ip, name in (ptrs or {}).items():
        extra.append(f"--ptr-record={'.'.join(reversed(ip.split('.')))}.in-addr.arpa,{name}")
    for owner, rtype, value in records:
        if rtype == "MX":
            mx.setdefault(owner, []).append(value)
        else:
            # Each string stays one character-string, as the zone line has it. On dnsmasq's
            # command line quotes are not syntax, and commas separate the strings.
            assert not any("," in s for s in value), value
            extra.append(f"--txt-record={owner}," + ",".join(value))
    return Dnsmasq(mx=mx, hosts=hosts, extra_args=extra)


def replace_file(path, data):
    """Writes `data` beside `path` and renames it over: how lego installs a renewed file."""
    tmp = path + ".new"
    # Mode 0600 as lego and certbot write keys: hato refuses a key every user may read.
    with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as f:
        f.write(data)
    os.rename(tmp, path)


def make_cert(directory, name, cn):
    cert, key = os.path.join(directory, f"{name}.crt"), os.path.join(directory, f"{name}.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", f"/CN={cn}", "-keyout", key, "-out", cert],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)
    return cert, key


def served_cert(port):
    """The DER certificate the STARTTLS listener on `port` presents to a new connection."""
    s = smtplib.SMTP("127.0.0.1", port, local_hostname="client.example.net", timeout=IO_TIMEOUT)
    try:
        s.ehlo()
        s.starttls(context=hatotest.client_context())
        return s.sock.getpeercert(binary_form=True)
    finally:
        s.close()


def pem_to_der(path):
    with open(path) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


def log_since(daemon, offset):
    return daemon.log_text()[offset:]


# ---------------------------------------------------------------------------
# DNS


@unittest.skipIf(MISSING, MISSING)
class DnsTest(unittest.TestCase):
    """`dns records` output published through dnsmasq, then `dns check` against it."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="hato-it-dns-keys-")
        cls.key = os.path.join(cls.dir, "s1.pem")
        cls.other_key = os.path.join(cls.dir, "other.pem")
        for path in (cls.key, cls.other_key):
            r = subprocess.run([hatotest.hato_bin(), "dkim", "keygen", "--domain", DOMAIN,
                                "--selector", "s1", "--out", path],
                               capture_output=True, text=True, timeout=60)
            assert r.returncode == 0, r.stderr
            if path == cls.other_key:
                cls.other_record = parse_zone(r.stdout)[0]
        # An MX for its domain (an inbound listener): the MX, MTA-STS and TLS-RPT records
        # are its to publish.
        cls.daemon = Daemon(domains=[{"name": DOMAIN, "mailboxes": ["postmaster"],
                                      "dkim": [{"selector": "s1", "key": cls.key}]}],
                            listeners=hatotest.default_listeners() + [
                                {"name": "mx", "role": "inbound", "tls": "starttls"}])
        r = cls.daemon.cli("dns", "records", "--domain", DOMAIN)
        assert r.returncode == 0, f"dns records exited {r.returncode}: {r.stderr}"
        cls.records_text = r.stdout
        cls.records = parse_zone(r.stdout)

    @classmethod
    def tearDownClass(cls):
        cls.daemon.cleanup()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def check_with(self, records, ptrs=None, egress=""):
        """Runs `dns check` against dnsmasq serving `records`; returns the CompletedProcess.
        `egress` is YAML for the configuration's egress: section."""
        dns = dnsmasq_for(records, {HOSTNAME: "127.0.0.1", f"mta-sts.{DOMAIN}": "127.0.0.1"},
                          ptrs)
        dns.start()
        self.addCleanup(dns.cleanup)
        self.daemon.extra_yaml = f'dns:\n  servers: ["127.0.0.1:{dns.port}"]\n' + egress
        self.daemon.write_config()
        r = self.daemon.cli("dns", "check", "--domain", DOMAIN, timeout=60)
        self.assertNotIn("Traceback", r.stderr)
        return r

    def without(self, owner):
        return [rec for rec in self.records if rec[0] != owner]

    def line_of(self, owner):
        """The zone line `dns records` printed for `owner`."""
        for line in self.records_text.splitlines():
            if line.lower().startswith(owner + ". "):
                return line
        self.fail(f"dns records printed no line for {owner}:\n{self.records_text}")

    def verdicts(self, stdout):
        """{check name: verdict} from `dns check` output lines "verdict check name: detail"."""
        out = {}
        for line in stdout.splitlines():
            m = re.match(r"^(ok|missing|wrong|failed|skipped)\s+(\S+(?: s1)?)\s", line)
            if m:
                out[m[2]] = m[1]
        return out

    def fixes(self, stdout):
        return [line.split("fix:", 1)[1].strip() for line in stdout.splitlines()
                if line.strip().startswith("fix:")]

    def test_records_cover_every_kind(self):
        types = {(owner, rtype) for owner, rtype, _ in self.records}
        self.assertEqual(types, {(DOMAIN, "MX"), (DOMAIN, "TXT"), (f"s1._domainkey.{DOMAIN}", "TXT"),
                                 (f"_dmarc.{DOMAIN}", "TXT"), (f"_mta-sts.{DOMAIN}", "TXT"),
                                 (f"_smtp._tls.{DOMAIN}", "TXT")})
        self.assertIn((DOMAIN, "MX", (10, HOSTNAME)), self.records)
        self.assertIn("p=quarantine", self.records_text, "the DMARC advice is there")
        self.assertIn("version: STSv1", self.records_text, "the MTA-STS policy is shown")

    def test_published_records_pass(self):
        r = self.check_with(self.records)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        v = self.verdicts(r.stdout)
        for check in ("MX", "address", "SPF", "DKIM s1", "DMARC", "MTA-STS", "TLS-RPT"):
            self.assertEqual(v.get(check), "ok", f"{check}:\n{r.stdout}")
        self.assertEqual(v.get("PTR"), "skipped", r.stdout)
        self.assertEqual(self.fixes(r.stdout), [])

    def test_wrong_dkim_key_reported_with_fix(self):
        name = f"s1._domainkey.{DOMAIN}"
        records = self.without(name) + [self.other_record]
        r = self.check_with(records)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertEqual(self.verdicts(r.stdout).get("DKIM s1"), "wrong", r.stdout)
        self.assertIn(self.line_of(name), self.fixes(r.stdout), r.stdout)

    def test_spf_missing_our_address_reported_with_fix(self):
        records = self.without(DOMAIN) + [rec for rec in self.records
                                          if rec[0] == DOMAIN and rec[1] == "MX"]
        records.append((DOMAIN, "TXT", ["v=spf1 ip4:192.0.2.1 -all"]))
        r = self.check_with(records)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertEqual(self.verdicts(r.stdout).get("SPF"), "wrong", r.stdout)
        self.assertIn("127.0.0.1", r.stdout, "names the address not covered")
        self.assertIn(f'{DOMAIN}. IN TXT ( "v=spf1 ip4:192.0.2.1 a:{HOSTNAME} -all" )',
                      self.fixes(r.stdout), r.stdout)

    def test_missing_dmarc_reported_with_fix(self):
        name = f"_dmarc.{DOMAIN}"
        r = self.check_with(self.without(name))
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        v = self.verdicts(r.stdout)
        self.assertEqual(v.get("DMARC"), "missing", r.stdout)
        self.assertEqual([k for k, x in v.items() if x not in ("ok", "skipped")], ["DMARC"])
        self.assertIn(self.line_of(name), self.fixes(r.stdout), r.stdout)

    def test_egress_addresses_in_spf_and_ptr(self):
        egress = f"egress:\n  - {{address: 127.0.0.1, helo: {HOSTNAME}}}\n"
        self.daemon.extra_yaml = egress
        self.daemon.write_config()
        r = self.daemon.cli("dns", "records", "--domain", DOMAIN)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(f'"v=spf1 mx a:{HOSTNAME} ip4:127.0.0.1 ~all"', r.stdout)
        records = parse_zone(r.stdout)

        r = self.check_with(records, ptrs={"127.0.0.1": HOSTNAME}, egress=egress)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(self.verdicts(r.stdout).get("PTR"), "ok", r.stdout)

        r = self.check_with(records, ptrs={"127.0.0.1": "host-1.provider.test"}, egress=egress)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertEqual(self.verdicts(r.stdout).get("PTR"), "wrong", r.stdout)
        self.assertIn(f"set its PTR to {HOSTNAME}", r.stdout)

    def test_dns_failure_is_not_ok(self):
        self.daemon.extra_yaml = (f'dns:\n  servers: ["127.0.0.1:'
                                  f'{hatotest._blackhole_dns_port()}"]\n')
        self.daemon.write_config()
        r = self.daemon.cli("dns", "check", "--domain", DOMAIN, timeout=120)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("failed", r.stdout)

    def test_a_relay_without_an_inbound_listener_leaves_the_mx_alone(self):
        # A smarthost that only sends as the domain: its mail goes to a mailbox provider,
        # whose MX, MTA-STS and TLS-RPT records `dns records` must not replace.
        d = Daemon(domains=[{"name": DOMAIN, "mailboxes": ["postmaster"],
                             "dkim": [{"selector": "s1", "key": self.key}]}])
        self.addCleanup(d.cleanup)
        r = d.cli("dns", "records", "--domain", DOMAIN)
        self.assertEqual(r.returncode, 0, r.stderr)
        kinds = sorted({(name, kind) for name, kind, _ in parse_zone(r.stdout)})
        self.assertEqual(kinds, sorted([(DOMAIN, "TXT"), (f"s1._domainkey.{DOMAIN}", "TXT"),
                                        (f"_dmarc.{DOMAIN}", "TXT")]), r.stdout)
        self.assertIn(f'"v=spf1 a:{HOSTNAME} ~all"', r.stdout)
        self.assertIn("No inbound listener: this relay only sends as", r.stdout)

    def test_unknown_domain_is_a_usage_error(self):
        r = self.daemon.cli("dns", "records", "--domain", "elsewhere.test")
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn("elsewhere.test", r.stderr)


# ---------------------------------------------------------------------------
# Backups


class Submitter:
    """Threads that submit over the trusted listener until stopped, noting when each 250 came."""

    def __init__(self, port, threads=3):
        self.port = port
        self.acked = []  # (time.monotonic() of the 250, queue id)
        self.errors = []
        self.lock = threading.Lock()
        self.stop_event = threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(n,), daemon=True)
                        for n in range(threads)]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def run(self, n):
        try:
            s = smtplib.SMTP("127.0.0.1", self.port, local_hostname="client.example.net",
                             timeout=IO_TIMEOUT)
            s.ehlo()
            i = 0
            while not self.stop_event.is_set():
                i += 1
                msg = (f"From: <{SENDER}>\r\nTo: <x@remote.test>\r\nSubject: load {n}.{i}\r\n"
                       f"Message-ID: <load.{n}.{i}.{os.getpid()}@example.test>\r\n\r\n"
                       f"body {n}.{i}\r\n").encode()
                code, resp = s.mail(SENDER)
                if code != 250:
                    raise AssertionError(f"MAIL: {code} {resp}")
                code, resp = s.rcpt(f"x{n}.{i}@remote.test")
                if code != 250:
                    raise AssertionError(f"RCPT: {code} {resp}")
                code, resp = s.data(msg)
                if code != 250:
                    raise AssertionError(f"DATA: {code} {resp}")
                at = time.monotonic()
                with self.lock:
                    self.acked.append((at, queue_id(resp)))
            s.quit()
        except Exception as e:  # reported by the test, not lost in the thread
            with self.lock:
                self.errors.append(f"thread {n}: {e!r}")

    def count(self):
        with self.lock:
            return len(self.acked)

    def stop(self):
        self.stop_event.set()
        for t in self.threads:
            t.join(30)


class BackupTest(HatoTestCase):
    """Delivery DNS goes to a server that never answers (Daemon's default): mail stays queued."""

    def test_backup_under_load_restores_every_acknowledged_message(self):
        d = self.hato
        backup_dir = os.path.join(d.dir, "backups", "b1")  # the parent does not exist yet
        load = Submitter(d.port("trusted")).start()
        self.addCleanup(load.stop)
        self.assertTrue(wait_for(lambda: load.count() >= 200 or load.errors, timeout=30),
                        "the clients got going")
        started = time.monotonic()
        r = d.cli("backup", "create", backup_dir, timeout=120)
        finished = time.monotonic()
        during = sum(1 for at, _ in load.acked if started <= at <= finished)
        wait_for(lambda: load.count() > 0 and load.acked[-1][0] > finished + 0.5, timeout=5)
        load.stop()
        self.assertEqual(load.errors, [])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        before = {qid for at, qid in load.acked if at < started}
        everything = {qid for _, qid in load.acked}
        self.assertGreaterEqual(len(before), 200)
        self.assertGreater(during, 0, "clients were acknowledged while the backup ran")
        self.assertTrue(os.path.isfile(os.path.join(backup_dir, "manifest.json")))
        with open(os.path.join(backup_dir, "manifest.json")) as f:
            self.assertEqual(json.load(f)["format"], "hato-backup")

        fresh = self.own_daemon()
        r = fresh.cli("backup", "restore", backup_dir, timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        m = re.search(r"restored (\d+) queued messages", r.stdout)
        self.assertTrue(m, r.stdout)
        fresh.start()
        restored = {m["id"] for m in fresh.queue_ls()}
        missing = before - restored
        self.assertEqual(missing, set(), f"{len(missing)} of {len(before)} messages acknowledged "
                                         f"before the backup are not in the restored queue")
        self.assertEqual(restored - everything, set(), "the restore holds only messages we sent")
        self.assertEqual(int(m[1]), len(restored))
        print(f"\n  backup: {len(before)} acknowledged before, {during} during "
              f"({finished - started:.2f}s), {len(restored)} restored", end=" ")

        # While a daemon runs on the data dir, restoring is refused, and the queue untouched.
        r = fresh.cli("backup", "restore", backup_dir, timeout=60)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("running", r.stderr)
        fresh.stop()
        # Stopped, over an existing queue: only with --force, which keeps the old one aside.
        r = fresh.cli("backup", "restore", backup_dir, timeout=60)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("--force", r.stderr)
        r = fresh.cli("backup", "restore", backup_dir, "--force", timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        aside = [n for n in os.listdir(fresh.data_dir) if n.startswith("queue.replaced-")]
        self.assertEqual(len(aside), 1, os.listdir(fresh.data_dir))

    def test_backup_refuses_a_used_directory(self):
        d = self.hato
        target = tempfile.mkdtemp(prefix="hato-it-backup-")
        self.addCleanup(shutil.rmtree, target, True)
        with open(os.path.join(target, "something"), "w") as f:
            f.write("x")
        r = d.cli("backup", "create", target)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("not empty", r.stderr)
        r = d.cli("backup", "create", os.path.join(d.data_dir, "queue", "inside"))
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)

    def test_backup_without_daemon_exits_3(self):
        d = self.own_daemon()  # never started
        r = d.cli("backup", "create", os.path.join(d.dir, "b"))
        self.assertEqual(r.returncode, 3, r.stdout + r.stderr)

    def test_restore_needs_a_complete_backup(self):
        d = self.own_daemon()
        empty = tempfile.mkdtemp(prefix="hato-it-backup-")
        self.addCleanup(shutil.rmtree, empty, True)
        r = d.cli("backup", "restore", empty)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("manifest.json", r.stderr)


# ---------------------------------------------------------------------------
# dist/: what an operator installs must work as shipped.

DIST = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "dist")


class DistTest(unittest.TestCase):

    def test_example_config_checks(self):
        tmp = tempfile.mkdtemp(prefix="hato-it-dist-")
        self.addCleanup(shutil.rmtree, tmp, True)
        with open(os.path.join(DIST, "hato.yaml")) as f:
            text = f.read()
        # Its absolute paths, moved into the temp dir; the files it names made.
        for path in sorted(set(re.findall(r"(/(?:etc|var|run)/hato[\w./-]*)", text))):
            text = text.replace(path, tmp + path)
            os.makedirs(os.path.dirname(tmp + path), exist_ok=True)
        cert, key = make_cert(tmp, "c", "mail.example.org")
        shutil.copy(cert, tmp + "/etc/hato/tls/fullchain.pem")
        shutil.copy(key, tmp + "/etc/hato/tls/privkey.pem")
        r = subprocess.run([hatotest.hato_bin(), "dkim", "keygen", "--domain", "example.org",
                            "--selector", "s1", "--out",
                            tmp + "/etc/hato/dkim/example.org.s1.pem"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        config = os.path.join(tmp, "hato.yaml")
        with open(config, "w") as f:
            f.write(text)
        r = subprocess.run([hatotest.hato_bin(), "config", "check", "-c", config],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    @unittest.skipUnless(shutil.which("systemd-analyze"), "systemd-analyze missing")
    def test_units_verify(self):
        tmp = tempfile.mkdtemp(prefix="hato-it-units-")
        self.addCleanup(shutil.rmtree, tmp, True)
        names = ["hato.service", "hato-backup.service", "hato-backup.timer"]
        for name in names:
            with open(os.path.join(DIST, name)) as f:
                text = f.read().replace("/usr/local/bin/hato", "/bin/true")
            with open(os.path.join(tmp, name), "w") as f:
                f.write(text)
        r = subprocess.run(["systemd-analyze", "verify", "--man=no"] + names, cwd=tmp,
                           capture_output=True, text=True, timeout=60)
        self.assertEqual((r.returncode, r.stdout + r.stderr), (0, ""))

    # The shell of hato-backup.service's ExecStart, run as systemd would run it.
    def test_backup_unit_backs_up_a_running_daemon(self):
        d = Daemon()
        self.addCleanup(d.cleanup)
        d.start()
        self.addCleanup(d.stop)
        with open(os.path.join(DIST, "hato-backup.service")) as f:
            unit = f.read()
        script = re.search(r"^ExecStart=/bin/sh -euc '(.*?)'$", unit, re.S | re.M)[1]
        # systemd joins continued lines with a space and turns $$ and %% into $ and %.
        script = script.replace("\\\n", " ").replace("$$", "$").replace("%%", "%")
        script = script.replace("/usr/local/bin/hato -c /etc/hato/hato.yaml",
                                f"{hatotest.hato_bin()} -c {d.config}")
        backups = os.path.join(d.dir, "backups")
        mail = os.path.join(d.data_dir, "mail", DOMAIN, "support")
        for sub in ("new", "cur", "tmp"):
            os.makedirs(os.path.join(mail, sub), exist_ok=True)
        with open(os.path.join(mail, "new", "1.host"), "w") as f:
            f.write("Subject: kept\r\n\r\nx\r\n")
        with open(os.path.join(mail, "tmp", "2.host"), "w") as f:
            f.write("half a delivery")
        old = os.path.join(backups, "2020-01-01T000000Z")
        os.makedirs(old)
        os.utime(old, (0, 0))
        env = dict(os.environ, BACKUPS=backups, KEEP_DAYS="14",
                   MAILDIRS=os.path.join(d.data_dir, "mail"))
        r = subprocess.run(["/bin/sh", "-euc", script], env=env, capture_output=True, text=True,
                           timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        runs = os.listdir(backups)
        self.assertEqual(len(runs), 1, f"the old run is gone, one new one: {runs}")
        run = os.path.join(backups, runs[0])
        self.assertTrue(os.path.isfile(os.path.join(run, "manifest.json")))
        listing = subprocess.run(["tar", "-tzf", os.path.join(run, "mail.tar.gz")],
                                 capture_output=True, text=True, check=True).stdout.split()
        self.assertIn(f"./{DOMAIN}/support/new/1.host", listing)
        self.assertNotIn(f"./{DOMAIN}/support/tmp/2.host", listing)


# ---------------------------------------------------------------------------
# Reloads


class ReloadTest(HatoTestCase):
    """Certificates and configuration replaced while the daemon runs."""

    def own_tls_daemon(self, symlinked):
        """A daemon whose certificate and key are files we may replace; with `symlinked`,
        laid out as certbot does (live/ symlinks into archive/)."""
        d = self.own_daemon()
        first_cert, first_key = make_cert(d.dir, "first", "first.example.test")
        if symlinked:
            for sub in ("live", "archive"):
                os.mkdir(os.path.join(d.dir, sub))
            shutil.move(first_cert, os.path.join(d.dir, "archive", "fullchain1.pem"))
            shutil.move(first_key, os.path.join(d.dir, "archive", "privkey1.pem"))
            cert = os.path.join(d.dir, "live", "fullchain.pem")
            key = os.path.join(d.dir, "live", "privkey.pem")
            os.symlink("../archive/fullchain1.pem", cert)
            os.symlink("../archive/privkey1.pem", key)
        else:
            cert, key = first_cert, first_key
        with open(d.config) as f:
            text = f.read()
        text = text.replace(json.dumps(os.path.join(d.dir, "cert.pem")), json.dumps(cert))
        text = text.replace(json.dumps(os.path.join(d.dir, "key.pem")), json.dumps(key))
        with open(d.config, "w") as f:
            f.write(text)
        d.start()
        self.assertEqual(served_cert(d.port("submission")), pem_to_der(cert))
        return d, cert, key

    def renew(self, d, cert, key, symlinked):
        """Installs a new certificate as certbot (symlinked) or lego would; returns its DER."""
        new_cert, new_key = make_cert(d.dir, "second", "second.example.test")
        if symlinked:
            shutil.move(new_cert, os.path.join(d.dir, "archive", "fullchain2.pem"))
            shutil.move(new_key, os.path.join(d.dir, "archive", "privkey2.pem"))
            for link, target in ((key, "../archive/privkey2.pem"),
                                 (cert, "../archive/fullchain2.pem")):
                os.symlink(target, link + ".new")
                os.rename(link + ".new", link)
        else:
            with open(new_key, "rb") as f:
                replace_file(key, f.read())
            with open(new_cert, "rb") as f:
                replace_file(cert, f.read())
        return pem_to_der(cert)

    def test_certificate_replaced_then_sighup_served_to_next_connection(self):
        d, cert, key = self.own_tls_daemon(symlinked=False)
        port = d.port("submission")
        # A session that is under way keeps going through the reload.
        open_session = smtplib.SMTP("127.0.0.1", port, local_hostname="c.example.net",
                                    timeout=IO_TIMEOUT)
        self.addCleanup(open_session.close)
        open_session.ehlo()
        open_session.starttls(context=hatotest.client_context())
        open_session.ehlo()
        new = self.renew(d, cert, key, symlinked=False)
        offset = len(d.log_text())
        d.proc.send_signal(signal.SIGHUP)
        self.assertTrue(wait_for(lambda: "reload" in log_since(d, offset), RELOAD_WAIT),
                        "a log line says the reload happened\n" + d.log_tail())
        self.assertEqual(served_cert(port), new, "the next connection gets the new certificate")
        self.assertEqual(open_session.noop()[0], 250, "the open session survived the reload")
        code, resp = open_session.mail(SENDER)
        self.assertIn(code, (250, 530), resp)

    # The daemon watches the certificate files (every 5 s, following symlinks): a renewal is
    # served to the next connection without any signal.
    def test_certificate_replaced_served_without_signal(self):
        # certbot's layout: live/ symlinks repointed at a new archive/ file; no deploy hook.
        d, cert, key = self.own_tls_daemon(symlinked=True)
        port = d.port("submission")
        new = self.renew(d, cert, key, symlinked=True)
        served = wait_for(lambda: served_cert(port) == new, WATCH_WAIT, interval=0.5)
        self.assertTrue(served, f"the new certificate was not served within {WATCH_WAIT}s "
                                f"without a signal\n" + d.log_tail())

    def test_sighup_with_broken_config_keeps_the_old_one_and_says_why(self):
        d = self.own_daemon(limits={"max_recipients": 2})
        d.start()
        port = d.port("trusted")

        def recipients_accepted(n):
            s = smtplib.SMTP("127.0.0.1", port, local_hostname="c.example.net",
                             timeout=IO_TIMEOUT)
            try:
                s.ehlo()
                self.assertEqual(s.mail(SENDER)[0], 250)
                return sum(s.rcpt(f"r{i}@remote.test")[0] == 250 for i in range(n))
            finally:
                s.close()

        self.assertEqual(recipients_accepted(4), 2)
        with open(d.config) as f:
            good = f.read()

        # A valid change is taken on SIGHUP...
        d.limits["max_recipients"] = 3
        d.write_config()
        offset = len(d.log_text())
        d.proc.send_signal(signal.SIGHUP)
        self.assertTrue(wait_for(lambda: "reload" in log_since(d, offset), RELOAD_WAIT),
                        d.log_tail())
        self.assertEqual(recipients_accepted(4), 3, "the new limit applies after SIGHUP")

        # ...a broken one is not: the running configuration stays, and the log says why.
        with open(d.config, "w") as f:
            f.write(good.replace("max_recipients: 2", "max_recipients: many"))
        offset = len(d.log_text())
        d.proc.send_signal(signal.SIGHUP)
        self.assertTrue(wait_for(lambda: "reload" in log_since(d, offset), RELOAD_WAIT),
                        d.log_tail())
        time.sleep(0.2)
        d.assert_alive()
        text = log_since(d, offset)
        name = re.escape(os.path.basename(d.config))
        self.assertRegex(text, rf"{name}:\d+:\d+:", "the log gives FILE:LINE:COLUMN of the problem")
        self.assertRegex(text, r"max_recipients|many", "and names it")
        self.assertNotRegex(text, r"\binfo reloaded\b", "and does not claim to have reloaded")
        self.assertEqual(recipients_accepted(4), 3, "the last good configuration still applies")
        with smtplib.SMTP("127.0.0.1", port, local_hostname="c.example.net",
                          timeout=IO_TIMEOUT) as s:
            refused = s.sendmail(SENDER, ["x@remote.test"],
                                 f"From: <{SENDER}>\r\nSubject: still here\r\n\r\nx\r\n")
            self.assertEqual(refused, {}, "mail is still accepted")


if __name__ == "__main__":
    unittest.main()
