//! A virtual card for any fake person: a profile read from a TOML file at run time
//! ([`profile_from_file`], `madoguchi-virtual-card serve --profile-file PERSON.toml`).
//!
//! The file has exactly these keys (any other is an error naming it and its line):
//!
//! | key | value |
//! |---|---|
//! | `name` | 氏名, family and given name separated by a space or U+3000 (stored with U+3000) |
//! | `name_kana` | 氏名 in katakana (in the signing certificate) |
//! | `address` | 住所 |
//! | `birth_date` | `YYYY-MM-DD` (a string or a TOML date), on or after 1868-01-25 (Meiji) |
//! | `sex` | `"male"`, `"female"`, `"other"` or `"1"`, `"2"`, `"9"` |
//! | `my_number` | 12 digits with a valid check digit |
//! | `expiry` | `YYYY-MM-DD`, after `birth_date` |
//! | `security_code`, `auth_pin`, `text_pin` | 4 digits, quoted |
//! | `sign_password` | optional, 6–16 of `A–Z0–9`; absent: no signing certificate (a minor's card) |
//! | `pin_tries` | optional 1–3 (default 3): tries left on the auth and text PINs of a new card |
//! | `photo` | an image file (PNG or JPEG), relative to the TOML file's directory |
//!
//! What it makes, so that a reader accepts the card exactly like a compiled-in profile: the
//! per-card RSA-2048 keys (auth, sign, chip) from ChaCha20 generators seeded from the SHA-256 of
//! the file's *canonical content* (the validated values in a fixed order, the photo as its
//! SHA-256; comments, key order, quoting and the photo's location do not count), so the same
//! file gives the same card; the JPKI certificates issued by the TEST roots (`issue`, the code
//! the fixtures were made with; validity as the fixtures' end-entity certificates); the chip
//! photo (`photo`) and the card-face text images (`render`). The records are signed by the
//! TEST municipality keys when the card is built (`files`), as for every profile. The profile
//! is named `file-<12 hex digits of the seed>`, so the state directory's retry counters follow
//! the card's content, not the file's name. Its issuing municipality is the TEST code `99999`.
//!
//! Errors name the file, the key and its line, and never contain the value (PINs, the
//! My Number and the security code are secrets even when fake). Nothing here logs personal
//! data. It does not build the card's files (see `files`) and does not look for a face in the
//! photo (give a head-and-shoulders photo).

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use rsa::RsaPrivateKey;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use toml::Spanned;

use crate::Error;
use crate::issue::{self, AUTH_ROOT_DN, SIGN_ROOT_DN, SanAttributes};
use crate::photo::{self, PhotoError};
use crate::profile::{CardData, Generated, Profile, Secrets, Source, TextImages, key};
use crate::render::{RenderError, Renderer, TextKind};
use crate::spec::{Variant, Ymd, my_number_check_digit, validity};

/// The issuing municipality code of every profile-file card (a TEST value, no real one).
const MUNICIPALITY: &str = "99999";
/// Keys whose values are secrets: a TOML syntax error on their line is reported without the
/// parser's own words (which could quote the value).
const SECRET_KEYS: &[&str] = &[
    "my_number",
    "security_code",
    "auth_pin",
    "text_pin",
    "sign_password",
];

