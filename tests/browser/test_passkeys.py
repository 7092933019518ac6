"""A signed-in person's passkeys page in a real browser: add a passkey next to a
password, sign in with it, remove it through its confirmation dialog."""

import re
import unittest

from playwright.sync_api import expect

from harness import PASSWORD, BrowserTest


class Passkeys(BrowserTest):
    def test_a_person_with_a_password_adds_a_passkey_and_removes_it(self):
        line = self.keygate.invite("dee@example.test", "--operator")
        self.page.goto(line["setup_url"])
        self.page.get_by_label("New password", exact=True).fill(PASSWORD)
        self.button("Set password").click()
        expect(self.button("Sign out")).to_be_visible()

        self.page.get_by_role("link", name="Passkeys", exact=True).click()
        expect(self.page.get_by_text("You have no passkeys yet.")).to_be_visible()
        self.button("Register a passkey").click()
        rows = self.page.get_by_role("row")
        expect(rows).to_have_count(2)  # the header and one passkey
        expect(rows.nth(1).get_by_role("cell").nth(1)).to_have_text("Never")
        self.screenshot("passkeys")

        self.button("Sign out").click()
        self.page.goto("/console/sign-in?next=/console/passkeys")
        self.button("Sign in with a passkey").click()
        expect(self.page).to_have_url(re.compile(r"/console/passkeys$"))
        expect(rows.nth(1).get_by_role("cell").nth(1)).not_to_have_text("Never")

        # Remove asks first, in a dialog; Cancel leaves the passkey.
        rows.nth(1).get_by_role("button", name="Remove", exact=True).click()
        dialog = self.page.get_by_role("dialog")
        expect(dialog).to_be_visible()
        expect(dialog).to_contain_text("Remove this passkey?")
        self.screenshot("passkeys-remove")
        dialog.get_by_role("button", name="Cancel", exact=True).click()
        expect(dialog).to_be_hidden()
        expect(rows).to_have_count(2)
        rows.nth(1).get_by_role("button", name="Remove", exact=True).click()
        dialog.get_by_role("button", name="Remove", exact=True).click()
        expect(self.page.get_by_text("You have no passkeys yet.")).to_be_visible()


if __name__ == "__main__":
    unittest.main()
