//! Face embeddings (templates): SFace (128-d, cosine similarity) and dlib ResNet (128-d,
//! Euclidean distance), each on its own aligned chip.
//!
//! A [`FaceTemplate`] is biometric personal data: its `Debug` is redacted, it has no
//! `Display`, no `Serialize`, and its numbers are zeroed when it is dropped. This module
//! does not store templates (the ledger encrypts what it keeps).

use image::RgbImage;
use serde::{Deserialize, Serialize};
use tract_onnx::prelude::*;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::FaceError;
use crate::align::Template;
use crate::models::LoadedModel;

/// Which embedding model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum EmbedderKind {
    /// SFace (OpenCV Zoo), cosine similarity.
    Sface,
    /// dlib ResNet v1, Euclidean distance.
    Dlib,
}

impl EmbedderKind {
    /// Manifest id of the model.
    pub fn model_id(self) -> &'static str {
        match self {
            Self::Sface => "sface",
            Self::Dlib => "dlib",
        }
    }
    /// Alignment template.
    pub fn template(self) -> Template {
        match self {
            Self::Sface => Template::ArcFace112,
            Self::Dlib => Template::DlibChip150,
        }
    }
    /// The score's name in reports.
    pub fn metric(self) -> Metric {
        match self {
            Self::Sface => Metric::Cosine,
            Self::Dlib => Metric::L2,
        }
    }
}

/// How two templates are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Cosine similarity: higher is more alike; accept when ≥ threshold.
    Cosine,
    /// Euclidean distance: lower is more alike; accept when ≤ threshold.
    L2,
}

impl Metric {
    /// Whether `score` passes `threshold`.
    pub fn accepts(self, score: f32, threshold: f32) -> bool {
        match self {
            Self::Cosine => score >= threshold,
            Self::L2 => score <= threshold,
        }
    }
    /// The score as a similarity (higher is more alike), for curves.
    pub fn as_similarity(self, score: f32) -> f32 {
        match self {
            Self::Cosine => score,
            Self::L2 => -score,
        }
    }
}

/// A face template. Personal data: redacted `Debug`, zeroed on drop.
#[derive(Clone, PartialEq, Zeroize, ZeroizeOnDrop)]
pub struct FaceTemplate {
    #[zeroize(skip)]
    kind: EmbedderKind,
    values: Vec<f32>,
}

impl std::fmt::Debug for FaceTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "FaceTemplate({:?}, {} values, <redacted>)",
            self.kind,
            self.values.len()
        )
    }
}

impl FaceTemplate {
    /// Wraps raw values (e.g. decrypted from the ledger or a face QR).
    pub fn from_values(kind: EmbedderKind, values: Vec<f32>) -> Self {
        Self { kind, values }
    }
    /// The model that made it.
    pub fn kind(&self) -> EmbedderKind {
        self.kind
    }
    /// The raw values (for encryption or encoding by the caller; do not log).
    pub fn values(&self) -> &[f32] {
        &self.values
    }

    /// Compares two templates of the same model: cosine similarity (SFace) or Euclidean
    /// distance (dlib).
    pub fn score(&self, other: &Self) -> Result<f32, FaceError> {
        if self.kind != other.kind || self.values.len() != other.values.len() {
            return Err(FaceError::Invalid(
                "templates come from different models".into(),
            ));
        }
        let (a, b) = (&self.values, &other.values);
        Ok(match self.kind.metric() {
            Metric::Cosine => {
                let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
                let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
                let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
                if na == 0.0 || nb == 0.0 {
                    0.0
                } else {
                    dot / (na * nb)
                }
            }
            Metric::L2 => a
                .iter()
                .zip(b)
                .map(|(x, y)| (x - y).powi(2))
                .sum::<f32>()
                .sqrt(),
        })
    }
}

/// An embedding model ready to run.
#[derive(Debug, Clone)]
pub struct Embedder {
    kind: EmbedderKind,
    model: LoadedModel,
}

impl Embedder {
    /// Wraps the loaded model of this kind.
    pub fn new(kind: EmbedderKind, model: LoadedModel) -> Self {
        Self { kind, model }
    }
    /// Which model.
    pub fn kind(&self) -> EmbedderKind {
        self.kind
    }

    /// The loaded model (benchmarks time it alone).
    pub fn model(&self) -> &LoadedModel {
        &self.model
    }

    /// The model input for an aligned chip.
    pub fn preprocess(&self, chip: &RgbImage) -> Result<Tensor, FaceError> {
        let size = self.kind.template().size();
        if chip.dimensions() != (size, size) {
            return Err(FaceError::Invalid(format!("chip must be {size}×{size}")));
        }
        let s = size as usize;
        let (mean, div) = match self.kind {
            EmbedderKind::Sface => ([0.0f32; 3], 1.0f32),
            EmbedderKind::Dlib => ([122.782, 117.001, 104.298], 256.0),
        };
        let mut t = tract_ndarray::Array4::<f32>::zeros((1, 3, s, s));
        for (x, y, p) in chip.enumerate_pixels() {
            for c in 0..3 {
                t[[0, c, y as usize, x as usize]] = (p[c] as f32 - mean[c]) / div;
            }
        }
        Ok(t.into_tensor())
    }

    /// Template of an aligned chip (from [`crate::align::align`] with `kind().template()`).
    pub fn embed(&self, chip: &RgbImage) -> Result<FaceTemplate, FaceError> {
        let out = self.model.run(self.preprocess(chip)?)?;
        let mut values: Vec<f32> = out[0]
            .to_plain_array_view::<f32>()
            .map_err(|e| FaceError::infer(self.kind.model_id(), e))?
            .iter()
            .copied()
            .collect();
        if values.iter().any(|v| !v.is_finite()) {
            values.zeroize();
            return Err(FaceError::infer(
                self.kind.model_id(),
                "non-finite embedding",
            ));
        }
        Ok(FaceTemplate::from_values(self.kind, values))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_debug_is_redacted() {
        let t = FaceTemplate::from_values(EmbedderKind::Sface, vec![0.123_456, -0.5]);
        let s = format!("{t:?}");
        assert!(s.contains("redacted"));
        assert!(!s.contains("0.123") && !s.contains("0.5"), "{s}");
    }

    #[test]
    fn template_zeroize_clears_values() {
        let mut t = FaceTemplate::from_values(EmbedderKind::Dlib, vec![1.0, 2.0]);
        t.zeroize();
        assert!(t.values().is_empty() || t.values().iter().all(|v| *v == 0.0));
    }

    #[test]
    fn scores_follow_their_metric() {
        let a = FaceTemplate::from_values(EmbedderKind::Sface, vec![1.0, 0.0]);
        let b = FaceTemplate::from_values(EmbedderKind::Sface, vec![0.0, 2.0]);
        assert_eq!(a.score(&a).ok(), Some(1.0));
        assert_eq!(a.score(&b).ok(), Some(0.0));
        let c = FaceTemplate::from_values(EmbedderKind::Dlib, vec![0.0, 3.0]);
        let d = FaceTemplate::from_values(EmbedderKind::Dlib, vec![4.0, 0.0]);
        assert_eq!(c.score(&d).ok(), Some(5.0));
        assert!(a.score(&c).is_err(), "different models do not compare");
        assert!(Metric::L2.accepts(0.5, 0.6) && !Metric::L2.accepts(0.7, 0.6));
        assert!(Metric::Cosine.accepts(0.5, 0.36) && !Metric::Cosine.accepts(0.3, 0.36));
    }
}
