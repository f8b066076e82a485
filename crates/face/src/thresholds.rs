//! The thresholds file (`assets/thresholds.toml`): every decision threshold the pipeline
//! uses, produced by `face eval` (see `crates/face/fixtures/eval/README.md`). Nothing here
//! has a default in code: a missing key is an error naming it.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::FaceError;
use crate::embed::EmbedderKind;

/// Threshold for one embedding model.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchThreshold {
    /// Live capture against a live/colour reference.
    pub threshold: f32,
    /// Live capture (greyscaled) against a chip photo (greyscale JPEG 2000).
    pub chip_threshold: f32,
}

/// All thresholds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    /// Where the numbers came from (free text, shown in reports).
    pub source: String,
    /// Minimum detector score for a face.
    pub detector_min_score: f32,
    /// Minimum overall quality (0–100) for a frame to be used for matching.
    pub quality_min: f32,
    /// Mean CDCN depth at or above which a face is judged live.
    pub pad_cdcn_min_depth: f32,
    /// Yaw (degrees) the head must reach each way in the turn challenge.
    pub challenge_turn_degrees: f32,
    /// SFace (cosine; accept when ≥).
    pub sface: MatchThreshold,
    /// dlib (Euclidean; accept when ≤).
    pub dlib: MatchThreshold,
}

impl Thresholds {
    /// Reads and validates the file.
    pub fn load(path: &Path) -> Result<Self, FaceError> {
        let text = std::fs::read_to_string(path).map_err(|e| FaceError::io(path, e))?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses `text` (named `origin` in errors).
    pub fn parse(text: &str, origin: &str) -> Result<Self, FaceError> {
        let t: Thresholds = toml::from_str(text).map_err(|e| FaceError::Config {
            path: origin.to_owned(),
            message: e.to_string(),
        })?;
        let bad = |k: &str| FaceError::Config {
            path: origin.to_owned(),
            message: format!("`{k}` out of range"),
        };
        if !(0.0..=1.0).contains(&t.detector_min_score) {
            return Err(bad("detector_min_score"));
        }
        if !(0.0..=100.0).contains(&t.quality_min) {
            return Err(bad("quality_min"));
        }
        if !(-1.0..=1.0).contains(&t.sface.threshold)
            || !(-1.0..=1.0).contains(&t.sface.chip_threshold)
        {
            return Err(bad("sface"));
        }
        if !(t.dlib.threshold > 0.0 && t.dlib.chip_threshold > 0.0) {
            return Err(bad("dlib"));
        }
        if !(t.challenge_turn_degrees > 0.0 && t.challenge_turn_degrees < 60.0) {
            return Err(bad("challenge_turn_degrees"));
        }
        Ok(t)
    }

    /// The threshold for a model and condition.
    pub fn for_model(&self, kind: EmbedderKind, chip: bool) -> f32 {
        let m = match kind {
            EmbedderKind::Sface => self.sface,
            EmbedderKind::Dlib => self.dlib,
        };
        if chip { m.chip_threshold } else { m.threshold }
    }
}

/// The default thresholds file: `$MADOGUCHI_THRESHOLDS`, else `assets/thresholds.toml` of
/// the source tree, else `/usr/share/madoguchi/thresholds.toml`.
pub fn default_thresholds_path() -> PathBuf {
    if let Some(p) = std::env::var_os("MADOGUCHI_THRESHOLDS") {
        return PathBuf::from(p);
    }
    let dev = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/thresholds.toml");
    if dev.exists() {
        return dev;
    }
    PathBuf::from("/usr/share/madoguchi/thresholds.toml")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_file_parses() {
        let t = Thresholds::load(&default_thresholds_path()).expect("assets/thresholds.toml");
        assert!(t.sface.threshold > 0.0);
    }

    #[test]
    fn missing_or_bad_keys_are_named() {
        let e = Thresholds::parse("source = \"x\"", "t.toml").expect_err("missing keys");
        assert!(
            e.to_string().contains("t.toml") && e.to_string().contains("missing field"),
            "{e}"
        );
        let text = std::fs::read_to_string(default_thresholds_path()).expect("read");
        let bad = text.replace("quality_min =", "quality_min = 500.0 #");
        let e = Thresholds::parse(&bad, "t.toml").expect_err("range");
        assert!(e.to_string().contains("quality_min"), "{e}");
    }
}
