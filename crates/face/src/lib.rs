//! Face analysis on tract-onnx: detect (YuNet) → 5 landmarks → similarity alignment →
//! quality (ISO/IEC 29794-5 components) → liveness (CDCN depth; turn challenge) → embed
//! (SFace or dlib ResNet) → score against a threshold read from the thresholds file.
//! Enrollment from a still image behind the quality and liveness gates ([`enroll`]).
//! Also the capture loop choosing the best frame with guidance, a pipelined worker with the
//! head-turn challenge, the decision over its outcome ([`verify`]), the evaluation
//! (`face eval`, with the challenge on synthetic video in [`challenge_eval`]) and the `face`
//! subcommands ([`cli`]).
//!
//! Models come from `assets/models/` through a manifest with checksums; thresholds from
//! `assets/thresholds.toml`.
//!
//! What it must not do: talk to a camera device itself (frames come from the `camera`
//! crate's sources; `face verify` asks that crate for one), fetch a model at run time,
//! keep thresholds as constants in code, store or log a face image or a template, or know
//! about Tauri, the UI, the database or the network.

pub mod align;
pub mod capture;
pub mod challenge_eval;
pub mod cli;
mod denormals;
pub mod detect;
pub mod embed;
pub mod engine;
pub mod enroll;
mod error;
pub mod eval;
mod eval_plot;
pub mod fixtures;
pub mod guidance;
pub mod imgops;
pub mod jp2;
pub mod models;
pub mod pad;
pub mod quality;
pub mod thresholds;
pub mod verify;
pub mod worker;

pub use embed::{EmbedderKind, FaceTemplate};
pub use engine::{Analysis, Comparison, EngineOptions, FaceEngine, Liveness};
pub use error::FaceError;
