//! Every page: a template with a typed context. Templates decide no permissions: what
//! a page shows was decided by admin-api's operations before it is rendered.

use askama::Template;

/// The signed-in person, for the header's `Sign out` form.
#[derive(Debug)]
pub(crate) struct Nav {
    pub(crate) email: String,
    pub(crate) csrf_token: String,
    /// Link to the person's passkeys.
    pub(crate) passkeys: bool,
}

/// A link named after its object.
#[derive(Debug)]
pub(crate) struct Link {
    pub(crate) name: String,
    pub(crate) href: String,
}

#[derive(Debug, Template)]
#[template(path = "sign_in.html")]
pub(crate) struct SignInPage {
    pub(crate) nav: Option<Nav>,
    pub(crate) csrf_token: String,
    pub(crate) next: String,
    pub(crate) problem: Option<&'static str>,
    /// `Sign in with a passkey` is offered.
    pub(crate) passkeys: bool,
}

/// What the setup page offers.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum SetupStep {
    /// A new person: `New password` and `Set password`.
    SetPassword,
    /// The invited person, signed in: `Accept invitation`.
    Accept,
    /// The email has a person, not signed in: a link to sign in and come back.
    SignInFirst,
    /// Signed in as someone else.
    OtherPerson,
}

#[derive(Debug, Template)]
#[template(path = "setup.html")]
pub(crate) struct SetupPage {
    pub(crate) nav: Option<Nav>,
    pub(crate) csrf_token: String,
    pub(crate) email: String,
    pub(crate) summary: String,
    pub(crate) step: SetupStep,
    pub(crate) problem: Option<&'static str>,
    /// `Register a passkey` is offered (with `SetupStep::SetPassword`).
    pub(crate) passkeys: bool,
}

/// A passkey in the person's list.
#[derive(Debug)]
pub(crate) struct PasskeyRow {
    /// `YYYY-MM-DD HH:MM` (UTC).
    pub(crate) registered: String,
    /// `YYYY-MM-DD HH:MM` (UTC), or `Never`.
    pub(crate) last_used: String,
    /// The credential id in base64url, for the `Remove` form.
    pub(crate) credential: String,
}

#[derive(Debug, Template)]
#[template(path = "passkeys.html")]
pub(crate) struct PasskeysPage {
    pub(crate) nav: Option<Nav>,
    pub(crate) csrf_token: String,
    pub(crate) passkeys: Vec<PasskeyRow>,
    /// Whether removing one leaves a way to sign in (a password, or another passkey).
    pub(crate) removable: bool,
    /// Signed in recently enough to register a passkey.
    pub(crate) recent: bool,
    pub(crate) recent_minutes: i64,
    pub(crate) sign_in_again: String,
    pub(crate) problem: Option<&'static str>,
}

/// A time as the console shows it: `YYYY-MM-DD HH:MM`, UTC.
pub(crate) fn minutes(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute()
    )
}

/// A key's row in the `API keys` table.
#[derive(Debug)]
pub(crate) struct KeyRow {
    pub(crate) client_id: String,
    /// The masked secret hint, `kgs_AbCd…`.
    pub(crate) hint: String,
    pub(crate) comment: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) active: bool,
    pub(crate) created: String,
    pub(crate) last_used: String,
    pub(crate) expires: String,
    /// The current generation's status: `Valid`, `Suspended`, …
    pub(crate) tokens: &'static str,
    /// How many secrets are live (two: rotating must end the oldest).
    pub(crate) live_secrets: usize,
    /// The edit dialog's fields: the key as it is, or as typed with an error.
    pub(crate) edit: KeyForm,
    /// The edit dialog is open (it came back with an error).
    pub(crate) edit_open: bool,
    /// The owner's keys page (the edit dialog's `Cancel` when open).
    pub(crate) keys_href: String,
}

impl KeyRow {
    /// The prefix of the ids in this key's edit dialog.
    pub(crate) fn field_prefix(&self) -> String {
        format!("edit-{}-", self.client_id)
    }
}

