//! The active turn challenge through the real verification worker on synthetic video made
//! from the committed bona fide photos (see `madoguchi_face::challenge_eval`): a face that
//! turns the asked way passes; a still print, a print tilted like a turning head, and a replay
//! turning the wrong way do not. Also: the challenge phase reports turn guidance to the
//! customer, cancelling during the challenge ends the verification without an outcome, and
//! someone else turning their head after a photo was captured fails the challenge.

use std::path::{Path, PathBuf};
use std::time::Duration;

use madoguchi_camera::synthetic::{Motion, SyntheticSource, Turn as Motion3d, TurnSchedule};
use madoguchi_face::EmbedderKind;
use madoguchi_face::challenge_eval::{self, ChallengeEval, Swap};
use madoguchi_face::engine::{EngineOptions, FaceEngine};
use madoguchi_face::pad::{ChallengeResult, Turn};
use madoguchi_face::verify::{Decision, decide};
use madoguchi_face::worker::{Event, Phase, VerifyOptions, spawn_verify};

fn engine() -> FaceEngine {
    FaceEngine::load_default(&EngineOptions {
        embedders: vec![EmbedderKind::Sface],
        pad: false,
    })
    .expect("models load")
}

fn original(ident: &str, stem: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/eval")
        .join(ident)
        .join(format!("orig_{stem}.jpg"))
}

#[test]
fn turning_faces_pass_and_every_synthetic_attack_on_the_challenge_fails() {
    let photos = [
        original("grace_hopper", "grace_hopper_512x512"),
        original("biden", "biden"),
        original("obama", "obama"),
        original("similarfaces_a", "similarfaces_image1"),
    ];
    let r: ChallengeEval = challenge_eval::run(&engine(), &photos).expect("challenge eval");
    println!("{}", challenge_eval::markdown(&r));
    assert_eq!(r.bona_fide.n + r.bona_fide.no_face, photos.len());
    assert!(r.bona_fide.n >= 3, "{:?}", r.bona_fide);
    assert!(
        r.bona_fide.passed * 4 >= r.bona_fide.n * 3,
        "at least 3 in 4 turning faces pass: {:?}",
        r.bona_fide
    );
    let kinds: Vec<&str> = r.attacks.iter().map(|a| a.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "print_still",
            "print_tilted",
            "replay_wrong_way",
            "swap_after_capture"
        ]
    );
    for a in &r.attacks {
        assert!(a.n >= 3, "{a:?}");
        assert_eq!(a.passed, 0, "no {} passes the challenge: {a:?}", a.kind);
        assert_eq!(a.rate, 0.0);
    }
    // The tilted print turns, but its landmarks keep their proportions.
    let tilted = &r.attacks[1];
    assert!(
        tilted.mean_peak_yaw < r.bona_fide.mean_peak_yaw / 2.0,
        "tilted print yaw {} vs turning face {}",
        tilted.mean_peak_yaw,
        r.bona_fide.mean_peak_yaw
    );
    let wrong = &r.attacks[2];
    assert_eq!(wrong.failed, wrong.n, "turning the other way fails at once");
}

#[test]
fn the_challenge_phase_guides_the_customer_and_can_be_cancelled() {
    let e = engine();
    let photo = image::open(original("grace_hopper", "grace_hopper_512x512"))
        .expect("photo")
        .to_rgb8();
    let reference = e
        .analyse(&photo, EmbedderKind::Sface, false)
        .expect("face")
        .template;
    // A still photo never completes the challenge: cancel it once it has started.
    let src = SyntheticSource::new(photo, None, 640, 480, 15.0, true).expect("source");
    let h = spawn_verify(
        e.clone(),
        Box::new(src),
        reference,
        VerifyOptions {
            window: Duration::from_millis(300),
            pad: false,
            challenge: Some(Turn::Right),
            challenge_timeout: Duration::from_secs(30),
            ..VerifyOptions::new(EmbedderKind::Sface)
        },
    );
    let mut challenge_events = 0;
    let mut end = None;
    for ev in h.events.iter() {
        match ev {
            Event::Progress {
                phase: Phase::Challenge,
                guidance,
                ..
            } => {
                assert_eq!(guidance.code, "face.turn_right");
                challenge_events += 1;
                if challenge_events == 3 {
                    h.cancel();
                }
            }
            Event::Progress { .. } => {}
            Event::Done(_) => end = Some("done".to_owned()),
            Event::Failed { message } => end = Some(message),
        }
    }
    assert!(challenge_events >= 3);
    assert_eq!(end.as_deref(), Some("cancelled"), "no outcome after cancel");
}

