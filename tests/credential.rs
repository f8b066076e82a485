//! End-to-end tests of the face credential at the counter: the real `madoguchi` binary on the
//! simulators (virtual card through a private `pcscd` + vpcd, the synthetic customer and the
//! simulated customer's phone in front of the simulated camera, the embedded backend), both
//! windows driven through WebKitWebDriver.
//!
//! - enrollment right after a verified identity, the QR on the customer display (decoded
//!   here: it is a credential and carries no personal data), then authentication with the QR
//!   the phone shows — in Japanese and in English;
//! - a genuine QR with a still photo of its owner (stopped by the challenge), a credential
//!   revoked at the backend and the kiosk's issuer key revoked (both rejected after the next
//!   pull), enrollment refused once the issuer key is revoked;
//! - stale trust lists (a kiosk offline for two days) and an expired credential, both refused
//!   with the reason shown.
//!
//! - re-binding a passkey device after an identity verification (Japanese) and after a QR
//!   authentication (English): the one-time binding code's QR on the customer display
//!   (decoded here as the new phone would), redeemed once by the bank's passkey service at
//!   the backend, the second redeem refused.
//!
//! - a duplicate enrollment: the same face enrolled under a second identity is flagged by the
//!   backend's 1:N search and reviewed by the teller before issuing (Japanese and English).
//!
//! Each checks the ledger and what the backend holds. Screenshots of every step of both
//! windows: `target/e2e-shots/enroll-…`, `qr-auth-…`, `rebind-…`, `duplicate-…`. In the
//! nextest group `pcscd`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine as _;
use madoguchi_e2e::{
    Display, Driver, Run, STEP, Session, TELLER, assert_logs_clean, backend_admin, backend_events,
    backend_rows, ledger, start_kiosk,
};
use madoguchi_faceqr::{
    IssueRequest, TemplateKeyring, TrustList,
    keys::IssuerKey,
    verify::{Policy, verify_credential},
};
use madoguchi_virtual_card::harness::Pcscd;
use serde_json::{Value, json};

const KIOSK_ID: &str = "E2E-QR-01";

fn data_dir(name: &str) -> PathBuf {
    madoguchi_e2e::fresh_data_dir(&format!("credential-{name}"))
}

/// A kiosk that pulls every 2 s (so that a revocation reaches it quickly).
fn driver(display: &Display, data: &Path, lang: &str, extra: &[(&str, &str)]) -> Driver {
    let mut env = vec![("MADOGUCHI__BACKEND__PULL_INTERVAL_SECONDS", "2")];
    env.extend_from_slice(extra);
    Driver::start_env(
        display,
        &madoguchi_e2e::kiosk_env(KIOSK_ID, data, lang, &env),
    )
}

/// The trust lists' line of the kiosk status (the teller's device list).
fn trust_status(run: &Run, s: &Session<'_>) -> Value {
    let st = run.invoke_teller(s, "kiosk_status", json!({}));
    st["devices"]
        .as_array()
        .and_then(|d| d.iter().find(|d| d["kind"] == "trust").cloned())
        .unwrap_or(Value::Null)
}

