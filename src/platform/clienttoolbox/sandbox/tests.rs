//! Unit tests of the ClientToolbox emulator: its checks, paging and faults.

use super::*;

type Client = crate::platform::emulator::TestClient<CtSandbox>;

impl Client {
    async fn start(options: CtSandboxOptions) -> Client {
        Client::new(CtSandbox::start(options).await.unwrap())
    }

    /// POST `fields` after the common ones, with `header_key` as `api_access_key` when given.
    async fn call_with(&self, header_key: Option<&str>, kind: &str, fields: &[(&str, &str)]) -> String {
        let version = if kind == "users_list" { "1.6" } else { "1.1" };
        let mut form = vec![("API", version), ("user_id", "john1970"), ("account_id", "greatwidgets"), ("type", kind)];
        form.extend_from_slice(fields);
        let mut request = self.http.post(self.sandbox.base_url()).form(&form);
        if let Some(key) = header_key {
            request = request.header("api_access_key", key);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200, "failures too come with HTTP 200");
        response.text().await.unwrap()
    }

    async fn call(&self, kind: &str, fields: &[(&str, &str)]) -> String {
        self.call_with(Some(SANDBOX_OWNER_KEY), kind, fields).await
    }
}

fn error_of(body: &str) -> Option<String> {
    let start = body.find("<error>")? + "<error>".len();
    Some(body[start..body.find("</error>")?].to_string())
}

fn new_user(name: &str) -> Vec<(&str, &str)> {
    vec![("user_name", name), ("user_new_password", "Secret123x"), ("user_role", "K"), ("allowed_campaigns", "none")]
}

#[tokio::test]
async fn the_key_is_checked_and_the_header_wins_over_the_form_field() {
    let c = Client::start(CtSandboxOptions::default()).await;
    assert_eq!(error_of(&c.call_with(None, "users_list", &[]).await).unwrap(), "Missing API access key");
    let wrong = c.call_with(Some("nope"), "users_list", &[("user_api_key", SANDBOX_OWNER_KEY)]).await;
    assert_eq!(error_of(&wrong).unwrap(), "Invalid user_id or API access key", "only the header counts");
    let form_only = c.call_with(None, "users_list", &[("user_api_key", SANDBOX_OWNER_KEY)]).await;
    assert!(form_only.contains("status=\"success\""), "{form_only}");
    assert!(c.sandbox.requests()[0].key_in_form);
    assert_eq!(c.sandbox.requests()[0].fields["user_api_key"], "[set]", "the key is not recorded");
}

#[tokio::test]
async fn only_administrators_or_the_owner_may_call_and_versions_are_per_type() {
    let mut options = CtSandboxOptions::default();
    options.users[0].role = "K".into();
    let options = options.with_user(CtUser::new("clerk", "C", "K", "K").with_api_key("clerk-key"));
    let c = Client::start(options).await;
    assert!(c.call("users_list", &[]).await.contains("status=\"success\""), "the owner, whatever its role");
    let form = [("API", "1.6"), ("user_id", "clerk"), ("account_id", "greatwidgets"), ("type", "users_list")];
    let r = c.http.post(c.sandbox.base_url()).header("api_access_key", "clerk-key").form(&form).send().await;
    assert!(error_of(&r.unwrap().text().await.unwrap()).unwrap().starts_with("Permission denied"));
    let old = [("API", "1.5"), ("user_id", "john1970"), ("account_id", "greatwidgets"), ("type", "users_list")];
    let r = c.http.post(c.sandbox.base_url()).header("api_access_key", SANDBOX_OWNER_KEY).form(&old).send().await;
    assert!(error_of(&r.unwrap().text().await.unwrap()).unwrap().contains("use 1.6"));
    let unknown = c.call("users_list", &[("start", "0")]).await;
    assert_eq!(error_of(&unknown).unwrap(), "Unknown field start for users_list");
}

#[tokio::test]
async fn listings_page_sort_search_and_carry_the_secrets() {
    let mut options = CtSandboxOptions::default();
    for name in ["dora", "Bea", "carl", "al"] {
        options = options.with_user(CtUser::new(name, "F", name, "K"));
    }
    let c = Client::start(options.with_user(CtUser::new("gone", "G", "G", "K").deleted())).await;
    let page = c.call("users_list", &[("offset", "1"), ("length", "2"), ("sortField", "user_name")]).await;
    assert!(page.contains("<total>5</total>") && page.contains("<offset>1</offset>"), "{page}");
    let names: Vec<&str> = page.split("<user_id>").skip(1).filter_map(|s| s.split('<').next()).collect();
    assert_eq!(names, ["Bea", "carl"]);
    assert!(page.contains("<user_PIN>1234</user_PIN>"));
    let owner =
        c.call("users_list", &[("searchField", "user_name"), ("searchOper", "eq"), ("searchValue", "JOHN1970")]);
    let owner = owner.await;
    assert!(
        owner.contains("<total>1</total>") && owner.contains(SANDBOX_OWNER_KEY),
        "secrets as the service lists them"
    );
    let bw = c.call("users_list", &[("searchField", "user_name"), ("searchOper", "bw"), ("searchValue", "c")]).await;
    assert!(bw.contains("<total>1</total>"));
}

