//! Human administrators: people (users), their role bindings, pending invitations and
//! console sessions.
//!
//! Invitations grant nothing until accepted. Each carries a one-time code of 256
//! random bits, stored only as its SHA-256 digest; accepting marks it used in the same
//! `UPDATE` that checks it is still pending, so of two concurrent accepts exactly one
//! wins. Sessions are keyed by the SHA-256 digest of a 256-bit random id, so neither a
//! code nor a session id can be read back from the database.

use diesel::prelude::*;
use time::{Duration, OffsetDateTime};

use crate::audit::{Actor, AuditAction, AuditEntry};
use crate::db::DbConnection;
use crate::ids::{AccountId, EnvironmentId, InvitationId, UserId};
use crate::models::account::{Account, Environment};
use crate::models::credentials::NewCredential;
use crate::models::keypair::Owner;
use crate::models::reset::CredentialReset;
pub use crate::random_secret::{InvitationCode, SessionId};
use crate::schema::{invitations, role_bindings, sessions, users};
use crate::timestamp::{from_micros, to_micros};
use crate::tx::Tx;
use crate::{validate, Store, StoreError, StoreResult};

/// Longest email address accepted, in characters.
pub const MAX_EMAIL_CHARS: usize = 254;

/// An email as given (trimmed) and its lowercase key for case-insensitive matching.
fn email(value: &str) -> StoreResult<(String, String)> {
    let v = value.trim();
    let bad = |reason: &str| Err(StoreError::invalid("email", reason));
    if v.is_empty() {
        return bad("must not be empty");
    }
    if v.chars().count() > MAX_EMAIL_CHARS {
        return bad("too long");
    }
    if v.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return bad("contains spaces or control characters");
    }
    match v.rsplit_once('@') {
        Some((local, domain)) if !local.is_empty() && !domain.is_empty() => {}
        _ => return bad("not an email address"),
    }
    Ok((v.to_owned(), v.to_lowercase()))
}

/// The name of the role an owner's binding gives.
pub fn role_name(owner: &Owner) -> &'static str {
    match owner {
        Owner::Operator => "operator",
        Owner::Account(_) => "account_admin",
        Owner::Environment { .. } => "environment_admin",
    }
}

fn owner_key(owner: &Owner) -> &str {
    match owner {
        Owner::Operator => "",
        Owner::Account(a) => a.as_str(),
        Owner::Environment { environment_id, .. } => environment_id.as_str(),
    }
}

fn owner_from_db(
    role: &str,
    account_id: Option<String>,
    environment_id: Option<String>,
) -> StoreResult<Owner> {
    match (role, account_id, environment_id) {
        ("operator", None, None) => Ok(Owner::Operator),
        ("account_admin", Some(a), None) => Ok(Owner::Account(AccountId::from_db(a))),
        ("environment_admin", Some(a), Some(e)) => Ok(Owner::Environment {
            account_id: AccountId::from_db(a),
            environment_id: EnvironmentId::from_db(e),
        }),
        _ => Err(StoreError::Corrupt(format!(
            "role binding with role {role}"
        ))),
    }
}

/// Checks that the owner exists (and that an environment belongs to its account).
fn check_owner(conn: &mut DbConnection, owner: &Owner) -> StoreResult<()> {
    match owner {
        Owner::Operator => Ok(()),
        Owner::Account(a) => Account::find(conn, a).map(|_| ()),
        Owner::Environment {
            account_id,
            environment_id,
        } => {
            let env = Environment::find(conn, environment_id)?;
            if &env.account_id == account_id {
                Ok(())
            } else {
                Err(StoreError::NotFound("environment"))
            }
        }
    }
}

fn fk_is_not_found(e: diesel::result::Error) -> StoreError {
    match e {
        // The owner was closed by a concurrent transaction after the check.
        diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::ForeignKeyViolation,
            _,
        ) => StoreError::NotFound("owner"),
        e => StoreError::Database(e),
    }
}

/// A person who can sign in to the console.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// Opaque id.
    pub id: UserId,
    /// The email as given: a label, never proof of identity.
    pub email: String,
    /// Display name (may be empty).
    pub name: String,
    /// When the person accepted their first invitation.
    pub created_at: OffsetDateTime,
    /// The last sign-in (the last session made).
    pub last_sign_in_at: Option<OffsetDateTime>,
    /// A disabled person cannot sign in and has no sessions.
    pub disabled: bool,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = users)]
