//! The ClientToolbox emulator's request handling: form checks, its XML answers, the
//! listing query, and what each call does to the store.

use std::fmt::Write as _;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use super::*;

pub(super) type Fields = BTreeMap<String, String>;
pub(super) type Outcome = Result<String, String>;

pub(super) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

pub(super) fn xml_answer(outcome: Outcome) -> Response {
    let body = match outcome {
        Ok(inner) => format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<response status=\"success\">\n{inner}</response>\n"),
        Err(message) => format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<response status=\"error\">\n  <error>{}</error>\n</response>\n",
            escape(&message)
        ),
    };
    // Failures too come with HTTP 200: only the status attribute tells.
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/xml; charset=utf-8")], body).into_response()
}

/// The form body; a repeated field is refused rather than one of them silently winning.
pub(super) fn parse_form(body: &[u8]) -> Result<Fields, String> {
    let mut fields = Fields::new();
    for (k, v) in url::form_urlencoded::parse(body) {
        if fields.insert(k.to_string(), v.to_string()).is_some() {
            return Err(format!("Field {k} is given twice"));
        }
    }
    Ok(fields)
}

pub(super) fn is_user_name(name: &str) -> bool {
    (1..=20).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

pub(super) fn is_role(role: &str) -> bool {
    role.len() == 1 && role.chars().all(|c| c.is_ascii_uppercase())
}

pub(super) fn number(fields: &Fields, name: &str) -> Result<Option<usize>, String> {
    fields
        .get(name)
        .map(|v| v.trim().parse::<usize>().map_err(|_| format!("{name} must be a whole number")))
        .transpose()
}

pub(super) fn required<'a>(fields: &'a Fields, name: &str) -> Result<&'a str, String> {
    fields.get(name).map(String::as_str).filter(|v| !v.trim().is_empty()).ok_or_else(|| format!("{name} is required"))
}

impl Shared {
    /// Who is calling, and may they: key, caller, account, administrator rights.
    pub(super) fn authorize(&self, headers: &HeaderMap, fields: &Fields) -> Result<bool, String> {
        let header_key = headers.get("api_access_key").map(|v| v.to_str().unwrap_or_default().to_string());
        // When both are given only the header counts.
        let key_in_form = header_key.is_none() && fields.contains_key("user_api_key");
        let key = header_key.or_else(|| fields.get("user_api_key").cloned()).ok_or("Missing API access key")?;
        if fields.get("account_id") != Some(&self.options.account_id) {
            return Err("Invalid account_id".into());
        }
        let caller = required(fields, "user_id").map_err(|_| "Missing user_id")?;
        let store = self.lock();
        let user = store.active(caller).filter(|u| u.api_key.as_deref() == Some(key.as_str()));
        let Some(user) = user else { return Err("Invalid user_id or API access key".into()) };
        if user.role != "A" && !user.user_name.eq_ignore_ascii_case(&self.options.owner) {
            return Err(
                "Permission denied: only Administrator-level users or the account owner may manage users".into()
            );
        }
        Ok(key_in_form)
    }

    /// The whole call: authorization, version, fields, then the operation.
    pub(super) fn handle(&self, headers: &HeaderMap, body: &[u8], injected: Injected) -> Outcome {
        let fields = parse_form(body)?;
        let key_in_form = self.authorize(headers, &fields)?;
        let kind = required(&fields, "type")?.to_string();
        let (version, allowed) = match kind.as_str() {
            "users_list" => (&self.options.list_api_version, LIST_FIELDS),
            "user_new" | "user_update" => (&self.options.write_api_version, USER_FIELDS),
            "user_delete" => (&self.options.write_api_version, DELETE_FIELDS),
            other => return Err(format!("Unknown type {other}")),
        };
        let sent = fields.get("API").map(String::as_str).unwrap_or_default();
        if sent != version {
            return Err(format!("API version {sent:?} is not supported for {kind}; use {version}"));
        }
        if let Some(unknown) = fields.keys().find(|k| !COMMON.contains(&k.as_str()) && !allowed.contains(&k.as_str())) {
            return Err(format!("Unknown field {unknown} for {kind}"));
        }
        if fields.get("output").is_some_and(|o| !o.eq_ignore_ascii_case("XML")) {
            return Err("Only output=XML is emulated".into());
        }
        self.record(&kind, &fields, key_in_form);
        match kind.as_str() {
            "users_list" => self.list(&fields, injected),
            "user_new" => self.create(&fields),
            "user_update" => self.update(&fields),
            _ => self.delete(&fields),
        }
    }

