//! Issue → verify round trips, exhaustive tamper tests, every rejection reason, size budget.

use std::collections::BTreeMap;

use madoguchi_faceqr::{
    IssueRequest, IssuerKey, Lang, LiveMatcher, MatchOutcome, ModelRef, Policy, Reason, Template,
    TemplateKeyring, TrustList, issue, render, verify_claims, verify_credential, verify_with_face,
};

const NOW: i64 = 1_800_000_000;
const DAY: i64 = 86_400;

/// Fixed 128-d test vector number `k` (deterministic, unit norm).
fn vector(k: u32) -> Vec<f32> {
    let v: Vec<f32> = (0..128)
        .map(|i| ((i as f32 + 1.0) * (0.731 + k as f32 * 0.177)).sin())
        .collect();
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.into_iter().map(|x| x / n).collect()
}

fn model() -> ModelRef {
    ModelRef {
        model_id: "mbf-128".into(),
        template_version: 1,
    }
}

struct Fixture {
    issuer: IssuerKey,
    keys: TemplateKeyring,
    trust: TrustList,
}

fn fixture() -> Fixture {
    let issuer = IssuerKey::generate().expect("issuer key");
    let keys = TemplateKeyring::generate().expect("template keys");
    let mut trust = TrustList::default();
    trust.add_issuer(issuer.trusted_issuer());
    Fixture {
        issuer,
        keys,
        trust,
    }
}

fn issue_for(
    f: &Fixture,
    t: &Template,
    issued_at: i64,
    expires_at: i64,
) -> madoguchi_faceqr::Issued {
    issue(
        &IssueRequest {
            template: t,
            model: model(),
            issued_at,
            expires_at,
            subject: Some("C-7f3a91".into()),
        },
        &f.issuer,
        &f.keys,
    )
    .expect("issue")
}

fn policy() -> Policy {
    Policy {
        now: NOW,
        clock_skew: 300,
        model: model(),
    }
}

#[test]
fn round_trip_and_symbol_size() {
    let f = fixture();
    let t = Template::quantise(&vector(1)).expect("template");
    let issued = issue_for(&f, &t, NOW - DAY, NOW + 365 * DAY);
    assert!(issued.text.starts_with("MQ1:"));
    let v = verify_credential(&issued.text, &f.trust, &f.keys, &policy()).expect("verifies");
    assert_eq!(v.template, t);
    assert_eq!(v.claims.credential_id, hex::encode(&issued.credential_id));
    assert_eq!(v.claims.issuer_kid, hex::encode(f.issuer.kid()));
    assert_eq!(v.claims.issued_at, NOW - DAY);
    assert_eq!(v.claims.expires_at, NOW + 365 * DAY);
    assert_eq!(v.claims.model, model());
    assert_eq!(v.claims.subject.as_deref(), Some("C-7f3a91"));
    assert!(v.template.cosine(&vector(1)).expect("cos") > 0.999);

    // Size budget: version <= 25 at EC level Q, without and with the longest subject reference.
    let bare = issue(
        &IssueRequest {
            template: &t,
            model: model(),
            issued_at: NOW,
            expires_at: NOW + DAY,
            subject: None,
        },
        &f.issuer,
        &f.keys,
    )
    .expect("issue");
    let longest = issue(
        &IssueRequest {
            template: &t,
            model: model(),
            issued_at: NOW,
            expires_at: NOW + DAY,
            subject: Some("X".repeat(madoguchi_faceqr::format::MAX_SUBJECT)),
        },
        &f.issuer,
        &f.keys,
    )
    .expect("issue");
    for (what, text) in [
        ("no subject", &bare.text),
        ("8-byte subject", &issued.text),
        ("16-byte subject", &longest.text),
    ] {
        let code = render::symbol(text).expect("fits the budget");
        let version = render::version(&code);
        let cose = base45::decode(&text[4..]).expect("base45");
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        std::io::Write::write_all(&mut z, &cose).expect("zlib");
        let zlen = z.finish().expect("zlib").len();
        println!(
            "128-d credential, {what}: {} payload bytes (zlib: {zlen}), {} text chars, QR version {version} at EC level Q",
            cose.len(),
            text.len()
        );
        assert!(
            version <= 25,
            "QR version {version} exceeds the budget of 25"
        );
        assert!(
            zlen >= cose.len(),
            "zlib would now save bytes: reconsider FORMAT.md"
        );
    }
}