/// A profile read from the TOML file at `path`, with its per-card keys, certificates, chip
/// photo and card-face images made now: 0.5–1.5 s on a 2-core machine, debug or release alike
/// (RSA key generation dominates, and `rsa` is optimised in debug builds too). Usable with
/// [`crate::VirtualCard::new`] like [`crate::profile`]'s.
///
/// Errors name the file, the key and its line, and never contain the key's value; a missing
/// `opj_compress` or font is an error naming its Debian package.
pub fn profile_from_file(path: &Path) -> Result<Profile, Error> {
    let t0 = Instant::now();
    let source = std::fs::read_to_string(path).map_err(|e| Error::ProfileFile {
        path: path.to_path_buf(),
        line: None,
        key: None,
        message: format!("cannot read the profile file: {e}"),
    })?;
    let ctx = Ctx {
        path,
        source: &source,
    };
    let raw: RawFile = toml::from_str(&source).map_err(|e| ctx.toml_error(&e))?;
    let person = Person::validate(&ctx, &raw)?;

    let photo_line = ctx.line(raw.photo.span());
    let photo_err = |message: String| Error::ProfileFile {
        path: path.to_path_buf(),
        line: photo_line,
        key: Some("photo".into()),
        message,
    };
    let photo_bytes = std::fs::read(&person.photo)
        .map_err(|e| photo_err(format!("cannot read {}: {e}", person.photo.display())))?;
    let seed: [u8; 32] = Sha256::digest(person.canonical(&Sha256::digest(&photo_bytes))).into();
    let id = format!("file-{}", hex(&seed[..6]).to_ascii_lowercase());

    // The quick steps that can fail on the input or a missing tool first, then the keys.
    let renderer = Renderer::load()?;
    let render = |kind: TextKind, key: &str, text: &str| {
        renderer.render(kind, text).map_err(|e| Error::ProfileFile {
            path: path.to_path_buf(),
            line: raw.line_of(&ctx, key),
            key: Some(key.to_owned()),
            message: match e {
                RenderError::MissingGlyph => {
                    "contains a character the card-face font (Noto Sans CJK) has no glyph for"
                        .into()
                }
                RenderError::TooLong => "is too long to print on the card face".into(),
                RenderError::Png(m) => format!("cannot be rendered: {m}"),
            },
        })
    };
    let text = TextImages {
        name: render(TextKind::Name, "name", &person.name)?,
        address: render(TextKind::Address, "address", &person.address)?,
        code: render(
            TextKind::SecurityCode,
            "security_code",
            &person.security_code,
        )?,
        number: render(TextKind::MyNumber, "my_number", &person.my_number)?,
    };
    let photo_jp2 = photo::chip_photo(&photo_bytes).map_err(|e| match e {
        PhotoError::Image(m) => photo_err(format!("{}: {m}", person.photo.display())),
        PhotoError::Encoder(e) => e,
    })?;

    let keys = derive_keys(&seed, person.sign_password.is_some())?;
    let short = hex(&seed[..6]);
    let serial = |kind: &str| format!("profile-file/{}/{kind}", hex(&seed));
    let cert_err = |e: String| Error::Fixture(format!("issuing a certificate: {e}"));
    let auth_cert = issue::leaf(
        &serial("auth"),
        &issue::card_subject(&short, 'A'),
        &keys.auth.to_public_key(),
        AUTH_ROOT_DN,
        &key("root-auth")?,
        validity::EE_FROM,
        validity::EE_TO,
        None,
    )
    .map_err(cert_err)?;
    let sign_cert = match &keys.sign {
        Some(sign) => Some(
            issue::leaf(
                &serial("sign"),
                &issue::card_subject(&short, 'S'),
                &sign.to_public_key(),
                SIGN_ROOT_DN,
                &key("root-sign")?,
                validity::EE_FROM,
                validity::EE_TO,
                Some(&SanAttributes {
                    name: &person.name,
                    name_kana: &person.name_kana,
                    sex: person.sex,
                    birth: person.birth,
                    address: &person.address,
                }),
            )
            .map_err(cert_err)?,
        ),
        None => None,
    };

    let generated = Generated {
        auth_key: Arc::new(keys.auth),
        sign_key: keys.sign.map(Arc::new),
        chip_key: Arc::new(keys.chip),
        auth_cert,
        sign_cert,
        photo_jp2,
        text,
    };
    let variant = if person.sign_password.is_none() {
        Variant::NoSignCertificate
    } else if person.pin_tries == 1 {
        Variant::OneTryLeft
    } else {
        Variant::Normal
    };
    let card = CardData {
        id: id.clone(),
        variant,
        name: person.name.clone(),
        name_kana: person.name_kana.clone(),
        address: person.address.clone(),
        birth: person.birth,
        sex: person.sex,
        my_number: person.my_number.clone(),
        expiry: person.expiry,
        security_code: person.security_code.clone(),
        municipality: MUNICIPALITY.to_owned(),
        source: Source::Generated(Arc::new(generated)),
    };
    let file_name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into(),
    );
    let face_source = person
        .photo
        .file_stem()
        .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
    let profile = Profile::new(
        card,
        format!("from the profile file {file_name}"),
        Secrets {
            auth_pin: person.auth_pin,
            text_pin: person.text_pin,
            sign_password: person.sign_password,
            pin_tries: person.pin_tries,
            sign_tries: 5,
        },
        face_source,
        Some(std::fs::canonicalize(&person.photo).unwrap_or(person.photo)),
    );
    tracing::info!(
        profile = %id,
        elapsed_ms = t0.elapsed().as_millis() as u64,
        "profile file loaded"
    );
    Ok(profile)
}

