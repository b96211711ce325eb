//! Threshold signing, driven from the coordinator's log (`docs/protocols/signing.md` §5).
//!
//! The coordinator asks; the parties run the sessions over the signing transport and report.
//! Each request is a stream `signing-<id>`: a `SigningRequested` per attempt (a new session id,
//! participants chosen among the parties that are up), the parties' reports copied under
//! `ExpectedVersion::Exact`, and the outcome:
//! - keygen: the three parties report one key → `KeyGenerated` in `network-key`;
//! - refresh: the three report the same public key at the new epoch → `KeyRefreshed` there;
//! - sign: a signer's signature verifies under the expected derived key → the coordinator's
//!   `Signed` record, and for a result its `ResultPublished` with the signature.
//!
//! An attempt with an abort, a disagreement or no outcome within the timeout is retried with a
//! new session; a signature request gives up after `signing_max_attempts` (a result's query is
//! then finally aborted), the key generation never does.

use tracing::{info, warn};
use triad_eventlog::{Append, ExpectedVersion};
use triad_network::{SIGN_KEYGEN, SIGN_REFRESH, SIGN_SIGN, event, streams};
use triad_proto::events::v1::{self as ev, event::Kind};

use crate::CoordinatorConfig;
use crate::state::{Signing, SigningReport, State};

/// The two signers of attempt `attempt` among the parties `up`: the pairs of up parties in a
/// fixed order, rotated by the attempt (a pair that failed is not asked first again).
pub(crate) fn signers(up: [bool; 3], attempt: u32) -> Option<Vec<u32>> {
    let pairs: Vec<[u32; 2]> =
        [[0, 1], [1, 2], [0, 2]].into_iter().filter(|[a, b]| up[*a as usize] && up[*b as usize]).collect();
    if pairs.is_empty() {
        return None;
    }
    let i = (attempt.saturating_sub(1) as usize) % pairs.len();
    Some(pairs[i].to_vec())
}

/// A fresh 32-byte signing session id.
pub(crate) fn session_id() -> Result<Vec<u8>, getrandom::Error> {
    let mut id = [0u8; 32];
    getrandom::fill(&mut id)?;
    Ok(id.to_vec())
}

/// The key a signature of `r` must verify under (SEC1 compressed), from the network key.
pub(crate) fn expected_key(st: &State, r: &ev::SigningRequested) -> Result<[u8; 33], String> {
    let key = st.network_key.as_ref().ok_or("the network has no key yet")?;
    let network = triad_signing::NetworkKey {
        public_key: key.public_key.as_slice().try_into().map_err(|_| "a malformed network key")?,
        chain_code: key.chain_code.as_slice().try_into().map_err(|_| "a malformed chain code")?,
    };
    let derived =
        if !r.dataset_id.is_empty() { network.dataset_key(&r.dataset_id) } else { network.request_key(&r.path) };
    derived.map(|k| k.public_key).map_err(|e| e.to_string())
}

