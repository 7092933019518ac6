//! The `API keys` pages over HTTP: the table, creation with its one-time secret, the
//! switch (with and without htmx), revoke and delete, errors next to their field,
//! escaping, CSRF, and reach (a 404 page out of reach).

use keypair_store::testing::TestDb;
use keypair_store::{ClientId, Owner, TokenStatus};

use crate::{app, env_owner, person, signed_in, Browser, Env, Reply, PASSWORD};

keypair_store::on_both_backends_async! {
    a_key_is_created_shown_once_switched_revoked_and_deleted;
    errors_show_next_to_their_field_and_keep_what_was_typed;
    keys_out_of_reach_and_forged_requests_change_nothing;
    a_key_is_edited_and_its_secret_rotated;
    an_edit_changes_only_what_changed;
}

/// The value of the input with this id.
fn input_value(page: &Reply, id: &str) -> String {
    let start = page
        .body
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id}: {}", page.body));
    let rest = &page.body[start..];
    let v = rest.find("value=\"").unwrap() + "value=\"".len();
    rest[v..].split('"').next().unwrap().to_owned()
}

async fn a_key_is_created_shown_once_switched_revoked_and_deleted(db: TestDb) {
    let env = Env::new(db);
    let app = app!(env);
    let acme = env.account("Acme");
    let prod = env.environment(&acme, "Production");
    let mut b = signed_in(&app, &env, "ada@example.test", &env_owner(&prod)).await;
    let keys = format!("/console/environments/{}/keys", prod.id.as_str());

    let page = b.get(&app, &keys).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.has_button("Create API key") && page.has_button("Create"));
    assert!(page.text().contains("No API keys yet."));
    assert!(page.body.contains("name=\"scope:feedback:read\""));
    assert!(
        !page.body.contains("keygate:introspect"),
        "only operators may grant it"
    );
    let token = page.form_token(&keys);
    let created = b
        .post(
            &app,
            &keys,
            &[
                ("csrf_token", &token),
                ("comment", "<script>alert(1)</script>"),
                ("scope:feedback:read", "on"),
                ("expires_at", "2032-01-31T12:00"),
                ("allowed_addresses", "10.0.0.0/8\n192.0.2.7"),
            ],
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    assert_eq!(created.header("cache-control"), Some("no-store"));
    let client_id = input_value(&created, "new-client-id");
    let secret = input_value(&created, "new-secret-value");
    assert!(secret.starts_with("kgs_"));
    assert!(created.text().contains("it will not be shown again"));
    assert!(created.has_button("Copy") && created.has_button("Done"));
    // The comment is text, never markup.
    assert!(!created.body.contains("<script>alert(1)</script>"));
    assert!(created
        .body
        .contains("&#60;script&#62;alert(1)&#60;/script&#62;"));
    let id = ClientId::parse(&client_id).unwrap();
    let stored = env.store().get_keypair(&id).unwrap();
    assert_eq!(stored.owner, env_owner(&prod));
    assert_eq!(stored.scopes.to_space_separated(), "feedback:read");
    assert_eq!(stored.allowed_addresses.entries().count(), 2);
    assert!(stored.expires_at.is_some());

    // The list: masked, never the secret again.
    let list = b.get(&app, &keys).await;
    assert!(!list.body.contains(&secret));
    assert!(list.text().contains(&format!("{}…", &secret[..8])));
    assert!(list.text().contains("API keys (times in UTC)"));
    assert!(list.text().contains("2032-01-31 12:00"));
    assert!(list
        .body
        .contains("role=\"switch\" aria-label=\"Active\" aria-checked=\"true\""));

    // The switch, as htmx sends it: the row comes back with the new state.
    let status_path = format!("/console/keys/{client_id}/status");
    let token = list.form_token(&status_path);
    let origin = b.origin.clone();
    let off = b
        .post_with(
            &app,
            &status_path,
            &[("csrf_token", &token), ("enabled", "false")],
            &[("origin", &origin), ("hx-request", "true")],
        )
        .await;
    assert_eq!(off.status, 200, "{}", off.body);
    assert!(off.body.starts_with("<tr"), "{}", off.body);
    assert!(off.body.contains("aria-checked=\"false\">Inactive<"));
    assert!(!env.store().get_keypair(&id).unwrap().enabled);
    // Without htmx: a 303 back to the table.
    let on = b
        .post(
            &app,
            &status_path,
            &[("csrf_token", &token), ("enabled", "true")],
        )
        .await;
    assert_eq!(on.status, 303);
    assert_eq!(on.location(), keys);
    assert!(env.store().get_keypair(&id).unwrap().enabled);

    // Revoke tokens: the current generation (if any) ends.
    let revoked = b
        .post(
            &app,
            &format!("/console/keys/{client_id}/revoke-tokens"),
            &[("csrf_token", &token)],
        )
        .await;
    assert_eq!(revoked.status, 303);
    let k = env.store().get_keypair(&id).unwrap();
    assert!(k.generation.is_none_or(|g| g.status != TokenStatus::Valid));

    // Delete: gone.
    let deleted = b
        .post(
            &app,
            &format!("/console/keys/{client_id}/delete"),
            &[("csrf_token", &token)],
        )
        .await;
    assert_eq!(deleted.status, 303);
    assert!(env.store().get_keypair(&id).is_err());
    let list = b.get(&app, &keys).await;
    assert!(!list.body.contains(&client_id));
}