/// Waits until the trust lists' line satisfies `ok`.
fn wait_trust(run: &Run, s: &Session<'_>, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let t = trust_status(run, s);
        if ok(&t) {
            return t;
        }
        assert!(Instant::now() < deadline, "{}: {what}: {t}", run.name);
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// A verified identity (PIN route, the hopper card, the live customer) up to the review.
fn verify_identity(run: &Run, s: &Session<'_>) {
    run.invoke_teller(
        s,
        "sim_card",
        json!({ "insert": true, "profile": "hopper" }),
    );
    run.start(s, "pin", None);
    run.wait_step(s, "customer", "pin_entry");
    run.type_keys(s, "1234");
    run.wait_step(s, "teller", "review");
    run.assert_teller(s, "proposed-outcome", "data-outcome", "verified");
}

/// Decodes the QR the customer display shows.
fn shown_qr(run: &Run, s: &Session<'_>) -> String {
    let src = run
        .on_customer(s)
        .script("return document.querySelector('[data-testid=customer-qr] img')?.getAttribute('src') ?? '';")
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let b64 = src
        .strip_prefix("data:image/png;base64,")
        .unwrap_or_else(|| panic!("{}: the customer display shows no PNG QR", run.name));
    let png = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .expect("base64");
    let img = image::load_from_memory(&png).expect("a PNG").to_luma8();
    madoguchi_faceqr::read::decode_rqrr(&img).expect("the QR decodes")
}

/// Enrolls the verified customer: the QR shown, decoded, saved (done). Returns the QR text
/// and the credential id.
fn enroll(run: &Run, s: &Session<'_>, shots: bool) -> (String, String) {
    if shots {
        run.shots(s, "01-review");
    }
    run.click_teller(s, "confirm-enroll-button");
    run.wait_step(s, "teller", "face");
    run.wait_step(s, "customer", "face");
    if shots {
        run.shots(s, "02-face");
    }
    run.wait_step(s, "teller", "show_qr");
    run.wait_step(s, "customer", "show_qr");
    if shots {
        run.shots(s, "03-show-qr");
    }
    let text = shown_qr(run, s);
    assert!(text.starts_with("MQ1:"), "{}: {text}", run.name);
    let credential = run.teller_attr(s, "issued", "data-credential");
    assert_eq!(
        credential.len(),
        16,
        "{}: the issued credential id",
        run.name
    );
    run.click_teller(s, "issued-done");
    run.wait_step(s, "teller", "result");
    run.wait_step(s, "customer", "result");
    if shots {
        run.shots(s, "04-issued");
    }
    run.assert_teller(s, "result-outcome", "data-outcome", "issued");
    run.assert_customer(s, "customer-outcome", "data-outcome", "issued");
    run.click_teller(s, "next-button");
    run.wait_step(s, "teller", "idle");
    (text, credential)
}

/// Starts a QR authentication with `qr` on the phone and waits for its end; returns
/// (outcome, reason). For the screenshots the phone shows its QR only once the scan step is
/// on screen (a QR is read within a frame or two).
fn authenticate(
    run: &Run,
    s: &Session<'_>,
    qr: &str,
    shots: Option<&'static str>,
) -> (String, String) {
    if shots.is_some() {
        run.invoke_teller(s, "sim_phone_clear", json!({}));
    } else {
        run.invoke_teller(s, "sim_phone_show", json!({ "text": qr }));
    }
    run.click_teller(s, "start-route-face-qr");
    run.click_teller(s, "start-button");
    run.wait_step(s, "customer", "scan_qr");
    run.on_customer(s).wait_for(
        "return !!document.querySelector('[data-screen=customer] [data-testid=customer-qr-guide]');",
        STEP,
        "the QR guide on the customer display",
    );
    if let Some(prefix) = shots {
        s.wait_for(
            "const i = document.querySelector('[data-screen=customer] [data-testid=preview]'); return !!i && (i.getAttribute('src') || '').startsWith('data:image/jpeg');",
            STEP,
            "the phone in the live preview",
        );
        shots_as(run, s, prefix, "01-scan");
        run.invoke_teller(s, "sim_phone_show", json!({ "text": qr }));
        run.on_teller(s).wait_for(
            "const st = document.querySelector('[data-screen=teller]')?.dataset.step; \
             return st === 'face' || st === 'result';",
            STEP,
            "the QR read",
        );
        let step = run
            .on_teller(s)
            .script("return document.querySelector('[data-screen=teller]').dataset.step;");
        if step == json!("face") {
            shots_as(run, s, prefix, "02-face");
        }
    }
    run.wait_step(s, "teller", "result");
    run.wait_step(s, "customer", "result");
    if let Some(prefix) = shots {
        shots_as(run, s, prefix, "03-result");
    }
    let out = (
        run.teller_attr(s, "result-outcome", "data-outcome"),
        run.teller_attr(s, "result-reason", "data-code"),
    );
    run.click_teller(s, "next-button");
    run.wait_step(s, "teller", "idle");
    out
}

/// Screenshots of both windows: `target/e2e-shots/{name}-{step}-{teller,customer}.png`.
fn shots_as(run: &Run, s: &Session<'_>, name: &str, step: &str) {
    run.on_teller(s)
        .screenshot(&format!("{name}-{step}-teller"));
    run.on_customer(s)
        .screenshot(&format!("{name}-{step}-customer"));
}

fn sessions_of(l: &madoguchi_ledger::Ledger) -> Vec<madoguchi_ledger::SessionSummary> {
    let mut s = l.sessions_since(0, 100).expect("sessions");
    s.sort_by_key(|x| x.started_at_ms);
    s
}

fn enroll_then_authenticate(lang: &'static str, name: &'static str) {
    let _pcscd = Pcscd::start().expect("a private pcscd with vpcd");
    let display = Display::start(1280, 800);
    let data = data_dir(name);
    let d = driver(&display, &data, lang, &[]);
    let (s, run) = start_kiosk("enroll", name, &d, &["--simulate"]);
    wait_trust(&run, &s, "fresh lists", |t| t["state"] == "ok");
    verify_identity(&run, &s);
    let (text, _) = enroll(&run, &s, true);
    // The QR carries no name, My Number or photo: only the signed claims and an encrypted
    // template (Base45 of CBOR; none of the profile's values in any encoding of it).
    for secret in ["試験", "Hopper", "123456789018", "1946"] {
        assert!(!text.contains(secret), "{name}: {secret} in the QR");
    }
    // The simulated phone now holds it; the customer shows it with the live face.
    let shots = if lang == "ja" {
        "qr-auth-ja"
    } else {
        "qr-auth-en"
    };
    let (outcome, reason) = authenticate(&run, &s, &text, Some(shots));
    assert_eq!(
        (outcome.as_str(), reason.as_str()),
        ("verified", "faceqr.match")
    );
    run.close_synced(s, &data);
    // Neither the customer's data nor the credential's text in any log line.
    assert_logs_clean(&data, "hopper", &[&text]);

    let l = ledger(&data);
    let sessions = sessions_of(&l);
    let kinds: Vec<&str> = sessions.iter().map(|x| x.procedure.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "identity_verification",
            "enrollment",
            "face_qr_authentication"
        ],
        "{name}"
    );
    assert!(sessions.iter().all(|x| x.teller_id == TELLER));
    assert_eq!(sessions[1].reason.as_deref(), Some("credential.issued"));
    assert_eq!(
        sessions[2].decision,
        Some(madoguchi_ledger::Decision::Accepted)
    );
    // The backend learnt which verified identity the credential belongs to.
    let issued: Vec<Value> = backend_events(&data)
        .into_iter()
        .filter(|(k, _)| k == "face_credential.issued")
        .map(|(_, p)| p)
        .collect();
    assert_eq!(issued.len(), 1, "{name}");
    assert_eq!(issued[0]["identity_session_id"], json!(sessions[0].id));
    let held = backend_rows(
        &data,
        "SELECT credential_id, kiosk_id, identity_session_id FROM face_credentials",
    );
    assert_eq!(held.len(), 1);
    assert_eq!(held[0][1], KIOSK_ID);
    assert_eq!(json!(held[0][2]), json!(sessions[0].id));
    assert_eq!(json!(held[0][0]), issued[0]["credential_id"]);
}

