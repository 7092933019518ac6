//! Keygate's Prometheus metrics (`prometheus-client`, text exposition format).
//!
//! [`Metrics`] holds the counters that code moves as things happen (tokens issued and
//! refused, HTTP requests, console sign-ins); what other parts already count (the
//! keypair cache, the database pool, status list builds, the process) is read at
//! scrape time by [`Collector`]s registered when the metrics are made. Labels take
//! only bounded values: refusal reasons and outcomes are `&'static str` codes, and
//! routes are route templates (`unmatched` for a path no route knows), never raw paths.
//!
//! [`Metrics::off`] counts nothing: every method is a branch on `None`.

use std::fmt::Write as _;
use std::sync::Arc;

use prometheus_client::encoding::{EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

pub use prometheus_client::collector::Collector;
pub use prometheus_client::encoding::DescriptorEncoder;

mod process;

pub use process::ProcessCollector;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Reason {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outcome {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteStatus {
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Route {
    route: String,
}

fn duration_histogram() -> Histogram {
    // 0.25 ms to about 4 s.
    Histogram::new(exponential_buckets(0.000_25, 2.0, 15))
}

struct Inner {
    registry: Registry,
    tokens_issued: Counter,
    tokens_refused: Family<Reason, Counter>,
    http_requests: Family<RouteStatus, Counter>,
    http_duration: Family<Route, Histogram, fn() -> Histogram>,
    sign_ins: Family<Outcome, Counter>,
}

/// The metrics, or nothing ([`Metrics::off`]). Cheap to clone.
#[derive(Clone, Default)]
pub struct Metrics(Option<Arc<Inner>>);

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("on", &self.0.is_some())
            .finish()
    }
}

impl Metrics {
    /// Counting off: nothing is counted and [`Metrics::encode`] is `None`.
    pub fn off() -> Metrics {
        Metrics(None)
    }

    /// Counting on, with `collectors` read at every scrape.
    pub fn new(collectors: Vec<Box<dyn Collector>>) -> Metrics {
        let mut registry = Registry::default();
        let tokens_issued = Counter::default();
        registry.register(
            "keygate_tokens_issued",
            "Access tokens issued at /token",
            tokens_issued.clone(),
        );
        let tokens_refused = Family::<Reason, Counter>::default();
        registry.register(
            "keygate_token_requests_refused",
            "Requests to /token refused, by reason: the RFC 6749 error, or throttled, address_not_allowed or expired (each refusal counted once, under its most specific reason)",
            tokens_refused.clone(),
        );
        let http_requests = Family::<RouteStatus, Counter>::default();
        registry.register(
            "keygate_http_requests",
            "HTTP requests answered, by route template and status",
            http_requests.clone(),
        );
        let http_duration =
            Family::<Route, Histogram, fn() -> Histogram>::new_with_constructor(duration_histogram);
        registry.register(
            "keygate_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template",
            http_duration.clone(),
        );
        let sign_ins = Family::<Outcome, Counter>::default();
        registry.register(
            "keygate_console_sign_ins",
            "Console sign-ins, by outcome (ok, or the reason it was refused)",
            sign_ins.clone(),
        );
        for c in collectors {
            registry.register_collector(c);
        }
        Metrics(Some(Arc::new(Inner {
            registry,
            tokens_issued,
            tokens_refused,
            http_requests,
            http_duration,
            sign_ins,
        })))
    }

    /// Whether anything is counted.
    pub fn is_on(&self) -> bool {
        self.0.is_some()
    }

    /// A token was issued.
    pub fn token_issued(&self) {
        if let Some(m) = &self.0 {
            m.tokens_issued.inc();
        }
    }

    /// A `/token` request was refused for `reason`.
    pub fn token_refused(&self, reason: &'static str) {
        if let Some(m) = &self.0 {
            m.tokens_refused.get_or_create(&Reason { reason }).inc();
        }
    }

    /// A console sign-in ended with `outcome` (`ok`, or a refusal reason).
    pub fn sign_in(&self, outcome: &'static str) {
        if let Some(m) = &self.0 {
            m.sign_ins.get_or_create(&Outcome { outcome }).inc();
        }
    }

    /// An HTTP request to `route` (a route template, or `unmatched`) was answered
    /// with `status` after `seconds`.
    pub fn http_request(&self, route: &str, status: u16, seconds: f64) {
        if let Some(m) = &self.0 {
            m.http_requests
                .get_or_create(&RouteStatus {
                    route: route.to_owned(),
                    status,
                })
                .inc();
            m.http_duration
                .get_or_create(&Route {
                    route: route.to_owned(),
                })
                .observe(seconds);
        }
    }

    /// The content type of [`Metrics::encode`]'s text: OpenMetrics, which Prometheus
    /// reads (counters are named `…_total`).
    pub const CONTENT_TYPE: &'static str =
        "application/openmetrics-text; version=1.0.0; charset=utf-8";

    /// Everything, in the OpenMetrics text format (`None` when off).
    pub fn encode(&self) -> Option<String> {
        let m = self.0.as_ref()?;
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &m.registry).is_err() {
            out.clear();
            let _ = writeln!(out, "# metrics could not be encoded");
        }
        Some(out)
    }
}

/// Writes one counter in a collector.
pub fn encode_counter(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: u64,
) -> Result<(), std::fmt::Error> {
    let counter = ConstCounter::new(value);
    let metric = encoder.encode_descriptor(name, help, None, counter.metric_type())?;
    counter.encode(metric)
}

/// Writes one gauge in a collector.
pub fn encode_gauge(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: i64,
) -> Result<(), std::fmt::Error> {
    let gauge = ConstGauge::new(value);
    let metric = encoder.encode_descriptor(name, help, None, gauge.metric_type())?;
    gauge.encode(metric)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str, family: &str, label: Option<(&str, &str)>) -> f64 {
        use openmetrics_parser::OpenMetricsValue as V;
        let parsed = openmetrics_parser::openmetrics::parse_openmetrics(text)
            .unwrap_or_else(|e| panic!("not OpenMetrics ({e:?}): {text}"));
        let Some(f) = parsed.families.get(family) else {
            return 0.0;
        };
        f.iter_samples()
            .filter(|x| {
                label.is_none_or(|(k, v)| {
                    x.get_labelset()
                        .is_ok_and(|l| l.get_label_value(k) == Some(v))
                })
            })
            .map(|x| match &x.value {
                V::Counter(c) => c.value.as_f64(),
                V::Gauge(n) => n.as_f64(),
                _ => 0.0,
            })
            .sum()
    }

    #[test]
    fn counts_are_encoded_for_a_real_parser_and_off_counts_nothing() {
        let m = Metrics::new(vec![]);
        m.token_issued();
        m.token_issued();
        m.token_refused("invalid_client");
        m.token_refused("throttled");
        m.token_refused("throttled");
        m.sign_in("ok");
        m.http_request("/token", 200, 0.001);
        m.http_request("/console/accounts/{account_id}", 303, 0.002);
        let s = m.encode().expect("on");
        let refused = "keygate_token_requests_refused";
        assert_eq!(value(&s, "keygate_tokens_issued", None), 2.0);
        assert_eq!(value(&s, refused, Some(("reason", "throttled"))), 2.0);
        assert_eq!(value(&s, refused, Some(("reason", "invalid_client"))), 1.0);
        let route = |r| value(&s, "keygate_http_requests", Some(("route", r)));
        assert_eq!(route("/token"), 1.0);
        assert_eq!(route("/console/accounts/{account_id}"), 1.0);
        assert_eq!(
            value(&s, "keygate_console_sign_ins", Some(("outcome", "ok"))),
            1.0
        );

        let off = Metrics::off();
        off.token_issued();
        assert!(off.encode().is_none() && !off.is_on());
    }
}
