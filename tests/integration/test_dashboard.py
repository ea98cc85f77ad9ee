"""The web dashboard (issue 23) on admin.web: login (wrong password refused and slowed, the
same guard as SMTP AUTH), sessions and CSRF (403 without cookie or token), the queue pages
against `hato queue summary --json` / `queue ls --json`, hold/release from the page, the live
counter, screenshots. Driven by Debian's chromium headless through python3-selenium and
chromium-driver; plain HTTP requests (http.client) for what a browser would not send.

Screenshots go to $HATO_SCREENSHOTS (default: a temp dir) at 1366x768 and 390x844."""

import html
import http.client
import json
import os
import re
import socket
import smtplib
import tempfile
import time
import unittest
import urllib.parse

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from hatotest import IO_TIMEOUT, Daemon, client_context, queue_id, wait_for

ADMIN, ADMIN_PW = "root", "root-secret-9"
SENDER_USER, SENDER_PW = "alice", "alice-secret-1"
SIZES = {"desktop": (1366, 768), "phone": (390, 844)}


def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1366,768"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


class DashboardTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        # Delivery goes to a port nobody listens on: every message is deferred at once and
        # stays (retry.first is 5 minutes), so the queue holds still while pages are compared.
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            closed_port = s.getsockname()[1]
        cls.hato = Daemon(users={SENDER_USER: SENDER_PW},
                          extra_yaml='admin:\n  web: "127.0.0.1:0"\ndelivery:\n  smarthost:\n'
                          f'    host: "127.0.0.1"\n    port: {closed_port}\n    tls: none\n')
        r = cls.hato.cli("user", "add", ADMIN, "--password-stdin", "--role", "admin",
                         input=ADMIN_PW + "\n")
        if r.returncode != 0:
            cls.hato.cleanup()
            raise AssertionError(f"hato user add --role admin exited {r.returncode}: {r.stderr}")
        cls.hato.start()
        cls.port = cls.hato.port("dashboard")
        cls.base = f"http://127.0.0.1:{cls.port}"
        cls.shots = os.environ.get("HATO_SCREENSHOTS") or tempfile.mkdtemp(prefix="hato-shots-")
        os.makedirs(cls.shots, exist_ok=True)
        cls.driver = None

    @classmethod
    def tearDownClass(cls):
        if cls.driver is not None:
            cls.driver.quit()
        try:
            cls.hato.stop(check=True)
        finally:
            cls.hato.cleanup()

    # -- helpers --------------------------------------------------------------
    def request(self, method, path, body=None, cookie=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=IO_TIMEOUT)
        self.addCleanup(c.close)
        headers = {}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            body = urllib.parse.urlencode(body)
        if cookie:
            headers["Cookie"] = cookie
        c.request(method, path, body=body, headers=headers)
        r = c.getresponse()
        return r, r.read().decode("utf-8", "replace")

    def http_login(self, user=ADMIN, password=ADMIN_PW):
        """Logs in over plain HTTP; returns (status, session cookie or None, csrf, body)."""
        r, text = self.request("GET", "/login")
        login = re.search(r"hato_login=([0-9a-f]+)", r.getheader("Set-Cookie", ""))
        self.assertIsNotNone(login, r.getheaders())
        token = re.search(r'name="csrf" value="([0-9a-f]+)"', text).group(1)
        r, text = self.request("POST", "/login",
                               {"user": user, "password": password, "csrf": token},
                               cookie=f"hato_login={login.group(1)}")
        session = re.search(r"hato_session=([0-9a-f]+)", r.getheader("Set-Cookie", ""))
        if r.status != 303 or not session:
            return r.status, None, None, text
        cookie = f"hato_session={session.group(1)}"
        r, text = self.request("GET", "/", cookie=cookie)
        self.assertEqual(r.status, 200, text)
        csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', text).group(1)
        return 303, cookie, csrf, text

    def get_driver(self):
        if DashboardTest.driver is None:
            DashboardTest.driver = browser()
        return DashboardTest.driver

    def browser_login(self):
        d = self.get_driver()
        d.delete_all_cookies()
        d.get(self.base + "/login")
        d.find_element(By.ID, "user").send_keys(ADMIN)
        d.find_element(By.ID, "password").send_keys(ADMIN_PW + Keys.ENTER)
        try:
            WebDriverWait(d, IO_TIMEOUT).until(lambda d: d.title.startswith("Overview"))
        except Exception:
            raise AssertionError(f"no overview after login: {d.current_url} {d.title!r}\n"
                                 f"{d.page_source[:2000]}\n{self.hato.log_tail()}")
        return d

    def screenshot(self, name):
        d = self.get_driver()
        for size, (w, h) in SIZES.items():
            d.set_window_size(w, h)
            d.save_screenshot(os.path.join(self.shots, f"{name}-{size}.png"))
        d.set_window_size(*SIZES["desktop"])

    def submit(self, *rcpts, message_id=None):
        """Submits one message; returns its queue ID."""
        message_id = message_id or f"<dash-{time.monotonic_ns()}@example.test>"
        s = smtplib.SMTP("127.0.0.1", self.hato.port("submission"),
                         local_hostname="client.example.net", timeout=IO_TIMEOUT)
        try:
            s.starttls(context=client_context())
            s.login(SENDER_USER, SENDER_PW)
            s.mail("alice@example.test")
            for r in rcpts:
                self.assertEqual(s.rcpt(r)[0], 250)
            code, resp = s.data(f"From: alice@example.test\r\nTo: {rcpts[0]}\r\n"
                                f"Subject: dashboard\r\nMessage-ID: {message_id}\r\n\r\n"
                                "hello\r\n")
            self.assertEqual(code, 250, resp)
            qid = queue_id(resp)
        finally:
            s.quit()
        # Acted on only once its attempt is over (relay/delivery_control.cc).
        wait_for(lambda: self.hato.queue_show(qid)["state"] == "deferred", timeout=IO_TIMEOUT)
        return qid

    def populate(self):
        """A queue with several domains, one held message; returns the held one's ID."""
        if getattr(DashboardTest, "held", None):
            return DashboardTest.held
        self.submit("a@one.test", "b@two.test")
        self.submit("c@one.test")
        self.submit("d@three.test", "e@one.test", message_id="<find-me@example.test>")
        held = self.submit("f@two.test")
        r = self.hato.cli("queue", "hold", held)
        self.assertEqual(r.returncode, 0, r.stderr)
        DashboardTest.held = held
        return held

    def cli_json(self, *args):
        r = self.hato.cli(*args, "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        return [json.loads(l) for l in r.stdout.splitlines() if l.strip()]

    def page_table(self, text, table_id):
        """The rows of table `table_id` as lists of cell texts (tags stripped)."""
        m = re.search(rf'<table id="{table_id}">(.*?)</table>', text, re.S)
        self.assertIsNotNone(m, f"no table {table_id} in {text[:1500]}")
        rows = []
        for row in re.findall(r"<tr>(.*?)</tr>", m.group(1), re.S):
            cells = re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)
            rows.append([html.unescape(re.sub(r"<[^>]+>", "", c)) for c in cells])
        return rows

    # -- login, sessions, CSRF --------------------------------------------------
    def test_login_in_browser(self):
        d = self.get_driver()
        d.delete_all_cookies()
        d.get(self.base + "/")
        self.assertTrue(d.title.startswith("Log in"), d.title)  # no session: the login page
        self.screenshot("login")
        # Labels name every input.
        for field in ("user", "password"):
            self.assertEqual(len(d.find_elements(By.CSS_SELECTOR, f'label[for="{field}"]')), 1)
        d = self.browser_login()
        self.assertIn(ADMIN, d.find_element(By.TAG_NAME, "header").text)

    def test_wrong_password_refused_and_slowed(self):
        start = time.monotonic()
        status, cookie, _, text = self.http_login(password="not-the-password")
        elapsed = time.monotonic() - start
        self.assertEqual(status, 401, text)
        self.assertIsNone(cookie)
        self.assertIn("Wrong user or password", text)
        # The SMTP AUTH guard holds a first failure back for a second (policy/auth.h).
        self.assertGreaterEqual(elapsed, 0.9)
        wait_for(lambda: re.search(r"dashboard login.*peer=127\.0\.0\.1.*user=root.*wrong user",
                                   self.hato.log_text()))

    def test_sending_user_is_not_admin(self):
        status, cookie, _, text = self.http_login(SENDER_USER, SENDER_PW)
        self.assertEqual(status, 401, text)
        self.assertIsNone(cookie)

    def test_post_without_cookie_or_csrf_is_403(self):
        status, cookie, csrf, _ = self.http_login()
        self.assertEqual(status, 303)
        r, text = self.request("POST", "/logout", {"csrf": csrf})  # no cookie
        self.assertEqual(r.status, 403, text)
        r, text = self.request("POST", "/logout", {}, cookie=cookie)  # no token
        self.assertEqual(r.status, 403, text)
        r, text = self.request("POST", "/logout", {"csrf": "0" * 64}, cookie=cookie)
        self.assertEqual(r.status, 403, text)
        r, text = self.request("POST", "/login", {"user": ADMIN, "password": ADMIN_PW})
        self.assertEqual(r.status, 403, text)  # the login form has its token too
        # The session is still good, and logging out ends it.
        r, _ = self.request("GET", "/", cookie=cookie)
        self.assertEqual(r.status, 200)
        r, _ = self.request("POST", "/logout", {"csrf": csrf}, cookie=cookie)
        self.assertEqual(r.status, 303)
        r, _ = self.request("GET", "/", cookie=cookie)
        self.assertEqual((r.status, r.getheader("Location")), (303, "/login"))

    def test_cookie_attributes(self):
        r, _ = self.request("GET", "/login")
        self.assertRegex(r.getheader("Set-Cookie"), r"HttpOnly; SameSite=Strict")

    # -- the queue pages, against the CLI's JSON for the same state --------------

    def test_queue_page_shows_what_queue_summary_and_ls_show(self):
        self.populate()
        _, cookie, _, _ = self.http_login()
        r, text = self.request("GET", "/queue", cookie=cookie)
        self.assertEqual(r.status, 200, text)
        summary = self.cli_json("queue", "summary")[0]
        rows = self.page_table(text, "qshape")
        self.assertEqual(rows[0][:2], ["Domain", "Messages"])
        want = [["Total", str(summary["total"]["messages"]), str(summary["total"]["recipients"])]
                + [str(n) for n in summary["total"]["counts"]]]
        for d in summary["domains"]:
            want.append([d["domain"], str(d["messages"]), str(d["recipients"])]
                        + [str(n) for n in d["counts"]])
        self.assertEqual(rows[1:], want)
        for state in ("queued", "deferred", "held"):
            shown = re.search(rf'<span id="state-{state}">(\d+)</span>', text)
            self.assertEqual(int(shown.group(1)), summary["total"][state], state)
        listed = {row[0]: row for row in self.page_table(text, "messages")[1:]}
        ls = self.cli_json("queue", "ls")
        self.assertEqual(set(listed), {m["id"] for m in ls})
        for m in ls:
            self.assertEqual(listed[m["id"]][1], m["from"])
            self.assertEqual(listed[m["id"]][2], ", ".join(m["to"]))
            self.assertEqual(listed[m["id"]][4], str(m["attempts"]))

    def test_filters_and_search(self):
        held = self.populate()
        _, cookie, _, _ = self.http_login()
        for query, want in (("state=held", {held}),
                            ("domain=two.test", {m["id"] for m in self.cli_json(
                                "queue", "ls", "--domain", "two.test")}),
                            ("q=d%40three.test", None), ("q=%3Cfind-me%40example.test%3E", None),
                            (f"q={held}", {held})):
            r, text = self.request("GET", "/queue?" + query, cookie=cookie)
            self.assertEqual(r.status, 200, text)
            ids = {row[0] for row in self.page_table(text, "messages")[1:]}
            if want is None:
                self.assertEqual(len(ids), 1, (query, ids))
                [found] = ids
                self.assertIn("d@three.test", self.hato.queue_show(found)["to"])
            else:
                self.assertEqual(ids, want, query)

    def test_hold_and_release_from_the_page(self):
        self.populate()
        qid = self.submit("hold-me@four.test")
        d = self.browser_login()
        d.get(f"{self.base}/queue/{qid}")
        self.screenshot("message")
        d.find_element(By.LINK_TEXT, "Hold").click()
        self.assertTrue(d.title.startswith("Confirm"), d.title)
        self.assertEqual(self.hato.queue_show(qid)["state"] in ("queued", "deferred"), True)
        self.screenshot("confirm")
        d.find_element(By.ID, "confirm").click()
        WebDriverWait(d, IO_TIMEOUT).until(lambda d: d.title.startswith("Message"))
        self.assertEqual(self.hato.queue_show(qid)["state"], "held")
        wait_for(lambda: re.search(rf"admin action action=hold id={qid} user={ADMIN}",
                                   self.hato.log_text()))
        d.find_element(By.LINK_TEXT, "Release").click()
        d.find_element(By.ID, "confirm").click()
        WebDriverWait(d, IO_TIMEOUT).until(lambda d: d.title.startswith("Message"))
        self.assertNotEqual(self.hato.queue_show(qid)["state"], "held")
        d.get(f"{self.base}/queue")
        self.screenshot("queue")

    def test_action_without_csrf_is_403_and_changes_nothing(self):
        held = self.populate()
        _, cookie, _, _ = self.http_login()
        r, text = self.request("POST", f"/queue/{held}/action", {"action": "release"},
                               cookie=cookie)
        self.assertEqual(r.status, 403, text)
        r, text = self.request("POST", f"/queue/{held}/action", {"action": "release"})
        self.assertEqual(r.status, 403, text)
        self.assertEqual(self.hato.queue_show(held)["state"], "held")


    # -- the overview and its live counters ------------------------------------
    def test_overview_shows_what_queue_summary_shows(self):
        self.populate()
        _, cookie, _, _ = self.http_login()
        r, text = self.request("GET", "/", cookie=cookie)
        self.assertEqual(r.status, 200, text)
        summary = self.cli_json("queue", "summary")[0]["total"]

        def shown(name):
            [value] = re.findall(rf'id="{name}"[^>]*>([^<]*)<', text)  # ids are unique
            return value
        self.assertEqual(shown("queue-messages"), str(summary["messages"]))
        self.assertEqual(shown("queue-held"), str(summary["held"]))
        self.assertEqual(shown("queue-deferred"), str(summary["deferred"]))
        # Every recipient submitted since the start was counted, and deferred at once.
        self.assertGreaterEqual(int(shown("count-accepted")), summary["recipients"])
        self.assertGreaterEqual(int(shown("count-deferred")), summary["recipients"])
        self.assertIn('<svg id="per-minute"', text)
        self.assertIn('<svg id="per-hour"', text)
        self.assertRegex(text, r'<p id="alerts">None.</p>')

    def test_live_counter_moves_when_a_message_is_submitted(self):
        self.populate()
        d = self.browser_login()
        before = int(d.find_element(By.ID, "count-accepted").text)
        self.screenshot("overview")
        self.submit("live@five.test", "live2@five.test")
        # No reload: the page's own element changes, from the /live stream.
        WebDriverWait(d, IO_TIMEOUT).until(
            lambda d: int(d.find_element(By.ID, "count-accepted").text) == before + 2)
        self.assertTrue(d.title.startswith("Overview"))

    def test_queue_table_follows_the_queue_without_reload(self):
        self.populate()
        d = self.browser_login()
        d.get(self.base + "/queue")
        d.execute_script("window.notReloaded = true")
        self.submit("table@six.test")
        WebDriverWait(d, IO_TIMEOUT).until(
            lambda d: "six.test" in d.find_element(By.ID, "qshape").text)
        self.assertTrue(d.execute_script("return window.notReloaded === true"))

    def test_every_control_is_reachable_by_tab(self):
        d = self.browser_login()
        d.get(self.base + "/queue")
        # Named by what they are, not by element: the live script may swap a table meanwhile.
        key = ("return [arguments[0].tagName, arguments[0].id, arguments[0].name,"
               " arguments[0].getAttribute('href'), arguments[0].textContent].join('|')")
        wanted = set(d.execute_script(
            "return Array.from(document.querySelectorAll("
            "'a[href], button, input:not([type=hidden]), select')).map(function(e){"
            "return [e.tagName, e.id, e.name, e.getAttribute('href'), e.textContent].join('|')})"))
        d.find_element(By.TAG_NAME, "body").click()
        reached = set()
        for _ in range(len(wanted) + 5):
            d.switch_to.active_element.send_keys(Keys.TAB)
            reached.add(d.execute_script(key, d.switch_to.active_element))
        self.assertEqual(wanted - reached, set())
        # Every visible input has a label.
        for e in d.find_elements(By.CSS_SELECTOR, "input:not([type=hidden]), select"):
            self.assertEqual(len(d.find_elements(
                By.CSS_SELECTOR, f'label[for="{e.get_attribute("id")}"]')), 1)


class DashboardHttpsTest(unittest.TestCase):
    """Off loopback the dashboard speaks HTTPS only, with the SMTP listeners' certificate."""

    def test_https_with_secure_cookies_off_loopback(self):
        d = Daemon(extra_yaml='admin:\n  web: "0.0.0.0:0"\n')
        self.addCleanup(d.cleanup)
        d.start()
        self.addCleanup(d.stop)
        port = d.port("dashboard")
        c = http.client.HTTPSConnection("127.0.0.1", port, timeout=IO_TIMEOUT,
                                        context=client_context())
        self.addCleanup(c.close)
        c.request("GET", "/login")
        r = c.getresponse()
        r.read()
        self.assertEqual(r.status, 200)
        self.assertRegex(r.getheader("Set-Cookie"), r"HttpOnly; SameSite=Strict; Secure")
        self.assertIn("max-age", r.getheader("Strict-Transport-Security"))
        plain = http.client.HTTPConnection("127.0.0.1", port, timeout=IO_TIMEOUT)
        self.addCleanup(plain.close)
        with self.assertRaises((http.client.HTTPException, ConnectionError, OSError)):
            plain.request("GET", "/login")
            plain.getresponse().read()


if __name__ == "__main__":
    unittest.main()
