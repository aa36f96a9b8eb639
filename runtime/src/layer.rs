//! A `tracing_subscriber::Layer` that attaches a program's own spans and events inside
//! handlers to the callback they happen in.
//!
//! Add it to the subscriber: `tracing_subscriber::registry().with(hue_runtime::HueLayer)`.
//! Events and span entries/exits on a worker thread, while a callback runs and the trace
//! level is `full`, become [`crate::trace::EventRecord`]s of that callback; elsewhere the layer
//! does nothing.

use std::fmt::Write;

use tracing::field::{Field, Visit};
use tracing::span;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use crate::intern;
use crate::recorder;
use hue_formats::trace::EventKind;

/// Attaches `tracing` events and spans inside handlers to the running callback in the trace.
#[derive(Clone, Copy, Debug, Default)]
pub struct HueLayer;

fn level_number(l: &Level) -> u8 {
    match *l {
        Level::ERROR => 1,
        Level::WARN => 2,
        Level::INFO => 3,
        Level::DEBUG => 4,
        Level::TRACE => 5,
    }
}

/// Formats an event's fields as `message key=value ...`.
struct Fields(String);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if !self.0.is_empty() {
            self.0.push(' ');
        }
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        } else {
            let _ = write!(self.0, "{}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if !self.0.is_empty() {
            self.0.push(' ');
        }
        if field.name() == "message" {
            self.0.push_str(value);
        } else {
            let _ = write!(self.0, "{}={value}", field.name());
        }
    }
}

fn in_callback() -> bool {
    recorder::current().is_some()
        && recorder::with(|r| r.level == crate::TraceLevel::Full).unwrap_or(false)
}

impl<S> tracing_subscriber::Layer<S> for HueLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        if !in_callback() {
            return;
        }
        let meta = event.metadata();
        let mut fields = Fields(String::new());
        event.record(&mut fields);
        let name = intern::events().intern(meta.name());
        recorder::with(|r| r.event(EventKind::Event, level_number(meta.level()), name, fields.0));
    }

    fn on_enter(&self, id: &span::Id, ctx: Context<'_, S>) {
        self.span(id, &ctx, EventKind::Enter);
    }

    fn on_exit(&self, id: &span::Id, ctx: Context<'_, S>) {
        self.span(id, &ctx, EventKind::Exit);
    }
}

impl HueLayer {
    fn span<S>(&self, id: &span::Id, ctx: &Context<'_, S>, kind: EventKind)
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        if !in_callback() {
            return;
        }
        let Some(span) = ctx.span(id) else {
            return;
        };
        let meta = span.metadata();
        let name = intern::events().intern(meta.name());
        recorder::with(|r| r.event(kind, level_number(meta.level()), name, String::new()));
    }
}
