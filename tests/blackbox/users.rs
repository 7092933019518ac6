//! `keygate users invite|disable|enable|reset` on a fresh directory, before the server
//! has ever run: the printed line, clean failures, and what the database then holds
//! (read through keypair-store on the same SQLite file).

use std::path::Path;

use keypair_store::{
    Acceptor, DatabaseUrl, InvitationCode, NewCredential, Owner, Password, PoolSettings,
    SignInError, SignInRefusal, Store,
};
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use crate::support::{keygate, run};

const PASSWORD: &str = "correct horse battery staple";

fn now() -> OffsetDateTime {
    clock::Clock::system().now()
}

/// Runs `keygate ARGS` in `dir` with `env`; returns (success, stdout, stderr).
fn users(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let out = run({
        let mut c = keygate(dir);
        c.arg("users").args(args);
        for (k, v) in env {
            c.env(k, v);
        }
        c
    });
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// Runs a command that must succeed and print one JSON line; returns it.
fn line(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Value {
    let (ok, stdout, stderr) = users(dir, args, env);
    assert!(ok, "{args:?}: {stderr}");
    assert_eq!(stdout.lines().count(), 1, "exactly one line: {stdout}");
    serde_json::from_str(stdout.trim()).unwrap()
}

/// Runs a command that must fail with one clear error line on stderr naming `needle`
/// (after the log lines of opening the database), and print nothing on stdout.
fn fails(dir: &Path, args: &[&str], needle: &str) {
    let (ok, stdout, stderr) = users(dir, args, &[]);
    assert!(!ok, "{args:?} should fail");
    assert!(stdout.is_empty(), "{args:?}: {stdout}");
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("keygate: error: "))
        .collect();
    assert_eq!(errors.len(), 1, "one error line: {stderr}");
    assert!(errors[0].contains(needle), "{needle:?} in {stderr}");
    assert_eq!(
        stderr.lines().last(),
        Some(errors[0]),
        "the error is the last word"
    );
    assert!(
        !stderr.contains("panicked") && !stderr.contains("backtrace"),
        "{stderr}"
    );
}

fn store(dir: &Path) -> Store {
    let db = dir.join("data/keygate.db");
    Store::open(&DatabaseUrl::Sqlite(db), &PoolSettings::default()).unwrap()
}

/// Checks the line's shape and returns its code.
fn setup_line(
    v: &Value,
    email: &str,
    role: &str,
    issuer: &str,
    lifetime: Duration,
) -> InvitationCode {
    let obj = v.as_object().unwrap();
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["email", "expires_at", "invitation_id", "role", "setup_url"]
    );
    assert!(v["invitation_id"].as_str().unwrap().starts_with("inv_"));
    assert_eq!(v["email"], email);
    assert_eq!(v["role"], role);
    let expires = OffsetDateTime::parse(v["expires_at"].as_str().unwrap(), &Rfc3339).unwrap();
    let expected = now() + lifetime;
    assert!(
        expires <= expected && expires > expected - Duration::minutes(1),
        "expires_at {expires} should be about {expected}"
    );
    let url = v["setup_url"].as_str().unwrap();
    let code = url
        .strip_prefix(&format!("{issuer}/console/setup/"))
        .unwrap_or_else(|| panic!("setup_url {url} under {issuer}/console/setup/"));
    assert_eq!(code.len(), 64);
    assert!(code.bytes().all(|b| b.is_ascii_hexdigit()));
    InvitationCode::from_presented(code)
}

fn with_password(s: &Store, typed: &str) -> Acceptor {
    Acceptor::NewUser {
        name: "Ada".into(),
        credential: NewCredential::Password(
            s.hash_password(&Password::new(typed).unwrap()).unwrap(),
        ),
    }
}

fn refusal(s: &Store, email: &str, typed: &str) -> Option<SignInRefusal> {
    match s.check_password(email, &Password::new(typed).unwrap(), now()) {
        Ok(_) => None,
        Err(SignInError::Refused(r)) => Some(r),
        Err(e) => panic!("{e:?}"),
    }
}

/// Invites `email` as operator through the binary and accepts with [`PASSWORD`].
fn signed_up(dir: &Path, email: &str) -> (Store, keypair_store::User) {
    let v = line(dir, &["invite", email, "--operator"], &[]);
    let code = InvitationCode::from_presented(
        v["setup_url"].as_str().unwrap().rsplit('/').next().unwrap(),
    );
    let s = store(dir);
    let user = s
        .accept_invitation(&code, &with_password(&s, PASSWORD), now())
        .unwrap();
    (s, user)
}

