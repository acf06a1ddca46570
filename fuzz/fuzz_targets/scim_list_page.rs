//! One SCIM `ListResponse` page body, read as the SCIM source reads it: any bytes, no panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rosterd::source::scim::parse_users_page;

fuzz_target!(|data: &[u8]| {
    if let Ok(page) = parse_users_page(data) {
        // What the source relies on for every person it keeps.
        for person in &page.people {
            assert!(!person.id.is_empty() && !person.user_name.is_empty(), "{person:?}");
        }
    }
});