/// The appends that record party `party`'s signing report `report` (nothing for an unknown or
/// finished request, a stale attempt or a second report), with the outcome if it decides the
/// request.
pub(crate) fn record_report(st: &State, network_id: &str, party: u32, report: Kind) -> Vec<Append> {
    let request_id = match &report {
        Kind::KeyGenerated(k) => k.request_id.clone(),
        Kind::KeyRefreshed(r) => r.request_id.clone(),
        Kind::Signed(s) => s.request_id.clone(),
        Kind::SigningAborted(a) => a.request_id.clone(),
        _ => return Vec::new(),
    };
    let Some(s) = st.signings.get(&request_id) else { return Vec::new() };
    let Ok(i) = usize::try_from(party) else { return Vec::new() };
    let session = s.attempt.session_id.as_slice();
    let current = match &report {
        Kind::KeyGenerated(k) => k.key_id == session && s.attempt.purpose == SIGN_KEYGEN,
        Kind::KeyRefreshed(r) => r.session_id == session && s.attempt.purpose == SIGN_REFRESH,
        Kind::Signed(x) => x.session_id == session && s.attempt.purpose == SIGN_SIGN,
        Kind::SigningAborted(a) => a.session_id == session,
        _ => false,
    };
    if s.done || !current || i >= 3 || s.reports[i].is_some() || !s.attempt.participants.contains(&party) {
        return Vec::new();
    }
    let stream = streams::signing(&request_id);
    let at = ExpectedVersion::Exact(s.version);
    match report {
        Kind::Signed(x) => {
            let checked = expected_key(st, &s.attempt).and_then(|key| {
                if x.digest != s.attempt.digest || x.public_key != key {
                    return Err("signed another digest or under another key".to_owned());
                }
                let digest: [u8; 32] = x.digest.as_slice().try_into().map_err(|_| "a digest of the wrong length")?;
                triad_signing::verify_digest(&key, &digest, &x.signature).map_err(|e| e.to_string())
            });
            if let Err(reason) = checked {
                warn!(request = %hex::encode(&request_id), party, %reason, "a signature that does not verify");
                let abort = ev::SigningAborted {
                    request_id: request_id.clone(),
                    session_id: x.session_id.clone(),
                    party: Some(party),
                    reason: format!("party {party}'s signature does not verify: {reason}"),
                    blamed_party: Some(party),
                    r#final: false,
                };
                return vec![Append::new(stream, at, vec![event(Kind::SigningAborted(abort))])];
            }
            let record = ev::Signed { party: None, ..x.clone() };
            let mut appends =
                vec![Append::new(stream, at, vec![event(Kind::Signed(x)), event(Kind::Signed(record.clone()))])];
            if !s.attempt.query_id.is_empty() {
                appends.extend(publish(st, network_id, &s.attempt, &record));
            }
            info!(request = %hex::encode(&request_id), "signed");
            appends
        }
        Kind::KeyGenerated(k) => {
            let mut reports = s.reports.clone();
            reports[i] = Some(SigningReport::KeyGenerated(k.clone()));
            let mut appends = vec![Append::new(stream, at, vec![event(Kind::KeyGenerated(k.clone()))])];
            let keys: Vec<&ev::KeyGenerated> = reports
                .iter()
                .filter_map(|r| match r {
                    Some(SigningReport::KeyGenerated(k)) => Some(k),
                    _ => None,
                })
                .collect();
            if keys.len() == 3
                && keys.iter().all(|x| x.public_key == k.public_key && x.chain_code == k.chain_code)
                && st.network_key.is_none()
            {
                info!(key = %hex::encode(&k.public_key), "the network key is made");
                let record = ev::KeyGenerated { party: None, threshold: 2, ..k };
                appends.push(Append::new(
                    streams::NETWORK_KEY,
                    ExpectedVersion::NoStream,
                    vec![event(Kind::KeyGenerated(record))],
                ));
            }
            appends
        }
        Kind::KeyRefreshed(r) => {
            let mut reports = s.reports.clone();
            reports[i] = Some(SigningReport::Refreshed(r.clone()));
            let mut appends = vec![Append::new(stream, at, vec![event(Kind::KeyRefreshed(r.clone()))])];
            let same_key = st.network_key.as_ref().is_some_and(|key| key.public_key == r.public_key);
            let all = reports.iter().all(|x| {
                matches!(x, Some(SigningReport::Refreshed(o)) if o.public_key == r.public_key && o.epoch == s.attempt.epoch)
            });
            if all && same_key {
                info!(epoch = r.epoch, "the key shares are refreshed");
                let record = ev::KeyRefreshed { party: None, ..r };
                appends.push(Append::new(
                    streams::NETWORK_KEY,
                    ExpectedVersion::Any,
                    vec![event(Kind::KeyRefreshed(record))],
                ));
            }
            appends
        }
        Kind::SigningAborted(a) => {
            warn!(request = %hex::encode(&request_id), party, reason = %a.reason, blamed = ?a.blamed_party, "a signing attempt aborted");
            vec![Append::new(stream, at, vec![event(Kind::SigningAborted(a))])]
        }
        _ => Vec::new(),
    }
}

/// The result of a signed query, published with its signature (the fields of the statement
/// the signature covers, `network_id` included).
fn publish(st: &State, network_id: &str, r: &ev::SigningRequested, signed: &ev::Signed) -> Option<Append> {
    let (q, session, computed) = agreed(st, &r.query_id)?;
    let rows = session.started.iter().flatten().map(|q| q.cohort).next().unwrap_or(0);
    let published = ev::ResultPublished {
        query_id: r.query_id.clone(),
        dataset_id: session.opened.dataset_id.clone(),
        snapshot: session.opened.snapshot,
        sql: q.sql.clone(),
        values: computed.values.clone(),
        signed_message: computed.signed_message.clone(),
        signature: signed.signature.clone(),
        public_key: signed.public_key.clone(),
        network_id: network_id.to_owned(),
        rows,
    };
    info!(query = %hex::encode(&r.query_id), "result published");
    Some(Append::new(
        streams::query(&r.query_id),
        ExpectedVersion::Exact(1),
        vec![event(Kind::ResultPublished(published))],
    ))
}