#[test]
fn every_single_byte_tamper_of_the_payload_is_rejected() {
    let f = fixture();
    let t = Template::quantise(&vector(2)).expect("template");
    let issued = issue_for(&f, &t, NOW - DAY, NOW + DAY);
    let cose = base45::decode(&issued.text[4..]).expect("base45");
    let mut reasons: BTreeMap<&str, usize> = BTreeMap::new();
    let mut tried = 0usize;
    for i in 0..cose.len() {
        for b in 0..=255u8 {
            if b == cose[i] {
                continue;
            }
            let mut m = cose.clone();
            m[i] = b;
            let text = format!("MQ1:{}", base45::encode(&m));
            let r = verify_credential(&text, &f.trust, &f.keys, &policy())
                .expect_err(&format!("tamper at byte {i} to {b:#04x} was accepted"));
            *reasons.entry(r.reason.code()).or_default() += 1;
            tried += 1;
        }
    }
    println!(
        "{tried} single-byte tampers of {} bytes, all rejected: {reasons:?}",
        cose.len()
    );
    assert_eq!(tried, cose.len() * 255);
}

#[test]
fn every_single_character_tamper_of_the_text_is_rejected() {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";
    let f = fixture();
    let t = Template::quantise(&vector(3)).expect("template");
    let issued = issue_for(&f, &t, NOW - DAY, NOW + DAY);
    let bytes = issued.text.as_bytes();
    let mut tried = 0;
    for i in 0..bytes.len() {
        for &c in ALPHABET {
            if c == bytes[i] {
                continue;
            }
            let mut m = bytes.to_vec();
            m[i] = c;
            let text = String::from_utf8(m).expect("ascii");
            assert!(
                verify_credential(&text, &f.trust, &f.keys, &policy()).is_err(),
                "character tamper at {i} accepted"
            );
            tried += 1;
        }
    }
    // Truncations and extensions too.
    for n in 0..bytes.len() {
        assert!(
            verify_credential(&issued.text[..n], &f.trust, &f.keys, &policy()).is_err(),
            "truncation {n} accepted"
        );
    }
    assert!(verify_credential(&format!("{}0", issued.text), &f.trust, &f.keys, &policy()).is_err());
    println!("{tried} single-character tampers, all rejected");
}