#[test]
fn credential_enroll_then_authenticate_ja() {
    enroll_then_authenticate("ja", "ja");
}

#[test]
fn credential_enroll_then_authenticate_en() {
    enroll_then_authenticate("en", "en");
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The reasons a still photo is stopped with (the challenge, or the passive cue first).
const ATTACK_REASONS: [&str; 3] = ["challenge.failed", "challenge.timed_out", "pad.not_live"];

#[test]
fn credential_revocations_and_a_still_photo_are_refused_at_the_counter() {
    let _pcscd = Pcscd::start().expect("a private pcscd with vpcd");
    let display = Display::start(1280, 800);
    let data = data_dir("revoked");
    let d = driver(&display, &data, "ja", &[]);
    let (s, run) = start_kiosk("qr-auth", "revoked", &d, &["--simulate"]);
    wait_trust(&run, &s, "fresh lists", |t| t["state"] == "ok");
    verify_identity(&run, &s);
    let (first_qr, first) = enroll(&run, &s, false);

    // A genuine QR held up with a still photo of its owner: the challenge stops it.
    run.invoke_teller(
        &s,
        "sim_presenter",
        json!({ "face": "customer", "kind": "held_photo" }),
    );
    let (outcome, reason) = authenticate(&run, &s, &first_qr, Some("qr-auth-still-photo"));
    assert_eq!(outcome, "attack_suspected", "reason {reason}");
    assert!(ATTACK_REASONS.contains(&reason.as_str()), "{reason}");
    run.invoke_teller(
        &s,
        "sim_presenter",
        json!({ "face": "customer", "kind": "customer" }),
    );

    // Revoked at the backend (`madoguchi-central revoke --credential-id`): the next pull
    // brings it; the teller's device list counts it; the QR is rejected.
    let revoked_before = trust_status(&run, &s)["params"]["revoked"]
        .as_u64()
        .unwrap_or(0);
    let id = first.clone();
    let t0 = Instant::now();
    backend_admin(&data, |store| async move {
        store.revoke(&id, "lost phone").await
    })
    .expect("revoke the credential");
    wait_trust(&run, &s, "the revocation", |t| {
        t["params"]["revoked"].as_u64() == Some(revoked_before + 1)
    });
    eprintln!(
        "revocation reached the kiosk's lists in {} ms (pull every 2 s, status every 3 s)",
        t0.elapsed().as_millis()
    );
    let (outcome, reason) = authenticate(&run, &s, &first_qr, Some("qr-auth-revoked"));
    assert_eq!(
        (outcome.as_str(), reason.as_str()),
        ("not_verified", "faceqr.revoked")
    );

    // A new credential, then the kiosk's issuer key revoked (`revoke --issuer-kid`): every
    // credential it signed is rejected, and it issues no more.
    verify_identity(&run, &s);
    let (second_qr, second) = enroll(&run, &s, false);
    assert_ne!(first, second);
    let kid = backend_rows(
        &data,
        &format!("SELECT kid FROM keys WHERE purpose = 'issuer' AND kiosk_id = '{KIOSK_ID}'"),
    );
    assert_eq!(
        kid.len(),
        1,
        "one issuer key registered by the kiosk: {kid:?}"
    );
    let kid = kid[0][0].clone();
    let version = trust_status(&run, &s)["params"]["trustVersion"]
        .as_u64()
        .unwrap_or(0);
    backend_admin(
        &data,
        |store| async move { store.revoke_issuer(&kid).await },
    )
    .expect("revoke the issuer key");
    wait_trust(&run, &s, "the revoked issuer key", |t| {
        t["params"]["trustVersion"]
            .as_u64()
            .is_some_and(|v| v > version)
    });
    let (outcome, reason) = authenticate(&run, &s, &second_qr, Some("qr-auth-issuer-revoked"));
    assert_eq!(
        (outcome.as_str(), reason.as_str()),
        ("not_verified", "faceqr.revoked")
    );
    verify_identity(&run, &s);
    run.click_teller(&s, "confirm-enroll-button");
    run.wait_step(&s, "teller", "result");
    shots_as(&run, &s, "enroll-issuer-revoked", "01-result");
    run.assert_teller(&s, "result-outcome", "data-outcome", "not_verified");
    run.assert_teller(
        &s,
        "result-reason",
        "data-code",
        "credential.issuer_inactive",
    );
    run.click_teller(&s, "next-button");
    run.close_synced(s, &data);

    // The ledger and the backend hold every refusal with its reason.
    let l = ledger(&data);
    let qr: Vec<Option<String>> = sessions_of(&l)
        .into_iter()
        .filter(|x| x.procedure == "face_qr_authentication")
        .map(|x| x.reason)
        .collect();
    assert_eq!(qr.len(), 3, "{qr:?}");
    assert_eq!(qr[1].as_deref(), Some("faceqr.revoked"));
    assert_eq!(qr[2].as_deref(), Some("faceqr.revoked"));
    let outcomes: Vec<Value> = backend_events(&data)
        .into_iter()
        .filter(|(k, _)| k == "outcome.recorded")
        .map(|(_, p)| p)
        .collect();
    let revoked = outcomes
        .iter()
        .filter(|o| {
            o["reasons"]
                .as_array()
                .is_some_and(|r| r.first() == Some(&json!("faceqr.revoked")))
        })
        .count();
    assert_eq!(revoked, 2, "{outcomes:?}");
    let issued = backend_rows(
        &data,
        "SELECT credential_id FROM face_credentials ORDER BY issued_at_ms",
    );
    assert_eq!(issued, [vec![first], vec![second]]);
}

/// The same credential with other dates, signed with the kiosk's own issuer key (read from
/// its ledger): a credential that expired yesterday.
fn expired_copy(data: &Path, text: &str) -> String {
    let l = ledger(data);
    let t = madoguchi_sync::trust::load(&l, KIOSK_ID).expect("the kiosk's trust data");
    let list = TrustList::from_wire(&t.trust, &t.revocations).expect("lists");
    let keys = TemplateKeyring::from_keys(
        t.template_keys[0].kid.clone(),
        t.template_keys
            .iter()
            .map(|k| (k.kid.clone(), k.key.clone())),
    )
    .expect("keyring");
    let now = now_ms() / 1000;
    // The model the kiosk runs, from the manifest it reads.
    let manifest =
        madoguchi_face::models::Manifest::load(&madoguchi_e2e::workspace().join("assets/models"))
            .expect("the model manifest");
    let entry = manifest.entry("sface").expect("sface");
    let model = madoguchi_faceqr::ModelRef {
        model_id: entry.id.clone(),
        template_version: entry.template_version.expect("a template version"),
    };
    let policy = Policy {
        now,
        clock_skew: 300,
        model: model.clone(),
    };
    let v =
        verify_credential(text, &list, &keys, &policy).expect("the kiosk's credential verifies");
    let issuer = IssuerKey::from_secret(t.own_issuer_kid.clone(), &t.own_issuer_seed);
    madoguchi_faceqr::issue(
        &IssueRequest {
            template: &v.template,
            model,
            issued_at: now - 400 * 86_400,
            expires_at: now - 86_400,
            subject: None,
        },
        &issuer,
        &keys,
    )
    .expect("issue")
    .text
}

#[test]
fn credential_stale_lists_and_an_expired_credential_are_refused() {
    let _pcscd = Pcscd::start().expect("a private pcscd with vpcd");
    let display = Display::start(1280, 800);
    let data = data_dir("stale");
    let text = {
        let d = driver(&display, &data, "ja", &[]);
        let (s, run) = start_kiosk("qr-auth", "expired", &d, &["--simulate"]);
        wait_trust(&run, &s, "fresh lists", |t| t["state"] == "ok");
        verify_identity(&run, &s);
        let (text, _) = enroll(&run, &s, false);
        // Expired yesterday, otherwise genuine.
        let expired = expired_copy(&data, &text);
        let (outcome, reason) = authenticate(&run, &s, &expired, Some("qr-auth-expired"));
        assert_eq!(
            (outcome.as_str(), reason.as_str()),
            ("not_verified", "faceqr.expired")
        );
        run.close_synced(s, &data);
        text
    };
    // Two days offline: the lists in the ledger are the backend's as it signed them two days
    // ago (its own list key, versions unchanged), and the backend is unreachable now.
    let two_days_ago = now_ms() - 2 * 86_400_000;
    let (trust, revocations) = backend_admin(&data, |store| async move {
        let t = store.trust_list(two_days_ago).await?;
        let r = store.revocation_list(two_days_ago).await?;
        Ok((store.sign(&t)?, store.sign(&r)?))
    })
    .expect("lists as of two days ago");
    {
        let l = ledger(&data);
        for (kind, signed) in [
            (madoguchi_ledger::CacheKind::TrustList, trust),
            (madoguchi_ledger::CacheKind::Revocations, revocations),
        ] {
            l.cache_store(kind, &signed.version.to_string(), &signed.to_json())
                .expect("the old list in the cache");
        }
    }
    let d = driver(
        &display,
        &data,
        "ja",
        &[("MADOGUCHI__BACKEND__URL", "http://127.0.0.1:9")],
    );
    let (s, run) = start_kiosk("qr-auth", "stale", &d, &["--simulate"]);
    let t = wait_trust(&run, &s, "stale lists", |t| t["detail"] == "trust.stale");
    assert_eq!(t["state"], "error");
    assert!(
        t["params"]["ageMinutes"].as_i64().unwrap_or(0) >= 2 * 24 * 60 - 1,
        "{t}"
    );
    run.on_teller(&s).wait_for(
        "return document.querySelector('[data-screen=teller] [data-kind=trust]')?.dataset.state === 'error';",
        STEP,
        "the teller sees the stale lists",
    );
    shots_as(&run, &s, "qr-auth-stale", "00-device-list");
    let (outcome, reason) = authenticate(&run, &s, &text, Some("qr-auth-stale"));
    assert_eq!(
        (outcome.as_str(), reason.as_str()),
        ("not_verified", "trust.stale")
    );
    s.close();
    madoguchi_e2e::wait_exited(&data);
    let l = ledger(&data);
    let last = sessions_of(&l).pop().expect("sessions");
    assert_eq!(last.procedure, "face_qr_authentication");
    assert_eq!(last.reason.as_deref(), Some("trust.stale"));
}

/// The binding code step of a re-binding: the code's QR on the customer display (decoded
/// here, as the new phone would), never on the teller console; the teller finishes. Returns
/// the code.
fn shown_binding_code(run: &Run, s: &Session<'_>) -> String {
    run.wait_step(s, "teller", "show_code");
    run.wait_step(s, "customer", "show_code");
    run.shots(s, "03-show-code");
    let code = shown_qr(run, s);
    assert!(
        code.len() == 32
            && code
                .bytes()
                .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b)),
        "{}: a 32-character base32 binding code",
        run.name
    );
    assert!(
        !run.html(s, "teller").contains(&code),
        "{}: the binding code on the teller console",
        run.name
    );
    run.assert_customer(s, "customer-message", "data-code", "customer.scan_binding");
    run.click_teller(s, "binding-done");
    run.wait_step(s, "teller", "result");
    run.wait_step(s, "customer", "result");
    run.shots(s, "04-result");
    run.assert_teller(s, "result-outcome", "data-outcome", "code_issued");
    run.assert_customer(s, "customer-outcome", "data-outcome", "code_issued");
    run.click_teller(s, "next-button");
    run.wait_step(s, "teller", "idle");
    code
}

