//! Strict reading of Client Toolbox's XML answers: a small element tree built with quick-xml,
//! then the `<response status="...">` envelope and the `users_list` page read from it.
//!
//! Strict means: one root, every tag closed by its own name, no DOCTYPE, only the five XML
//! entities and character references, a bounded depth, and the fields rosterd relies on
//! present exactly once. The vendor's own sample (`<user_language>EN<user_language>`) does
//! not parse, and must not: a listing that does not parse is never "no users". Nothing here
//! panics on any input, so a fuzz target can call [`parse_users_list`] directly.

use std::collections::BTreeMap;

use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::{BytesRef, BytesStart, Event};
use quick_xml::{Reader, XmlVersion};

/// Elements inside `<user>` that hold secrets: skipped unread, never kept anywhere.
pub const SECRET_ELEMENTS: [&str; 3] = ["user_api_key", "user_password", "user_PIN"];

/// Deeper documents are refused: the answers are four levels deep, and a bounded depth
/// keeps both the parser and the tree's drop free of stack exhaustion.
const MAX_DEPTH: usize = 32;

/// Why an answer could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnswerError {
    /// A well-formed `<response status="error">`: the platform said no, with this message.
    #[error("{0}")]
    Refused(String),
    /// Not a Client Toolbox answer, or not one rosterd can read.
    #[error("{0}")]
    Malformed(String),
}

fn malformed(detail: impl Into<String>) -> AnswerError {
    AnswerError::Malformed(detail.into())
}

/// Which campaigns a user may work with (`user_allowed_campaigns`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowedCampaigns {
    All,
    None,
    /// Sorted and without repeats, so that two equal sets compare equal.
    Some(Vec<String>),
}

impl AllowedCampaigns {
    /// As rosterd compares it and as `user_new` / `user_update` take it: `all`, `none`, or
    /// the sorted campaign ids joined with commas.
    pub fn as_field(&self) -> String {
        match self {
            AllowedCampaigns::All => "all".into(),
            AllowedCampaigns::None => "none".into(),
            AllowedCampaigns::Some(ids) => ids.join(","),
        }
    }

    /// Read the field form back (`all`, `none`, `id,id,...`); ids are sorted and deduplicated.
    pub fn parse_field(raw: &str) -> Result<AllowedCampaigns, String> {
        match raw.trim() {
            "all" => Ok(AllowedCampaigns::All),
            "none" => Ok(AllowedCampaigns::None),
            "" => Err("allowed_campaigns is empty; use all, none, or campaign ids".into()),
            list => AllowedCampaigns::from_ids(list.split(',').map(str::trim)),
        }
    }

    /// A `some` list from ids, each a non-empty run of letters and digits.
    pub fn from_ids<'a>(ids: impl IntoIterator<Item = &'a str>) -> Result<AllowedCampaigns, String> {
        let mut out: Vec<String> = Vec::new();
        for id in ids {
            if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(format!("campaign id {id:?} is not a run of letters and digits"));
            }
            out.push(id.to_string());
        }
        if out.is_empty() {
            return Err("an empty campaign list; use none".into());
        }
        out.sort();
        out.dedup();
        Ok(AllowedCampaigns::Some(out))
    }
}

/// One `<user>` of a listing, secrets already gone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedUser {
    /// `<user_id>`: the user's login name (not the caller's `user_id` field).
    pub user_name: String,
    /// `<user_role>`: one capital letter.
    pub role: String,
    pub allowed_campaigns: AllowedCampaigns,
    /// Every other leaf element by its name (`user_first_name`, `user_language`, ...).
    pub fields: BTreeMap<String, String>,
}

/// One page of `users_list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsersPage {
    /// `<pagination><total>`: users in the whole listing.
    pub total: u64,
    /// `<pagination><offset>` and `<length>`, when the answer carries them.
    pub offset: Option<u64>,
    pub length: Option<u64>,
    pub users: Vec<ListedUser>,
}