#[test]
fn each_rejection_has_the_right_reason() {
    let f = fixture();
    let t = Template::quantise(&vector(4)).expect("template");
    let good = issue_for(&f, &t, NOW - DAY, NOW + DAY);
    let reason = |text: &str, trust: &TrustList, keys: &TemplateKeyring, p: &Policy| {
        verify_credential(text, trust, keys, p)
            .expect_err("must be rejected")
            .reason
    };

    // Expired.
    let old = issue_for(&f, &t, NOW - 10 * DAY, NOW - 1);
    assert_eq!(
        reason(&old.text, &f.trust, &f.keys, &policy()),
        Reason::Expired
    );
    // Issued in the future.
    let future = issue_for(&f, &t, NOW + 3600, NOW + DAY);
    assert_eq!(
        reason(&future.text, &f.trust, &f.keys, &policy()),
        Reason::NotYetValid
    );
    // Revoked credential.
    let mut trust = f.trust.clone();
    trust.revoke_credential(&good.credential_id);
    assert_eq!(
        reason(&good.text, &trust, &f.keys, &policy()),
        Reason::Revoked
    );
    // Revoked issuer key.
    let mut trust = f.trust.clone();
    let mut ti = f.issuer.trusted_issuer();
    ti.revoked = true;
    trust.add_issuer(ti);
    assert_eq!(
        reason(&good.text, &trust, &f.keys, &policy()),
        Reason::Revoked
    );
    // Unknown issuer: empty trust list, and a different issuer.
    assert_eq!(
        reason(&good.text, &TrustList::default(), &f.keys, &policy()),
        Reason::UnknownIssuer
    );
    let other = fixture();
    assert_eq!(
        reason(&good.text, &other.trust, &f.keys, &policy()),
        Reason::UnknownIssuer
    );
    // Bad signature: same kid on the trust list but another public key (forged issuer).
    let mut forged = TrustList::default();
    let mut ti = other.issuer.trusted_issuer();
    ti.kid = f.issuer.kid().to_vec();
    forged.add_issuer(ti);
    assert_eq!(
        reason(&good.text, &forged, &f.keys, &policy()),
        Reason::BadSignature
    );
    // Model mismatch.
    let p = Policy {
        model: ModelRef {
            model_id: "mbf-128".into(),
            template_version: 2,
        },
        ..policy()
    };
    assert_eq!(
        reason(&good.text, &f.trust, &f.keys, &p),
        Reason::ModelMismatch
    );
    // Template key not held.
    assert_eq!(
        reason(&good.text, &f.trust, &other.keys, &policy()),
        Reason::TemplateKeyUnknown
    );
    // Unreadable.
    assert_eq!(
        reason("HELLO", &f.trust, &f.keys, &policy()),
        Reason::Unreadable
    );
    assert_eq!(
        reason(
            &good.text.replacen("MQ1:", "MQ2:", 1),
            &f.trust,
            &f.keys,
            &policy()
        ),
        Reason::Unreadable
    );
    assert_eq!(
        reason("MQ1:%%%", &f.trust, &f.keys, &policy()),
        Reason::Unreadable
    );
    // Claims are readable without the template keys.
    let c = verify_claims(&good.text, &f.trust, &policy()).expect("claims");
    assert_eq!(c.credential_id, hex::encode(&good.credential_id));
}

/// A stand-in for the face crate: cosine against a fixed "live" vector.
struct FixedMatcher {
    live: Vec<f32>,
    live_ok: bool,
}

impl LiveMatcher for FixedMatcher {
    fn model(&self) -> ModelRef {
        model()
    }
    fn match_live(&mut self, template: &Template) -> MatchOutcome {
        if !self.live_ok {
            return MatchOutcome::LivenessFailed;
        }
        let score = template.cosine(&self.live).unwrap_or(-1.0);
        if score >= 0.6 {
            MatchOutcome::Match { score }
        } else {
            MatchOutcome::Mismatch { score }
        }
    }
}

#[test]
fn live_match_gate() {
    let f = fixture();
    let t = Template::quantise(&vector(5)).expect("template");
    let good = issue_for(&f, &t, NOW - DAY, NOW + DAY);
    // Same person: the enrolled vector plus a small perturbation.
    let live: Vec<f32> = vector(5)
        .iter()
        .zip(vector(9))
        .map(|(a, b)| a + 0.2 * b)
        .collect();
    let ok = verify_with_face(
        &good.text,
        &f.trust,
        &f.keys,
        NOW,
        300,
        &mut FixedMatcher {
            live,
            live_ok: true,
        },
    )
    .expect("accepted");
    assert!(ok.score > 0.9, "score {}", ok.score);
    let r = verify_with_face(
        &good.text,
        &f.trust,
        &f.keys,
        NOW,
        300,
        &mut FixedMatcher {
            live: vector(6),
            live_ok: true,
        },
    )
    .expect_err("other face");
    assert_eq!(r.reason, Reason::FaceMismatch);
    let r = verify_with_face(
        &good.text,
        &f.trust,
        &f.keys,
        NOW,
        300,
        &mut FixedMatcher {
            live: vector(5),
            live_ok: false,
        },
    )
    .expect_err("spoof");
    assert_eq!(r.reason, Reason::LivenessFailed);
}

