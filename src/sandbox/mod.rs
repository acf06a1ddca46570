//! The emulator kit: what every platform's strict loopback emulator is built from (fault
//! scripts, the loopback server, rate limits, a misbehaving proxy, page caps). The emulators
//! themselves live with their platforms (`platform/<kind>/sandbox.rs`); this folder knows no
//! platform. Compiled with the default `sandbox` feature, for tests, benchmarks and `rosterd demo`.

pub mod faults;
pub mod page_cap;
pub mod proxy;
pub mod reply;
pub mod server;
pub mod throttle;
