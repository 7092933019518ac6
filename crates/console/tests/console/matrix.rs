//! The console's authorization matrix: every console route, for a browser with no
//! session and for people holding each kind of binding (operator, account
//! administrator, environment administrator, two bindings, none left). Reach decides
//! the object pages (a 404 page out of reach, exactly as admin-api decides); no
//! state-changing route does anything without the page's token, for anyone. The test
//! fails if a route in `console::ROUTES` has no case.

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use keypair_store::testing::TestDb;
use keypair_store::{Acceptor, Actor, Owner};
use serde_json::json;

use crate::{app, env_owner, person, Browser, Env, PASSWORD};

keypair_store::on_both_backends_async! {
    every_console_route_decides_by_reach_and_token;
}

/// An https issuer, so the passkey routes are live too.
const ISSUER: &str = "https://keygate.test";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Caller {
    Anonymous,
    Operator,
    /// Administrator of account A (and so of A's environments).
    AccountAdmin,
    /// Administrator of environment A1.
    EnvironmentAdmin,
    /// Administrator of A1 and of account B.
    Two,
    /// Was administrator of A; the binding was removed.
    Nobody,
}

const CALLERS: [Caller; 6] = [
    Caller::Anonymous,
    Caller::Operator,
    Caller::AccountAdmin,
    Caller::EnvironmentAdmin,
    Caller::Two,
    Caller::Nobody,
];

/// How a case's request is sent: without the page's token on anything that posts.
enum Send {
    Get(String),
    Form(String),
    Json(String),
}

struct Case {
    method: &'static str,
    pattern: &'static str,
    send: Send,
    /// The status each caller must get.
    expect: fn(Caller) -> u16,
}

/// 303 to the sign-in page without a session, else `status`.
fn signed_in(c: Caller, status: u16) -> u16 {
    if c == Caller::Anonymous {
        303
    } else {
        status
    }
}

fn cases(a: &str, a1: &str, b: &str) -> Vec<Case> {
    let case = |method, pattern, send, expect| Case {
        method,
        pattern,
        send,
        expect,
    };
    let get = |p: &str| Send::Get(format!("/console{p}"));
    let form = |p: &str| Send::Form(format!("/console{p}"));
    let json = |p: &str| Send::Json(format!("/console{p}"));
    vec![
        case("get", "", get(""), |c| signed_in(c, 200)),
        case("get", "/", get("/"), |c| signed_in(c, 200)),
        case(
            "get",
            "/accounts/{account_id}",
            get(&format!("/accounts/{a}")),
            |c| match c {
                Caller::Operator | Caller::AccountAdmin => 200,
                c => signed_in(c, 404),
            },
        ),
        case(
            "get",
            "/accounts/{account_id}",
            get(&format!("/accounts/{b}")),
            |c| match c {
                Caller::Operator | Caller::Two => 200,
                c => signed_in(c, 404),
            },
        ),
        case(
            "get",
            "/environments/{environment_id}",
            get(&format!("/environments/{a1}")),
            |c| match c {
                Caller::Nobody => 404,
                c => signed_in(c, 200),
            },
        ),
        case(
            "get",
            "/{owner:accounts|environments}/{id}/keys",
            get(&format!("/accounts/{a}/keys")),
            |c| match c {
                Caller::Operator | Caller::AccountAdmin => 200,
                c => signed_in(c, 404),
            },
        ),
        case(
            "get",
            "/{owner:accounts|environments}/{id}/keys",
            get(&format!("/environments/{a1}/keys")),
            |c| match c {
                Caller::Nobody => 404,
                c => signed_in(c, 200),
            },
        ),
        case(
            "post",
            "/{owner:accounts|environments}/{id}/keys",
            form(&format!("/environments/{a1}/keys")),
            |c| signed_in(c, 403),
        ),
        case(
            "get",
            "/{owner:accounts|environments}/{id}/administrators",
            get(&format!("/accounts/{a}/administrators")),
            |c| match c {
                Caller::Operator | Caller::AccountAdmin => 200,
                c => signed_in(c, 404),
            },
        ),
        case(
            "get",
            "/{owner:accounts|environments}/{id}/administrators",
            get(&format!("/environments/{a1}/administrators")),
            |c| match c {
                Caller::Nobody => 404,
                c => signed_in(c, 200),
            },
        ),
        case(
            "post",
            "/{owner:accounts|environments}/{id}/administrators",
            form(&format!("/accounts/{a}/administrators")),
            |c| signed_in(c, 403),
        ),
        case(
            "post",
            "/{owner:accounts|environments}/{id}/administrators/{who}/remove",
            form(&format!("/accounts/{a}/administrators/usr_0123/remove")),
            |c| signed_in(c, 403),
        ),
        case(
            "get",
            "/{owner:accounts|environments}/{id}/audit",
            get(&format!("/accounts/{a}/audit")),
            |c| match c {
                Caller::Operator | Caller::AccountAdmin => 200,
                c => signed_in(c, 404),
            },
        ),
        case(
            "get",
            "/{owner:accounts|environments}/{id}/audit",
            get(&format!("/environments/{a1}/audit")),
            |c| match c {
                Caller::Nobody => 404,
                c => signed_in(c, 200),
            },
        ),
        case(
            "post",
            "/keys/{client_id}/edit",
            form("/keys/kg_0123/edit"),
            |c| signed_in(c, 403),
        ),
        case(
            "post",
            "/keys/{client_id}/rotate",
            form("/keys/kg_0123/rotate"),
            |c| signed_in(c, 403),
        ),
        case(
            "post",
            "/keys/{client_id}/{action}",
            form("/keys/kg_0123/delete"),
            |c| signed_in(c, 403),
        ),
        case("post", "/accounts", form("/accounts"), |c| {
            signed_in(c, 403)
        }),
        case(
            "post",
            "/accounts/{account_id}/close",
            form(&format!("/accounts/{a}/close")),
            |c| signed_in(c, 403),
        ),
        case(
            "post",
            "/accounts/{account_id}/environments",
            form(&format!("/accounts/{a}/environments")),
            |c| signed_in(c, 403),
        ),
        case(
            "post",
            "/environments/{environment_id}/close",
            form(&format!("/environments/{a1}/close")),
            |c| signed_in(c, 403),
        ),
        // Signed in, the sign-in page sends the person on.
        case("get", "/sign-in", get("/sign-in"), |c| {
            if c == Caller::Anonymous {
                200
            } else {
                303
            }
        }),
        case("post", "/sign-in", form("/sign-in"), |_| 403),
        // Without a session there is nothing to end: back to sign-in.
        case("post", "/sign-out", form("/sign-out"), |c| {
            if c == Caller::Anonymous {
                303
            } else {
                403
            }
        }),
        case(
            "get",
            "/setup/{code}",
            get(&format!("/setup/{}", "0".repeat(64))),
            |_| 410,
        ),
        case("get", "/setup", get("/setup"), |_| 400),
        case("post", "/setup", form("/setup"), |_| 403),
        case(
            "post",
            "/setup/passkey/options",
            json("/setup/passkey/options"),
            |_| 403,
        ),
        case("post", "/setup/passkey", json("/setup/passkey"), |_| 403),
        case(
            "post",
            "/sign-in/passkey/options",
            json("/sign-in/passkey/options"),
            |_| 403,
        ),
        case("post", "/sign-in/passkey", json("/sign-in/passkey"), |_| {
            403
        }),
        case("get", "/passkeys", get("/passkeys"), |c| signed_in(c, 200)),
        // JSON: 401 without a session.
        case("post", "/passkeys", json("/passkeys"), |c| {
            if c == Caller::Anonymous {
                401
            } else {
                403
            }
        }),
        case(
            "post",
            "/passkeys/options",
            json("/passkeys/options"),
            |c| {
                if c == Caller::Anonymous {
                    401
                } else {
                    403
                }
            },
        ),
        case("post", "/passkeys/remove", form("/passkeys/remove"), |c| {
            signed_in(c, 403)
        }),
        case("get", "/assets/{name}", get("/assets/console.css"), |_| 200),
    ]
}

