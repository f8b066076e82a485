//! Face detection with YuNet: letterbox the frame into the model's square input, decode the
//! three stride heads (8/16/32) into boxes, scores and 5 landmarks, non-maximum suppression.
//!
//! Landmark order (as YuNet gives them, seen from the camera): the eye on the image's left
//! (the subject's right eye), the eye on the image's right, nose tip, mouth corner on the
//! image's left, mouth corner on the image's right. It does not track faces between frames.

use image::RgbImage;
use tract_onnx::prelude::*;

use crate::FaceError;
use crate::models::LoadedModel;

/// A point in frame pixels.
pub type Point = [f32; 2];

/// One detected face.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Detection {
    /// Box left, top, width, height in frame pixels.
    pub bbox: [f32; 4],
    /// Detector confidence 0..1.
    pub score: f32,
    /// The 5 landmarks (see the module doc for the order).
    pub landmarks: [Point; 5],
}

impl Detection {
    /// Distance between the eye centres in pixels.
    pub fn inter_eye(&self) -> f32 {
        let [a, b] = [self.landmarks[0], self.landmarks[1]];
        ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt()
    }
}

/// YuNet at one input size.
#[derive(Debug, Clone)]
pub struct Detector {
    model: LoadedModel,
    size: usize,
    heads: Vec<(usize, [usize; 4])>,
}

impl Detector {
    /// Wraps a loaded YuNet (square input from the manifest).
    pub fn new(model: LoadedModel) -> Result<Self, FaceError> {
        let size = *model.entry.input.get(2).unwrap_or(&0);
        if size == 0 || !size.is_multiple_of(32) || model.entry.input.get(3) != Some(&size) {
            return Err(FaceError::infer(
                &model.entry.id,
                "input must be square, a multiple of 32",
            ));
        }
        let mut heads = Vec::new();
        for s in [8usize, 16, 32] {
            let idx = [
                model.output_index(&format!("cls_{s}"))?,
                model.output_index(&format!("obj_{s}"))?,
                model.output_index(&format!("bbox_{s}"))?,
                model.output_index(&format!("kps_{s}"))?,
            ];
            heads.push((s, idx));
        }
        Ok(Self { model, size, heads })
    }

    /// The loaded model (benchmarks time it alone).
    pub fn model(&self) -> &LoadedModel {
        &self.model
    }

    /// Input side in pixels.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Builds the letterboxed BGR input and the scale from frame to input.
    pub fn preprocess(&self, img: &RgbImage) -> (Tensor, f32) {
        let s = self.size;
        let (w, h) = img.dimensions();
        let scale = (s as f32 / w as f32).min(s as f32 / h as f32);
        let nw = ((w as f32 * scale).round() as u32).clamp(1, s as u32);
        let nh = ((h as f32 * scale).round() as u32).clamp(1, s as u32);
        let resized;
        let src = if (nw, nh) == (w, h) {
            img
        } else {
            resized = crate::imgops::resize(img, nw, nh);
            &resized
        };
        let mut t = tract_ndarray::Array4::<f32>::zeros((1, 3, s, s));
        for (x, y, p) in src.enumerate_pixels() {
            let (x, y) = (x as usize, y as usize);
            t[[0, 0, y, x]] = p[2] as f32;
            t[[0, 1, y, x]] = p[1] as f32;
            t[[0, 2, y, x]] = p[0] as f32;
        }
        (t.into_tensor(), scale)
    }

    /// Detects faces with score ≥ `min_score`, best first, after NMS (IoU 0.3).
    pub fn detect(&self, img: &RgbImage, min_score: f32) -> Result<Vec<Detection>, FaceError> {
        let (input, scale) = self.preprocess(img);
        let out = self.model.run(input)?;
        let id = &self.model.entry.id;
        let mut dets = Vec::new();
        for (stride, [ci, oi, bi, ki]) in &self.heads {
            let view = |i: usize| {
                out[i]
                    .to_plain_array_view::<f32>()
                    .map_err(|e| FaceError::infer(id, e))
                    .map(|v| v.iter().copied().collect::<Vec<f32>>())
            };
            let (cls, obj, bbox, kps) = (view(*ci)?, view(*oi)?, view(*bi)?, view(*ki)?);
            let cols = self.size / stride;
            let n = cols * cols;
            if cls.len() < n || obj.len() < n || bbox.len() < 4 * n || kps.len() < 10 * n {
                return Err(FaceError::infer(id, "unexpected output shape"));
            }
            let s = *stride as f32;
            for i in 0..n {
                let score = (cls[i].clamp(0.0, 1.0) * obj[i].clamp(0.0, 1.0)).sqrt();
                if score < min_score {
                    continue;
                }
                let (r, c) = ((i / cols) as f32, (i % cols) as f32);
                let b = &bbox[4 * i..4 * i + 4];
                let cx = (c + b[0]) * s;
                let cy = (r + b[1]) * s;
                let bw = b[2].exp() * s;
                let bh = b[3].exp() * s;
                let k = &kps[10 * i..10 * i + 10];
                let mut landmarks = [[0.0; 2]; 5];
                for (j, lm) in landmarks.iter_mut().enumerate() {
                    *lm = [(k[2 * j] + c) * s / scale, (k[2 * j + 1] + r) * s / scale];
                }
                dets.push(Detection {
                    bbox: [
                        (cx - bw / 2.0) / scale,
                        (cy - bh / 2.0) / scale,
                        bw / scale,
                        bh / scale,
                    ],
                    score,
                    landmarks,
                });
            }
        }
        Ok(nms(dets, 0.3))
    }
}

fn iou(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let x1 = a[0].max(b[0]);
    let y1 = a[1].max(b[1]);
    let x2 = (a[0] + a[2]).min(b[0] + b[2]);
    let y2 = (a[1] + a[3]).min(b[1] + b[3]);
    let inter = (x2 - x1).max(0.0) * (y2 - y1).max(0.0);
    let union = a[2] * a[3] + b[2] * b[3] - inter;
    if union <= 0.0 { 0.0 } else { inter / union }
}

/// Greedy non-maximum suppression, best score first.
pub fn nms(mut dets: Vec<Detection>, max_iou: f32) -> Vec<Detection> {
    dets.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut keep: Vec<Detection> = Vec::new();
    for d in dets {
        if keep.iter().all(|k| iou(&k.bbox, &d.bbox) <= max_iou) {
            keep.push(d);
        }
    }
    keep
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(x: f32, score: f32) -> Detection {
        Detection {
            bbox: [x, 0.0, 10.0, 10.0],
            score,
            landmarks: [[0.0; 2]; 5],
        }
    }

    #[test]
    fn nms_keeps_the_best_of_overlapping_boxes() {
        let kept = nms(vec![det(0.0, 0.7), det(1.0, 0.9), det(50.0, 0.8)], 0.3);
        assert_eq!(kept.len(), 2);
        assert_eq!(kept[0].score, 0.9);
        assert_eq!(kept[1].bbox[0], 50.0);
    }
}
