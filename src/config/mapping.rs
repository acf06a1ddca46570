//! How the roster maps onto one platform (scope, role rules, field templates, match key),
//! as the config validates it and the engine's desired accounts read it.

use std::collections::BTreeMap;

use crate::filter::Filter;
use crate::template::Template;

/// A role rule: the first rule whose `when` matches (or that has none) gives the role.
#[derive(Debug, Clone)]
pub struct RoleRule {
    pub when: Option<Filter>,
    pub role: String,
    /// Fields the role implies (Client Toolbox's `allowed_campaigns`).
    pub fields: BTreeMap<String, String>,
}

/// How the roster maps onto one platform.
#[derive(Debug, Clone)]
pub struct Mapping {
    /// Who belongs on the platform; `None` means everyone active.
    pub scope: Option<Filter>,
    pub roles: Vec<RoleRule>,
    /// Platform field → template.
    pub fields: BTreeMap<String, Template>,
    /// The match key template (e.g. `{email}`).
    pub key: Template,
}