/// Read one `users_list` answer. A `status="error"` answer is [`AnswerError::Refused`].
pub fn parse_users_list(xml: &[u8]) -> Result<UsersPage, AnswerError> {
    let root = success_root(xml)?;
    let pagination = root.only_child("pagination")?.ok_or_else(|| malformed("no <pagination> in the answer"))?;
    let total = pagination.number("total")?.ok_or_else(|| malformed("no <pagination><total> in the answer"))?;
    let offset = pagination.number("offset")?;
    let length = pagination.number("length")?;
    let mut users = Vec::new();
    if let Some(list) = root.only_child("users")? {
        for (i, element) in list.children.iter().enumerate() {
            if element.name != "user" {
                return Err(malformed(format!("<users> holds a <{}>, not a <user>", element.name)));
            }
            users.push(read_user(element).map_err(|e| malformed(format!("user {} of the page: {e}", i + 1)))?);
        }
    }
    Ok(UsersPage { total, offset, length, users })
}

/// Read the answer to a write: `Ok` for `status="success"`, whatever else it carries.
pub fn parse_status(xml: &[u8]) -> Result<(), AnswerError> {
    success_root(xml).map(|_| ())
}

/// The `<response>` root of a successful answer; an error answer becomes `Refused`.
fn success_root(xml: &[u8]) -> Result<Element, AnswerError> {
    let root = parse_tree(xml).map_err(|e| malformed(format!("not well-formed XML: {e}")))?;
    if root.name != "response" {
        return Err(malformed(format!("the root element is <{}>, not <response>", root.name)));
    }
    match root.attr("status") {
        Some("success") => Ok(root),
        Some("error") => {
            let message = root.only_child("error")?.map(|e| e.text.trim().to_string()).filter(|m| !m.is_empty());
            Err(AnswerError::Refused(message.unwrap_or_else(|| "status=\"error\" without a message".into())))
        }
        Some(other) => Err(malformed(format!("<response status={other:?}> is neither success nor error"))),
        None => Err(malformed("<response> has no status attribute")),
    }
}

/// One `<user>`: name, role and campaigns required once each; secrets skipped unread.
fn read_user(user: &Element) -> Result<ListedUser, String> {
    let mut fields = BTreeMap::new();
    let (mut name, mut role, mut campaigns) = (None, None, None);
    for child in &user.children {
        let tag = child.name.as_str();
        if SECRET_ELEMENTS.iter().any(|s| s.eq_ignore_ascii_case(tag)) {
            continue;
        }
        let seen = match tag {
            "user_id" => name.replace(child.leaf_text()?).is_some(),
            "user_role" => role.replace(child.leaf_text()?).is_some(),
            "user_allowed_campaigns" => campaigns.replace(read_campaigns(child)?).is_some(),
            // Nested extras (`user_permissions` with show_permissions=Yes) are not compared.
            _ if !child.children.is_empty() => false,
            _ => fields.insert(tag.to_string(), child.text.clone()).is_some(),
        };
        if seen {
            return Err(format!("<{tag}> appears twice"));
        }
    }
    let name = name.map(|n| n.trim().to_string()).filter(|n| !n.is_empty()).ok_or("no <user_id> (user name)")?;
    let role = role.ok_or_else(|| format!("{name}: no <user_role>"))?;
    let role = match role.trim() {
        r if r.len() == 1 && r.chars().all(|c| c.is_ascii_alphabetic()) => r.to_ascii_uppercase(),
        r => return Err(format!("{name}: <user_role> {r:?} is not one letter")),
    };
    let allowed_campaigns = campaigns.ok_or_else(|| format!("{name}: no <user_allowed_campaigns>"))?;
    Ok(ListedUser { user_name: name, role, allowed_campaigns, fields })
}

/// `<user_allowed_campaigns status="all|none|some">` with `<campaign_id>`s for `some` only.
fn read_campaigns(element: &Element) -> Result<AllowedCampaigns, String> {
    let mut ids = Vec::new();
    for child in &element.children {
        if child.name != "campaign_id" {
            return Err(format!("<user_allowed_campaigns> holds a <{}>", child.name));
        }
        ids.push(child.leaf_text()?.trim().to_string());
    }
    if !element.text.trim().is_empty() {
        return Err("<user_allowed_campaigns> holds text".into());
    }
    match (element.attr("status"), ids.is_empty()) {
        (Some("all"), true) => Ok(AllowedCampaigns::All),
        (Some("none"), true) => Ok(AllowedCampaigns::None),
        (Some("some"), false) => AllowedCampaigns::from_ids(ids.iter().map(String::as_str)),
        (Some("some"), true) => Err("<user_allowed_campaigns status=\"some\"> lists no campaign".into()),
        (Some(s @ ("all" | "none")), false) => Err(format!("<user_allowed_campaigns status={s:?}> lists campaigns")),
        (Some(other), _) => Err(format!("<user_allowed_campaigns status={other:?}> is not all, none or some")),
        (None, _) => Err("<user_allowed_campaigns> has no status".into()),
    }
}