struct UserRow {
    user_id: String,
    email: String,
    email_key: String,
    name: String,
    created_at: i64,
    last_sign_in_at: Option<i64>,
    disabled: bool,
}

impl From<UserRow> for User {
    fn from(r: UserRow) -> Self {
        User {
            id: UserId::from_db(r.user_id),
            email: r.email,
            name: r.name,
            created_at: from_micros(r.created_at),
            last_sign_in_at: r.last_sign_in_at.map(from_micros),
            disabled: r.disabled,
        }
    }
}

impl User {
    /// Reads a person.
    pub fn find(conn: &mut DbConnection, id: &UserId) -> StoreResult<User> {
        users::table
            .find(id.as_str())
            .select(UserRow::as_select())
            .first(conn)
            .optional()?
            .map(User::from)
            .ok_or(StoreError::NotFound("user"))
    }

    /// The person with this email, compared case-insensitively.
    pub fn find_by_email(conn: &mut DbConnection, email_address: &str) -> StoreResult<User> {
        let (_, key) = email(email_address)?;
        users::table
            .filter(users::email_key.eq(key))
            .select(UserRow::as_select())
            .first(conn)
            .optional()?
            .map(User::from)
            .ok_or(StoreError::NotFound("user"))
    }

    /// The owners a person administers (their role bindings).
    pub fn bindings(conn: &mut DbConnection, id: &UserId) -> StoreResult<Vec<Owner>> {
        let rows: Vec<(String, Option<String>, Option<String>)> = role_bindings::table
            .filter(role_bindings::user_id.eq(id.as_str()))
            .order(role_bindings::owner_key)
            .select((
                role_bindings::role,
                role_bindings::account_id,
                role_bindings::environment_id,
            ))
            .load(conn)?;
        rows.into_iter()
            .map(|(r, a, e)| owner_from_db(&r, a, e))
            .collect()
    }

    /// Disables or enables a person. Disabling ends every session of theirs at once.
    pub fn set_disabled(
        tx: &mut Tx<'_>,
        actor: &Actor,
        id: &UserId,
        disabled: bool,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        let n = diesel::update(users::table.find(id.as_str()))
            .set(users::disabled.eq(disabled))
            .execute(&mut **tx)?;
        if n == 0 {
            return Err(StoreError::NotFound("user"));
        }
        if disabled {
            Session::delete_all(tx, id)?;
        }
        AuditEntry {
            actor,
            action: if disabled {
                AuditAction::UserDisable
            } else {
                AuditAction::UserEnable
            },
            target: id.as_str(),
            account_id: None,
            environment_id: None,
            detail: String::new(),
            now,
        }
        .write(tx)?;
        Ok(())
    }

    /// Removes a person's binding to `owner`; their sessions lose its reach at once
    /// (sessions read bindings on every request).
    pub fn remove_binding(
        tx: &mut Tx<'_>,
        actor: &Actor,
        id: &UserId,
        owner: &Owner,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        let n = diesel::delete(
            role_bindings::table
                .filter(role_bindings::user_id.eq(id.as_str()))
                .filter(role_bindings::owner_key.eq(owner_key(owner))),
        )
        .execute(&mut **tx)?;
        if n == 0 {
            return Err(StoreError::NotFound("administrator"));
        }
        AuditEntry {
            actor,
            action: AuditAction::BindingRemove,
            target: id.as_str(),
            account_id: owner.account_id(),
            environment_id: owner.environment_id(),
            detail: format!("role={}", role_name(owner)),
            now,
        }
        .write(tx)?;
        Ok(())
    }
}

/// A person holding a binding to an owner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Administrator {
    /// The person.
    pub user: User,
    /// When the binding was made (the invitation accepted).
    pub since: OffsetDateTime,
}

/// An invitation: pending until accepted, withdrawn or expired.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invitation {
    /// Opaque id.
    pub id: InvitationId,
    /// The email invited, as given.
    pub email: String,
    /// The binding it grants when accepted.
    pub owner: Owner,
    /// When it was made.
    pub created_at: OffsetDateTime,
    /// After this it cannot be accepted.
    pub expires_at: OffsetDateTime,
    /// When it was accepted, if it was.
    pub accepted_at: Option<OffsetDateTime>,
    /// When it was withdrawn, if it was.
    pub withdrawn_at: Option<OffsetDateTime>,
    /// The recorded actor who invited.
    pub created_by: String,
}

