//! Wiring: turns a validated config into a ready engine (source, connectors, store,
//! audit trail), and runs the checks that need the network for `check-config`.

use crate::config::{Config, PlatformConfig, ScimAuthConfig, SourceConfig};
use crate::platform::{Connector, PlatformError};
use crate::reconcile::metrics::{NoMetrics, RunMetrics};
use crate::reconcile::{Engine, EngineError, PlatformRuntime};
use crate::source::file::{FileSettings, FileSource};
use crate::source::scim::{GroupsFrom, ScimAuth, ScimSettings, ScimSource};
use crate::source::Source;

/// Build the engine the config describes, counting no metrics (the command line, the
/// demo, the tests: no recorder is installed there).
pub fn engine(config: Config) -> Result<Engine, EngineError> {
    engine_with(config, Box::new(NoMetrics))
}

/// Build the engine the config describes, its runs counted by `metrics` (the daemon's).
pub fn engine_with(config: Config, metrics: Box<dyn RunMetrics>) -> Result<Engine, EngineError> {
    let source = source(&config.source)?;
    let mut platforms = Vec::new();
    for p in config.platforms.iter().filter(|p| p.enabled) {
        let connector = connector(p).map_err(|e| EngineError::Setup(e.to_string()))?;
        platforms.push(PlatformRuntime { config: p.clone(), connector });
    }
    Engine::new(config, source, platforms, metrics)
}

pub fn source(config: &SourceConfig) -> Result<Box<dyn Source>, EngineError> {
    match config {
        SourceConfig::Scim(s) => {
            let auth = match &s.auth {
                ScimAuthConfig::Bearer(t) => ScimAuth::Bearer(t.clone()),
                ScimAuthConfig::Basic { username, password } => {
                    ScimAuth::Basic { username: username.clone(), password: password.clone() }
                }
            };
            let groups = match s.groups.as_str() {
                "user" => GroupsFrom::User,
                "endpoint" => GroupsFrom::GroupsEndpoint,
                _ => GroupsFrom::Auto,
            };
            let settings = ScimSettings {
                connection: s.connection.clone(),
                auth,
                page_size: s.page_size,
                max_pages: s.max_pages,
                groups,
                retry: Default::default(),
                filter: None,
                incremental: s.incremental.clone(),
            };
            Ok(Box::new(ScimSource::new(settings).map_err(|e| EngineError::Setup(e.to_string()))?))
        }
        SourceConfig::Ldap(settings) => {
            let source = crate::source::ldap::LdapSource::new(settings.as_ref().clone());
            Ok(Box::new(source.map_err(|e| EngineError::Setup(e.to_string()))?))
        }
        SourceConfig::Okta(s) => {
            let source = crate::source::okta::OktaSource::new(s.clone());
            Ok(Box::new(source.map_err(|e| EngineError::Setup(e.to_string()))?))
        }
        SourceConfig::Google(settings) => {
            let source = crate::source::google::GoogleSource::new(settings.clone());
            Ok(Box::new(source.map_err(|e| EngineError::Setup(e.to_string()))?))
        }
        SourceConfig::Entra(settings) => {
            let source = crate::source::entra::EntraSource::new(settings.clone());
            Ok(Box::new(source.map_err(|e| EngineError::Setup(e.to_string()))?))
        }
        SourceConfig::Push(settings) => Ok(Box::new(crate::source::push::PushSource::new(settings.clone()))),
        SourceConfig::PullAndPush { pull, push } => {
            let push = crate::source::push::PushSource::new(push.clone());
            Ok(Box::new(crate::source::push::pulled::PushedOverPull::new(source(pull)?, push)))
        }
        SourceConfig::File { path, complete } => {
            let source = FileSource::new(FileSettings { path: path.clone(), complete: *complete });
            Ok(Box::new(source.map_err(|e| EngineError::Setup(e.to_string()))?))
        }
    }
}

pub fn connector(p: &PlatformConfig) -> Result<Box<dyn Connector>, PlatformError> {
    let input = crate::platform::kind::BuildInput {
        name: &p.name,
        connection: &p.connection,
        api_key: &p.api_key,
        page_size: p.page_size,
        options: &p.options,
        mapped_fields: p.mapping.fields.keys().map(String::as_str).collect(),
    };
    (p.kind.build)(&input)
}

/// Checks that need the platforms: the credentials work and every configured role exists.
pub async fn online_checks(config: &Config) -> Vec<String> {
    let mut problems = Vec::new();
    for (i, p) in config.platforms.iter().enumerate().filter(|(_, p)| p.enabled) {
        let connector = match connector(p) {
            Ok(c) => c,
            Err(e) => {
                problems.push(format!("platforms[{i}]: {e}"));
                continue;
            }
        };
        let known = match connector.known_roles().await {
            Ok(Some(k)) => k,
            Ok(None) => continue,
            Err(e) => {
                problems.push(format!("platforms[{i}]: cannot check roles: {e} (use --offline to skip)"));
                continue;
            }
        };
        for (j, rule) in p.mapping.roles.iter().enumerate() {
            if !known.iter().any(|k| k.eq_ignore_ascii_case(&rule.role)) {
                problems.push(format!(
                    "platforms[{i}].roles[{j}].role: unknown role {:?} ({} roles: {})",
                    rule.role,
                    p.kind.vendor,
                    known.join(", ")
                ));
            }
        }
    }
    problems
}
