"""Administrators in a real browser: an account administrator invites someone to an
environment from its Administrators page, copies the link; the invited person sets a
password and sees only that environment; a page out of reach is a 404 page."""

import re
import unittest

from playwright.sync_api import expect

from harness import PASSWORD, BrowserTest


class People(BrowserTest):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        op = cls.keygate.operator_token()
        status, account = cls.keygate.request(
            "POST", "/admin/v1/accounts", body={"name": "Acme"}, token=op
        )
        assert status == 201, account
        cls.account = account["id"]
        cls.environments = {}
        for name in ["Production", "Staging"]:
            status, env = cls.keygate.request(
                "POST",
                f"/admin/v1/accounts/{account['id']}/environments",
                body={"name": name},
                token=op,
            )
            assert status == 201, env
            cls.environments[name] = env["id"]

    def test_an_invited_administrator_sees_only_their_environment(self):
        self.context.grant_permissions(["clipboard-read", "clipboard-write"])
        self.sign_in_new_person("boss@example.test", "--account", self.account)
        self.page.get_by_role("link", name="Production", exact=True).click()
        self.page.get_by_role("link", name="Administrators", exact=True).click()
        self.page.get_by_label("Email", exact=True).fill("eve@example.test")
        self.button("Invite").click()
        shown = self.page.get_by_role("dialog", name="Invitation created")
        expect(shown).to_be_visible()
        link = shown.get_by_role("textbox", name="Setup link", exact=True).input_value()
        shown.get_by_role("button", name="Copy", exact=True).click()
        self.assertEqual(self.page.evaluate("navigator.clipboard.readText()"), link)
        self.screenshot("administrators-invited")
        shown.get_by_role("button", name="Done", exact=True).click()
        row = self.page.get_by_role("row").filter(has_text="eve@example.test")
        expect(row).to_contain_text("Invited")
        self.button("Sign out").click()

        self.page.goto(link)
        self.page.get_by_label("New password", exact=True).fill(PASSWORD)
        self.button("Set password").click()
        expect(self.page.get_by_role("link", name="Production", exact=True)).to_be_visible()
        expect(self.page.get_by_role("link", name="Staging", exact=True)).to_have_count(0)
        expect(self.page.get_by_role("link", name="Acme", exact=True)).to_have_count(0)

        # Out of reach: the same 404 page as a missing one.
        self.page.goto(f"/console/environments/{self.environments['Staging']}/keys")
        expect(self.page.get_by_role("heading", name="Not found", exact=True)).to_be_visible()
        self.page.goto(f"/console/accounts/{self.account}/administrators")
        expect(self.page.get_by_role("heading", name="Not found", exact=True)).to_be_visible()

    def test_an_operator_creates_and_closes_an_account_and_an_environment(self):
        self.sign_in_new_person("op@example.test", "--operator")
        self.button("Create account").click()
        dialog = self.page.get_by_role("dialog", name="Create account")
        expect(dialog.get_by_label("Name", exact=True)).to_be_focused()
        dialog.get_by_label("Name", exact=True).fill("Initech")
        dialog.get_by_role("button", name="Create", exact=True).click()
        expect(self.page.get_by_role("heading", name="Initech", exact=True)).to_be_visible()

        self.button("Create environment").click()
        dialog = self.page.get_by_role("dialog", name="Create environment")
        dialog.get_by_label("Name", exact=True).fill("QA")
        dialog.get_by_role("button", name="Create", exact=True).click()
        expect(self.page.get_by_role("link", name="QA", exact=True)).to_be_visible()
        self.screenshot("account")

        item = self.page.get_by_role("listitem").filter(has=self.page.get_by_role("link", name="QA", exact=True))
        item.get_by_role("button", name="Close environment", exact=True).click()
        confirm = self.page.get_by_role("dialog", name="Close QA?")
        expect(confirm).to_contain_text("This deletes the environment QA")
        confirm.get_by_role("button", name="Close environment", exact=True).click()
        expect(self.page.get_by_role("link", name="QA", exact=True)).to_have_count(0)

        self.page.get_by_role("button", name="Close account", exact=True).click()
        confirm = self.page.get_by_role("dialog", name="Close Initech?")
        expect(confirm).to_contain_text("This deletes the account Initech")
        confirm.get_by_role("button", name="Close account", exact=True).click()
        expect(self.page).to_have_url(re.compile(r"/console$"))
        expect(self.page.get_by_role("link", name="Initech", exact=True)).to_have_count(0)

    def test_keyboard_only_creation_of_a_key(self):
        self.sign_in_new_person("kay@example.test", "--account", self.account)
        self.page.goto(f"/console/environments/{self.environments['Staging']}/keys")
        create = self.button("Create API key")
        create.focus()
        self.page.keyboard.press("Enter")
        dialog = self.page.get_by_role("dialog", name="Create API key")
        expect(dialog).to_be_visible()
        # Tab to the comment field, type, tick a scope with Space, submit with Enter.
        comment = dialog.get_by_label("Comment", exact=True)
        for _ in range(10):
            if comment.evaluate("e => e === document.activeElement"):
                break
            self.page.keyboard.press("Tab")
        self.assertTrue(comment.evaluate("e => e === document.activeElement"), "Tab reaches Comment")
        self.page.keyboard.type("typed by keyboard")
        self.page.keyboard.press("Tab")
        self.page.keyboard.press("Space")
        expect(dialog.get_by_label("feedback:read", exact=True)).to_be_checked()
        self.page.keyboard.press("Enter")
        shown = self.page.get_by_role("dialog", name="API key created")
        expect(shown).to_be_visible()
        expect(shown.get_by_role("button", name="Done", exact=True)).to_be_focused()
        self.page.keyboard.press("Enter")
        expect(self.page.get_by_role("row").filter(has_text="typed by keyboard")).to_have_count(1)


if __name__ == "__main__":
    unittest.main()