#[tokio::test]
async fn the_malformed_switch_serves_the_vendors_own_broken_sample() {
    let c = Client::start(CtSandboxOptions::default()).await;
    c.sandbox.set_malformed_language(true);
    assert!(c.call("users_list", &[]).await.contains("<user_language>EN<user_language>"));
}

#[tokio::test]
async fn create_checks_names_roles_campaigns_and_keeps_deleted_names_taken() {
    let c = Client::start(CtSandboxOptions::default().with_user(CtUser::new("old", "O", "O", "K").deleted())).await;
    assert!(c.call("user_new", &new_user("Alex_1")).await.contains("status=\"success\""));
    assert!(c.sandbox.user("alex_1").unwrap().password.is_some());
    for (name, message) in [("ALEX_1", "already in use"), ("old", "already in use"), ("a.b", "Invalid user_name")] {
        let body = c.call("user_new", &new_user(name)).await;
        assert!(error_of(&body).unwrap().contains(message), "{name}: {body}");
    }
    let mut bad = new_user("zed");
    bad[3] = ("allowed_campaigns", "1234567890123456,999");
    assert_eq!(error_of(&c.call("user_new", &bad).await).unwrap(), "Unknown campaign id 999");
    let mut lower = new_user("zed");
    lower[2] = ("user_role", "k");
    assert!(error_of(&c.call("user_new", &lower).await).unwrap().starts_with("Invalid user_role"));
    let missing = c.call("user_new", &new_user("zed")[..3]).await;
    assert_eq!(error_of(&missing).unwrap(), "allowed_campaigns is required");
}

#[tokio::test]
async fn soft_delete_hides_the_user_and_permanent_delete_frees_the_name_and_is_recorded() {
    let options = CtSandboxOptions::default()
        .with_user(CtUser::new("soft", "S", "S", "K"))
        .with_user(CtUser::new("hard", "H", "H", "K"));
    let c = Client::start(options).await;
    assert!(c.call("user_delete", &[("user_name", "soft")]).await.contains("status=\"success\""));
    assert!(c.sandbox.user("soft").unwrap().deleted);
    assert!(!c.call("users_list", &[]).await.contains("<user_id>soft</user_id>"));
    let again = c.call("user_update", &[("user_name", "soft"), ("user_last_name", "X")]).await;
    assert_eq!(error_of(&again).unwrap(), "User soft not found");
    c.call("user_delete", &[("user_name", "hard"), ("action", "permanent")]).await;
    assert_eq!(c.sandbox.permanent_deletes(), ["hard"]);
    assert!(c.call("user_new", &new_user("hard")).await.contains("status=\"success\""), "the name is free again");
    let owner = c.call("user_delete", &[("user_name", "john1970")]).await;
    assert!(error_of(&owner).is_some());
}

#[tokio::test]
async fn update_changes_only_the_given_fields() {
    let c = Client::start(CtSandboxOptions::default().with_user(CtUser::new("ann", "Ann", "Lee", "K"))).await;
    let body = c.call("user_update", &[("user_name", "ANN"), ("timezone_selector", "12"), ("user_role", "A")]).await;
    assert!(body.contains("status=\"success\""), "{body}");
    let ann = c.sandbox.user("ann").unwrap();
    assert_eq!((ann.timezone.as_str(), ann.role.as_str(), ann.last_name.as_str()), ("12", "A", "Lee"));
    assert_eq!(error_of(&c.call("user_update", &[("user_name", "ann")]).await).unwrap(), "Nothing to update");
}

#[tokio::test]
async fn every_route_goes_through_the_fault_script() {
    use crate::sandbox::faults::{Fault, FaultRule};
    let c = Client::start(CtSandboxOptions::default()).await;
    c.sandbox.faults().script(FaultRule::on("create", Fault::Garbage));
    assert!(c.call("user_new", &new_user("x1")).await.contains("<html>"));
    assert!(c.sandbox.user("x1").is_none());
    c.call("user_delete", &[("user_name", "nobody")]).await;
    c.call("users_list", &[]).await;
    assert_eq!((c.sandbox.write_calls(), c.sandbox.list_calls()), (2, 1));
}
