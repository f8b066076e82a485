//! Enrollment and its gates: one still image → the subject's template, accepted only when the
//! face passes the quality gate (overall quality ≥ `quality_min` of the thresholds file and a
//! single face, as the capture loop requires) and, unless switched off, the passive liveness
//! gate (CDCN depth ≥ `pad_cdcn_min_depth`). The same [`gated_capture`] is what a face-QR
//! verification applies to the live face, so enrollment and verification gate alike.
//!
//! The model id and template version of an enrolled template come from the model manifest,
//! never from code. It does not write files (the CLI does), keep the image, or sign or encrypt
//! anything (that is `faceqr`).

use image::RgbImage;
use serde::Serialize;

use crate::FaceError;
use crate::embed::{EmbedderKind, FaceTemplate};
use crate::engine::{FaceEngine, Liveness};
use crate::guidance;
use crate::quality::Quality;

/// Minimum `single_face` component (the capture loop's rule: no second large face).
pub(crate) const SINGLE_FACE_MIN: f32 = 50.0;

/// Which liveness gate applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LivenessGate {
    /// Passive PAD (CDCN) on the image; the engine must have loaded the PAD model.
    Passive,
    /// No liveness check (development, or when an active challenge ran elsewhere).
    Off,
}

/// A face that passed the gates. Holds a template: personal data, `Debug` redacted.
#[derive(Debug, Clone)]
pub struct Enrolled {
    /// Model id from the manifest.
    pub model_id: String,
    /// Template version from the manifest.
    pub template_version: u32,
    /// The template.
    pub template: FaceTemplate,
    /// Quality of the face.
    pub quality: Quality,
    /// Passive liveness (absent with [`LivenessGate::Off`]).
    pub liveness: Option<Liveness>,
}

/// What the gates decided.
#[derive(Debug, Clone)]
pub enum Gated {
    /// Every gate passed.
    Passed(Box<Enrolled>),
    /// No face in the image.
    NoFace,
    /// The quality gate failed; `guidance` says what to change.
    Quality {
        /// The quality components.
        quality: Quality,
        /// Guidance code (`face.move_closer`…).
        guidance: &'static str,
    },
    /// The liveness gate failed.
    Liveness(Liveness),
}

impl Gated {
    /// Stable code of the outcome: `passed`, `no_face`, `face_quality`, `liveness_failed`.
    pub fn code(&self) -> &'static str {
        match self {
            Gated::Passed(_) => "passed",
            Gated::NoFace => "no_face",
            Gated::Quality { .. } => "face_quality",
            Gated::Liveness(_) => "liveness_failed",
        }
    }
}

/// The manifest's model id and template version of an embedding model the engine loaded.
pub fn model_ref(engine: &FaceEngine, kind: EmbedderKind) -> Result<(String, u32), FaceError> {
    let e = engine
        .embedder(kind)
        .ok_or_else(|| FaceError::UnknownModel(kind.model_id().to_owned()))?;
    let entry = &e.model().entry;
    let v = entry.template_version.ok_or_else(|| FaceError::Config {
        path: "manifest.toml".into(),
        message: format!("model `{}` has no template_version", entry.id),
    })?;
    Ok((entry.id.clone(), v))
}

/// Detect (YuNet 640) → subject → quality gate → liveness gate → template (colour).
/// Gates run before the embedding, so a rejected face is never embedded.
pub fn gated_capture(
    engine: &FaceEngine,
    img: &RgbImage,
    kind: EmbedderKind,
    liveness: LivenessGate,
) -> Result<Gated, FaceError> {
    let (model_id, template_version) = model_ref(engine, kind)?;
    if liveness == LivenessGate::Passive && engine.pad().is_none() {
        return Err(FaceError::Invalid(
            "the liveness gate needs the PAD model loaded".into(),
        ));
    }
    let faces = engine.detect(img, false)?;
    let Some(d) = FaceEngine::subject(&faces).copied() else {
        return Ok(Gated::NoFace);
    };
    let quality = match engine.quality(img, &d, &faces) {
        Ok(q) => q,
        Err(FaceError::NoFace) => return Ok(Gated::NoFace),
        Err(e) => return Err(e),
    };
    if quality.overall < engine.thresholds().quality_min || quality.single_face < SINGLE_FACE_MIN {
        return Ok(Gated::Quality {
            quality,
            guidance: guidance::for_quality(faces.len(), Some(&quality)).code,
        });
    }
    let live = match liveness {
        LivenessGate::Passive => engine.liveness(img, &d)?,
        LivenessGate::Off => None,
    };
    if let Some(l) = live
        && !l.live
    {
        return Ok(Gated::Liveness(l));
    }
    let template = match engine.embed(img, &d, kind, false) {
        Ok(t) => t,
        Err(FaceError::NoFace) => return Ok(Gated::NoFace),
        Err(e) => return Err(e),
    };
    Ok(Gated::Passed(Box::new(Enrolled {
        model_id,
        template_version,
        template,
        quality,
        liveness: live,
    })))
}

/// The template file `qr issue --template` reads:
/// `{"model_id": "...", "template_version": N, "embedding": [...]}` (zeroed on drop).
pub fn template_json(e: &Enrolled) -> zeroize::Zeroizing<String> {
    use std::fmt::Write;
    // Built by hand into a zeroizing buffer: no intermediate copy of the values survives.
    let mut s = zeroize::Zeroizing::new(String::with_capacity(32 + 16 * e.template.values().len()));
    let id = serde_json::Value::String(e.model_id.clone());
    let _ = write!(
        s,
        "{{\"model_id\":{id},\"template_version\":{},\"embedding\":[",
        e.template_version
    );
    for (i, v) in e.template.values().iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        // Rust prints the shortest text that reads back to the same f32.
        let _ = write!(s, "{}", if v.is_finite() { *v } else { 0.0 });
    }
    s.push_str("]}");
    s
}
