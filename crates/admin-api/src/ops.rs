//! Admin operations: permission checks from the caller's [`Principal`], then one store
//! call. No HTTP types; `now` is a parameter.

mod administrators;

pub use administrators::{
    Administered, AdministratorEntry, AdministratorId, CreatedInvitation, InviteInput,
};

use keypair_store::{
    Account, AccountId, AddressList, AuditRecord, ClientId, ClientSecret, Environment,
    EnvironmentId, Keypair, KeypairPatch, NewKeypair, Owner, Page, PageRequest, Rotation, ScopeSet,
    INTROSPECT_SCOPE, MAX_OVERLAP_SECONDS, OPERATOR_SCOPE,
};
use serde::Deserialize;
use time::OffsetDateTime;

use crate::access::{Accounts, Reach};
use crate::body::{nullable, Rfc3339Time};
use crate::principal::Principal;
use crate::{AdminApi, AdminError};

/// Most scopes one keypair may hold.
pub const MAX_SCOPES: usize = 64;

/// `{"name": "..."}` for accounts and environments.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NameInput {
    /// 1 to 200 characters.
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
}

/// `POST .../keypairs`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKeypairInput {
    /// Allowed scopes, each from the catalogue (`keygate:operator` excluded;
    /// `keygate:introspect` from operators only).
    pub scopes: Vec<String>,
    /// Purpose (up to 1000 characters; default empty).
    #[serde(default)]
    pub comment: String,
    /// Whether it may get tokens (default true).
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    /// Token lifetime for this keypair, 1 to `token.max_lifetime_seconds`.
    #[serde(default)]
    pub token_lifetime_seconds: Option<u32>,
    /// When it stops getting tokens (RFC 3339; absent or null: never). Must lie ahead.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<Rfc3339Time>,
    /// Where it may be used from: IPv4 or IPv6 addresses or CIDRs, at most
    /// [`keypair_store::MAX_ALLOWED_ADDRESSES`] (default empty: anywhere).
    #[serde(default)]
    pub allowed_addresses: Vec<String>,
}

fn enabled_by_default() -> bool {
    true
}

/// `POST /keypairs/{client_id}/revoke-tokens`: no fields (the body may be absent,
/// empty or `{}`).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeTokensInput {}

/// `PATCH /keypairs/{client_id}`: absent fields stay as they are.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeypairPatchInput {
    /// New enabled flag.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// New scopes (the same rules as at creation).
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    /// New comment.
    #[serde(default)]
    pub comment: Option<String>,
    /// New expiry (RFC 3339, must lie ahead); `null` removes it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<Option<Rfc3339Time>>,
    /// New address allowlist (`[]`: anywhere).
    #[serde(default)]
    pub allowed_addresses: Option<Vec<String>>,
    /// New token lifetime, 1 to `token.max_lifetime_seconds`; `null` returns to the
    /// global `token.lifetime_seconds`.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<u32>)]
    pub token_lifetime_seconds: Option<Option<u32>>,
}

/// `POST /keypairs/{client_id}/secrets`: a rotation. The body may be absent only to be
/// told that `previous_secret_expires_in_seconds` is required.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotationInput {
    /// How long the secrets live now keep working: 0 to [`MAX_OVERLAP_SECONDS`]
    /// (required; `Option` only so that a missing value is a 400 naming it).
    #[serde(default)]
    pub previous_secret_expires_in_seconds: Option<u32>,
    /// With two secrets live, end the oldest instead of answering 409.
    #[serde(default)]
    pub end_oldest: bool,
}

impl RotationInput {
    fn rotation(&self) -> Result<Rotation, AdminError> {
        match self.previous_secret_expires_in_seconds {
            Some(n) if n <= MAX_OVERLAP_SECONDS => Ok(Rotation {
                previous_secret_expires_in_seconds: n,
                end_oldest: self.end_oldest,
            }),
            _ => Err(AdminError::bad(
                "previous_secret_expires_in_seconds",
                format!("required: a whole number of seconds from 0 to {MAX_OVERLAP_SECONDS}"),
            )),
        }
    }
}

/// An allowlist from a body, the 400 naming the list or the entry at fault.
fn addresses(entries: &[String]) -> Result<AddressList, AdminError> {
    AddressList::parse(entries)
        .map_err(|e| AdminError::bad(e.path("allowed_addresses"), e.to_string()))
}

