//! JSON shapes of admin responses. No view has a field for a secret digest; only
//! [`CreatedKeypair`] and [`RotatedSecret`] carry a plaintext secret, and only
//! [`InvitationCreated`] a setup link, once.

use keypair_store::{Account, AuditRecord, ClientSecret, Environment, Keypair, Owner, Page};

use crate::ops::{AdministratorEntry, CreatedInvitation};
use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

fn ts(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// An account.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AccountView {
    id: String,
    name: String,
    created_at: String,
}

impl From<&Account> for AccountView {
    fn from(a: &Account) -> Self {
        AccountView {
            id: a.id.to_string(),
            name: a.name.clone(),
            created_at: ts(a.created_at),
        }
    }
}

/// An environment.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EnvironmentView {
    id: String,
    account_id: String,
    name: String,
    created_at: String,
}

impl From<&Environment> for EnvironmentView {
    fn from(e: &Environment) -> Self {
        EnvironmentView {
            id: e.id.to_string(),
            account_id: e.account_id.to_string(),
            name: e.name.clone(),
            created_at: ts(e.created_at),
        }
    }
}

/// A keypair's owner: `{"account_id"}`, `{"account_id","environment_id"}`, or `null`
/// for operator keypairs.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OwnerView {
    account_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    environment_id: Option<String>,
}

/// One live secret of a keypair: its hint and times, never the secret.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SecretView {
    hint: String,
    created_at: String,
    expires_at: Option<String>,
}

/// The secrets of `k` that work at `now`, newest first.
fn live_secrets(k: &Keypair, now: OffsetDateTime) -> Vec<SecretView> {
    k.live_secrets(now)
        .map(|s| SecretView {
            hint: s.hint.clone(),
            created_at: ts(s.created_at),
            expires_at: s.expires_at.map(ts),
        })
        .collect()
}

/// A keypair, never with its secret.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct KeypairView {
    client_id: String,
    owner: Option<OwnerView>,
    scopes: Vec<String>,
    comment: String,
    enabled: bool,
    secret_hint: String,
    secrets: Vec<SecretView>,
    expires_at: Option<String>,
    allowed_addresses: Vec<String>,
    token_lifetime_seconds: Option<u32>,
    created_at: String,
    updated_at: String,
    last_used_at: Option<String>,
}

impl KeypairView {
    /// The view of `k` at `now`: `secrets` lists the ones still live then.
    pub fn new(k: &Keypair, now: OffsetDateTime) -> Self {
        KeypairView {
            client_id: k.client_id.to_string(),
            owner: match &k.owner {
                Owner::Operator => None,
                Owner::Account(a) => Some(OwnerView {
                    account_id: a.to_string(),
                    environment_id: None,
                }),
                Owner::Environment {
                    account_id,
                    environment_id,
                } => Some(OwnerView {
                    account_id: account_id.to_string(),
                    environment_id: Some(environment_id.to_string()),
                }),
            },
            scopes: k.scopes.iter().map(|s| s.to_string()).collect(),
            comment: k.comment.clone(),
            enabled: k.enabled,
            secret_hint: k.secret_hint.clone(),
            secrets: live_secrets(k, now),
            expires_at: k.expires_at.map(ts),
            allowed_addresses: k.allowed_addresses.entries().collect(),
            token_lifetime_seconds: k.token_lifetime_seconds,
            created_at: ts(k.created_at),
            updated_at: ts(k.updated_at),
            last_used_at: k.last_used_at.map(ts),
        }
    }
}

/// A new keypair with its secret: the only response that ever contains it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CreatedKeypair {
    #[serde(flatten)]
    keypair: KeypairView,
    client_secret: String,
}

impl std::fmt::Debug for CreatedKeypair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedKeypair")
            .field("keypair", &self.keypair)
            .field("client_secret", &"***")
            .finish()
    }
}

impl CreatedKeypair {
    /// The view of a keypair just created at `now`, with its secret.
    pub fn new(keypair: &Keypair, secret: &ClientSecret, now: OffsetDateTime) -> Self {
        CreatedKeypair {
            keypair: KeypairView::new(keypair, now),
            client_secret: secret.expose().to_owned(),
        }
    }
}

/// The answer to a rotation: the new secret, shown this once, its hint, and the
/// keypair's live secrets (the new one first).
#[derive(Serialize, utoipa::ToSchema)]
pub struct RotatedSecret {
    client_secret: String,
    secret_hint: String,
    secrets: Vec<SecretView>,
}

