//! One pager for every paginated listing: fetch a page, check it, decide the next request,
//! and end with the whole listing or an error, never with a short roster.
//!
//! Platforms page in different styles (a row offset, a page number, a cursor); the loop and
//! the checks that the pages add up are the same. A connector hands [`read_all`] the first
//! request, a closure that fetches one page, and a closure that checks one page, pushes its
//! rows into the [`Pager`] and says what to ask for next. A listing whose pages do not add
//! up (the announced total moves, an id comes twice, the rows held are not the total, the
//! next request is the one just made) is a [`PageError`]: the diff would read a short
//! listing as "these people are gone" and deactivate them.

use std::collections::HashSet;
use std::fmt::Display;
use std::future::Future;

use compact_str::CompactString;

use super::http::PlatformHttp;
use super::PlatformError;
use crate::model::Account;

/// Why a listing's pages do not add up. The connector turns it into its own "malformed
/// answer" error, so the message names the page and what to look at.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PageError {
    /// The announced total moved between pages: the listing changed under us, read it again.
    #[error("{label}: {field} changed from {before} to {now} while paging")]
    TotalChanged { label: String, field: &'static str, before: u64, now: u64 },
    /// The same id came twice: pages overlap, so some other row may have been skipped.
    #[error("{label}: {id_field} {id} listed twice")]
    Duplicate { label: String, id_field: &'static str, id: CompactString },
    /// The listing ended holding fewer or more rows than announced.
    #[error("the listing holds {held} users but {field} is {total}")]
    Short { held: u64, field: &'static str, total: u64 },
    /// The next request is the one just answered: the listing would never end.
    #[error("{label}: the next page asked for is this page again ({cursor}); the listing would never end")]
    Stalled { label: String, cursor: String },
    /// A check only this platform makes (a row that does not parse, a count that disagrees).
    #[error("{label}: {detail}")]
    Page { label: String, detail: String },
}

impl PageError {
    /// A platform's own check on one page.
    pub fn page(label: impl Into<String>, detail: impl Into<String>) -> Self {
        PageError::Page { label: label.into(), detail: detail.into() }
    }
}

/// A users page asked for by row offset, as messages name it (FileSpin, Client Toolbox).
pub fn offset_label(offset: u64) -> String {
    format!("users page at offset {offset}")
}

/// A users page asked for by page number, as messages name it (Affise, AgencyAnalytics).
pub fn number_label(page: u64) -> String {
    format!("users page {page}")
}

/// The rows of a listing read so far, with what the platform announced about it.
#[derive(Debug)]
pub struct Pager<T> {
    total_field: &'static str,
    id_field: &'static str,
    total: Option<u64>,
    ids: HashSet<CompactString>,
    items: Vec<T>,
    pages: u64,
}

impl<T> Pager<T> {
    /// A pager whose platform calls its total `total_field` and its ids `id_field` (both
    /// only appear in messages).
    pub fn new(total_field: &'static str, id_field: &'static str) -> Self {
        Pager { total_field, id_field, total: None, ids: HashSet::new(), items: Vec::new(), pages: 0 }
    }

    /// Record the total a page announced; it must be the one every earlier page announced.
    pub fn announce(&mut self, label: &str, total: u64) -> Result<(), PageError> {
        if let Some(before) = self.total.filter(|t| *t != total) {
            return Err(PageError::TotalChanged { label: label.into(), field: self.total_field, before, now: total });
        }
        self.total = Some(total);
        Ok(())
    }

    /// The total announced so far, if any page announced one.
    pub fn total(&self) -> Option<u64> {
        self.total
    }

    /// Take one row; its id must not have come before in this listing.
    pub fn push(&mut self, label: &str, id: &str, item: T) -> Result<(), PageError> {
        if !self.ids.insert(id.into()) {
            return Err(PageError::Duplicate { label: label.into(), id_field: self.id_field, id: id.into() });
        }
        self.items.push(item);
        Ok(())
    }

    /// How many rows are held.
    pub fn held(&self) -> u64 {
        self.items.len() as u64
    }

    /// How many pages were read.
    pub fn pages(&self) -> u64 {
        self.pages
    }

    /// The rows, if their number is the total announced (a listing that announced none
    /// is taken as it came).
    pub fn finish(self) -> Result<Vec<T>, PageError> {
        match self.total {
            Some(total) if total != self.held() => {
                Err(PageError::Short { held: self.held(), field: self.total_field, total })
            }
            _ => Ok(self.items),
        }
    }
}

impl Pager<Account> {
    /// A platform's whole listing: every page read (see [`read_all`]) and the rows checked
    /// against the announced total. A page or a listing that does not add up is the
    /// platform's malformed answer to `list`. Also says how many pages were read.
    pub async fn read_accounts<C, P, F, Fut, S>(
        mut self,
        http: &PlatformHttp,
        first: C,
        fetch: F,
        step: S,
    ) -> Result<(Vec<Account>, u64), PlatformError>
    where
        C: Clone + PartialEq + Display,
        F: FnMut(C) -> Fut,
        Fut: Future<Output = Result<P, PlatformError>>,
        S: FnMut(&mut Pager<Account>, &C, P) -> Result<Option<C>, PageError>,
    {
        let malformed = |e: PageError| http.malformed("list", e.to_string());
        read_all(&mut self, first, fetch, step, malformed).await?;
        let pages = self.pages();
        Ok((self.finish().map_err(malformed)?, pages))
    }

    /// Parse one page's rows and take them, numbered from `first_row` in messages: a row
    /// that does not parse, or whose id came before, fails the listing and names its row.
    pub fn take_accounts<R>(
        &mut self,
        label: &str,
        first_row: u64,
        rows: impl IntoIterator<Item = R>,
        parse: impl Fn(R) -> Result<Account, String>,
    ) -> Result<(), PageError> {
        for (row, value) in (first_row..).zip(rows) {
            let account = parse(value).map_err(|e| PageError::page(format!("{label}, row {row}"), e))?;
            let id = account.id.clone();
            self.push(label, &id, account)?;
        }
        Ok(())
    }
}

/// Read every page: ask for `first`, hand each answer to `step`, which checks it, pushes its
/// rows and names the next request (`None` when the listing is complete). A fetch error
/// ends the listing as it is; a page that does not add up ends it through `bad_page`.
/// The caller finishes the pager to check the rows against the announced total.
pub async fn read_all<C, P, T, E, F, Fut, S, B>(
    pager: &mut Pager<T>,
    first: C,
    mut fetch: F,
    mut step: S,
    bad_page: B,
) -> Result<(), E>
where
    C: Clone + PartialEq + Display,
    F: FnMut(C) -> Fut,
    Fut: Future<Output = Result<P, E>>,
    S: FnMut(&mut Pager<T>, &C, P) -> Result<Option<C>, PageError>,
    B: Fn(PageError) -> E,
{
    let mut next = Some(first);
    while let Some(cursor) = next {
        let page = fetch(cursor.clone()).await?;
        pager.pages += 1;
        next = step(pager, &cursor, page).map_err(&bad_page)?;
        if next.as_ref() == Some(&cursor) {
            return Err(bad_page(PageError::Stalled { label: format!("page {cursor}"), cursor: cursor.to_string() }));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A listing of `rows` ids served `size` at a time by offset, each page announcing the total.
    struct Fake {
        rows: Vec<&'static str>,
        size: usize,
    }

    impl Fake {
        async fn page(&self, offset: usize) -> Result<(u64, Vec<&'static str>), String> {
            Ok((self.rows.len() as u64, self.rows.iter().skip(offset).take(self.size).copied().collect()))
        }
    }

    fn offset_step(
        pager: &mut Pager<&'static str>,
        offset: &usize,
        (total, rows): (u64, Vec<&'static str>),
    ) -> Result<Option<usize>, PageError> {
        let label = format!("page at {offset}");
        pager.announce(&label, total)?;
        if rows.is_empty() {
            return Ok(None);
        }
        let count = rows.len();
        for row in rows {
            pager.push(&label, row, row)?;
        }
        Ok(((offset + count) < total as usize).then_some(offset + count))
    }

    async fn list(fake: &Fake) -> Result<Vec<&'static str>, String> {
        let mut pager = Pager::new("total", "id");
        read_all(&mut pager, 0usize, |o| fake.page(o), offset_step, |e| e.to_string()).await?;
        pager.finish().map_err(|e| e.to_string())
    }

    #[tokio::test]
    async fn reads_every_page_in_order() {
        let fake = Fake { rows: vec!["a", "b", "c", "d", "e"], size: 2 };
        assert_eq!(list(&fake).await.unwrap(), vec!["a", "b", "c", "d", "e"]);
        let mut pager: Pager<&str> = Pager::new("total", "id");
        read_all(&mut pager, 0usize, |o| fake.page(o), offset_step, |e| e.to_string()).await.unwrap();
        assert_eq!(pager.pages(), 3, "5 rows in pages of 2");
    }

    #[tokio::test]
    async fn an_empty_listing_is_empty() {
        let fake = Fake { rows: vec![], size: 2 };
        assert_eq!(list(&fake).await.unwrap(), Vec::<&str>::new());
    }

    #[tokio::test]
    async fn a_page_cut_short_is_an_error_not_a_short_roster() {
        // The server announces 5 but the third page comes back empty.
        let fake = Fake { rows: vec!["a", "b", "c", "d", "e"], size: 2 };
        let mut pager = Pager::new("total", "id");
        let cut = |o: usize| {
            let page = fake.page(o);
            async move { page.await.map(|(t, rows)| (t, if o >= 4 { vec![] } else { rows })) }
        };
        read_all(&mut pager, 0usize, cut, offset_step, |e| e.to_string()).await.unwrap();
        assert_eq!(pager.finish().unwrap_err(), PageError::Short { held: 4, field: "total", total: 5 });
    }

    #[test]
    fn a_moving_total_and_a_repeated_id_are_errors() {
        let mut pager = Pager::new("total_rows", "user_id");
        pager.announce("p1", 3).unwrap();
        let moved = pager.announce("p2", 4).unwrap_err();
        assert_eq!(moved.to_string(), "p2: total_rows changed from 3 to 4 while paging");
        pager.push("p1", "7", 7).unwrap();
        let twice = pager.push("p2", "7", 7).unwrap_err();
        assert_eq!(twice.to_string(), "p2: user_id 7 listed twice");
        assert_eq!(pager.held(), 1);
    }

    #[tokio::test]
    async fn a_cursor_that_does_not_move_is_an_error_not_a_loop() {
        let mut pager: Pager<u8> = Pager::new("total", "id");
        let fetches = std::cell::Cell::new(0);
        let fetch = |_c: u32| {
            fetches.set(fetches.get() + 1);
            async { Ok::<_, PageError>(()) }
        };
        let err = read_all(&mut pager, 1u32, fetch, |_, c, ()| Ok(Some(*c)), |e| e).await.unwrap_err();
        assert!(matches!(err, PageError::Stalled { .. }), "{err}");
        assert_eq!(fetches.get(), 1, "the same page is not asked for twice");
    }

    #[tokio::test]
    async fn a_fetch_error_ends_the_listing() {
        let mut pager: Pager<u8> = Pager::new("total", "id");
        let fetch = |_c: u32| async { Err::<(), _>("down".to_string()) };
        let err = read_all(&mut pager, 1u32, fetch, |_, _, ()| Ok(Some(2)), |e| e.to_string()).await.unwrap_err();
        assert_eq!(err, "down");
        assert_eq!(pager.pages(), 0);
    }
}
