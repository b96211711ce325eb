//! Dataset proof templates against the hidden fixture (made upstream) and
//! against re-notarised variants of the full fixture (the fixture's
//! identity proof and key, any transcript, resealed with the fixture key).
#![allow(clippy::single_range_in_vec_init)] // ranges, not a vec of their items

mod common;

use std::ops::Range;

use common::*;
use triad_notary::attestation::reseal_secp256k1;
use triad_notary::template::{MAX_VALUE_FIELDS, ProofTemplate, TemplateError, TemplateMatch};
use triad_notary::{
    Blinder, Direction, HashAlg, ProverSecret, VerifiedPresentation, check_commitment, plaintext_hash, verify,
    verify_decoded, wire,
};

/// The fixtures' connection time.
const TIME: u64 = 1_671_637_529;

fn template(server: &str, method: &str, path: &str, value: &str, uid: &str) -> ProofTemplate {
    ProofTemplate::new(server, method, path, &[value], uid, 3600, vec![notary_key()]).expect("valid template")
}

/// A template the hidden fixture fits: `"bazz": 123` hidden, `"foo": "bar"` the uid.
fn fixture_template() -> ProofTemplate {
    template("tlsnotary.org", "GET", "/", "bazz", "foo")
}

fn hidden_verified() -> VerifiedPresentation {
    verify(&hidden(), &config()).expect("hidden fixture verifies")
}

fn apply(t: &ProofTemplate, v: &VerifiedPresentation) -> Result<TemplateMatch, TemplateError> {
    t.apply(v, TIME + 60)
}

// --- the upstream fixture ---------------------------------------------------

#[test]
fn the_hidden_fixture_fits_its_template_and_yields_uid_and_commitment() {
    let m = apply(&fixture_template(), &hidden_verified()).expect("fits");
    assert_eq!(m.uid, "bar");
    assert_eq!(m.server_name, "tlsnotary.org");
    assert_eq!(m.time, TIME);
    assert_eq!(m.notary_key, notary_key());
    let [value] = m.values.as_slice() else { panic!("one value: {:?}", m.values) };
    assert_eq!(value.field.to_string(), "bazz");
    assert_eq!(value.range, 122..125);
    assert_eq!(value.commitment.direction, Direction::Received);
    assert_eq!(value.commitment.ranges, vec![122..125]);
    assert_eq!(value.commitment.alg, HashAlg::Blake3);
    let secret = String::from_utf8(read("hidden/secret.json")).expect("utf8");
    assert_eq!(hex::encode(value.commitment.hash), json_str(&secret, "commitment_hex"));
    let blinder: [u8; 16] = hex::decode(json_str(&secret, "blinder_hex")).expect("hex").try_into().expect("16 bytes");
    let prover = ProverSecret { value: b"123".to_vec(), blinder: Blinder(blinder) };
    assert_eq!(check_commitment(&value.commitment, &prover), Ok(()));
}

#[test]
fn a_presentation_for_another_server_is_rejected() {
    let t = template("exchange.triad.test", "GET", "/", "bazz", "foo");
    assert_eq!(
        apply(&t, &hidden_verified()),
        Err(TemplateError::WrongServer { expected: "exchange.triad.test".into(), found: "tlsnotary.org".into() })
    );
}

#[test]
fn an_unpinned_notary_is_rejected() {
    let other = triad_notary::NotaryKey::secp256k1_from_secret(&[7; 32]).expect("key");
    let mut t = fixture_template();
    t.notary_keys = vec![other];
    assert!(matches!(apply(&t, &hidden_verified()), Err(TemplateError::UntrustedNotary(_))));
}

#[test]
fn freshness_is_a_window_ending_now_with_a_small_skew() {
    let t = fixture_template();
    let v = hidden_verified();
    assert!(t.apply(&v, TIME).is_ok());
    assert!(t.apply(&v, TIME + 3600).is_ok());
    assert_eq!(t.apply(&v, TIME + 3601), Err(TemplateError::Stale { time: TIME, now: TIME + 3601, window: 3600 }));
    assert!(t.apply(&v, TIME - 60).is_ok());
    assert_eq!(t.apply(&v, TIME - 61), Err(TemplateError::FromTheFuture { time: TIME, now: TIME - 61, skew: 60 }));
}