/// Whether the newest attempt of `s` has failed (an abort, a disagreement, or no outcome by
/// `timeout_micros`).
fn attempt_failed(s: &Signing, now_micros: i64, timeout_micros: i64) -> Option<String> {
    if let Some(SigningReport::Aborted(a)) = s.reports.iter().flatten().find(|r| matches!(r, SigningReport::Aborted(_)))
    {
        return Some(a.reason.clone());
    }
    let reports = s.reports.iter().flatten().count();
    if s.attempt.purpose != SIGN_SIGN && reports == 3 {
        return Some("the parties reported different keys".into());
    }
    (now_micros.saturating_sub(s.attempt_at_micros) > timeout_micros)
        .then(|| format!("no outcome within {} s", timeout_micros / 1_000_000))
}

/// What the scheduler appends for signing now: the key generation once all three parties are
/// up, a signature request for each agreed result, a scheduled refresh, and the next attempt
/// (or the end) of each failed one.
pub(crate) fn step(
    st: &State,
    config: &CoordinatorConfig,
    up: [bool; 3],
    now_micros: i64,
) -> Result<Vec<Append>, getrandom::Error> {
    let mut appends = Vec::new();
    let timeout = i64::try_from(config.signing_timeout_secs.saturating_mul(1_000_000)).unwrap_or(i64::MAX);
    // Retries and give-ups.
    for (id, s) in &st.signings {
        if s.done {
            continue;
        }
        let Some(reason) = attempt_failed(s, now_micros, timeout) else { continue };
        let attempt = s.attempt.attempt + 1;
        let at = ExpectedVersion::Exact(s.version);
        if s.attempt.purpose == SIGN_SIGN && s.attempt.attempt >= config.signing_max_attempts {
            warn!(request = %hex::encode(id), %reason, "signing given up");
            let abort = ev::SigningAborted {
                request_id: id.clone(),
                session_id: s.attempt.session_id.clone(),
                party: None,
                reason: format!("gave up after {} attempts: {reason}", s.attempt.attempt),
                blamed_party: None,
                r#final: true,
            };
            appends.push(Append::new(streams::signing(id), at, vec![event(Kind::SigningAborted(abort))]));
            if st.queries.get(&s.attempt.query_id).is_some_and(|q| !q.done) {
                let aborted = ev::QueryAborted {
                    query_id: s.attempt.query_id.clone(),
                    reason: format!("the result could not be signed: {reason}"),
                    blamed_party: None,
                    step: "sign".into(),
                    party: None,
                    session_id: Vec::new(),
                    r#final: true,
                };
                appends.push(Append::new(
                    streams::query(&s.attempt.query_id),
                    ExpectedVersion::Exact(1),
                    vec![event(Kind::QueryAborted(aborted))],
                ));
            }
            continue;
        }
        let participants = if s.attempt.purpose == SIGN_SIGN {
            let Some(p) = signers(up, attempt) else { continue };
            p
        } else {
            if !up.iter().all(|u| *u) {
                continue;
            }
            vec![0, 1, 2]
        };
        let epoch = match (s.attempt.purpose.as_str(), st.network_key.as_ref()) {
            (SIGN_SIGN, Some(key)) => key.epoch,
            _ => s.attempt.epoch,
        };
        warn!(request = %hex::encode(id), purpose = %s.attempt.purpose, %reason, attempt, "signing attempt failed; trying again");
        let next =
            ev::SigningRequested { session_id: session_id()?, participants, attempt, epoch, ..s.attempt.clone() };
        appends.push(Append::new(streams::signing(id), at, vec![event(Kind::SigningRequested(next))]));
    }
    let all_up = up.iter().all(|u| *u);
    let Some(key) = st.network_key.as_ref() else {
        let keygen_running = st.signings.values().any(|s| s.attempt.purpose == SIGN_KEYGEN && !s.done);
        if all_up && !keygen_running {
            let request_id = crate::random_id()?;
            info!("asking the parties for the network key");
            let request = ev::SigningRequested {
                request_id: request_id.clone(),
                purpose: SIGN_KEYGEN.into(),
                session_id: session_id()?,
                participants: vec![0, 1, 2],
                attempt: 1,
                requested_by: "coordinator".into(),
                ..Default::default()
            };
            appends.push(Append::new(
                streams::signing(&request_id),
                ExpectedVersion::NoStream,
                vec![event(Kind::SigningRequested(request))],
            ));
        }
        return Ok(appends);
    };
    // Agreed results without a signature request yet.
    for (qid, q) in &st.queries {
        if q.done || q.computed.is_none() || st.signings.contains_key(qid) {
            continue;
        }
        let Some(participants) = signers(up, 1) else { continue };
        let Some(request) = result_request(st, &config.network_id, qid, key.epoch, participants)? else { continue };
        appends.push(Append::new(
            streams::signing(qid),
            ExpectedVersion::NoStream,
            vec![event(Kind::SigningRequested(request))],
        ));
    }
    // The refresh schedule.
    let every = i64::try_from(config.key_refresh_secs.saturating_mul(1_000_000)).unwrap_or(i64::MAX);
    let refreshing = st.signings.values().any(|s| s.attempt.purpose == SIGN_REFRESH && !s.done);
    if config.key_refresh_secs > 0 && all_up && !refreshing && now_micros.saturating_sub(key.since_micros) > every {
        appends.push(refresh_request(key.epoch + 1, "schedule")?);
    }
    Ok(appends)
}