impl Invitation {
    /// The role it grants (`operator`, `account_admin`, `environment_admin`).
    pub fn role(&self) -> &'static str {
        role_name(&self.owner)
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = invitations)]
struct InvitationRow {
    invitation_id: String,
    email: String,
    email_key: String,
    role: String,
    owner_key: String,
    account_id: Option<String>,
    environment_id: Option<String>,
    code_digest: Vec<u8>,
    created_at: i64,
    expires_at: i64,
    accepted_at: Option<i64>,
    withdrawn_at: Option<i64>,
    created_by: String,
}

impl InvitationRow {
    fn into_invitation(self) -> StoreResult<Invitation> {
        Ok(Invitation {
            owner: owner_from_db(&self.role, self.account_id, self.environment_id)?,
            id: InvitationId::from_db(self.invitation_id),
            email: self.email,
            created_at: from_micros(self.created_at),
            expires_at: from_micros(self.expires_at),
            accepted_at: self.accepted_at.map(from_micros),
            withdrawn_at: self.withdrawn_at.map(from_micros),
            created_by: self.created_by,
        })
    }
}

/// A setup link that is still pending, found by its code: an invitation, or a reset
/// link made by `keygate users reset`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingInvitation {
    /// Its id (`inv_…`).
    pub id: InvitationId,
    /// The email it is for, as given.
    pub email: String,
    /// After this it cannot be accepted.
    pub expires_at: OffsetDateTime,
    /// The binding accepting it grants; `None` for a reset link, which grants none.
    pub grants: Option<Owner>,
    /// The person who already has its email, if any. For an invitation, only that
    /// person, signed in, can accept it; for a reset link, it is the person reset.
    pub existing_user: Option<UserId>,
    /// Whether accepting it sets credentials ([`Acceptor::NewUser`]): true for an
    /// invitation to an email with no user yet and for a reset link; false for an
    /// invitation to an existing person, who signs in and accepts
    /// ([`Acceptor::SignedIn`]).
    pub sets_credentials: bool,
}

impl PendingInvitation {
    /// The role it grants (`operator`, `account_admin`, `environment_admin`), or
    /// `reset` for a reset link.
    pub fn role(&self) -> &'static str {
        self.grants.as_ref().map_or("reset", role_name)
    }
}

/// Who accepts an invitation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Acceptor {
    /// A person setting credentials through the link: a new person (refused when the
    /// email already has a user), or the person a reset link is for.
    NewUser {
        /// Display name (may be empty). Ignored for a reset link.
        name: String,
        /// The credential to set, stored in the same transaction.
        credential: NewCredential,
    },
    /// A person signed in with their own credentials; refused unless the invitation's
    /// email is theirs.
    SignedIn(UserId),
}

impl Invitation {
    /// Makes a pending invitation to bind `email` to `owner`, valid for `lifetime`.
    /// Returns it with its code, the only time the code exists outside the link.
    pub fn create(
        tx: &mut Tx<'_>,
        actor: &Actor,
        email_address: &str,
        owner: &Owner,
        lifetime: Duration,
        now: OffsetDateTime,
    ) -> StoreResult<(Invitation, InvitationCode)> {
        let (email_given, key) = email(email_address)?;
        if lifetime <= Duration::ZERO {
            return Err(StoreError::invalid("lifetime", "must be positive"));
        }
        check_owner(tx, owner)?;
        let code = InvitationCode::generate();
        let row = InvitationRow {
            invitation_id: InvitationId::generate().as_str().to_owned(),
            email: email_given,
            email_key: key,
            role: role_name(owner).to_owned(),
            owner_key: owner_key(owner).to_owned(),
            account_id: owner.account_id().map(|a| a.as_str().to_owned()),
            environment_id: owner.environment_id().map(|e| e.as_str().to_owned()),
            code_digest: code.digest(),
            created_at: to_micros(now),
            expires_at: to_micros(now + lifetime),
            accepted_at: None,
            withdrawn_at: None,
            created_by: actor.recorded(),
        };
        diesel::insert_into(invitations::table)
            .values(&row)
            .execute(&mut **tx)
            .map_err(fk_is_not_found)?;
        AuditEntry {
            actor,
            action: AuditAction::UserInvite,
            target: &row.invitation_id,
            account_id: owner.account_id(),
            environment_id: owner.environment_id(),
            detail: format!("role={}", row.role),
            now,
        }
        .write(tx)?;
        Ok((row.into_invitation()?, code))
    }