#[test]
fn a_different_request_line_is_rejected() {
    let v = hidden_verified();
    for (method, path) in [("GET", "/api"), ("POST", "/"), ("GET", "/?a=1")] {
        let t = template("tlsnotary.org", method, path, "bazz", "foo");
        assert_eq!(
            apply(&t, &v),
            Err(TemplateError::WrongRequest {
                expected: format!("{method} {path} HTTP/1.1"),
                found: "GET / HTTP/1.1".into(),
            })
        );
    }
}

#[test]
fn a_fully_disclosed_presentation_has_no_hidden_value() {
    let v = verify(&full(), &config()).expect("verifies");
    assert_eq!(apply(&fixture_template(), &v), Err(TemplateError::NoHiddenValue));
}

#[test]
fn the_hidden_range_must_be_the_named_fields_value() {
    let v = hidden_verified();
    // The named field is disclosed.
    let t = template("tlsnotary.org", "GET", "/", "foo", "buzz");
    assert_eq!(apply(&t, &v), Err(TemplateError::ValueDisclosed("foo".into())));
    // The hole is the value of another field.
    let t = template("tlsnotary.org", "GET", "/", "nothere", "foo");
    assert!(matches!(apply(&t, &v), Err(TemplateError::HiddenRangeIsNotTheValue { .. })));
}

#[test]
fn the_uid_must_be_disclosed_present_and_a_string_or_number() {
    let v = hidden_verified();
    assert_eq!(
        apply(&template("tlsnotary.org", "GET", "/", "buzz", "bazz"), &v),
        Err(TemplateError::UidNotDisclosed("bazz".into()))
    );
    assert_eq!(
        apply(&template("tlsnotary.org", "GET", "/", "bazz", "nope"), &v),
        Err(TemplateError::UidFieldMissing("nope".into()))
    );
    assert_eq!(
        apply(&template("tlsnotary.org", "GET", "/", "bazz", "buzz"), &v),
        Err(TemplateError::UidNotAString("buzz".into()))
    );
}

#[test]
fn json_paths_must_have_non_empty_segments() {
    for bad in ["", ".", "a.", ".a", "a..b"] {
        assert_eq!(
            ProofTemplate::new("x", "GET", "/", &[bad], "uid", 1, vec![]),
            Err(TemplateError::InvalidJsonPath(bad.into()))
        );
    }
}

// --- re-notarised variants ----------------------------------------------------

const SENT: &[u8] = b"GET /api/v1/balance HTTP/1.1\r\nHost: exchange.triad.test\r\n\r\n";

fn response(body: &str) -> Vec<u8> {
    format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len())
        .into_bytes()
}

fn complement(set: &[Range<usize>], total: usize) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut at = 0;
    for r in set {
        if r.start > at {
            out.push(at..r.start);
        }
        at = r.end;
    }
    if at < total {
        out.push(at..total);
    }
    out
}

fn range_set(ranges: &[Range<usize>]) -> wire::RangeSet {
    wire::RangeSet { ranges: ranges.iter().map(|r| wire::Range { start: r.start as u64, end: r.end as u64 }).collect() }
}

fn gather(data: &[u8], ranges: &[Range<usize>]) -> Vec<u8> {
    ranges.iter().flat_map(|r| data[r.clone()].to_vec()).collect()
}

