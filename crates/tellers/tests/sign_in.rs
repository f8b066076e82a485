//! Registration and sign-in end to end, with soft keys: there is no hardware key here, so
//! every test drives the software CTAP2 authenticator (`SoftKey`) against the real verifier.
//!
//! Covered: register and sign in; a key never registered; a disabled teller; replay and reuse
//! of a challenge; expiry; a cloned key caught by its counter; user verification required;
//! a key kept in a file and loaded again; wrong origin and RP id; the PIN counting down;
//! soft keys outside simulation; double registration; revocation; roles approving a
//! registration; one ceremony for several tellers.

use std::time::Instant;

use madoguchi_tellers::proto::{AllowCredentials, Url, UserVerificationPolicy};
use madoguchi_tellers::{
    AuthError, KeyAuthenticator, Now, RegistrationRequest, Role, RpConfig, SignIn, SignInVerifier,
    SoftKey, StaticPinUi, StoredCredential, TellerAccount, TellerId, TellerKeys, UvBehaviour,
};

const PIN: &str = "2468";

fn sim_config() -> RpConfig {
    RpConfig {
        allow_soft_keys: true,
        ..RpConfig::default()
    }
}

fn verifier() -> SignInVerifier {
    SignInVerifier::new(sim_config()).expect("simulation config is valid")
}

fn account(id: &str, role: Role) -> TellerAccount {
    TellerAccount {
        id: TellerId::new(id).expect("valid id"),
        display_name: format!("Teller {id}"),
        role,
        enabled: true,
    }
}

fn t0() -> Now {
    Now::at(10_000, 1_764_590_400_000)
}

fn keys(account: &TellerAccount, credentials: &[StoredCredential]) -> TellerKeys {
    TellerKeys {
        account: account.clone(),
        credentials: credentials.to_vec(),
    }
}

/// The first key of an installation, for a supervisor.
fn register_first(
    v: &mut SignInVerifier,
    key: &mut SoftKey,
    supervisor: &TellerAccount,
    now: Now,
) -> StoredCredential {
    let request = v
        .start_first_registration(supervisor, &[], "soft key A", now)
        .expect("registration starts");
    let response = key
        .register(&request, &StaticPinUi::new(PIN))
        .expect("soft key registers");
    v.finish_registration(&response, |_| false, now)
        .expect("registration verifies")
}

fn sign_in(
    v: &mut SignInVerifier,
    key: &mut SoftKey,
    tellers: &[TellerKeys],
    now: Now,
) -> Result<SignIn, AuthError> {
    let request = v.start_sign_in(tellers, now)?;
    let response = key.authenticate(&request, &StaticPinUi::new(PIN))?;
    v.finish_sign_in(&response, tellers, now)
}

fn code<T>(result: Result<T, AuthError>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(e) => e.code(),
    }
}

