//! `GET /admin/v1/openapi.json`: an OpenAPI 3.1 document generated from the code. It
//! names every route of the route table and no other, each with the bearer scheme,
//! its path parameters and its error shape; the schemas match what the API answers.

use std::collections::BTreeSet;

use keypair_store::testing::TestDb;
use serde_json::Value;

use crate::client::operator;
use crate::{call, send, Env};

keypair_store::on_both_backends_async! {
    the_document_describes_exactly_the_route_table;
}

async fn the_document_describes_exactly_the_route_table(db: TestDb) {
    let env = Env::new(db);
    let app = crate::admin_app!(env);
    // No token needed: the document describes, it reveals nothing.
    let reply = send(&app, call("get", admin_api::OPENAPI_PATH, None, None)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let doc = reply.json();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );

    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().unwrap() {
            documented.insert((method.clone(), path.clone()));
            assert_eq!(
                op["security"][0]["bearer"],
                Value::Array(vec![]),
                "{method} {path}"
            );
            for name in path
                .split('{')
                .skip(1)
                .map(|p| p.split('}').next().unwrap())
            {
                let declared = op["parameters"]
                    .as_array()
                    .is_some_and(|ps| ps.iter().any(|p| p["name"] == name && p["in"] == "path"));
                assert!(declared, "{method} {path}: path parameter {name}");
            }
            assert_eq!(
                op["responses"]["404"]["content"]["application/json"]["schema"]["$ref"],
                "#/components/schemas/ErrorView",
                "{method} {path}"
            );
        }
    }
    let table: BTreeSet<(String, String)> = admin_api::ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(documented, table, "the document and the route table differ");

    // The schemas say what the API answers: a created keypair carries its secret,
    // a keypair never does.
    let schemas = &doc["components"]["schemas"];
    let created = serde_json::to_string(&schemas["CreatedKeypair"]).unwrap();
    assert!(created.contains("client_secret"), "{created}");
    let keypair = &schemas["KeypairView"]["properties"];
    assert!(keypair.get("client_secret").is_none() && keypair.get("secret_hint").is_some());
    let op = operator(&env);
    let made = send(
        &app,
        call(
            "post",
            "/admin/v1/accounts",
            Some(&op.token),
            Some(serde_json::json!({"name": "Acme"})),
        ),
    )
    .await
    .json();
    for field in schemas["AccountView"]["required"].as_array().unwrap() {
        assert!(
            made.get(field.as_str().unwrap()).is_some(),
            "{field} in {made}"
        );
    }
}
