//! The model manifest (`assets/models/manifest.toml`) and loading models through it: every
//! file's SHA-256 is checked against the manifest before tract sees a byte of it.
//!
//! It does not download anything: a missing or altered model is an error.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tract_linalg::multithread::{Executor, multithread_tract_scope};
use tract_onnx::prelude::*;

use crate::FaceError;

/// A runnable tract plan.
pub type Plan = Arc<TypedRunnableModel>;

/// What a model is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Face detector with 5 landmarks.
    Detector,
    /// Face embedding (template) extractor.
    Embedding,
    /// Presentation-attack detection.
    Pad,
}

/// One model in the manifest.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelEntry {
    /// Identifier used in code and reports (`yunet_320`, `sface`…).
    pub id: String,
    /// File name in the models folder.
    pub file: String,
    /// Expected SHA-256, hex.
    pub sha256: String,
    /// What it is for.
    pub role: Role,
    /// Package it comes from.
    pub source_package: String,
    /// Version of that package.
    pub source_version: String,
    /// Path inside the package and conversion.
    pub source_path: String,
    /// Licence of the code.
    pub licence_code: String,
    /// Licence of the weights.
    pub licence_weights: String,
    /// Fixed input shape (NCHW).
    pub input: Vec<usize>,
    /// What it outputs.
    pub output: String,
    /// Pre-processing it expects.
    pub preprocessing: String,
    /// Embedding models: version of the template layout this model produces. Bumped when
    /// the weights or pre-processing change so that templates stop being comparable (face
    /// credentials carry it and are refused by a kiosk running another version).
    #[serde(default)]
    pub template_version: Option<u32>,
}

/// The manifest file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The models.
    pub model: Vec<ModelEntry>,
    #[serde(skip)]
    dir: PathBuf,
}

/// A loaded model: its manifest entry, its plan and its output names.
#[derive(Clone)]
pub struct LoadedModel {
    /// Manifest entry.
    pub entry: ModelEntry,
    /// The optimised plan.
    pub plan: Plan,
    /// Output names, in output order.
    pub outputs: Vec<String>,
}

impl std::fmt::Debug for LoadedModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedModel")
            .field("id", &self.entry.id)
            .field("outputs", &self.outputs)
            .finish()
    }
}

impl Manifest {
    /// Reads `dir/manifest.toml`.
    pub fn load(dir: &Path) -> Result<Self, FaceError> {
        let path = dir.join("manifest.toml");
        let text = std::fs::read_to_string(&path).map_err(|e| FaceError::io(&path, e))?;
        let mut m: Manifest = toml::from_str(&text).map_err(|e| FaceError::Config {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        m.dir = dir.to_owned();
        Ok(m)
    }

    /// The folder the manifest was read from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The entry with this id.
    pub fn entry(&self, id: &str) -> Result<&ModelEntry, FaceError> {
        self.model
            .iter()
            .find(|m| m.id == id)
            .ok_or_else(|| FaceError::UnknownModel(id.to_owned()))
    }

    /// Overrides the input shape of model `id` (CDCN is fully convolutional: it runs at
    /// smaller sizes; the PAD size sweep uses this).
    pub fn set_input(&mut self, id: &str, input: Vec<usize>) -> Result<(), FaceError> {
        let m = self
            .model
            .iter_mut()
            .find(|m| m.id == id)
            .ok_or_else(|| FaceError::UnknownModel(id.to_owned()))?;
        m.input = input;
        Ok(())
    }

    /// Reads the model's file, verifies its SHA-256, and builds an optimised plan for its
    /// fixed input shape.
    pub fn load_model(&self, id: &str) -> Result<LoadedModel, FaceError> {
        let entry = self.entry(id)?.clone();
        let path = self.dir.join(&entry.file);
        let bytes = std::fs::read(&path).map_err(|e| FaceError::io(&path, e))?;
        let actual = hex::encode(Sha256::digest(&bytes));
        if !actual.eq_ignore_ascii_case(&entry.sha256) {
            return Err(FaceError::Checksum {
                file: entry.file.clone(),
                expected: entry.sha256.clone(),
                actual,
            });
        }
        let err = |e: TractError| FaceError::infer(id, format!("{e:#}"));
        let mut model = tract_onnx::onnx()
            .model_for_read(&mut std::io::Cursor::new(&bytes))
            .map_err(err)?;
        model
            .set_input_fact(0, f32::fact(entry.input.clone()).into())
            .map_err(err)?;
        let outputs = model
            .output_outlets()
            .map_err(err)?
            .iter()
            .map(|o| {
                model
                    .outlet_label(*o)
                    .map_or_else(|| model.node(o.node).name.clone(), str::to_owned)
            })
            .collect();
        let plan = model
            .into_optimized()
            .map_err(err)?
            .into_runnable()
            .map_err(err)?;
        Ok(LoadedModel {
            entry,
            plan,
            outputs,
        })
    }
}

impl LoadedModel {
    /// Runs the model on one NCHW input.
    pub fn run(&self, input: Tensor) -> Result<TVec<TValue>, FaceError> {
        let _flush = crate::denormals::FlushDenormals::on_this_thread();
        self.plan
            .run(tvec!(input.into()))
            .map_err(|e| FaceError::infer(&self.entry.id, format!("{e:#}")))
    }

    /// [`Self::run`] with tract's matrix products split over `pool` (see [`Threads`]).
    pub fn run_on(&self, input: Tensor, pool: &Threads) -> Result<TVec<TValue>, FaceError> {
        match &pool.0 {
            Some(ex) => multithread_tract_scope(ex.clone(), || self.run(input)),
            None => self.run(input),
        }
    }

    /// Index of the output with this name.
    pub fn output_index(&self, name: &str) -> Result<usize, FaceError> {
        self.outputs
            .iter()
            .position(|o| o == name)
            .ok_or_else(|| FaceError::infer(&self.entry.id, format!("no output `{name}`")))
    }
}

/// A thread pool for one model's matrix products (tract's `multithread-mm` executor).
/// Tract runs a model on the calling thread by default; the passive PAD model is too slow
/// for that, so the worker gives it both cores once the tracking loop has stopped.
#[derive(Clone, Default)]
pub struct Threads(Option<Executor>);

impl Threads {
    /// The calling thread only.
    pub fn single() -> Self {
        Self(None)
    }

    /// A private pool of `n` threads (`n` ≤ 1, or when the threads cannot be started: the
    /// calling thread only, with a warning).
    pub fn pool(n: usize) -> Self {
        if n <= 1 {
            return Self(None);
        }
        match rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .thread_name(|i| format!("face-mm-{i}"))
            .start_handler(|_| crate::denormals::FlushDenormals::for_this_thread())
            .build()
        {
            Ok(p) => Self(Some(Executor::MultiThread(Arc::new(p)))),
            Err(e) => {
                tracing::warn!(error = %e, "no model thread pool; running on one thread");
                Self(None)
            }
        }
    }

    /// Threads used per run.
    pub fn count(&self) -> usize {
        match &self.0 {
            Some(Executor::MultiThread(p)) => p.current_num_threads(),
            _ => 1,
        }
    }
}

impl std::fmt::Debug for Threads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Threads({})", self.count())
    }
}

/// The default models folder: `$MADOGUCHI_MODELS_DIR`, else `assets/models` of the source
/// tree (development, tests), else `/usr/share/madoguchi/models` (installed package).
pub fn default_models_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("MADOGUCHI_MODELS_DIR") {
        return PathBuf::from(d);
    }
    let dev = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/models");
    if dev.join("manifest.toml").exists() {
        return dev;
    }
    PathBuf::from("/usr/share/madoguchi/models")
}