/// The file as parsed: every value kept with its span, typed and checked by [`Person::validate`]
/// (so that no parser message about a value can quote it).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    name: Spanned<toml::Value>,
    name_kana: Spanned<toml::Value>,
    address: Spanned<toml::Value>,
    birth_date: Spanned<toml::Value>,
    sex: Spanned<toml::Value>,
    my_number: Spanned<toml::Value>,
    expiry: Spanned<toml::Value>,
    security_code: Spanned<toml::Value>,
    auth_pin: Spanned<toml::Value>,
    text_pin: Spanned<toml::Value>,
    #[serde(default)]
    sign_password: Option<Spanned<toml::Value>>,
    #[serde(default)]
    pin_tries: Option<Spanned<toml::Value>>,
    photo: Spanned<toml::Value>,
}

impl RawFile {
    fn line_of(&self, ctx: &Ctx<'_>, key: &str) -> Option<usize> {
        let span = match key {
            "name" => self.name.span(),
            "address" => self.address.span(),
            "security_code" => self.security_code.span(),
            "my_number" => self.my_number.span(),
            _ => return None,
        };
        ctx.line(span)
    }
}

/// The validated content of a profile file.
struct Person {
    name: String,
    name_kana: String,
    address: String,
    birth: Ymd,
    sex: u8,
    my_number: String,
    expiry: Ymd,
    security_code: String,
    auth_pin: String,
    text_pin: String,
    sign_password: Option<String>,
    pin_tries: u8,
    /// Resolved against the file's directory.
    photo: PathBuf,
}

struct Ctx<'a> {
    path: &'a Path,
    source: &'a str,
}