async fn errors_show_next_to_their_field_and_keep_what_was_typed(db: TestDb) {
    let env = Env::new(db);
    let app = app!(env);
    let acme = env.account("Acme");
    person(
        &app,
        &env,
        "acct@example.test",
        &Owner::Account(acme.clone()),
    )
    .await;
    let mut b = Browser::new(&env);
    assert_eq!(
        b.sign_in(&app, "acct@example.test", PASSWORD).await.status,
        303
    );
    let keys = format!("/console/accounts/{}/keys", acme.as_str());
    let token = b.get(&app, &keys).await.form_token(&keys);
    // (extra fields, the id of the error paragraph, what it says)
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);
    let cases: [Case; 3] = [
        (
            &[("allowed_addresses", "10.0.0.0/8\nnot-an-address")],
            "addresses-error",
            "not-an-address: must be",
        ),
        (
            &[("expires_at", "2001-01-01T00:00")],
            "expires-error",
            "in the future",
        ),
        (
            &[("expires_at", "tomorrow")],
            "expires-error",
            "2027-01-31 12:00",
        ),
    ];
    for (fields, error_id, says) in cases {
        let mut all = vec![
            ("csrf_token", token.as_str()),
            ("comment", "billing export"),
            ("scope:feedback:write", "on"),
        ];
        all.extend_from_slice(fields);
        let r = b.post(&app, &keys, &all).await;
        assert_eq!(r.status, 400, "{fields:?}: {}", r.body);
        assert!(
            r.body.contains(&format!("id=\"{error_id}\"")),
            "{fields:?}: {}",
            r.body
        );
        assert!(r.text().contains(says), "{fields:?}: {}", r.text());
        assert!(
            r.body.contains("<dialog id=\"create-key\" open"),
            "the dialog stays open"
        );
        assert!(r.body.contains("value=\"billing export\""));
        assert!(r.body.contains("name=\"scope:feedback:write\" checked"));
    }
    // Nothing was made.
    let list = b.get(&app, &keys).await;
    assert!(list.text().contains("No API keys yet."));
}

