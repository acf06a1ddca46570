//! rosterd: keeps the user accounts of SaaS platforms in line with one authoritative roster.
//!
//! # Layout
//! - [`model`]: people, accounts and field changes, the shapes every part speaks.
//! - [`config`]: the YAML config, validated with every problem reported at once.
//! - [`limits`]: the range of every number and duration the config and the CLI accept.
//! - [`filter`] and [`template`]: SCIM filters for scope and role rules; field templates.
//! - [`source`]: identity sources (SCIM 2.0, roster file) behind the `Source` trait.
//! - [`platform`]: one connector per platform behind the `Connector` trait, plus shared HTTP.
//! - [`records`]: the records the engine makes and the store keeps (links, intents, steps).
//! - [`reconcile`]: desired accounts → pure diff → guards → plan → apply; the `Engine`.
//! - [`report`]: the access report (who has access where; orphans; stale accounts).
//! - [`store`]: sled (links, cache, run history); [`audit`]: the hash-chained audit trail,
//!   anchored in the store ([`anchor`]).
//! - [`daemon`]: `rosterd run`: schedule, signals, HTTP, metrics, systemd notify, reloads.
//! - [`sandbox`]: the emulator kit each platform's strict loopback emulator is built from
//!   (default feature `sandbox`: tests, benchmarks and `rosterd demo`).
//! - [`cli`], [`demo`], [`setup`], [`exit`]: the command line and its wiring.
//! - [`build_info`]: the version and commit of this build.
//! - [`notify`]: webhooks told when a person must look (held removals, quarantine, failures).
//! - [`private`]: the state directory 0700 and every file rosterd writes 0600.
#![deny(clippy::unwrap_used, clippy::await_holding_lock)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod anchor;
pub mod audit;
pub mod build_info;
pub mod cli;
pub mod config;
pub mod daemon;
#[cfg(feature = "sandbox")]
pub mod demo;
pub mod exit;
pub mod filter;
pub mod limits;
pub mod model;
pub mod notify;
pub mod platform;
pub mod private;
pub mod reconcile;
pub mod records;
pub mod report;
pub mod resource;
#[cfg(feature = "sandbox")]
pub mod sandbox;
pub mod setup;
pub mod source;
pub mod store;
pub mod template;
