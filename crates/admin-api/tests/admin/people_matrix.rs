//! The people matrix: for every route, a person signed in to the console gets the same
//! decision as a keypair with the same binding. The REST API stays bearer-only, so
//! this runs each route's operation directly: people get their bindings for real
//! (invited and accepted through the store) and their principal from
//! [`AdminApi::user_principal`]; keypairs get theirs from a real token
//! ([`AdminApi::keypair_principal`]). Outcomes are compared by class: ok, 403, 404.

use admin_api::ops::{
    Administered, AdministratorId, InviteInput, KeypairPatchInput, NameInput, NewKeypairInput,
    RevokeTokensInput, RotationInput,
};
use admin_api::{AdminApi, AdminError, Principal};
use keypair_store::testing::TestDb;
use keypair_store::{
    Acceptor, AccountId, Actor, ClientId, EnvironmentId, InvitationId, Owner, PageRequest,
    Rotation, Store, UserId,
};
use serde_json::json;
use time::{Duration, OffsetDateTime};

use crate::{catalogue, keypair, Env, ISSUER};

keypair_store::on_both_backends_async! {
    people_and_keypairs_with_the_same_binding_get_the_same_decisions;
}

/// The objects of one fixture that operations name.
struct Ids {
    a: AccountId,
    a1: EnvironmentId,
    ka1: ClientId,
    ka: ClientId,
    kop: ClientId,
    hint_ka1: String,
    hint_ka: String,
    ua: UserId,
    ua1: UserId,
    ia: InvitationId,
    ia1: InvitationId,
}

type Op = fn(&AdminApi, &Principal, &Ids, OffsetDateTime) -> Result<(), AdminError>;

/// One operation of one route, on objects of the fixture.
struct Case {
    method: &'static str,
    pattern: &'static str,
    what: &'static str,
    /// Changes what later cells would see (deletes, closes, removals): run on a
    /// fixture of its own.
    destructive: bool,
    op: Op,
}

fn name() -> NameInput {
    serde_json::from_value(json!({"name": "new"})).unwrap()
}

fn new_keypair() -> NewKeypairInput {
    serde_json::from_value(json!({"scopes": ["feedback:read"], "comment": "m"})).unwrap()
}

fn patch() -> KeypairPatchInput {
    serde_json::from_value(json!({"comment": "changed"})).unwrap()
}

fn rotation() -> RotationInput {
    serde_json::from_value(json!({"previous_secret_expires_in_seconds": 60, "end_oldest": true}))
        .unwrap()
}

fn invite() -> InviteInput {
    serde_json::from_value(json!({"email": "invitee@example.com"})).unwrap()
}

fn account(ids: &Ids) -> Administered {
    Administered::Account(ids.a.clone())
}

fn environment(ids: &Ids) -> Administered {
    Administered::Environment(ids.a1.clone())
}

fn page() -> PageRequest {
    PageRequest::first()
}

macro_rules! case {
    ($method:literal $pattern:literal $what:literal, $destructive:expr, $op:expr) => {
        Case {
            method: $method,
            pattern: $pattern,
            what: $what,
            destructive: $destructive,
            op: $op,
        }
    };
}

