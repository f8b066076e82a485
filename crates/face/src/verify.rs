//! One live verification as a decision: the worker's [`Outcome`] (match, passive liveness,
//! active challenge) turned into `match`, `no_match`, `attack_suspected` or `no_face` with
//! the reasons, for `madoguchi face verify` and, later, the procedures. The order matters:
//! no usable face first, then presentation-attack signs (a failed or timed-out challenge, a
//! passive PAD that judged the face not live when it is required), then the match itself —
//! a teller must hear "possible attack" before "different person".
//!
//! Whether the passive result decides is the caller's policy: `face verify` lets it decide
//! only when no challenge ran (with a challenge it is reported as advisory — its error rates
//! on our data are in the eval report).
//!
//! It does not run anything (the worker does) and holds no template.

use serde::Serialize;

use crate::pad::ChallengeResult;
use crate::worker::Outcome;

/// The verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Same person, and no sign of a presentation attack.
    Match,
    /// A live presentation of somebody else.
    NoMatch,
    /// The challenge was not passed, or the passive PAD judged the face not live.
    AttackSuspected,
    /// No usable face was captured in the window.
    NoFace,
}

/// Decides; `require_live`: a passive PAD result of "not live" is an attack sign (when the
/// PAD ran). Returns the decision and stable reason codes.
pub fn decide(o: &Outcome, require_live: bool) -> (Decision, Vec<&'static str>) {
    let Some(cmp) = o.comparison else {
        return (Decision::NoFace, vec!["face.none"]);
    };
    let mut reasons = Vec::new();
    if let Some(c) = o.challenge {
        match c.result {
            ChallengeResult::Passed => {}
            ChallengeResult::Failed => reasons.push("challenge.failed"),
            ChallengeResult::TimedOut | ChallengeResult::Pending => {
                reasons.push("challenge.timed_out")
            }
        }
    }
    if require_live && o.liveness.is_some_and(|l| !l.live) {
        reasons.push("pad.not_live");
    }
    if !reasons.is_empty() {
        return (Decision::AttackSuspected, reasons);
    }
    if cmp.matched {
        (Decision::Match, vec![])
    } else {
        (Decision::NoMatch, vec!["face.different_person"])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed::{EmbedderKind, Metric};
    use crate::engine::{Comparison, Liveness};
    use crate::pad::Turn;
    use crate::worker::ChallengeOutcome;

    fn outcome(matched: bool, live: Option<bool>, ch: Option<ChallengeResult>) -> Outcome {
        Outcome {
            comparison: Some(Comparison {
                model: EmbedderKind::Sface,
                metric: Metric::Cosine,
                score: if matched { 0.7 } else { 0.1 },
                threshold: 0.48,
                matched,
            }),
            quality: None,
            liveness: live.map(|live| Liveness {
                depth: 0.2,
                threshold: 0.18,
                live,
            }),
            challenge: ch.map(|result| ChallengeOutcome {
                turn: Turn::Left,
                result,
                frames: 20,
                peak_yaw: 20.0,
                elapsed_ms: 1300,
                same_face: Some(true),
                same_face_score: Some(0.8),
            }),
            frames: 12,
            embedded: 2,
            elapsed_ms: 2000,
            capture: None,
            template: None,
        }
    }

    #[test]
    fn attack_signs_come_before_the_match() {
        let d = |o: &Outcome, req| decide(o, req).0;
        let ok = Some(ChallengeResult::Passed);
        assert_eq!(d(&outcome(true, Some(true), ok), true), Decision::Match);
        assert_eq!(d(&outcome(false, Some(true), ok), true), Decision::NoMatch);
        let (dec, why) = decide(
            &outcome(false, Some(false), Some(ChallengeResult::TimedOut)),
            true,
        );
        assert_eq!(dec, Decision::AttackSuspected);
        assert_eq!(why, ["challenge.timed_out", "pad.not_live"]);
        assert_eq!(
            d(&outcome(true, None, Some(ChallengeResult::Failed)), true),
            Decision::AttackSuspected
        );
        // The passive result counts only when required.
        assert_eq!(d(&outcome(true, Some(false), None), false), Decision::Match);
        assert_eq!(
            d(&outcome(true, Some(false), None), true),
            Decision::AttackSuspected
        );
        let mut none = outcome(true, None, None);
        none.comparison = None;
        assert_eq!(d(&none, true), Decision::NoFace);
    }
}