#[test]
fn reasons_have_distinct_codes_and_both_languages() {
    let mut codes = std::collections::HashSet::new();
    for r in Reason::ALL {
        assert!(codes.insert(r.code()), "duplicate code {}", r.code());
        let ja = r.message(Lang::Ja);
        let en = r.message(Lang::En);
        assert!(!ja.is_ascii(), "{} JA message is not Japanese", r.code());
        assert!(en.is_ascii() && en.len() > 10, "{} EN message", r.code());
    }
}

#[test]
fn template_and_keys_never_in_debug_or_claims_json() {
    let f = fixture();
    let t = Template::from_parts(0.013, (0..128).map(|i| (i as i8).wrapping_mul(3)).collect())
        .expect("template");
    let issued = issue_for(&f, &t, NOW - DAY, NOW + DAY);
    let v = verify_credential(&issued.text, &f.trust, &f.keys, &policy()).expect("verifies");
    let dbg = format!("{v:?}");
    let json = serde_json::to_string(&v.claims).expect("json");
    for s in [&dbg, &json] {
        assert!(!s.contains("0.013"), "scale leaked: {s}");
        assert!(!s.contains("[0, 3, 6"), "values leaked: {s}");
    }
    assert!(dbg.contains("redacted"));
    assert!(!format!("{:?}", f.issuer).contains("secret"));
}

#[test]
fn signed_but_malformed_claims_are_unreadable() {
    let f = fixture();
    let t = Template::quantise(&vector(7)).expect("template");
    let good = issue_for(&f, &t, NOW - DAY, NOW + DAY);
    let cose = base45::decode(&good.text[4..]).expect("base45");
    let sign1 = <coset::CoseSign1 as coset::TaggedCborSerializable>::from_tagged_slice(&cose)
        .expect("cose");
    let claims = sign1.payload.expect("payload");
    // Every truncation and every single-byte change of the claims, re-signed by the trusted
    // issuer: never accepted unless the bytes still form a valid credential, never a panic.
    let mut accepted = 0;
    for n in 0..claims.len() {
        let text = madoguchi_faceqr::format::sign_raw_claims(claims[..n].to_vec(), &f.issuer)
            .expect("sign");
        let r = verify_credential(&text, &f.trust, &f.keys, &policy())
            .expect_err("truncated claims accepted");
        assert!(
            matches!(r.reason, Reason::Unreadable | Reason::TemplateKeyUnknown),
            "{r:?}"
        );
    }
    for i in 0..claims.len() {
        for b in [0x00, 0x01, 0x18, 0x40, 0x7f, 0x80, 0xa0, 0xff] {
            let mut m = claims.clone();
            if m[i] == b {
                continue;
            }
            m[i] = b;
            let text = madoguchi_faceqr::format::sign_raw_claims(m, &f.issuer).expect("sign");
            if let Ok(v) = verify_credential(&text, &f.trust, &f.keys, &policy()) {
                // Only a signed change of iat, exp or sub can survive: the id, the model and
                // the template are bound by the AEAD and the model check.
                assert_eq!(v.claims.credential_id, hex::encode(&good.credential_id));
                assert_eq!(v.claims.model, model());
                assert_eq!(v.template, t);
                accepted += 1;
            }
        }
    }
    // Changes inside iat/exp/sub values can still be valid claims (the issuer signed them);
    // anything touching the encrypted template must fail decryption.
    println!("re-signed claim variants accepted: {accepted}");
    let r = verify_credential(
        &madoguchi_faceqr::format::sign_raw_claims(vec![0xa0], &f.issuer).expect("sign"),
        &f.trust,
        &f.keys,
        &policy(),
    );
    assert_eq!(r.expect_err("empty claims").reason, Reason::Unreadable);
}
