//! Shared helpers of the integration tests: a real SCIM server to read from.
// Each test binary uses a different part of the helpers.
#![allow(dead_code)]

pub mod rig;
pub mod scim_server;