/// An element of the tree: its name, attributes, child elements and text.
#[derive(Debug, Default)]
struct Element {
    name: String,
    attrs: Vec<(String, String)>,
    children: Vec<Element>,
    text: String,
}

impl Element {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The child of this name, if there is one; two of them are malformed.
    fn only_child(&self, name: &str) -> Result<Option<&Element>, AnswerError> {
        let mut found = self.children.iter().filter(|c| c.name == name);
        let first = found.next();
        match found.next() {
            Some(_) => Err(malformed(format!("<{}> holds <{name}> twice", self.name))),
            None => Ok(first),
        }
    }

    /// A child holding a whole number, if present.
    fn number(&self, name: &str) -> Result<Option<u64>, AnswerError> {
        let Some(child) = self.only_child(name)? else { return Ok(None) };
        let text = child.leaf_text().map_err(malformed)?;
        let n = text.trim().parse::<u64>().map_err(|_| malformed(format!("<{name}> {text:?} is not a number")))?;
        Ok(Some(n))
    }

    /// The text of an element that must not hold elements.
    fn leaf_text(&self) -> Result<String, String> {
        match self.children.is_empty() {
            true => Ok(self.text.clone()),
            false => Err(format!("<{}> holds elements where text was expected", self.name)),
        }
    }
}

/// Build the element tree of a whole document, refusing anything not well-formed.
fn parse_tree(xml: &[u8]) -> Result<Element, String> {
    let mut reader = Reader::from_reader(xml);
    let config = reader.config_mut();
    config.check_end_names = true;
    config.allow_unmatched_ends = false;
    config.allow_dangling_amp = false;
    config.expand_empty_elements = false;
    let mut tree = TreeBuilder::default();
    loop {
        let at = reader.buffer_position();
        let event = reader.read_event().map_err(|e| format!("at byte {at}: {e}"))?;
        if let Event::Eof = event {
            return tree.finish();
        }
        tree.take(event).map_err(|e| format!("at byte {at}: {e}"))?;
    }
}

/// The elements being built: the open ones on a stack, the root once it is closed.
#[derive(Default)]
struct TreeBuilder {
    open: Vec<Element>,
    root: Option<Element>,
    declared: bool,
}

impl TreeBuilder {
    fn take(&mut self, event: Event<'_>) -> Result<(), String> {
        match event {
            Event::Decl(_) if self.declared || self.root.is_some() || !self.open.is_empty() => {
                Err("an XML declaration where none may be".into())
            }
            Event::Decl(_) => {
                self.declared = true;
                Ok(())
            }
            Event::DocType(_) => Err("a DOCTYPE is not expected in an API answer".into()),
            Event::Comment(_) | Event::PI(_) => Ok(()),
            Event::Start(start) => self.open_element(&start),
            Event::Empty(start) => {
                self.open_element(&start)?;
                self.close_element()
            }
            Event::End(_) => self.close_element(),
            Event::Text(text) => self.add_text(&text.decode().map_err(|e| e.to_string())?),
            Event::CData(data) => self.add_text(&data.decode().map_err(|e| e.to_string())?),
            Event::GeneralRef(reference) => self.add_text(&resolve_reference(&reference)?),
            Event::Eof => Ok(()),
        }
    }

    fn open_element(&mut self, start: &BytesStart<'_>) -> Result<(), String> {
        if self.root.is_some() {
            return Err("a second root element".into());
        }
        if self.open.len() >= MAX_DEPTH {
            return Err(format!("elements nested deeper than {MAX_DEPTH}"));
        }
        let name = std::str::from_utf8(start.name().as_ref()).map_err(|_| "an element name is not UTF-8")?.to_string();
        let mut attrs = Vec::new();
        // `attributes()` checks for repeated names by default.
        for attr in start.attributes() {
            let attr = attr.map_err(|e| format!("<{name}>: {e}"))?;
            let key = std::str::from_utf8(attr.key.as_ref()).map_err(|_| "an attribute name is not UTF-8")?;
            let value = attr.normalized_value(XmlVersion::Implicit1_0).map_err(|e| format!("<{name} {key}>: {e}"))?;
            attrs.push((key.to_string(), value.into_owned()));
        }
        self.open.push(Element { name, attrs, ..Element::default() });
        Ok(())
    }

