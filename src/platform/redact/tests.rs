use super::*;

const KEY: &str = "k3y+with/slash=and%pct spaceé";

fn key() -> Redactor {
    Redactor::none().with(&SecretString::from(KEY))
}

/// Percent-encode every byte but the unreserved ones, with upper or lower hex.
fn percent(s: &str, lower: bool, plus_for_space: bool) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => char::from(b).to_string(),
            b' ' if plus_for_space => "+".into(),
            _ if lower => format!("%{b:02x}"),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn every_wire_form_of_a_key_is_removed() {
    let json = serde_json::to_string(KEY).unwrap();
    let escaped_all: String = KEY.encode_utf16().map(|u| format!("\\u{u:04x}")).collect();
    let forms = [
        KEY.to_string(),
        percent(KEY, false, false),
        percent(KEY, true, false),
        percent(KEY, false, true),
        json[1..json.len() - 1].to_string(),
        json[1..json.len() - 1].replace('/', "\\/"),
        escaped_all,
    ];
    for form in forms {
        let text = format!("before {form} after");
        assert_eq!(key().redact(&text), "before [redacted] after", "{form}");
    }
}

#[test]
fn text_without_the_key_is_left_alone() {
    let text = "100% sure: a+b \\u0041 \\n %zz %4";
    assert_eq!(key().redact(text), text);
    assert_eq!(Redactor::none().redact(KEY), KEY);
    assert_eq!(Redactor::none().with(&SecretString::from("")).redact("abc"), "abc");
}

#[test]
fn a_percent_in_the_key_may_be_its_own_byte_or_an_escape() {
    let r = Redactor::none().with(&SecretString::from("a%41b"));
    assert_eq!(r.redact("x a%41b y"), "x [redacted] y");
    assert_eq!(r.redact("x a%2541b y"), "x [redacted] y");
    assert_eq!(r.redact("x aAb y"), "x aAb y", "%41 in the key is three bytes, not an A");
}

#[test]
fn basic_credentials_are_removed_as_base64_standard_and_url_safe() {
    // "ann:p>?>?" has '+' and '/' in standard base64 and '-' and '_' in the URL-safe form.
    let password = SecretString::from("p>?>?");
    let r = Redactor::none().with_basic("ann", &password);
    let standard = base64(b"ann:p>?>?", STANDARD);
    let url_safe = base64(b"ann:p>?>?", URL_SAFE);
    assert!(standard.contains(['+', '/']) && url_safe.contains(['-', '_']), "{standard} {url_safe}");
    for form in [
        format!("Basic {standard}"),
        format!("Basic {url_safe}"),
        format!("Basic {}", url_safe.trim_end_matches('=')),
        format!("Basic {}", percent(&standard, false, false)),
    ] {
        assert_eq!(r.redact(&form), "Basic [redacted]", "{form}");
    }
    assert_eq!(r.redact("pw=p>?>?"), "pw=[redacted]");
}

#[test]
fn a_key_straddling_the_cut_is_removed_whole() {
    for before in 180..=205 {
        let text = format!("{}{KEY}{}", "x".repeat(before), "y".repeat(300));
        let cut = key().redact_cut(&text, SNIPPET_CHARS);
        assert!(!cut.contains("k3y"), "{before}: {cut}");
        assert!(cut.ends_with('…'), "{before}: {cut}");
    }
    let snippet = key().snippet(format!("{}{}", "z".repeat(195), percent(KEY, true, false)).as_bytes());
    assert!(snippet.starts_with(&"z".repeat(195)) && snippet.contains("[redac"), "{snippet}");
}

#[test]
fn a_short_text_is_not_marked_cut() {
    assert_eq!(key().snippet(b"short"), "short");
    assert_eq!(key().snippet("é".repeat(200).as_bytes()), "é".repeat(200));
    assert_eq!(key().snippet("é".repeat(201).as_bytes()), format!("{}…", "é".repeat(200)));
}

#[test]
fn debug_never_shows_a_secret() {
    let r = key().with_basic("ann", &SecretString::from("hunter2"));
    let shown = format!("{r:?}");
    assert!(!shown.contains("k3y") && !shown.contains("hunter2"), "{shown}");
}

#[test]
fn broken_escapes_and_odd_bytes_never_panic() {
    let r = key().with_basic("u", &SecretString::from("\\u"));
    for text in ["\\", "\\u", "\\ud800", "\\ud800\\u", "\\ud800\\udc00", "%", "%e", "%é", "é%", "\\u00é0"] {
        let _ = r.redact(text);
        let _ = r.redact_cut(text, 1);
    }
}

#[test]
fn base64_matches_rfc_4648_vectors() {
    let cases = [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE=")];
    for (plain, encoded) in cases {
        assert_eq!(base64(plain.as_bytes(), STANDARD), encoded);
    }
    assert_eq!(base64(&[0xfb, 0xff], URL_SAFE), "-_8=");
}
