//! The face template carried in a credential: an embedding quantised to int8 with one scale,
//! and the model it came from. It does not compute embeddings (the face crate does) and never
//! prints its values: `Debug` shows only the dimension, and the values are zeroed on drop.

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::{Error, Result};

/// Longest template accepted (values). A 512-d embedding still fits the format; the QR size
/// budget is what keeps real templates at 128-d.
pub const MAX_DIM: usize = 1024;

/// The model that produced a template and the template layout version, checked for
/// compatibility before a template is decrypted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelRef {
    /// Model identifier as in the model manifest (e.g. `"mbf-128"`).
    pub model_id: String,
    /// Version of the template layout produced by that model.
    pub template_version: u32,
}

/// A quantised face template: `value[i] ≈ q[i] as f32 * scale`.
#[derive(Clone, PartialEq, Zeroize, ZeroizeOnDrop)]
pub struct Template {
    scale: f32,
    q: Vec<i8>,
}

impl std::fmt::Debug for Template {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Template {{ dim: {}, values: <redacted> }}",
            self.q.len()
        )
    }
}

impl Template {
    /// Quantises an embedding: scale = max |x| / 127, q = round(x / scale).
    pub fn quantise(embedding: &[f32]) -> Result<Self> {
        if embedding.is_empty() || embedding.len() > MAX_DIM {
            return Err(Error::BadTemplate("dimension must be 1..=1024"));
        }
        if embedding.iter().any(|x| !x.is_finite()) {
            return Err(Error::BadTemplate("values must be finite"));
        }
        let max = embedding.iter().fold(0f32, |m, x| m.max(x.abs()));
        let scale = if max == 0.0 { 1.0 } else { max / 127.0 };
        let q = embedding
            .iter()
            .map(|x| (x / scale).round().clamp(-127.0, 127.0) as i8)
            .collect();
        Ok(Self { scale, q })
    }

    /// The template's bytes: the scale as big-endian IEEE f32, then the int8 values (the
    /// plaintext a credential encrypts; also how the kiosk passes a template between its
    /// ports).
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(4 + self.q.len()));
        out.extend_from_slice(&self.scale.to_be_bytes());
        out.extend(self.q.iter().map(|&v| v as u8));
        out
    }

    /// Reads [`Template::to_bytes`]; `None` if malformed.
    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        let (scale, values) = b.split_first_chunk::<4>()?;
        let q: Vec<i8> = values.iter().map(|&v| v as i8).collect();
        Self::from_parts(f32::from_be_bytes(*scale), q).ok()
    }

    /// Builds a template from already quantised values.
    pub fn from_parts(scale: f32, q: Vec<i8>) -> Result<Self> {
        if q.is_empty() || q.len() > MAX_DIM {
            return Err(Error::BadTemplate("dimension must be 1..=1024"));
        }
        if !scale.is_finite() || scale <= 0.0 {
            return Err(Error::BadTemplate("scale must be finite and positive"));
        }
        Ok(Self { scale, q })
    }

    /// Number of values.
    pub fn dim(&self) -> usize {
        self.q.len()
    }

    /// The scale factor.
    pub fn scale(&self) -> f32 {
        self.scale
    }

    /// The quantised values.
    pub fn values(&self) -> &[i8] {
        &self.q
    }

    /// The de-quantised embedding (zeroed when dropped).
    pub fn dequantise(&self) -> Zeroizing<Vec<f32>> {
        Zeroizing::new(self.q.iter().map(|&v| f32::from(v) * self.scale).collect())
    }

    /// Cosine similarity with an embedding of the same dimension (`None` when dimensions differ
    /// or a norm is zero). A convenience for matchers and tests.
    pub fn cosine(&self, other: &[f32]) -> Option<f32> {
        if other.len() != self.q.len() {
            return None;
        }
        let a = self.dequantise();
        let (mut dot, mut na, mut nb) = (0f32, 0f32, 0f32);
        for (x, y) in a.iter().zip(other) {
            dot += x * y;
            na += x * x;
            nb += y * y;
        }
        (na > 0.0 && nb > 0.0).then(|| dot / (na.sqrt() * nb.sqrt()))
    }
}

/// A template file as `qr issue --template` reads it: the model reference and the float
/// embedding. JSON: `{"model_id": "...", "template_version": 1, "embedding": [..]}`.
#[derive(Deserialize, Serialize)]
pub struct TemplateFile {
    /// The model that produced the embedding.
    #[serde(flatten)]
    pub model: ModelRef,
    /// The embedding values.
    pub embedding: Vec<f32>,
}

impl std::fmt::Debug for TemplateFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "TemplateFile {{ model: {:?}, embedding: <redacted {} values> }}",
            self.model,
            self.embedding.len()
        )
    }
}

impl Drop for TemplateFile {
    fn drop(&mut self) {
        self.embedding.zeroize();
    }
}

impl TemplateFile {
    /// Reads a template file.
    pub fn load(path: &std::path::Path) -> Result<Self> {
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.display().to_string(),
            source,
        })?);
        serde_json::from_str(&text).map_err(|e| Error::BadFile {
            path: path.display().to_string(),
            // serde_json's message carries a position, never the value.
            what: format!(
                "not a template file (line {} column {})",
                e.line(),
                e.column()
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantise_roundtrip_is_close() {
        let e: Vec<f32> = (0..128).map(|i| ((i as f32) * 0.37).sin()).collect();
        let t = Template::quantise(&e).expect("quantise");
        let c = t.cosine(&e).expect("cosine");
        assert!(c > 0.999, "cosine after int8 quantisation {c}");
    }

    #[test]
    fn bad_templates_rejected() {
        assert!(Template::quantise(&[]).is_err());
        assert!(Template::quantise(&[f32::NAN; 4]).is_err());
        assert!(Template::from_parts(0.0, vec![1]).is_err());
    }

    #[test]
    fn debug_is_redacted() {
        let t = Template::from_parts(0.5, vec![101, -77, 55]).expect("template");
        let d = format!("{t:?}");
        assert!(
            !d.contains("101") && !d.contains("-77") && !d.contains("0.5"),
            "{d}"
        );
        assert!(d.contains("redacted"));
    }
}