impl Ctx<'_> {
    fn line(&self, span: Range<usize>) -> Option<usize> {
        let before = self.source.get(..span.start.min(self.source.len()))?;
        Some(before.matches('\n').count() + 1)
    }

    fn error(&self, key: &str, span: Range<usize>, message: impl Into<String>) -> Error {
        Error::ProfileFile {
            path: self.path.to_path_buf(),
            line: self.line(span),
            key: Some(key.to_owned()),
            message: message.into(),
        }
    }

    fn toml_error(&self, e: &toml::de::Error) -> Error {
        let message = e.message().trim_end().to_owned();
        let line = e.span().and_then(|s| self.line(s));
        // serde's field messages name the key in backticks: use that key.
        let named = |prefix: &str| {
            message
                .strip_prefix(prefix)
                .and_then(|rest| rest.split('`').next())
                .map(str::to_owned)
        };
        if let Some(key) = named("missing field `") {
            return Error::ProfileFile {
                path: self.path.to_path_buf(),
                line: None,
                key: Some(key),
                message: "is missing (see examples/person.toml)".into(),
            };
        }
        if let Some(key) = named("unknown field `") {
            return Error::ProfileFile {
                path: self.path.to_path_buf(),
                line,
                key: Some(key),
                message: format!(
                    "unknown key; the keys are {}",
                    KEYS.iter()
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
        }
        let key = e.span().and_then(|s| key_at(self.source, s.start));
        let message = match &key {
            Some(k) if SECRET_KEYS.contains(&k.as_str()) => {
                "not a valid TOML value (write it as a quoted string)".to_owned()
            }
            _ => message,
        };
        Error::ProfileFile {
            path: self.path.to_path_buf(),
            line,
            key,
            message,
        }
    }
}

/// Every key, in the documented order.
const KEYS: &[&str] = &[
    "name",
    "name_kana",
    "address",
    "birth_date",
    "sex",
    "my_number",
    "expiry",
    "security_code",
    "auth_pin",
    "text_pin",
    "sign_password",
    "pin_tries",
    "photo",
];

/// The key whose `key = …` line is the last one at or before `offset`.
fn key_at(source: &str, offset: usize) -> Option<String> {
    let mut key = None;
    let mut pos = 0;
    for line in source.split_inclusive('\n') {
        if pos > offset {
            break;
        }
        if let Some((k, _)) = line.trim().split_once('=') {
            let k = k.trim().trim_matches('"');
            if KEYS.contains(&k) {
                key = Some(k.to_owned());
            }
        }
        pos += line.len();
    }
    key
}

fn string<'v>(ctx: &Ctx<'_>, key: &str, v: &'v Spanned<toml::Value>) -> Result<&'v str, Error> {
    match v.get_ref() {
        toml::Value::String(s) => Ok(s),
        other => Err(ctx.error(
            key,
            v.span(),
            format!("must be a quoted string, not a {}", other.type_str()),
        )),
    }
}

/// Letters, spaces and punctuation of one line, within `max` characters.
fn text(ctx: &Ctx<'_>, key: &str, v: &Spanned<toml::Value>, max: usize) -> Result<String, Error> {
    let s = string(ctx, key, v)?.trim();
    if s.is_empty() {
        return Err(ctx.error(key, v.span(), "must not be empty"));
    }
    if s.chars().any(char::is_control) {
        return Err(ctx.error(key, v.span(), "must be one line without control characters"));
    }
    if s.chars().count() > max {
        return Err(ctx.error(key, v.span(), format!("is longer than {max} characters")));
    }
    Ok(s.to_owned())
}

/// A name with its parts separated by U+3000 (ASCII spaces become U+3000; runs of spaces one).
fn name_parts(s: &str) -> String {
    s.split([' ', '\u{3000}'])
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("\u{3000}")
}

fn digits(ctx: &Ctx<'_>, key: &str, v: &Spanned<toml::Value>, n: usize) -> Result<String, Error> {
    let what = format!(
        "must be {n} digits, quoted (for example \"{}\")",
        "0".repeat(n)
    );
    let toml::Value::String(s) = v.get_ref() else {
        return Err(ctx.error(key, v.span(), what));
    };
    if s.len() != n || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ctx.error(key, v.span(), what));
    }
    Ok(s.clone())
}

fn date(ctx: &Ctx<'_>, key: &str, v: &Spanned<toml::Value>) -> Result<Ymd, Error> {
    let bad = || ctx.error(key, v.span(), "must be a date YYYY-MM-DD");
    let (y, m, d) = match v.get_ref() {
        toml::Value::String(s) => {
            let parts: Vec<&str> = s.split('-').collect();
            let [y, m, d] = parts.as_slice() else {
                return Err(bad());
            };
            if y.len() != 4 || m.len() != 2 || d.len() != 2 {
                return Err(bad());
            }
            let num = |t: &str| -> Result<u16, Error> {
                if t.bytes().all(|b| b.is_ascii_digit()) {
                    t.parse().map_err(|_| bad())
                } else {
                    Err(bad())
                }
            };
            (num(y)?, num(m)?, num(d)?)
        }
        toml::Value::Datetime(dt) => match (dt.date, dt.time, dt.offset) {
            (Some(date), None, None) => (date.year, u16::from(date.month), u16::from(date.day)),
            _ => return Err(bad()),
        },
        _ => return Err(bad()),
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return Err(ctx.error(key, v.span(), "has no such month")),
    };
    if !(1..=days).contains(&d) {
        return Err(ctx.error(key, v.span(), "has no such day"));
    }
    if !(1000..=9999).contains(&y) {
        return Err(bad());
    }
    Ok(Ymd {
        y,
        m: m as u8,
        d: d as u8,
    })
}

