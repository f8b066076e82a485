//! The face engine: the loaded models and thresholds, and the pipeline steps over one image
//! (detect → landmarks → align → quality → embed; liveness on demand; compare).
//!
//! It holds no frames or templates beyond a call. It does not pick frames over time (that is
//! `capture`) or run threads (that is `worker`).

use std::collections::HashMap;
use std::path::Path;

use image::RgbImage;
use serde::Serialize;

use crate::FaceError;
use crate::align::{Template, align};
use crate::detect::{Detection, Detector};
use crate::embed::{Embedder, EmbedderKind, FaceTemplate, Metric};
use crate::imgops::grey_rgb;
use crate::models::{Manifest, Threads};
use crate::pad::PassivePad;
use crate::quality::{Quality, assess};
use crate::thresholds::Thresholds;

/// What to load.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Embedding models to load.
    pub embedders: Vec<EmbedderKind>,
    /// Load the passive PAD model.
    pub pad: bool,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            embedders: vec![EmbedderKind::Sface],
            pad: true,
        }
    }
}

/// Loaded models and thresholds. Cheap to clone (plans are shared).
#[derive(Debug, Clone)]
pub struct FaceEngine {
    det320: Detector,
    det640: Detector,
    embedders: HashMap<EmbedderKind, Embedder>,
    pad: Option<PassivePad>,
    thresholds: Thresholds,
}

/// One face analysed in one image. Holds a template: personal data, `Debug` redacted.
#[derive(Debug, Clone)]
pub struct Analysis {
    /// The chosen face.
    pub detection: Detection,
    /// Number of faces found.
    pub faces: usize,
    /// Quality components.
    pub quality: Quality,
    /// Template of the chosen face.
    pub template: FaceTemplate,
}

/// Liveness of one face.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Liveness {
    /// Mean CDCN depth.
    pub depth: f32,
    /// Threshold used (from the thresholds file).
    pub threshold: f32,
    /// Judged live.
    pub live: bool,
}

/// A comparison of two faces.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Comparison {
    /// Model used.
    pub model: EmbedderKind,
    /// Cosine similarity or Euclidean distance (see `metric`).
    pub metric: Metric,
    /// The score.
    pub score: f32,
    /// Threshold from the thresholds file.
    pub threshold: f32,
    /// Same person?
    pub matched: bool,
}

impl FaceEngine {
    /// Loads the models (verifying checksums) and the thresholds.
    pub fn load(
        models_dir: &Path,
        thresholds: &Path,
        opts: &EngineOptions,
    ) -> Result<Self, FaceError> {
        let manifest = Manifest::load(models_dir)?;
        let thresholds = Thresholds::load(thresholds)?;
        let mut embedders = HashMap::new();
        for k in &opts.embedders {
            embedders.insert(*k, Embedder::new(*k, manifest.load_model(k.model_id())?));
        }
        let pad = if opts.pad {
            // The PAD runs once per verification, after the tracking loop has stopped:
            // its matrix products get every core (up to 4).
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
            Some(PassivePad::new(manifest.load_model("cdcn")?).with_threads(Threads::pool(cores)))
        } else {
            None
        };
        Ok(Self {
            det320: Detector::new(manifest.load_model("yunet_320")?)?,
            det640: Detector::new(manifest.load_model("yunet_640")?)?,
            embedders,
            pad,
            thresholds,
        })
    }

    /// Loads from the default places (see [`crate::models::default_models_dir`]).
    pub fn load_default(opts: &EngineOptions) -> Result<Self, FaceError> {
        Self::load(
            &crate::models::default_models_dir(),
            &crate::thresholds::default_thresholds_path(),
            opts,
        )
    }

    /// YuNet at 320 (`tracking`) or 640.
    pub fn detector(&self, tracking: bool) -> &Detector {
        if tracking { &self.det320 } else { &self.det640 }
    }

    /// A loaded embedding model.
    pub fn embedder(&self, kind: EmbedderKind) -> Option<&Embedder> {
        self.embedders.get(&kind)
    }

    /// The passive PAD model, when loaded.
    pub fn pad(&self) -> Option<&PassivePad> {
        self.pad.as_ref()
    }

    /// The thresholds in use.
    pub fn thresholds(&self) -> &Thresholds {
        &self.thresholds
    }