    pub(super) fn record(&self, kind: &str, fields: &Fields, key_in_form: bool) {
        let secret = |k: &str| k == "user_api_key" || k == "user_new_password";
        let fields = fields.iter().map(|(k, v)| (k.clone(), if secret(k) { "[set]".into() } else { v.clone() }));
        self.lock().requests.push(CtRequest { kind: kind.into(), fields: fields.collect(), key_in_form });
    }

    pub(super) fn check_campaigns(&self, allowed: &str) -> Result<(), String> {
        if allowed == "all" || allowed == "none" {
            return Ok(());
        }
        for id in allowed.split(',') {
            if !self.options.campaigns.iter().any(|c| c == id.trim()) {
                return Err(format!("Unknown campaign id {}", id.trim()));
            }
        }
        Ok(())
    }

    /// The optional user fields of `user_new` and `user_update`, checked, applied to `user`.
    pub(super) fn apply_fields(&self, user: &mut CtUser, fields: &Fields) -> Result<usize, String> {
        let mut changed = 0;
        for (name, value) in fields {
            let slot = match name.as_str() {
                "user_first_name" => &mut user.first_name,
                "user_last_name" => &mut user.last_name,
                "user_custom1" => &mut user.custom1,
                "language_selector" if value.len() == 2 && value.chars().all(|c| c.is_ascii_alphabetic()) => {
                    &mut user.language
                }
                "language_selector" => return Err(format!("Invalid language_selector {value:?}")),
                "timezone_selector" if value.parse::<u32>().is_ok() => &mut user.timezone,
                "timezone_selector" => return Err(format!("Invalid timezone_selector {value:?}")),
                "user_role" if is_role(value) => &mut user.role,
                "user_role" => return Err(format!("Invalid user_role {value:?}: one capital letter")),
                "allowed_campaigns" => {
                    self.check_campaigns(value)?;
                    &mut user.allowed_campaigns
                }
                "user_new_password" if value.len() >= 8 => {
                    user.password = Some(value.clone());
                    changed += 1;
                    continue;
                }
                "user_new_password" => return Err("user_new_password must be at least 8 characters".into()),
                _ => continue,
            };
            *slot = value.clone();
            changed += 1;
        }
        Ok(changed)
    }

    pub(super) fn create(&self, fields: &Fields) -> Outcome {
        let name = required(fields, "user_name")?;
        if !is_user_name(name) {
            return Err(format!("Invalid user_name {name:?}: use 1 to 20 letters, digits or underscores"));
        }
        for needed in ["user_new_password", "user_role", "allowed_campaigns"] {
            required(fields, needed)?;
        }
        let mut user = CtUser::new(name, "", "", "K");
        user.language = String::new();
        user.timezone = String::new();
        self.apply_fields(&mut user, fields)?;
        let mut store = self.lock();
        // Deleted users keep their names.
        if store.users.contains_key(&name.to_lowercase()) {
            return Err(format!("User name {name} is already in use"));
        }
        store.pins += 1;
        user.pin = Some(format!("{:04}", store.pins % 10_000));
        store.users.insert(name.to_lowercase(), user);
        Ok(format!("  <user_name>{}</user_name>\n", escape(name)))
    }