async fn keys_out_of_reach_and_forged_requests_change_nothing(db: TestDb) {
    let env = Env::new(db);
    let app = app!(env);
    let acme = env.account("Acme");
    let prod = env.environment(&acme, "Production");
    let staging = env.environment(&acme, "Staging");
    person(&app, &env, "ada@example.test", &env_owner(&prod)).await;
    person(&app, &env, "sam@example.test", &env_owner(&staging)).await;
    let mut ada = Browser::new(&env);
    assert_eq!(
        ada.sign_in(&app, "ada@example.test", PASSWORD).await.status,
        303
    );
    let keys = format!("/console/environments/{}/keys", prod.id.as_str());
    let token = ada.get(&app, &keys).await.form_token(&keys);
    let made = ada
        .post(
            &app,
            &keys,
            &[("csrf_token", &token), ("scope:feedback:read", "on")],
        )
        .await;
    let client_id = input_value(&made, "new-client-id");
    let id = ClientId::parse(&client_id).unwrap();

    // Sam administers another environment: Ada's keys are a 404 page, and so is
    // every action on them.
    let mut sam = Browser::new(&env).from_address(20);
    assert_eq!(
        sam.sign_in(&app, "sam@example.test", PASSWORD).await.status,
        303
    );
    assert_eq!(sam.get(&app, &keys).await.status, 404);
    let account_keys = format!("/console/accounts/{}/keys", acme.as_str());
    assert_eq!(sam.get(&app, &account_keys).await.status, 404);
    let sam_token = sam
        .get(
            &app,
            &format!("/console/environments/{}/keys", staging.id.as_str()),
        )
        .await
        .form_token("/console/sign-out");
    for action in ["delete", "revoke-tokens", "status"] {
        let r = sam
            .post(
                &app,
                &format!("/console/keys/{client_id}/{action}"),
                &[("csrf_token", &sam_token), ("enabled", "false")],
            )
            .await;
        assert_eq!(r.status, 404, "{action}");
    }
    let r = sam
        .post(
            &app,
            &keys,
            &[("csrf_token", &sam_token), ("scope:feedback:read", "on")],
        )
        .await;
    assert_eq!(r.status, 404);
    // Ada without the page's token, or from another site: 403.
    let mut cross = ada.clone();
    cross.origin = "https://evil.example".into();
    let forged = cross
        .post(
            &app,
            &format!("/console/keys/{client_id}/delete"),
            &[("csrf_token", &token)],
        )
        .await;
    assert_eq!(forged.status, 403);
    let no_token = ada
        .post(&app, &format!("/console/keys/{client_id}/delete"), &[])
        .await;
    assert_eq!(no_token.status, 403);
    let unknown = ada
        .post(
            &app,
            &format!("/console/keys/{client_id}/launch"),
            &[("csrf_token", &token)],
        )
        .await;
    assert_eq!(unknown.status, 404);
    let k = env.store().get_keypair(&id).unwrap();
    assert!(k.enabled, "nothing changed");
}

async fn a_key_is_edited_and_its_secret_rotated(db: TestDb) {
    let env = Env::new(db);
    let app = app!(env);
    let acme = env.account("Acme");
    let prod = env.environment(&acme, "Production");
    let mut b = signed_in(&app, &env, "ada@example.test", &env_owner(&prod)).await;
    let keys = format!("/console/environments/{}/keys", prod.id.as_str());
    let token = b.get(&app, &keys).await.form_token(&keys);
    let made = b
        .post(
            &app,
            &keys,
            &[
                ("csrf_token", &token),
                ("comment", "first"),
                ("scope:feedback:read", "on"),
            ],
        )
        .await;
    let client_id = input_value(&made, "new-client-id");
    let first_secret = input_value(&made, "new-secret-value");
    let id = ClientId::parse(&client_id).unwrap();

    // The edit dialog holds the key as it is.
    let list = b.get(&app, &keys).await;
    assert!(list.has_button("Edit") && list.has_button("Save"));
    assert!(list.body.contains(&format!("id=\"edit-{client_id}-comment\" name=\"comment\" type=\"text\" maxlength=\"1000\" autofocus value=\"first\"")));
    let edit = format!("/console/keys/{client_id}/edit");
    // A refused edit comes back in its open dialog, as typed; nothing changes.
    let refused = b
        .post(
            &app,
            &edit,
            &[
                ("csrf_token", &token),
                ("comment", "second"),
                ("scope:feedback:write", "on"),
                ("allowed_addresses", "300.1.2.3"),
            ],
        )
        .await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(refused
        .body
        .contains(&format!("<dialog id=\"edit-{client_id}\" open")));
    assert!(refused
        .body
        .contains(&format!("id=\"edit-{client_id}-addresses-error\"")));
    assert!(refused.text().contains("300.1.2.3: must be"));
    assert_eq!(env.store().get_keypair(&id).unwrap().comment, "first");
    let saved = b
        .post(
            &app,
            &edit,
            &[
                ("csrf_token", &token),
                ("comment", "second"),
                ("scope:feedback:write", "on"),
            ],
        )
        .await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let k = env.store().get_keypair(&id).unwrap();
    assert_eq!(k.comment, "second");
    assert_eq!(k.scopes.to_space_separated(), "feedback:write");

    // Rotate: the new secret shown once; the old one stays live for the overlap.
    let rotate = format!("/console/keys/{client_id}/rotate");
    let rotated = b
        .post(
            &app,
            &rotate,
            &[("csrf_token", &token), ("overlap", "3600")],
        )
        .await;
    assert_eq!(rotated.status, 200, "{}", rotated.body);
    assert!(rotated.text().contains("Secret rotated"));
    let second_secret = input_value(&rotated, "new-secret-value");
    assert_ne!(second_secret, first_secret);
    let now = env.now();
    assert_eq!(
        env.store()
            .get_keypair(&id)
            .unwrap()
            .live_secrets(now)
            .count(),
        2
    );
    // Two live: a third needs `End the oldest secret now`.
    let list = b.get(&app, &keys).await;
    assert!(list.text().contains("End the oldest secret now"));
    assert!(list.body.contains(">Rotate</button>"));
    let refused = b
        .post(
            &app,
            &rotate,
            &[("csrf_token", &token), ("overlap", "3600")],
        )
        .await;
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert!(refused.text().contains("End the oldest secret now"));
    let third = b
        .post(
            &app,
            &rotate,
            &[
                ("csrf_token", &token),
                ("overlap", "0"),
                ("end_oldest", "on"),
            ],
        )
        .await;
    assert_eq!(third.status, 200, "{}", third.body);
    assert_eq!(
        env.store()
            .get_keypair(&id)
            .unwrap()
            .live_secrets(env.now())
            .count(),
        1
    );
    // An overlap the form does not offer, or none: refused, nothing rotated.
    for overlap in ["", "99999999", "soon"] {
        let r = b
            .post(
                &app,
                &rotate,
                &[("csrf_token", &token), ("overlap", overlap)],
            )
            .await;
        assert!(
            r.status == 400 || r.status == 409,
            "{overlap:?}: {}",
            r.status
        );
    }
    assert_eq!(
        env.store()
            .get_keypair(&id)
            .unwrap()
            .live_secrets(env.now())
            .count(),
        1
    );
}