#[test]
fn the_matrix_covers_every_console_route() {
    let mut routes: Vec<(&str, &str)> = console::ROUTES.to_vec();
    let mut covered: Vec<(&str, &str)> = cases("a", "a1", "b")
        .iter()
        .map(|c| (c.method, c.pattern))
        .collect();
    routes.sort();
    covered.sort();
    covered.dedup();
    assert_eq!(covered, routes, "every console route needs a case");
}

async fn send<S, B>(app: &S, b: &mut Browser, send: &Send) -> u16
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let wrong = "not-the-page-token";
    let reply = match send {
        Send::Get(path) => b.get(app, path).await,
        Send::Form(path) => b.post(app, path, &[("csrf_token", wrong)]).await,
        Send::Json(path) => {
            b.post_json(app, path, &json!({ "csrf_token": wrong }))
                .await
        }
    };
    reply.status
}

async fn every_console_route_decides_by_reach_and_token(db: TestDb) {
    let env = Env::with(db, ISSUER, &[]);
    let app = app!(env);
    let a = env.account("A");
    let a1 = env.environment(&a, "A1");
    let b = env.account("B");
    env.environment(&b, "B1");
    let system = Actor::system("test");

    person(&app, &env, "op@example.test", &Owner::Operator).await;
    person(&app, &env, "acct@example.test", &Owner::Account(a.clone())).await;
    person(&app, &env, "env@example.test", &env_owner(&a1)).await;
    let two = person(&app, &env, "two@example.test", &env_owner(&a1)).await;
    let (_, code) = env
        .store()
        .invite(
            &system,
            "two@example.test",
            &Owner::Account(b.clone()),
            time::Duration::days(1),
            env.now(),
        )
        .unwrap();
    env.store()
        .accept_invitation(&code, &Acceptor::SignedIn(two), env.now())
        .unwrap();
    let nobody = person(
        &app,
        &env,
        "nobody@example.test",
        &Owner::Account(a.clone()),
    )
    .await;
    env.store()
        .remove_binding(&system, &nobody, &Owner::Account(a.clone()), env.now())
        .unwrap();

    let mut failures = Vec::new();
    for (i, caller) in (100u8..).zip(CALLERS) {
        let mut browser = Browser::new(&env).from_address(i);
        let email = match caller {
            Caller::Anonymous => None,
            Caller::Operator => Some("op@example.test"),
            Caller::AccountAdmin => Some("acct@example.test"),
            Caller::EnvironmentAdmin => Some("env@example.test"),
            Caller::Two => Some("two@example.test"),
            Caller::Nobody => Some("nobody@example.test"),
        };
        if let Some(email) = email {
            let signed = browser.sign_in(&app, email, PASSWORD).await;
            assert_eq!(signed.status, 303, "{caller:?} signs in: {}", signed.body);
        }
        for case in cases(a.as_str(), a1.id.as_str(), b.as_str()) {
            let got = send(&app, &mut browser.clone(), &case.send).await;
            let want = (case.expect)(caller);
            if got != want {
                failures.push(format!(
                    "{caller:?} {} {}: got {got}, want {want}",
                    case.method, case.pattern
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
