//! A strict emulator of the Microsoft Graph slice the Entra ID source reads (and of the
//! token endpoint that signs it in), on 127.0.0.1: client-credential tokens that expire,
//! `$select`/`$top`/`$expand` checked as Graph checks them, opaque `$skiptoken` cursors,
//! delta rounds and delta links (which can be made to expire: 410 Gone), and the kit's
//! faults on every route. Used by the tests, the benches and `rosterd demo --source entra`.

mod directory;
mod handlers;
pub mod people;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::routing::{get, post};
use axum::Router;

pub use directory::{Directory, EntraGroup, EntraUser};
use handlers::*;

use crate::platform::emulator::{Emulated, EmulatedAccount, EmulatorState};
use crate::sandbox::faults::Faults;

/// How the emulated tenant starts.
#[derive(Debug, Clone)]
pub struct EntraSandboxOptions {
    /// The tenant, and the one app registration allowed in: (client id, client secret).
    pub tenant: String,
    pub app: (String, String),
    /// `expires_in` of each token issued, and how many Graph requests each may make
    /// before it is refused (401): a token that expires mid-read.
    pub token_lifetime_secs: u64,
    pub token_uses: Option<usize>,
    /// Users per delta page (Graph chooses it; no `$top` on delta).
    pub delta_page: usize,
    /// The users and the groups.
    pub directory: (Vec<EntraUser>, Vec<EntraGroup>),
}

impl Default for EntraSandboxOptions {
    fn default() -> Self {
        let app = ("6731de76-14a6-49ae-97bc-6eba6914391e".to_string(), "entra-secret-SANDBOX".to_string());
        let directory = (Vec::new(), Vec::new());
        EntraSandboxOptions {
            tenant: "contoso.example".into(),
            app,
            token_lifetime_secs: 3599,
            token_uses: None,
            delta_page: 200,
            directory,
        }
    }
}

impl EntraSandboxOptions {
    /// A tenant of `n` generated people in the generator's groups (see [`people`]).
    pub fn with_people(mut self, n: usize) -> Self {
        self.directory = people::tenant(n);
        self
    }

    pub fn with_secret(mut self, secret: &str) -> Self {
        self.app.1 = secret.into();
        self
    }
}

/// The emulator's state, shared by its handlers.
#[derive(Debug)]
pub struct Shared {
    options: EntraSandboxOptions,
    inner: Mutex<Inner>,
    faults: Faults,
}

