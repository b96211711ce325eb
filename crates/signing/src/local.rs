//! Runs the parties of one session in memory, in one thread: for tests, benches and the
//! embedded network. A message to a party not in the run is dropped.

use std::collections::VecDeque;

use crate::{Message, Rounds, Session, SigningError};

/// Runs `parties` (each a started session with its first messages) until no message is left;
/// one result per party, in the given order. A party that neither finished nor failed gets
/// [`SigningError::Incomplete`].
pub fn run<P: Rounds>(parties: Vec<(Session<P>, Vec<Message>)>) -> Vec<Result<P::Output, SigningError>> {
    run_with(parties, |_| {})
}

/// As [`run`], passing every message through `tamper` first (tests alter messages here).
pub fn run_with<P: Rounds>(
    parties: Vec<(Session<P>, Vec<Message>)>,
    mut tamper: impl FnMut(&mut Message),
) -> Vec<Result<P::Output, SigningError>> {
    let mut queue = VecDeque::new();
    let mut sessions = Vec::with_capacity(parties.len());
    for (session, first) in parties {
        queue.extend(first);
        sessions.push(session);
    }
    let mut results: Vec<Option<Result<P::Output, SigningError>>> = sessions.iter().map(|_| None).collect();
    while let Some(mut message) = queue.pop_front() {
        tamper(&mut message);
        let Some(i) = sessions.iter().position(|s| s.me() == message.to) else { continue };
        if results[i].is_some() {
            continue;
        }
        match sessions[i].receive(message) {
            Ok(progress) => {
                queue.extend(progress.send);
                if let Some(output) = progress.output {
                    results[i] = Some(Ok(output));
                }
            }
            Err(e @ (SigningError::Misrouted(_) | SigningError::NotAParticipant(_))) => {
                if sessions[i].is_finished() {
                    results[i] = Some(Err(e));
                }
            }
            Err(e) => results[i] = Some(Err(e)),
        }
    }
    results
        .into_iter()
        .zip(&sessions)
        .map(|(result, session)| {
            result.unwrap_or_else(|| {
                Err(SigningError::Incomplete { round: session.round(), waiting_for: session.waiting_for() })
            })
        })
        .collect()
}
