use crate::bus::{BusNames, ConsumerSpec, subject_matches};
use crate::model::{EventData, RecordedEvent, snake_case, stream_category, validate_stream, validate_token};

#[test]
fn subjects_follow_nats_wildcards() {
    assert!(subject_matches("triad.coordinator.>", "triad.coordinator.contribution.contribution_submitted"));
    assert!(subject_matches(
        "triad.coordinator.contribution.*",
        "triad.coordinator.contribution.contribution_accepted"
    ));
    assert!(!subject_matches("triad.coordinator.contribution.*", "triad.coordinator.query.query_requested"));
    assert!(!subject_matches("triad.coordinator.>", "triad.coordinator"), "> needs at least one token");
    assert!(!subject_matches("triad.*", "triad.coordinator.x"), "* is one token");
    assert!(subject_matches("a.b", "a.b"));
    assert!(!subject_matches("a.b", "a.b.c"));
}

#[test]
fn an_event_s_subject_names_service_category_and_type() {
    let e = RecordedEvent {
        service: "coordinator".into(),
        stream: "contribution-0189abcd".into(),
        version: 1,
        position: 7,
        data: EventData::new("ContributionSubmitted", vec![]),
    };
    let names = BusNames::default();
    assert_eq!(names.subject(&e), "triad.coordinator.contribution.contribution_submitted");
    assert_eq!(names.stream("coordinator"), "TRIAD_COORDINATOR");
    let spec = ConsumerSpec::new("projector", "coordinator").with_filter("contribution.*");
    assert_eq!(names.filter(&spec), "triad.coordinator.contribution.*");
    assert_eq!(BusNames::prefixed("t1").stream("party_0"), "T1_PARTY_0");
}

#[test]
fn names_are_checked_before_they_reach_a_subject() {
    assert!(validate_stream("dataset-eth_balance").is_ok());
    assert!(validate_stream("dataset-a-b").is_ok(), "the id may contain dashes");
    assert_eq!(stream_category("dataset-a-b"), "dataset");
    for bad in ["nodash", "-id", "Data-x", "data.set-x", "data-", "data-a b", "data-a\nb"] {
        assert!(validate_stream(bad).is_err(), "{bad:?} must be rejected");
    }
    assert!(validate_token("service", "party_0").is_ok());
    for bad in ["", "Party", "a.b", "a>b", "a*", &"x".repeat(65)] {
        assert!(validate_token("service", bad).is_err(), "{bad:?} must be rejected");
    }
    assert_eq!(snake_case("ResultPublished"), "result_published");
    assert_eq!(snake_case("KeyGenerated"), "key_generated");
}
