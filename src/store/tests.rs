//! The store's unit tests: round trips, the bytes of older stores, locks and rebuilds.

use super::*;
use crate::model::Person;
use crate::records::LinkOrigin;
use compact_str::ToCompactString;

#[test]
fn links_round_trip_per_platform() {
    let dir = tempfile::tempdir().unwrap();
    let (store, outcome) = Store::open(dir.path(), 1 << 20).unwrap();
    assert_eq!(outcome, OpenOutcome::Created);
    let link = Link { account_id: "42".into(), origin: LinkOrigin::Created, removed: false };
    store.set_link("cake", "p1", &link).unwrap();
    store.set_link("cakeshop", "p2", &link).unwrap();
    assert_eq!(store.links("cake").unwrap().len(), 1);
    drop(store);
    let (store, outcome) = Store::open(dir.path(), 1 << 20).unwrap();
    assert_eq!(outcome, OpenOutcome::Opened);
    assert_eq!(store.links("cake").unwrap()["p1"], link);
}

/// Links and cached accounts as rosterd wrote them while their ids, keys and fields
/// were `String`s: the shapes are copied here so that a change of the in-memory string
/// type can never silently change what the store holds. (A snapshot person of that era is
/// kept below as its stored bytes.)
mod string_era {
    use std::collections::BTreeMap;

    #[derive(serde::Serialize)]
    pub struct Link {
        pub account_id: String,
        pub origin: &'static str,
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        pub removed: bool,
    }

    #[derive(serde::Serialize)]
    pub struct Account {
        pub id: String,
        pub key: String,
        pub fields: BTreeMap<String, String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub role: Option<String>,
        pub status: &'static str,
    }
}

#[test]
fn a_store_written_with_string_fields_reads_and_writes_back_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = Store::open(dir.path(), 1 << 20).unwrap();
    let long_id = "an-account-id-well-beyond-twenty-four-bytes".to_string();
    let old_link = string_era::Link { account_id: long_id.clone(), origin: "adopted", removed: true };
    let old_account = string_era::Account {
        id: long_id.clone(),
        key: "grace@example.com".into(),
        fields: [("email", "grace@example.com"), ("first_name", "Grace"), ("note", &"x".repeat(40))]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        role: Some("Account Manager".into()),
        status: "active",
    };
    store.put(&store.links, "cake", "p1", &old_link).unwrap();
    store.put(&store.cache, "cake", &long_id, &old_account).unwrap();

    let link = store.links("cake").unwrap().remove("p1").unwrap();
    assert_eq!(link, Link { account_id: long_id.as_str().into(), origin: LinkOrigin::Adopted, removed: true });
    let account = store.cached_accounts("cake").unwrap().remove(0);
    assert_eq!((account.id.as_str(), account.fields["first_name"].as_str()), (long_id.as_str(), "Grace"));
    assert_eq!(encode(&link), encode(&old_link));
    assert_eq!(encode(&account), encode(&old_account));
}

#[test]
fn a_snapshot_person_written_with_string_fields_reads_and_writes_back_the_same_bytes() {
    // The bytes a snapshot person had in the store while its fields were `String`s, every
    // optional field set: written out, so the fixture is independent of today's types.
    let old = concat!(
        r#"{"id":"2819c223-7f76-453a-919d-413861904646","external_id":"e-1","user_name":"grace@example.com","#,
        r#""given_name":"Grace","family_name":"Hopper","#,
        r#""display_name":"Grace Brewster Murray Hopper, Rear Admiral","#,
        r#""emails":[{"value":"grace@example.com","type":"work","primary":true}],"active":false,"#,
        r#""groups":["staff","a group whose name is longer than inline"],"title":"Admiral","#,
        r#""employee_number":"701","department":"Navy","organization":"US","#,
        r#""manager":"26118915-6090-4610-87e4-49d8ca9f808d","last_modified":"2026-01-01T00:00:00Z"}"#
    );
    let person: Person = decode(old.as_bytes(), "snapshot person").unwrap();
    assert_eq!(
        (person.id.as_str(), person.active, person.groups.len()),
        ("2819c223-7f76-453a-919d-413861904646", false, 2)
    );
    assert_eq!(String::from_utf8(encode(&person)).unwrap(), old);
}

#[test]
fn a_store_in_use_is_refused_never_moved_aside() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = Store::open(dir.path(), 1 << 20).unwrap();
    store
        .set_link("cake", "p1", &Link { account_id: "7".into(), origin: LinkOrigin::Created, removed: false })
        .unwrap();
    let second = Store::open(dir.path(), 1 << 20);
    assert!(matches!(second, Err(StoreError::Locked { .. })), "{second:?}");
    let entries: Vec<String> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(entries, ["store"], "nothing moved aside");
    assert_eq!(store.links("cake").unwrap().len(), 1);
}

#[test]
fn a_store_closed_a_moment_ago_reopens_with_its_links() {
    let dir = tempfile::tempdir().unwrap();
    for round in 0..5 {
        let (store, outcome) = Store::open(dir.path(), 1 << 20).unwrap();
        assert!(round == 0 || outcome == OpenOutcome::Opened, "round {round}: {outcome:?}");
        let link = Link { account_id: round.to_compact_string(), origin: LinkOrigin::Created, removed: false };
        store.set_link("cake", &format!("p{round}"), &link).unwrap();
        store.flush().unwrap();
        assert_eq!(store.links("cake").unwrap().len(), round + 1);
    }
}

#[test]
fn a_broken_store_is_moved_aside_and_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = Store::open(dir.path(), 1 << 20).unwrap();
    store.flush().unwrap();
    drop(store);
    std::fs::write(dir.path().join("store").join("conf"), b"this is not a sled config").unwrap();
    std::fs::write(dir.path().join("store").join("db"), vec![0xFFu8; 4096]).unwrap();
    let (store, outcome) = Store::open(dir.path(), 1 << 20).unwrap();
    assert!(matches!(outcome, OpenOutcome::Rebuilt { .. }), "{outcome:?}");
    assert!(store.links("cake").unwrap().is_empty());
}
