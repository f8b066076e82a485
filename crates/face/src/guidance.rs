//! Guidance for the customer from the quality components: a stable code the UI translates,
//! and both texts (Japanese and English) for command-line use and the UI's catalogue.
//!
//! It does not decide whether a frame is good enough (the capture loop does, with the
//! thresholds file).

use serde::Serialize;

use crate::quality::Quality;

/// One guidance message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Guidance {
    /// Stable code, e.g. `face.move_closer`.
    pub code: &'static str,
    /// Japanese text.
    pub ja: &'static str,
    /// English text.
    pub en: &'static str,
}

/// Every message, for the UI's catalogue and its completeness test.
pub const ALL: &[Guidance] = &[
    NO_FACE,
    MULTIPLE,
    MOVE_CLOSER,
    CENTRE,
    LOOK,
    TOO_DARK,
    TOO_BRIGHT,
    UNEVEN,
    HOLD_STILL,
    OK,
    TURN_LEFT,
    TURN_RIGHT,
];

/// No face.
pub const NO_FACE: Guidance = Guidance {
    code: "face.none",
    ja: "カメラの方を向いてください",
    en: "Please face the camera",
};
/// More than one face.
pub const MULTIPLE: Guidance = Guidance {
    code: "face.multiple",
    ja: "お一人でカメラの前にお立ちください",
    en: "Only one person in front of the camera, please",
};
/// Face too small.
pub const MOVE_CLOSER: Guidance = Guidance {
    code: "face.move_closer",
    ja: "もう少しカメラに近づいてください",
    en: "Please move closer to the camera",
};
/// Face at the edge.
pub const CENTRE: Guidance = Guidance {
    code: "face.center",
    ja: "顔を画面の中央に合わせてください",
    en: "Please center your face in the frame",
};
/// Head turned or tilted.
pub const LOOK: Guidance = Guidance {
    code: "face.look_at_camera",
    ja: "まっすぐカメラを見てください",
    en: "Please look straight at the camera",
};
/// Too dark.
pub const TOO_DARK: Guidance = Guidance {
    code: "face.too_dark",
    ja: "暗すぎます。明るい場所でお願いします",
    en: "Too dark: please move into the light",
};
/// Too bright.
pub const TOO_BRIGHT: Guidance = Guidance {
    code: "face.too_bright",
    ja: "明るすぎます。強い光を避けてください",
    en: "Too bright: please avoid strong light",
};
/// One side lit.
pub const UNEVEN: Guidance = Guidance {
    code: "face.uneven_light",
    ja: "顔に影がかかっています",
    en: "Your face is unevenly lit",
};
/// Blurred.
pub const HOLD_STILL: Guidance = Guidance {
    code: "face.hold_still",
    ja: "そのまま動かないでください",
    en: "Please hold still",
};
/// Good.
pub const OK: Guidance = Guidance {
    code: "face.ok",
    ja: "そのままお待ちください",
    en: "Good, please wait",
};
/// Challenge: turn left (the customer's left).
pub const TURN_LEFT: Guidance = Guidance {
    code: "face.turn_left",
    ja: "ゆっくり左を向いてください",
    en: "Please slowly turn your head to the left",
};
/// Challenge: turn right.
pub const TURN_RIGHT: Guidance = Guidance {
    code: "face.turn_right",
    ja: "ゆっくり右を向いてください",
    en: "Please slowly turn your head to the right",
};

/// The message for a frame: none found, several found, or the worst component below 60.
pub fn for_quality(faces: usize, q: Option<&Quality>) -> Guidance {
    let Some(q) = q else { return NO_FACE };
    if faces == 0 {
        return NO_FACE;
    }
    if q.single_face < 50.0 {
        return MULTIPLE;
    }
    let mut worst = (q.face_size, MOVE_CLOSER);
    for (v, g) in [
        (q.margins, CENTRE),
        (q.pose, LOOK),
        (q.illumination, UNEVEN),
        (q.sharpness, HOLD_STILL),
    ] {
        if v < worst.0 {
            worst = (v, g);
        }
    }
    if q.exposure < worst.0 {
        worst = (q.exposure, exposure_side(q));
    }
    if worst.0 < 60.0 { worst.1 } else { OK }
}

fn exposure_side(q: &Quality) -> Guidance {
    if q.exposure_dark {
        TOO_DARK
    } else {
        TOO_BRIGHT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_has_both_languages_and_a_unique_code() {
        let mut codes: Vec<&str> = ALL.iter().map(|g| g.code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), ALL.len());
        assert!(
            ALL.iter()
                .all(|g| !g.ja.is_empty() && !g.en.is_empty() && g.code.starts_with("face."))
        );
        assert!(
            ALL.iter().all(|g| !g.ja.is_ascii()),
            "Japanese texts are Japanese"
        );
    }
}
