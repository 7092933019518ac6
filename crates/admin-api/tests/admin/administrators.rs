//! Human administrators through the admin API: inviting (the same answer for every
//! email), listing people and pending invitations (never a code or a link), removing
//! and withdrawing, who reaches whose administrators, `GET /accounts` by role and an
//! environment's audit trail.

use std::collections::BTreeSet;
use std::time::Duration;

use admin_api::AdminApi;
use clock::TestClock;
use keypair_store::testing::TestDb;
use keypair_store::{
    Acceptor, AccountId, Actor, EnvironmentId, InvitationCode, Owner, Store, StoreError, UserId,
};
use serde_json::{json, Value};
use time::OffsetDateTime;

use crate::client::{
    operator, AdminClient, AdministratorEntry, AuditRecord, NewKeypair, PageQuery,
};
use crate::{admin_app, catalogue, keypair, Env, ISSUER};

keypair_store::on_both_backends_async! {
    invite_answers_have_the_same_shape_whoever_the_email_belongs_to;
    bad_emails_are_400_naming_the_field;
    an_environment_admin_never_reaches_account_administrators;
    an_account_admin_invites_to_its_account_and_its_environments;
    an_environment_admin_sees_only_its_own_environment_administrators;
    listings_show_people_and_pending_invitations_but_never_a_code;
    withdrawing_and_removing_take_effect_at_once_and_are_audited;
    accounts_are_listed_by_reach;
    an_environment_audit_holds_its_own_records_only;
}

const T0: OffsetDateTime = time::macros::datetime!(2031-05-06 07:08:09 UTC);

/// A lab: an environment on a test clock, account A with environments A1 and A2,
/// account B with B1, and an operator token.
struct Lab {
    clock: TestClock,
    env: Env,
    op: String,
    a: AccountId,
    a1: EnvironmentId,
    a2: EnvironmentId,
    b: AccountId,
    b1: EnvironmentId,
}

fn lab(db: TestDb) -> Lab {
    let clock = TestClock::new(T0);
    let env = Env::with_clock(db, clock.clock());
    let s = env.store().clone();
    let sys = Actor::system("test");
    let a = s.create_account(&sys, "A", T0).unwrap().id;
    let a1 = s.create_environment(&sys, &a, "A1", T0).unwrap().id;
    let a2 = s.create_environment(&sys, &a, "A2", T0).unwrap().id;
    let b = s.create_account(&sys, "B", T0).unwrap().id;
    let b1 = s.create_environment(&sys, &b, "B1", T0).unwrap().id;
    let op = operator(&env).token;
    Lab {
        clock,
        env,
        op,
        a,
        a1,
        a2,
        b,
        b1,
    }
}

impl Lab {
    fn store(&self) -> &Store {
        self.env.store()
    }

    fn env_owner(&self, account: &AccountId, env: &EnvironmentId) -> Owner {
        Owner::Environment {
            account_id: account.clone(),
            environment_id: env.clone(),
        }
    }

    /// A token of a new `keygate:admin` keypair owned by `owner`.
    fn admin_token(&self, owner: Owner) -> String {
        let (k, s) = keypair(self.store(), owner, &["keygate:admin"], self.clock.now());
        self.env.mint(k.client_id.as_str(), &s)
    }

    /// A person who accepted invitations to each of `owners` (the first as a new
    /// person, the others signed in).
    fn person(&self, email: &str, name: &str, owners: &[Owner]) -> UserId {
        let s = self.store();
        let now = self.clock.now();
        let sys = Actor::system("test");
        let mut user: Option<UserId> = None;
        for owner in owners {
            let (_, code) = s
                .invite(&sys, email, owner, time::Duration::days(1), now)
                .unwrap();
            let acceptor = match &user {
                None => crate::new_person(s, name),
                Some(id) => Acceptor::SignedIn(id.clone()),
            };
            user = Some(s.accept_invitation(&code, &acceptor, now).unwrap().id);
        }
        user.unwrap()
    }

    /// The admin API's operations on the same store and clock (for principals).
    fn api(&self) -> AdminApi {
        AdminApi::new(
            self.store().clone(),
            ISSUER,
            catalogue(),
            86_400,
            self.clock.clock(),
        )
    }
}