/// Query `qid`, the session whose three results agreed, and one of those (equal) results.
fn agreed<'a>(
    st: &'a State,
    qid: &[u8],
) -> Option<(&'a crate::state::Query, &'a crate::state::Session, &'a ev::ResultComputed)> {
    let q = st.queries.get(qid)?;
    let session = st.sessions.get(q.computed.as_ref()?)?;
    let computed = session.reports.iter().flatten().find_map(|x| match x {
        crate::state::Report::Computed(c) => Some(c),
        _ => None,
    })?;
    Some((q, session, computed))
}

/// The first signature request of query `qid`'s agreed result.
fn result_request(
    st: &State,
    network_id: &str,
    qid: &[u8],
    epoch: u64,
    participants: Vec<u32>,
) -> Result<Option<ev::SigningRequested>, getrandom::Error> {
    let Some((q, session, computed)) = agreed(st, qid) else { return Ok(None) };
    // The coordinator's own statement of the result (its network id, the session's snapshot, the
    // query as requested): honest parties sign it only if it is the one they computed.
    let statement = triad_network::result_statement(
        network_id,
        &session.opened.dataset_id,
        session.opened.snapshot,
        &q.sql,
        &computed.values,
    );
    Ok(Some(ev::SigningRequested {
        request_id: qid.to_vec(),
        purpose: SIGN_SIGN.into(),
        session_id: session_id()?,
        participants,
        attempt: 1,
        digest: statement.digest().to_vec(),
        dataset_id: session.opened.dataset_id.clone(),
        query_id: qid.to_vec(),
        path: String::new(),
        epoch,
        requested_by: "coordinator".into(),
    }))
}

/// A refresh request to epoch `epoch`.
pub(crate) fn refresh_request(epoch: u64, requested_by: &str) -> Result<Append, getrandom::Error> {
    let request_id = crate::random_id()?;
    let request = ev::SigningRequested {
        request_id: request_id.clone(),
        purpose: SIGN_REFRESH.into(),
        session_id: session_id()?,
        participants: vec![0, 1, 2],
        attempt: 1,
        epoch,
        requested_by: requested_by.into(),
        ..Default::default()
    };
    Ok(Append::new(
        streams::signing(&request_id),
        ExpectedVersion::NoStream,
        vec![event(Kind::SigningRequested(request))],
    ))
}

#[cfg(test)]
mod tests {
    use super::signers;

    #[test]
    fn signers_rotate_over_the_pairs_that_are_up() {
        assert_eq!(signers([true; 3], 1), Some(vec![0, 1]));
        assert_eq!(signers([true; 3], 2), Some(vec![1, 2]));
        assert_eq!(signers([true; 3], 3), Some(vec![0, 2]));
        assert_eq!(signers([true; 3], 4), Some(vec![0, 1]));
        assert_eq!(signers([false, true, true], 1), Some(vec![1, 2]));
        assert_eq!(signers([false, true, true], 2), Some(vec![1, 2]));
        assert_eq!(signers([true, false, false], 1), None);
    }
}
