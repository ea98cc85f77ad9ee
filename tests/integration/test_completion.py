"""Shell completion (issue 26): dist/completion/hato.bash and _hato complete commands,
options and, for `queue show|hold|release|delete`, the IDs the running daemon has (only held
ones for release). bash: the completion function called with COMP_WORDS set; zsh: a real
interactive zsh (compinit) in a pseudo-terminal (zsh/zpty) that is sent the keys."""

import os
import shutil
import socket
import subprocess
import tempfile
import unittest

from hatotest import Daemon, RawSMTP, hato_bin, queue_id, wait_for

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BASH = os.path.join(ROOT, "dist", "completion", "hato.bash")
ZSH = os.path.join(ROOT, "dist", "completion", "_hato")
SENDER = "alice@example.test"

# Runs an interactive zsh with _hato's folder in fpath in a pseudo-terminal, types $2 and
# TAB, then prints the line as completion left it (a "RES:" that the typed command cannot
# show itself). zle handles keys in order, so nothing waits for anything.
ZSH_DRIVER = r'''
zmodload zsh/zpty
zpty z 'zsh -f -i'
zpty -w z "unset zle_bracketed_paste; PROMPT='%% '; fpath=($1 \$fpath); autoload -Uz compinit; compinit -u -D"
zpty -n -w z "$2"$'\t\C-aprint -r -- ${:-RES}:\n'
zpty -r z out $'*RES:*\n'
zpty -d z
print -r -- "${${out##*RES:}%%$'\r'*}"
'''

# Sources the file, shows the compspec, then completes the words given as arguments (the
# last one being the word under the cursor), one candidate a line after a "--" line.
COMPLETE = r'''
source "$1"; shift
complete -p hato
echo --
COMP_WORDS=("$@")
COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
_hato
printf '%s\n' "${COMPREPLY[@]}"
'''


def unique_prefix(qid, other):
    """The shortest start of qid that other does not share (IDs of one second share most)."""
    n = len(os.path.commonprefix([qid, other]))
    return qid[:n + 1]


