//! `push_flow:` validated, every problem under its key path (`push_flow.burst.count`).

use std::time::Duration;

use serde::Deserialize;
use serde_yaml::Value;

use super::super::push_flow::PushFlowConfig;
use super::Validator;
use crate::limits::Span;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawPushFlow {
    coalesce_millis: Option<u64>,
    retry_max_seconds: Option<u64>,
    #[serde(default)]
    burst: RawBurst,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawBurst {
    count: Option<u64>,
    window_seconds: Option<u64>,
}

/// A coalescing window longer than this would make "within a second" impossible for nothing.
const COALESCE_MILLIS: Span = Span::new(0, 10_000, "milliseconds");
const RETRY_MAX_SECONDS: Span = Span::new(1, 3_600, "seconds");
const BURST_COUNT: Span = Span::new(1, 1_000_000, "deactivations");
const BURST_WINDOW_SECONDS: Span = Span::new(1, 7 * 86_400, "seconds");

impl Validator {
    /// The `push_flow:` section; its defaults when absent or wrong. The burst count
    /// defaults to `safety.max_removals.count`, then to 25.
    pub(super) fn push_flow(&mut self, value: Option<&Value>, max_removals_count: Option<usize>) -> PushFlowConfig {
        let raw: RawPushFlow = value.and_then(|v| self.section(v, "push_flow")).unwrap_or_default();
        self.span("push_flow.coalesce_millis", COALESCE_MILLIS, raw.coalesce_millis);
        self.span("push_flow.retry_max_seconds", RETRY_MAX_SECONDS, raw.retry_max_seconds);
        self.span("push_flow.burst.count", BURST_COUNT, raw.burst.count);
        self.span("push_flow.burst.window_seconds", BURST_WINDOW_SECONDS, raw.burst.window_seconds);
        let mut config = PushFlowConfig::with_defaults(max_removals_count);
        if let Some(ms) = raw.coalesce_millis {
            config.coalesce = Duration::from_millis(ms.min(COALESCE_MILLIS.max));
        }
        if let Some(s) = raw.retry_max_seconds {
            config.retry_max = Duration::from_secs(s.clamp(RETRY_MAX_SECONDS.min, RETRY_MAX_SECONDS.max));
        }
        if let Some(n) = raw.burst.count {
            config.burst.count = n.clamp(BURST_COUNT.min, BURST_COUNT.max) as usize;
        }
        if let Some(s) = raw.burst.window_seconds {
            config.burst.window = Duration::from_secs(s.clamp(BURST_WINDOW_SECONDS.min, BURST_WINDOW_SECONDS.max));
        }
        config
    }
}
