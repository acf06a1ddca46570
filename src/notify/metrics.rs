//! `rosterd_notifications_total{outcome}`: each webhook delivery, `delivered` or `failed`
//! (after its retries), and each retried attempt as `retried`.

use metrics::{counter, describe_counter};

pub const NOTIFICATIONS: &str = "rosterd_notifications_total";

const OUTCOMES: [&str; 3] = ["delivered", "retried", "failed"];

/// Describe the counter and export each outcome at zero (called when the recorder is installed).
pub fn zero() {
    describe_counter!(NOTIFICATIONS, "Webhook notifications, by outcome (delivered, retried, failed).");
    for outcome in OUTCOMES {
        counter!(NOTIFICATIONS, "outcome" => outcome).absolute(0);
    }
}

pub fn count(outcome: &'static str) {
    counter!(NOTIFICATIONS, "outcome" => outcome).increment(1);
}