#[test]
fn soft_key_registers_and_signs_in_no_hardware_key_here() {
    let mut v = verifier();
    let sup = account("sup-1", Role::Supervisor);
    let mut key = SoftKey::new("supervisor's soft key", PIN).expect("soft key");

    let started = Instant::now();
    let ui = StaticPinUi::new(PIN);
    let request = v
        .start_first_registration(&sup, &[], "soft key A", t0())
        .expect("registration starts");
    assert_eq!(
        request.options.public_key.rp.id, "madoguchi.kiosk.invalid",
        "the default RP id"
    );
    assert_eq!(
        request
            .options
            .public_key
            .authenticator_selection
            .as_ref()
            .map(|s| s.user_verification),
        Some(UserVerificationPolicy::Required),
        "registration requires user verification"
    );
    let response = key.register(&request, &ui).expect("soft key registers");
    let cred = v
        .finish_registration(&response, |_| false, t0())
        .expect("registration verifies");
    let registered = started.elapsed();
    assert_eq!(ui.pin_requests(), 1, "the key asked for its PIN");
    assert_eq!(ui.touches(), 1, "and for a touch");
    assert_eq!(cred.teller().as_str(), "sup-1");
    assert!(cred.is_soft());
    assert!(cred.registered_by().is_none());
    assert_eq!(cred.sign_count(), 0);
    assert_eq!(cred.label(), "soft key A");
    assert_eq!(key.credential_ids(), std::slice::from_ref(cred.id()));

    // The cache / sync form: JSON and back, and the copy still verifies.
    let json = serde_json::to_string(&cred).expect("serialises");
    let cached: StoredCredential = serde_json::from_str(&json).expect("parses back");
    assert_eq!(cached.id(), cred.id());

    let now = t0().plus_ms(5_000);
    let sign_in_started = Instant::now();
    let signed = sign_in(&mut v, &mut key, &[keys(&sup, &[cached])], now).expect("signs in");
    let signed_in = sign_in_started.elapsed();
    eprintln!("soft key: register {registered:?}, sign-in {signed_in:?}");

    assert_eq!(signed.teller().as_str(), "sup-1");
    assert_eq!(signed.role(), Role::Supervisor);
    assert_eq!(signed.credential_id(), cred.id());
    assert_eq!(signed.previous_counter(), 0);
    assert!(signed.counter() > 0, "the soft key's counter moved");
    let updated = signed.updated_credential();
    assert_eq!(updated.sign_count(), signed.counter());
    assert_eq!(updated.last_used_at_unix_ms(), Some(now.unix_ms));
    let record = signed.record();
    assert_eq!(record.teller.as_str(), "sup-1");
    assert!(record.user_verified && record.soft_key);
    assert_eq!(record.at_unix_ms, now.unix_ms);
    assert_eq!(v.pending(), 0, "finished ceremonies are gone");
}

#[test]
fn supervisor_registers_a_tellers_soft_key_then_the_teller_signs_in() {
    let mut v = verifier();
    let sup = account("sup-1", Role::Supervisor);
    let teller = account("t-0042", Role::Teller);
    let mut sup_key = SoftKey::new("sup", PIN).expect("soft key");
    let mut teller_key = SoftKey::new("teller", PIN).expect("soft key");
    let sup_cred = register_first(&mut v, &mut sup_key, &sup, t0());
    let approval = sign_in(&mut v, &mut sup_key, &[keys(&sup, &[sup_cred])], t0())
        .expect("supervisor signs in");

    let request = v
        .start_registration(&approval, &teller, &[], "blue soft key", t0())
        .expect("a supervisor may register keys");
    let response = teller_key
        .register(&request, &StaticPinUi::new(PIN))
        .expect("registers");
    let cred = v
        .finish_registration(&response, |_| false, t0())
        .expect("verifies");
    assert_eq!(cred.teller(), &teller.id);
    assert_eq!(cred.registered_by(), Some(&sup.id));

    let signed =
        sign_in(&mut v, &mut teller_key, &[keys(&teller, &[cred])], t0()).expect("teller in");
    assert_eq!(signed.teller(), &teller.id);
    assert_eq!(signed.role(), Role::Teller);

    // A teller's sign-in approves nothing.
    let other = account("t-0043", Role::Teller);
    let refused = v.start_registration(&signed, &other, &[], "x", t0());
    assert_eq!(code(refused), "auth.not_permitted");
}

#[test]
fn first_registration_is_for_supervisors_only() {
    let mut v = verifier();
    for role in [Role::Teller, Role::Technician] {
        let refused = v.start_first_registration(&account("x", role), &[], "k", t0());
        assert_eq!(code(refused), "auth.not_permitted", "{role:?}");
    }
    assert_eq!(v.pending(), 0);
}