/// The bank's passkey registration service redeems `code` at the backend: once, then refused.
/// Returns whom the code bound.
fn redeem_twice(data: &Path, code: &str) -> String {
    use madoguchi_central::binding::Refusal;
    let code = code.to_owned();
    let (first, second) = backend_admin(data, |store| async move {
        let token = madoguchi_central::token_digest("e2e-passkey-service-token");
        store.add_service("passkey-registration", &token).await?;
        let first = store
            .redeem_binding_code("passkey-registration", &code, now_ms())
            .await?;
        let second = store
            .redeem_binding_code("passkey-registration", &code, now_ms())
            .await?;
        Ok((first, second))
    })
    .expect("the backend");
    let first = first.expect("the first redeem succeeds");
    assert_eq!(first.kiosk_id, KIOSK_ID);
    assert_eq!(
        second.err(),
        Some(Refusal::AlreadyRedeemed),
        "second redeem"
    );
    first.customer_ref
}

/// A binding code's row at the backend: proof kind, customer, kiosk, session, redeemed by.
fn binding_rows(data: &Path) -> Vec<Vec<String>> {
    backend_rows(
        data,
        "SELECT proof_kind, customer_ref, kiosk_id, session_id, \
         COALESCE(redeemed_by, '') FROM binding_codes ORDER BY created_at_ms",
    )
}