    /// The invitation (or reset link, [`CredentialReset`]) with this code if it is
    /// still pending at `now` (not accepted, not withdrawn, not expired). Does not use
    /// it up.
    pub fn find_pending(
        conn: &mut DbConnection,
        code: &InvitationCode,
        now: OffsetDateTime,
    ) -> StoreResult<PendingInvitation> {
        let row = invitations::table
            .filter(invitations::code_digest.eq(code.digest()))
            .filter(invitations::accepted_at.is_null())
            .filter(invitations::withdrawn_at.is_null())
            .filter(invitations::expires_at.gt(to_micros(now)))
            .select(InvitationRow::as_select())
            .first(conn)
            .optional()?;
        let Some(row) = row else {
            return CredentialReset::find_pending(conn, code, now)?
                .ok_or(StoreError::NotFound("invitation"));
        };
        let existing_user = users::table
            .filter(users::email_key.eq(&row.email_key))
            .select(users::user_id)
            .first::<String>(conn)
            .optional()?
            .map(UserId::from_db);
        let invitation = row.into_invitation()?;
        Ok(PendingInvitation {
            id: invitation.id,
            email: invitation.email,
            expires_at: invitation.expires_at,
            grants: Some(invitation.owner),
            sets_credentials: existing_user.is_none(),
            existing_user,
        })
    }

    /// Accepts the invitation with this code at `now`, binding its owner to the
    /// acceptor: a new person (created here, refused if the email already has a
    /// user) or the signed-in person whose email it is. The code is used up in the
    /// same `UPDATE` that checks it is pending, so it is accepted at most once.
    /// Returns the person bound. A code that is a pending reset link instead sets the
    /// new person's credential on the person reset ([`CredentialReset`]). Not
    /// pending, or the wrong acceptor: `NotFound` / `Conflict`, and nothing changes.
    pub fn accept(
        tx: &mut Tx<'_>,
        code: &InvitationCode,
        acceptor: &Acceptor,
        now: OffsetDateTime,
    ) -> StoreResult<User> {
        // Single use: only a still-pending invitation is marked accepted, and this
        // UPDATE comes first, so a concurrent accept waits for (or fails on) this row
        // and then finds it used. A refusal below rolls the mark back.
        let won = diesel::update(
            invitations::table
                .filter(invitations::code_digest.eq(code.digest()))
                .filter(invitations::accepted_at.is_null())
                .filter(invitations::withdrawn_at.is_null())
                .filter(invitations::expires_at.gt(to_micros(now))),
        )
        .set(invitations::accepted_at.eq(Some(to_micros(now))))
        .execute(&mut **tx)?;
        if won == 0 {
            // Not a pending invitation: perhaps a reset link.
            return CredentialReset::accept(tx, code, acceptor, now)?
                .ok_or(StoreError::NotFound("invitation"));
        }
        let row = invitations::table
            .filter(invitations::code_digest.eq(code.digest()))
            .select(InvitationRow::as_select())
            .first(&mut **tx)?;
        let existing_user = users::table
            .filter(users::email_key.eq(&row.email_key))
            .select(users::user_id)
            .first::<String>(&mut **tx)
            .optional()?
            .map(UserId::from_db);
        let inv = &row.into_invitation()?;
        let user = match (acceptor, &existing_user) {
            (Acceptor::NewUser { .. }, Some(_)) => {
                return Err(StoreError::Conflict(
                    "this email already has a user: sign in to accept".into(),
                ))
            }
            (Acceptor::SignedIn(me), Some(owner_of_email)) if me == owner_of_email => {
                let user = User::find(tx, me)?;
                if user.disabled {
                    return Err(StoreError::Conflict("user disabled".into()));
                }
                Some(user)
            }
            (Acceptor::SignedIn(_), _) => {
                return Err(StoreError::Conflict(
                    "this invitation is for another email".into(),
                ))
            }
            (Acceptor::NewUser { .. }, None) => None,
        };
        let user = match (user, acceptor) {
            (Some(u), _) => u,
            (None, Acceptor::NewUser { name, credential }) => {
                let name = if name.trim().is_empty() {
                    String::new()
                } else {
                    validate::name("name", name)?
                };
                let (email_given, key) = email(&inv.email)?;
                let row = UserRow {
                    user_id: UserId::generate().as_str().to_owned(),
                    email: email_given,
                    email_key: key,
                    name,
                    created_at: to_micros(now),
                    last_sign_in_at: None,
                    disabled: false,
                };
                diesel::insert_into(users::table)
                    .values(&row)
                    .execute(&mut **tx)
                    .map_err(|e| match e {
                        diesel::result::Error::DatabaseError(
                            diesel::result::DatabaseErrorKind::UniqueViolation,
                            _,
                        ) => StoreError::Conflict("this email already has a user".into()),
                        e => StoreError::Database(e),
                    })?;
                let user = User::from(row);
                credential.store(tx, &user.id, now)?;
                user
            }
            (None, Acceptor::SignedIn(_)) => {
                return Err(StoreError::Conflict(
                    "this invitation is for another email".into(),
                ))
            }
        };
        let already = role_bindings::table
            .filter(role_bindings::user_id.eq(user.id.as_str()))
            .filter(role_bindings::owner_key.eq(owner_key(&inv.owner)))
            .count()
            .get_result::<i64>(&mut **tx)?;
        if already == 0 {
            diesel::insert_into(role_bindings::table)
                .values((
                    role_bindings::user_id.eq(user.id.as_str()),
                    role_bindings::role.eq(inv.role()),
                    role_bindings::owner_key.eq(owner_key(&inv.owner)),
                    role_bindings::account_id.eq(inv.owner.account_id().map(|a| a.as_str())),
                    role_bindings::environment_id
                        .eq(inv.owner.environment_id().map(|e| e.as_str())),
                    role_bindings::created_at.eq(to_micros(now)),
                ))
                .execute(&mut **tx)
                .map_err(fk_is_not_found)?;
        }
        AuditEntry {
            actor: &Actor::User(user.id.clone()),
            action: AuditAction::InvitationAccept,
            target: inv.id.as_str(),
            account_id: inv.owner.account_id(),
            environment_id: inv.owner.environment_id(),
            detail: format!("role={}", inv.role()),
            now,
        }
        .write(tx)?;
        Ok(user)
    }

