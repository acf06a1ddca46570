//! The Entra ID source against its emulator: what makes a read incomplete (a short
//! `$count`, a group whose members cannot be read, a nextLink leaving Graph) and a refused
//! app, whose error says what to do and never holds the secret.

use secrecy::SecretString;

use super::sandbox::{EntraSandbox, EntraSandboxOptions};
use super::*;
use crate::platform::connection::Connection;
use crate::sandbox::faults::{Fault, FaultRule};

async fn tenant(n: usize) -> EntraSandbox {
    EntraSandbox::start(EntraSandboxOptions::default().with_people(n)).await.expect("the emulator")
}

fn source(sandbox: &EntraSandbox, secret: &str) -> EntraSource {
    let options = EntraSandboxOptions::default();
    let graph = Connection::new(sandbox.graph_url());
    let secret = SecretString::from(secret.to_string());
    let mut settings = EntraSettings::new(graph, sandbox.base_url(), &options.tenant, &options.app.0, secret);
    settings.retry = settings::backoff_from(std::time::Duration::from_millis(2));
    EntraSource::new(settings).expect("valid settings")
}

fn ok_source(sandbox: &EntraSandbox) -> EntraSource {
    source(sandbox, &EntraSandboxOptions::default().app.1)
}

#[tokio::test]
async fn a_whole_read_is_complete_with_nested_groups_and_costs_the_minimum_calls() {
    let sandbox = tenant(250).await;
    let roster = ok_source(&sandbox).read().await.expect("a roster");
    assert!(roster.complete, "{:?}", roster.incomplete_reason);
    assert_eq!(roster.people.len(), 250);
    let lead = roster.people.iter().find(|p| p.id == sandbox::people::user_id(22)).expect("person 22");
    let groups: Vec<&str> = lead.groups.iter().map(|g| g.display()).collect();
    assert_eq!(
        groups,
        ["Everyone", "Leads", "Sales", "Staff"],
        "22 is in Sales only through Leads, in Everyone only through Staff"
    );
    // $count, 3 user pages of 100 (manager expanded), 1 group page, 1 page per group.
    assert_eq!(sandbox.graph_calls(), 1 + 3 + 1 + 6);
}

#[tokio::test]
async fn graph_saying_its_budget_is_mostly_used_halves_the_pace_and_a_quiet_graph_keeps_it() {
    let sandbox = tenant(30).await;
    let source = ok_source(&sandbox);
    assert!(source.read().await.expect("a roster").complete);
    assert_eq!(source.graph.pace(), EntraSettings::DEFAULT_PER_SECOND, "no header, full pace");
    sandbox.set_throttle_used(Some(0.9));
    assert!(source.read().await.expect("a roster").complete);
    assert_eq!(source.graph.pace(), EntraSettings::DEFAULT_PER_SECOND / 2.0, "past 80 %: half the pace");
}

#[tokio::test]
async fn a_count_the_read_falls_short_of_makes_it_incomplete() {
    let sandbox = tenant(50).await;
    let body = "400".to_string();
    sandbox.faults().script(FaultRule::on("count", Fault::Status { code: 200, retry_after: None, body }));
    let roster = ok_source(&sandbox).read().await.expect("a roster");
    assert!(!roster.complete);
    assert!(roster.incomplete_reason.unwrap_or_default().contains("held 50 of the 400"));
}

#[tokio::test]
async fn a_group_whose_members_cannot_be_read_makes_the_read_incomplete() {
    let sandbox = tenant(30).await;
    let body = r#"{"error":{"code":"Request_ResourceNotFound","message":"gone"}}"#.to_string();
    sandbox.faults().script(FaultRule::on("members", Fault::Status { code: 404, retry_after: None, body }).nth(2));
    let roster = ok_source(&sandbox).read().await.expect("a roster");
    assert!(!roster.complete);
    let why = roster.incomplete_reason.unwrap_or_default();
    assert!(why.contains("404") && why.contains("Request_ResourceNotFound"), "{why}");
}

#[tokio::test]
async fn a_refused_app_says_what_to_grant_and_never_echoes_the_secret() {
    let sandbox = tenant(3).await;
    let error = source(&sandbox, "wrong-SEEDED-secret").read().await.expect_err("refused");
    let text = error.to_string();
    assert!(matches!(&error, SourceError::Provider(e) if e.is_refused() && e.status == Some(401)), "{text}");
    assert!(text.contains("AADSTS7000215") && text.contains("User.Read.All"), "{text}");
    assert!(!text.contains("wrong-SEEDED-secret"), "{text}");
}

#[tokio::test]
async fn a_next_link_away_from_graph_is_not_followed() {
    let sandbox = tenant(3).await;
    let graph = ok_source(&sandbox).graph;
    assert!(graph.follow("https://evil.example/v1.0/users?$skiptoken=x").is_err());
    assert!(graph.follow(sandbox.graph_url().join("users?$skiptoken=x").expect("url").as_str()).is_ok());
}