    pub(super) fn update(&self, fields: &Fields) -> Outcome {
        let name = required(fields, "user_name")?;
        let mut store = self.lock();
        let Some(mut user) = store.active(name).cloned() else { return Err(format!("User {name} not found")) };
        if self.apply_fields(&mut user, fields)? == 0 {
            return Err("Nothing to update".into());
        }
        store.users.insert(name.to_lowercase(), user);
        Ok(format!("  <user_name>{}</user_name>\n", escape(name)))
    }

    pub(super) fn delete(&self, fields: &Fields) -> Outcome {
        let name = required(fields, "user_name")?;
        let permanent = match fields.get("action").map(String::as_str) {
            None => false,
            Some("permanent") => true,
            Some(other) => return Err(format!("Unknown action {other:?}")),
        };
        let caller = fields.get("user_id").map(String::as_str).unwrap_or_default();
        if name.eq_ignore_ascii_case(&self.options.owner) || name.eq_ignore_ascii_case(caller) {
            return Err("The account owner and the calling user cannot be deleted".into());
        }
        let mut store = self.lock();
        if store.active(name).is_none() && !permanent {
            return Err(format!("User {name} not found"));
        }
        if permanent {
            // The name is free again: whoever takes it inherits the old transactions.
            store.users.remove(&name.to_lowercase()).ok_or_else(|| format!("User {name} not found"))?;
            store.permanent_deletes.push(name.to_string());
        } else if let Some(user) = store.users.get_mut(&name.to_lowercase()) {
            user.deleted = true;
        }
        Ok(String::new())
    }
}

/// The listing's `offset`, `length`, sorting and search, as parsed from the form.
#[derive(Debug)]
pub(super) struct ListQuery {
    pub(super) offset: usize,
    pub(super) length: Option<usize>,
    pub(super) sort: String,
    pub(super) descending: bool,
    pub(super) search: Option<(String, String, String)>,
    pub(super) permissions: bool,
}

impl ListQuery {
    pub(super) fn parse(fields: &Fields) -> Result<ListQuery, String> {
        let length = number(fields, "length")?;
        if length == Some(0) {
            return Err("length must be at least 1".into());
        }
        let sort = fields.get("sortField").cloned().unwrap_or_else(|| "user_name".into());
        if !SORT_FIELDS.contains(&sort.as_str()) {
            return Err(format!("Invalid sortField {sort}"));
        }
        let descending = match fields.get("sortOrder").map(String::as_str) {
            None | Some("ASC") => false,
            Some("DESC") => true,
            Some(other) => return Err(format!("Invalid sortOrder {other}")),
        };
        Ok(ListQuery {
            offset: number(fields, "offset")?.unwrap_or(0),
            length,
            sort,
            descending,
            search: ListQuery::search(fields)?,
            permissions: fields.get("show_permissions").is_some_and(|v| v == "Yes"),
        })
    }

    pub(super) fn search(fields: &Fields) -> Result<Option<(String, String, String)>, String> {
        let Some(field) = fields.get("searchField") else { return Ok(None) };
        if !SORT_FIELDS.contains(&field.as_str()) && field != "user_full_name" {
            return Err(format!("Invalid searchField {field}"));
        }
        let oper = fields.get("searchOper").cloned().unwrap_or_else(|| "eq".into());
        if !SEARCH_OPERATORS.contains(&oper.as_str()) {
            return Err(format!("Invalid searchOper {oper}"));
        }
        Ok(Some((field.clone(), oper, fields.get("searchValue").cloned().unwrap_or_default())))
    }

    pub(super) fn keeps(&self, user: &CtUser) -> bool {
        let Some((field, oper, value)) = &self.search else { return true };
        let have = value_of(user, field).to_lowercase();
        let want = value.to_lowercase();
        let listed = || want.split(',').map(str::trim).any(|v| v == have);
        match oper.as_str() {
            "eq" => have == want,
            "ne" => have != want,
            "bw" => have.starts_with(&want),
            "bn" => !have.starts_with(&want),
            "ew" => have.ends_with(&want),
            "en" => !have.ends_with(&want),
            "cn" => have.contains(&want),
            "nc" => !have.contains(&want),
            "nu" => have.is_empty(),
            "nn" => !have.is_empty(),
            "in" => listed(),
            _ => !listed(),
        }
    }
}