impl Person {
    fn validate(ctx: &Ctx<'_>, raw: &RawFile) -> Result<Person, Error> {
        let name = name_parts(&text(ctx, "name", &raw.name, 40)?);
        if !name.contains('\u{3000}') {
            return Err(ctx.error(
                "name",
                raw.name.span(),
                "must be family and given name separated by a space or U+3000",
            ));
        }
        let name_kana = name_parts(&text(ctx, "name_kana", &raw.name_kana, 80)?);
        let address = text(ctx, "address", &raw.address, 100)?;
        let birth = date(ctx, "birth_date", &raw.birth_date)?;
        if birth.era().is_none() {
            return Err(ctx.error(
                "birth_date",
                raw.birth_date.span(),
                "must be on or after 1868-01-25 (照合番号B needs a Japanese era year)",
            ));
        }
        let sex = match raw.sex.get_ref() {
            toml::Value::String(s) => match s.as_str() {
                "male" | "1" => Some(b'1'),
                "female" | "2" => Some(b'2'),
                "other" | "9" => Some(b'9'),
                _ => None,
            },
            toml::Value::Integer(1) => Some(b'1'),
            toml::Value::Integer(2) => Some(b'2'),
            toml::Value::Integer(9) => Some(b'9'),
            _ => None,
        }
        .ok_or_else(|| {
            ctx.error(
                "sex",
                raw.sex.span(),
                "must be \"male\", \"female\" or \"other\" (or \"1\", \"2\", \"9\")",
            )
        })?;
        let my_number = digits(ctx, "my_number", &raw.my_number, 12)?;
        if my_number_check_digit(&my_number[..11]) != my_number[11..].parse().ok() {
            return Err(ctx.error(
                "my_number",
                raw.my_number.span(),
                "has a wrong check digit (the 12th digit must be the check digit of the first 11)",
            ));
        }
        let expiry = date(ctx, "expiry", &raw.expiry)?;
        if expiry <= birth {
            return Err(ctx.error("expiry", raw.expiry.span(), "must be after birth_date"));
        }
        let security_code = digits(ctx, "security_code", &raw.security_code, 4)?;
        let auth_pin = digits(ctx, "auth_pin", &raw.auth_pin, 4)?;
        let text_pin = digits(ctx, "text_pin", &raw.text_pin, 4)?;
        let sign_password = match &raw.sign_password {
            None => None,
            Some(v) => {
                let ok = match v.get_ref() {
                    toml::Value::String(s) => {
                        (6..=16).contains(&s.len())
                            && s.bytes()
                                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
                    }
                    _ => false,
                };
                if !ok {
                    return Err(ctx.error(
                        "sign_password",
                        v.span(),
                        "must be 6 to 16 characters A–Z and 0–9, quoted \
                         (leave the key out for a card without a signing certificate)",
                    ));
                }
                string(ctx, "sign_password", v).ok().map(str::to_owned)
            }
        };
        let pin_tries = match &raw.pin_tries {
            None => 3,
            Some(v) => match v.get_ref() {
                toml::Value::Integer(n @ 1..=3) => *n as u8,
                _ => return Err(ctx.error("pin_tries", v.span(), "must be 1, 2 or 3")),
            },
        };
        let photo = string(ctx, "photo", &raw.photo)?;
        if photo.trim().is_empty() {
            return Err(ctx.error("photo", raw.photo.span(), "must not be empty"));
        }
        let base = ctx
            .path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let photo = base.join(photo);
        Ok(Person {
            name,
            name_kana,
            address,
            birth,
            sex,
            my_number,
            expiry,
            security_code,
            auth_pin,
            text_pin,
            sign_password,
            pin_tries,
            photo,
        })
    }

    /// The canonical content the seed is the SHA-256 of: a version line, then every value,
    /// normalised, in a fixed order, and the photo's SHA-256 instead of its path.
    fn canonical(&self, photo_sha256: &[u8]) -> String {
        let date = |d: Ymd| format!("{:04}-{:02}-{:02}", d.y, d.m, d.d);
        let lines = [
            ("name", self.name.clone()),
            ("name_kana", self.name_kana.clone()),
            ("address", self.address.clone()),
            ("birth_date", date(self.birth)),
            ("sex", (self.sex as char).to_string()),
            ("my_number", self.my_number.clone()),
            ("expiry", date(self.expiry)),
            ("security_code", self.security_code.clone()),
            ("auth_pin", self.auth_pin.clone()),
            ("text_pin", self.text_pin.clone()),
            (
                "sign_password",
                self.sign_password.clone().unwrap_or_default(),
            ),
            ("pin_tries", self.pin_tries.to_string()),
            ("photo_sha256", hex(photo_sha256)),
        ];
        let mut out = String::from("madoguchi-virtual-card profile file v1\n");
        for (k, v) in lines {
            out.push_str(k);
            out.push('=');
            out.push_str(&v);
            out.push('\n');
        }
        out
    }
}