#[test]
fn users_invite_operator_prints_one_json_line_before_the_server_ever_ran() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, stdout, stderr) = users(
        dir.path(),
        &["invite", "Ada@Example.com", "--operator"],
        &[],
    );
    assert!(ok, "{stderr}");
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    let v: Value = serde_json::from_str(stdout.trim()).unwrap();
    let code = setup_line(
        &v,
        "Ada@Example.com",
        "operator",
        "http://127.0.0.1:8080",
        Duration::days(1),
    );
    assert!(
        !stderr.contains(code.expose()),
        "the code is printed once, never logged"
    );

    // The database was made, and the invitation is pending: it grants nothing yet.
    let s = store(dir.path());
    let pending = s.find_pending_invitation(&code, now()).unwrap();
    assert_eq!(pending.id.as_str(), v["invitation_id"].as_str().unwrap());
    assert_eq!(pending.grants, Some(Owner::Operator));
    assert!(pending.sets_credentials);
    assert!(
        s.get_user_by_email("ada@example.com").is_err(),
        "no user yet"
    );

    // The issuer (without its trailing slash) and the lifetime come from config.
    let v = line(
        dir.path(),
        &["invite", "bo@example.com", "--operator"],
        &[
            ("KEYGATE_ISSUER", "https://auth.example.com/"),
            ("KEYGATE_USERS_INVITE_LIFETIME_SECONDS", "3600"),
        ],
    );
    setup_line(
        &v,
        "bo@example.com",
        "operator",
        "https://auth.example.com",
        Duration::hours(1),
    );
}

#[test]
fn users_invite_to_an_account_or_environment() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _) = signed_up(dir.path(), "op@example.com");
    let actor = keypair_store::Actor::system("test");
    let acct = s.create_account(&actor, "Acme", now()).unwrap();
    let env = s
        .create_environment(&actor, &acct.id, "production", now())
        .unwrap();
    let v = line(
        dir.path(),
        &["invite", "ada@example.com", "--account", acct.id.as_str()],
        &[],
    );
    let code = setup_line(
        &v,
        "ada@example.com",
        "account_admin",
        "http://127.0.0.1:8080",
        Duration::days(1),
    );
    assert_eq!(
        s.find_pending_invitation(&code, now()).unwrap().grants,
        Some(Owner::Account(acct.id.clone()))
    );
    let v = line(
        dir.path(),
        &["invite", "bo@example.com", "--environment", env.id.as_str()],
        &[],
    );
    let code = setup_line(
        &v,
        "bo@example.com",
        "environment_admin",
        "http://127.0.0.1:8080",
        Duration::days(1),
    );
    assert_eq!(
        s.find_pending_invitation(&code, now()).unwrap().grants,
        Some(Owner::Environment {
            account_id: acct.id,
            environment_id: env.id,
        })
    );
    // The answer is the same for an email that already has a user.
    let v = line(dir.path(), &["invite", "OP@example.com", "--operator"], &[]);
    setup_line(
        &v,
        "OP@example.com",
        "operator",
        "http://127.0.0.1:8080",
        Duration::days(1),
    );
}

