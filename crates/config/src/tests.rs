//! Tests of loading, validation errors (key and line), env overrides and redaction.

use super::*;

fn parse(src: &str) -> Result<Config, ConfigError> {
    Config::from_toml(src, Path::new("test.toml"), Vec::new())
}

fn parse_env(src: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
    Config::from_toml(
        src,
        Path::new("test.toml"),
        env.iter().map(|(k, v)| (k.to_string(), v.to_string())),
    )
}

#[test]
fn empty_file_gives_documented_defaults() {
    let c = parse("").unwrap();
    assert_eq!(c.kiosk.id.as_str(), "KIOSK-0001");
    assert_eq!(c.kiosk.branch_code.as_str(), "001");
    assert!(!c.kiosk.fullscreen);
    assert!(!c.devices.simulate);
    assert!(c.backend.url.is_empty());
    assert_eq!(c.log.level, LogLevel::Info);
    assert_eq!(c.log.max_files.get(), 30);
    assert_eq!(c.kiosk.language, Language::Ja);
}

#[test]
fn the_shipped_example_config_is_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../installer/madoguchi.example.toml");
    let c = Config::load(Some(&path), Vec::new()).unwrap();
    assert_eq!(c.kiosk.branch_code.as_str(), "123");
}

#[test]
fn unknown_key_is_named_with_its_line() {
    let src = "[kiosk]\nid = \"K-1\"\nbranch_cod = \"001\"\n";
    let e = parse(src).unwrap_err();
    let text = e.to_string();
    assert!(text.contains("branch_cod"), "{text}");
    assert_eq!(
        e.origin,
        Origin::File {
            path: "test.toml".into(),
            line: 3,
            column: 1
        },
        "{text}"
    );
    assert!(text.starts_with("test.toml:3:1: "), "{text}");
}

#[test]
fn unknown_section_is_named() {
    let e = parse("[kisok]\nid = \"x\"\n").unwrap_err();
    assert!(e.to_string().contains("kisok"), "{e}");
    assert!(matches!(e.origin, Origin::File { line: 1, .. }), "{e:?}");
}

#[test]
fn bad_value_names_key_and_line() {
    let src = "[kiosk]\nid = \"K-1\"\n\n[log]\nlevel = \"loud\"\n";
    let e = parse(src).unwrap_err();
    assert_eq!(e.key.as_deref(), Some("log.level"), "{e}");
    assert!(matches!(e.origin, Origin::File { line: 5, .. }), "{e:?}");
    assert!(e.to_string().contains("loud"), "{e}");
}

#[test]
fn branch_code_must_be_three_digits() {
    let e = parse("[kiosk]\nbranch_code = \"12A4\"\n").unwrap_err();
    assert_eq!(e.key.as_deref(), Some("kiosk.branch_code"));
    assert!(e.to_string().contains("3 digits"), "{e}");
    assert!(matches!(e.origin, Origin::File { line: 2, .. }));
}

#[test]
fn wrong_type_is_an_error() {
    let e = parse("[kiosk]\nfullscreen = \"yes\"\n").unwrap_err();
    assert_eq!(e.key.as_deref(), Some("kiosk.fullscreen"));
}

#[test]
fn malformed_toml_reports_line() {
    let e = parse("[kiosk]\nid = \"unterminated\n").unwrap_err();
    assert!(matches!(e.origin, Origin::File { line: 2, .. }), "{e:?}");
}

#[test]
fn backend_url_rules() {
    assert!(parse("[backend]\nurl = \"https://central.bank.example/api\"\n").is_ok());
    assert!(parse("[backend]\nurl = \"http://127.0.0.1:8443\"\n").is_ok());
    assert!(parse("[backend]\nurl = \"http://[::1]:8443\"\n").is_ok());
    let e = parse("[backend]\nurl = \"http://central.bank.example\"\n").unwrap_err();
    assert!(e.to_string().contains("https"), "{e}");
    assert!(parse("[backend]\nurl = \"ftp://x\"\n").is_err());
    assert!(parse("[backend]\nurl = \"https://\"\n").is_err());
}

#[test]
fn max_files_bounds() {
    assert!(parse("[log]\nmax_files = 0\n").is_err());
    assert!(parse("[log]\nmax_files = 367\n").is_err());
    assert_eq!(
        parse("[log]\nmax_files = 7\n").unwrap().log.max_files.get(),
        7
    );
}

#[test]
fn env_overrides_win_over_the_file() {
    let c = parse_env(
        "[kiosk]\nid = \"FROM-FILE\"\n",
        &[
            ("MADOGUCHI__KIOSK__ID", "FROM-ENV"),
            ("MADOGUCHI__DEVICES__SIMULATE", "true"),
            ("MADOGUCHI__LOG__MAX_FILES", "5"),
            ("MADOGUCHI__KIOSK__BRANCH_CODE", "042"),
            ("UNRELATED", "x"),
        ],
    )
    .unwrap();
    assert_eq!(c.kiosk.id.as_str(), "FROM-ENV");
    assert!(c.devices.simulate);
    assert_eq!(c.log.max_files.get(), 5);
    // A value that looks like a number but must stay a string keeps its leading zero.
    assert_eq!(c.kiosk.branch_code.as_str(), "042");
}