#[test]
fn someone_else_turning_for_the_captured_face_fails_the_challenge() {
    let e = engine();
    let framed = |ident: &str, stem: &str| {
        let img = image::open(original(ident, stem)).expect("photo").to_rgb8();
        challenge_eval::head_and_shoulders(&e, &img)
            .expect("detect")
            .expect("a face")
    };
    // The victim's photo is held up for the capture; then the attacker turns their head.
    let (victim, _) = framed("grace_hopper", "grace_hopper_512x512");
    let (attacker, d) = framed("obama", "obama");
    let reference = e
        .analyse(&victim, EmbedderKind::Sface, false)
        .expect("face")
        .template;
    let still = Motion {
        sway: 0.0,
        scale: 0.0,
        light: 0.0,
    };
    let a = SyntheticSource::new(victim, None, 640, 480, 15.0, false)
        .expect("a")
        .with_motion(still);
    let b = SyntheticSource::new(attacker, None, 640, 480, 15.0, false)
        .expect("b")
        .with_motion(still)
        .with_turn(TurnSchedule::customer(
            Motion3d::Head { face: d.bbox },
            Turn::Left.image_degrees(35.0, false),
            Duration::from_millis(300),
        ));
    let o = spawn_verify(
        e,
        Box::new(Swap::new(a, b, 9)),
        reference,
        VerifyOptions {
            window: Duration::from_millis(400),
            pad: false,
            challenge: Some(Turn::Left),
            challenge_timeout: Duration::from_secs(4),
            ..VerifyOptions::new(EmbedderKind::Sface)
        },
    )
    .wait()
    .expect("outcome");
    assert!(o.comparison.expect("captured").matched, "the photo matches");
    let c = o.challenge.expect("challenge ran");
    println!("swap: {c:?}");
    assert_eq!(c.result, ChallengeResult::Failed, "{c:?}");
    assert_eq!(
        c.same_face,
        Some(false),
        "caught by the same-face check: {c:?}"
    );
    let (d, why) = decide(&o, false);
    assert_eq!(d, Decision::AttackSuspected);
    assert_eq!(why, ["challenge.failed"]);
}

#[test]
fn a_mirrored_camera_swaps_image_left_and_right_for_the_challenge() {
    let e = engine();
    let img = image::open(original("grace_hopper", "grace_hopper_512x512"))
        .expect("photo")
        .to_rgb8();
    let (photo, d) = challenge_eval::head_and_shoulders(&e, &img)
        .expect("detect")
        .expect("a face");
    let reference = e
        .analyse(&photo, EmbedderKind::Sface, false)
        .expect("face")
        .template;
    // On a mirrored camera the customer turning left moves the nose toward the image's left.
    let run = |mirrored: bool| {
        let src = challenge_eval::clip(
            &photo,
            Some(TurnSchedule::customer(
                Motion3d::Head { face: d.bbox },
                Turn::Left.image_degrees(35.0, true),
                Duration::from_millis(700),
            )),
        )
        .expect("clip");
        let o = spawn_verify(
            e.clone(),
            Box::new(src),
            reference.clone(),
            VerifyOptions {
                window: Duration::from_millis(400),
                pad: false,
                challenge: Some(Turn::Left),
                challenge_timeout: Duration::from_secs(3),
                mirrored,
                ..VerifyOptions::new(EmbedderKind::Sface)
            },
        )
        .wait()
        .expect("outcome");
        let c = o.challenge.expect("challenge ran");
        println!("mirrored {mirrored}: {c:?}");
        c.result
    };
    assert_eq!(run(true), ChallengeResult::Passed);
    assert_eq!(
        run(false),
        ChallengeResult::Failed,
        "the wrong way on a plain camera"
    );
}
