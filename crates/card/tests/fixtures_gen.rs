//! The generated fixtures match their generators (fixed seeds).
#![allow(clippy::unwrap_used)]

mod common;

#[test]
fn keys_fixture_is_generated_from_its_seed() {
    let generated = common::generate_keys_fixture();
    if std::env::var_os("REGENERATE_FIXTURES").is_some() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/test-keys.txt");
        std::fs::write(path, &generated).unwrap();
        return;
    }
    assert_eq!(
        generated,
        common::KEYS_FIXTURE,
        "tests/fixtures/test-keys.txt differs from its generator; rerun with REGENERATE_FIXTURES=1"
    );
}
