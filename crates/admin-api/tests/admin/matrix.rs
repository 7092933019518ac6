//! The authorization matrix: every route × every kind of caller → the expected status,
//! from the design's permission table. Each cell runs on a fresh fixture, so a
//! destructive route in one cell cannot change another's outcome.

use serde_json::{json, Value};
use time::Duration;

use crate::{admin_app, call, keypair, send, Env};
use keypair_store::testing::TestDb;
use keypair_store::{Actor, KeypairPatch, Owner, Rotation};

keypair_store::on_both_backends_async! {
    authorization_matrix;
}

/// The callers, in the column order of [`MATRIX`].
const CALLERS: [&str; 14] = [
    "operator",
    "account admin",
    "admin of another account",
    "environment admin",
    "admin of a sibling environment",
    "non-admin keypair",
    "demoted admin",
    "disabled admin",
    "deleted admin",
    "admin whose tokens were revoked",
    "feedback-api token of an admin",
    "no token",
    "malformed token",
    "expired token",
];

/// The objects a path can name; replaced with the fixture's ids.
/// `{A}` the account, `{A1}` its environment, `{KA1}` a keypair of A1, `{KA}` an
/// account-owned keypair of A, `{KOP}` the operator's own keypair; `{HKA1}` and `{HKA}`
/// the hints of the older of those keypairs' two live secrets; `{UA}` and `{UA1}` a
/// person administering A and A1, `{IA}` and `{IA1}` a pending invitation to each (new
/// for every cell: [`Fixture::fresh_administrators`]).
struct Row {
    method: &'static str,
    pattern: &'static str,
    path: &'static str,
    body: Option<fn() -> Value>,
    /// Expected status for the first five callers; the rest are fixed: non-admin 403,
    /// everything after it 401 (a demoted admin's token is of an invalidated
    /// generation, so it is 401 like a revoked one).
    expect: [u16; 5],
}

fn name() -> Value {
    json!({"name": "new"})
}

fn new_keypair() -> Value {
    json!({"scopes": ["feedback:read"], "comment": "matrix"})
}

fn patch() -> Value {
    json!({"enabled": false})
}

fn rotation() -> Value {
    json!({"previous_secret_expires_in_seconds": 60, "end_oldest": true})
}

fn invite() -> Value {
    json!({"email": "invitee@example.com"})
}

