//! Changing keypairs: PATCH, delete, and revoking the tokens issued so far. Writes take
//! a [`Tx`] and record the keypairs they make stale.

use diesel::prelude::*;
use time::OffsetDateTime;

use super::{
    audit_account, audit_environment, refuse_operator_scope, Keypair, KeypairPatch, KeypairRow,
};
use crate::audit::{Actor, AuditAction, AuditEntry};
use crate::ids::ClientId;
use crate::models::status::Generation;
use crate::schema::keypairs;
use crate::scope::ScopeSet;
use crate::timestamp::{from_micros, to_micros};
use crate::tx::{Change, Tx};
use crate::{validate, StoreError, StoreResult};

/// Whether moving a keypair's expiry from `old` to `new` ends tokens already issued
/// before their `exp`: those end no later than `old`, nor than `now` plus the longest
/// token lifetime (when known).
fn cuts_tokens_short(
    old: Option<OffsetDateTime>,
    new: Option<OffsetDateTime>,
    longest_token_lifetime: Option<time::Duration>,
    now: OffsetDateTime,
) -> bool {
    let Some(new) = new else {
        return false;
    };
    let latest_exp = match (old, longest_token_lifetime) {
        (Some(old), Some(l)) => Some(old.min(now + l)),
        (Some(old), None) => Some(old),
        (None, Some(l)) => Some(now + l),
        (None, None) => None,
    };
    latest_exp.is_none_or(|latest| new < latest)
}

/// A keypair's expiry, in whole seconds (a fraction is dropped: it ends no later than
/// asked), must lie ahead.
pub(super) fn check_expiry(
    expires_at: Option<OffsetDateTime>,
    now: OffsetDateTime,
) -> StoreResult<Option<OffsetDateTime>> {
    let Some(e) = expires_at else {
        return Ok(None);
    };
    let e = e
        .to_offset(time::UtcOffset::UTC)
        .replace_nanosecond(0)
        .map_err(|_| StoreError::invalid("expires_at", "out of range"))?;
    if e <= now {
        return Err(StoreError::invalid("expires_at", "must be in the future"));
    }
    Ok(Some(e))
}

impl Keypair {
    /// Applies a patch and returns the updated keypair. Acts on the row it found: a
    /// keypair deleted meanwhile is `NotFound`, not a phantom update.
    pub fn update(
        tx: &mut Tx<'_>,
        actor: &Actor,
        client_id: &ClientId,
        patch: &KeypairPatch,
        now: OffsetDateTime,
    ) -> StoreResult<Keypair> {
        let comment = patch
            .comment
            .as_deref()
            .map(validate::comment)
            .transpose()?;
        if let Some(scopes) = &patch.scopes {
            refuse_operator_scope(scopes)?;
        }
        let expires_at = patch.expires_at.map(|e| check_expiry(e, now)).transpose()?;
        let current = KeypairRow::find(tx, client_id)?.ok_or(StoreError::NotFound("keypair"))?;
        if current.account_id.is_none() && patch.scopes.is_some() {
            return Err(StoreError::invalid(
                "scopes",
                "operator keypairs keep their scope",
            ));
        }
        let mut changed = Vec::new();
        if patch.enabled.is_some() {
            changed.push("enabled");
        }
        if patch.scopes.is_some() {
            changed.push("scopes");
        }
        if comment.is_some() {
            changed.push("comment");
        }
        if expires_at.is_some() {
            changed.push("expires_at");
        }
        if patch.allowed_addresses.is_some() {
            changed.push("allowed_addresses");
        }
        if patch.token_lifetime_seconds.is_some() {
            changed.push("token_lifetime_seconds");
        }
        let updated = diesel::update(keypairs::table.find(client_id.as_str()))
            .set((
                patch.enabled.map(|v| keypairs::enabled.eq(v)),
                patch
                    .scopes
                    .as_ref()
                    .map(|s| keypairs::scopes.eq(s.to_space_separated())),
                comment.map(|v| keypairs::comment.eq(v)),
                expires_at.map(|e| keypairs::expires_at.eq(e.map(to_micros))),
                patch
                    .allowed_addresses
                    .as_ref()
                    .map(|a| keypairs::allowed_addresses.eq(a.to_db())),
                patch
                    .token_lifetime_seconds
                    .map(|l| keypairs::token_lifetime_seconds.eq(l.map(i64::from))),
                keypairs::updated_at.eq(to_micros(now)),
            ))
            .execute(&mut **tx)?;
        if updated == 0 {
            return Err(StoreError::NotFound("keypair"));
        }
        // Token status: removing a scope invalidates the tokens issued so far (they
        // carry it), and so does an expiry that cuts them short; disabling suspends
        // them, enabling makes suspended ones good again.
        let old_scopes = ScopeSet::parse_space_separated(&current.scopes).unwrap_or_default();
        let scope_removed = patch
            .scopes
            .as_ref()
            .is_some_and(|new_scopes| old_scopes.iter().any(|s| !new_scopes.contains(s.as_str())));
        let cuts_tokens_short = expires_at.is_some_and(|new| {
            cuts_tokens_short(
                current.expires_at.map(from_micros),
                new,
                patch.longest_token_lifetime,
                now,
            )
        });
        if scope_removed || cuts_tokens_short {
            Generation::invalidate(tx, client_id, now)?;
        }
        if let Some(enabled) = patch.enabled {
            Generation::set_suspended(tx, client_id, !enabled)?;
        }
        AuditEntry {
            actor,
            action: AuditAction::KeypairUpdate,
            target: client_id.as_str(),
            account_id: audit_account(&current).as_ref(),
            environment_id: audit_environment(&current).as_ref(),
            detail: changed.join(","),
            now,
        }
        .write(tx)?;
        tx.changed(Change::Keypair(client_id.clone()));
        Keypair::find(tx, client_id)
    }

