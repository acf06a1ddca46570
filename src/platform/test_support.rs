//! What every connector's unit tests share: an emulator with a connector to it, quick
//! connection settings, a desired person, a field change, finding an account, and the check
//! that a secret appears in no error or debug output.

use std::collections::HashSet;
use std::fmt::Debug;
use std::time::Duration;

use crate::model::{normalize_key, Account, DesiredAccount, FieldChange, Fields};
use crate::platform::connection::Connection;
use crate::platform::emulator::{Emulated, Kind, Seed, Served, UserOf};
use crate::platform::http::RetryPolicy;
use crate::platform::{Connector, PlatformError};
use crate::sandbox::faults::{Fault, FaultRule, Faults};

/// Kind `K`'s emulator started from `seed`, and the connector `connect` builds for it, its
/// retries made quick with `retry`: how every kind's unit tests begin.
pub async fn started<K: Kind, C>(
    seed: Seed<UserOf<K>, K>,
    connect: impl FnOnce(&Emulated<Served<K>>) -> Result<C, PlatformError>,
    retry: fn(C, RetryPolicy) -> C,
) -> (Emulated<Served<K>>, C) {
    let sandbox = Emulated::<Served<K>>::start(seed).await.unwrap();
    let connector = retry(connect(&sandbox).unwrap(), RetryPolicy::quick());
    (sandbox, connector)
}

/// Fail fast and never pace: the emulators answer at once, so tests need no politeness.
pub fn quick(connection: &mut Connection) {
    connection.timeout = Duration::from_secs(5);
    connection.per_second = 0.0;
}

/// A person keyed and labelled by `email`, with `fields` as given and `role` if any.
pub fn desired_person(email: &str, role: Option<&str>, fields: &[(&str, &str)]) -> DesiredAccount {
    DesiredAccount {
        person_id: email.into(),
        label: email.into(),
        key: normalize_key(email),
        fields: fields.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Fields>(),
        role: role.map(Into::into),
    }
}

/// Alex Chen at `email` in `role`: the person most kinds' tests create.
pub fn alex_chen(email: &str, role: &str, email_fields: &[&str]) -> DesiredAccount {
    let mut fields = vec![("first_name", "Alex"), ("last_name", "Chen")];
    fields.extend(email_fields.iter().map(|name| (*name, email)));
    desired_person(email, Some(role), &fields)
}

/// A change setting `field` to `after` from nothing.
pub fn change(field: &str, after: &str) -> FieldChange {
    FieldChange { field: field.into(), before: None, after: Some(after.into()) }
}

/// The account whose key is `name`'s, as listed now.
pub async fn account(connector: &dyn Connector, name: &str) -> Account {
    connector.list().await.unwrap().into_iter().find(|a| a.key == normalize_key(name)).unwrap()
}

/// The first three errors of every kind's leak check: a listing spoilt by `bad_page`, an update
/// of `account` refused by `echo` (a message quoting the secret), then a deactivation the server
/// keeps failing with a 503 on `unavailable_route`. The faults are cleared after.
pub async fn bad_page_echo_and_unavailable(
    connector: &dyn Connector,
    faults: &Faults,
    account: &Account,
    bad_page: FaultRule,
    echo: FaultRule,
    update: FieldChange,
    unavailable_route: &str,
) -> [PlatformError; 3] {
    faults.script(bad_page);
    let bad_page = connector.list().await.unwrap_err();
    faults.script(echo);
    let echoed = connector.update(account, &[update]).await.unwrap_err();
    faults.script(FaultRule::on(unavailable_route, Fault::status(503)).always());
    let unavailable = connector.deactivate(account).await.unwrap_err();
    faults.clear();
    [bad_page, echoed, unavailable]
}

/// Six kinds of error were met, the second one redacted an echoed secret, and `secret` is in none
/// of them nor in the connector or its settings printed either way.
pub fn assert_secret_hidden(secret: &str, errors: &[PlatformError], connector: &dyn Debug, settings: &dyn Debug) {
    let labels: HashSet<&str> = errors.iter().map(PlatformError::label).collect();
    assert_eq!(labels.len(), 6, "every kind of error is covered: {labels:?}");
    for text in errors.iter().flat_map(|e| [e.to_string(), format!("{e:?}")]) {
        assert!(!text.contains(secret), "secret leaked: {text}");
    }
    assert!(errors[1].to_string().contains("[redacted]"));
    for text in [format!("{connector:?}"), format!("{connector:#?}"), format!("{settings:?}")] {
        assert!(!text.contains(secret), "secret leaked: {text}");
    }
}

/// The detail of a `Malformed` error; any other outcome fails the test.
pub fn malformed_detail<T: Debug>(result: Result<T, PlatformError>) -> String {
    match result {
        Err(PlatformError::Malformed { detail, .. }) => detail,
        other => panic!("expected Malformed, got {other:?}"),
    }
}

/// The message of a `Rejected` error; any other outcome fails the test.
pub fn rejected_message<T: Debug>(result: Result<T, PlatformError>) -> String {
    match result {
        Err(PlatformError::Rejected { message, .. }) => message,
        other => panic!("expected Rejected, got {other:?}"),
    }
}

/// The request a kind's leak check makes to reach its server: its listing, or `prepare` where
/// that is the first call the kind makes.
pub enum Call {
    List,
    Prepare,
}

impl Call {
    async fn error(&self, connector: &dyn Connector) -> PlatformError {
        match self {
            Call::List => connector.list().await.map(drop).unwrap_err(),
            Call::Prepare => connector.prepare().await.unwrap_err(),
        }
    }
}

/// The last two errors of every kind's leak check: `wrong`, holding a stale secret, refused;
/// then `connector` finding its server gone once `stop` has run.
pub async fn stale_secret_then_gone(
    wrong: &dyn Connector,
    connector: &dyn Connector,
    stop: impl std::future::Future<Output = ()>,
    call: Call,
) -> [PlatformError; 2] {
    let refused = call.error(wrong).await;
    stop.await;
    [refused, call.error(connector).await]
}

/// Creates `people` in turn, the middle one clashing with someone the platform holds: only it is
/// refused, as a rejection of the create naming the clashing label, and the others go through.
pub async fn assert_only_the_middle_refused(connector: &dyn Connector, people: [DesiredAccount; 3]) {
    let mut outcomes = Vec::new();
    for person in &people {
        outcomes.push(connector.create(person).await);
    }
    assert!(outcomes[0].is_ok() && outcomes[2].is_ok());
    match &outcomes[1] {
        Err(PlatformError::Rejected { message, operation, .. }) => {
            assert_eq!(operation, "create");
            assert!(message.contains(people[1].label.as_str()), "{message}");
        }
        other => panic!("expected Rejected, got {other:?}"),
    }
}
