//! Incremental source reads against a real, independent SCIM server (scim2-server from PyPI):
//! it filters on `meta.lastModified gt`, so changes (a leaver, a new group membership) are
//! read incrementally, memberships from its `/Groups`; a hard delete waits for the next full
//! read; and a server whose ServiceProviderConfig says `filter.supported: false` gets full
//! reads, cleanly.

mod support;

use std::time::Duration;

use rosterd::source::scim::{IncrementalSettings, ScimAuth, ScimSettings, ScimSource};
use rosterd::source::snapshot::SnapshotStore;
use rosterd::source::Source;
use rosterd::store::Store;
use secrecy::SecretString;
use support::scim_server::ScimServer;

const TOKEN: &str = "scim-token-SEEDED-5e0b7c11";

fn source(server: &ScimServer) -> ScimSource {
    let mut settings = ScimSettings::new(server.base.clone(), ScimAuth::Bearer(SecretString::from(TOKEN)));
    settings.page_size = 2;
    settings.incremental = Some(IncrementalSettings { full_read_every: 12, overlap: Duration::from_secs(60) });
    ScimSource::new(settings).unwrap()
}

async fn seed(server: &ScimServer) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 1..=5 {
        let email = format!("user{i}@acme.example");
        ids.push(server.create_user(&email, &format!("G{i}"), &format!("F{i}"), &email, true).await);
    }
    server.create_group("Staff", &ids[..3]).await;
    ids
}

fn person<'a>(roster: &'a rosterd::model::Roster, id: &str) -> Option<&'a rosterd::model::Person> {
    roster.people.iter().find(|p| p.id == id)
}

#[tokio::test]
async fn scim2_server_filters_on_last_modified_and_changes_are_merged() {
    let server = ScimServer::start(TOKEN).await;
    let ids = seed(&server).await;
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = Store::open(dir.path(), 1 << 20).unwrap();
    let source = source(&server);

    let full = source.read_with(&store).await.unwrap();
    assert!(full.complete && full.people.len() == 5, "{:?}", full.incomplete_reason);
    let snapshot = store.load_snapshot(&source.describe()).unwrap().expect("a snapshot");
    assert!(snapshot.meta.groups_from_endpoint, "scim2-server never fills User.groups");

    server.patch_user_active(&ids[1], false).await;
    server.create_group("New", &[ids[3].clone()]).await;
    server.delete_user(&ids[4]).await;
    let roster = source.read_with(&store).await.unwrap();
    assert_eq!(source.incremental_off(), None, "the server took the filter");
    assert!(roster.complete, "{:?}", roster.incomplete_reason);
    assert!(!person(&roster, &ids[1]).unwrap().active, "the leaver");
    assert_eq!(person(&roster, &ids[3]).unwrap().groups, ["New"], "membership re-read from /Groups");
    assert_eq!(person(&roster, &ids[0]).unwrap().groups, ["Staff"]);
    assert!(person(&roster, &ids[4]).is_some(), "a hard delete is not seen by an incremental read");
    let meta = store.load_snapshot(&source.describe()).unwrap().unwrap().meta;
    assert_eq!(meta.reads_since_full, 1);

    // Forced full read: the deleted user is gone.
    store.forget_snapshot(&source.describe()).unwrap();
    let roster = source.read_with(&store).await.unwrap();
    assert!(roster.complete && roster.people.len() == 4);
}

#[tokio::test]
async fn a_server_without_filtering_gets_full_reads() {
    let plain = ScimServer::start(TOKEN).await;
    let mut config = plain.get_json("ServiceProviderConfig").await;
    drop(plain);
    config["filter"]["supported"] = serde_json::json!(false);
    if let Some(map) = config.as_object_mut() {
        map.remove("meta");
    }
    let server = ScimServer::start_with_provider_config(TOKEN, &config).await;
    seed(&server).await;
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = Store::open(dir.path(), 1 << 20).unwrap();
    let source = source(&server);
    for _ in 0..2 {
        let roster = source.read_with(&store).await.unwrap();
        assert!(roster.complete && roster.people.len() == 5, "{:?}", roster.incomplete_reason);
    }
    let off = source.incremental_off().expect("incremental reads are off");
    assert!(off.contains("filter.supported is false"), "{off}");
    assert!(store.load_snapshot(&source.describe()).unwrap().is_none());
}