/// 404 for what the caller cannot see, 403 for what it sees but may not change.
fn require(reach: Reach, need: Reach) -> Result<(), AdminError> {
    match (reach, need) {
        (Reach::None, _) => Err(AdminError::NotFound),
        (Reach::Read, Reach::Manage) => Err(AdminError::Forbidden),
        _ => Ok(()),
    }
}

impl AdminApi {
    /// Scopes a create or PATCH body gives a keypair: each in the catalogue, never
    /// `keygate:operator` (the catalogue refuses it), and `keygate:introspect` only
    /// from a caller that may grant it, whether or not the keypair holds it already.
    fn scopes(&self, caller: &Principal, scopes: &[String]) -> Result<ScopeSet, AdminError> {
        if scopes.len() > MAX_SCOPES {
            return Err(AdminError::bad(
                "scopes",
                format!("at most {MAX_SCOPES} scopes"),
            ));
        }
        let scopes = self.catalogue.validate_for_keypair(scopes)?;
        if scopes.contains(INTROSPECT_SCOPE) && !caller.may_grant_introspect() {
            return Err(AdminError::bad(
                "scopes",
                format!("only operators may grant `{INTROSPECT_SCOPE}`"),
            ));
        }
        Ok(scopes)
    }

    /// The scopes `caller` may put on a keypair, in catalogue order: the catalogue
    /// without `keygate:operator`, and without `keygate:introspect` unless the caller
    /// may grant it (the same rule [`AdminApi::create_environment_keypair`] applies).
    pub fn grantable_scopes(&self, caller: &Principal) -> Vec<String> {
        self.catalogue
            .scopes()
            .map(|s| s.as_str())
            .filter(|s| *s != OPERATOR_SCOPE)
            .filter(|s| *s != INTROSPECT_SCOPE || caller.may_grant_introspect())
            .map(str::to_owned)
            .collect()
    }

    /// A per-keypair token lifetime: 1 to `token.max_lifetime_seconds`.
    fn token_lifetime(&self, seconds: Option<u32>) -> Result<Option<u32>, AdminError> {
        match seconds {
            Some(l) if l == 0 || l > self.max_token_lifetime_seconds => Err(AdminError::bad(
                "token_lifetime_seconds",
                format!("must be between 1 and {}", self.max_token_lifetime_seconds),
            )),
            other => Ok(other),
        }
    }

    fn new_keypair(
        &self,
        caller: &Principal,
        owner: Owner,
        input: NewKeypairInput,
    ) -> Result<NewKeypair, AdminError> {
        Ok(NewKeypair {
            owner,
            scopes: self.scopes(caller, &input.scopes)?,
            comment: input.comment,
            enabled: input.enabled,
            token_lifetime_seconds: self.token_lifetime(input.token_lifetime_seconds)?,
            expires_at: input.expires_at.map(|t| t.0),
            allowed_addresses: addresses(&input.allowed_addresses)?,
        })
    }

    /// `POST /accounts` (operators only).
    pub fn create_account(
        &self,
        caller: &Principal,
        input: NameInput,
        now: OffsetDateTime,
    ) -> Result<Account, AdminError> {
        if !caller.may_create_accounts() {
            return Err(AdminError::Forbidden);
        }
        Ok(self
            .store
            .create_account(caller.actor(), &input.name, now)?)
    }

    /// `GET /accounts`: the accounts the caller reads (operators: all), newest first.
    pub fn list_accounts(
        &self,
        caller: &Principal,
        page: &PageRequest,
    ) -> Result<Page<Account>, AdminError> {
        let only = match caller.accounts() {
            Accounts::All => None,
            Accounts::Only(ids) => Some(ids),
        };
        Ok(self.store.list_accounts(only.as_deref(), page)?)
    }

    /// `GET /accounts/{id}`.
    pub fn get_account(&self, caller: &Principal, id: &AccountId) -> Result<Account, AdminError> {
        require(caller.account(id), Reach::Read)?;
        Ok(self.store.get_account(id)?)
    }

    /// `DELETE /accounts/{id}` (operators only; cascades).
    pub fn close_account(
        &self,
        caller: &Principal,
        id: &AccountId,
        now: OffsetDateTime,
    ) -> Result<(), AdminError> {
        require(caller.account(id), Reach::Manage)?;
        Ok(self.store.close_account(caller.actor(), id, now)?)
    }

