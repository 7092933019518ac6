//! JSON shapes of admin responses. No view has a field for a secret digest; only
//! [`CreatedKeypair`] carries the plaintext secret, once.

use keypair_store::{Account, AuditRecord, Environment, Keypair, Owner, Page};
use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

fn ts(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// An account.
#[derive(Debug, Serialize)]
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
#[derive(Debug, Serialize)]
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
#[derive(Debug, Serialize)]
pub struct OwnerView {
    account_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    environment_id: Option<String>,
}

/// A keypair, never with its secret.
#[derive(Debug, Serialize)]
pub struct KeypairView {
    client_id: String,
    owner: Option<OwnerView>,
    scopes: Vec<String>,
    comment: String,
    enabled: bool,
    secret_hint: String,
    token_lifetime_seconds: Option<u32>,
    created_at: String,
    updated_at: String,
    last_used_at: Option<String>,
}

impl From<&Keypair> for KeypairView {
    fn from(k: &Keypair) -> Self {
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
            token_lifetime_seconds: k.token_lifetime_seconds,
            created_at: ts(k.created_at),
            updated_at: ts(k.updated_at),
            last_used_at: k.last_used_at.map(ts),
        }
    }
}

/// A new keypair with its secret: the only response that ever contains it.
#[derive(Serialize)]
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
    /// The view of a keypair just created, with its secret.
    pub fn new(keypair: &Keypair, secret: &keypair_store::ClientSecret) -> Self {
        CreatedKeypair {
            keypair: keypair.into(),
            client_secret: secret.expose().to_owned(),
        }
    }
}

/// An audit record.
#[derive(Debug, Serialize)]
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

/// `{"items": [...], "next_cursor": ...}`.
#[derive(Debug, Serialize)]
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
}