#[test]
fn users_invite_fails_cleanly_on_a_bad_owner_or_role() {
    let dir = tempfile::tempdir().unwrap();
    let unknown = "acct_0123456789abcdef0123456789abcdef";
    fails(
        dir.path(),
        &["invite", "ada@example.com", "--account", unknown],
        &format!("no account with id `{unknown}`"),
    );
    let unknown_env = "env_0123456789abcdef0123456789abcdef";
    fails(
        dir.path(),
        &["invite", "ada@example.com", "--environment", unknown_env],
        &format!("no environment with id `{unknown_env}`"),
    );
    fails(
        dir.path(),
        &["invite", "ada@example.com", "--account", "acme"],
        "invalid account_id",
    );
    fails(
        dir.path(),
        &["invite", "not an email", "--operator"],
        "invalid email",
    );
    // None, or two, of the role flags: a usage error naming them.
    for args in [
        vec!["invite", "ada@example.com"],
        vec![
            "invite",
            "ada@example.com",
            "--operator",
            "--account",
            unknown,
        ],
        vec![
            "invite",
            "ada@example.com",
            "--account",
            unknown,
            "--environment",
            unknown_env,
        ],
    ] {
        let (ok, stdout, stderr) = users(dir.path(), &args, &[]);
        assert!(!ok, "{args:?}");
        assert!(stdout.is_empty());
        assert!(
            stderr.contains("--operator") || stderr.contains("cannot be used with"),
            "{args:?}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    // Nothing was invited.
    assert!(store(dir.path())
        .list_pending_invitations(&Owner::Operator, now())
        .unwrap()
        .is_empty());
}

#[test]
fn disable_enable_and_reset_of_an_unknown_email_fail_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    for command in ["disable", "enable", "reset"] {
        fails(
            dir.path(),
            &[command, "nobody@example.com"],
            "no user with email `nobody@example.com`",
        );
    }
    // An invited email is not yet a person.
    line(
        dir.path(),
        &["invite", "ada@example.com", "--operator"],
        &[],
    );
    fails(
        dir.path(),
        &["reset", "ada@example.com"],
        "no user with email",
    );
}

#[test]
fn disable_ends_sessions_and_enable_lets_the_person_back() {
    let dir = tempfile::tempdir().unwrap();
    let (s, ada) = signed_up(dir.path(), "ada@example.com");
    let idle = Duration::minutes(30);
    let max = Duration::hours(12);
    let session = s.create_session(&ada.id, now()).unwrap();
    assert!(s
        .find_session(&session, now(), idle, max)
        .unwrap()
        .is_some());

    let v = line(dir.path(), &["disable", "ADA@example.com"], &[]);
    assert_eq!(v["user_id"], ada.id.as_str());
    assert_eq!(v["email"], "ada@example.com");
    assert_eq!(v["disabled"], true);
    assert!(s
        .find_session(&session, now(), idle, max)
        .unwrap()
        .is_none());
    assert!(
        s.delete_user_sessions(&ada.id).unwrap() == 0,
        "no session row left"
    );
    assert_eq!(
        refusal(&s, "ada@example.com", PASSWORD),
        Some(SignInRefusal::Disabled)
    );

    let v = line(dir.path(), &["enable", "ada@example.com"], &[]);
    assert_eq!(v["disabled"], false);
    assert_eq!(refusal(&s, "ada@example.com", PASSWORD), None);
    // The ended session stays ended.
    assert!(s
        .find_session(&session, now(), idle, max)
        .unwrap()
        .is_none());
}

#[test]
fn reset_prints_a_setup_line_and_the_link_sets_a_new_password() {
    let dir = tempfile::tempdir().unwrap();
    let (s, ada) = signed_up(dir.path(), "ada@example.com");
    let session = s.create_session(&ada.id, now()).unwrap();

    let (ok, stdout, stderr) = users(dir.path(), &["reset", "ada@example.com"], &[]);
    assert!(ok, "{stderr}");
    let v: Value = serde_json::from_str(stdout.trim()).unwrap();
    let code = setup_line(
        &v,
        "ada@example.com",
        "reset",
        "http://127.0.0.1:8080",
        Duration::days(1),
    );
    assert!(!stderr.contains(code.expose()), "the code is never logged");

    let idle = Duration::minutes(30);
    let max = Duration::hours(12);
    assert!(s
        .find_session(&session, now(), idle, max)
        .unwrap()
        .is_none());
    assert_eq!(
        refusal(&s, "ada@example.com", PASSWORD),
        Some(SignInRefusal::NoPassword)
    );
    let pending = s.find_pending_invitation(&code, now()).unwrap();
    assert_eq!(pending.grants, None);
    assert!(pending.sets_credentials);
    let new = "a brand new passphrase";
    let back = s
        .accept_invitation(&code, &with_password(&s, new), now())
        .unwrap();
    assert_eq!(back.id, ada.id);
    assert_eq!(refusal(&s, "ada@example.com", new), None);
    assert_eq!(
        refusal(&s, "ada@example.com", PASSWORD),
        Some(SignInRefusal::WrongPassword)
    );
}

#[test]
fn help_is_available_for_every_users_command() {
    for command in ["invite", "disable", "enable", "reset"] {
        let dir = tempfile::tempdir().unwrap();
        let (ok, stdout, _) = users(dir.path(), &[command, "--help"], &[]);
        assert!(ok, "{command}");
        assert!(
            stdout.contains("Usage: keygate users"),
            "{command}: {stdout}"
        );
        assert!(!dir.path().join("data").exists(), "--help touches nothing");
    }
}