#[test]
fn credential_rebind_a_passkey_after_an_identity_verification_ja() {
    let _pcscd = Pcscd::start().expect("a private pcscd with vpcd");
    let display = Display::start(1280, 800);
    let data = data_dir("rebind-identity");
    let d = driver(&display, &data, "ja", &[]);
    let (s, run) = start_kiosk("rebind", "ja", &d, &["--simulate"]);
    verify_identity(&run, &s);
    run.shots(&s, "01-review");
    run.click_teller(&s, "confirm-rebind-button");
    // The backend answers on loopback within a few hundred ms: the request step is shot only
    // when it is still on screen.
    run.on_teller(&s).wait_for(
        "const st = document.querySelector('[data-screen=teller]')?.dataset.step; \
         return st === 'requesting_code' || st === 'show_code';",
        STEP,
        "the binding code requested",
    );
    let step = run
        .on_teller(&s)
        .script("return document.querySelector('[data-screen=teller]').dataset.step;");
    if step == json!("requesting_code") {
        run.shots(&s, "02-requesting");
    }
    let code = shown_binding_code(&run, &s);
    run.close_synced(s, &data);
    assert_logs_clean(&data, "hopper", &[&code]);

    let l = ledger(&data);
    let sessions = sessions_of(&l);
    let kinds: Vec<&str> = sessions.iter().map(|x| x.procedure.as_str()).collect();
    assert_eq!(kinds, ["identity_verification", "device_rebinding"]);
    assert_eq!(sessions[1].reason.as_deref(), Some("binding.issued"));
    assert_eq!(
        sessions[1].decision,
        Some(madoguchi_ledger::Decision::Accepted)
    );
    let rows = binding_rows(&data);
    assert_eq!(rows.len(), 1);
    assert_eq!(
        rows[0][..4],
        [
            "identity".to_owned(),
            sessions[0].id.clone(),
            KIOSK_ID.to_owned(),
            sessions[1].id.clone()
        ]
    );
    assert_eq!(rows[0][4], "", "not redeemed yet");
    // Only the code's digest is held, never the code.
    assert!(
        backend_rows(&data, "SELECT * FROM binding_codes")
            .iter()
            .flatten()
            .all(|v| !v.contains(&code))
    );
    let customer = redeem_twice(&data, &code);
    assert_eq!(customer, sessions[0].id, "bound to the verified identity");
    assert_eq!(binding_rows(&data)[0][4], "passkey-registration");
}

