"""The browser tests' harness: the real keygate binary in a fresh directory, and a
headless Chromium (Debian's, driven by Playwright) that must not see any script or
style refused by the console's Content-Security-Policy.

Set KEYGATE_BIN to the binary (default: target/debug/keygate) and CHROMIUM to the
browser (default: /usr/bin/chromium). Screenshots go to KEYGATE_SCREENSHOTS
(default: target/browser-screenshots).
"""

import base64
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

from playwright.sync_api import expect, sync_playwright

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("KEYGATE_BIN", os.path.join(ROOT, "target", "debug", "keygate"))
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = os.environ.get(
    "KEYGATE_SCREENSHOTS", os.path.join(ROOT, "target", "browser-screenshots")
)
PASSWORD = "correct horse battery staple"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Keygate:
    """`keygate serve` on a free port, its issuer http://localhost:PORT (a secure
    context, so passkeys are offered), in a fresh directory with its own database."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="keygate-browser-")
        self.port = free_port()
        self.base = f"http://localhost:{self.port}"
        self.env = {
            k: v for k, v in os.environ.items() if not k.startswith("KEYGATE_")
        }
        self.env.update(
            {
                "KEYGATE_LISTEN": f"127.0.0.1:{self.port}",
                "KEYGATE_ISSUER": self.base,
                "KEYGATE_METRICS_LISTEN": "127.0.0.1:0",
                "RUST_LOG": "info",
            }
        )
        self.log_path = os.path.join(self.dir, "keygate.log")
        self.log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [BIN, "serve"],
            cwd=self.dir,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=self.log,
        )
        self.wait_healthy()

    def wait_healthy(self):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"keygate exited early:\n{self.read_log()}")
            try:
                with urllib.request.urlopen(f"{self.base}/healthz", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"keygate did not become healthy:\n{self.read_log()}")

    def cli(self, *args):
        """Runs `keygate ARGS` on the same database; returns its standard output."""
        done = subprocess.run(
            [BIN, *args],
            cwd=self.dir,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if done.returncode != 0:
            raise AssertionError(f"keygate {' '.join(args)} failed: {done.stderr}")
        return done.stdout

    def invite(self, email, *role):
        """An invitation's JSON line (`users invite EMAIL ROLE...`)."""
        return json.loads(self.cli("users", "invite", email, *role))

    def request(self, method, path, body=None, token=None, form=None, basic=None):
        """An HTTP request to the server: (status, parsed JSON or None)."""
        headers = {}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if basic:
            raw = f"{urllib.parse.quote(basic[0])}:{urllib.parse.quote(basic[1])}"
            headers["Authorization"] = "Basic " + base64.b64encode(raw.encode()).decode()
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                text = r.read().decode()
                return r.status, json.loads(text) if text else None
        except urllib.error.HTTPError as e:
            text = e.read().decode()
            try:
                return e.code, json.loads(text)
            except ValueError:
                return e.code, None

    def token(self, client_id, secret, scope=None):
        """`POST /token` with client credentials: (status, answer)."""
        form = {"grant_type": "client_credentials"}
        if scope:
            form["scope"] = scope
        return self.request("POST", "/token", form=form, basic=(client_id, secret))

    def operator_token(self):
        """A token of a fresh operator keypair (`keygate bootstrap`, once)."""
        if not hasattr(self, "_operator"):
            self._operator = json.loads(self.cli("bootstrap"))
        status, answer = self.token(
            self._operator["client_id"], self._operator["client_secret"]
        )
        assert status == 200, answer
        return answer["access_token"]

    def read_log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self):
        self.process.kill()
        self.process.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class BrowserTest(unittest.TestCase):
    """One keygate and one Chromium per test class; a fresh browser context (no
    cookies) per test, with a virtual WebAuthn authenticator (platform, resident
    keys, user verification) attached to its page."""

    @classmethod
    def setUpClass(cls):
        cls.keygate = Keygate()
        cls.playwright = sync_playwright().start()
        cls.browser = cls.playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox"]
        )

    @classmethod
    def tearDownClass(cls):
        cls.browser.close()
        cls.playwright.stop()
        cls.keygate.stop()

    # axe-core needs `new Function`, which the CSP forbids: its tests bypass the CSP.
    bypass_csp = False

    def setUp(self):
        self.context = self.browser.new_context(
            base_url=self.keygate.base, bypass_csp=self.bypass_csp
        )
        self.context.set_default_timeout(10_000)
        self.page = self.context.new_page()
        self.refused = []
        self.page.on("console", self.watch_console)
        self.page.on("pageerror", lambda e: self.refused.append(str(e)))
        self.set_cookies = []
        self.page.on("response", self.collect_cookies)
        self.cdp = self.context.new_cdp_session(self.page)
        self.cdp.send("WebAuthn.enable")
        self.authenticator = self.cdp.send(
            "WebAuthn.addVirtualAuthenticator",
            {
                "options": {
                    "protocol": "ctap2",
                    "transport": "internal",
                    "hasResidentKey": True,
                    "hasUserVerification": True,
                    "isUserVerified": True,
                    "automaticPresenceSimulation": True,
                }
            },
        )["authenticatorId"]

    def collect_cookies(self, response):
        """Every cookie value the server sets, including short-lived ones (a passkey
        ceremony's id) gone by the end of the test."""
        for header in response.headers_array():
            if header["name"].lower() == "set-cookie":
                value = header["value"].split(";", 1)[0].split("=", 1)[-1]
                self.set_cookies.append(value)

    def watch_console(self, message):
        text = message.text
        if message.type == "error" and (
            "Content Security Policy" in text or "Refused to" in text
        ):
            self.refused.append(f"{text} at {message.location}")

    def tearDown(self):
        # No cookie this browser holds (session id, setup code, CSRF value) is in the
        # server's log.
        log = self.keygate.read_log()
        self.assertTrue(self.set_cookies, "the responses' Set-Cookie headers were seen")
        values = self.set_cookies + [c["value"] for c in self.context.cookies()]
        for value in values:
            if len(value) >= 16:
                self.assertNotIn(value, log, "a cookie's value was logged")
        self.context.close()
        self.assertEqual(
            self.refused, [], "the page raised errors or broke its own CSP"
        )

    def credentials(self):
        """The virtual authenticator's credentials."""
        return self.cdp.send(
            "WebAuthn.getCredentials", {"authenticatorId": self.authenticator}
        )["credentials"]

    def screenshot(self, name):
        os.makedirs(SCREENSHOTS, exist_ok=True)
        self.page.screenshot(path=os.path.join(SCREENSHOTS, f"{name}.png"), full_page=True)

    def button(self, name):
        return self.page.get_by_role("button", name=name, exact=True)

    def sign_in_new_person(self, email, *role):
        """Invites `email` with `role` at the command line, sets a password through
        the setup link; the browser is signed in as them."""
        line = self.keygate.invite(email, *role)
        self.page.goto(line["setup_url"])
        self.page.get_by_label("New password", exact=True).fill(PASSWORD)
        self.button("Set password").click()
        expect(self.button("Sign out")).to_be_visible()
