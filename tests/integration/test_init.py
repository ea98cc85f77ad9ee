"""`hato init` (issue 26): from a domain and a host name to a relay that signs its mail.

`hato init --domain example.test --hostname mail.example.test --public-ip 127.0.0.1 --mx`
writes a config into a temp dir. The test then does what README tells an operator to do:
`hato config check` on the file as written; the records init printed loaded into dnsmasq (plus
the PTR the address's provider would publish) and `hato dns check` against it; the daemon
started on that config (listeners moved to port 0, DNS and the delivery port pointed at the
test's dnsmasq and sink: the only edits, made with a YAML parser); a message submitted with
the login init made (smtplib, STARTTLS, AUTH) must reach the sink with an rsa-sha256 and an
ed25519-sha256 signature that python3-dkim verifies against the records init printed.

Also: a second init refuses to replace the config and leaves it byte for byte, --force
replaces it and keeps the keys; every option (ACME, smarthost with credentials, IPv6 egress,
no --mx) makes a config that `hato config check` accepts as it stands.

Needs dnsmasq-base, python3-aiosmtpd, python3-dkim, python3-nacl and python3-yaml.
"""

import email.utils
import os
import re
import shutil
import smtplib
import stat
import subprocess
import tempfile
import unittest

import hatotest
from hatotest import IO_TIMEOUT

try:
    import dkim  # python3-dkim, with python3-nacl for Ed25519
    import yaml  # python3-yaml
    import sinks
    import test_ops  # parse_zone, dnsmasq_for: how test_ops loads `dns records` into dnsmasq
    from sinks import SmtpSink
    MISSING = None
    if not os.access(sinks.DNSMASQ, os.X_OK):
        MISSING = f"{sinks.DNSMASQ} missing (apt-get install dnsmasq-base)"
except ImportError as e:
    MISSING = (f"{e} (apt-get install python3-dkim python3-nacl python3-yaml "
               "python3-aiosmtpd)")

DOMAIN = "example.test"
HOST = "mail.example.test"


def run_init(config, *args, data_dir=None):
    cmd = [hatotest.hato_bin(), "init", "--domain", DOMAIN, "--hostname", HOST, *args,
           "-c", config]
    if data_dir:
        cmd += ["--data-dir", data_dir]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def records_part(stdout):
    """The part of init's output between "Publish these records" and "Next:"."""
    m = re.search(r"^Publish these records in the zone of \S+:\n(.*?)^Next:", stdout,
                  re.S | re.M)
    if not m:
        raise AssertionError(f"no records in init's output:\n{stdout}")
    return m.group(1)


def login_of(stdout):
    user = re.search(r"^  user: (\S+)$", stdout, re.M)
    password = re.search(r"^  password: (\S+)$", stdout, re.M)
    if not user or not password:
        raise AssertionError(f"no login in init's output:\n{stdout}")
    return user.group(1), password.group(1)


class InitDaemon(hatotest.Daemon):
    """A daemon on a config written elsewhere (by init, edited by the test)."""

    def __init__(self, text, listeners):
        self.text = text
        super().__init__(listeners=[{"name": n} for n in listeners])

    def write_config(self):
        with open(self.config, "w") as f:
            f.write(self.text)