    /// Withdraws a pending invitation to `owner`. One that is not pending, or is to
    /// another owner: `NotFound`.
    pub fn withdraw(
        tx: &mut Tx<'_>,
        actor: &Actor,
        owner: &Owner,
        id: &InvitationId,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        let n = diesel::update(
            invitations::table
                .filter(invitations::invitation_id.eq(id.as_str()))
                .filter(invitations::owner_key.eq(owner_key(owner)))
                .filter(invitations::role.eq(role_name(owner)))
                .filter(invitations::accepted_at.is_null())
                .filter(invitations::withdrawn_at.is_null()),
        )
        .set(invitations::withdrawn_at.eq(Some(to_micros(now))))
        .execute(&mut **tx)?;
        if n == 0 {
            return Err(StoreError::NotFound("invitation"));
        }
        AuditEntry {
            actor,
            action: AuditAction::InvitationWithdraw,
            target: id.as_str(),
            account_id: owner.account_id(),
            environment_id: owner.environment_id(),
            detail: format!("role={}", role_name(owner)),
            now,
        }
        .write(tx)?;
        Ok(())
    }

    /// An owner's invitations still pending at `now`, newest first.
    pub fn list_pending(
        conn: &mut DbConnection,
        owner: &Owner,
        now: OffsetDateTime,
    ) -> StoreResult<Vec<Invitation>> {
        invitations::table
            .filter(invitations::owner_key.eq(owner_key(owner)))
            .filter(invitations::role.eq(role_name(owner)))
            .filter(invitations::accepted_at.is_null())
            .filter(invitations::withdrawn_at.is_null())
            .filter(invitations::expires_at.gt(to_micros(now)))
            .order((
                invitations::created_at.desc(),
                invitations::invitation_id.desc(),
            ))
            .select(InvitationRow::as_select())
            .load(conn)?
            .into_iter()
            .map(InvitationRow::into_invitation)
            .collect()
    }
}

