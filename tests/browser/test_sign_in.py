"""Signing in, in a real browser: a person invited at the command line sets a password
or registers a passkey through the setup link, signs out, and signs in again."""

import re
import unittest

from playwright.sync_api import expect

from harness import PASSWORD, BrowserTest


class SignIn(BrowserTest):
    def test_a_new_person_registers_a_passkey_and_signs_in_with_it(self):
        line = self.keygate.invite("ada@example.test", "--operator")
        self.page.goto(line["setup_url"])
        # The code left the address bar.
        expect(self.page).to_have_url(re.compile(r"/console/setup$"))
        expect(self.page.get_by_label("New password", exact=True)).to_be_visible()
        self.screenshot("setup")
        self.button("Register a passkey").click()
        expect(self.page).to_have_url(re.compile(r"/console$"))
        expect(self.button("Sign out")).to_be_visible()
        expect(self.page.get_by_text("ada@example.test")).to_be_visible()
        stored = self.credentials()
        self.assertEqual(len(stored), 1)
        self.assertTrue(stored[0]["isResidentCredential"], "a discoverable passkey")
        self.assertEqual(stored[0]["rpId"], "localhost")

        self.button("Sign out").click()
        expect(self.page).to_have_url(re.compile(r"/console/sign-in$"))
        self.screenshot("sign-in")
        self.button("Sign in with a passkey").click()
        expect(self.page).to_have_url(re.compile(r"/console$"))
        expect(self.button("Sign out")).to_be_visible()
        self.assertEqual(self.credentials()[0]["signCount"], 2)

    def test_a_page_asked_for_is_where_a_passkey_sign_in_comes_back_to(self):
        line = self.keygate.invite("bea@example.test", "--operator")
        self.page.goto(line["setup_url"])
        self.button("Register a passkey").click()
        expect(self.button("Sign out")).to_be_visible()
        self.button("Sign out").click()
        # No session: a signed-in page sends the browser to sign in and back.
        self.page.goto("/console/")
        expect(self.page).to_have_url(re.compile(r"/console/sign-in\?next="))
        self.button("Sign in with a passkey").click()
        expect(self.page).to_have_url(re.compile(r"/console/$"))

    def test_a_cancelled_passkey_sign_in_says_so_and_keeps_the_page(self):
        self.page.goto("/console/sign-in")
        # The authenticator holds no passkey for this site: the browser's request
        # ends without one, and the page says so next to the button.
        self.button("Sign in with a passkey").click()
        alert = self.page.locator("[data-passkey-problem]")
        expect(alert).to_be_visible(timeout=30_000)
        expect(alert).to_have_text("The passkey request was cancelled or timed out.")
        expect(self.page).to_have_url(re.compile(r"/console/sign-in$"))

    def test_a_new_person_sets_a_password_and_signs_in_with_it(self):
        line = self.keygate.invite("cy@example.test", "--operator")
        self.page.goto(line["setup_url"])
        self.page.get_by_label("New password", exact=True).fill("too short")
        self.button("Set password").click()
        # The browser's own check (minlength) keeps the form from being sent.
        expect(self.page).to_have_url(re.compile(r"/console/setup$"))
        self.page.get_by_label("New password", exact=True).fill(PASSWORD)
        self.button("Set password").click()
        expect(self.page).to_have_url(re.compile(r"/console$"))
        self.screenshot("home")
        self.button("Sign out").click()

        self.page.get_by_label("Email", exact=True).fill("cy@example.test")
        self.page.get_by_label("Password", exact=True).fill("not the password at all")
        self.button("Sign in").click()
        expect(self.page.get_by_role("alert")).to_have_text(
            "The email or password is wrong."
        )
        self.screenshot("sign-in-refused")
        self.page.get_by_label("Email", exact=True).fill("cy@example.test")
        self.page.get_by_label("Password", exact=True).fill(PASSWORD)
        self.button("Sign in").click()
        expect(self.page).to_have_url(re.compile(r"/console$"))
        expect(self.button("Sign out")).to_be_visible()


if __name__ == "__main__":
    unittest.main()