/// The full fixture with its transcript replaced: `sent` fully disclosed,
/// `received` disclosed except `hidden`, one unopened BLAKE3 commitment per
/// entry of `unopened`; resealed with the fixture key.
fn notarise(received: &[u8], hidden: &[Range<usize>], unopened: &[Vec<Range<usize>>]) -> VerifiedPresentation {
    let mut p = decode(&full());
    let blinder = Blinder([9; 16]);
    let disclosed = complement(hidden, received.len());
    let commit = |direction, data: &[u8], ranges: &[Range<usize>]| wire::PlaintextHash {
        direction,
        idx: range_set(ranges),
        hash: wire::TypedHash {
            alg: HashAlg::Blake3.id(),
            value: wire::HashValue(plaintext_hash(HashAlg::Blake3, &gather(data, ranges), &blinder).to_vec()),
        },
    };
    let mut commitments =
        vec![commit(Direction::Sent, SENT, &[0..SENT.len()]), commit(Direction::Received, received, &disclosed)];
    commitments.extend(unopened.iter().map(|r| commit(Direction::Received, received, r)));
    let secret = |direction, ranges: &[Range<usize>]| wire::PlaintextHashSecret {
        direction,
        idx: range_set(ranges),
        alg: HashAlg::Blake3.id(),
        blinder: blinder.0,
    };

    let body = &mut p.attestation.body.body;
    body.connection_info.data.transcript_length =
        wire::TranscriptLength { sent: SENT.len() as u32, received: received.len() as u32 };
    let first_id = 4 + body.extensions.len() as u32;
    body.transcript_commitments = commitments
        .into_iter()
        .zip(first_id..)
        .map(|(c, id)| wire::Field { id, data: wire::TranscriptCommitment::Hash(c) })
        .collect();
    p.transcript = Some(wire::TranscriptProof {
        transcript: wire::CompressedPartialTranscript {
            sent_authed: SENT.to_vec(),
            received_authed: gather(received, &disclosed),
            sent_idx: range_set(&[0..SENT.len()]),
            recv_idx: range_set(&disclosed),
            sent_total: SENT.len() as u64,
            recv_total: received.len() as u64,
        },
        hash_secrets: vec![secret(Direction::Sent, &[0..SENT.len()]), secret(Direction::Received, &disclosed)],
    });
    reseal_secp256k1(&mut p.attestation, &NOTARY_SECRET).expect("reseal");
    verify_decoded(&p, &config()).expect("re-notarised presentation verifies")
}

/// `received` with exactly the bytes of the last `needle` hidden and committed.
fn hiding(received: &[u8], needle: &str) -> (VerifiedPresentation, Range<usize>) {
    let start = received.windows(needle.len()).rposition(|w| w == needle.as_bytes()).expect("needle in response");
    let r = start..start + needle.len();
    (notarise(received, std::slice::from_ref(&r), &[vec![r.clone()]]), r)
}

fn exchange_template(value: &str, uid: &str) -> ProofTemplate {
    template("tlsnotary.org", "GET", "/api/v1/balance", value, uid)
}

const BODY: &str = r#"{"uid":"u-123","balance":12.345,"asset":"ETH"}"#;

#[test]
fn an_exchange_response_with_the_balance_hidden_fits() {
    let received = response(BODY);
    let (v, r) = hiding(&received, "12.345");
    let m = apply(&exchange_template("balance", "uid"), &v).expect("fits");
    assert_eq!(m.uid, "u-123");
    assert_eq!(m.values.len(), 1);
    assert_eq!(m.values[0].range, r);
    let secret = ProverSecret { value: b"12.345".to_vec(), blinder: Blinder([9; 16]) };
    assert_eq!(check_commitment(&m.values[0].commitment, &secret), Ok(()));
}

#[test]
fn nested_paths_whitespace_escapes_and_numeric_uids_are_understood() {
    let body = "{ \"data\" : { \"u\\u0069d\" : 42 , \"balance\" :\n 7 } , \"balance\": \"x\" }\r\n";
    let received = response(body);
    let (v, _) = hiding(&received, "7");
    let m = apply(&exchange_template("data.balance", "data.uid"), &v).expect("fits");
    assert_eq!(m.uid, "42");
    // The top-level `balance` is a different field.
    assert!(matches!(
        apply(&exchange_template("balance", "data.uid"), &v),
        Err(TemplateError::HiddenRangeIsNotTheValue { .. })
    ));
}

#[test]
fn a_hidden_range_that_is_more_or_less_than_the_value_is_rejected() {
    let received = response(BODY);
    let at = BODY.find("12.345").expect("value") + received.len() - BODY.len();
    let t = exchange_template("balance", "uid");
    for r in [
        at - 1..at + 6, // with the colon
        at + 1..at + 6, // without the first digit
        at..at + 5,     // without the last digit
        at..at + 7,     // with the comma
    ] {
        let v = notarise(&received, std::slice::from_ref(&r), &[vec![r.clone()]]);
        assert!(
            matches!(apply(&t, &v), Err(TemplateError::HiddenRangeIsNotTheValue { .. })),
            "{r:?}: {:?}",
            apply(&t, &v)
        );
    }
}