#[test]
fn credential_rebind_a_passkey_with_the_face_qr_en() {
    let _pcscd = Pcscd::start().expect("a private pcscd with vpcd");
    let display = Display::start(1280, 800);
    let data = data_dir("rebind-credential");
    let d = driver(&display, &data, "en", &[]);
    let (s, run) = start_kiosk("rebind", "en", &d, &["--simulate"]);
    wait_trust(&run, &s, "fresh lists", |t| t["state"] == "ok");
    verify_identity(&run, &s);
    let (qr, credential) = enroll(&run, &s, false);
    // A later visit: the customer brings only the phone.
    run.invoke_teller(&s, "sim_phone_show", json!({ "text": qr }));
    run.click_teller(&s, "start-route-face-qr");
    run.click_teller(&s, "start-rebind");
    run.shots(&s, "01-start");
    run.click_teller(&s, "start-button");
    run.wait_step(&s, "teller", "face");
    run.shots(&s, "02-face");
    let code = shown_binding_code(&run, &s);
    run.close_synced(s, &data);
    assert_logs_clean(&data, "hopper", &[&code, &qr]);

    let l = ledger(&data);
    let sessions = sessions_of(&l);
    let kinds: Vec<&str> = sessions.iter().map(|x| x.procedure.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "identity_verification",
            "enrollment",
            "face_qr_authentication",
            "device_rebinding"
        ]
    );
    assert_eq!(sessions[2].reason.as_deref(), Some("faceqr.match"));
    assert_eq!(sessions[3].reason.as_deref(), Some("binding.issued"));
    let rows = binding_rows(&data);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0][0], "credential");
    assert_eq!(rows[0][3], sessions[3].id);
    // The credential's customer is the identity verification it was issued after.
    let customer = redeem_twice(&data, &code);
    assert_eq!(customer, sessions[0].id);
    let held = backend_rows(
        &data,
        &format!(
            "SELECT identity_session_id FROM face_credentials WHERE credential_id = '{credential}'"
        ),
    );
    assert_eq!(held, [[sessions[0].id.clone()]]);
}

