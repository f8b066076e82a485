//! Face analysis on tract-onnx: detect (YuNet) → 5 landmarks → align to 112×112 → quality
//! (ISO/IEC 29794-5 components) → liveness (presentation-attack detection) → embed → match
//! against a threshold read from the thresholds file.
//!
//! Status: empty. The pipeline arrives with the face issue.
//!
//! What it must not do: open a camera (frames come from `camera`), fetch a model at run time,
//! keep thresholds as constants in code, store or log a face image or a template, or know
//! about Tauri, the UI, the database or the network.