#[test]
fn hidden_bytes_outside_the_commitment_are_rejected() {
    let received = response(BODY);
    let (_, r) = hiding(&received, "12.345");
    let also = 0..4; // "HTTP", hidden without a commitment
    let v = notarise(&received, &[also.clone(), r.clone()], &[vec![r.clone()]]);
    assert_eq!(
        apply(&exchange_template("balance", "uid"), &v),
        Err(TemplateError::HiddenBytesNotCommitted { hidden: vec![also, r.clone()], committed: vec![r] })
    );
}

#[test]
fn a_hidden_header_is_not_the_value() {
    let received = response(BODY);
    let (v, _) = hiding(&received, "application/json");
    assert!(matches!(
        apply(&exchange_template("balance", "uid"), &v),
        Err(TemplateError::HiddenRangeIsNotTheValue { .. })
    ));
}

#[test]
fn two_hidden_values_are_rejected() {
    let received = response(r#"{"uid":"u","balance":1,"other":2}"#);
    let find = |s: &str| {
        let i = received.windows(s.len()).position(|w| w == s.as_bytes()).expect("in response");
        i..i + s.len()
    };
    let (a, b) = (find(":1,").start + 1..find(":1,").start + 2, find(":2}").start + 1..find(":2}").start + 2);
    let v = notarise(&received, &[a.clone(), b.clone()], &[vec![a], vec![b]]);
    assert_eq!(
        apply(&exchange_template("balance", "uid"), &v),
        Err(TemplateError::HiddenValueCount { expected: 1, found: 2 })
    );
}

#[test]
fn duplicate_fields_are_rejected() {
    let received = response(r#"{"uid":"a","balance":1,"uid":"b"}"#);
    let (v, _) = hiding(&received, "1");
    assert_eq!(apply(&exchange_template("balance", "uid"), &v), Err(TemplateError::DuplicateField("uid".into())));
    let received = response(r#"{"uid":"a","balance":1,"balance":2}"#);
    let (v, _) = hiding(&received, "1");
    assert_eq!(apply(&exchange_template("balance", "uid"), &v), Err(TemplateError::DuplicateField("balance".into())));
}

#[test]
fn a_long_hidden_value_is_rejected() {
    let digits = "1".repeat(33);
    let received = response(&format!(r#"{{"uid":"a","balance":{digits}}}"#));
    let (v, _) = hiding(&received, &digits);
    assert_eq!(
        apply(&exchange_template("balance", "uid"), &v),
        Err(TemplateError::ValueTooLong { field: "balance".into(), len: 33, max: 32 })
    );
}

#[test]
fn responses_other_than_200_with_a_content_length_body_are_rejected() {
    let t = exchange_template("balance", "uid");
    let not_found = [b"HTTP/1.1 404 Not Found".as_slice(), &response(BODY)[15..]].concat();
    let (v, _) = hiding(&not_found, "12.345");
    assert_eq!(apply(&t, &v), Err(TemplateError::UnexpectedStatus("HTTP/1.1 404 Not Found".into())));

    let no_length = format!("HTTP/1.1 200 OK\r\n\r\n{BODY}").into_bytes();
    let (v, _) = hiding(&no_length, "12.345");
    assert!(matches!(apply(&t, &v), Err(TemplateError::MalformedResponse(_))));

    let trailing = [response(BODY), b"HTTP/1.1 200 OK".to_vec()].concat();
    let (v, _) = hiding(&trailing, "12.345");
    assert!(matches!(apply(&t, &v), Err(TemplateError::MalformedResponse(_))));
}

#[test]
fn among_all_short_hidden_ranges_only_the_exact_value_fits() {
    let received = response(BODY);
    let body_start = received.len() - BODY.len();
    let value = body_start + BODY.find("12.345").expect("value");
    let t = exchange_template("balance", "uid");
    let mut fits = Vec::new();
    for start in body_start - 4..received.len() {
        for end in start + 1..(start + 9).min(received.len() + 1) {
            let r = start..end;
            let v = notarise(&received, std::slice::from_ref(&r), &[vec![r.clone()]]);
            if apply(&t, &v).is_ok() {
                fits.push(r);
            }
        }
    }
    assert_eq!(fits, vec![value..value + 6]);
}

#[test]
fn a_template_needs_a_well_formed_method_and_path() {
    for (method, path) in [("get", "/"), ("", "/"), ("GET", ""), ("GET", "x"), ("GET", "/a b"), ("GET", "/\r\n")] {
        assert!(
            matches!(
                ProofTemplate::new("x", method, path, &["v"], "u", 1, vec![]),
                Err(TemplateError::InvalidRequest(_))
            ),
            "{method:?} {path:?}"
        );
    }
}

#[test]
fn a_template_spec_from_configuration_becomes_a_template() {
    let json = serde_json::json!({
        "server_name": "tlsnotary.org", "method": "GET", "path": "/",
        "value_fields": ["bazz"], "uid_field": "foo", "freshness_secs": 3600,
        "max_clock_skew_secs": 5,
        "notary_keys": [notary_key().to_string()],
    });
    let spec: triad_notary::TemplateSpec = serde_json::from_value(json.clone()).expect("spec");
    let t = ProofTemplate::try_from(spec).expect("template");
    assert_eq!(t.max_clock_skew_secs, 5);
    assert_eq!(t.max_value_len, 32);
    assert_eq!(apply(&t, &hidden_verified()).expect("fits").uid, "bar");

    let mut bad = json.clone();
    bad["notary_keys"] = serde_json::json!(["secp256k1:zz"]);
    let spec: triad_notary::TemplateSpec = serde_json::from_value(bad).expect("spec");
    assert!(matches!(ProofTemplate::try_from(spec), Err(TemplateError::InvalidNotaryKey { .. })));
    let mut twice = json.clone();
    twice["value_fields"] = serde_json::json!(["bazz", "bazz"]);
    let spec: triad_notary::TemplateSpec = serde_json::from_value(twice).expect("spec");
    assert_eq!(ProofTemplate::try_from(spec), Err(TemplateError::DuplicateTemplateField("bazz".into())));
    let mut old_shape = json.clone();
    old_shape.as_object_mut().expect("object").remove("value_fields");
    old_shape["value_field"] = "bazz".into();
    assert!(serde_json::from_value::<triad_notary::TemplateSpec>(old_shape).is_err());
    let mut unknown = json;
    unknown["extra"] = 1.into();
    assert!(serde_json::from_value::<triad_notary::TemplateSpec>(unknown).is_err());
}

// --- several value fields -------------------------------------------------------

fn fields_template(fields: &[&str]) -> ProofTemplate {
    ProofTemplate::new("tlsnotary.org", "GET", "/api/v1/balance", fields, "uid", 3600, vec![notary_key()])
        .expect("valid template")
}

/// The range of the value (string or number token) after `"key":` in `received`.
fn value_of(received: &[u8], key: &str) -> Range<usize> {
    let pattern = format!("\"{key}\":");
    let at =
        received.windows(pattern.len()).position(|w| w == pattern.as_bytes()).expect("key in response") + pattern.len();
    let len = received[at..].iter().position(|b| matches!(b, b',' | b'}')).expect("value ends");
    at..at + len
}

/// `received` with the values of `keys` hidden, each behind its own
/// commitment; commitments are attested in the reverse of `keys`' order.
fn hiding_values(received: &[u8], keys: &[&str]) -> (VerifiedPresentation, Vec<Range<usize>>) {
    let ranges: Vec<Range<usize>> = keys.iter().map(|k| value_of(received, k)).collect();
    let mut hidden = ranges.clone();
    hidden.sort_by_key(|r| r.start);
    let unopened: Vec<Vec<Range<usize>>> = ranges.iter().rev().map(|r| vec![r.clone()]).collect();
    (notarise(received, &hidden, &unopened), ranges)
}

const TWO: &str = r#"{"uid":"u-123","balance":12.345,"trades":17,"fees":0.5,"asset":"ETH"}"#;
const TWO_SWAPPED: &str = r#"{"uid":"u-123","trades":17,"balance":12.345,"fees":0.5,"asset":"ETH"}"#;

#[test]
fn two_hidden_values_come_back_in_the_templates_order_whatever_the_jsons() {
    for body in [TWO, TWO_SWAPPED] {
        let received = response(body);
        let (v, ranges) = hiding_values(&received, &["balance", "trades"]);
        for order in [["balance", "trades"], ["trades", "balance"]] {
            let m = apply(&fields_template(&order), &v).unwrap_or_else(|e| panic!("{body} {order:?}: {e}"));
            assert_eq!(m.uid, "u-123");
            let fields: Vec<String> = m.values.iter().map(|h| h.field.to_string()).collect();
            assert_eq!(fields, order);
            for h in &m.values {
                let (range, digits) = match h.field.to_string().as_str() {
                    "balance" => (&ranges[0], b"12.345".as_slice()),
                    _ => (&ranges[1], b"17".as_slice()),
                };
                assert_eq!(&h.range, range);
                assert_eq!(h.commitment.ranges, vec![range.clone()]);
                let secret = ProverSecret { value: digits.to_vec(), blinder: Blinder([9; 16]) };
                assert_eq!(check_commitment(&h.commitment, &secret), Ok(()), "{}", h.field);
            }
        }
    }
}

#[test]
fn hiding_only_one_of_two_fields_is_rejected() {
    let received = response(TWO);
    let t = fields_template(&["balance", "trades"]);
    for key in ["balance", "trades"] {
        let (v, _) = hiding_values(&received, &[key]);
        assert_eq!(apply(&t, &v), Err(TemplateError::HiddenValueCount { expected: 2, found: 1 }));
    }
    // Two holes, but one is another field's: the second value field is disclosed.
    let (v, _) = hiding_values(&received, &["balance", "fees"]);
    assert_eq!(apply(&t, &v), Err(TemplateError::ValueDisclosed("trades".into())));
}

#[test]
fn an_extra_hidden_commitment_is_rejected() {
    let received = response(TWO);
    let t = fields_template(&["balance", "trades"]);
    let (v, _) = hiding_values(&received, &["balance", "trades", "fees"]);
    assert_eq!(apply(&t, &v), Err(TemplateError::HiddenValueCount { expected: 2, found: 3 }));

    // The right count, but one hole is not a value field of the template.
    let t = fields_template(&["balance", "fees"]);
    let (v, ranges) = hiding_values(&received, &["balance", "trades"]);
    let trades = &ranges[1];
    assert_eq!(
        apply(&t, &v),
        Err(TemplateError::HiddenRangeIsNotTheValue {
            field: "balance or fees".into(),
            reason: format!("the hidden bytes {}..{} are not the value of balance or fees", trades.start, trades.end),
        })
    );

    // Two commitments to the same range, or one commitment to both ranges.
    let t = fields_template(&["balance", "trades"]);
    let (b, tr) = (value_of(&received, "balance"), value_of(&received, "trades"));
    let v = notarise(&received, std::slice::from_ref(&b), &[vec![b.clone()], vec![b.clone()]]);
    assert_eq!(
        apply(&t, &v),
        Err(TemplateError::HiddenBytesNotCommitted { hidden: vec![b.clone()], committed: vec![b.clone(), b.clone()] })
    );
    let v = notarise(&received, &[b.clone(), tr.clone()], &[vec![b.clone(), tr.clone()], vec![b.clone()]]);
    assert!(matches!(apply(&t, &v), Err(TemplateError::HiddenBytesNotCommitted { .. })));
    // Hidden bytes that no commitment covers besides the two values.
    let v = notarise(&received, &[0..4, b.clone(), tr.clone()], &[vec![b.clone()], vec![tr.clone()]]);
    assert_eq!(
        apply(&t, &v),
        Err(TemplateError::HiddenBytesNotCommitted {
            hidden: vec![0..4, b.clone(), tr.clone()],
            committed: vec![b, tr]
        })
    );
}

#[test]
fn a_hole_on_the_uid_is_rejected() {
    let received = response(TWO);
    let t = fields_template(&["balance", "trades"]);
    let (v, _) = hiding_values(&received, &["uid", "balance"]);
    assert_eq!(apply(&t, &v), Err(TemplateError::UidNotDisclosed("uid".into())));
}

#[test]
fn a_repeated_key_with_both_values_hidden_is_rejected() {
    let received = response(r#"{"uid":"u","balance":1,"balance":3,"trades":2}"#);
    let first = value_of(&received, "balance");
    let second = {
        let at = received.windows(3).rposition(|w| w == b":3,").expect("second balance") + 1;
        at..at + 1
    };
    let v = notarise(&received, &[first.clone(), second.clone()], &[vec![first], vec![second]]);
    assert_eq!(
        apply(&fields_template(&["balance", "trades"]), &v),
        Err(TemplateError::DuplicateField("balance".into()))
    );
}

#[test]
fn each_hidden_value_has_the_length_limit_and_names_its_field() {
    let digits = "1".repeat(33);
    let received = response(&format!(r#"{{"uid":"u","balance":1,"trades":{digits}}}"#));
    let (v, _) = hiding_values(&received, &["balance", "trades"]);
    assert_eq!(
        apply(&fields_template(&["balance", "trades"]), &v),
        Err(TemplateError::ValueTooLong { field: "trades".into(), len: 33, max: 32 })
    );
}

#[test]
fn with_one_value_fixed_only_the_exact_second_value_fits() {
    let received = response(TWO);
    let balance = value_of(&received, "balance");
    let trades = value_of(&received, "trades");
    let t = fields_template(&["balance", "trades"]);
    let mut fits = Vec::new();
    for start in balance.end + 1..received.len() {
        for end in start + 1..(start + 6).min(received.len() + 1) {
            let r = start..end;
            let v = notarise(&received, &[balance.clone(), r.clone()], &[vec![balance.clone()], vec![r.clone()]]);
            if apply(&t, &v).is_ok() {
                fits.push(r);
            }
        }
    }
    assert_eq!(fits, vec![trades]);
}

#[test]
fn template_fields_must_be_distinct_and_not_nested() {
    let new = |fields: &[&str], uid: &str| ProofTemplate::new("x", "GET", "/", fields, uid, 1, vec![]);
    let nested = |outer: &str, inner: &str| {
        Err(TemplateError::NestedTemplateFields { outer: outer.into(), inner: inner.into() })
    };
    assert_eq!(new(&["balance", "balance"], "uid"), Err(TemplateError::DuplicateTemplateField("balance".into())));
    assert_eq!(new(&["balance"], "balance"), Err(TemplateError::DuplicateTemplateField("balance".into())));
    assert_eq!(new(&["data", "data.balance"], "uid"), nested("data", "data.balance"));
    assert_eq!(new(&["data.balance", "data"], "uid"), nested("data", "data.balance"));
    assert_eq!(new(&["uid.balance"], "uid"), nested("uid", "uid.balance"));
    assert_eq!(new(&["data"], "data.uid"), nested("data", "data.uid"));
    assert!(new(&["data.balance", "data.trades", "balance"], "data.uid").is_ok());
    assert!(new(&["bal", "balance"], "uid").is_ok(), "a name prefix is not a path prefix");

    assert_eq!(new(&[], "uid"), Err(TemplateError::ValueFieldCount(0)));
    let names: Vec<String> = (0..=MAX_VALUE_FIELDS).map(|i| format!("v{i}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    assert!(new(&names[..MAX_VALUE_FIELDS], "uid").is_ok());
    assert_eq!(new(&names, "uid"), Err(TemplateError::ValueFieldCount(MAX_VALUE_FIELDS + 1)));

    // A template assembled field by field is checked when applied.
    let mut t = fields_template(&["balance", "trades"]);
    t.value_fields.push(t.uid_field.clone());
    assert_eq!(apply(&t, &hidden_verified()), Err(TemplateError::DuplicateTemplateField("uid".into())));
}