async fn an_edit_changes_only_what_changed(db: TestDb) {
    let env = Env::new(db);
    let app = app!(env);
    let acme = env.account("Acme");
    let prod = env.environment(&acme, "Production");
    let keys = format!("/console/environments/{}/keys", prod.id.as_str());
    // An operator makes a key with a scope only operators may grant.
    let mut op = signed_in(&app, &env, "op@example.test", &Owner::Operator).await;
    let token = op.get(&app, &keys).await.form_token(&keys);
    let made = op
        .post(
            &app,
            &keys,
            &[
                ("csrf_token", &token),
                ("comment", "indexer"),
                ("scope:feedback:read", "on"),
                ("scope:keygate:introspect", "on"),
                ("expires_at", "2032-01-31T12:00"),
                ("allowed_addresses", "10.0.0.0/8"),
            ],
        )
        .await;
    assert_eq!(made.status, 200, "{}", made.body);
    let client_id = input_value(&made, "new-client-id");
    let secret = input_value(&made, "new-secret-value");
    let id = ClientId::parse(&client_id).unwrap();
    // It has a live token generation (asked for from inside its allowlist).
    op.address = std::net::IpAddr::from([10, 0, 0, 5]);
    let issued = op
        .post_with(
            &app,
            "/token",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &client_id),
                ("client_secret", &secret),
            ],
            &[],
        )
        .await;
    assert_eq!(issued.status, 200, "{}", issued.body);
    let before = env.store().get_keypair(&id).unwrap();
    assert_eq!(
        before.generation.as_ref().map(|g| g.status),
        Some(TokenStatus::Valid)
    );

    // The environment's administrator sees that scope locked, and edits the comment.
    let mut ada = Browser::new(&env).from_address(60);
    person(&app, &env, "ada@example.test", &env_owner(&prod)).await;
    assert_eq!(
        ada.sign_in(&app, "ada@example.test", PASSWORD).await.status,
        303
    );
    let page = ada.get(&app, &keys).await;
    assert!(
        page.body
            .contains("name=\"scope:keygate:introspect\" checked disabled"),
        "{}",
        page.body
    );
    let token = page.form_token(&keys);
    let saved = ada
        .post(
            &app,
            &format!("/console/keys/{client_id}/edit"),
            &[
                ("csrf_token", &token),
                ("comment", "indexer (search)"),
                ("scope:feedback:read", "on"),
                ("expires_at", "2032-01-31T12:00"),
                ("allowed_addresses", "10.0.0.0/8"),
            ],
        )
        .await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let after = env.store().get_keypair(&id).unwrap();
    assert_eq!(after.comment, "indexer (search)");
    assert_eq!(after.scopes, before.scopes, "the locked scope is kept");
    assert_eq!(after.expires_at, before.expires_at);
    assert_eq!(after.generation, before.generation, "its tokens still work");
}