const MATRIX: &[Row] = &[
    Row {
        method: "post",
        pattern: "/admin/v1/accounts",
        path: "/admin/v1/accounts",
        body: Some(name),
        expect: [201, 403, 403, 403, 403],
    },
    Row {
        method: "get",
        pattern: "/admin/v1/accounts/{account_id}",
        path: "/admin/v1/accounts/{A}",
        body: None,
        expect: [200, 200, 404, 404, 404],
    },
    Row {
        method: "delete",
        pattern: "/admin/v1/accounts/{account_id}",
        path: "/admin/v1/accounts/{A}",
        body: None,
        expect: [204, 403, 404, 404, 404],
    },
    Row {
        method: "post",
        pattern: "/admin/v1/accounts/{account_id}/environments",
        path: "/admin/v1/accounts/{A}/environments",
        body: Some(name),
        expect: [201, 201, 404, 404, 404],
    },
    Row {
        method: "get",
        pattern: "/admin/v1/accounts/{account_id}/environments",
        path: "/admin/v1/accounts/{A}/environments",
        body: None,
        expect: [200, 200, 404, 404, 404],
    },
    Row {
        method: "get",
        pattern: "/admin/v1/environments/{environment_id}",
        path: "/admin/v1/environments/{A1}",
        body: None,
        expect: [200, 200, 404, 200, 404],
    },
    Row {
        method: "delete",
        pattern: "/admin/v1/environments/{environment_id}",
        path: "/admin/v1/environments/{A1}",
        body: None,
        expect: [204, 204, 404, 403, 404],
    },
    Row {
        method: "post",
        pattern: "/admin/v1/accounts/{account_id}/keypairs",
        path: "/admin/v1/accounts/{A}/keypairs",
        body: Some(new_keypair),
        expect: [201, 201, 404, 404, 404],
    },
    Row {
        method: "post",
        pattern: "/admin/v1/environments/{environment_id}/keypairs",
        path: "/admin/v1/environments/{A1}/keypairs",
        body: Some(new_keypair),
        expect: [201, 201, 404, 201, 404],
    },
    Row {
        method: "get",
        pattern: "/admin/v1/accounts/{account_id}/keypairs",
        path: "/admin/v1/accounts/{A}/keypairs",
        body: None,
        expect: [200, 200, 404, 404, 404],
    },
    Row {
        method: "get",
        pattern: "/admin/v1/environments/{environment_id}/keypairs",
        path: "/admin/v1/environments/{A1}/keypairs",
        body: None,
        expect: [200, 200, 404, 200, 404],
    },
    Row {
        method: "get",
        pattern: "/admin/v1/keypairs/{client_id}",
        path: "/admin/v1/keypairs/{KA1}",
        body: None,
        expect: [200, 200, 404, 200, 404],
    },
    Row {
        method: "get",
        pattern: "/admin/v1/keypairs/{client_id}",
        path: "/admin/v1/keypairs/{KA}",
        body: None,
        expect: [200, 200, 404, 404, 404],
    },
    Row {
        method: "get",
        pattern: "/admin/v1/keypairs/{client_id}",
        path: "/admin/v1/keypairs/{KOP}",
        body: None,
        expect: [200, 404, 404, 404, 404],
    },
    Row {
        method: "patch",
        pattern: "/admin/v1/keypairs/{client_id}",
        path: "/admin/v1/keypairs/{KA1}",
        body: Some(patch),
        expect: [200, 200, 404, 200, 404],
    },
    Row {
        method: "patch",
        pattern: "/admin/v1/keypairs/{client_id}",
        path: "/admin/v1/keypairs/{KA}",
        body: Some(patch),
        expect: [200, 200, 404, 404, 404],
    },
    Row {
        method: "delete",
        pattern: "/admin/v1/keypairs/{client_id}",
        path: "/admin/v1/keypairs/{KA1}",
        body: None,
        expect: [204, 204, 404, 204, 404],
    },
    Row {
        method: "delete",
        pattern: "/admin/v1/keypairs/{client_id}",
        path: "/admin/v1/keypairs/{KA}",
        body: None,
        expect: [204, 204, 404, 404, 404],
    },
    // Revoking a keypair's tokens: the reach of changing it. The operator revoking
    // its own tokens runs first in its row, so no later cell depends on them.
    Row {
        method: "post",
        pattern: "/admin/v1/keypairs/{client_id}/revoke-tokens",
        path: "/admin/v1/keypairs/{KA1}/revoke-tokens",
        body: None,
        expect: [204, 204, 404, 204, 404],
    },
    Row {
        method: "post",
        pattern: "/admin/v1/keypairs/{client_id}/revoke-tokens",
        path: "/admin/v1/keypairs/{KA}/revoke-tokens",
        body: None,
        expect: [204, 204, 404, 404, 404],
    },
    Row {
        method: "post",
        pattern: "/admin/v1/keypairs/{client_id}/revoke-tokens",
        path: "/admin/v1/keypairs/{KOP}/revoke-tokens",
        body: None,
        expect: [204, 404, 404, 404, 404],
    },
    Row {
        method: "post",
        pattern: "/admin/v1/keypairs/{client_id}/revoke-tokens",
        path: "/admin/v1/keypairs/kg_00000000000000000000000000000000/revoke-tokens",
        body: None,
        expect: [404, 404, 404, 404, 404],
    },
    // Rotating and ending secrets: the reach of changing the keypair. The body ends
    // the oldest, so the shared fixture's second rotation of a keypair is not a 409.
    Row {
        method: "post",
        pattern: "/admin/v1/keypairs/{client_id}/secrets",
        path: "/admin/v1/keypairs/{KA1}/secrets",
        body: Some(rotation),
        expect: [201, 201, 404, 201, 404],
    },
    Row {
        method: "post",
        pattern: "/admin/v1/keypairs/{client_id}/secrets",
        path: "/admin/v1/keypairs/{KA}/secrets",
        body: Some(rotation),
        expect: [201, 201, 404, 404, 404],
    },
    Row {
        method: "post",
        pattern: "/admin/v1/keypairs/{client_id}/secrets",
        path: "/admin/v1/keypairs/{KOP}/secrets",
        body: Some(rotation),
        expect: [201, 404, 404, 404, 404],
    },
    Row {
        method: "post",
        pattern: "/admin/v1/keypairs/{client_id}/secrets",
        path: "/admin/v1/keypairs/kg_00000000000000000000000000000000/secrets",
        body: Some(rotation),
        expect: [404, 404, 404, 404, 404],
    },
    Row {
        method: "delete",
        pattern: "/admin/v1/keypairs/{client_id}/secrets/{secret_hint}",
        path: "/admin/v1/keypairs/{KA1}/secrets/{HKA1}",
        body: None,
        expect: [204, 204, 404, 204, 404],
    },
    Row {
        method: "delete",
        pattern: "/admin/v1/keypairs/{client_id}/secrets/{secret_hint}",
        path: "/admin/v1/keypairs/{KA}/secrets/{HKA}",
        body: None,
        expect: [204, 204, 404, 404, 404],
    },
    Row {
        method: "get",
        pattern: "/admin/v1/accounts/{account_id}/audit",
        path: "/admin/v1/accounts/{A}/audit",
        body: None,
        expect: [200, 200, 404, 404, 404],
    },
    Row {
        method: "get",
        pattern: "/admin/v1/environments/{environment_id}/audit",
        path: "/admin/v1/environments/{A1}/audit",
        body: None,
        expect: [200, 200, 404, 200, 404],
    },
    // Every administrator may list accounts; each sees those it reads (an environment
    // administrator: none).
    Row {
        method: "get",
        pattern: "/admin/v1/accounts",
        path: "/admin/v1/accounts",
        body: None,
        expect: [200, 200, 200, 200, 200],
    },
    // Administrators of an account: those who manage its children; of an environment:
    // those who manage its keypairs. An environment administrator never reaches its
    // account's.
    Row {
        method: "post",
        pattern: "/admin/v1/accounts/{account_id}/administrators",
        path: "/admin/v1/accounts/{A}/administrators",
        body: Some(invite),
        expect: [201, 201, 404, 404, 404],
    },
    Row {
        method: "get",
        pattern: "/admin/v1/accounts/{account_id}/administrators",
        path: "/admin/v1/accounts/{A}/administrators",
        body: None,
        expect: [200, 200, 404, 404, 404],
    },
    Row {
        method: "delete",
        pattern: "/admin/v1/accounts/{account_id}/administrators/{id}",
        path: "/admin/v1/accounts/{A}/administrators/{UA}",
        body: None,
        expect: [204, 204, 404, 404, 404],
    },
    Row {
        method: "delete",
        pattern: "/admin/v1/accounts/{account_id}/administrators/{id}",
        path: "/admin/v1/accounts/{A}/administrators/{IA}",
        body: None,
        expect: [204, 204, 404, 404, 404],
    },
    Row {
        method: "delete",
        pattern: "/admin/v1/accounts/{account_id}/administrators/{id}",
        path: "/admin/v1/accounts/{A}/administrators/{UA1}",
        body: None,
        expect: [404, 404, 404, 404, 404],
    },
    Row {
        method: "post",
        pattern: "/admin/v1/environments/{environment_id}/administrators",
        path: "/admin/v1/environments/{A1}/administrators",
        body: Some(invite),
        expect: [201, 201, 404, 201, 404],
    },
    Row {
        method: "get",
        pattern: "/admin/v1/environments/{environment_id}/administrators",
        path: "/admin/v1/environments/{A1}/administrators",
        body: None,
        expect: [200, 200, 404, 200, 404],
    },
    Row {
        method: "delete",
        pattern: "/admin/v1/environments/{environment_id}/administrators/{id}",
        path: "/admin/v1/environments/{A1}/administrators/{UA1}",
        body: None,
        expect: [204, 204, 404, 204, 404],
    },
    Row {
        method: "delete",
        pattern: "/admin/v1/environments/{environment_id}/administrators/{id}",
        path: "/admin/v1/environments/{A1}/administrators/{IA1}",
        body: None,
        expect: [204, 204, 404, 204, 404],
    },
    Row {
        method: "delete",
        pattern: "/admin/v1/environments/{environment_id}/administrators/{id}",
        path: "/admin/v1/environments/{A1}/administrators/{IA}",
        body: None,
        expect: [404, 404, 404, 404, 404],
    },
];

