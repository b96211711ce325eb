use std::collections::HashMap;

use super::respond;
use crate::config::Account;

fn accounts() -> HashMap<String, Account> {
    Account::demo().into_iter().map(|a| (a.token.clone(), a)).collect()
}

fn status(request: &str) -> String {
    let response = respond(request.as_bytes(), &accounts());
    let text = String::from_utf8(response).expect("utf8");
    text.split("\r\n").next().unwrap_or_default().to_owned()
}

#[test]
fn the_balance_endpoint_answers_the_accounts_json() {
    let response =
        respond(b"GET /api/v1/balance HTTP/1.1\r\nHost: x\r\nauthorization:  Bearer bob-token \r\n\r\n", &accounts());
    let text = String::from_utf8(response).expect("utf8");
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.contains("Content-Length: 43\r\n"), "{text}");
    assert!(text.ends_with("\r\n\r\n{\"uid\":\"u-bob\",\"balance\":0.5,\"asset\":\"ETH\"}"));
}

#[test]
fn other_requests_get_errors() {
    assert_eq!(status("GET /api/v1/balance HTTP/1.1\r\n\r\n"), "HTTP/1.1 401 Unauthorized");
    assert_eq!(
        status("GET /api/v1/balance HTTP/1.1\r\nAuthorization: Bearer nope\r\n\r\n"),
        "HTTP/1.1 401 Unauthorized"
    );
    assert_eq!(status("GET / HTTP/1.1\r\n\r\n"), "HTTP/1.1 404 Not Found");
    assert_eq!(status("POST /api/v1/balance HTTP/1.1\r\n\r\n"), "HTTP/1.1 405 Method Not Allowed");
    assert_eq!(status("GET /api/v1/balance HTTP/1.0\r\n\r\n"), "HTTP/1.1 400 Bad Request");
    assert_eq!(status(""), "HTTP/1.1 400 Bad Request");
}

#[test]
fn uids_are_json_escaped() {
    let a = Account::new("t", "u-\"q\"", "1", "E\\TH").expect("valid");
    assert_eq!(a.json(), r#"{"uid":"u-\"q\"","balance":1,"asset":"E\\TH"}"#);
}

#[test]
fn further_values_are_numbers_between_balance_and_asset() {
    let a = Account::parse("t:u-alice:12.345:ETH,trades=17,fees=-0.25").expect("valid");
    assert_eq!(a.json(), r#"{"uid":"u-alice","balance":12.345,"trades":17,"fees":-0.25,"asset":"ETH"}"#);
    assert_eq!(a.value("balance"), Some("12.345"));
    assert_eq!(a.value("fees"), Some("-0.25"));
    assert_eq!(a.value("asset"), None);
}