    /// Deletes a keypair for good. Of concurrent deletes exactly one succeeds: the
    /// others find no row to delete (PostgreSQL re-checks the row after the first
    /// commit) and answer `NotFound`, writing no audit record.
    pub fn delete(
        tx: &mut Tx<'_>,
        actor: &Actor,
        client_id: &ClientId,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        let current = KeypairRow::find(tx, client_id)?.ok_or(StoreError::NotFound("keypair"))?;
        Generation::invalidate(tx, client_id, now)?;
        let deleted =
            diesel::delete(keypairs::table.find(client_id.as_str())).execute(&mut **tx)?;
        if deleted == 0 {
            return Err(StoreError::NotFound("keypair"));
        }
        AuditEntry {
            actor,
            action: AuditAction::KeypairDelete,
            target: client_id.as_str(),
            account_id: audit_account(&current).as_ref(),
            environment_id: audit_environment(&current).as_ref(),
            detail: String::new(),
            now,
        }
        .write(tx)?;
        tx.changed(Change::Keypair(client_id.clone()));
        Ok(())
    }
}

impl Keypair {
    /// Invalidates every token issued to the keypair so far (`revoke-tokens`); its
    /// next token opens a new generation. Audited as `keypair.revoke_tokens`.
    pub fn revoke_tokens(
        tx: &mut Tx<'_>,
        actor: &Actor,
        client_id: &ClientId,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        let current = KeypairRow::find(tx, client_id)?.ok_or(StoreError::NotFound("keypair"))?;
        let had = Generation::invalidate(tx, client_id, now)?;
        AuditEntry {
            actor,
            action: AuditAction::KeypairRevokeTokens,
            target: client_id.as_str(),
            account_id: audit_account(&current).as_ref(),
            environment_id: audit_environment(&current).as_ref(),
            detail: format!("generation_invalidated={had}"),
            now,
        }
        .write(tx)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::cuts_tokens_short;
    use time::macros::datetime;
    use time::Duration;

    #[test]
    fn an_earlier_expiry_cuts_tokens_only_within_their_possible_lifetime() {
        let now = datetime!(2026-12-03 12:00 UTC);
        let hour = Some(Duration::hours(1));
        // No expiry before: tokens may live until now + 1 h.
        assert!(cuts_tokens_short(
            None,
            Some(now + Duration::minutes(30)),
            hour,
            now
        ));
        assert!(!cuts_tokens_short(
            None,
            Some(now + Duration::hours(1)),
            hour,
            now
        ));
        assert!(!cuts_tokens_short(
            None,
            Some(now + Duration::days(30)),
            hour,
            now
        ));
        // Tokens were already capped by the old expiry.
        let old = Some(now + Duration::minutes(20));
        assert!(cuts_tokens_short(
            old,
            Some(now + Duration::minutes(10)),
            hour,
            now
        ));
        assert!(!cuts_tokens_short(
            old,
            Some(now + Duration::minutes(40)),
            hour,
            now
        ));
        // Removing the expiry, or moving it later, never cuts.
        assert!(!cuts_tokens_short(old, None, hour, now));
        // Unknown lifetime: any earlier expiry counts.
        assert!(cuts_tokens_short(
            None,
            Some(now + Duration::days(30)),
            None,
            now
        ));
        assert!(cuts_tokens_short(
            old,
            Some(now + Duration::minutes(19)),
            None,
            now
        ));
        assert!(!cuts_tokens_short(
            old,
            Some(now + Duration::minutes(21)),
            None,
            now
        ));
    }
}
