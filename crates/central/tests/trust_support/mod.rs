//! The trust-data scenario shared by the SQLite and PostgreSQL tests: kiosk key registration
//! (re-registration changes nothing, a new issuer key retires the kiosk's previous one, another
//! kiosk's key id is a conflict), template keys wrapped per kiosk and served while credentials
//! under them live, face credential events (a forged one from another kiosk flagged),
//! revocation of an issuer key, and every list signed by the list key.
#![allow(clippy::unwrap_used, dead_code)] // test helpers: a failed set-up is a failed test

use madoguchi_central::CentralError;
use madoguchi_central::store::{IngestStatus, NewEvent, Store};
use madoguchi_central::trust::{TEMPLATE_KEYS, TRUST_LIST};
use madoguchi_wire::{
    IssuerStatus, KioskKeys, KioskWrapKey, ListSigningKey, SignedList, TemplateKeyList,
    TemplateKeyStatus, TrustList,
};
use serde_json::json;

pub const HOUR_MS: i64 = 3_600_000;

/// A kiosk's key pairs: its wrap key and what it registers (an Ed25519 issuer key with `kid`).
pub fn kiosk_keys(kid: &str) -> (KioskWrapKey, KioskKeys) {
    let wrap = KioskWrapKey::generate();
    let issuer = ListSigningKey::generate().unwrap();
    let keys = KioskKeys {
        wrap_public_key: wrap.public_base64(),
        issuer_kid: kid.into(),
        issuer_public_key: issuer.public().to_base64(),
    };
    (wrap, keys)
}

/// A `face_credential.issued` event as the kiosk's ledger builds it (with its audit anchor).
pub fn issued(
    event_id: &str,
    credential_id: &str,
    issuer_kid: &str,
    template_kid: &str,
    expires_at_ms: i64,
) -> NewEvent {
    let payload = json!({
        "credential_id": credential_id, "issuer_kid": issuer_kid, "template_kid": template_kid,
        "issued_at_ms": expires_at_ms - 24 * HOUR_MS, "expires_at_ms": expires_at_ms,
        "identity_session_id": "sess-1", "confirmation_record_id": "rec-1",
        "audit": {"seq": 9, "hash": "00ff"}
    });
    NewEvent {
        event_id: event_id.into(),
        kind: "face_credential.issued".into(),
        payload: payload.to_string(),
        created_at_ms: 1,
        verification: "not_checked".into(),
    }
}

pub fn uuid(n: u64) -> String {
    format!("00000000-0000-4000-8000-{n:012x}")
}

