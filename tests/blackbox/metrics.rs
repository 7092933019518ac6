//! `/metrics` from the real binary, read by a strict OpenMetrics parser
//! (`openmetrics-parser`, which passes the OpenMetrics test suite): on its own listener and not on the main one by default;
//! counters move as requests are made; refusals are labelled by reason; no secret
//! appears; route labels stay bounded whatever paths clients send.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::Value;

use crate::support::{agent, call, Server};
use crate::tokens::bootstrap;

/// The metrics listener's base URL, from the server's log.
fn metrics_base(server: &Server) -> String {
    let deadline = clock::Clock::system().instant() + Duration::from_secs(10);
    loop {
        let log = server.log();
        if let Some(at) = log.find("metrics listening on http://") {
            let rest = &log[at + "metrics listening on ".len()..];
            let end = rest.find("/metrics").expect("the URL");
            return rest[..end].to_owned();
        }
        assert!(
            clock::Clock::system().instant() < deadline,
            "no metrics listener: {log}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

type Exposition = openmetrics_parser::MetricsExposition<
    openmetrics_parser::OpenMetricsType,
    openmetrics_parser::OpenMetricsValue,
>;

fn scrape(base: &str) -> (String, Exposition) {
    let (status, text) = call(agent().get(&format!("{base}/metrics")));
    assert_eq!(status, 200, "{text}");
    let parsed = openmetrics_parser::openmetrics::parse_openmetrics(&text)
        .unwrap_or_else(|e| panic!("not valid OpenMetrics ({e:?}): {text}"));
    (text, parsed)
}

/// The samples of `family` (its name without `_total`) with their labels and value
/// (a histogram's count).
fn samples(s: &Exposition, family: &str) -> Vec<(Vec<(String, String)>, f64)> {
    use openmetrics_parser::OpenMetricsValue as V;
    let Some(f) = s.families.get(family) else {
        return Vec::new();
    };
    f.iter_samples()
        .map(|x| {
            let labels = x
                .get_labelset()
                .map(|l| l.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default();
            let v = match &x.value {
                V::Counter(c) => c.value.as_f64(),
                V::Gauge(n) | V::Unknown(n) => n.as_f64(),
                V::Histogram(h) => h.count.unwrap_or(0) as f64,
                _ => 0.0,
            };
            (labels, v)
        })
        .collect()
}

fn value(s: &Exposition, family: &str, labels: &[(&str, &str)]) -> f64 {
    samples(s, family)
        .into_iter()
        .filter(|(have, _)| {
            labels
                .iter()
                .all(|(k, v)| have.iter().any(|(hk, hv)| hk == k && hv == v))
        })
        .map(|(_, v)| v)
        .sum()
}

/// Status and body of a request already sent.
fn answer(r: Result<ureq::Response, ureq::Error>) -> (u16, String) {
    match r {
        Ok(r) => (r.status(), r.into_string().unwrap_or_default()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap_or_default()),
        Err(e) => panic!("transport error: {e}"),
    }
}

fn token(server: &Server, id: &str, secret: &str) -> (u16, String) {
    answer(agent().post(&server.url("/token")).send_form(&[
        ("grant_type", "client_credentials"),
        ("client_id", id),
        ("client_secret", secret),
    ]))
}

#[test]
fn metrics_count_what_the_answers_hide_on_their_own_listener() {
    let dir = tempfile::tempdir().unwrap();
    let (op_id, op_secret) = bootstrap(dir.path());
    let server = Server::start(dir.path(), &[]);
    let base = metrics_base(&server);
    assert_ne!(base, server.base);
    let (status, _) = call(agent().get(&server.url("/metrics")));
    assert_eq!(status, 404, "not on the main listener by default");

    let (_, before) = scrape(&base);
    assert_eq!(value(&before, "keygate_tokens_issued", &[]), 0.0);

    // An operator token, a keypair allowed only from 10.0.0.0/8, wrong secrets.
    let (status, body) = token(&server, &op_id, &op_secret);
    assert_eq!(status, 200, "{body}");
    let op: Value = serde_json::from_str(&body).unwrap();
    let op = op["access_token"].as_str().unwrap().to_owned();
    let (_, account) = answer(
        agent()
            .post(&server.url("/admin/v1/accounts"))
            .set("authorization", &format!("Bearer {op}"))
            .send_json(serde_json::json!({"name": "Acme"})),
    );
    let account: Value = serde_json::from_str(&account).unwrap();
    let (_, made) = answer(
        agent()
            .post(&server.url(&format!(
                "/admin/v1/accounts/{}/keypairs",
                account["id"].as_str().unwrap()
            )))
            .set("authorization", &format!("Bearer {op}"))
            .send_json(serde_json::json!({
                "scopes": ["feedback:read"],
                "allowed_addresses": ["10.0.0.0/8"]
            })),
    );
    let made: Value = serde_json::from_str(&made).unwrap();
    let (id, secret) = (
        made["client_id"].as_str().unwrap(),
        made["client_secret"].as_str().unwrap(),
    );
    assert_eq!(token(&server, id, secret).0, 401);
    assert_eq!(token(&server, &op_id, "kgs_not_the_secret").0, 401);
    assert_eq!(token(&server, &op_id, "kgs_not_the_secret_either").0, 401);
    for _ in 0..2 {
        assert_eq!(token(&server, &op_id, &op_secret).0, 200);
    }

    let (text, after) = scrape(&base);
    assert_eq!(value(&after, "keygate_tokens_issued", &[]), 3.0);
    let refused = "keygate_token_requests_refused";
    assert_eq!(
        value(&after, refused, &[("reason", "address_not_allowed")]),
        1.0
    );
    assert_eq!(value(&after, refused, &[("reason", "invalid_client")]), 2.0);
    assert_eq!(
        value(&after, refused, &[]),
        3.0,
        "each refusal counted once"
    );
    assert_eq!(
        value(
            &after,
            "keygate_http_requests",
            &[("route", "/token"), ("status", "200")]
        ),
        3.0
    );
    assert_eq!(
        value(
            &after,
            "keygate_http_requests",
            &[("route", "/token"), ("status", "401")]
        ),
        3.0
    );
    assert!(
        value(
            &after,
            "keygate_http_request_duration_seconds",
            &[("route", "/token")]
        ) >= 6.0
    );
    assert!(
        value(&after, "keygate_keypair_cache_hits", &[])
            + value(&after, "keygate_keypair_cache_misses", &[])
            >= 6.0
    );
    assert!(value(&after, "keygate_db_pool_connections", &[]) >= 1.0);
    assert!(value(&after, "process_resident_memory_bytes", &[]) > 0.0);
    assert!(text.contains("keygate_status_list_builds_total"));
    for secret in [
        op_secret.as_str(),
        secret,
        "kgs_not_the_secret",
        op.as_str(),
    ] {
        assert!(!text.contains(secret), "a secret in the metrics");
    }
    assert!(!text.contains(&op_id), "no client ids as labels");
}

#[test]
fn route_labels_stay_bounded_under_random_paths() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let base = metrics_base(&server);
    let http = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(10))
        .redirects(0)
        .build();
    for i in 0..1000u32 {
        let path = match i % 4 {
            0 => format!("/nowhere/{i:x}"),
            1 => format!("/console/accounts/acc_{i:08x}"),
            2 => format!("/admin/v1/keypairs/kg_{i:032x}"),
            _ => format!("/statuslists/{i}"),
        };
        let _ = http.get(&server.url(&path)).call();
    }
    let (_, s) = scrape(&base);
    let all = samples(&s, "keygate_http_requests");
    let routes: BTreeSet<&str> = all
        .iter()
        .flat_map(|(labels, _)| labels.iter())
        .filter(|(k, _)| k == "route")
        .map(|(_, v)| v.as_str())
        .collect();
    assert!(routes.len() <= 10, "{routes:?}");
    assert!(routes.contains("unmatched"), "{routes:?}");
    assert!(
        routes.contains("/console/accounts/{account_id}"),
        "{routes:?}"
    );
    let counted = value(&s, "keygate_http_requests", &[]);
    let health = value(&s, "keygate_http_requests", &[("route", "/healthz")]);
    assert_eq!(counted - health, 1000.0, "every request counted once");
}

#[test]
fn metrics_can_be_on_the_main_listener_or_off() {
    let dir = tempfile::tempdir().unwrap();
    let main = Server::start(dir.path(), &[("KEYGATE_METRICS_LISTEN", "main")]);
    let (_, s) = scrape(&main.base);
    assert!(value(&s, "process_start_time_seconds", &[]) > 0.0);
    drop(main);
    let off = Server::start(dir.path(), &[("KEYGATE_METRICS_LISTEN", "off")]);
    let (status, _) = call(agent().get(&off.url("/metrics")));
    assert_eq!(status, 404);
    assert!(!off.log().contains("metrics listening"));
}