#[test]
fn the_matrix_covers_every_route() {
    let mut routes: Vec<(&str, &str)> = admin_api::ROUTES.to_vec();
    let mut covered: Vec<(&str, &str)> = MATRIX.iter().map(|r| (r.method, r.pattern)).collect();
    routes.sort();
    covered.sort();
    covered.dedup();
    assert_eq!(
        covered, routes,
        "every route needs rows in the authorization matrix"
    );
}

/// One fixture: account A with environments A1 and A2, account B, and one keypair
/// (with a token) per kind of caller.
struct Fixture {
    env: Env,
    ids: Vec<(&'static str, String)>,
    tokens: Vec<Option<String>>,
    /// A's and A1's owners, for new administrators and invitations.
    owners: (Owner, Owner),
    made: std::cell::Cell<u32>,
}

impl Fixture {
    /// New targets for `{UA}`, `{UA1}`, `{IA}` and `{IA1}`: removing an administrator
    /// or withdrawing an invitation changes no caller's reach, so those cells share a
    /// fixture and each gets targets of its own.
    fn fresh_administrators(&self) -> Vec<(&'static str, String)> {
        let s = self.env.store();
        let now = self.env.clock().now();
        let sys = Actor::system("test");
        let lifetime = Duration::days(1);
        self.made.set(self.made.get() + 1);
        let n = self.made.get();
        let person = |email: String, owner: &Owner| {
            let (_, code) = s.invite(&sys, &email, owner, lifetime, now).unwrap();
            s.accept_invitation(&code, &crate::new_person(s, ""), now)
                .unwrap()
                .id
                .to_string()
        };
        let pending = |email: String, owner: &Owner| {
            s.invite(&sys, &email, owner, lifetime, now)
                .unwrap()
                .0
                .id
                .to_string()
        };
        let (acct, a1) = &self.owners;
        vec![
            ("{UA1}", person(format!("ua1-{n}@example.com"), a1)),
            ("{UA}", person(format!("ua-{n}@example.com"), acct)),
            ("{IA1}", pending(format!("ia1-{n}@example.com"), a1)),
            ("{IA}", pending(format!("ia-{n}@example.com"), acct)),
        ]
    }
}

fn fixture(db: TestDb) -> Fixture {
    let env = Env::new(db);
    let s = env.store().clone();
    let now = env.clock().now();
    let sys = Actor::system("test");
    let a = s.create_account(&sys, "A", now).unwrap();
    let b = s.create_account(&sys, "B", now).unwrap();
    let a1 = s.create_environment(&sys, &a.id, "A1", now).unwrap();
    let a2 = s.create_environment(&sys, &a.id, "A2", now).unwrap();
    let acct = Owner::Account(a.id.clone());
    let a1_owner = Owner::Environment {
        account_id: a.id.clone(),
        environment_id: a1.id.clone(),
    };
    let a2_owner = Owner::Environment {
        account_id: a.id.clone(),
        environment_id: a2.id.clone(),
    };

    let (op, op_s) = s.create_operator_keypair(&sys, "op", now).unwrap();
    let (acct_admin, acct_admin_s) =
        keypair(&s, acct.clone(), &["keygate:admin", "feedback:read"], now);
    let (other, other_s) = keypair(&s, Owner::Account(b.id.clone()), &["keygate:admin"], now);
    let (env_admin, env_admin_s) = keypair(&s, a1_owner.clone(), &["keygate:admin"], now);
    let (sibling, sibling_s) = keypair(&s, a2_owner, &["keygate:admin"], now);
    // Its tokens are for the admin API's audience, without an admin scope.
    let (non_admin, non_admin_s) = keypair(&s, acct.clone(), &["keygate:introspect"], now);
    let (demoted, demoted_s) = keypair(&s, acct.clone(), &["keygate:admin", "feedback:read"], now);
    let (disabled, disabled_s) = keypair(&s, acct.clone(), &["keygate:admin"], now);
    let (deleted, deleted_s) = keypair(&s, acct.clone(), &["keygate:admin"], now);
    let (revoked, revoked_s) = keypair(&s, acct.clone(), &["keygate:admin"], now);
    let (ka1, _) = keypair(&s, a1_owner.clone(), &["feedback:read"], now);
    let (ka, _) = keypair(&s, acct.clone(), &["feedback:read"], now);

    let t = |k: &keypair_store::Keypair, sec: &keypair_store::ClientSecret| {
        env.mint(k.client_id.as_str(), sec)
    };
    let tokens = vec![
        Some(t(&op, &op_s)),
        Some(t(&acct_admin, &acct_admin_s)),
        Some(t(&other, &other_s)),
        Some(t(&env_admin, &env_admin_s)),
        Some(t(&sibling, &sibling_s)),
        Some(t(&non_admin, &non_admin_s)),
        Some(t(&demoted, &demoted_s)),
        Some(t(&disabled, &disabled_s)),
        Some(t(&deleted, &deleted_s)),
        Some(t(&revoked, &revoked_s)),
        Some(env.mint_at(
            acct_admin.client_id.as_str(),
            &acct_admin_s,
            "&resource=feedback-api",
            now,
        )),
        None,
        Some("not.a.jwt".into()),
        Some(env.mint_at(
            acct_admin.client_id.as_str(),
            &acct_admin_s,
            "",
            now - Duration::hours(2),
        )),
    ];
    // After the tokens were issued: demote, disable, delete, revoke.
    let read_only = super::catalogue()
        .validate_for_keypair(&["feedback:read"])
        .unwrap();
    s.update_keypair(
        &sys,
        &demoted.client_id,
        KeypairPatch {
            scopes: Some(read_only),
            ..Default::default()
        },
        now,
    )
    .unwrap();
    s.update_keypair(
        &sys,
        &disabled.client_id,
        KeypairPatch {
            enabled: Some(false),
            ..Default::default()
        },
        now,
    )
    .unwrap();
    s.delete_keypair(&sys, &deleted.client_id, now).unwrap();
    s.revoke_tokens(&sys, &revoked.client_id, now).unwrap();
    // Two live secrets each for the target keypairs, so one may be ended.
    for k in [&ka1, &ka] {
        let overlap = Rotation {
            previous_secret_expires_in_seconds: 3600,
            end_oldest: false,
        };
        s.rotate_secret(&sys, &k.client_id, overlap, now).unwrap();
    }

    let ids = vec![
        ("{A1}", a1.id.to_string()),
        ("{A}", a.id.to_string()),
        ("{KA1}", ka1.client_id.to_string()),
        ("{KA}", ka.client_id.to_string()),
        ("{KOP}", op.client_id.to_string()),
        ("{HKA1}", ka1.secret_hint.clone()),
        ("{HKA}", ka.secret_hint.clone()),
    ];
    Fixture {
        env,
        ids,
        tokens,
        owners: (acct, a1_owner),
        made: std::cell::Cell::new(0),
    }
}

async fn authorization_matrix(db: TestDb) {
    let postgres = matches!(db.url, keypair_store::DatabaseUrl::Postgres(_));
    let fresh = || {
        if postgres {
            TestDb::postgres().unwrap()
        } else {
            TestDb::sqlite()
        }
    };
    let mut spare = Some(db);
    let mut failures = Vec::new();
    let mut cells = 0;
    for row in MATRIX {
        // Deletions cascade: those cells each get a fixture of their own; other rows
        // share one fixture (creating and patching do not change any caller's reach).
        let mut shared: Option<Fixture> = None;
        for (col, caller) in CALLERS.iter().enumerate() {
            let expected = match col {
                0..=4 => row.expect[col],
                5 => 403,
                _ => 401,
            };
            let own;
            let removes_an_administrator = row.path.contains("/administrators/");
            let f = if row.method == "delete" && !removes_an_administrator {
                own = fixture(spare.take().unwrap_or_else(fresh));
                &own
            } else {
                shared.get_or_insert_with(|| fixture(spare.take().unwrap_or_else(fresh)))
            };
            let app = admin_app!(f.env);
            let mut path = row.path.to_owned();
            if removes_an_administrator {
                for (k, v) in f.fresh_administrators() {
                    path = path.replace(k, &v);
                }
            }
            for (k, v) in &f.ids {
                path = path.replace(k, v);
            }
            let req = call(
                row.method,
                &path,
                f.tokens[col].as_deref(),
                row.body.map(|b| b()),
            );
            let reply = send(&app, req).await;
            cells += 1;
            if reply.status != expected {
                failures.push(format!(
                    "{} {} as {caller}: expected {expected}, got {} {}",
                    row.method, row.path, reply.status, reply.body
                ));
            }
            if reply.status == 401 {
                let www = reply.header("www-authenticate").unwrap_or_default();
                if !www.starts_with("Bearer realm=\"keygate\"") {
                    failures.push(format!(
                        "{} {} as {caller}: 401 without Bearer challenge",
                        row.method, row.path
                    ));
                }
            }
            if reply.status >= 400 && !reply.json()["error"].is_string() {
                failures.push(format!(
                    "{} {} as {caller}: error body without `error`",
                    row.method, row.path
                ));
            }
        }
    }
    assert_eq!(cells, MATRIX.len() * CALLERS.len());
    assert!(
        failures.is_empty(),
        "{} of {cells} cells wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