#[test]
fn second_soft_key_never_registered_is_refused() {
    let mut v = verifier();
    let sup = account("sup-1", Role::Supervisor);
    let mut key_a = SoftKey::new("A", PIN).expect("soft key");
    let mut key_b = SoftKey::new("B", PIN).expect("soft key");
    let cred = register_first(&mut v, &mut key_a, &sup, t0());
    let tellers = [keys(&sup, &[cred])];

    // At the key: B holds none of the allowed credentials (CTAP2_ERR_NO_CREDENTIALS).
    let request = v.start_sign_in(&tellers, t0()).expect("starts");
    let at_key = key_b.authenticate(&request, &StaticPinUi::new(PIN));
    assert_eq!(code(at_key), "auth.unknown_key");

    // At the verifier: B has a credential of its own (registered with another relying party
    // instance that never told us) and signs our challenge with it.
    let mut elsewhere = verifier();
    let other = account("sup-9", Role::Supervisor);
    let b_request = elsewhere
        .start_first_registration(&other, &[], "B", t0())
        .expect("starts");
    key_b
        .register(&b_request, &StaticPinUi::new(PIN))
        .expect("B registers elsewhere");
    let mut forged = v.start_sign_in(&tellers, t0()).expect("starts");
    let b_id = key_b.credential_ids()[0].to_bytes().expect("base64url");
    forged.options.public_key.allow_credentials = vec![AllowCredentials {
        type_: "public-key".into(),
        id: b_id,
        transports: None,
    }];
    let response = key_b
        .authenticate(&forged, &StaticPinUi::new(PIN))
        .expect("B signs with its own credential");
    let refused = v.finish_sign_in(&response, &tellers, t0());
    assert_eq!(code(refused), "auth.unknown_key");
}

#[test]
fn disabled_teller_cannot_sign_in_or_get_a_key() {
    let mut v = verifier();
    let mut sup = account("sup-1", Role::Supervisor);
    let mut key = SoftKey::new("A", PIN).expect("soft key");
    let cred = register_first(&mut v, &mut key, &sup, t0());

    // Disabled before the start.
    sup.enabled = false;
    let refused = sign_in(
        &mut v,
        &mut key,
        &[keys(&sup, std::slice::from_ref(&cred))],
        t0(),
    );
    assert_eq!(code(refused), "auth.disabled");
    let refused = v.start_first_registration(&sup, &[], "k", t0());
    assert_eq!(code(refused), "auth.disabled");

    // Disabled between the start and the key's answer.
    sup.enabled = true;
    let request = v
        .start_sign_in(&[keys(&sup, std::slice::from_ref(&cred))], t0())
        .expect("starts while enabled");
    let response = key
        .authenticate(&request, &StaticPinUi::new(PIN))
        .expect("the key signs");
    sup.enabled = false;
    let refused = v.finish_sign_in(&response, &[keys(&sup, &[cred])], t0());
    assert_eq!(code(refused), "auth.disabled");
}

#[test]
fn replayed_assertion_and_reused_challenge_are_refused() {
    let mut v = verifier();
    let sup = account("sup-1", Role::Supervisor);
    let mut key = SoftKey::new("A", PIN).expect("soft key");
    let cred = register_first(&mut v, &mut key, &sup, t0());
    let tellers = [keys(&sup, &[cred])];

    let request = v.start_sign_in(&tellers, t0()).expect("starts");
    let response = key
        .authenticate(&request, &StaticPinUi::new(PIN))
        .expect("signs");
    v.finish_sign_in(&response, &tellers, t0())
        .expect("first use accepted");

    // The same answer again: the challenge is used up.
    let again = v.finish_sign_in(&response, &tellers, t0());
    assert_eq!(code(again), "auth.challenge_unknown");

    // The old assertion presented to a fresh ceremony answers the wrong challenge.
    let fresh = v.start_sign_in(&tellers, t0()).expect("starts");
    let mut replay = response.clone();
    replay.ceremony = fresh.ceremony;
    let replayed = v.finish_sign_in(&replay, &tellers, t0());
    assert_eq!(code(replayed), "auth.challenge_mismatch");

    // A failed attempt uses the challenge up too.
    let retry = key
        .authenticate(&fresh, &StaticPinUi::new(PIN))
        .expect("signs");
    assert_eq!(
        code(v.finish_sign_in(&retry, &tellers, t0())),
        "auth.challenge_unknown"
    );

    // A registration answer is no sign-in answer, and a cancelled ceremony is gone.
    let cancelled = v.start_sign_in(&tellers, t0()).expect("starts");
    let answer = key
        .authenticate(&cancelled, &StaticPinUi::new(PIN))
        .expect("signs");
    v.cancel(cancelled.ceremony);
    assert_eq!(
        code(v.finish_sign_in(&answer, &tellers, t0())),
        "auth.challenge_unknown"
    );
}