#[test]
fn bad_env_override_names_the_variable() {
    let e = parse_env("", &[("MADOGUCHI__KIOSK__BRANCH_CODE", "12")]).unwrap_err();
    assert_eq!(
        e.origin,
        Origin::Env("MADOGUCHI__KIOSK__BRANCH_CODE".into())
    );
    assert!(
        e.to_string().contains("MADOGUCHI__KIOSK__BRANCH_CODE"),
        "{e}"
    );
    let e = parse_env("", &[("MADOGUCHI__KIOSK__NOPE", "1")]).unwrap_err();
    assert!(e.to_string().contains("nope"), "{e}");
    let e = parse_env("", &[("MADOGUCHI__KIOSK", "1")]).unwrap_err();
    assert!(e.to_string().contains("SECTION__KEY"), "{e}");
}

#[test]
fn secrets_are_redacted_when_printed() {
    let c = parse("[backend]\ntoken = \"s3cr3t-token-value\"\n").unwrap();
    assert_eq!(
        c.backend.token.as_ref().unwrap().expose(),
        "s3cr3t-token-value"
    );
    let printed = c.to_redacted_toml();
    assert!(!printed.contains("s3cr3t"), "{printed}");
    assert!(printed.contains(REDACTED), "{printed}");
    let debug = format!("{c:?}");
    assert!(!debug.contains("s3cr3t"), "{debug}");
}

#[test]
fn printed_config_reparses_to_the_same_values() {
    let c = parse("[kiosk]\nid = \"K-9\"\nlanguage = \"en\"\n[storage]\ndata_dir = \"/tmp/x\"\n")
        .unwrap();
    let again = parse(&c.to_redacted_toml()).unwrap();
    assert_eq!(again, c);
}

#[test]
fn default_data_dir_follows_xdg_then_home() {
    let env = |pairs: &'static [(&'static str, &'static str)]| {
        move |k: &str| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| std::ffi::OsString::from(v))
        }
    };
    assert_eq!(
        default_data_dir(env(&[("XDG_DATA_HOME", "/x"), ("HOME", "/h")])),
        PathBuf::from("/x/madoguchi")
    );
    assert_eq!(
        default_data_dir(env(&[("HOME", "/h")])),
        PathBuf::from("/h/.local/share/madoguchi")
    );
    assert_eq!(
        default_data_dir(env(&[])),
        PathBuf::from("/var/lib/madoguchi")
    );
}

#[test]
fn missing_file_is_a_clear_error() {
    let e = Config::load(Some(Path::new("/nonexistent/madoguchi.toml")), Vec::new()).unwrap_err();
    assert!(matches!(e.origin, Origin::Io(_)));
    assert!(e.to_string().contains("cannot read"), "{e}");
}

#[test]
fn simulation_devices_defaults_and_checks() {
    let c = parse("").unwrap();
    assert_eq!(c.devices.virtual_card_profile, "hopper");
    assert_eq!(c.devices.vpcd.socket_addr().port(), 35963);
    let e = parse("[devices]\nvpcd = \"10.0.0.5:35963\"\n").unwrap_err();
    assert!(e.to_string().contains("loopback"), "{e}");
    assert!(parse("[devices]\nvpcd = \"nonsense\"\n").is_err());
    assert_eq!(
        parse("[devices]\nvpcd = \"127.0.0.1:35964\"\n")
            .unwrap()
            .devices
            .vpcd
            .socket_addr()
            .port(),
        35964
    );
}

#[test]
fn list_keys_and_list_ages_are_checked() {
    let c = parse("[backend]\nlist_public_key = \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"\n")
        .expect("43 base64url characters");
    assert_eq!(c.backend.list_public_key.as_str().len(), 43);
    assert!(parse("[backend]\nlist_public_key = \"AAAA\"\n").is_err());
    assert!(
        parse("[backend]\nlist_public_key = \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"\n")
            .is_err()
    );
    assert_eq!(
        parse("")
            .expect("empty")
            .face_credential
            .max_list_age_hours
            .millis(),
        24 * 3_600_000
    );
    assert!(parse("[face_credential]\nmax_list_age_hours = 0\n").is_err());
    assert!(parse("[face_credential]\nmax_list_age_hours = 721\n").is_err());
    assert_eq!(
        parse("")
            .expect("empty")
            .face_credential
            .validity_days
            .days(),
        365
    );
    assert_eq!(
        parse("[face_credential]\nvalidity_days = 30\n")
            .expect("30 days")
            .face_credential
            .validity_days
            .days(),
        30
    );
    assert!(parse("[face_credential]\nvalidity_days = 0\n").is_err());
    assert!(parse("[face_credential]\nvalidity_days = 1826\n").is_err());
}
