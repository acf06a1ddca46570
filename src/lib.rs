//! rosterd: keeps the user accounts of SaaS platforms in line with one authoritative roster.
//!
//! # Layout
//! - [`model`]: people, accounts and field changes, the shapes every part speaks.
//! - [`platform`]: one connector per platform behind the `Connector` trait, plus shared HTTP.
//! - [`source`]: identity sources (SCIM, roster file) behind the `Source` trait.
//! - [`sandbox`]: strict in-process emulators of the platforms, for tests and `rosterd demo`.
#![deny(clippy::unwrap_used, clippy::await_holding_lock)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod model;
pub mod platform;
pub mod sandbox;
pub mod source;