    fn close_element(&mut self) -> Result<(), String> {
        let element = self.open.pop().ok_or("a closing tag without an opening one")?;
        if !element.children.is_empty() && !element.text.trim().is_empty() {
            return Err(format!("<{}> mixes text and elements", element.name));
        }
        match self.open.last_mut() {
            Some(parent) => parent.children.push(element),
            None => self.root = Some(element),
        }
        Ok(())
    }

    fn add_text(&mut self, text: &str) -> Result<(), String> {
        match self.open.last_mut() {
            Some(element) => {
                element.text.push_str(text);
                Ok(())
            }
            None if text.trim().is_empty() => Ok(()),
            None => Err("text outside the root element".into()),
        }
    }

    fn finish(mut self) -> Result<Element, String> {
        if let Some(open) = self.open.last() {
            return Err(format!("the document ends inside <{}>", open.name));
        }
        self.root.take().ok_or_else(|| "no root element".to_string())
    }
}

/// `&amp;` and friends, and `&#...;`: anything else (a DTD's entities) is refused.
fn resolve_reference(reference: &BytesRef<'_>) -> Result<String, String> {
    if let Some(c) = reference.resolve_char_ref().map_err(|e| e.to_string())? {
        return Ok(c.to_string());
    }
    let name = reference.decode().map_err(|e| e.to_string())?;
    resolve_predefined_entity(&name).map(str::to_string).ok_or_else(|| "an unknown entity reference".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<response status="success">
  <pagination><total>12</total><offset>0</offset><length>10</length></pagination>
  <users>
    <user>
      <user_id>janecashier</user_id>
      <user_first_name>Jane &amp; Co</user_first_name>
      <user_last_name><![CDATA[Cashier]]></user_last_name>
      <user_api_key>SECRET-KEY-1</user_api_key>
      <user_PIN>1234</user_PIN>
      <user_addtl_info>London</user_addtl_info>
      <user_language>EN</user_language>
      <user_timezone>15</user_timezone>
      <user_role>K</user_role>
      <user_permissions><view_account_info>Yes</view_account_info></user_permissions>
      <user_allowed_campaigns status="some">
        <campaign_id>2345678901234567</campaign_id>
        <campaign_id>1234567890123456</campaign_id>
      </user_allowed_campaigns>
    </user>
    <user>
      <user_id>joeclerky</user_id>
      <user_password>p4sf8nvrdr8vhsd98erkerte</user_password>
      <user_role>A</user_role>
      <user_allowed_campaigns status="all"></user_allowed_campaigns>
    </user>
  </users>
</response>"#;

    #[test]
    fn the_documented_page_parses_without_its_secrets() {
        let page = parse_users_list(PAGE.as_bytes()).unwrap();
        assert_eq!((page.total, page.offset, page.length), (12, Some(0), Some(10)));
        let jane = &page.users[0];
        assert_eq!((jane.user_name.as_str(), jane.role.as_str()), ("janecashier", "K"));
        assert_eq!(jane.fields["user_first_name"], "Jane & Co");
        assert_eq!(jane.fields["user_last_name"], "Cashier");
        assert_eq!(jane.allowed_campaigns.as_field(), "1234567890123456,2345678901234567");
        assert_eq!(page.users[1].allowed_campaigns, AllowedCampaigns::All);
        let printed = format!("{page:?}");
        for secret in ["SECRET-KEY-1", "1234\"", "p4sf8nvrdr8vhsd98erkerte", "user_PIN", "user_api_key"] {
            assert!(!printed.contains(secret), "{secret} kept: {printed}");
        }
    }

    #[test]
    fn the_vendors_own_unclosed_user_language_does_not_parse() {
        let broken = PAGE.replace("<user_language>EN</user_language>", "<user_language>EN<user_language>");
        match parse_users_list(broken.as_bytes()) {
            Err(AnswerError::Malformed(detail)) => assert!(detail.contains("not well-formed"), "{detail}"),
            other => panic!("expected Malformed, got {other:?}"),
        }
    }

    #[test]
    fn an_error_answer_is_refused_with_its_message() {
        let xml = b"<response status=\"error\"><error>Invalid API access key</error></response>";
        assert_eq!(parse_users_list(xml), Err(AnswerError::Refused("Invalid API access key".into())));
        assert_eq!(parse_status(xml), Err(AnswerError::Refused("Invalid API access key".into())));
        assert_eq!(parse_status(b"<response status=\"success\"/>"), Ok(()));
    }

    #[test]
    fn broken_documents_are_malformed() {
        let cases: &[&[u8]] = &[
            b"",
            b"   ",
            b"<html><body>We'll be back</body></html>",
            b"<response status=\"success\"><pagination><total>1</total></pagination>",
            b"<response status=\"success\"></response><response status=\"success\"/>",
            b"<response status=\"ok\"/>",
            b"<response/>",
            b"<!DOCTYPE x [<!ENTITY e \"boom\">]><response status=\"success\">&e;</response>",
            b"<response status=\"success\"><pagination><total>many</total></pagination></response>",
            b"<response status=\"success\" status=\"error\"/>",
            b"hello <response status=\"success\"/>",
            b"<response status=\"success\"><pagination><total>\xff</total></pagination></response>",
            b"<response status=\"success\"><users/></response>",
        ];
        for case in cases {
            assert!(
                matches!(parse_users_list(case), Err(AnswerError::Malformed(_))),
                "{:?} was accepted",
                String::from_utf8_lossy(case)
            );
        }
    }

    #[test]
    fn user_records_missing_or_repeating_what_rosterd_needs_are_malformed() {
        let page = |user: &str| {
            format!("<response status=\"success\"><pagination><total>1</total></pagination><users><user>{user}</user></users></response>")
        };
        let all = "<user_allowed_campaigns status=\"all\"/>";
        let cases = [
            format!("<user_role>K</user_role>{all}"),
            format!("<user_id> </user_id><user_role>K</user_role>{all}"),
            format!("<user_id>a</user_id>{all}"),
            format!("<user_id>a</user_id><user_role>KA</user_role>{all}"),
            "<user_id>a</user_id><user_role>K</user_role>".to_string(),
            format!("<user_id>a</user_id><user_id>b</user_id><user_role>K</user_role>{all}"),
            format!("<user_id>a</user_id><user_role>K</user_role>{all}<user_timezone>1</user_timezone><user_timezone>2</user_timezone>"),
            "<user_id>a</user_id><user_role>K</user_role><user_allowed_campaigns status=\"some\"/>".to_string(),
            "<user_id>a</user_id><user_role>K</user_role><user_allowed_campaigns status=\"all\"><campaign_id>1</campaign_id></user_allowed_campaigns>".to_string(),
            "<user_id>a</user_id><user_role>K</user_role><user_allowed_campaigns status=\"few\"/>".to_string(),
            "<user_id>a</user_id><user_role>K</user_role><user_allowed_campaigns status=\"some\"><campaign_id>1,2</campaign_id></user_allowed_campaigns>".to_string(),
        ];
        for case in &cases {
            let result = parse_users_list(page(case).as_bytes());
            assert!(matches!(result, Err(AnswerError::Malformed(_))), "{case} was accepted: {result:?}");
        }
        let fine = parse_users_list(page(&format!("<user_id>a</user_id><user_role>k</user_role>{all}")).as_bytes());
        assert_eq!(fine.unwrap().users[0].role, "K");
    }

    #[test]
    fn deep_nesting_is_refused_without_exhausting_the_stack() {
        let deep = format!("{}{}", "<a>".repeat(100_000), "</a>".repeat(100_000));
        assert!(matches!(parse_users_list(deep.as_bytes()), Err(AnswerError::Malformed(_))));
    }

    #[test]
    fn every_prefix_of_a_good_page_is_refused_and_nothing_panics() {
        for cut in 0..PAGE.len() - 1 {
            let prefix = &PAGE.as_bytes()[..cut];
            assert!(parse_users_list(prefix).is_err(), "a page cut at byte {cut} was accepted");
        }
    }

    #[test]
    fn campaign_fields_round_trip_sorted() {
        let parsed = AllowedCampaigns::parse_field("3, 1,2,1").unwrap();
        assert_eq!(parsed.as_field(), "1,2,3");
        assert!(AllowedCampaigns::parse_field("1,,2").is_err());
        assert!(AllowedCampaigns::parse_field("").is_err());
        assert_eq!(AllowedCampaigns::parse_field("none").unwrap(), AllowedCampaigns::None);
    }
}
