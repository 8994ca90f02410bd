//! Templates and JSON captures.

use std::collections::BTreeMap;

use gauntlet_soak::template::{TemplateError, capture, render};
use serde_json::json;

fn vars() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("key".to_owned(), "k7".to_owned()),
        ("value".to_owned(), "u1-s3".to_owned()),
        ("id".to_owned(), "{{key}}".to_owned()),
    ])
}

#[test]
fn renders_names_with_or_without_spaces() {
    let out = render("/kv/{{key}}?v={{ value }}&again={{key}}", &vars()).unwrap();
    assert_eq!(out, "/kv/k7?v=u1-s3&again=k7");
    assert_eq!(render("", &vars()).unwrap(), "");
    assert_eq!(
        render("plain { text }}", &vars()).unwrap(),
        "plain { text }}"
    );
    // Values are not expanded again.
    assert_eq!(render("{{id}}", &vars()).unwrap(), "{{key}}");
    // Multi-byte text around names survives.
    assert_eq!(render("é{{key}}ü", &vars()).unwrap(), "ék7ü");
}

#[test]
fn an_unknown_name_is_an_error_naming_it() {
    let err = render("/kv/{{kye}}", &vars()).unwrap_err();
    assert_eq!(
        err,
        TemplateError::Unknown {
            name: "kye".to_owned(),
            known: "id, key, value".to_owned()
        }
    );
    let message = err.to_string();
    assert!(message.contains("{{kye}}"), "{message}");
    assert!(
        matches!(render("{{}}", &vars()), Err(TemplateError::Unknown { name, .. }) if name.is_empty())
    );
}

#[test]
fn an_unclosed_brace_is_an_error_with_its_offset() {
    let err = render("ab{{key}}cd{{key", &vars()).unwrap_err();
    assert_eq!(err, TemplateError::Unclosed { at: 11 });
    assert!(err.to_string().contains("byte 11"), "{err}");
    assert_eq!(
        render("{{", &vars()).unwrap_err(),
        TemplateError::Unclosed { at: 0 }
    );
}

#[test]
fn capture_unquotes_strings_and_prints_other_json() {
    let doc =
        json!({"id": "abc", "n": 42, "ok": true, "nil": null, "obj": {"a": [1, 2]}, "s/l": "x"});
    assert_eq!(capture(&doc, "/id").as_deref(), Some("abc"));
    assert_eq!(capture(&doc, "/n").as_deref(), Some("42"));
    assert_eq!(capture(&doc, "/ok").as_deref(), Some("true"));
    assert_eq!(capture(&doc, "/nil").as_deref(), Some("null"));
    assert_eq!(capture(&doc, "/obj").as_deref(), Some(r#"{"a":[1,2]}"#));
    assert_eq!(capture(&doc, "/obj/a/1").as_deref(), Some("2"));
    assert_eq!(capture(&doc, "/s~1l").as_deref(), Some("x"));
    assert_eq!(capture(&doc, "/missing"), None);
    assert_eq!(capture(&doc, "id"), None, "a pointer starts with /");
    assert_eq!(capture(&json!("whole"), "").as_deref(), Some("whole"));
}