#[test]
fn expired_challenge_is_refused_on_the_callers_clock() {
    let mut v = verifier();
    let timeout = v.config().ceremony_timeout_ms;
    let sup = account("sup-1", Role::Supervisor);
    let mut key = SoftKey::new("A", PIN).expect("soft key");
    let cred = register_first(&mut v, &mut key, &sup, t0());
    let tellers = [keys(&sup, &[cred])];

    let request = v.start_sign_in(&tellers, t0()).expect("starts");
    let response = key
        .authenticate(&request, &StaticPinUi::new(PIN))
        .expect("signs");
    let late = v.finish_sign_in(&response, &tellers, t0().plus_ms(timeout + 1));
    assert_eq!(code(late), "auth.expired");
    // Expired is used up as well.
    assert_eq!(
        code(v.finish_sign_in(&response, &tellers, t0())),
        "auth.challenge_unknown"
    );

    // Just in time is fine.
    let request = v.start_sign_in(&tellers, t0()).expect("starts");
    let response = key
        .authenticate(&request, &StaticPinUi::new(PIN))
        .expect("signs");
    let ok = v.finish_sign_in(&response, &tellers, t0().plus_ms(timeout));
    assert_eq!(code(ok), "ok");

    // Registration expires the same way.
    let other = account("sup-2", Role::Supervisor);
    let request = v
        .start_first_registration(&other, &[], "k", t0())
        .expect("starts");
    let mut key2 = SoftKey::new("B", PIN).expect("soft key");
    let response = key2
        .register(&request, &StaticPinUi::new(PIN))
        .expect("registers");
    let late = v.finish_registration(&response, |_| false, t0().plus_ms(timeout + 1));
    assert_eq!(code(late), "auth.expired");
}

#[test]
fn cloned_soft_key_file_is_caught_by_the_counter() {
    let dir = tempfile::tempdir().expect("temp dir");
    let original = dir.path().join("a.softkey");
    let copy = dir.path().join("a-clone.softkey");
    let mut v = verifier();
    let sup = account("sup-1", Role::Supervisor);
    let mut cred = {
        let mut key = SoftKey::create(&original, "A", PIN).expect("soft key file");
        register_first(&mut v, &mut key, &sup, t0())
    };
    std::fs::copy(&original, &copy).expect("clone the key's state");
    let mut key_a = SoftKey::open(&original).expect("opens");
    let mut key_b = SoftKey::open(&copy).expect("opens the clone");

    let signed = sign_in(&mut v, &mut key_a, &[keys(&sup, &[cred.clone()])], t0())
        .expect("the original signs in");
    cred = signed.updated_credential().clone();
    let stored = cred.sign_count();

    let refused = sign_in(&mut v, &mut key_b, &[keys(&sup, &[cred.clone()])], t0());
    match refused {
        Err(AuthError::CounterRegressed {
            stored: s,
            presented,
        }) => {
            assert_eq!(s, stored);
            assert!(presented <= stored, "{presented} <= {stored}");
        }
        other => panic!("expected a counter regression, got {:?}", other.map(|_| ())),
    }

    // The original still works: its counter is ahead.
    let again = sign_in(&mut v, &mut key_a, &[keys(&sup, &[cred])], t0());
    assert_eq!(code(again), "ok");
}

