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

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::{Config, Problem};

    fn parse(extra: &str) -> Result<Config, Vec<Problem>> {
        let head = "source: { file: { path: roster.yaml } }\nplatforms:\n  - { name: c, kind: cake, base_url: \"https://a.example\", api_key_env: PATH }\n";
        Config::parse(&format!("{head}{extra}"), Path::new("/tmp/rosterd-test/rosterd.yaml"))
    }

    fn problems(extra: &str) -> Vec<String> {
        parse(extra).err().unwrap_or_default().iter().map(ToString::to_string).collect()
    }

    #[test]
    fn the_burst_count_defaults_to_the_removal_limit_then_25() {
        let c = parse("safety: { max_removals: { count: 7 } }\n").unwrap();
        assert_eq!((c.push_flow.burst.count, c.push_flow.burst.window.as_secs()), (7, 60));
        assert_eq!(c.push_flow.coalesce.as_millis(), 200);
        assert_eq!(parse("").unwrap().push_flow.burst.count, 25);
        let c = parse("push_flow: { coalesce_millis: 0, burst: { count: 3, window_seconds: 600 } }\n").unwrap();
        assert_eq!(
            (c.push_flow.coalesce.as_millis(), c.push_flow.burst.count, c.push_flow.burst.window.as_secs()),
            (0, 3, 600)
        );
    }

    #[test]
    fn problems_name_their_key_paths() {
        let p = problems("push_flow: { coalesce_millis: 20000, retry_max_seconds: 0, burst: { count: 0 } }\n");
        for key in ["push_flow.coalesce_millis", "push_flow.retry_max_seconds", "push_flow.burst.count"] {
            assert!(p.iter().any(|p| p.contains(key) && p.contains("out of range")), "{key}: {p:#?}");
        }
        let p = problems("push_flow: { burst: { cnt: 3 } }\n");
        assert!(p.iter().any(|p| p.starts_with("push_flow.burst") && p.contains("cnt")), "{p:#?}");
    }
}