class InitTest(hatotest.HatoTestCase):

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="hato-it-init-")
        cls.config = os.path.join(cls.dir, "etc", "hato.yaml")
        cls.data_dir = os.path.join(cls.dir, "data")
        cls.init = run_init(cls.config, "--public-ip", "127.0.0.1", "--mx",
                            data_dir=cls.data_dir)

    @classmethod
    def tearDownClass(cls):
        if not os.environ.get("HATO_KEEP"):
            shutil.rmtree(cls.dir, ignore_errors=True)

    def setUp(self):
        self._daemons = []
        if MISSING:  # fail, not skip
            self.fail(f"test prerequisite missing: {MISSING}")
        self.assertEqual(self.init.returncode, 0,
                         f"hato init exited {self.init.returncode}:\n{self.init.stdout}\n"
                         f"{self.init.stderr}")

    def tearDown(self):
        for d in self._daemons:
            d.assert_alive()

    def cli(self, *args, config=None, timeout=60):
        return subprocess.run([hatotest.hato_bin(), *args, "-c", config or self.config],
                              capture_output=True, text=True, timeout=timeout)

    def records(self):
        return test_ops.parse_zone(records_part(self.init.stdout))

    def dns(self, extra_mx=None, extra_hosts=None):
        """dnsmasq serving the records init printed, the host's address and its PTR."""
        hosts = {HOST: "127.0.0.1", **(extra_hosts or {})}
        records = self.records() + [(d, "MX", mx) for d, mx in (extra_mx or [])]
        dns = test_ops.dnsmasq_for(records, hosts, {"127.0.0.1": HOST})
        dns.start()
        self.addCleanup(dns.cleanup)
        return dns

    def edited(self, change):
        """init's config, parsed, changed by change(dict), written to a file of its own."""
        with open(self.config) as f:
            cfg = yaml.safe_load(f)
        change(cfg)
        path = os.path.join(self.dir, f"edited-{self.id().rsplit('.', 1)[-1]}.yaml")
        with open(path, "w") as f:
            yaml.safe_dump(cfg, f)
        return path, cfg

    def test_config_check_passes_as_written(self):
        r = self.cli("config", "check")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn(": ok", r.stdout)

    def test_files_and_config(self):
        with open(self.config) as f:
            cfg = yaml.safe_load(f)
        self.assertEqual(cfg["hostname"], HOST)
        self.assertEqual(cfg["data_dir"], self.data_dir)
        self.assertEqual(sorted((l["name"], l["address"], l["role"]) for l in cfg["listeners"]),
                         [("mx", "0.0.0.0:25", "inbound"),
                          ("submission", "0.0.0.0:587", "submission"),
                          ("submissions", "0.0.0.0:465", "submission")])
        [domain] = cfg["domains"]
        self.assertEqual(domain["name"], DOMAIN)
        self.assertEqual(sorted(k["algorithm"] for k in domain["dkim"]),
                         ["ed25519-sha256", "rsa-sha256"])
        for k in domain["dkim"]:
            self.assertEqual(os.path.dirname(k["key"]), os.path.join(self.dir, "etc", "dkim"))
            self.assertEqual(stat.S_IMODE(os.stat(k["key"]).st_mode), 0o600, k["key"])
        self.assertIn("postmaster", domain["mailboxes"])
        [egress] = cfg["egress"]
        self.assertEqual(egress["address"], "127.0.0.1")
        self.assertIn("start", egress["warmup"])
        self.assertIn("zen.spamhaus.org", cfg["blacklist_monitor"]["zones"])
        self.assertNotIn("acme", cfg["tls"], "no ACME without --acme-email")
        self.assertNotIn("smarthost", cfg["delivery"])
        user, _ = login_of(self.init.stdout)
        with open(cfg["users_file"]) as f:
            self.assertRegex(f.read(), rf"(?m)^{user}:\$y\$")
        self.assertIn("hato dns check", self.init.stdout.split("Next:", 1)[1])

    def test_printed_records_are_dns_records_output(self):
        r = self.cli("dns", "records", "--domain", DOMAIN)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(r.stdout, self.init.stdout, "init prints what `dns records` prints")
        kinds = {(owner, rtype) for owner, rtype, _ in self.records()}
        self.assertEqual(kinds, {(DOMAIN, "MX"), (DOMAIN, "TXT"),
                                 (f"s1._domainkey.{DOMAIN}", "TXT"),
                                 (f"e1._domainkey.{DOMAIN}", "TXT"),
                                 (f"_dmarc.{DOMAIN}", "TXT"), (f"_mta-sts.{DOMAIN}", "TXT"),
                                 (f"_smtp._tls.{DOMAIN}", "TXT")})

    def test_dns_check_passes_on_the_printed_records(self):
        dns = self.dns()
        path, _ = self.edited(lambda c: c.update(dns={"servers": [f"127.0.0.1:{dns.port}"]}))
        r = self.cli("dns", "check", "--domain", DOMAIN, config=path, timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn(f"{DOMAIN}: every record is in order", r.stdout)
        for check in ("MX", "SPF", "DKIM s1", "DKIM e1", "DMARC", "TLS-RPT", "PTR"):
            self.assertRegex(r.stdout, rf"(?m)^ok\s+{re.escape(check)}\s", check)

    def test_mail_arrives_signed_rsa_and_ed25519(self):
        sink = SmtpSink()
        sink.start()
        self.addCleanup(sink.stop)
        dns = self.dns(extra_mx=[("remote.test", (10, "mx.sink.test"))],
                       extra_hosts={"mx.sink.test": "127.0.0.1"})

        def change(c):
            for listener in c["listeners"]:
                listener["address"] = "127.0.0.1:0"
            c["dns"] = {"servers": [f"127.0.0.1:{dns.port}"]}
            c["delivery"]["port"] = sink.port
        path, cfg = self.edited(change)
        with open(path) as f:
            d = self.adopt(InitDaemon(f.read(), [l["name"] for l in cfg["listeners"]]))
        d.start()

        user, password = login_of(self.init.stdout)
        sender = f"{user}@{DOMAIN}"
        body = (f"From: <{sender}>\r\nTo: <someone@remote.test>\r\nSubject: from init\r\n"
                f"Date: {email.utils.formatdate()}\r\n"
                f"Message-ID: {email.utils.make_msgid(domain=DOMAIN)}\r\n\r\n"
                "Signed twice by a relay hato init set up.\r\n")
        s = smtplib.SMTP("127.0.0.1", d.port("submission"), local_hostname="client.example.net",
                         timeout=IO_TIMEOUT)
        try:
            s.ehlo()
            s.starttls(context=hatotest.client_context())
            s.ehlo()
            s.login(user, password)
            s.sendmail(sender, ["someone@remote.test"], body.encode())
        finally:
            s.quit()
        [msg] = sink.wait_messages(1, timeout=60)
        data = msg.data

        txt = {f"{owner}.": "".join(value) for owner, rtype, value in self.records()
               if rtype == "TXT" and "._domainkey." in owner}

        def dnsfunc(name, timeout=5):
            key = name.decode() if isinstance(name, bytes) else name
            value = txt.get(key if key.endswith(".") else key + ".")
            return value.encode() if value else None

        sigs = [l for l in data.split(b"\r\n") if l.lower().startswith(b"dkim-signature:")]
        self.assertEqual(len(sigs), 2, data[:2000])
        algorithms = set()
        for idx in range(2):
            self.assertTrue(dkim.DKIM(data).verify(idx=idx, dnsfunc=dnsfunc),
                            f"signature {idx} does not verify:\n{data[:3000]!r}")
            algorithms.add(re.search(rb"a=([\w-]+)", sigs[idx]).group(1).decode())
        self.assertEqual(algorithms, {"rsa-sha256", "ed25519-sha256"})
        tampered = data.replace(b"Signed twice", b"Signed thrice")
        try:
            verdict = dkim.DKIM(tampered).verify(idx=0, dnsfunc=dnsfunc)
        except dkim.ValidationError:
            verdict = False
        self.assertFalse(verdict, "a changed body must not verify")


class InitRerunTest(unittest.TestCase):

    def setUp(self):
        if MISSING:
            self.fail(f"test prerequisite missing: {MISSING}")
        self.dir = tempfile.mkdtemp(prefix="hato-it-init-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.config = os.path.join(self.dir, "hato.yaml")
        self.data = os.path.join(self.dir, "data")

    def read(self, path):
        with open(path, "rb") as f:
            return f.read()

    def test_refuses_without_force_and_replaces_with_it(self):
        r = run_init(self.config, "--mx", data_dir=self.data)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        before = self.read(self.config)
        key = os.path.join(self.dir, "dkim", f"{DOMAIN}.s1.pem")
        key_before = self.read(key)

        r = run_init(self.config, "--acme-email", f"ops@{DOMAIN}", data_dir=self.data)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn(f"{self.config} exists", r.stderr)
        self.assertIn("--force", r.stderr)
        self.assertEqual(self.read(self.config), before, "the config is left as it was")

        r = run_init(self.config, "--acme-email", f"ops@{DOMAIN}", "--force",
                     data_dir=self.data)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        after = self.read(self.config)
        self.assertNotEqual(after, before)
        self.assertEqual(yaml.safe_load(after)["tls"]["acme"]["email"], f"ops@{DOMAIN}")
        self.assertEqual(self.read(key), key_before, "the published key is kept")
        r = subprocess.run([hatotest.hato_bin(), "config", "check", "-c", self.config],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_every_option_gives_a_config_that_checks(self):
        r = run_init(self.config, "--public-ip", "192.0.2.10", "--public-ip", "2001:db8::10",
                     "--acme-email", f"ops@{DOMAIN}",
                     "--smarthost", "smtp://relay-user:p%40ss:w@smtp.provider.test:2525",
                     data_dir=self.data)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        c = subprocess.run([hatotest.hato_bin(), "config", "check", "-c", self.config],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(c.returncode, 0, c.stdout + c.stderr)
        cfg = yaml.safe_load(self.read(self.config))
        self.assertEqual(sorted(l["name"] for l in cfg["listeners"]),
                         ["submission", "submissions"], "no port 25 without --mx")
        self.assertEqual(cfg["tls"]["acme"]["domains"], [HOST, f"mta-sts.{DOMAIN}"])
        self.assertEqual(cfg["mta_sts"]["listen"], "0.0.0.0:443")
        sh = cfg["delivery"]["smarthost"]
        self.assertEqual((sh["host"], sh["port"], sh["tls"], sh["username"]),
                         ("smtp.provider.test", 2525, "starttls", "relay-user"))
        self.assertEqual(self.read(sh["password_file"]), b"p@ss:w\n")
        self.assertEqual(stat.S_IMODE(os.stat(sh["password_file"]).st_mode), 0o600)
        self.assertEqual([e["address"] for e in cfg["egress"]], ["192.0.2.10", "2001:db8::10"])
        self.assertTrue(all("warmup" in e for e in cfg["egress"]))
        self.assertIn(f"mta-sts.{DOMAIN}. IN CNAME {HOST}.", r.stdout)
        self.assertIn(f"{HOST}. IN AAAA 2001:db8::10", r.stdout)

    def test_usage_errors(self):
        for args, why in (
                (["init"], "--domain is required"),
                (["init", "--domain", "not a domain"], "--domain: 'not a domain' is no domain"),
                (["init", "--domain", "ex_ample.test"], "--domain: 'ex_ample.test' is no domain"),
                (["init", "--domain", DOMAIN, "--smarthost", "http://x.test"],
                 "--smarthost: the URL starts smtp:// or smtps://"),
                (["init", "--domain", DOMAIN, "--smarthost", "smtp://user@x.test"],
                 "a user needs its password"),
                (["init", "--domain", DOMAIN, "--public-ip", "mail.example.test"],
                 "--public-ip: 'mail.example.test' is no address")):
            r = subprocess.run([hatotest.hato_bin(), *args, "-c", self.config],
                               capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 2, f"{args}: {r.stdout}{r.stderr}")
            self.assertIn(why, r.stderr, args)
            self.assertFalse(os.path.exists(self.config), args)


if __name__ == "__main__":
    unittest.main()