#[test]
fn user_verification_is_required_presence_only_soft_key_refused() {
    let mut v = verifier();
    let sup = account("sup-1", Role::Supervisor);

    // Registration without UV.
    let mut touch_only = SoftKey::new("touch only", PIN).expect("soft key");
    touch_only
        .set_uv_behaviour(UvBehaviour::PresenceOnly)
        .expect("in memory");
    let request = v
        .start_first_registration(&sup, &[], "k", t0())
        .expect("starts");
    let ui = StaticPinUi::new(PIN);
    let response = touch_only.register(&request, &ui).expect("the key answers");
    assert_eq!(ui.pin_requests(), 0, "no PIN asked");
    let refused = v.finish_registration(&response, |_| false, t0());
    assert_eq!(code(refused), "auth.uv_missing");

    // Sign-in without UV, with a key registered properly.
    let mut key = SoftKey::new("A", PIN).expect("soft key");
    let cred = register_first(&mut v, &mut key, &sup, t0());
    let tellers = [keys(&sup, &[cred])];
    let request = v.start_sign_in(&tellers, t0()).expect("starts");
    assert_eq!(
        request.options.public_key.user_verification,
        UserVerificationPolicy::Required
    );
    key.set_uv_behaviour(UvBehaviour::PresenceOnly)
        .expect("in memory");
    let response = key
        .authenticate(&request, &StaticPinUi::new(PIN))
        .expect("the key answers");
    let refused = v.finish_sign_in(&response, &tellers, t0());
    assert_eq!(code(refused), "auth.uv_missing");

    // The same key with its PIN again is accepted.
    key.set_uv_behaviour(UvBehaviour::Pin).expect("in memory");
    assert_eq!(code(sign_in(&mut v, &mut key, &tellers, t0())), "ok");
}

#[test]
fn soft_key_persisted_to_a_file_signs_in_after_reload() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("sato.softkey");
    let mut v = verifier();
    let sup = account("sup-1", Role::Supervisor);
    let cred = {
        let mut key = SoftKey::create(&path, "Sato's soft key", PIN).expect("soft key file");
        register_first(&mut v, &mut key, &sup, t0())
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path)
            .expect("exists")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the key file is owner-only");
    }
    assert_eq!(
        code(SoftKey::create(&path, "again", PIN)),
        "auth.soft_key_file",
        "an existing key is never overwritten"
    );

    // A "restart": a new verifier and the key loaded from its file.
    let mut v = verifier();
    let mut key = SoftKey::open(&path).expect("loads");
    assert_eq!(key.label(), "Sato's soft key");
    let first = sign_in(&mut v, &mut key, &[keys(&sup, &[cred])], t0()).expect("signs in");
    drop(key);
    let mut key = SoftKey::open(&path).expect("loads again");
    let second = sign_in(
        &mut v,
        &mut key,
        &[keys(&sup, &[first.updated_credential().clone()])],
        t0(),
    )
    .expect("signs in after another reload");
    assert!(
        second.counter() > first.counter(),
        "the counter survived the reload"
    );

    let listed = SoftKey::list(dir.path()).expect("lists");
    assert_eq!(listed, vec![(path.clone(), "Sato's soft key".to_owned())]);

    std::fs::write(&path, "{}").expect("corrupt it");
    assert_eq!(code(SoftKey::open(&path)), "auth.soft_key_file");
}

