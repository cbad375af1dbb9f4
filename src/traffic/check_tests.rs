use super::*;

fn expr(text: &str) -> JsonPathExpr {
    JsonPathExpr {
        text: text.into(),
        path: serde_json_path::JsonPath::parse(text).unwrap(),
    }
}

fn json_check(pairs: &[(&str, JsonExpect)]) -> ResponseCheck {
    ResponseCheck {
        json: pairs.iter().map(|(p, w)| (expr(p), w.clone())).collect(),
        ..ResponseCheck::default()
    }
}

fn run(check: &ResponseCheck, status: u16, body: &str) -> Result<(), String> {
    evaluate(Some(check), &[], status, Some(body.as_bytes()), &mut [])
}

#[test]
fn status_and_body_text() {
    let c = ResponseCheck {
        status: vec![201],
        body_contains: Some("\"created\"".into()),
        json: Vec::new(),
    };
    assert_eq!(run(&c, 201, r#"{"state": "created"}"#), Ok(()));
    let err = run(&c, 200, r#"{"state": "created"}"#).unwrap_err();
    assert_eq!(err, "status 200 is not one the check accepts (201)");
    let err = run(&c, 201, r#"{"state": "pending"}"#).unwrap_err();
    assert_eq!(err, "the body does not contain `\"created\"`");
    // No body kept: the check cannot hold, and says so.
    let err = evaluate(Some(&c), &[], 201, None, &mut []).unwrap_err();
    assert!(err.contains("not kept"), "{err}");
}

#[test]
fn json_paths_exist_and_equal() {
    let body = r#"{"id": "o-7", "qty": 2, "paid": true, "items": [{"sku": 1}, {"sku": 1}]}"#;
    let ok = json_check(&[
        ("$.id", JsonExpect::Exists),
        ("$.qty", JsonExpect::Equals(serde_json::json!(2.0))),
        ("$.paid", JsonExpect::Equals(serde_json::json!(true))),
        ("$.items[*].sku", JsonExpect::Equals(serde_json::json!(1))),
    ]);
    assert_eq!(run(&ok, 200, body), Ok(()));
    let missing = json_check(&[("$.order_id", JsonExpect::Exists)]);
    assert_eq!(
        run(&missing, 200, body).unwrap_err(),
        "`$.order_id` selects nothing"
    );
    let wrong = json_check(&[("$.id", JsonExpect::Equals(serde_json::json!("o-8")))]);
    assert_eq!(
        run(&wrong, 200, body).unwrap_err(),
        "`$.id` is `\"o-7\"`, expected `\"o-8\"`"
    );
    // Every node selected must equal the value.
    let some = json_check(&[("$.items[*].sku", JsonExpect::Equals(serde_json::json!(2)))]);
    assert!(run(&some, 200, body).is_err());
    let not_json = run(&missing, 200, "<html>").unwrap_err();
    assert!(not_json.starts_with("the body is not JSON"), "{not_json}");
}

#[test]
fn extraction_fills_slots_or_says_what_is_missing() {
    let extract = [
        Extraction {
            name: "order_id".into(),
            slot: 1,
            path: expr("$.id"),
        },
        Extraction {
            name: "qty".into(),
            slot: 0,
            path: expr("$.lines[0].qty"),
        },
    ];
    let mut values = vec![None, None];
    let body = br#"{"id": "o-1", "lines": [{"qty": 3}]}"#;
    assert_eq!(
        evaluate(None, &extract, 201, Some(body), &mut values),
        Ok(())
    );
    assert_eq!(values, [Some("3".to_owned()), Some("o-1".to_owned())]);
    let mut values = vec![None, None];
    let err = evaluate(None, &extract, 201, Some(br#"{"lines": []}"#), &mut values).unwrap_err();
    assert_eq!(err, "extract `order_id`: `$.id` selects nothing");
    let err = evaluate(None, &extract, 201, Some(br#"{"id": null}"#), &mut values).unwrap_err();
    assert_eq!(err, "extract `order_id`: `$.id` is null");
}

#[test]
fn long_values_are_cut_in_reasons() {
    let long = "x".repeat(200);
    let c = ResponseCheck {
        body_contains: Some(long),
        ..ResponseCheck::default()
    };
    let err = run(&c, 200, "short").unwrap_err();
    assert!(err.ends_with("…`"), "{err}");
    assert!(err.chars().count() < 120, "{err}");
}