    /// `POST /accounts/{id}/environments`.
    pub fn create_environment(
        &self,
        caller: &Principal,
        account: &AccountId,
        input: NameInput,
        now: OffsetDateTime,
    ) -> Result<Environment, AdminError> {
        require(caller.account_children(account), Reach::Manage)?;
        Ok(self
            .store
            .create_environment(caller.actor(), account, &input.name, now)?)
    }

    /// `GET /accounts/{id}/environments`.
    pub fn list_environments(
        &self,
        caller: &Principal,
        account: &AccountId,
        page: &PageRequest,
    ) -> Result<Page<Environment>, AdminError> {
        require(caller.account_children(account), Reach::Read)?;
        self.store.get_account(account)?;
        Ok(self.store.list_environments(account, page)?)
    }

    fn visible_environment(
        &self,
        caller: &Principal,
        id: &EnvironmentId,
    ) -> Result<(Environment, Reach), AdminError> {
        let env = self.store.get_environment(id)?;
        let reach = caller.environment(&env.account_id, &env.id);
        require(reach, Reach::Read)?;
        Ok((env, reach))
    }

    /// `GET /environments/{id}`.
    pub fn get_environment(
        &self,
        caller: &Principal,
        id: &EnvironmentId,
    ) -> Result<Environment, AdminError> {
        Ok(self.visible_environment(caller, id)?.0)
    }

    /// `DELETE /environments/{id}` (cascades).
    pub fn close_environment(
        &self,
        caller: &Principal,
        id: &EnvironmentId,
        now: OffsetDateTime,
    ) -> Result<(), AdminError> {
        let (_, reach) = self.visible_environment(caller, id)?;
        require(reach, Reach::Manage)?;
        Ok(self.store.close_environment(caller.actor(), id, now)?)
    }

    /// `POST /accounts/{id}/keypairs`.
    pub fn create_account_keypair(
        &self,
        caller: &Principal,
        account: &AccountId,
        input: NewKeypairInput,
        now: OffsetDateTime,
    ) -> Result<(Keypair, ClientSecret), AdminError> {
        require(caller.account_children(account), Reach::Manage)?;
        let new = self.new_keypair(caller, Owner::Account(account.clone()), input)?;
        Ok(self.store.create_keypair(caller.actor(), new, now)?)
    }

    /// `POST /environments/{id}/keypairs`.
    pub fn create_environment_keypair(
        &self,
        caller: &Principal,
        env: &EnvironmentId,
        input: NewKeypairInput,
        now: OffsetDateTime,
    ) -> Result<(Keypair, ClientSecret), AdminError> {
        let env = self.store.get_environment(env)?;
        require(
            caller.environment_keypairs(&env.account_id, &env.id),
            Reach::Manage,
        )?;
        let owner = Owner::Environment {
            account_id: env.account_id,
            environment_id: env.id,
        };
        let new = self.new_keypair(caller, owner, input)?;
        Ok(self.store.create_keypair(caller.actor(), new, now)?)
    }

    /// `GET /accounts/{id}/keypairs`: account-owned keypairs only.
    pub fn list_account_keypairs(
        &self,
        caller: &Principal,
        account: &AccountId,
        page: &PageRequest,
    ) -> Result<Page<Keypair>, AdminError> {
        require(caller.account_children(account), Reach::Read)?;
        self.store.get_account(account)?;
        Ok(self
            .store
            .list_keypairs(&Owner::Account(account.clone()), page)?)
    }

    /// `GET /environments/{id}/keypairs`.
    pub fn list_environment_keypairs(
        &self,
        caller: &Principal,
        env: &EnvironmentId,
        page: &PageRequest,
    ) -> Result<Page<Keypair>, AdminError> {
        let env = self.store.get_environment(env)?;
        require(
            caller.environment_keypairs(&env.account_id, &env.id),
            Reach::Read,
        )?;
        let owner = Owner::Environment {
            account_id: env.account_id,
            environment_id: env.id,
        };
        Ok(self.store.list_keypairs(&owner, page)?)
    }

    fn visible_keypair(
        &self,
        caller: &Principal,
        id: &ClientId,
        need: Reach,
    ) -> Result<Keypair, AdminError> {
        let keypair = self.store.get_keypair(id)?;
        require(caller.keypair(&keypair.owner), need)?;
        Ok(keypair)
    }

    /// `GET /keypairs/{client_id}`.
    pub fn get_keypair(&self, caller: &Principal, id: &ClientId) -> Result<Keypair, AdminError> {
        self.visible_keypair(caller, id, Reach::Read)
    }

