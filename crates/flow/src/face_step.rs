//! What the procedures with a live face check share: the challenge they ask for, the outcome a
//! face result proposes, and the outcome record it makes.
//!
//! What it does not do: run a check (the face port does) or hold any state.

use crate::engine::{Cx, Ending, Flow};
use crate::messages as m;
use crate::ports::{
    FaceDecision, FaceFault, FaceResult, OutcomeRecord, RecordDecision, SessionEnd, Turn,
};
use crate::view::{Msg, Outcome, ResultSummary};

/// Which head turn to ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChallengeChoice {
    /// No challenge (passive liveness only).
    None,
    /// Always left.
    Left,
    /// Always right.
    Right,
    /// Left or right at random (what a kiosk asks: a replay cannot know it).
    Random,
}

impl ChallengeChoice {
    /// The turn to ask for this time.
    pub(crate) fn pick(self, cx: &mut Cx<'_, '_>) -> Option<Turn> {
        match self {
            ChallengeChoice::None => None,
            ChallengeChoice::Left => Some(Turn::Left),
            ChallengeChoice::Right => Some(Turn::Right),
            ChallengeChoice::Random => Some(if cx.ports.coin.flip() {
                Turn::Left
            } else {
                Turn::Right
            }),
        }
    }
}

/// The outcome a face result proposes, with its reason; `matched` is the reason of a match.
pub(crate) fn proposal(
    face: Option<&FaceResult>,
    matched: &'static str,
) -> (Outcome, &'static str) {
    match face {
        None => (Outcome::NotVerified, "face.none"),
        Some(f) => match f.decision {
            FaceDecision::Match => (Outcome::Verified, matched),
            FaceDecision::NoMatch => (Outcome::NotVerified, "face.different_person"),
            FaceDecision::NoFace => (Outcome::NotVerified, "face.none"),
            FaceDecision::AttackSuspected => (
                Outcome::AttackSuspected,
                f.reasons.first().copied().unwrap_or("challenge.failed"),
            ),
        },
    }
}

/// How starting the camera went (a face check or a QR scan), for the procedure's next step.
pub(crate) enum CameraStart {
    /// It runs: the procedure goes to its camera step.
    Running,
    /// No camera: the procedure waits for it.
    NoCamera,
    /// The face engine is unavailable: the procedure ends so (the teller's notice is set).
    Ended(Flow),
}

/// The face port's answer to a start, as the procedure's next move.
pub(crate) fn camera_start(answer: Result<(), FaceFault>, notice: &mut Option<Msg>) -> CameraStart {
    match answer {
        Ok(()) => CameraStart::Running,
        Err(FaceFault::NoCamera) => CameraStart::NoCamera,
        Err(FaceFault::Unavailable(code)) => {
            *notice = Some(Msg::new(m::N_FACE_UNAVAILABLE));
            CameraStart::Ended(end(Outcome::Cancelled, code, SessionEnd::Failed))
        }
    }
}

/// The procedure ends with `outcome` and `reason` (no face score).
pub(crate) fn end(outcome: Outcome, reason: &'static str, end: SessionEnd) -> Flow {
    Flow::End(Ending {
        summary: ResultSummary::ended(outcome, reason),
        end,
    })
}

/// The procedure ran to `outcome`: the result shows the face's score against its threshold.
pub(crate) fn completed(outcome: Outcome, reason: &'static str, face: Option<&FaceResult>) -> Flow {
    let mut summary = ResultSummary::ended(outcome, reason);
    if let Some(f) = face {
        summary.score = f.score;
        summary.threshold = f.threshold;
    }
    Flow::End(Ending {
        summary,
        end: SessionEnd::Completed,
    })
}

/// The outcome record: the decision, the face's scores, `reason` first and then the face's
/// own reasons.
pub(crate) fn outcome_record(
    decision: RecordDecision,
    reason: &str,
    face: Option<&FaceResult>,
) -> OutcomeRecord {
    let mut scores = Vec::new();
    let mut reasons = vec![reason.to_owned()];
    if let Some(f) = face {
        if let Some(s) = f.score {
            scores.push(("face_similarity", f64::from(s)));
        }
        if let Some(t) = f.threshold {
            scores.push(("face_threshold", f64::from(t)));
        }
        if let Some(q) = f.quality {
            scores.push(("quality", f64::from(q)));
        }
        if let Some((d, _, _)) = f.passive {
            scores.push(("passive_depth", f64::from(d)));
        }
        reasons.extend(
            f.reasons
                .iter()
                .filter(|r| **r != reason)
                .map(|r| (*r).to_owned()),
        );
    }
    OutcomeRecord {
        decision,
        scores,
        reasons,
    }
}

/// The record decision of an outcome.
pub(crate) fn record_decision(outcome: Outcome) -> RecordDecision {
    match outcome {
        Outcome::Verified | Outcome::Issued | Outcome::CodeIssued => RecordDecision::Accepted,
        Outcome::Refused => RecordDecision::Referred,
        _ => RecordDecision::Rejected,
    }
}

/// The reason code of a credential rejection, as a translated message code (an unknown code
/// from the port is reported as unreadable rather than shown raw).
pub(crate) fn credential_reason(code: &'static str) -> &'static str {
    if m::ALL.contains(&code) {
        code
    } else {
        m::R_QR_UNREADABLE
    }
}
