"""The `API keys` page in a real browser: create a key, copy its secret from the
one-time dialog, get a token with it, switch it off and on, delete it; errors next
to their field; nothing scrolls sideways at 375 px."""

import re
import unittest

from playwright.sync_api import expect

from harness import BrowserTest


class Keys(BrowserTest):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        op = cls.keygate.operator_token()
        status, account = cls.keygate.request(
            "POST", "/admin/v1/accounts", body={"name": "Acme"}, token=op
        )
        assert status == 201, account
        status, env = cls.keygate.request(
            "POST",
            f"/admin/v1/accounts/{account['id']}/environments",
            body={"name": "Production"},
            token=op,
        )
        assert status == 201, env
        cls.environment = env["id"]

    def open_keys(self, email):
        self.sign_in_new_person(email, "--environment", self.environment)
        self.page.get_by_role("link", name="Production", exact=True).click()
        self.page.get_by_role("link", name="API keys", exact=True).click()
        expect(self.page.get_by_role("heading", name="API keys", exact=True)).to_be_visible()

    def create(self, comment, *scopes):
        self.button("Create API key").click()
        dialog = self.page.get_by_role("dialog", name="Create API key")
        expect(dialog).to_be_visible()
        dialog.get_by_label("Comment", exact=True).fill(comment)
        for scope in scopes:
            dialog.get_by_label(scope, exact=True).check()
        dialog.get_by_role("button", name="Create", exact=True).click()

    def row(self, client_id):
        return self.page.get_by_role("row").filter(has_text=client_id)

    def test_create_copy_use_switch_and_delete_a_key(self):
        self.context.grant_permissions(["clipboard-read", "clipboard-write"])
        self.open_keys("ada@example.test")
        self.create("ingest worker", "feedback:read")

        shown = self.page.get_by_role("dialog", name="API key created")
        expect(shown).to_be_visible()
        expect(shown).to_contain_text("it will not be shown again")
        client_id = shown.get_by_role("textbox", name="Client ID", exact=True).input_value()
        secret = shown.get_by_role("textbox", name="Secret", exact=True).input_value()
        self.assertTrue(secret.startswith("kgs_"), secret)
        self.screenshot("key-created")
        shown.get_by_role("group", name="Secret").get_by_role(
            "button", name="Copy", exact=True
        ).click()
        expect(shown.get_by_role("status")).to_have_text("Secret copied to the clipboard.")
        self.assertEqual(self.page.evaluate("navigator.clipboard.readText()"), secret)

        status, answer = self.keygate.token(client_id, secret)
        self.assertEqual(status, 200, answer)
        self.assertEqual(answer["scope"], "feedback:read")

        shown.get_by_role("button", name="Done", exact=True).click()
        expect(shown).to_be_hidden()
        self.page.reload()
        self.assertNotIn(secret, self.page.content())
        row = self.row(client_id)
        expect(row).to_contain_text("ingest worker")
        expect(row).to_contain_text(secret[:8] + "…")
        self.screenshot("keys")

        switch = row.get_by_role("switch", name="Active", exact=True)
        expect(switch).to_have_attribute("aria-checked", "true")
        expect(switch).to_have_text("Active")
        switch.click()
        expect(switch).to_have_attribute("aria-checked", "false")
        expect(switch).to_have_text("Inactive")
        self.assertEqual(self.keygate.token(client_id, secret)[0], 401)
        switch.click()
        expect(switch).to_have_attribute("aria-checked", "true")
        self.assertEqual(self.keygate.token(client_id, secret)[0], 200)

        row.get_by_role("button", name="Delete", exact=True).click()
        confirm = self.page.get_by_role("dialog", name=f"Delete {client_id}?")
        expect(confirm).to_be_visible()
        confirm.get_by_role("button", name="Delete", exact=True).click()
        expect(self.row(client_id)).to_have_count(0)
        self.assertEqual(self.keygate.token(client_id, secret)[0], 401)

    def test_edit_the_scopes_and_rotate_the_secret(self):
        self.open_keys("dan@example.test")
        self.create("reporting", "feedback:read")
        shown = self.page.get_by_role("dialog", name="API key created")
        client_id = shown.get_by_role("textbox", name="Client ID", exact=True).input_value()
        first = shown.get_by_role("textbox", name="Secret", exact=True).input_value()
        shown.get_by_role("button", name="Done", exact=True).click()

        row = self.row(client_id)
        row.get_by_role("button", name="Edit", exact=True).click()
        dialog = self.page.get_by_role("dialog", name=f"Edit {client_id}")
        expect(dialog.get_by_label("Comment", exact=True)).to_have_value("reporting")
        dialog.get_by_label("feedback:read", exact=True).uncheck()
        dialog.get_by_label("feedback:write", exact=True).check()
        dialog.get_by_role("button", name="Save", exact=True).click()
        scopes = self.row(client_id).get_by_role("cell").nth(2)
        expect(scopes).to_have_text("feedback:write")
        self.assertEqual(self.keygate.token(client_id, first)[1]["scope"], "feedback:write")

        self.row(client_id).get_by_role("button", name="Rotate secret", exact=True).click()
        dialog = self.page.get_by_role("dialog", name=f"Rotate the secret of {client_id}")
        dialog.get_by_label("Old secret valid for", exact=True).select_option(label="1 hour")
        dialog.get_by_role("button", name="Rotate", exact=True).click()
        shown = self.page.get_by_role("dialog", name="Secret rotated")
        second = shown.get_by_role("textbox", name="Secret", exact=True).input_value()
        self.assertNotEqual(first, second)
        # Both work during the overlap.
        self.assertEqual(self.keygate.token(client_id, first)[0], 200)
        self.assertEqual(self.keygate.token(client_id, second)[0], 200)
        shown.get_by_role("button", name="Done", exact=True).click()
        self.row(client_id).get_by_role("button", name="Rotate secret", exact=True).click()
        dialog = self.page.get_by_role("dialog", name=f"Rotate the secret of {client_id}")
        expect(dialog.get_by_label("End the oldest secret now", exact=True)).to_be_visible()

    def test_an_error_shows_next_to_its_field_and_keeps_what_was_typed(self):
        self.open_keys("bea@example.test")
        self.button("Create API key").click()
        dialog = self.page.get_by_role("dialog", name="Create API key")
        dialog.get_by_label("Comment", exact=True).fill("billing export")
        dialog.get_by_label("feedback:write", exact=True).check()
        dialog.get_by_label("Allowed addresses (optional)", exact=True).fill("10.0.0.0/8\nnot-an-address")
        dialog.get_by_role("button", name="Create", exact=True).click()
        dialog = self.page.get_by_role("dialog", name="Create API key")
        expect(dialog).to_be_visible()
        field = dialog.get_by_label("Allowed addresses (optional)", exact=True)
        expect(field).to_have_attribute("aria-invalid", "true")
        expect(dialog.locator("#addresses-error")).to_contain_text("not-an-address")
        expect(dialog.locator("#addresses-error")).to_contain_text("IPv4 or IPv6 address or CIDR")
        expect(dialog.get_by_label("Comment", exact=True)).to_have_value("billing export")
        expect(dialog.get_by_label("feedback:write", exact=True)).to_be_checked()
        self.screenshot("key-error")

    def test_nothing_scrolls_sideways_at_375_px(self):
        self.page.set_viewport_size({"width": 375, "height": 800})
        self.open_keys("cy@example.test")
        self.create("a key with a rather long comment to wrap", "feedback:read", "feedback:write")
        shown = self.page.get_by_role("dialog", name="API key created")
        client_id = shown.get_by_role("textbox", name="Client ID", exact=True).input_value()
        self.button("Done").click()
        expect(self.row(client_id).get_by_role("switch", name="Active")).to_be_visible()
        width = self.page.evaluate("document.documentElement.scrollWidth")
        self.assertLessEqual(width, 375)
        self.screenshot("keys-375")


if __name__ == "__main__":
    unittest.main()