fn code(r: Result<impl std::fmt::Debug, CentralError>) -> &'static str {
    match r {
        Err(CentralError::Conflict { code, .. }) => code,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

async fn trust(s: &Store, now: i64) -> TrustList {
    let list = s.trust_list(now).await.unwrap();
    // What the kiosk receives opens with the pinned list key.
    let signed = SignedList::from_json(&s.sign(&list).unwrap().to_json()).unwrap();
    assert_eq!(
        signed.open::<TrustList>(&s.list_public_key()).unwrap(),
        list
    );
    list
}

async fn templates(s: &Store, kiosk: &str, now: i64) -> TemplateKeyList {
    let list = s.template_key_list(kiosk, now).await.unwrap().unwrap();
    let signed = s.sign(&list).unwrap();
    assert_eq!(
        signed
            .open::<TemplateKeyList>(&s.list_public_key())
            .unwrap(),
        list
    );
    list
}

fn kids(l: &TemplateKeyList) -> Vec<(&str, TemplateKeyStatus)> {
    l.keys.iter().map(|k| (k.kid.as_str(), k.status)).collect()
}

/// The scenario, on any store (kiosks `K-TA`, `K-TB`; event ids 0xfc01 to 0xfc05 only).
pub async fn scenario(s: &Store) {
    use IngestStatus::*;
    let now = madoguchi_central::now_ms();
    let v0 = s.version(TRUST_LIST).await.unwrap();
    let t0 = s.version(TEMPLATE_KEYS).await.unwrap();

    // Registration, and the same again: no change, no version bump.
    let (wrap_a, keys_a) = kiosk_keys("a1a1a1a1a1a1a1a1");
    let r = s.register_kiosk_keys("K-TA", &keys_a).await.unwrap();
    assert!(r.changed);
    assert_eq!(r.trust_list_version as i64, v0 + 1);
    assert_eq!(
        s.version(TEMPLATE_KEYS).await.unwrap(),
        t0 + 1,
        "a new wrap key"
    );
    let again = s.register_kiosk_keys("K-TA", &keys_a).await.unwrap();
    assert!(!again.changed);
    assert_eq!(again.trust_list_version, r.trust_list_version);
    assert_eq!(s.version(TEMPLATE_KEYS).await.unwrap(), t0 + 1);
    let t = trust(s, now).await;
    let a1 = t
        .issuers
        .iter()
        .find(|i| i.kid == keys_a.issuer_kid)
        .unwrap();
    assert_eq!(
        (a1.status, a1.kiosk_id.as_str(), a1.public_key.as_str()),
        (
            IssuerStatus::Active,
            "K-TA",
            keys_a.issuer_public_key.as_str()
        )
    );

    // Another kiosk cannot take K-TA's issuer key id (nor with K-TA's own public key).
    let (wrap_b, mut keys_b) = kiosk_keys("a1a1a1a1a1a1a1a1");
    assert_eq!(
        code(s.register_kiosk_keys("K-TB", &keys_b).await),
        "issuer_kid_taken"
    );
    keys_b.issuer_public_key = keys_a.issuer_public_key.clone();
    assert_eq!(
        code(s.register_kiosk_keys("K-TB", &keys_b).await),
        "issuer_kid_taken"
    );
    // Nor the list key's id.
    keys_b.issuer_kid = s.list_public_key().key_id();
    assert_eq!(
        code(s.register_kiosk_keys("K-TB", &keys_b).await),
        "issuer_kid_taken"
    );
    // K-TA's same key id with another public key is refused too.
    let (_, mut swapped) = kiosk_keys("a1a1a1a1a1a1a1a1");
    swapped.wrap_public_key = keys_a.wrap_public_key.clone();
    assert_eq!(
        code(s.register_kiosk_keys("K-TA", &swapped).await),
        "issuer_kid_mismatch"
    );
    assert!(s.template_key_list("K-TB", now).await.unwrap().is_none());
    let (wrap_b2, keys_b) = kiosk_keys("b2b2b2b2b2b2b2b2");
    s.register_kiosk_keys("K-TB", &keys_b).await.unwrap();
    assert_eq!(
        s.version(TRUST_LIST).await.unwrap(),
        v0 + 2,
        "refusals changed nothing"
    );

    // A new issuer key for K-TA retires its previous one; the old one cannot come back.
    let (_, mut keys_a2) = kiosk_keys("a2a2a2a2a2a2a2a2");
    keys_a2.wrap_public_key = keys_a.wrap_public_key.clone();
    let t_before = s.version(TEMPLATE_KEYS).await.unwrap();
    let r = s.register_kiosk_keys("K-TA", &keys_a2).await.unwrap();
    assert_eq!(r.trust_list_version as i64, v0 + 3);
    assert_eq!(
        s.version(TEMPLATE_KEYS).await.unwrap(),
        t_before,
        "same wrap key"
    );
    let t = trust(s, now).await;
    let status = |t: &TrustList, kid: &str| t.issuers.iter().find(|i| i.kid == kid).unwrap().status;
    assert_eq!(status(&t, "a1a1a1a1a1a1a1a1"), IssuerStatus::Retired);
    assert_eq!(status(&t, "a2a2a2a2a2a2a2a2"), IssuerStatus::Active);
    assert_eq!(status(&t, "b2b2b2b2b2b2b2b2"), IssuerStatus::Active);
    assert_eq!(
        code(s.register_kiosk_keys("K-TA", &keys_a).await),
        "issuer_key_retired"
    );
    let mut bad = keys_a2.clone();
    bad.wrap_public_key = "A".repeat(43);
    assert!(matches!(
        s.register_kiosk_keys("K-TA", &bad).await,
        Err(CentralError::Invalid(_))
    ));

    // Template keys: the same key for every kiosk, wrapped for each.
    let k1 = s.rotate_template_key().await.unwrap();
    let la = templates(s, "K-TA", now).await;
    let lb = templates(s, "K-TB", now).await;
    assert_eq!(kids(&la), [(k1.as_str(), TemplateKeyStatus::Active)]);
    assert_eq!(
        (la.kiosk_id.as_str(), lb.kiosk_id.as_str()),
        ("K-TA", "K-TB")
    );
    let secret = wrap_a.unwrap("K-TA", &la.keys[0]).unwrap();
    assert_eq!(*wrap_b2.unwrap("K-TB", &lb.keys[0]).unwrap(), *secret);
    assert!(wrap_a.unwrap("K-TA", &lb.keys[0]).is_err(), "K-TB's copy");
    assert!(wrap_a.unwrap("K-TB", &lb.keys[0]).is_err(), "K-TB's copy");
    assert!(
        wrap_b.unwrap("K-TB", &lb.keys[0]).is_err(),
        "the refused registration's wrap key was not stored"
    );

    // K-TA issues a credential under k1; K-TB reports one under K-TA's issuer key (forged).
    let got = s
        .ingest(
            "K-TA",
            vec![issued(
                &uuid(0xfc01),
                "c1c1c1c1c1c1c1c1",
                "a2a2a2a2a2a2a2a2",
                &k1,
                now + HOUR_MS,
            )],
            now,
        )
        .await
        .unwrap();
    assert_eq!(got, [Stored]);
    let forged = issued(
        &uuid(0xfc02),
        "f0f0f0f0f0f0f0f0",
        "a2a2a2a2a2a2a2a2",
        &k1,
        now + 1000 * HOUR_MS,
    );
    assert_eq!(s.ingest("K-TB", vec![forged], now).await.unwrap(), [Stored]);
    let again = issued(
        &uuid(0xfc01),
        "c1c1c1c1c1c1c1c1",
        "a2a2a2a2a2a2a2a2",
        &k1,
        now + HOUR_MS,
    );
    assert_eq!(
        s.ingest("K-TA", vec![again], now).await.unwrap(),
        [Duplicate]
    );
    let mut unreadable = issued(&uuid(0xfc03), "c2", "a2", &k1, now);
    unreadable.payload = "[1]".into();
    assert_eq!(
        s.ingest("K-TA", vec![unreadable], now).await.unwrap(),
        [Stored]
    );
    let creds = s.face_credentials("", 100).await.unwrap();
    let mine: Vec<_> = creds
        .iter()
        .filter(|c| c.kiosk_id.starts_with("K-T"))
        .collect();
    assert_eq!(mine.len(), 1, "{creds:?}");
    assert_eq!(
        (mine[0].credential_id.as_str(), mine[0].kiosk_id.as_str()),
        ("c1c1c1c1c1c1c1c1", "K-TA")
    );
    let counts = s.credential_counts().await.unwrap();
    assert_eq!(counts.malformed_reasons.get("foreign_issuer"), Some(&1));
    assert_eq!(counts.malformed_reasons.get("unreadable"), Some(&1));

    // Rotations: k1 stays served while its credential lives; k2 never had one.
    let k2 = s.rotate_template_key().await.unwrap();
    assert_eq!(
        kids(&templates(s, "K-TA", now).await),
        [
            (k2.as_str(), TemplateKeyStatus::Active),
            (k1.as_str(), TemplateKeyStatus::Retired)
        ]
    );
    let k3 = s.rotate_template_key().await.unwrap();
    let l = templates(s, "K-TA", now).await;
    assert_eq!(
        kids(&l),
        [
            (k3.as_str(), TemplateKeyStatus::Active),
            (k1.as_str(), TemplateKeyStatus::Retired)
        ]
    );
    assert_eq!(
        *wrap_a.unwrap("K-TA", &l.keys[1]).unwrap(),
        *secret,
        "k1 unchanged"
    );
    // The forged credential (1000 h) did not keep k1 alive: past its own credential's expiry
    // k1 goes, with a new version; asking again at that time changes nothing.
    let later = now + 2 * HOUR_MS;
    let v_before = l.version;
    let l = templates(s, "K-TA", later).await;
    assert_eq!(kids(&l), [(k3.as_str(), TemplateKeyStatus::Active)]);
    assert!(l.version > v_before);
    assert_eq!(templates(s, "K-TA", later).await.version, l.version);
    // A late report of a credential under k2 brings k2 back (new version).
    let late = issued(
        &uuid(0xfc04),
        "c3c3c3c3c3c3c3c3",
        "a2a2a2a2a2a2a2a2",
        &k2,
        later + HOUR_MS,
    );
    assert_eq!(s.ingest("K-TA", vec![late], later).await.unwrap(), [Stored]);
    let l2 = templates(s, "K-TA", later).await;
    assert_eq!(
        kids(&l2),
        [
            (k3.as_str(), TemplateKeyStatus::Active),
            (k2.as_str(), TemplateKeyStatus::Retired)
        ]
    );
    assert!(l2.version > l.version);

    // Revoking an issuer key: on the trust list as revoked, once; unknown ids are errors.
    let v = s.version(TRUST_LIST).await.unwrap();
    assert!(s.revoke_issuer("a2a2a2a2a2a2a2a2").await.unwrap());
    assert!(!s.revoke_issuer("a2a2a2a2a2a2a2a2").await.unwrap());
    assert_eq!(s.version(TRUST_LIST).await.unwrap(), v + 1);
    assert!(matches!(
        s.revoke_issuer("0909090909090909").await,
        Err(CentralError::Invalid(_))
    ));
    assert!(
        matches!(s.revoke_issuer(&k3).await, Err(CentralError::Invalid(_))),
        "a template key is no issuer key"
    );
    let t = trust(s, madoguchi_central::now_ms()).await;
    let revoked = t
        .issuers
        .iter()
        .find(|i| i.kid == "a2a2a2a2a2a2a2a2")
        .unwrap();
    assert_eq!(revoked.status, IssuerStatus::Revoked);
    assert!(revoked.since_ms >= now);
    assert_eq!(t.version as i64, v + 1);
    assert_eq!(
        code(s.register_kiosk_keys("K-TA", &keys_a2).await),
        "issuer_key_revoked"
    );
    // Credentials under the revoked key are still recorded (the kiosks reject them).
    let after = issued(
        &uuid(0xfc05),
        "c4c4c4c4c4c4c4c4",
        "a2a2a2a2a2a2a2a2",
        &k3,
        later + HOUR_MS,
    );
    assert_eq!(
        s.ingest("K-TA", vec![after], later).await.unwrap(),
        [Stored]
    );
    assert_eq!(
        s.credential_counts()
            .await
            .unwrap()
            .malformed_reasons
            .get("foreign_issuer"),
        Some(&1)
    );
}