/// The create dialog's fields, as typed, with any error next to its field.
#[derive(Clone, Debug)]
pub(crate) struct KeyForm {
    pub(crate) comment: String,
    /// Every scope the person may grant, and whether it is ticked (in the edit
    /// dialog also the key's scopes the person may not grant, ticked and locked).
    pub(crate) scopes: Vec<(String, bool)>,
    /// Scopes shown but not changeable here: held by the key, not grantable by the
    /// person. They are kept by an edit.
    pub(crate) locked: Vec<String>,
    /// `YYYY-MM-DDTHH:MM` (UTC) or empty.
    pub(crate) expires: String,
    pub(crate) addresses: String,
    /// `(field, message)`: `comment`, `scopes`, `expires_at`, `allowed_addresses`,
    /// or `form`.
    pub(crate) errors: Vec<(&'static str, String)>,
}

impl KeyForm {
    pub(crate) fn empty(scopes: &[String]) -> KeyForm {
        KeyForm {
            comment: String::new(),
            scopes: scopes.iter().map(|s| (s.clone(), false)).collect(),
            locked: Vec::new(),
            expires: String::new(),
            addresses: String::new(),
            errors: Vec::new(),
        }
    }

    /// Records an operation's refusal of `field` (its JSON path, such as
    /// `allowed_addresses[3]`) next to the form field it concerns, naming the entry of
    /// the allowlist at fault.
    pub(crate) fn refused(&mut self, field: &str, message: String) {
        let entry = field
            .strip_prefix("allowed_addresses[")
            .and_then(|r| r.strip_suffix(']'))
            .and_then(|i| i.parse::<usize>().ok())
            .and_then(|i| self.address_entries().get(i).map(|e| (*e).to_owned()));
        let message = match entry {
            Some(entry) => format!("{entry}: {message}"),
            None => message,
        };
        let at = ["allowed_addresses", "scopes", "expires_at", "comment"]
            .into_iter()
            .find(|f| field.starts_with(f))
            .unwrap_or("form");
        self.errors.push((at, message));
    }

    /// The allowlist's entries: one per line (commas and spaces separate too).
    pub(crate) fn address_entries(&self) -> Vec<&str> {
        self.addresses
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|a| !a.is_empty())
            .collect()
    }

    /// The error for `field`, if any.
    pub(crate) fn error(&self, field: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, m)| m.as_str())
    }
}

/// A secret shown once, after creation or rotation.
pub(crate) struct NewSecret {
    /// `API key created` or `Secret rotated`.
    pub(crate) heading: &'static str,
    pub(crate) client_id: String,
    pub(crate) secret: String,
}

impl std::fmt::Debug for NewSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewSecret")
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Template)]
#[template(path = "keys.html")]
pub(crate) struct KeysPage {
    pub(crate) nav: Option<Nav>,
    pub(crate) csrf_token: String,
    /// The owner's name and page.
    pub(crate) name: String,
    pub(crate) owner_href: String,
    /// This page (where the create form posts).
    pub(crate) keys_href: String,
    pub(crate) next_href: Option<String>,
    pub(crate) rows: Vec<KeyRow>,
    pub(crate) create: KeyForm,
    /// The create dialog is open (it came back with an error).
    pub(crate) create_open: bool,
    pub(crate) created: Option<NewSecret>,
    /// A refusal that belongs to no field (a rotation refused, say).
    pub(crate) problem: Option<String>,
}

/// One row, for htmx to swap in after a change.
#[derive(Debug, Template)]
#[template(path = "key_row.html")]
pub(crate) struct KeyRowFragment {
    pub(crate) row: KeyRow,
    pub(crate) csrf_token: String,
}

