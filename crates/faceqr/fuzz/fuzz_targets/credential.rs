//! Fuzzes the credential decoder and verifier without panics: arbitrary bytes as the COSE
//! structure (Base45 behind the prefix), as raw text, and as claims validly signed by a
//! trusted issuer (so that the claims and COSE_Encrypt0 parsers behind the signature check
//! are reached).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use madoguchi_faceqr::{
    IssuerKey, ModelRef, Policy, TemplateKeyring, TrustList, verify_credential,
};

struct Ctx {
    issuer: IssuerKey,
    trust: TrustList,
    keys: TemplateKeyring,
    policy: Policy,
}

fn ctx() -> &'static Ctx {
    static C: OnceLock<Ctx> = OnceLock::new();
    C.get_or_init(|| {
        let issuer = IssuerKey::from_secret(vec![1; 8], &[7; 32]);
        let mut trust = TrustList::default();
        trust.add_issuer(issuer.trusted_issuer());

        Ctx {
            issuer,
            trust,
            keys: TemplateKeyring::single(vec![2; 4], [9; 32]),
            policy: Policy {
                now: 1_800_000_000,
                clock_skew: 300,
                model: ModelRef {
                    model_id: "mbf-128".into(),
                    template_version: 1,
                },
            },
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let c = ctx();
    let as_payload = format!("{}{}", madoguchi_faceqr::PREFIX, base45_encode(data));
    let _ = verify_credential(&as_payload, &c.trust, &c.keys, &c.policy);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = verify_credential(text, &c.trust, &c.keys, &c.policy);
    }
    if let Ok(signed) = madoguchi_faceqr::format::sign_raw_claims(data.to_vec(), &c.issuer) {
        let _ = verify_credential(&signed, &c.trust, &c.keys, &c.policy);
    }
});

/// Base45 (RFC 9285), so that the fuzzer's bytes reach the COSE parser.
fn base45_encode(data: &[u8]) -> String {
    const A: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";
    let mut s = String::new();
    for ch in data.chunks(2) {
        let mut n = if ch.len() == 2 {
            usize::from(ch[0]) * 256 + usize::from(ch[1])
        } else {
            usize::from(ch[0])
        };
        let digits = if ch.len() == 2 { 3 } else { 2 };
        for _ in 0..digits {
            s.push(A[n % 45] as char);
            n /= 45;
        }
    }
    s
}