#[derive(Debug, Default)]
struct Inner {
    directory: Directory,
    /// Issued access token → Graph requests it may still make (`None`: unlimited) and
    /// when it expires.
    tokens: HashMap<String, (Option<usize>, tokio::time::Instant)>,
    issued: Vec<String>,
    /// `$skiptoken` → where its page starts.
    cursors: HashMap<String, (&'static str, Cursor)>,
    /// `$deltatoken` → (the version it stands for, the `$select` of its round, the
    /// generation it was made in).
    delta_links: HashMap<String, (u64, Vec<String>, u64)>,
    /// Delta links of earlier generations are gone (410).
    delta_generation: u64,
    /// Users per delta page.
    delta_page: usize,
    /// `x-ms-throttle-limit-percentage` on every Graph answer while set (Graph sends it past 80 %).
    throttle_used: Option<f64>,
    serial: u64,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn router(shared: Arc<Shared>) -> Router {
    let token = format!("/{}/oauth2/v2.0/token", shared.options.tenant);
    let users = Router::new()
        .route("/", get(users_route))
        .route("/$count", get(count_route))
        .route("/delta", get(delta_route))
        .route("/{id}/{relation}", get(related_route::<false>));
    let groups = Router::new().route("/", get(groups_route)).route("/{id}/{relation}", get(related_route::<true>));
    let graph = Router::new()
        .nest("/users", users)
        .nest("/groups", groups)
        .layer(axum::middleware::map_response_with_state(shared.clone(), throttle_header));
    Router::new().route(&token, post(token_route)).nest("/v1.0", graph).fallback(unknown_route).with_state(shared)
}

/// Graph's word that the app has used most of its throttling budget, while the test says so.
async fn throttle_header(
    axum::extract::State(shared): axum::extract::State<Arc<Shared>>,
    mut response: axum::response::Response,
) -> axum::response::Response {
    if let Some(used) = shared.lock().throttle_used {
        if let Ok(value) = axum::http::HeaderValue::from_str(&format!("{used:.1}")) {
            response.headers_mut().insert("x-ms-throttle-limit-percentage", value);
        }
    }
    response
}

/// A running Entra ID emulator; stops when shut down or dropped.
pub type EntraSandbox = Emulated<Shared>;

impl EntraSandbox {
    pub async fn start(options: EntraSandboxOptions) -> std::io::Result<Self> {
        let directory = Directory::new(options.directory.0.clone(), options.directory.1.clone());
        let inner = Inner { directory, delta_page: options.delta_page, ..Inner::default() };
        let shared = Shared { options, inner: Mutex::new(inner), faults: Faults::new() };
        Emulated::launch(shared, router, "entra", "/").await
    }

    /// `http://127.0.0.1:PORT/v1.0`: the `graph_url` of the source.
    pub fn graph_url(&self) -> url::Url {
        let mut url = self.base_url();
        url.set_path("/v1.0");
        url
    }

    /// The `source:` block reading this tenant, its secret in `secret_file`; `extra` is
    /// more keys of `source.entra` (`, page_size: 100`).
    pub fn source_yaml(&self, secret_file: &str, extra: &str) -> String {
        let o = &self.state().options;
        format!(
            "  entra: {{ tenant: {}, client_id: {}, client_secret_file: {secret_file}, graph_url: \"{}\", login_url: \"{}\"{extra} }}",
            o.tenant,
            o.app.0,
            self.graph_url(),
            self.base_url()
        )
    }

    /// From now on every Graph answer says `used` of the budget is spent (`None`: it stops).
    pub fn set_throttle_used(&self, used: Option<f64>) {
        self.state().lock().throttle_used = used;
    }

    /// Change a user (or add one); its changed properties show in the next delta round.
    pub fn put_user(&self, user: EntraUser) {
        self.state().lock().directory.put(user);
    }

    /// Edit the user `id` in place.
    pub fn edit_user(&self, id: &str, edit: impl FnOnce(&mut EntraUser)) {
        let mut inner = self.state().lock();
        if let Some(mut user) = inner.directory.user(id).cloned() {
            edit(&mut user);
            inner.directory.put(user);
        }
    }

    /// Delete a user (`@removed` with reason `deleted` in delta rounds).
    pub fn delete_user(&self, id: &str) -> bool {
        self.state().lock().directory.remove(id, "deleted")
    }

    pub fn users(&self) -> Vec<EntraUser> {
        self.state().lock().directory.users().cloned().collect()
    }

    pub fn groups(&self) -> Vec<EntraGroup> {
        self.state().lock().directory.groups.clone()
    }

    /// Every delta link issued so far answers 410 Gone from now on.
    pub fn expire_delta_links(&self) {
        self.state().lock().delta_generation += 1;
    }

    /// Every access token issued so far (for secret greps).
    pub fn issued_tokens(&self) -> Vec<String> {
        self.state().lock().issued.clone()
    }

    /// The members a group's listing holds (nested groups among them), for minimum calls.
    pub fn member_count(&self, group_id: &str, transitive: bool) -> usize {
        self.state().lock().directory.members(group_id, transitive).map_or(0, |m| m.len())
    }

    /// Graph requests received (token requests apart), faulted or not.
    pub fn graph_calls(&self) -> usize {
        GRAPH_ROUTES.iter().map(|r| self.faults().count(r)).sum()
    }
}

impl EmulatorState for Shared {
    const WRITE_ROUTES: &'static [&'static str] = &[];

    fn accounts(&self) -> Vec<EmulatedAccount> {
        let inner = self.lock();
        let account = |u: &EntraUser| EmulatedAccount {
            key: u.upn().to_string(),
            given_name: u.properties.get("givenName").and_then(|v| v.as_str()).unwrap_or_default().to_string(),
            can_sign_in: u.enabled(),
        };
        inner.directory.users().map(account).collect()
    }

    fn faults(&self) -> &Faults {
        &self.faults
    }

    /// The app's client secret: what a config names as its credential.
    fn key(&self) -> &str {
        let (_, secret) = &self.options.app;
        secret
    }

    fn largest_page(&self) -> usize {
        MAX_TOP
    }

    fn listed(&self) -> usize {
        let inner = self.lock();
        inner.directory.len()
    }
}

#[cfg(test)]
mod tests;

/// `rosterd demo --source entra`: the demo roster's people served as an Entra tenant (each
/// roster group an Entra group holding its people), the app's client secret written to
/// `entra-secret` in `dir`; the `source:` entry reading it, and the running emulator.
pub async fn for_demo(
    dir: &std::path::Path,
    people: &[crate::model::Person],
) -> std::io::Result<(String, EntraSandbox)> {
    let mut groups: Vec<EntraGroup> = Vec::new();
    for person in people {
        for group in &person.groups {
            let member = person.id.to_string();
            match groups.iter_mut().find(|g| g.display_name == group.display()) {
                Some(g) => g.members.push(member),
                None => groups.push(EntraGroup {
                    id: format!("{:08x}-de30-4a11-8000-000000000000", groups.len() + 1),
                    display_name: group.display().into(),
                    members: vec![member],
                }),
            }
        }
    }
    let users = people
        .iter()
        .map(|p| {
            EntraUser::new(&p.id, p.email().unwrap_or(&p.user_name))
                .with("mail", p.email())
                .with("givenName", p.given_name.as_str())
                .with("surname", p.family_name.as_str())
                .with("accountEnabled", p.active)
                .with("userType", "Member")
                .with("employeeId", p.employee_number.as_deref())
                .with("department", p.department.as_deref())
                .with("jobTitle", p.title.as_deref())
        })
        .collect();
    let options = EntraSandboxOptions { directory: (users, groups), ..EntraSandboxOptions::default() };
    let emu = EntraSandbox::start(options).await?;
    crate::private::write(&dir.join("entra-secret"), emu.state().options.app.1.as_bytes())?;
    Ok((format!("{}\n", emu.source_yaml("entra-secret", "")), emu))
}