    /// Embedding models loaded.
    pub fn embedder_kinds(&self) -> Vec<EmbedderKind> {
        let mut v: Vec<_> = self.embedders.keys().copied().collect();
        v.sort_by_key(|k| k.model_id());
        v
    }

    /// Faces in the image, best first. `tracking` uses YuNet at 320 (fast); otherwise 640,
    /// and 320 falls back to 640 when it finds nothing.
    pub fn detect(&self, img: &RgbImage, tracking: bool) -> Result<Vec<Detection>, FaceError> {
        let min = self.thresholds.detector_min_score;
        if tracking {
            let d = self.det320.detect(img, min)?;
            if !d.is_empty() {
                return Ok(d);
            }
        }
        self.det640.detect(img, min)
    }

    /// The subject: the largest face (the customer is closest to the kiosk).
    pub fn subject(faces: &[Detection]) -> Option<&Detection> {
        faces
            .iter()
            .max_by(|a, b| (a.bbox[2] * a.bbox[3]).total_cmp(&(b.bbox[2] * b.bbox[3])))
    }

    /// Quality of `d` in `img` (computed on the ArcFace chip).
    pub fn quality(
        &self,
        img: &RgbImage,
        d: &Detection,
        faces: &[Detection],
    ) -> Result<Quality, FaceError> {
        let chip = align(img, &d.landmarks, Template::ArcFace112).ok_or(FaceError::NoFace)?;
        Ok(assess(img.dimensions(), d, faces, &chip))
    }

    /// Template of face `d` in `img` with model `kind`; `grey` greyscales first (chip-photo
    /// comparisons compare like with like).
    pub fn embed(
        &self,
        img: &RgbImage,
        d: &Detection,
        kind: EmbedderKind,
        grey: bool,
    ) -> Result<FaceTemplate, FaceError> {
        let e = self
            .embedders
            .get(&kind)
            .ok_or_else(|| FaceError::UnknownModel(kind.model_id().to_owned()))?;
        let chip = align(img, &d.landmarks, kind.template()).ok_or(FaceError::NoFace)?;
        let chip = if grey { grey_rgb(&chip) } else { chip };
        e.embed(&chip)
    }

    /// Detect (640) → subject → quality → template.
    pub fn analyse(
        &self,
        img: &RgbImage,
        kind: EmbedderKind,
        grey: bool,
    ) -> Result<Analysis, FaceError> {
        let faces = self.detect(img, false)?;
        let d = *Self::subject(&faces).ok_or(FaceError::NoFace)?;
        let quality = self.quality(img, &d, &faces)?;
        let template = self.embed(img, &d, kind, grey)?;
        Ok(Analysis {
            detection: d,
            faces: faces.len(),
            quality,
            template,
        })
    }

    /// Passive liveness of face `d`; `None` when the PAD model was not loaded.
    pub fn liveness(&self, img: &RgbImage, d: &Detection) -> Result<Option<Liveness>, FaceError> {
        self.liveness_with(img, d, false)
    }

    /// [`Self::liveness`]; with `one_core`, the model runs on the calling thread only (while
    /// another thread — the challenge's tracking — needs the other core: a pool spread over
    /// both cores would fight it for them and finish later than one core alone).
    pub fn liveness_with(
        &self,
        img: &RgbImage,
        d: &Detection,
        one_core: bool,
    ) -> Result<Option<Liveness>, FaceError> {
        let Some(pad) = &self.pad else {
            return Ok(None);
        };
        let depth = if one_core {
            pad.depth_on(img, d, &crate::models::Threads::single())?
        } else {
            pad.depth(img, d)?
        };
        let threshold = self.thresholds.pad_cdcn_min_depth;
        Ok(Some(Liveness {
            depth,
            threshold,
            live: depth >= threshold,
        }))
    }

    /// Compares two templates with the threshold for the model and condition.
    pub fn compare(
        &self,
        a: &FaceTemplate,
        b: &FaceTemplate,
        chip: bool,
    ) -> Result<Comparison, FaceError> {
        let score = a.score(b)?;
        let model = a.kind();
        let threshold = self.thresholds.for_model(model, chip);
        Ok(Comparison {
            model,
            metric: model.metric(),
            score,
            threshold,
            matched: model.metric().accepts(score, threshold),
        })
    }
}