/// The per-card keys.
struct Keys {
    auth: RsaPrivateKey,
    sign: Option<RsaPrivateKey>,
    chip: RsaPrivateKey,
}

/// The three (or two, without a signing certificate) RSA-2048 keys, each from its own ChaCha20
/// generator seeded with SHA-256(label, seed, purpose), generated on parallel threads.
fn derive_keys(seed: &[u8; 32], with_sign: bool) -> Result<Keys, Error> {
    let key_seed = |purpose: &str| -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(b"madoguchi-virtual-card TEST profile-file key v1/");
        h.update(seed);
        h.update(b"/");
        h.update(purpose.as_bytes());
        h.finalize().into()
    };
    let make = |purpose: &str| {
        issue::key_from_seed(key_seed(purpose))
            .map_err(|e| Error::Fixture(format!("{purpose}: {e}")))
    };
    let (auth, sign, chip) = std::thread::scope(|scope| {
        let sign = with_sign.then(|| scope.spawn(|| make("sign")));
        let chip = scope.spawn(|| make("chip"));
        let auth = make("auth");
        let join = |h: std::thread::ScopedJoinHandle<'_, Result<RsaPrivateKey, Error>>| {
            h.join()
                .unwrap_or_else(|_| Err(Error::Fixture("key generation panicked".into())))
        };
        (auth, sign.map(join), join(chip))
    });
    Ok(Keys {
        auth: auth?,
        sign: sign.transpose()?,
        chip: chip?,
    })
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02X}")).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn parse(source: &str) -> Result<Person, Error> {
        let ctx = Ctx {
            path: Path::new("/tmp/p/person.toml"),
            source,
        };
        let raw: RawFile = toml::from_str(source).map_err(|e| ctx.toml_error(&e))?;
        Person::validate(&ctx, &raw)
    }

    const GOOD: &str = r#"name = "見本 花子"
