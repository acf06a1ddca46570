//! One Client Toolbox `users_list` answer: any bytes, no panic, and no secret kept.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rosterd::platform::clienttoolbox::parse_users_list;
use rosterd::platform::clienttoolbox::xml::{parse_status, SECRET_ELEMENTS};

fuzz_target!(|data: &[u8]| {
    if let Ok(page) = parse_users_list(data) {
        for user in &page.users {
            for secret in SECRET_ELEMENTS {
                assert!(!user.fields.contains_key(secret), "{secret} was kept");
            }
        }
    }
    let _ = parse_status(data);
});
