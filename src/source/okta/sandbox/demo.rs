//! `rosterd demo --source okta`: the demo roster served by an emulated Okta org, and the
//! `source:` block that reads it.

use super::{now_stamp, Directory, OktaSandbox, OktaSandboxOptions};
use crate::model::Person;
use crate::source::okta::wire::{GroupProfile, OktaGroup, OktaUser};

/// The demo org's API token (a sandbox's, not a secret anywhere else).
const DEMO_TOKEN: &str = "okta-demo-token";

impl Directory {
    /// The people of a roster as an Okta org: active ones ACTIVE, others SUSPENDED, each
    /// group an OKTA_GROUP of that name.
    pub fn from_people(people: &[Person]) -> Directory {
        let mut directory = Directory::default();
        let stamp = now_stamp();
        for person in people {
            let profile = serde_json::json!({
                "login": person.user_name.as_str(), "email": person.email(),
                "firstName": person.given_name.as_str(), "lastName": person.family_name.as_str(),
                "displayName": person.display_name.as_deref(), "department": person.department.as_deref(),
                "title": person.title.as_deref(), "employeeNumber": person.employee_number.as_deref(),
            });
            let status = if person.active { "ACTIVE" } else { "SUSPENDED" };
            let profile = profile.as_object().cloned().unwrap_or_default();
            let user = OktaUser {
                id: person.id.to_string(),
                status: status.into(),
                last_updated: Some(stamp.clone()),
                profile,
            };
            for group in &person.groups {
                let id = format!("00g-{}", group.display());
                let made = OktaGroup {
                    id: id.clone(),
                    kind: "OKTA_GROUP".into(),
                    profile: GroupProfile { name: group.display().into() },
                    last_membership_updated: Some(stamp.clone()),
                };
                directory.groups.entry(id.clone()).or_insert(made);
                directory.join(&id, &user.id);
            }
            directory.users.insert(user.id.clone(), user);
        }
        directory
    }
}

/// Start an org holding `people`; its `source:` block, and the token file to write beside it.
pub async fn start_demo(people: &[Person]) -> std::io::Result<(OktaSandbox, String, (&'static str, &'static str))> {
    let org = OktaSandbox::start(OktaSandboxOptions::new(DEMO_TOKEN, Directory::from_people(people))).await?;
    let block = format!("source:\n  okta:\n    url: \"{}\"\n    token_file: okta-token\n", org.base_url());
    Ok((org, block, ("okta-token", DEMO_TOKEN)))
}