fn cases() -> Vec<Case> {
    vec![
        case!("post" "/admin/v1/accounts" "create", false,
            |api, p, _, now| api.create_account(p, name(), now).map(drop)),
        case!("get" "/admin/v1/accounts" "list", false,
            |api, p, _, _| api.list_accounts(p, &page()).map(drop)),
        case!("get" "/admin/v1/accounts/{account_id}" "A", false,
            |api, p, f, _| api.get_account(p, &f.a).map(drop)),
        case!("delete" "/admin/v1/accounts/{account_id}" "A", true,
            |api, p, f, now| api.close_account(p, &f.a, now)),
        case!("post" "/admin/v1/accounts/{account_id}/environments" "A", false,
            |api, p, f, now| api.create_environment(p, &f.a, name(), now).map(drop)),
        case!("get" "/admin/v1/accounts/{account_id}/environments" "A", false,
            |api, p, f, _| api.list_environments(p, &f.a, &page()).map(drop)),
        case!("get" "/admin/v1/environments/{environment_id}" "A1", false,
            |api, p, f, _| api.get_environment(p, &f.a1).map(drop)),
        case!("delete" "/admin/v1/environments/{environment_id}" "A1", true,
            |api, p, f, now| api.close_environment(p, &f.a1, now)),
        case!("post" "/admin/v1/accounts/{account_id}/keypairs" "A", false,
            |api, p, f, now| api.create_account_keypair(p, &f.a, new_keypair(), now).map(drop)),
        case!("post" "/admin/v1/environments/{environment_id}/keypairs" "A1", false,
        |api, p, f, now| {
            api.create_environment_keypair(p, &f.a1, new_keypair(), now).map(drop)
        }),
        case!("get" "/admin/v1/accounts/{account_id}/keypairs" "A", false,
            |api, p, f, _| api.list_account_keypairs(p, &f.a, &page()).map(drop)),
        case!("get" "/admin/v1/environments/{environment_id}/keypairs" "A1", false,
            |api, p, f, _| api.list_environment_keypairs(p, &f.a1, &page()).map(drop)),
        case!("get" "/admin/v1/keypairs/{client_id}" "KA1", false,
            |api, p, f, _| api.get_keypair(p, &f.ka1).map(drop)),
        case!("get" "/admin/v1/keypairs/{client_id}" "KA", false,
            |api, p, f, _| api.get_keypair(p, &f.ka).map(drop)),
        case!("get" "/admin/v1/keypairs/{client_id}" "KOP", false,
            |api, p, f, _| api.get_keypair(p, &f.kop).map(drop)),
        case!("patch" "/admin/v1/keypairs/{client_id}" "KA1", false,
            |api, p, f, now| api.update_keypair(p, &f.ka1, patch(), now).map(drop)),
        case!("patch" "/admin/v1/keypairs/{client_id}" "KA", false,
            |api, p, f, now| api.update_keypair(p, &f.ka, patch(), now).map(drop)),
        case!("delete" "/admin/v1/keypairs/{client_id}" "KA1", true,
            |api, p, f, now| api.delete_keypair(p, &f.ka1, now)),
        case!("delete" "/admin/v1/keypairs/{client_id}" "KA", true,
            |api, p, f, now| api.delete_keypair(p, &f.ka, now)),
        case!("post" "/admin/v1/keypairs/{client_id}/secrets" "KA1", false,
            |api, p, f, now| api.rotate_secret(p, &f.ka1, rotation(), now).map(drop)),
        case!("post" "/admin/v1/keypairs/{client_id}/secrets" "KA", false,
            |api, p, f, now| api.rotate_secret(p, &f.ka, rotation(), now).map(drop)),
        case!("post" "/admin/v1/keypairs/{client_id}/secrets" "KOP", false,
            |api, p, f, now| api.rotate_secret(p, &f.kop, rotation(), now).map(drop)),
        case!("delete" "/admin/v1/keypairs/{client_id}/secrets/{secret_hint}" "KA1", true,
            |api, p, f, now| api.end_secret(p, &f.ka1, &f.hint_ka1, now)),
        case!("delete" "/admin/v1/keypairs/{client_id}/secrets/{secret_hint}" "KA", true,
            |api, p, f, now| api.end_secret(p, &f.ka, &f.hint_ka, now)),
        case!("post" "/admin/v1/keypairs/{client_id}/revoke-tokens" "KA1", false,
            |api, p, f, now| api.revoke_tokens(p, &f.ka1, RevokeTokensInput::default(), now)),
        case!("post" "/admin/v1/keypairs/{client_id}/revoke-tokens" "KA", false,
            |api, p, f, now| api.revoke_tokens(p, &f.ka, RevokeTokensInput::default(), now)),
        case!("post" "/admin/v1/keypairs/{client_id}/revoke-tokens" "KOP", false,
            |api, p, f, now| api.revoke_tokens(p, &f.kop, RevokeTokensInput::default(), now)),
        case!("get" "/admin/v1/accounts/{account_id}/audit" "A", false,
            |api, p, f, _| api.list_audit(p, &f.a, &page()).map(drop)),
        case!("get" "/admin/v1/environments/{environment_id}/audit" "A1", false,
            |api, p, f, _| api.list_environment_audit(p, &f.a1, &page()).map(drop)),
        case!("post" "/admin/v1/accounts/{account_id}/administrators" "A", false,
            |api, p, f, now| api.invite_administrator(p, &account(f), invite(), now).map(drop)),
        case!("get" "/admin/v1/accounts/{account_id}/administrators" "A", false,
            |api, p, f, now| api.list_administrators(p, &account(f), now).map(drop)),
        case!("delete" "/admin/v1/accounts/{account_id}/administrators/{id}" "UA", true,
        |api, p, f, now| {
            let id = AdministratorId::User(f.ua.clone());
            api.remove_administrator(p, &account(f), &id, now)
        }),
        case!("delete" "/admin/v1/accounts/{account_id}/administrators/{id}" "IA", true,
        |api, p, f, now| {
            let id = AdministratorId::Invitation(f.ia.clone());
            api.remove_administrator(p, &account(f), &id, now)
        }),
        case!("post" "/admin/v1/environments/{environment_id}/administrators" "A1", false,
        |api, p, f, now| {
            api.invite_administrator(p, &environment(f), invite(), now).map(drop)
        }),
        case!("get" "/admin/v1/environments/{environment_id}/administrators" "A1", false,
            |api, p, f, now| api.list_administrators(p, &environment(f), now).map(drop)),
        case!("delete" "/admin/v1/environments/{environment_id}/administrators/{id}" "UA1", true,
        |api, p, f, now| {
            let id = AdministratorId::User(f.ua1.clone());
            api.remove_administrator(p, &environment(f), &id, now)
        }),
        case!("delete" "/admin/v1/environments/{environment_id}/administrators/{id}" "IA1", true,
        |api, p, f, now| {
            let id = AdministratorId::Invitation(f.ia1.clone());
            api.remove_administrator(p, &environment(f), &id, now)
        }),
    ]
}