#[test]
fn wrong_origin_and_wrong_rp_id_are_refused() {
    let mut v = verifier();
    let sup = account("sup-1", Role::Supervisor);
    let mut key = SoftKey::new("A", PIN).expect("soft key");
    let cred = register_first(&mut v, &mut key, &sup, t0());
    let tellers = [keys(&sup, &[cred])];

    // A phishing origin with its own RP id: the key signs for it, the kiosk refuses.
    let mut request = v.start_sign_in(&tellers, t0()).expect("starts");
    request.origin = Url::parse("https://evil.example").expect("url");
    request.options.public_key.rp_id = "evil.example".into();
    let response = key
        .authenticate(&request, &StaticPinUi::new(PIN))
        .expect("the key signs");
    assert_eq!(
        code(v.finish_sign_in(&response, &tellers, t0())),
        "auth.wrong_origin"
    );

    // Our origin but a parent domain as RP id: the signature covers the wrong RP id hash.
    let mut request = v.start_sign_in(&tellers, t0()).expect("starts");
    request.options.public_key.rp_id = "kiosk.invalid".into();
    let response = key
        .authenticate(&request, &StaticPinUi::new(PIN))
        .expect("the key signs");
    assert_eq!(
        code(v.finish_sign_in(&response, &tellers, t0())),
        "auth.wrong_rp"
    );

    // The client side refuses an RP id that does not match the origin at all.
    let mut request = v.start_sign_in(&tellers, t0()).expect("starts");
    request.options.public_key.rp_id = "evil.example".into();
    assert_eq!(
        code(key.authenticate(&request, &StaticPinUi::new(PIN))),
        "auth.wrong_origin"
    );

    // Registration for another origin.
    let other = account("sup-2", Role::Supervisor);
    let mut request: RegistrationRequest = v
        .start_first_registration(&other, &[], "k", t0())
        .expect("starts");
    request.origin = Url::parse("https://evil.example").expect("url");
    request.options.public_key.rp.id = "evil.example".into();
    let mut key2 = SoftKey::new("B", PIN).expect("soft key");
    let response = key2
        .register(&request, &StaticPinUi::new(PIN))
        .expect("the key registers");
    assert_eq!(
        code(v.finish_registration(&response, |_| false, t0())),
        "auth.wrong_origin"
    );
}

#[test]
fn soft_key_pin_counts_down_blocks_and_cancels() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("k.softkey");
    let mut v = verifier();
    let sup = account("sup-1", Role::Supervisor);
    let mut key = SoftKey::create(&path, "A", PIN).expect("soft key");
    let cred = register_first(&mut v, &mut key, &sup, t0());
    let tellers = [keys(&sup, &[cred])];

    let request = v.start_sign_in(&tellers, t0()).expect("starts");
    let wrong = key.authenticate(&request, &StaticPinUi::new("0000"));
    assert_eq!(
        wrong.map(|_| ()),
        Err(AuthError::PinWrong {
            tries_left: Some(7)
        })
    );
    assert_eq!(
        SoftKey::open(&path).expect("loads").pin_tries_left(),
        7,
        "tries are saved"
    );
    // The right PIN restores the tries.
    key.authenticate(&request, &StaticPinUi::new(PIN))
        .expect("right PIN");
    assert_eq!(key.pin_tries_left(), 8);

    let cancelled = key.authenticate(&request, &StaticPinUi::cancelling());
    assert_eq!(code(cancelled), "auth.cancelled");

    for _ in 0..7 {
        let _ = key.authenticate(&request, &StaticPinUi::new("0000"));
    }
    let last = key.authenticate(&request, &StaticPinUi::new("0000"));
    assert_eq!(code(last), "auth.pin_blocked");
    let blocked = key.authenticate(&request, &StaticPinUi::new(PIN));
    assert_eq!(code(blocked), "auth.pin_blocked", "even the right PIN");

    assert_eq!(code(SoftKey::new("short", "123")), "auth.invalid");
}

#[test]
fn soft_keys_are_refused_outside_simulation() {
    let mut production = SignInVerifier::new(RpConfig::default()).expect("valid");
    let sup = account("sup-1", Role::Supervisor);
    let mut key = SoftKey::new("A", PIN).expect("soft key");
    let request = production
        .start_first_registration(&sup, &[], "k", t0())
        .expect("starts");
    let response = key
        .register(&request, &StaticPinUi::new(PIN))
        .expect("registers");
    assert_eq!(
        code(production.finish_registration(&response, |_| false, t0())),
        "auth.soft_key_refused"
    );

    // A soft credential registered in simulation does not sign in at a production kiosk.
    let mut sim = verifier();
    let cred = register_first(&mut sim, &mut key, &sup, t0());
    let refused = production.start_sign_in(&[keys(&sup, &[cred])], t0());
    assert_eq!(code(refused), "auth.soft_key_refused");
}