name_kana = "ミホン　ハナコ"
address = "東京都千代田区試験町一丁目１番１号"
birth_date = "1990-02-28"
sex = "female"
my_number = "123456789018"
expiry = 2035-02-28
security_code = "0042"
auth_pin = "0123"
text_pin = "4567"
sign_password = "ABC123"
photo = "face.jpg"
"#;

    #[test]
    fn a_good_file_is_normalised() {
        let p = parse(GOOD).unwrap();
        assert_eq!(p.name, "見本\u{3000}花子");
        assert_eq!(p.sex, b'2');
        assert_eq!(
            p.birth,
            Ymd {
                y: 1990,
                m: 2,
                d: 28
            }
        );
        assert_eq!(
            p.expiry,
            Ymd {
                y: 2035,
                m: 2,
                d: 28
            }
        );
        assert_eq!(p.pin_tries, 3);
        assert_eq!(p.photo, Path::new("/tmp/p/face.jpg"));
        let c = p.canonical(&[0; 32]);
        assert!(c.starts_with("madoguchi-virtual-card profile file v1\nname=見本\u{3000}花子\n"));
        // Formatting and comments do not change the canonical content.
        let reformatted = format!(
            "# a comment\n{}",
            GOOD.replace("\"1990-02-28\"", "1990-02-28")
        );
        assert_eq!(parse(&reformatted).unwrap().canonical(&[0; 32]), c);
    }

    #[test]
    fn dates_are_checked() {
        for bad in [
            "1990-02-30",
            "1990-13-01",
            "1990-2-3",
            "19900203",
            "1990-02-28T10:00:00",
        ] {
            let src = GOOD.replace("\"1990-02-28\"", &format!("\"{bad}\""));
            let e = parse(&src).map(|_| ()).unwrap_err().to_string();
            assert!(e.contains("key `birth_date`"), "{bad}: {e}");
            assert!(e.contains(":4:"), "{bad}: {e}");
        }
        let e = parse(&GOOD.replace("\"1990-02-28\"", "\"1850-01-01\""))
            .map(|_| ())
            .unwrap_err();
        assert!(e.to_string().contains("era"), "{e}");
        let e = parse(&GOOD.replace("2035-02-28", "1980-01-01"))
            .map(|_| ())
            .unwrap_err();
        assert!(e.to_string().contains("key `expiry`"), "{e}");
    }

    #[test]
    fn sex_accepts_words_and_digits() {
        for (v, b) in [
            ("\"male\"", b'1'),
            ("\"2\"", b'2'),
            ("\"other\"", b'9'),
            ("9", b'9'),
        ] {
            let p = parse(&GOOD.replace("\"female\"", v)).unwrap();
            assert_eq!(p.sex, b, "{v}");
        }
        let e = parse(&GOOD.replace("\"female\"", "\"f\""))
            .map(|_| ())
            .unwrap_err();
        assert!(e.to_string().contains("key `sex`"), "{e}");
    }

    #[test]
    fn secrets_are_never_echoed() {
        for (key, good, bad) in [
            ("auth_pin", "\"0123\"", "\"12345\""),
            ("auth_pin", "\"0123\"", "9876"),
            ("text_pin", "\"4567\"", "\"45a7\""),
            ("security_code", "\"0042\"", "\"004\""),
            ("my_number", "\"123456789018\"", "\"123456789017\""),
            ("my_number", "\"123456789018\"", "123456789017"),
            ("sign_password", "\"ABC123\"", "\"abc123\""),
            // Not even TOML: the parser's own message is not used for a secret key.
            ("auth_pin", "\"0123\"", "98x6"),
        ] {
            let src = GOOD.replace(&format!("{key} = {good}"), &format!("{key} = {bad}"));
            assert_ne!(src, GOOD);
            let e = parse(&src).map(|_| ()).unwrap_err().to_string();
            assert!(e.contains(&format!("key `{key}`")), "{key}: {e}");
            let secret = bad.trim_matches('"');
            assert!(!e.contains(secret), "{key}: {e}");
        }
    }

    #[test]
    fn unknown_and_missing_keys_are_named() {
        let e = parse(&format!("{GOOD}nickname = \"x\"\n"))
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("/tmp/p/person.toml:13: key `nickname`: unknown key"),
            "{e}"
        );
        let e = parse(&GOOD.replace("text_pin = \"4567\"\n", ""))
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(e.contains("key `text_pin`: is missing"), "{e}");
    }

    #[test]
    fn optional_keys() {
        let p = parse(&GOOD.replace("sign_password = \"ABC123\"\n", "pin_tries = 1\n")).unwrap();
        assert_eq!(p.sign_password, None);
        assert_eq!(p.pin_tries, 1);
        for bad in ["0", "4", "\"3\""] {
            let e = parse(&format!("{GOOD}pin_tries = {bad}\n"))
                .map(|_| ())
                .unwrap_err();
            assert!(e.to_string().contains("key `pin_tries`"), "{e}");
        }
    }

    #[test]
    fn a_name_needs_two_parts() {
        let e = parse(&GOOD.replace("見本 花子", "見本花子"))
            .map(|_| ())
            .unwrap_err();
        assert!(e.to_string().contains("key `name`"), "{e}");
        let p = parse(&GOOD.replace("見本 花子", "  OBAMA  BARACK HUSSEIN ")).unwrap();
        assert_eq!(p.name, "OBAMA\u{3000}BARACK\u{3000}HUSSEIN");
    }

    #[test]
    fn key_at_finds_the_key_of_the_line() {
        let src = "# c\nname = \"a\"\nauth_pin = x\n";
        assert_eq!(key_at(src, 0), None);
        assert_eq!(key_at(src, 5).as_deref(), Some("name"));
        assert_eq!(key_at(src, src.len() - 2).as_deref(), Some("auth_pin"));
        // Only the file's own keys count.
        assert_eq!(key_at("nickname = 1\n", 3), None);
        assert_eq!(hex(&[0x0A, 0xFF]), "0AFF");
    }
}
