//! Shared helpers of the integration tests: the rig, people and rosters, log capture, and
//! a real SCIM server and a real slapd to read from.
// Each test binary uses a different part of the helpers.
#![allow(dead_code)]

pub mod cli;
pub mod configs;
pub mod logs;
pub mod people;
pub mod rig;
pub mod scim_server;
pub mod slapd;
pub mod webhook;