#[test]
fn the_people_matrix_covers_every_route() {
    let mut routes: Vec<(&str, &str)> = admin_api::ROUTES.to_vec();
    let mut covered: Vec<(&str, &str)> = cases().iter().map(|c| (c.method, c.pattern)).collect();
    routes.sort();
    covered.sort();
    covered.dedup();
    assert_eq!(
        covered, routes,
        "every route needs an operation in the people matrix"
    );
}

/// What an operation answered, by class.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    NotFound,
    Forbidden,
    Ok,
}

fn outcome(r: Result<(), AdminError>, what: &str) -> Outcome {
    match r {
        Ok(()) => Outcome::Ok,
        Err(AdminError::Forbidden) => Outcome::Forbidden,
        Err(AdminError::NotFound) => Outcome::NotFound,
        Err(e) => panic!("{what}: neither allowed nor refused: {e:?}"),
    }
}

/// Who calls: the bindings a person holds; a keypair caller holds one each.
#[derive(Clone, Copy, Debug)]
enum Caller {
    Operator,
    AccountAdmin,
    EnvironmentAdmin,
    /// Administrator of A1 and of account B: reaches what either reaches.
    Two,
    /// Bound to nothing (the binding it had was removed).
    Nobody,
}

const CALLERS: [Caller; 5] = [
    Caller::Operator,
    Caller::AccountAdmin,
    Caller::EnvironmentAdmin,
    Caller::Two,
    Caller::Nobody,
];