/// An administrator or a pending invitation on the `Administrators` page.
#[derive(Debug)]
pub(crate) struct AdministratorRow {
    /// `usr_…` or `inv_…`.
    pub(crate) id: String,
    pub(crate) email: String,
    pub(crate) status: String,
    /// `Remove` (a person) or `Withdraw` (an invitation).
    pub(crate) action: &'static str,
    pub(crate) question: String,
    pub(crate) consequence: &'static str,
}

/// A setup link shown once.
pub(crate) struct InvitedLink {
    pub(crate) email: String,
    pub(crate) url: String,
    pub(crate) expires: String,
}

impl std::fmt::Debug for InvitedLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InvitedLink")
            .field("email", &self.email)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Template)]
#[template(path = "administrators.html")]
pub(crate) struct AdministratorsPage {
    pub(crate) nav: Option<Nav>,
    pub(crate) csrf_token: String,
    pub(crate) name: String,
    pub(crate) account: bool,
    pub(crate) owner_href: String,
    pub(crate) page_href: String,
    pub(crate) entries: Vec<AdministratorRow>,
    /// The email typed, kept with its error.
    pub(crate) email: String,
    pub(crate) email_error: Option<String>,
    pub(crate) invited: Option<InvitedLink>,
}

/// An audit record as the `Audit` page shows it.
#[derive(Debug)]
pub(crate) struct AuditRow {
    pub(crate) at: String,
    /// The client id, the person's email, or `system: <command>`.
    pub(crate) actor: String,
    pub(crate) action: String,
    pub(crate) target: String,
    pub(crate) detail: String,
}

#[derive(Debug, Template)]
#[template(path = "audit.html")]
pub(crate) struct AuditPage {
    pub(crate) nav: Option<Nav>,
    pub(crate) name: String,
    pub(crate) owner_href: String,
    pub(crate) records: Vec<AuditRow>,
    pub(crate) next_href: Option<String>,
}

/// An account on the home page, with the environments listed under it.
#[derive(Debug)]
pub(crate) struct AccountEntry {
    pub(crate) link: Link,
    pub(crate) environments: Vec<Link>,
}

#[derive(Debug, Template)]
#[template(path = "home.html")]
pub(crate) struct HomePage {
    pub(crate) nav: Option<Nav>,
    pub(crate) csrf_token: String,
    /// An operator: `Create account`.
    pub(crate) may_create_accounts: bool,
    /// The name typed into `Create account`, kept with its error.
    pub(crate) name: String,
    pub(crate) name_error: Option<String>,
    pub(crate) accounts: Vec<AccountEntry>,
    pub(crate) environments: Vec<Link>,
}

/// An environment on its account's page.
#[derive(Debug)]
pub(crate) struct EnvironmentEntry {
    pub(crate) id: String,
    pub(crate) link: Link,
}

#[derive(Debug, Template)]
#[template(path = "account.html")]
pub(crate) struct AccountPage {
    pub(crate) nav: Option<Nav>,
    pub(crate) csrf_token: String,
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) environments: Vec<EnvironmentEntry>,
    /// `Create environment` and `Close environment` (account administrators).
    pub(crate) manage_environments: bool,
    /// `Close account` (operators).
    pub(crate) manage_account: bool,
    /// The name typed into `Create environment`, kept with its error.
    pub(crate) typed_name: String,
    pub(crate) name_error: Option<String>,
}

#[derive(Debug, Template)]
#[template(path = "environment.html")]
pub(crate) struct EnvironmentPage {
    pub(crate) nav: Option<Nav>,
    pub(crate) id: String,
    pub(crate) name: String,
}

#[derive(Debug, Template)]
#[template(path = "error.html")]
pub(crate) struct ErrorPage {
    pub(crate) nav: Option<Nav>,
    pub(crate) title: &'static str,
    pub(crate) message: &'static str,
}

/// A page's HTML, or the fixed 500 body if the template cannot render (it logs why).
pub(crate) fn render(page: &impl Template) -> Result<String, crate::error::ConsoleError> {
    page.render().map_err(|e| {
        tracing::error!(error = %e, "console template failed to render");
        crate::error::ConsoleError::Internal
    })
}
