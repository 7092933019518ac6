//! Logging to standard error through `tracing`; verbosity from `RUST_LOG`.
//!
//! One library event changes level on its way out: actix-web reports a malformed request
//! head (`stream error: request parse error: ...`, target `actix_http::h1::dispatcher`)
//! at ERROR. That is bad client input, not a server fault, so it is filtered and printed
//! as DEBUG: silent under the default `info`, visible with
//! `RUST_LOG=info,actix_http::h1::dispatcher=debug`. The dispatcher's other errors
//! (a failing response body, an internal error) stay at ERROR.

use std::fmt;

// `tracing` re-exports these from `tracing-core`; they describe the DEBUG event that
// replaces actix's ERROR one.
use tracing::callsite::{Callsite, Identifier};
use tracing::field::{display, Field, FieldSet, Value, Visit};
use tracing::level_filters::LevelFilter;
use tracing::metadata::Kind;
use tracing::span;
use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::{Context, Filter, Layer as _, SubscriberExt as _};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global subscriber. `RUST_LOG` defaults to `info`.
pub fn init(format: LogFormat) {
    let env = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let filter = ParseErrorsAtDebug(env);
    let layer = tracing_subscriber::fmt::layer()
        .log_internal_errors(true)
        .with_writer(std::io::stderr);
    let registry = tracing_subscriber::registry();
    let _ = match format {
        LogFormat::Text => registry
            .with(
                layer
                    .map_event_format(ParseErrorsAtDebug)
                    .with_filter(filter),
            )
            .try_init(),
        LogFormat::Json => registry
            .with(
                layer
                    .json()
                    .flatten_event(true)
                    .map_event_format(ParseErrorsAtDebug)
                    .with_filter(filter),
            )
            .try_init(),
    };
}

const DISPATCHER: &str = "actix_http::h1::dispatcher";

/// How actix's dispatcher words a request it could not parse (`DispatchError::Parse`).
const PARSE_ERROR_PREFIX: &str = "stream error: request parse error";

/// The call site of the DEBUG event a parse error is turned into. It is never
/// registered with a subscriber: only the filter and the formatter below see its events.
struct ParseErrorCallsite;

static PARSE_ERROR_CALLSITE: ParseErrorCallsite = ParseErrorCallsite;

static PARSE_ERROR_AT_DEBUG: Metadata<'static> = Metadata::new(
    "malformed request head",
    DISPATCHER,
    Level::DEBUG,
    None,
    None,
    Some(DISPATCHER),
    FieldSet::new(&["message"], Identifier(&PARSE_ERROR_CALLSITE)),
    Kind::EVENT,
);

impl Callsite for ParseErrorCallsite {
    fn set_interest(&self, _interest: Interest) {}

    fn metadata(&self) -> &Metadata<'_> {
        &PARSE_ERROR_AT_DEBUG
    }
}

/// Whether events of this call site can be parse errors; only their message tells.
fn may_be_parse_error(metadata: &Metadata<'_>) -> bool {
    metadata.is_event() && *metadata.level() == Level::ERROR && metadata.target() == DISPATCHER
}

/// The message of an actix parse-error event, or `None` for any other event.
fn parse_error_message(event: &Event<'_>) -> Option<String> {
    if !may_be_parse_error(event.metadata()) {
        return None;
    }
    let mut message = MessageOf(None);
    event.record(&mut message);
    message.0.filter(|m| m.starts_with(PARSE_ERROR_PREFIX))
}

struct MessageOf(Option<String>);

impl Visit for MessageOf {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            self.0 = Some(format!("{value:?}"));
        }
    }
}

/// The environment filter, except that a parse error passes where a DEBUG event of the
/// dispatcher would, and is printed as one.
#[derive(Debug)]
struct ParseErrorsAtDebug<T>(T);

impl<S> Filter<S> for ParseErrorsAtDebug<EnvFilter>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn enabled(&self, metadata: &Metadata<'_>, cx: &Context<'_, S>) -> bool {
        // Decided per event in `event_enabled`, once the message is known.
        may_be_parse_error(metadata) || Filter::enabled(&self.0, metadata, cx)
    }

    fn callsite_enabled(&self, metadata: &'static Metadata<'static>) -> Interest {
        if may_be_parse_error(metadata) {
            Interest::sometimes()
        } else {
            Filter::<S>::callsite_enabled(&self.0, metadata)
        }
    }

    fn event_enabled(&self, event: &Event<'_>, cx: &Context<'_, S>) -> bool {
        if !may_be_parse_error(event.metadata()) {
            return Filter::event_enabled(&self.0, event, cx);
        }
        let as_logged = match parse_error_message(event) {
            Some(_) => &PARSE_ERROR_AT_DEBUG,
            None => event.metadata(),
        };
        Filter::enabled(&self.0, as_logged, cx) && Filter::event_enabled(&self.0, event, cx)
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Filter::<S>::max_level_hint(&self.0)
    }

    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, cx: Context<'_, S>) {
        Filter::on_new_span(&self.0, attrs, id, cx);
    }

    fn on_record(&self, id: &span::Id, values: &span::Record<'_>, cx: Context<'_, S>) {
        Filter::on_record(&self.0, id, values, cx);
    }

    fn on_enter(&self, id: &span::Id, cx: Context<'_, S>) {
        Filter::on_enter(&self.0, id, cx);
    }

    fn on_exit(&self, id: &span::Id, cx: Context<'_, S>) {
        Filter::on_exit(&self.0, id, cx);
    }

    fn on_close(&self, id: span::Id, cx: Context<'_, S>) {
        Filter::on_close(&self.0, id, cx);
    }
}

/// The formatter prints a parse error as a DEBUG event with the same message and parent.
impl<S, N, E> FormatEvent<S, N> for ParseErrorsAtDebug<E>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'writer> FormatFields<'writer> + 'static,
    E: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        cx: &FmtContext<'_, S, N>,
        writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let fields = PARSE_ERROR_AT_DEBUG.fields();
        let (Some(message), Some(field)) = (parse_error_message(event), fields.field("message"))
        else {
            return self.0.format_event(cx, writer, event);
        };
        let message = display(message);
        let values = [(&field, Some(&message as &dyn Value))];
        let values = fields.value_set(&values);
        let demoted = if event.is_contextual() {
            Event::new(&PARSE_ERROR_AT_DEBUG, &values)
        } else {
            Event::new_child_of(event.parent().cloned(), &PARSE_ERROR_AT_DEBUG, &values)
        };
        self.0.format_event(cx, writer, &demoted)
    }
}
