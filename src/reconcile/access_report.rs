//! The access report: every account of every enabled platform with the person it belongs
//! to and what is wrong with it. Reads only.

use super::{status, Engine, EngineError, PlatformRuntime, ReadError};
use crate::model::Roster;

impl Engine {
    /// The access report: every account of every enabled platform (or just `only`), with
    /// the person it belongs to and what is wrong with it. Changes nothing.
    pub async fn report(&self, only: Option<&str>) -> Result<crate::report::Report, EngineError> {
        if let Some(name) = only {
            self.runtime(name).ok_or_else(|| EngineError::UnknownPlatform(name.to_string()))?;
        }
        let roster = self.read_source().await?;
        let mut report = crate::report::Report {
            roster_complete: roster.complete,
            people: roster.people.len(),
            ..Default::default()
        };
        for p in self.platforms.iter().filter(|p| p.config.enabled && only.is_none_or(|o| o == p.config.name)) {
            match self.report_platform(p, &roster).await {
                Ok(rows) => report.rows.extend(rows),
                Err(e) => {
                    report.errors.insert(p.config.name.clone(), e.to_string());
                }
            }
            match p.connector.designations().await {
                Ok(d) => report.designations.extend(crate::report::designation_rows(&p.config.name, d, &roster.people)),
                Err(e) => {
                    report.errors.insert(format!("{} designations", p.config.name), e.to_string());
                }
            }
        }
        Ok(report)
    }

    async fn report_platform(
        &self,
        p: &PlatformRuntime,
        roster: &Roster,
    ) -> Result<Vec<crate::report::Row>, ReadError> {
        let actual = self.read_platform(p).await?;
        let links = self.store.links(&p.config.name)?;
        let actual = status::planning_view(p, actual, &links, &roster.people).await.map_err(|(e, _)| e)?;
        let keys: Vec<(String, &crate::model::Person)> = roster
            .people
            .iter()
            .map(|person| (p.config.mapping.key.render(crate::model::PersonNode::of(person)), person))
            .collect();
        let input = crate::report::PlatformInput {
            platform: &p.config.name,
            accounts: &actual,
            links: &links,
            keys: &keys,
            inactive_is_lock_out: p.connector.traits().status_from_links,
        };
        Ok(crate::report::platform_rows(&input, &roster.people))
    }
}
