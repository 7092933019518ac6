//! The key dialogs' forms: from the fields a browser sends to the admin API's JSON
//! input (create, and edit with only what changed), and from a key back to its row and
//! edit dialog.

use admin_api::AdminError;
use keypair_store::{Keypair, TokenStatus};
use serde_json::json;
use time::OffsetDateTime;

use crate::form::Form;
use crate::pages::{minutes, KeyForm, KeyRow};

/// A time as a `datetime-local` field holds it (UTC): `YYYY-MM-DDTHH:MM`.
fn local_field(t: OffsetDateTime) -> String {
    minutes(t).replacen(' ', "T", 1)
}

/// A key's row as the table shows it; its edit dialog holds the key as it is, over
/// the scopes the person may grant (and any the key holds beyond them).
pub(super) fn row(
    k: &Keypair,
    now: OffsetDateTime,
    grantable: &[String],
    keys_href: &str,
) -> KeyRow {
    let held: Vec<String> = k.scopes.iter().map(|s| s.as_str().to_owned()).collect();
    let mut scopes: Vec<(String, bool)> = grantable
        .iter()
        .map(|s| (s.clone(), held.contains(s)))
        .collect();
    let locked: Vec<String> = held
        .iter()
        .filter(|h| !grantable.contains(h))
        .cloned()
        .collect();
    scopes.extend(locked.iter().map(|h| (h.clone(), true)));
    let edit = KeyForm {
        comment: k.comment.clone(),
        scopes,
        locked,
        expires: k.expires_at.map(local_field).unwrap_or_default(),
        addresses: k.allowed_addresses.entries().collect::<Vec<_>>().join("\n"),
        errors: Vec::new(),
    };
    KeyRow {
        live_secrets: k.live_secrets(now).count(),
        edit,
        edit_open: false,
        keys_href: keys_href.to_owned(),
        client_id: k.client_id.as_str().to_owned(),
        hint: format!("{}…", k.secret_hint),
        comment: k.comment.clone(),
        scopes: held,
        active: k.enabled,
        created: minutes(k.created_at),
        last_used: k.last_used_at.map_or_else(|| "Never".to_owned(), minutes),
        expires: match k.expires_at {
            None => "Never".to_owned(),
            Some(t) if t <= now => format!("{} (expired)", minutes(t)),
            Some(t) => minutes(t),
        },
        tokens: match k.generation.as_ref().map(|g| g.status) {
            Some(TokenStatus::Valid) => "Valid",
            Some(TokenStatus::Suspended) => "Suspended",
            Some(TokenStatus::Invalid) => "Revoked",
            None => "None yet",
        },
    }
}

/// What the create and edit forms send, as the operation's JSON input (`expires_at`
/// `null` when empty); the form as typed, to show again with an error.
pub(super) fn key_input(form: &Form, scopes: &[String]) -> (serde_json::Value, KeyForm) {
    let chosen: Vec<String> = scopes
        .iter()
        .filter(|s| form.get(&format!("scope:{s}")) == "on")
        .cloned()
        .collect();
    let typed = KeyForm {
        comment: form.get("comment").to_owned(),
        scopes: scopes
            .iter()
            .map(|s| (s.clone(), chosen.contains(s)))
            .collect(),
        locked: Vec::new(),
        expires: form.get("expires_at").trim().to_owned(),
        addresses: form.get("allowed_addresses").to_owned(),
        errors: Vec::new(),
    };
    let addresses = typed.address_entries();
    let mut input = json!({
        "comment": typed.comment,
        "scopes": chosen,
        "allowed_addresses": addresses,
    });
    input["expires_at"] = if typed.expires.is_empty() {
        serde_json::Value::Null
    } else {
        // `datetime-local` sends `YYYY-MM-DDTHH:MM`; the form says it is UTC.
        json!(format!("{}:00Z", typed.expires))
    };
    (input, typed)
}

/// An operation's input from the form's JSON; a time the form could not turn into
/// RFC 3339 is refused as the operation would refuse it.
pub(super) fn parsed<T: serde::de::DeserializeOwned>(
    input: serde_json::Value,
) -> Result<T, AdminError> {
    serde_json::from_value(input).map_err(|_| {
        AdminError::bad(
            "expires_at",
            "must be a date and time such as 2027-01-31 12:00",
        )
    })
}

/// The edit form's input reduced to what differs from the key as it is, so saving
/// one field changes nothing else. Above all: scopes the key holds but the person may
/// not grant (shown ticked and locked) are kept, and a scope set or an expiry that did
/// not change is not sent, so an edit of the comment never revokes the key's tokens
/// (removing a scope, or bringing the expiry nearer, does) nor rounds its expiry to
/// the minute the form shows.
pub(super) fn only_changes(
    mut input: serde_json::Value,
    current: &Keypair,
    grantable: &[String],
) -> serde_json::Value {
    use std::collections::BTreeSet;
    let Some(fields) = input.as_object_mut() else {
        return input;
    };
    let strings = |v: Option<&serde_json::Value>| -> Vec<String> {
        v.and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let held: BTreeSet<String> = current
        .scopes
        .iter()
        .map(|s| s.as_str().to_owned())
        .collect();
    let wanted: BTreeSet<String> = held
        .iter()
        .filter(|s| !grantable.contains(s))
        .cloned()
        .chain(strings(fields.get("scopes")))
        .collect();
    if wanted == held {
        fields.remove("scopes");
    } else {
        fields.insert("scopes".into(), json!(wanted));
    }
    if fields.get("comment").and_then(|v| v.as_str()) == Some(current.comment.as_str()) {
        fields.remove("comment");
    }
    let typed_expiry = fields
        .get("expires_at")
        .and_then(|v| v.as_str())
        .map(|t| t.trim_end_matches(":00Z").to_owned());
    if typed_expiry == current.expires_at.map(local_field) {
        fields.remove("expires_at");
    }
    let held_addresses: Vec<String> = current.allowed_addresses.entries().collect();
    if strings(fields.get("allowed_addresses")) == held_addresses {
        fields.remove("allowed_addresses");
    }
    input
}