#[test]
fn key_registered_twice_is_refused() {
    let mut v = verifier();
    let sup = account("sup-1", Role::Supervisor);
    let mut key = SoftKey::new("A", PIN).expect("soft key");
    let cred = register_first(&mut v, &mut key, &sup, t0());

    // The key itself refuses: it holds an excluded credential.
    let request = v
        .start_first_registration(&sup, std::slice::from_ref(&cred), "again", t0())
        .expect("starts");
    assert_eq!(
        request
            .options
            .public_key
            .exclude_credentials
            .as_ref()
            .map(Vec::len),
        Some(1)
    );
    assert_eq!(
        code(key.register(&request, &StaticPinUi::new(PIN))),
        "auth.already_registered"
    );

    // The verifier refuses a credential id its store already knows.
    let mut key2 = SoftKey::new("B", PIN).expect("soft key");
    let request = v
        .start_first_registration(&sup, &[], "B", t0())
        .expect("starts");
    let response = key2
        .register(&request, &StaticPinUi::new(PIN))
        .expect("registers");
    assert_eq!(
        code(v.finish_registration(&response, |_| true, t0())),
        "auth.already_registered"
    );
}

#[test]
fn revoked_key_is_refused() {
    let mut v = verifier();
    let sup = account("sup-1", Role::Supervisor);
    let mut key = SoftKey::new("A", PIN).expect("soft key");
    let cred = register_first(&mut v, &mut key, &sup, t0());

    let mut revoked = cred.clone();
    revoked.revoke(t0().unix_ms);
    assert!(revoked.is_revoked());
    assert_eq!(
        code(v.start_sign_in(&[keys(&sup, &[revoked.clone()])], t0())),
        "auth.no_keys"
    );

    // Revoked between the start and the answer (a sync came in).
    let request = v
        .start_sign_in(&[keys(&sup, std::slice::from_ref(&cred))], t0())
        .expect("starts");
    let response = key
        .authenticate(&request, &StaticPinUi::new(PIN))
        .expect("signs");
    assert_eq!(
        code(v.finish_sign_in(&response, &[keys(&sup, &[revoked.clone()])], t0())),
        "auth.revoked"
    );

    // Sync merge keeps the revocation and the higher counter.
    let merged = cred.clone().merged_with(&revoked);
    assert!(merged.is_revoked());
}

#[test]
fn one_ceremony_for_several_tellers_finds_who_touched() {
    let mut v = verifier();
    let sup = account("sup-1", Role::Supervisor);
    let tech = account("tech-1", Role::Technician);
    let mut sup_key = SoftKey::new("sup", PIN).expect("soft key");
    let mut tech_key = SoftKey::new("tech", PIN).expect("soft key");
    let sup_cred = register_first(&mut v, &mut sup_key, &sup, t0());
    let approval = sign_in(
        &mut v,
        &mut sup_key,
        &[keys(&sup, std::slice::from_ref(&sup_cred))],
        t0(),
    )
    .expect("in");
    let request = v
        .start_registration(&approval, &tech, &[], "tech key", t0())
        .expect("starts");
    let response = tech_key
        .register(&request, &StaticPinUi::new(PIN))
        .expect("registers");
    let tech_cred = v
        .finish_registration(&response, |_| false, t0())
        .expect("verifies");

    let everyone = [keys(&sup, &[sup_cred]), keys(&tech, &[tech_cred])];
    let signed = sign_in(&mut v, &mut tech_key, &everyone, t0()).expect("signs in");
    assert_eq!(signed.teller(), &tech.id);
    assert!(signed.role().can_leave_kiosk());
    assert!(!signed.role().can_register_keys());
}