    /// `PATCH /keypairs/{client_id}`: effective at `/token` on the next request. All
    /// fields of one body apply together or not at all.
    pub fn update_keypair(
        &self,
        caller: &Principal,
        id: &ClientId,
        input: KeypairPatchInput,
        now: OffsetDateTime,
    ) -> Result<Keypair, AdminError> {
        self.visible_keypair(caller, id, Reach::Manage)?;
        let patch = KeypairPatch {
            enabled: input.enabled,
            scopes: input
                .scopes
                .as_deref()
                .map(|s| self.scopes(caller, s))
                .transpose()?,
            comment: input.comment,
            expires_at: input.expires_at.map(|e| e.map(|t| t.0)),
            allowed_addresses: input
                .allowed_addresses
                .as_deref()
                .map(addresses)
                .transpose()?,
            token_lifetime_seconds: input
                .token_lifetime_seconds
                .map(|l| self.token_lifetime(l))
                .transpose()?,
            // Tokens issued so far live at most this long: an earlier `expires_at`
            // invalidates them only when it cuts into that span.
            longest_token_lifetime: Some(time::Duration::seconds(i64::from(
                self.max_token_lifetime_seconds,
            ))),
        };
        Ok(self.store.update_keypair(caller.actor(), id, patch, now)?)
    }

    /// `POST /keypairs/{client_id}/secrets`: a new secret, returned this once; the
    /// secrets live so far keep working for the overlap asked for. The same reach as
    /// changing the keypair.
    pub fn rotate_secret(
        &self,
        caller: &Principal,
        id: &ClientId,
        input: RotationInput,
        now: OffsetDateTime,
    ) -> Result<(Keypair, ClientSecret), AdminError> {
        self.visible_keypair(caller, id, Reach::Manage)?;
        let rotation = input.rotation()?;
        Ok(self
            .store
            .rotate_secret(caller.actor(), id, rotation, now)?)
    }

    /// `DELETE /keypairs/{client_id}/secrets/{secret_hint}`: that secret ends now (and
    /// with it the tokens issued so far). Never the only live one.
    pub fn end_secret(
        &self,
        caller: &Principal,
        id: &ClientId,
        hint: &str,
        now: OffsetDateTime,
    ) -> Result<(), AdminError> {
        self.visible_keypair(caller, id, Reach::Manage)?;
        Ok(self.store.end_secret(caller.actor(), id, hint, now)?)
    }

    /// `DELETE /keypairs/{client_id}`.
    pub fn delete_keypair(
        &self,
        caller: &Principal,
        id: &ClientId,
        now: OffsetDateTime,
    ) -> Result<(), AdminError> {
        self.visible_keypair(caller, id, Reach::Manage)?;
        Ok(self.store.delete_keypair(caller.actor(), id, now)?)
    }

    /// `POST /keypairs/{client_id}/revoke-tokens`: every token issued to the keypair so
    /// far is refused from now on (its generation becomes INVALID); its next token
    /// starts a new generation. The same reach as changing the keypair.
    pub fn revoke_tokens(
        &self,
        caller: &Principal,
        id: &ClientId,
        _input: RevokeTokensInput,
        now: OffsetDateTime,
    ) -> Result<(), AdminError> {
        self.visible_keypair(caller, id, Reach::Manage)?;
        Ok(self.store.revoke_tokens(caller.actor(), id, now)?)
    }

    /// `GET /accounts/{id}/audit`. Records outlive a closed account (operators can
    /// still read them).
    pub fn list_audit(
        &self,
        caller: &Principal,
        account: &AccountId,
        page: &PageRequest,
    ) -> Result<Page<AuditRecord>, AdminError> {
        require(caller.account_children(account), Reach::Read)?;
        Ok(self.store.list_audit(account, page)?)
    }

    /// `GET /environments/{id}/audit`: the records that concern the environment (the
    /// environment itself, its keypairs, its administrators and invitations), newest
    /// first. Its administrators read it, and those of its account. A closed
    /// environment's records stay in its account's audit trail.
    pub fn list_environment_audit(
        &self,
        caller: &Principal,
        env: &EnvironmentId,
        page: &PageRequest,
    ) -> Result<Page<AuditRecord>, AdminError> {
        let env = self.store.get_environment(env)?;
        require(
            caller.environment_keypairs(&env.account_id, &env.id),
            Reach::Read,
        )?;
        Ok(self.store.list_environment_audit(&env.id, page)?)
    }
}
