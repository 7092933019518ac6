//! The `Audit` page of an account or an environment: newest first, a page at a time
//! (the API's cursors), keypairs shown by client id and people by email.

use std::collections::HashMap;

use actix_web::{web, HttpRequest, HttpResponse};
use admin_api::ops::{Administered, AdministratorEntry};
use admin_api::{AdminApi, AdminError, Principal};
use keypair_store::{AuditRecord, Page, PageRequest, User};

use super::object::Object;
use super::page;
use crate::error::ConsoleError;
use crate::pages::{minutes, render, AuditPage, AuditRow};
use crate::{blocking, Console};

/// Records per page.
const RECORDS_PER_PAGE: u32 = 50;

impl Object {
    fn audit(
        &self,
        admin: &AdminApi,
        me: &Principal,
        page: &PageRequest,
    ) -> Result<Page<AuditRecord>, AdminError> {
        match self {
            Object::Account(a) => admin.list_audit(me, a, page),
            Object::Environment(e) => admin.list_environment_audit(me, e, page),
        }
    }
}

/// The emails the viewer may see, by user id: the administrators of the object (and,
/// for an environment, of its account) as admin-api lists them to the viewer, and the
/// viewer's own. Anyone else who acted (an operator, someone since removed) is shown
/// by user id: the audit page reveals no email the Administrators pages would not.
fn visible_emails(
    admin: &AdminApi,
    me: &Principal,
    viewer: &User,
    object: &Object,
    now: time::OffsetDateTime,
) -> HashMap<String, String> {
    let mut owners = vec![object.administered()];
    if let Object::Environment(e) = object {
        if let Ok(env) = admin.get_environment(me, e) {
            owners.push(Administered::Account(env.account_id));
        }
    }
    let mut emails = HashMap::new();
    for owner in owners {
        let Ok(list) = admin.list_administrators(me, &owner, now) else {
            continue;
        };
        for entry in list {
            if let AdministratorEntry::User(a) = entry {
                emails.insert(a.user.id.as_str().to_owned(), a.user.email);
            }
        }
    }
    emails.insert(viewer.id.as_str().to_owned(), viewer.email.clone());
    emails
}

/// Who did it, as a person reads it: `user:usr_…` becomes the person's email when the
/// viewer may see it, else the user id; a client id stays; `system:cli` is
/// `system: cli`.
fn actor(recorded: &str, emails: &HashMap<String, String>) -> String {
    if let Some(id) = recorded.strip_prefix("user:") {
        return emails.get(id).cloned().unwrap_or_else(|| id.to_owned());
    }
    if let Some(command) = recorded.strip_prefix("system:") {
        return format!("system: {command}");
    }
    recorded.to_owned()
}

/// `GET /console/{accounts|environments}/{id}/audit[?cursor=…]`.
pub(crate) async fn audit(
    req: HttpRequest,
    console: web::Data<Console>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ConsoleError> {
    let me = Console::signed_in(&console, &req).await?;
    let (kind, id) = path.into_inner();
    let Some(object) = Object::parse(&kind, &id) else {
        return Ok(ConsoleError::NotFound.response(Some(me.nav())));
    };
    let cursor = super::cursor_of(&req);
    let c = console.clone();
    let principal = me.principal.clone();
    let target = object.clone();
    let viewer = me.user.clone();
    let found = blocking(move || {
        let name = target.name(&c.admin, &principal)?;
        let request = PageRequest::new(Some(RECORDS_PER_PAGE), cursor.as_deref())
            .map_err(|_| ConsoleError::BadRequest("that page of the audit does not exist"))?;
        let page = target.audit(&c.admin, &principal, &request)?;
        let emails = visible_emails(&c.admin, &principal, &viewer, &target, c.clock.now());
        let records = page
            .items
            .iter()
            .map(|r| AuditRow {
                at: minutes(r.at),
                actor: actor(&r.actor, &emails),
                action: r.action.clone(),
                target: r.target.clone(),
                detail: r.detail.clone(),
            })
            .collect();
        Ok((name, records, page.next_cursor))
    })
    .await;
    let (name, records, next) = match found {
        Ok(found) => found,
        Err(e) => return Ok(e.response(Some(me.nav()))),
    };
    let audit_href = object.audit_href();
    Ok(page(render(&AuditPage {
        nav: Some(me.nav()),
        name,
        owner_href: object.href(),
        records,
        next_href: next.map(|c| format!("{audit_href}?cursor={c}")),
    })?))
}