impl std::fmt::Debug for RotatedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RotatedSecret")
            .field("client_secret", &"***")
            .field("secret_hint", &self.secret_hint)
            .field("secrets", &self.secrets)
            .finish()
    }
}

impl RotatedSecret {
    /// The view of a rotation done at `now`.
    pub fn new(keypair: &Keypair, secret: &ClientSecret, now: OffsetDateTime) -> Self {
        RotatedSecret {
            client_secret: secret.expose().to_owned(),
            secret_hint: secret.hint(),
            secrets: live_secrets(keypair, now),
        }
    }
}

/// An audit record.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditView {
    id: String,
    actor: String,
    action: String,
    target: String,
    detail: String,
    at: String,
}

impl From<&AuditRecord> for AuditView {
    fn from(r: &AuditRecord) -> Self {
        AuditView {
            id: r.id.clone(),
            actor: r.actor.clone(),
            action: r.action.clone(),
            target: r.target.clone(),
            detail: r.detail.clone(),
            at: ts(r.at),
        }
    }
}

/// The answer to an invite: the same fields whether or not the email already has a
/// user. The only response that shows the setup link.
#[derive(Serialize, utoipa::ToSchema)]
pub struct InvitationCreated {
    invitation_id: String,
    email: String,
    role: &'static str,
    expires_at: String,
    setup_url: String,
}

impl std::fmt::Debug for InvitationCreated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InvitationCreated")
            .field("invitation_id", &self.invitation_id)
            .field("role", &self.role)
            .field("expires_at", &self.expires_at)
            .field("setup_url", &"***")
            .finish_non_exhaustive()
    }
}

impl From<&CreatedInvitation> for InvitationCreated {
    fn from(c: &CreatedInvitation) -> Self {
        InvitationCreated {
            invitation_id: c.invitation.id.to_string(),
            email: c.invitation.email.clone(),
            role: c.invitation.role(),
            expires_at: ts(c.invitation.expires_at),
            setup_url: c.setup_url().to_owned(),
        }
    }
}

/// One entry of an administrators listing: a person bound (`"type": "user"`) or a
/// pending invitation (`"type": "invitation"`), never a code or a link.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AdministratorView {
    /// A person bound to the owner.
    User {
        /// `usr_…`.
        user_id: String,
        /// The person's email.
        email: String,
        /// The person's display name (may be empty).
        name: String,
        /// When the binding was made.
        since: String,
    },
    /// An invitation still pending.
    Invitation {
        /// `inv_…`.
        invitation_id: String,
        /// The email invited.
        email: String,
        /// The role it grants.
        role: &'static str,
        /// When it was made.
        created_at: String,
        /// When it stops being usable.
        expires_at: String,
    },
}

impl From<&AdministratorEntry> for AdministratorView {
    fn from(e: &AdministratorEntry) -> Self {
        match e {
            AdministratorEntry::User(a) => AdministratorView::User {
                user_id: a.user.id.to_string(),
                email: a.user.email.clone(),
                name: a.user.name.clone(),
                since: ts(a.since),
            },
            AdministratorEntry::Invitation(i) => AdministratorView::Invitation {
                invitation_id: i.id.to_string(),
                email: i.email.clone(),
                role: i.role(),
                created_at: ts(i.created_at),
                expires_at: ts(i.expires_at),
            },
        }
    }
}

/// `{"items": [...], "next_cursor": ...}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ListView<V> {
    items: Vec<V>,
    next_cursor: Option<String>,
}

impl<V> ListView<V> {
    /// Maps a store page to its view.
    pub fn of<T>(page: &Page<T>, f: impl Fn(&T) -> V) -> Self {
        ListView {
            items: page.items.iter().map(f).collect(),
            next_cursor: page.next_cursor.clone(),
        }
    }

    /// A whole listing in one answer (`next_cursor` null).
    pub fn all<T>(items: &[T], f: impl Fn(&T) -> V) -> Self {
        ListView {
            items: items.iter().map(f).collect(),
            next_cursor: None,
        }
    }
}

/// Every error: `{"error": code, "message": text}`, with `field` (the JSON path,
/// path or query parameter at fault) on a 400.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorView {
    /// `invalid_request`, `invalid_token`, `forbidden`, `not_found`, `conflict`,
    /// `payload_too_large`, `unsupported_media_type`, `unavailable`, `internal_error`.
    pub error: String,
    /// A person-readable explanation.
    pub message: String,
    /// On a 400: what was wrong.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}
