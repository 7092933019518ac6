"""axe-core (through axe-playwright-python) on every console screen, WCAG 2.1 A and
AA rules: no violations, and no sideways scrolling at 375 px. axe evaluates code with `new Function`, which the console's
CSP forbids, so this class's browser contexts bypass the CSP (the other tests keep it
and fail on any CSP report)."""

import unittest

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from harness import BrowserTest

RULES = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}


class Accessibility(BrowserTest):
    bypass_csp = True

    def check(self, what):
        # At 375 px wide (a phone) nothing scrolls sideways either.
        width = self.page.evaluate("document.documentElement.scrollWidth")
        self.assertLessEqual(width, 375, f"{what} scrolls sideways at 375 px")
        results = Axe().run(self.page, options=RULES)
        violations = results.response["violations"]
        self.assertGreater(len(results.response["passes"]), 5, f"axe ran its rules on {what}")
        self.assertEqual(
            [],
            [(v["id"], v["help"], [n["target"] for n in v["nodes"]]) for v in violations],
            f"axe on {what}",
        )

    def test_every_screen_passes_axe_at_375_px(self):
        self.page.set_viewport_size({"width": 375, "height": 800})
        self.page.goto("/console/sign-in")
        self.check("sign-in")
        op = self.keygate.operator_token()
        status, account = self.keygate.request(
            "POST", "/admin/v1/accounts", body={"name": "Acme"}, token=op
        )
        status, env = self.keygate.request(
            "POST",
            f"/admin/v1/accounts/{account['id']}/environments",
            body={"name": "Production"},
            token=op,
        )
        line = self.keygate.invite("ally@example.test", "--account", account["id"])
        self.page.goto(line["setup_url"])
        self.check("setup")
        self.page.get_by_label("New password", exact=True).fill("correct horse battery staple")
        self.button("Set password").click()
        expect(self.button("Sign out")).to_be_visible()
        self.check("home")
        keys = f"/console/environments/{env['id']}/keys"
        self.page.goto(keys)
        self.button("Create API key").click()
        self.check("create dialog")
        dialog = self.page.get_by_role("dialog", name="Create API key")
        dialog.get_by_label("feedback:read", exact=True).check()
        dialog.get_by_role("button", name="Create", exact=True).click()
        self.check("secret dialog")
        self.button("Done").click()
        self.check("API keys")
        for path in [
            f"/console/accounts/{account['id']}",
            f"/console/environments/{env['id']}",
            f"/console/environments/{env['id']}/administrators",
            f"/console/environments/{env['id']}/audit",
            "/console/passkeys",
            "/console/nowhere",
        ]:
            self.page.goto(path)
            self.check(path)


if __name__ == "__main__":
    unittest.main()