pub(super) fn value_of(user: &CtUser, field: &str) -> String {
    match field {
        "user_first_name" => user.first_name.clone(),
        "user_last_name" => user.last_name.clone(),
        "user_full_name" => format!("{} {}", user.first_name, user.last_name),
        "user_role" => user.role.clone(),
        "language" => user.language.clone(),
        "timezone" => user.timezone.clone(),
        "user_custom1" => user.custom1.clone(),
        _ => user.user_name.clone(),
    }
}

/// One `<user>` as the real service writes it, secrets and all.
pub(super) fn user_xml(user: &CtUser, permissions: bool, malformed_language: bool) -> String {
    let mut out = String::from("    <user>\n");
    let mut leaf = |tag: &str, value: &str| {
        let _ = writeln!(out, "      <{tag}>{}</{tag}>", escape(value));
    };
    leaf("user_id", &user.user_name);
    leaf("user_first_name", &user.first_name);
    leaf("user_last_name", &user.last_name);
    if let Some(key) = &user.api_key {
        leaf("user_api_key", key);
    }
    if let Some(password) = &user.password {
        leaf("user_password", password);
    }
    if let Some(pin) = &user.pin {
        leaf("user_PIN", pin);
    }
    leaf("user_addtl_info", &user.custom1);
    if malformed_language {
        // Exactly as the vendor's own example prints it.
        let _ = writeln!(out, "      <user_language>{}<user_language>", escape(&user.language));
    } else {
        let _ = writeln!(out, "      <user_language>{}</user_language>", escape(&user.language));
    }
    let _ = writeln!(out, "      <user_timezone>{}</user_timezone>", escape(&user.timezone));
    let _ = writeln!(out, "      <user_role>{}</user_role>", escape(&user.role));
    if permissions {
        out.push_str(
            "      <user_permissions>\n        <view_account_info>Yes</view_account_info>\n      </user_permissions>\n",
        );
    }
    out.push_str(&campaigns_xml(&user.allowed_campaigns));
    out.push_str("    </user>\n");
    out
}

pub(super) fn campaigns_xml(allowed: &str) -> String {
    match allowed {
        "all" | "none" => {
            format!("      <user_allowed_campaigns status=\"{allowed}\">\n      </user_allowed_campaigns>\n")
        }
        ids => {
            let mut out = String::from("      <user_allowed_campaigns status=\"some\">\n");
            for id in ids.split(',') {
                let _ = writeln!(out, "        <campaign_id>{}</campaign_id>", escape(id.trim()));
            }
            out + "      </user_allowed_campaigns>\n"
        }
    }
}

impl Shared {
    pub(super) fn list(&self, fields: &Fields, injected: Injected) -> Outcome {
        let query = ListQuery::parse(fields)?;
        let store = self.lock();
        let mut users: Vec<&CtUser> = store.users.values().filter(|u| !u.deleted && query.keeps(u)).collect();
        users.sort_by_cached_key(|u| (value_of(u, &query.sort).to_lowercase(), u.user_name.to_lowercase()));
        if query.descending {
            users.reverse();
        }
        let total = users.len();
        let length = self.page_cap.apply(query.length.unwrap_or(total));
        let mut page: Vec<&CtUser> = users.into_iter().skip(query.offset).take(length).collect();
        if injected.truncate {
            // The page claims the same total but is one user short.
            page.pop();
        }
        let mut out = format!(
            "  <pagination>\n    <total>{total}</total>\n    <offset>{}</offset>\n    <length>{length}</length>\n  </pagination>\n  <users>\n",
            query.offset
        );
        for user in page {
            out.push_str(&user_xml(user, query.permissions, store.malformed_language));
        }
        out.push_str("  </users>\n");
        Ok(out)
    }
}