impl Administrator {
    /// The people bound to `owner`, oldest binding first.
    pub fn list(conn: &mut DbConnection, owner: &Owner) -> StoreResult<Vec<Administrator>> {
        let rows: Vec<(UserRow, i64)> = role_bindings::table
            .inner_join(users::table)
            .filter(role_bindings::owner_key.eq(owner_key(owner)))
            .filter(role_bindings::role.eq(role_name(owner)))
            .order((role_bindings::created_at.asc(), users::user_id.asc()))
            .select((UserRow::as_select(), role_bindings::created_at))
            .load(conn)?;
        Ok(rows
            .into_iter()
            .map(|(u, since)| Administrator {
                user: User::from(u),
                since: from_micros(since),
            })
            .collect())
    }
}

/// A live console session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// The person signed in.
    pub user: User,
    /// When the session began (sign-in).
    pub created_at: OffsetDateTime,
    /// The last request seen with it.
    pub last_seen_at: OffsetDateTime,
}

impl Session {
    /// Begins a session for a person (who must not be disabled) and records the
    /// sign-in. Returns the new session id, the only time it exists outside the cookie.
    pub fn create(tx: &mut Tx<'_>, user: &UserId, now: OffsetDateTime) -> StoreResult<SessionId> {
        if User::find(tx, user)?.disabled {
            return Err(StoreError::Conflict("user disabled".into()));
        }
        let id = SessionId::generate();
        diesel::insert_into(sessions::table)
            .values((
                sessions::id_digest.eq(id.digest()),
                sessions::user_id.eq(user.as_str()),
                sessions::created_at.eq(to_micros(now)),
                sessions::last_seen_at.eq(to_micros(now)),
            ))
            .execute(&mut **tx)?;
        diesel::update(users::table.find(user.as_str()))
            .set(users::last_sign_in_at.eq(Some(to_micros(now))))
            .execute(&mut **tx)?;
        Ok(id)
    }

    /// The session with this id if it is live at `now`: seen within `idle`, begun
    /// within `max`, and its person not disabled. Does not record the visit
    /// ([`Session::touch`] does).
    pub fn find(
        conn: &mut DbConnection,
        id: &SessionId,
        now: OffsetDateTime,
        idle: Duration,
        max: Duration,
    ) -> StoreResult<Option<Session>> {
        let now_us = to_micros(now);
        let found: Option<(UserRow, i64, i64)> = sessions::table
            .inner_join(users::table)
            .filter(sessions::id_digest.eq(id.digest()))
            .filter(users::disabled.eq(false))
            .filter(sessions::last_seen_at.gt(now_us.saturating_sub(micros(idle))))
            .filter(sessions::created_at.gt(now_us.saturating_sub(micros(max))))
            .select((
                UserRow::as_select(),
                sessions::created_at,
                sessions::last_seen_at,
            ))
            .first(conn)
            .optional()?;
        Ok(found.map(|(u, created, seen)| Session {
            user: User::from(u),
            created_at: from_micros(created),
            last_seen_at: from_micros(seen),
        }))
    }

    /// Records a request seen with the session at `now` (the idle timeout restarts).
    pub fn touch(tx: &mut Tx<'_>, id: &SessionId, now: OffsetDateTime) -> StoreResult<()> {
        diesel::update(sessions::table.find(id.digest()))
            .set(sessions::last_seen_at.eq(to_micros(now)))
            .execute(&mut **tx)?;
        Ok(())
    }

    /// Ends a session (sign-out). Ending an unknown one changes nothing.
    pub fn delete(tx: &mut Tx<'_>, id: &SessionId) -> StoreResult<()> {
        diesel::delete(sessions::table.find(id.digest())).execute(&mut **tx)?;
        Ok(())
    }

    /// Ends every session of a person; returns how many.
    pub fn delete_all(tx: &mut Tx<'_>, user: &UserId) -> StoreResult<usize> {
        Ok(
            diesel::delete(sessions::table.filter(sessions::user_id.eq(user.as_str())))
                .execute(&mut **tx)?,
        )
    }
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.whole_microseconds()).unwrap_or(i64::MAX)
}