class Completion(unittest.TestCase):

    def setUp(self):
        # Mail is deferred at once and stays: the smarthost port refuses connections, and
        # the next try is an hour away. (A message in the middle of an attempt is held only
        # when the attempt ends.)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            closed = s.getsockname()[1]
        y = ["delivery:", "  smarthost:", '    host: "127.0.0.1"', f"    port: {closed}",
             "    tls: none", "  retry: {first: 1h}"]
        self.d = Daemon(listeners=[{"name": "trusted", "role": "submission", "tls": "none",
                                    "trusted_networks": ["127.0.0.0/8"]}],
                        extra_yaml="\n".join(y) + "\n")
        self.addCleanup(self.d.cleanup)
        self.addCleanup(self.d.stop)  # before cleanup; checks the exit status
        self.d.start()

    def submit(self):
        with RawSMTP(self.d.port("trusted")) as c:
            c.greeting()
            c.ehlo()
            self.assertEqual(c.cmd(f"MAIL FROM:<{SENDER}>").code, 250)
            self.assertEqual(c.cmd("RCPT TO:<someone@remote.test>").code, 250)
            self.assertEqual(c.cmd("DATA").code, 354)
            c.send(b"From: <alice@example.test>\r\nSubject: c\r\n\r\nbody\r\n.\r\n")
            r = c.reply()
            self.assertEqual(r.code, 250, r)
            c.cmd("QUIT")
        qid = queue_id(r.text)
        deferred = wait_for(lambda: any(m["id"] == qid and m["state"] == "deferred"
                                        for m in self.d.queue_ls()), timeout=10)
        self.assertTrue(deferred, f"{qid} not deferred: {self.d.queue_ls()}")
        return qid

    def complete(self, *words):
        """The candidates bash offers for `hato WORDS...`; the last word is the one typed."""
        r = subprocess.run(["bash", "--norc", "--noprofile", "-c", COMPLETE, "complete", BASH,
                            hato_bin(), *words], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        spec, _, out = r.stdout.partition("--\n")
        self.assertEqual(spec.strip(), "complete -F _hato hato")
        return sorted(line for line in out.splitlines() if line)

    def test_commands_and_options(self):
        self.assertEqual(self.complete("qu"), ["queue"])
        self.assertEqual(self.complete("d"), ["dkim", "dmarc", "dns"])
        self.assertEqual(self.complete("dmarc", "summary", "--d"), ["--days", "--domain"])
        self.assertEqual(self.complete("queue", "h"), ["hold"])
        self.assertEqual(self.complete("queue", "r"), ["release"])
        self.assertEqual(self.complete("queue", "ls", "--st"), ["--state"])
        self.assertEqual(self.complete("queue", "ls", "--state", ""), ["deferred", "held", "queued"])
        self.assertEqual(self.complete("dkim", "keygen", "--algorithm", "e"), ["ed25519-sha256"])
        self.assertEqual(self.complete("init", "--f"), ["--force"])
        self.assertEqual(self.complete("config", ""), ["check", "keys"])

    def test_queue_ids_from_the_daemon(self):
        held, other = self.submit(), self.submit()
        r = self.d.cli("queue", "hold", held)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual({m["id"]: m["state"] for m in self.d.queue_ls()},
                         {held: "held", other: "deferred"})
        cfg = ["-c", self.d.config]
        self.assertEqual(self.complete(*cfg, "queue", "show", ""), sorted(["--json", held, other]))
        self.assertEqual(self.complete(*cfg, "queue", "hold", ""), sorted([held, other]))
        self.assertEqual(self.complete(*cfg, "queue", "delete", unique_prefix(held, other)),
                         [held])
        # Only held messages can be released.
        self.assertEqual(self.complete(*cfg, "queue", "release", ""), [held])
        # -c after the command works too.
        self.assertEqual(self.complete("queue", "release", "-c", self.d.config, ""), [held])

    def test_no_daemon_no_ids(self):
        self.d.stop()
        self.assertEqual(self.complete("-c", self.d.config, "queue", "show", ""), ["--json"])

    def zsh_complete(self, typed):
        """The command line after typing `typed` and TAB in zsh (`hato` found on PATH: the
        binary under test, by that name, whatever the file is called)."""
        bindir = tempfile.mkdtemp(prefix="hato-zsh-")
        self.addCleanup(shutil.rmtree, bindir, True)
        os.symlink(os.path.abspath(hato_bin()), os.path.join(bindir, "hato"))
        env = dict(os.environ, PATH=bindir + ":" + os.environ.get("PATH", "/usr/bin:/bin"))
        r = subprocess.run(["zsh", "-f", "-c", ZSH_DRIVER, "zsh", os.path.dirname(ZSH), typed],
                           capture_output=True, text=True, timeout=60, env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout.strip()

    def test_zsh(self):
        r = subprocess.run(["zsh", "-n", ZSH], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.zsh_complete("hato qu"), "hato queue")
        self.assertEqual(self.zsh_complete("hato queue rel"), "hato queue release")
        self.assertEqual(self.zsh_complete("hato queue ls --state h"), "hato queue ls --state held")
        self.assertEqual(self.zsh_complete("hato init --fo"), "hato init --force")
        held, other = self.submit(), self.submit()
        self.assertEqual(self.d.cli("queue", "hold", held).returncode, 0)
        cfg = f"hato -c {self.d.config}"
        self.assertEqual(self.zsh_complete(f"{cfg} queue release "),
                         f"{cfg} queue release {held}")
        self.assertEqual(self.zsh_complete(f"{cfg} queue delete {unique_prefix(other, held)}"),
                         f"{cfg} queue delete {other}")


if __name__ == "__main__":
    unittest.main()
