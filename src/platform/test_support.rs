//! What every connector's unit tests share: an emulator with a connector to it, quick
//! connection settings, a desired person, a field change, finding an account, and the check
//! that a secret appears in no error or debug output.

use std::collections::HashSet;
use std::fmt::Debug;
use std::time::Duration;

use crate::model::{normalize_key, Account, DesiredAccount, FieldChange, Fields};
use crate::platform::connection::Connection;
use crate::platform::emulator::{Emulated, EmulatorState, Kind, Seed, Served, UserOf};
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

/// What one kind's leak check scripts to meet every kind of error: a listing spoilt by
/// `bad_page`, an update of `account` refused by `echo` (a message quoting the secret), a
/// deactivation the server keeps failing with a 503 on `unavailable_route`, then `call` made
/// with a stale secret and once the server is gone.
pub struct Leak<'a> {
    account: &'a str,
    bad_page: FaultRule,
    echo: FaultRule,
    update: FieldChange,
    unavailable_route: &'a str,
    call: Call,
}

impl<'a> Leak<'a> {
    /// The usual leak check: the bad page is a garbage page 2.
    pub fn new(account: &'a str, echo: FaultRule, update: FieldChange, unavailable_route: &'a str, call: Call) -> Self {
        let bad_page = FaultRule::on("list", Fault::Garbage).nth(2);
        Leak { account, bad_page, echo, update, unavailable_route, call }
    }

    /// Spoil the listing with `bad_page` instead (Affise's cut-short page holding a user's key).
    pub fn with_bad_page(self, bad_page: FaultRule) -> Self {
        Leak { bad_page, ..self }
    }

    /// One error of every kind from `connector`: the three scripted ones, the kind's own
    /// `refused` ones (met before), `wrong` (holding a stale secret) refused, and `connector`
    /// finding its server gone once `sandbox` is stopped. The faults are cleared in between.
    pub async fn errors<S: EmulatorState>(
        self,
        sandbox: Emulated<S>,
        [connector, wrong]: [&dyn Connector; 2],
        refused: Vec<PlatformError>,
    ) -> Vec<PlatformError> {
        let account = account(connector, self.account).await;
        let faults = sandbox.faults();
        faults.script(self.bad_page);
        let mut errors = vec![connector.list().await.unwrap_err()];
        faults.script(self.echo);
        errors.push(connector.update(&account, &[self.update]).await.unwrap_err());
        faults.script(FaultRule::on(self.unavailable_route, Fault::status(503)).always());
        errors.push(connector.deactivate(&account).await.unwrap_err());
        faults.clear();
        errors.extend(refused);
        errors.push(self.call.error(wrong).await);
        sandbox.shutdown().await;
        errors.push(self.call.error(connector).await);
        errors
    }
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

/// The detail of the listing that `fault` (scripted on `faults`) spoils at its `page`th
/// listing request, which must be `Malformed`.
pub async fn spoilt_listing(connector: &dyn Connector, faults: &Faults, fault: Fault, page: usize) -> String {
    faults.script(FaultRule::on("list", fault).nth(page));
    malformed_detail(connector.list().await)
}

/// The details of a listing met by a garbage page 2, then of one whose `truncated`th page holds
/// fewer users than it claims: both must be `Malformed`.
pub async fn garbage_then_truncated(connector: &dyn Connector, faults: &Faults, truncated: usize) -> [String; 2] {
    let garbage = spoilt_listing(connector, faults, Fault::Garbage, 2).await;
    [garbage, spoilt_listing(connector, faults, Fault::Truncate, truncated).await]
}

/// An update of `account` with nothing to change sends nothing: `writes` (the emulator's
/// write count) stays as it was.
pub async fn assert_no_change_sends_nothing(connector: &dyn Connector, account: &Account, writes: impl Fn() -> usize) {
    let before = writes();
    connector.update(account, &[]).await.unwrap();
    assert_eq!(writes(), before, "nothing to change, nothing sent");
}

/// A listing met by `rule` (a 429 asking for a second's wait) waits that second, retries, and
/// returns `expected` accounts.
pub async fn assert_listing_waits_out(connector: &dyn Connector, faults: &Faults, rule: FaultRule, expected: usize) {
    faults.script(rule);
    let started = std::time::Instant::now();
    assert_eq!(connector.list().await.unwrap().len(), expected);
    assert!(started.elapsed() >= Duration::from_secs(1), "Retry-After was honoured");
}

/// The account whose key is `name`'s, as listed, then deactivated.
pub async fn deactivated(connector: &dyn Connector, name: &str) -> Account {
    let listed = account(connector, name).await;
    connector.deactivate(&listed).await.unwrap();
    listed
}

/// The outcome is a transient HTTP 503 error; any other fails the test.
pub fn assert_unavailable<T: Debug>(result: Result<T, PlatformError>) {
    match result {
        Err(e @ PlatformError::Status { status: 503, .. }) => assert!(e.is_transient()),
        other => panic!("expected Status 503, got {other:?}"),
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