/// A verified identity with `profile`'s card and its own face in front of the camera, up to
/// the review.
fn verify_as(run: &Run, s: &Session<'_>, profile: &str, face: &str, pin: &str) {
    run.invoke_teller(
        s,
        "sim_presenter",
        json!({ "face": face, "kind": "customer" }),
    );
    run.invoke_teller(s, "sim_card", json!({ "insert": true, "profile": profile }));
    run.start(s, "pin", None);
    run.wait_step(s, "customer", "pin_entry");
    run.type_keys(s, pin);
    run.wait_step(s, "teller", "review");
    run.assert_teller(s, "proposed-outcome", "data-outcome", "verified");
}

/// The same face enrolled under a second identity (obama's card, then obama2's — another name
/// and birth date, a photo of the same man): the backend's 1:N search flags the second
/// enrollment, the teller reviews it and issues after checking the documents.
fn duplicate_flagged(lang: &'static str) {
    let _pcscd = Pcscd::start().expect("a private pcscd with vpcd");
    let display = Display::start(1280, 800);
    let data = data_dir(&format!("duplicate-{lang}"));
    let d = driver(&display, &data, lang, &[]);
    let (s, run) = start_kiosk("duplicate", lang, &d, &["--simulate"]);
    wait_trust(&run, &s, "fresh lists", |t| t["state"] == "ok");
    let first = madoguchi_virtual_card::profile("obama").expect("profile");
    verify_as(&run, &s, "obama", "obama", &first.credentials.text_pin);
    let _ = enroll(&run, &s, false);
    let second = madoguchi_virtual_card::profile("obama2").expect("profile");
    verify_as(&run, &s, "obama2", "obama2", &second.credentials.text_pin);
    run.shots(&s, "01-review");
    run.click_teller(&s, "confirm-enroll-button");
    run.wait_step(&s, "teller", "duplicate_review");
    run.shots(&s, "02-duplicate-review");
    let message = run.teller_attr(&s, "step-message", "data-code");
    assert_eq!(message, "teller.duplicate_review");
    run.click_teller(&s, "duplicate-issue");
    run.wait_step(&s, "teller", "show_qr");
    run.shots(&s, "03-show-qr");
    run.click_teller(&s, "issued-done");
    run.wait_step(&s, "teller", "result");
    run.shots(&s, "04-result");
    run.click_teller(&s, "next-button");
    run.close_synced(s, &data);
    assert_logs_clean(&data, "obama", &[]);
    assert_logs_clean(&data, "obama2", &[]);

    let l = ledger(&data);
    let sessions = sessions_of(&l);
    let kinds: Vec<&str> = sessions.iter().map(|x| x.procedure.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "identity_verification",
            "enrollment",
            "identity_verification",
            "enrollment"
        ]
    );
    // The outcome records as the backend received them.
    let outcome_events: Vec<Value> = backend_events(&data)
        .into_iter()
        .filter(|(k, _)| k == "outcome.recorded")
        .map(|(_, p)| p)
        .collect();
    let reasons = |id: &str| -> Vec<String> {
        outcome_events
            .iter()
            .filter(|p| p["session_id"] == json!(id))
            .flat_map(|p| p["reasons"].as_array().cloned().unwrap_or_default())
            .filter_map(|r| r.as_str().map(str::to_owned))
            .collect()
    };
    assert!(reasons(&sessions[1].id).contains(&"duplicate.none".to_owned()));
    assert!(reasons(&sessions[3].id).contains(&"duplicate.flagged".to_owned()));
    // The backend holds the flag of the second enrollment only, and both templates sealed.
    let flags = backend_rows(&data, "SELECT session_id, matches FROM duplicate_flags");
    assert_eq!(flags, [[sessions[3].id.clone(), "1".to_owned()]]);
    assert_eq!(
        backend_rows(&data, "SELECT COUNT(*) FROM face_templates"),
        [["2".to_owned()]]
    );
}

#[test]
fn credential_duplicate_enrollment_is_flagged_ja() {
    duplicate_flagged("ja");
}

#[test]
fn credential_duplicate_enrollment_is_flagged_en() {
    duplicate_flagged("en");
}
