//! The face crate behind [`LiveMatcher`]: the live face in an image goes through the same
//! gates as enrollment ([`madoguchi_face::enroll::gated_capture`]: quality, then passive
//! liveness), is embedded with the credential's model and compared with the decrypted template
//! at the threshold of the thresholds file for the colour condition.
//!
//! It lives here (faceqr depends on the face crate, not the other way round) so that the face
//! crate knows nothing of credentials and `qr verify --live` can run the whole chain. It does
//! not pick frames over time (the capture loop does; this takes the chosen frame), and it
//! keeps no image or template after the call: only the scores.

use image::RgbImage;
use madoguchi_face::enroll::{Gated, LivenessGate, gated_capture, model_ref};
use madoguchi_face::{EmbedderKind, FaceEngine, FaceError, FaceTemplate, Liveness};

use crate::template::{ModelRef, Template};
use crate::verify::{LiveMatcher, MatchOutcome};

/// Matches one live image with the face engine.
pub struct FaceMatcher<'a> {
    engine: &'a FaceEngine,
    image: &'a RgbImage,
    kind: EmbedderKind,
    gate: LivenessGate,
    model: ModelRef,
    report: Option<LiveReport>,
    error: Option<FaceError>,
}

/// What the live side measured (numbers only, no template).
#[derive(Debug, Clone, serde::Serialize)]
pub struct LiveReport {
    /// Gate outcome code (`passed`, `no_face`, `face_quality`, `liveness_failed`).
    pub gate: &'static str,
    /// Overall quality of the live face, when one was found.
    pub quality: Option<f32>,
    /// Passive liveness, when it ran.
    pub liveness: Option<Liveness>,
    /// Similarity with the template, when compared.
    pub score: Option<f32>,
    /// Threshold used (thresholds file, colour condition).
    pub threshold: Option<f32>,
}

impl std::fmt::Debug for FaceMatcher<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaceMatcher")
            .field("model", &self.model)
            .field("gate", &self.gate)
            .field("report", &self.report)
            .finish_non_exhaustive()
    }
}

impl<'a> FaceMatcher<'a> {
    /// A matcher for `image` with the engine's `kind` model; the model reference comes from
    /// the manifest. `gate` must be what enrollment used ([`LivenessGate::Passive`] in
    /// production; the engine must then have the PAD model loaded).
    pub fn new(
        engine: &'a FaceEngine,
        image: &'a RgbImage,
        kind: EmbedderKind,
        gate: LivenessGate,
    ) -> Result<Self, FaceError> {
        let (model_id, template_version) = model_ref(engine, kind)?;
        Ok(Self {
            engine,
            image,
            kind,
            gate,
            model: ModelRef {
                model_id,
                template_version,
            },
            report: None,
            error: None,
        })
    }

    /// What the last match measured.
    pub fn report(&self) -> Option<&LiveReport> {
        self.report.as_ref()
    }

    /// The engine error of the last match, if it failed for a technical reason (it then
    /// answered [`MatchOutcome::QualityFailed`]: no usable live face).
    pub fn take_error(&mut self) -> Option<FaceError> {
        self.error.take()
    }

    fn run(&mut self, template: &Template) -> Result<MatchOutcome, FaceError> {
        let mut r = LiveReport {
            gate: "no_face",
            quality: None,
            liveness: None,
            score: None,
            threshold: None,
        };
        let outcome = match gated_capture(self.engine, self.image, self.kind, self.gate)? {
            Gated::Passed(e) => {
                r.quality = Some(e.quality.overall);
                r.liveness = e.liveness;
                let reference =
                    FaceTemplate::from_values(self.kind, template.dequantise().to_vec());
                let c = self.engine.compare(&e.template, &reference, false)?;
                r.score = Some(c.score);
                r.threshold = Some(c.threshold);
                if c.matched {
                    MatchOutcome::Match { score: c.score }
                } else {
                    MatchOutcome::Mismatch { score: c.score }
                }
            }
            Gated::NoFace => MatchOutcome::QualityFailed,
            Gated::Quality { quality, .. } => {
                r.quality = Some(quality.overall);
                MatchOutcome::QualityFailed
            }
            Gated::Liveness(l) => {
                r.liveness = Some(l);
                MatchOutcome::LivenessFailed
            }
        };
        r.gate = match outcome {
            MatchOutcome::Match { .. } | MatchOutcome::Mismatch { .. } => "passed",
            MatchOutcome::QualityFailed if r.quality.is_some() => "face_quality",
            MatchOutcome::QualityFailed => "no_face",
            MatchOutcome::LivenessFailed => "liveness_failed",
        };
        self.report = Some(r);
        Ok(outcome)
    }
}

impl LiveMatcher for FaceMatcher<'_> {
    fn model(&self) -> ModelRef {
        self.model.clone()
    }

    fn match_live(&mut self, template: &Template) -> MatchOutcome {
        self.error = None;
        match self.run(template) {
            Ok(o) => o,
            Err(e) => {
                self.error = Some(e);
                MatchOutcome::QualityFailed
            }
        }
    }
}