/// One fixture: accounts A (environments A1, A2) and B, target objects, and every
/// caller's principal, made before any operation runs.
struct Fixture {
    ids: Ids,
    people: Vec<Principal>,
    /// Per caller, the principals of keypairs with its bindings (one per binding).
    keypairs: Vec<Vec<Principal>>,
}

fn fixture(env: &Env, api: &AdminApi, n: &mut u32) -> Fixture {
    *n += 1;
    let tag = *n;
    let s: &Store = env.store();
    let now = env.clock().now();
    let sys = Actor::system("test");
    let a = s.create_account(&sys, "A", now).unwrap().id;
    let b = s.create_account(&sys, "B", now).unwrap().id;
    let a1 = s.create_environment(&sys, &a, "A1", now).unwrap().id;
    let acct = Owner::Account(a.clone());
    let a1_owner = Owner::Environment {
        account_id: a.clone(),
        environment_id: a1.clone(),
    };
    let b_owner = Owner::Account(b.clone());
    let lifetime = Duration::days(1);

    // People, bound by accepting invitations.
    let person = |who: &str, owners: &[&Owner]| -> UserId {
        let email = format!("{who}-{tag}@example.com");
        let mut user: Option<UserId> = None;
        for owner in owners {
            let (_, code) = s.invite(&sys, &email, owner, lifetime, now).unwrap();
            let acceptor = match &user {
                None => crate::new_person(s, who),
                Some(u) => Acceptor::SignedIn(u.clone()),
            };
            user = Some(s.accept_invitation(&code, &acceptor, now).unwrap().id);
        }
        user.unwrap()
    };
    let nobody = person("nobody", &[&b_owner]);
    s.remove_binding(&sys, &nobody, &b_owner, now).unwrap();
    let people_ids = [
        person("operator", &[&Owner::Operator]),
        person("account-admin", &[&acct]),
        person("env-admin", &[&a1_owner]),
        person("two", &[&a1_owner, &b_owner]),
        nobody,
    ];
    let people = people_ids
        .iter()
        .map(|u| api.user_principal(u).unwrap())
        .collect();

    // Keypairs, with real tokens checked by the real guard.
    let (op_kp, op_secret) = s.create_operator_keypair(&sys, "op", now).unwrap();
    let principal_of = |id: &ClientId, secret: &keypair_store::ClientSecret| {
        let token = env.mint(id.as_str(), secret);
        let claims = env.keygate.guard().validate(&token).unwrap();
        api.keypair_principal(&claims).unwrap()
    };
    let admin_of = |owner: &Owner| {
        let (k, secret) = keypair(s, owner.clone(), &["keygate:admin"], now);
        principal_of(&k.client_id, &secret)
    };
    let keypairs = vec![
        vec![principal_of(&op_kp.client_id, &op_secret)],
        vec![admin_of(&acct)],
        vec![admin_of(&a1_owner)],
        vec![admin_of(&a1_owner), admin_of(&b_owner)],
        vec![],
    ];

    // Targets.
    let (ka1, _) = keypair(s, a1_owner.clone(), &["feedback:read"], now);
    let (ka, _) = keypair(s, acct.clone(), &["feedback:read"], now);
    for k in [&ka1, &ka] {
        let overlap = Rotation {
            previous_secret_expires_in_seconds: 3600,
            end_oldest: false,
        };
        s.rotate_secret(&sys, &k.client_id, overlap, now).unwrap();
    }
    let ua = person("ua", &[&acct]);
    let ua1 = person("ua1", &[&a1_owner]);
    let (ia, _) = s
        .invite(&sys, &format!("ia-{tag}@example.com"), &acct, lifetime, now)
        .unwrap();
    let (ia1, _) = s
        .invite(
            &sys,
            &format!("ia1-{tag}@example.com"),
            &a1_owner,
            lifetime,
            now,
        )
        .unwrap();
    Fixture {
        ids: Ids {
            a,
            a1,
            hint_ka1: ka1.secret_hint.clone(),
            hint_ka: ka.secret_hint.clone(),
            ka1: ka1.client_id,
            ka: ka.client_id,
            kop: op_kp.client_id,
            ua,
            ua1,
            ia: ia.id,
            ia1: ia1.id,
        },
        people,
        keypairs,
    }
}