impl Store {
    /// Invites `email` to administer `owner` ([`Invitation::create`]).
    pub fn invite(
        &self,
        actor: &Actor,
        email: &str,
        owner: &Owner,
        lifetime: Duration,
        now: OffsetDateTime,
    ) -> StoreResult<(Invitation, InvitationCode)> {
        self.write(|tx| Invitation::create(tx, actor, email, owner, lifetime, now))
    }

    /// The pending invitation with this code ([`Invitation::find_pending`]).
    pub fn find_pending_invitation(
        &self,
        code: &InvitationCode,
        now: OffsetDateTime,
    ) -> StoreResult<PendingInvitation> {
        self.read(|c| Invitation::find_pending(c, code, now))
    }

    /// Accepts an invitation ([`Invitation::accept`]).
    pub fn accept_invitation(
        &self,
        code: &InvitationCode,
        acceptor: &Acceptor,
        now: OffsetDateTime,
    ) -> StoreResult<User> {
        self.write(|tx| Invitation::accept(tx, code, acceptor, now))
    }

    /// Withdraws a pending invitation ([`Invitation::withdraw`]).
    pub fn withdraw_invitation(
        &self,
        actor: &Actor,
        owner: &Owner,
        id: &InvitationId,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        self.write(|tx| Invitation::withdraw(tx, actor, owner, id, now))
    }

    /// An owner's pending invitations ([`Invitation::list_pending`]).
    pub fn list_pending_invitations(
        &self,
        owner: &Owner,
        now: OffsetDateTime,
    ) -> StoreResult<Vec<Invitation>> {
        self.read(|c| Invitation::list_pending(c, owner, now))
    }

    /// An owner's administrators ([`Administrator::list`]).
    pub fn list_administrators(&self, owner: &Owner) -> StoreResult<Vec<Administrator>> {
        self.read(|c| Administrator::list(c, owner))
    }

    /// Reads a person.
    pub fn get_user(&self, id: &UserId) -> StoreResult<User> {
        self.read(|c| User::find(c, id))
    }

    /// The person with this email, compared case-insensitively.
    pub fn get_user_by_email(&self, email: &str) -> StoreResult<User> {
        self.read(|c| User::find_by_email(c, email))
    }

    /// A person's role bindings ([`User::bindings`]).
    pub fn user_bindings(&self, id: &UserId) -> StoreResult<Vec<Owner>> {
        self.read(|c| User::bindings(c, id))
    }

    /// Removes a binding ([`User::remove_binding`]).
    pub fn remove_binding(
        &self,
        actor: &Actor,
        id: &UserId,
        owner: &Owner,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        self.write(|tx| User::remove_binding(tx, actor, id, owner, now))
    }

    /// Disables a person and ends their sessions ([`User::set_disabled`]).
    pub fn disable_user(&self, actor: &Actor, id: &UserId, now: OffsetDateTime) -> StoreResult<()> {
        self.write(|tx| User::set_disabled(tx, actor, id, true, now))
    }

    /// Enables a disabled person ([`User::set_disabled`]).
    pub fn enable_user(&self, actor: &Actor, id: &UserId, now: OffsetDateTime) -> StoreResult<()> {
        self.write(|tx| User::set_disabled(tx, actor, id, false, now))
    }

    /// Begins a session ([`Session::create`]).
    pub fn create_session(&self, user: &UserId, now: OffsetDateTime) -> StoreResult<SessionId> {
        self.write(|tx| Session::create(tx, user, now))
    }

    /// The live session with this id ([`Session::find`]).
    pub fn find_session(
        &self,
        id: &SessionId,
        now: OffsetDateTime,
        idle: Duration,
        max: Duration,
    ) -> StoreResult<Option<Session>> {
        self.read(|c| Session::find(c, id, now, idle, max))
    }

    /// Records a request seen with a session ([`Session::touch`]).
    pub fn touch_session(&self, id: &SessionId, now: OffsetDateTime) -> StoreResult<()> {
        self.write(|tx| Session::touch(tx, id, now))
    }

    /// Ends a session ([`Session::delete`]).
    pub fn delete_session(&self, id: &SessionId) -> StoreResult<()> {
        self.write(|tx| Session::delete(tx, id))
    }

    /// Ends every session of a person ([`Session::delete_all`]).
    pub fn delete_user_sessions(&self, user: &UserId) -> StoreResult<usize> {
        self.write(|tx| Session::delete_all(tx, user))
    }
}