fn acct(id: &AccountId) -> String {
    format!("accounts/{id}")
}

fn envp(id: &EnvironmentId) -> String {
    format!("environments/{id}")
}

/// The code in a setup link, which must be exactly `{issuer}/console/setup/{code}`
/// with a 64-hex-digit code.
fn code_of(setup_url: &str) -> InvitationCode {
    let code = setup_url
        .strip_prefix(&format!("{ISSUER}/console/setup/"))
        .unwrap_or_else(|| panic!("setup link {setup_url}"));
    assert_eq!(code.len(), 64, "{setup_url}");
    assert!(code.bytes().all(|b| b.is_ascii_hexdigit()), "{setup_url}");
    InvitationCode::from_presented(code)
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

async fn invite_answers_have_the_same_shape_whoever_the_email_belongs_to(db: TestDb) {
    let lab = lab(db);
    let app = admin_app!(lab.env);
    let op = AdminClient::new(&app, lab.op.clone());
    // Ada already administers another account's environment; nobody has the other
    // email.
    let ada = lab.person("Ada@Example.com", "Ada", &[lab.env_owner(&lab.b, &lab.b1)]);
    let bindings_before = lab.store().user_bindings(&ada).unwrap();

    let mut answers = Vec::new();
    for (owner, email) in [
        (acct(&lab.a), "ada@example.COM"),
        (acct(&lab.a), "nobody.yet@example.com"),
        (envp(&lab.a1), "ada@example.com"),
        (envp(&lab.a1), "someone.else@example.com"),
    ] {
        let reply = op
            .raw(
                "post",
                &format!("/admin/v1/{owner}/administrators"),
                Some(json!({"email": email})),
            )
            .await;
        assert_eq!(reply.status, 201, "{owner} {email}: {}", reply.body);
        assert_eq!(reply.header("cache-control"), Some("no-store"));
        let body = reply.json();
        assert_eq!(
            keys(&body),
            ["email", "expires_at", "invitation_id", "role", "setup_url"]
                .map(String::from)
                .into(),
            "{owner} {email}: {body}"
        );
        let role = if owner.starts_with("accounts/") {
            "account_admin"
        } else {
            "environment_admin"
        };
        assert_eq!(body["role"], role);
        assert_eq!(body["email"], email, "the email as given");
        assert_eq!(
            body["expires_at"],
            rfc3339(T0 + time::Duration::seconds(86_400))
        );
        let id = body["invitation_id"].as_str().unwrap();
        assert!(id.starts_with("inv_") && id.len() == 36, "{id}");
        // The link is real: the code finds this invitation, pending.
        let pending = lab
            .store()
            .find_pending_invitation(&code_of(body["setup_url"].as_str().unwrap()), T0)
            .unwrap();
        assert_eq!(pending.id.as_str(), id);
        // Known and unknown emails differ only in values that are different for every
        // invitation anyway, and in the email itself.
        let headers: BTreeSet<String> = reply.headers.iter().map(|(k, _)| k.clone()).collect();
        answers.push((headers, pending.existing_user.is_some()));
    }
    assert_eq!(
        answers.iter().map(|(_, known)| *known).collect::<Vec<_>>(),
        [true, false, true, false],
        "the store knows who is who"
    );
    assert!(
        answers.windows(2).all(|w| w[0].0 == w[1].0),
        "the same headers for known and unknown emails: {answers:?}"
    );
    // Nothing is granted until accepted.
    assert_eq!(lab.store().user_bindings(&ada).unwrap(), bindings_before);
}

async fn bad_emails_are_400_naming_the_field(db: TestDb) {
    let lab = lab(db);
    let app = admin_app!(lab.env);
    let op = AdminClient::new(&app, lab.op.clone());
    let before = lab.env.db.dump_all_columns();
    let long = format!("{}@example.com", "x".repeat(250));
    for owner in [acct(&lab.a), envp(&lab.a1)] {
        let path = format!("/admin/v1/{owner}/administrators");
        for (body, field) in [
            (json!({"email": ""}), "email"),
            (json!({"email": "   "}), "email"),
            (json!({"email": "no-at-sign"}), "email"),
            (json!({"email": "@example.com"}), "email"),
            (json!({"email": "ada@"}), "email"),
            (json!({"email": "a da@example.com"}), "email"),
            (json!({"email": "ada\u{0}@example.com"}), "email"),
            (json!({"email": long}), "email"),
            (json!({"email": 5}), "email"),
            (json!({"email": null}), "email"),
            (json!({}), "body"),
            (
                json!({"email": "ada@example.com", "role": "operator"}),
                "role",
            ),
        ] {
            let reply = op.raw("post", &path, Some(body.clone())).await;
            let err = reply.error();
            assert_eq!(
                (err.status, err.error.as_str(), err.field.as_deref()),
                (400, "invalid_request", Some(field)),
                "{path} {body}: {}",
                reply.body
            );
        }
        let reply = op
            .raw_body("post", &path, "text/plain", "ada@example.com")
            .await;
        assert_eq!(reply.status, 415);
    }
    // Nothing was written for any of them.
    assert_eq!(lab.env.db.dump_all_columns(), before, "nothing was created");
}

async fn an_environment_admin_never_reaches_account_administrators(db: TestDb) {
    let lab = lab(db);
    let app = admin_app!(lab.env);
    let op = AdminClient::new(&app, lab.op.clone());
    let env_admin = AdminClient::new(&app, lab.admin_token(lab.env_owner(&lab.a, &lab.a1)));
    let carol = lab.person(
        "carol@example.com",
        "Carol",
        &[Owner::Account(lab.a.clone())],
    );
    let pending = op.invite(&acct(&lab.a), "dan@example.com").await.unwrap();
    let before = op.administrators(&acct(&lab.a)).await.unwrap();

    for (method, path, body) in [
        (
            "post",
            format!("/admin/v1/accounts/{}/administrators", lab.a),
            Some(json!({"email": "mallory@example.com"})),
        ),
        (
            "get",
            format!("/admin/v1/accounts/{}/administrators", lab.a),
            None,
        ),
        (
            "delete",
            format!("/admin/v1/accounts/{}/administrators/{carol}", lab.a),
            None,
        ),
        (
            "delete",
            format!(
                "/admin/v1/accounts/{}/administrators/{}",
                lab.a, pending.invitation_id
            ),
            None,
        ),
        // Nor a sibling environment's.
        (
            "post",
            format!("/admin/v1/environments/{}/administrators", lab.a2),
            Some(json!({"email": "mallory@example.com"})),
        ),
    ] {
        let reply = env_admin.raw(method, &path, body).await;
        let err = reply.error();
        assert_eq!(
            (err.status, err.error.as_str()),
            (404, "not_found"),
            "{method} {path}"
        );
    }
    assert_eq!(op.administrators(&acct(&lab.a)).await.unwrap(), before);
    assert_eq!(op.administrators(&envp(&lab.a2)).await.unwrap(), []);
    // Its own environment's administrators it does manage.
    let own = env_admin
        .invite(&envp(&lab.a1), "erin@example.com")
        .await
        .unwrap();
    assert_eq!(own.role, "environment_admin");
}

async fn an_account_admin_invites_to_its_account_and_its_environments(db: TestDb) {
    let lab = lab(db);
    let app = admin_app!(lab.env);
    let acct_admin = AdminClient::new(&app, lab.admin_token(Owner::Account(lab.a.clone())));
    let i = acct_admin
        .invite(&acct(&lab.a), "peer@example.com")
        .await
        .unwrap();
    assert_eq!(
        (i.role.as_str(), i.email.as_str()),
        ("account_admin", "peer@example.com")
    );
    for e in [&lab.a1, &lab.a2] {
        let i = acct_admin
            .invite(&envp(e), "team@example.com")
            .await
            .unwrap();
        assert_eq!(i.role, "environment_admin");
        let listed = acct_admin.administrators(&envp(e)).await.unwrap();
        assert_eq!(
            listed
                .iter()
                .map(AdministratorEntry::id)
                .collect::<Vec<_>>(),
            [i.invitation_id.as_str()]
        );
    }
    for owner in [acct(&lab.b), envp(&lab.b1)] {
        let err = acct_admin
            .invite(&owner, "x@example.com")
            .await
            .unwrap_err();
        assert_eq!(err.status, 404, "{owner}");
        let err = acct_admin.administrators(&owner).await.unwrap_err();
        assert_eq!(err.status, 404, "{owner}");
    }
    // Owners that do not exist: 404 for everyone, operators included.
    let op = AdminClient::new(&app, lab.op.clone());
    for owner in [
        acct(&AccountId::generate()),
        envp(&EnvironmentId::generate()),
    ] {
        assert_eq!(
            op.invite(&owner, "x@example.com").await.unwrap_err().status,
            404
        );
        assert_eq!(op.administrators(&owner).await.unwrap_err().status, 404);
    }
    // A malformed owner id is 400, as on every route.
    let err = op
        .invite("accounts/nope", "x@example.com")
        .await
        .unwrap_err();
    assert_eq!(
        (err.status, err.field.as_deref()),
        (400, Some("account_id"))
    );
}

async fn an_environment_admin_sees_only_its_own_environment_administrators(db: TestDb) {
    let lab = lab(db);
    let app = admin_app!(lab.env);
    let op = AdminClient::new(&app, lab.op.clone());
    let env_admin = AdminClient::new(&app, lab.admin_token(lab.env_owner(&lab.a, &lab.a1)));
    let ann = lab.person("ann@example.com", "Ann", &[lab.env_owner(&lab.a, &lab.a1)]);
    let sib = lab.person("sib@example.com", "Sib", &[lab.env_owner(&lab.a, &lab.a2)]);
    lab.person("boss@example.com", "Boss", &[Owner::Account(lab.a.clone())]);
    op.invite(&envp(&lab.a2), "sib2@example.com").await.unwrap();

    let own = env_admin.administrators(&envp(&lab.a1)).await.unwrap();
    assert_eq!(
        own.iter().map(AdministratorEntry::id).collect::<Vec<_>>(),
        [ann.as_str()]
    );
    let err = env_admin.administrators(&envp(&lab.a2)).await.unwrap_err();
    assert_eq!(err.status, 404);
    let err = env_admin
        .remove_administrator(&envp(&lab.a2), sib.as_str())
        .await
        .unwrap_err();
    assert_eq!(err.status, 404);
    // Removing Sib through its own environment's path names a person not bound there.
    let err = env_admin
        .remove_administrator(&envp(&lab.a1), sib.as_str())
        .await
        .unwrap_err();
    assert_eq!(err.status, 404);
    assert_eq!(op.administrators(&envp(&lab.a2)).await.unwrap().len(), 2);
}

async fn listings_show_people_and_pending_invitations_but_never_a_code(db: TestDb) {
    let lab = lab(db);
    let app = admin_app!(lab.env);
    let op = AdminClient::new(&app, lab.op.clone());
    let a1 = envp(&lab.a1);

    let ada_inv = op.invite(&a1, "Ada@example.com").await.unwrap();
    lab.clock.advance(Duration::from_secs(60));
    let bob_inv = op.invite(&a1, "bob@example.com").await.unwrap();
    lab.clock.advance(Duration::from_secs(60));
    let accepted_at = lab.clock.now();
    let ada = lab
        .store()
        .accept_invitation(
            &code_of(&ada_inv.setup_url),
            &crate::new_person(lab.store(), "Ada L."),
            accepted_at,
        )
        .unwrap();
    // An invitation that runs out, one that is withdrawn, one to the account and one
    // to the sibling environment: none of them is listed here.
    lab.clock.advance(Duration::from_secs(60));
    let stale_at = lab.clock.now();
    let stale = op.invite(&a1, "stale@example.com").await.unwrap();
    lab.clock.advance(Duration::from_secs(60));
    let withdrawn = op.invite(&a1, "gone@example.com").await.unwrap();
    op.remove_administrator(&a1, &withdrawn.invitation_id)
        .await
        .unwrap();
    op.invite(&acct(&lab.a), "acct@example.com").await.unwrap();
    op.invite(&envp(&lab.a2), "sib@example.com").await.unwrap();
    let carol_inv = op.invite(&a1, "carol@example.com").await.unwrap();

    let listed = op.administrators(&a1).await.unwrap();
    assert_eq!(
        listed,
        [
            AdministratorEntry::User {
                user_id: ada.id.to_string(),
                email: "Ada@example.com".into(),
                name: "Ada L.".into(),
                since: rfc3339(accepted_at),
            },
            AdministratorEntry::Invitation {
                invitation_id: carol_inv.invitation_id.clone(),
                email: "carol@example.com".into(),
                role: "environment_admin".into(),
                created_at: rfc3339(lab.clock.now()),
                expires_at: carol_inv.expires_at.clone(),
            },
            AdministratorEntry::Invitation {
                invitation_id: stale.invitation_id.clone(),
                email: "stale@example.com".into(),
                role: "environment_admin".into(),
                created_at: rfc3339(stale_at),
                expires_at: stale.expires_at.clone(),
            },
            AdministratorEntry::Invitation {
                invitation_id: bob_inv.invitation_id.clone(),
                email: "bob@example.com".into(),
                role: "environment_admin".into(),
                created_at: rfc3339(T0 + time::Duration::seconds(60)),
                expires_at: bob_inv.expires_at.clone(),
            },
        ],
        "people first, then pending invitations, newest first"
    );
    // After its lifetime, an invitation is no longer pending: Bob's and the stale one
    // have run out, Carol's (a minute younger) has not. (The operator needs a token
    // of the new day.)
    lab.clock.advance(Duration::from_secs(86_400 - 60));
    let later = AdminClient::new(&app, operator(&lab.env).token);
    let ids: Vec<String> = later
        .administrators(&a1)
        .await
        .unwrap()
        .iter()
        .map(|e| e.id().to_owned())
        .collect();
    assert_eq!(ids, [ada.id.to_string(), carol_inv.invitation_id.clone()]);

    // No listing ever shows a code or a link.
    let codes: Vec<String> = [&ada_inv, &bob_inv, &stale, &withdrawn, &carol_inv]
        .iter()
        .map(|i| code_of(&i.setup_url).expose().to_owned())
        .collect();
    let listings: Vec<String> = op
        .bodies()
        .into_iter()
        .chain(later.bodies())
        .filter(|b| b.starts_with("{\"items\""))
        .collect();
    assert!(listings.len() >= 2);
    for body in listings {
        assert!(!body.contains("setup"), "{body}");
        assert!(!body.contains("/console"), "{body}");
        for code in &codes {
            assert!(!body.contains(code.as_str()), "{body}");
        }
    }
}

async fn withdrawing_and_removing_take_effect_at_once_and_are_audited(db: TestDb) {
    let lab = lab(db);
    let app = admin_app!(lab.env);
    let (op_kp, op_secret) = lab
        .store()
        .create_operator_keypair(&Actor::system("test"), "op", T0)
        .unwrap();
    let op = AdminClient::new(&app, lab.env.mint(op_kp.client_id.as_str(), &op_secret));
    let op_id = op_kp.client_id.to_string();
    let a1 = envp(&lab.a1);
    let api = lab.api();

    let ada_inv = op.invite(&a1, "ada@example.com").await.unwrap();
    let ada = lab
        .store()
        .accept_invitation(
            &code_of(&ada_inv.setup_url),
            &crate::new_person(lab.store(), "Ada"),
            T0,
        )
        .unwrap()
        .id;
    let bob_inv = op.invite(&a1, "bob@example.com").await.unwrap();
    let sib_inv = op.invite(&envp(&lab.a2), "sib@example.com").await.unwrap();
    let ada_principal = api.user_principal(&ada).unwrap();
    assert!(api.get_environment(&ada_principal, &lab.a1).is_ok());

    // Withdraw: gone from the list, its link no longer works, a second withdraw is 404.
    op.remove_administrator(&a1, &bob_inv.invitation_id)
        .await
        .unwrap();
    assert_eq!(
        op.administrators(&a1)
            .await
            .unwrap()
            .iter()
            .map(AdministratorEntry::id)
            .collect::<Vec<_>>(),
        [ada.as_str()]
    );
    let accepted = lab.store().accept_invitation(
        &code_of(&bob_inv.setup_url),
        &crate::new_person(lab.store(), "Bob"),
        T0,
    );
    assert!(
        matches!(accepted, Err(StoreError::NotFound(_))),
        "{accepted:?}"
    );
    let err = op
        .remove_administrator(&a1, &bob_inv.invitation_id)
        .await
        .unwrap_err();
    assert_eq!(err.status, 404);

    // Remove: the binding is gone, and Ada's principal loses its reach at once.
    op.remove_administrator(&a1, ada.as_str()).await.unwrap();
    assert_eq!(op.administrators(&a1).await.unwrap(), []);
    assert_eq!(lab.store().user_bindings(&ada).unwrap(), []);
    let narrowed = api.user_principal(&ada).unwrap();
    assert!(narrowed.bindings().is_empty());
    assert!(matches!(
        api.get_environment(&narrowed, &lab.a1),
        Err(admin_api::AdminError::NotFound)
    ));
    let err = op
        .remove_administrator(&a1, ada.as_str())
        .await
        .unwrap_err();
    assert_eq!(err.status, 404);

    // Ids: malformed 400, unknown or elsewhere 404 (a pending invitation to the
    // sibling stays pending).
    for bad in [
        "nope",
        "kg_0123456789abcdef0123456789abcdef",
        "usr_0123",
        "INV_0123456789abcdef0123456789abcdef",
    ] {
        let err = op.remove_administrator(&a1, bad).await.unwrap_err();
        assert_eq!(
            (err.status, err.error.as_str(), err.field.as_deref()),
            (400, "invalid_request", Some("id")),
            "{bad}"
        );
    }
    for elsewhere in [
        UserId::generate().to_string(),
        keypair_store::InvitationId::generate().to_string(),
        sib_inv.invitation_id.clone(),
    ] {
        let err = op.remove_administrator(&a1, &elsewhere).await.unwrap_err();
        assert_eq!(err.status, 404, "{elsewhere}");
    }
    assert_eq!(op.administrators(&envp(&lab.a2)).await.unwrap().len(), 1);

    // Audited, in the environment's trail and in its account's, with the caller as
    // actor; the person accepting is the actor of the acceptance.
    let env_trail = op
        .env_audit(&lab.a1.to_string(), &PageQuery::default())
        .await
        .unwrap();
    let seen: Vec<(String, String, String, String)> = env_trail
        .items
        .iter()
        .map(|r: &AuditRecord| {
            (
                r.action.clone(),
                r.actor.clone(),
                r.target.clone(),
                r.detail.clone(),
            )
        })
        .collect();
    let role = "role=environment_admin".to_owned();
    for expected in [
        (
            "user.invite".to_owned(),
            op_id.clone(),
            ada_inv.invitation_id.clone(),
            role.clone(),
        ),
        (
            "invitation.accept".to_owned(),
            format!("user:{ada}"),
            ada_inv.invitation_id.clone(),
            role.clone(),
        ),
        (
            "user.invite".to_owned(),
            op_id.clone(),
            bob_inv.invitation_id.clone(),
            role.clone(),
        ),
        (
            "invitation.withdraw".to_owned(),
            op_id.clone(),
            bob_inv.invitation_id.clone(),
            role.clone(),
        ),
        (
            "binding.remove".to_owned(),
            op_id.clone(),
            ada.to_string(),
            role.clone(),
        ),
    ] {
        assert!(seen.contains(&expected), "{expected:?} not in {seen:?}");
    }
    assert!(
        !seen.iter().any(|(_, _, t, _)| t == &sib_inv.invitation_id),
        "the sibling's invitation is not in this trail"
    );
    assert_eq!(
        seen.iter()
            .filter(|(a, ..)| a == "invitation.withdraw" || a == "binding.remove")
            .count(),
        2,
        "refused removals write nothing"
    );
    let account_trail = op
        .audit(&lab.a.to_string(), &PageQuery::default())
        .await
        .unwrap();
    for action in ["invitation.withdraw", "binding.remove"] {
        assert!(
            account_trail.items.iter().any(|r| r.action == action),
            "{action}"
        );
    }

    // A disabled person has no principal; enabled again, the same (now empty) reach.
    lab.store()
        .disable_user(&Actor::system("test"), &ada, T0)
        .unwrap();
    assert!(matches!(
        api.user_principal(&ada),
        Err(admin_api::AdminError::Unauthorized(_))
    ));
    lab.store()
        .enable_user(&Actor::system("test"), &ada, T0)
        .unwrap();
    assert!(api.user_principal(&ada).is_ok());
    assert!(matches!(
        api.user_principal(&UserId::generate()),
        Err(admin_api::AdminError::Unauthorized(_))
    ));
}

async fn accounts_are_listed_by_reach(db: TestDb) {
    let lab = lab(db);
    let app = admin_app!(lab.env);
    let op = AdminClient::new(&app, lab.op.clone());
    lab.clock.advance(Duration::from_secs(1));
    let c = op.create_account("C").await.unwrap().id;

    let ids = |l: &crate::client::List<crate::client::Account>| {
        l.items.iter().map(|a| a.id.clone()).collect::<Vec<_>>()
    };
    // Operators: every account, newest first, paginated.
    let first = op.list_accounts(&PageQuery::limit(2)).await.unwrap();
    assert_eq!(first.items.len(), 2);
    assert_eq!(first.items[0].id, c);
    let rest = op
        .list_accounts(&PageQuery::limit(2).after(first.next_cursor.clone()))
        .await
        .unwrap();
    assert_eq!(rest.next_cursor, None);
    let mut all: Vec<String> = ids(&first).into_iter().chain(ids(&rest)).collect();
    all.sort();
    let mut expected = vec![lab.a.to_string(), lab.b.to_string(), c.clone()];
    expected.sort();
    assert_eq!(all, expected);

    // An account administrator: its account only.
    let acct_admin = AdminClient::new(&app, lab.admin_token(Owner::Account(lab.a.clone())));
    let mine = acct_admin
        .list_accounts(&PageQuery::default())
        .await
        .unwrap();
    assert_eq!(ids(&mine), [lab.a.to_string()]);
    assert_eq!(mine.items[0].name, "A");
    // An environment administrator reads no account (not even its own environment's).
    let env_admin = AdminClient::new(&app, lab.admin_token(lab.env_owner(&lab.a, &lab.a1)));
    let none = env_admin
        .list_accounts(&PageQuery::default())
        .await
        .unwrap();
    assert_eq!((none.items.len(), none.next_cursor), (0, None));
    // Bad paging is 400 as on every listing.
    let err = op.list_accounts(&PageQuery::limit(0)).await.unwrap_err();
    assert_eq!((err.status, err.field.as_deref()), (400, Some("limit")));
    let r = op.raw("get", "/admin/v1/accounts?cursor=%21", None).await;
    assert_eq!(
        (r.status, r.error().field.as_deref()),
        (400, Some("cursor"))
    );
}

async fn an_environment_audit_holds_its_own_records_only(db: TestDb) {
    let lab = lab(db);
    let app = admin_app!(lab.env);
    let op = AdminClient::new(&app, lab.op.clone());
    let a1 = lab.a1.to_string();
    let tick = || lab.clock.advance(Duration::from_secs(1));
    tick();
    let k1 = op
        .create_env_keypair(&a1, &NewKeypair::scopes(&["feedback:read"]))
        .await
        .unwrap();
    tick();
    op.patch_keypair(
        k1.client_id(),
        &crate::client::KeypairChange::default().comment("renamed"),
    )
    .await
    .unwrap();
    tick();
    op.revoke_tokens(k1.client_id()).await.unwrap();
    tick();
    let inv = op.invite(&envp(&lab.a1), "ada@example.com").await.unwrap();
    let k2 = op
        .create_env_keypair(&lab.a2.to_string(), &NewKeypair::scopes(&["feedback:read"]))
        .await
        .unwrap();
    let ka = op
        .create_account_keypair(&lab.a.to_string(), &NewKeypair::scopes(&["feedback:read"]))
        .await
        .unwrap();
    op.invite(&envp(&lab.a2), "bob@example.com").await.unwrap();
    op.invite(&acct(&lab.a), "carol@example.com").await.unwrap();

    // Every record of A1's, newest first, in pages of two.
    let mut records = Vec::new();
    let mut cursor = None;
    loop {
        let page = op
            .env_audit(&a1, &PageQuery::limit(2).after(cursor))
            .await
            .unwrap();
        assert!(page.items.len() <= 2);
        records.extend(page.items);
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    let seen: Vec<(String, String)> = records
        .iter()
        .map(|r| (r.action.clone(), r.target.clone()))
        .collect();
    assert_eq!(
        seen,
        [
            ("user.invite".to_owned(), inv.invitation_id.clone()),
            (
                "keypair.revoke_tokens".to_owned(),
                k1.client_id().to_owned()
            ),
            ("keypair.update".to_owned(), k1.client_id().to_owned()),
            ("keypair.create".to_owned(), k1.client_id().to_owned()),
            ("environment.create".to_owned(), a1.clone()),
        ],
        "newest first"
    );
    for r in &records {
        assert_ne!(r.target, k2.client_id());
        assert_ne!(r.target, ka.client_id());
    }

    // Who reads it: its administrators and its account's, not a sibling's. (Their
    // keypairs' creation is recorded too: the environment admin's in A1's trail.)
    let env_admin = AdminClient::new(&app, lab.admin_token(lab.env_owner(&lab.a, &lab.a1)));
    let acct_admin = AdminClient::new(&app, lab.admin_token(Owner::Account(lab.a.clone())));
    let sibling = AdminClient::new(&app, lab.admin_token(lab.env_owner(&lab.a, &lab.a2)));
    let other = AdminClient::new(&app, lab.admin_token(Owner::Account(lab.b.clone())));
    let all_ids = |l: &crate::client::List<AuditRecord>| {
        l.items.iter().map(|r| r.id.clone()).collect::<Vec<_>>()
    };
    let as_op = op.env_audit(&a1, &PageQuery::default()).await.unwrap();
    assert_eq!(as_op.items.len(), 6);
    assert_eq!(
        as_op
            .items
            .iter()
            .filter(|r| r.action == "keypair.create")
            .count(),
        2,
        "k1 and the environment admin's keypair"
    );
    for reader in [&env_admin, &acct_admin] {
        let page = reader.env_audit(&a1, &PageQuery::default()).await.unwrap();
        assert_eq!(all_ids(&page), all_ids(&as_op));
    }
    for outsider in [&sibling, &other] {
        let err = outsider
            .env_audit(&a1, &PageQuery::default())
            .await
            .unwrap_err();
        assert_eq!(err.status, 404);
    }
    let sib_trail = sibling
        .env_audit(&lab.a2.to_string(), &PageQuery::default())
        .await
        .unwrap();
    assert!(sib_trail
        .items
        .iter()
        .all(|r| r.target != a1 && r.target != k1.client_id() && r.target != inv.invitation_id));

    // A closed environment's trail is no longer served; its account's keeps it.
    op.close_environment(&a1).await.unwrap();
    assert_eq!(
        op.env_audit(&a1, &PageQuery::default())
            .await
            .unwrap_err()
            .status,
        404
    );
    let account_trail = op
        .audit(&lab.a.to_string(), &PageQuery::limit(200))
        .await
        .unwrap();
    assert!(account_trail
        .items
        .iter()
        .any(|r| r.action == "environment.close" && r.target == a1));
    assert!(account_trail
        .items
        .iter()
        .any(|r| r.action == "user.invite" && r.target == inv.invitation_id));
    // A malformed environment id is 400.
    let err = op
        .env_audit("nope", &PageQuery::default())
        .await
        .unwrap_err();
    assert_eq!(
        (err.status, err.field.as_deref()),
        (400, Some("environment_id"))
    );
}