async fn people_and_keypairs_with_the_same_binding_get_the_same_decisions(db: TestDb) {
    let env = Env::new(db);
    let api = AdminApi::new(
        env.store().clone(),
        ISSUER,
        catalogue(),
        86_400,
        env.clock().clone(),
    );
    let now = env.clock().now();
    let mut n = 0;
    let mut failures = Vec::new();
    let mut cells = 0;
    let mut shared: Option<Fixture> = None;
    for case in cases() {
        for (col, caller) in CALLERS.iter().enumerate() {
            let what = format!(
                "{} {} ({}) as {caller:?}",
                case.method, case.pattern, case.what
            );
            // The person's decision.
            let own;
            let f = if case.destructive {
                own = fixture(&env, &api, &mut n);
                &own
            } else {
                shared.get_or_insert_with(|| fixture(&env, &api, &mut n))
            };
            let person = outcome((case.op)(&api, &f.people[col], &f.ids, now), &what);
            // The keypairs' decisions, each on a fixture of its own when the
            // operation changes things; a caller with several bindings reaches what
            // any of them reaches, so its decision is the best of theirs.
            let mut keypair_outcomes = Vec::new();
            for k in 0..f.keypairs[col].len() {
                let own;
                let g = if case.destructive {
                    own = fixture(&env, &api, &mut n);
                    &own
                } else {
                    f
                };
                keypair_outcomes.push(outcome(
                    (case.op)(&api, &g.keypairs[col][k], &g.ids, now),
                    &what,
                ));
            }
            cells += 1;
            match keypair_outcomes.iter().max() {
                Some(k) if *k != person => failures.push(format!(
                    "{what}: person {person:?}, keypairs {keypair_outcomes:?}"
                )),
                // Bound to nothing: every operation is refused, except listing the
                // accounts it reads, which answers an empty list (checked below).
                None if person == Outcome::Ok
                    && (case.method, case.pattern) != ("get", "/admin/v1/accounts") =>
                {
                    failures.push(format!("{what}: a person without bindings was allowed"))
                }
                _ => {}
            }
        }
    }
    assert_eq!(cells, cases().len() * CALLERS.len());
    assert!(
        failures.is_empty(),
        "{} of {cells} cells differ:\n{}",
        failures.len(),
        failures.join("\n")
    );

    // Spelled out: an environment administrator, person or keypair, cannot invite at
    // account level: 404, as if the account did not exist.
    let f = fixture(&env, &api, &mut n);
    let env_admin = 2;
    for p in [&f.people[env_admin], &f.keypairs[env_admin][0]] {
        let r = api.invite_administrator(p, &account(&f.ids), invite(), now);
        assert!(matches!(r, Err(AdminError::NotFound)), "{p:?}: {r:?}");
    }
    let nobody = CALLERS.len() - 1;
    let listed = api.list_accounts(&f.people[nobody], &page()).unwrap();
    assert!(listed.items.is_empty() && listed.next_cursor.is_none());
    let listed = api.list_accounts(&f.people[env_admin], &page()).unwrap();
    assert!(listed.items.is_empty());
    // And the people's outcomes are not all alike (the matrix can tell them apart).
    let create_env = |p: &Principal| {
        outcome(
            api.create_environment(p, &f.ids.a, name(), now).map(drop),
            "create env",
        )
    };
    assert_eq!(
        CALLERS.map(|c| create_env(&f.people[c as usize])),
        [
            Outcome::Ok,
            Outcome::Ok,
            Outcome::NotFound,
            Outcome::NotFound,
            Outcome::NotFound
        ]
    );
}
