//! The redaction layer: every log line passes through here before it reaches a file or the
//! terminal. Values of personal-data keys are replaced, and 12-digit numbers (the shape of a
//! My Number) are masked wherever they appear, including inside messages.
//!
//! This is a safety net, not the policy: personal data is kept in types whose `Debug`
//! redacts and that have no `Display`, so it is never formatted into a log in the first
//! place. What it cannot do: recognise a name or an address written into free message text.

use std::io;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;
use tracing_subscriber::fmt::MakeWriter;

/// What a redacted value is replaced with.
pub const REDACTED: &str = "[redacted]";

/// Keys whose values are personal data or secrets, compared after lower-casing and turning
/// `-` into `_`.
const SENSITIVE_KEYS: &[&str] = &[
    "pin",
    "pins",
    "password",
    "passwd",
    "passphrase",
    "signing_password",
    "my_number",
    "mynumber",
    "individual_number",
    "name",
    "customer_name",
    "full_name",
    "name_kana",
    "kana",
    "address",
    "birth_date",
    "birthdate",
    "date_of_birth",
    "dob",
    "sex",
    "photo",
    "face_image",
    "image_data",
    "template",
    "embedding",
    "token",
    "secret",
    "api_key",
    "authorization",
    "security_code",
];

/// Key suffixes that are always sensitive (`customer_pin`, `kiosk_token`, …).
const SENSITIVE_SUFFIXES: &[&str] = &["_pin", "_password", "_secret", "_token", "_my_number"];

/// `true` when a field with this key must never be written out.
pub fn is_sensitive_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase().replace('-', "_");
    SENSITIVE_KEYS.contains(&k.as_str()) || SENSITIVE_SUFFIXES.iter().any(|s| k.ends_with(s))
}

static MY_NUMBER_SHAPE: LazyLock<Regex> = LazyLock::new(|| {
    // Twelve digits, optionally grouped 4-4-4 by a space or a hyphen, not part of a longer
    // run of digits.
    Regex::new(r"(^|[^0-9])([0-9]{4}[ -]?[0-9]{4}[ -]?[0-9]{4})($|[^0-9])").expect("valid regex")
});

static KEY_VALUE: LazyLock<Regex> = LazyLock::new(|| {
    // `key=value` / `key: value` as they appear in text logs and in messages. The value is
    // a quoted string or a run of non-space characters.
    Regex::new(r#"(?i)\b([a-z_][a-z0-9_-]*)(\s*[=:]\s*)("(?:[^"\\]|\\.)*"|[^\s,}]+)"#)
        .expect("valid regex")
});

/// Masks 12-digit numbers and `sensitive_key=value` pairs in free text.
pub fn redact_text(text: &str) -> String {
    let kv = KEY_VALUE.replace_all(text, |c: &regex::Captures<'_>| {
        if is_sensitive_key(&c[1]) {
            format!("{}{}{REDACTED}", &c[1], &c[2])
        } else {
            c[0].to_string()
        }
    });
    mask_my_number_shapes(&kv)
}

fn mask_my_number_shapes(text: &str) -> String {
    // Run twice: adjacent matches share the separating character.
    let mut out = text.to_string();
    for _ in 0..2 {
        out = MY_NUMBER_SHAPE
            .replace_all(&out, |c: &regex::Captures<'_>| {
                format!("{}{REDACTED}{}", &c[1], &c[3])
            })
            .into_owned();
    }
    out
}

/// Redacts one JSON log line; a line that is not JSON is redacted as text.
pub fn redact_json_line(line: &str) -> String {
    match serde_json::from_str::<Value>(line) {
        Ok(mut v) => {
            redact_value(&mut v);
            v.to_string()
        }
        Err(_) => redact_text(line),
    }
}

fn redact_value(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for (k, val) in map.iter_mut() {
                if is_sensitive_key(k) {
                    *val = Value::String(REDACTED.into());
                } else {
                    redact_value(val);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_value),
        Value::String(s) => {
            let r = redact_text(s);
            if r != *s {
                *s = r;
            }
        }
        Value::Number(n) => {
            // A bare 12-digit number is masked like a string one.
            let text = n.to_string();
            if text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit()) {
                *v = Value::String(REDACTED.into());
            }
        }
        Value::Null | Value::Bool(_) => {}
    }
}

/// How a line is redacted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per line.
    Json,
    /// Human-readable text.
    Text,
}

/// A [`MakeWriter`] whose writers redact every line before passing it on.
#[derive(Debug, Clone)]
pub struct RedactingMakeWriter<M> {
    inner: M,
    format: Format,
}

impl<M> RedactingMakeWriter<M> {
    /// Wraps `inner`; lines are redacted as `format`.
    pub fn new(inner: M, format: Format) -> Self {
        Self { inner, format }
    }
}

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for RedactingMakeWriter<M> {
    type Writer = RedactingWriter<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        RedactingWriter {
            inner: self.inner.make_writer(),
            format: self.format,
            buf: Vec::new(),
        }
    }
}

/// Collects one event's output, redacts it line by line, and writes it on flush or drop.
#[derive(Debug)]
pub struct RedactingWriter<W: io::Write> {
    inner: W,
    format: Format,
    buf: Vec<u8>,
}

impl<W: io::Write> RedactingWriter<W> {
    fn emit(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&self.buf).into_owned();
        self.buf.clear();
        let mut out = String::with_capacity(text.len());
        for line in text.split_inclusive('\n') {
            let (body, nl) = match line.strip_suffix('\n') {
                Some(b) => (b, "\n"),
                None => (line, ""),
            };
            let redacted = match self.format {
                Format::Json => redact_json_line(body),
                Format::Text => redact_text(body),
            };
            out.push_str(&redacted);
            out.push_str(nl);
        }
        self.inner.write_all(out.as_bytes())?;
        self.inner.flush()
    }
}

impl<W: io::Write> io::Write for RedactingWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.emit()
    }
}

impl<W: io::Write> Drop for RedactingWriter<W> {
    fn drop(&mut self) {
        // Nothing sensible can be done with a failed log write while dropping.
        let _ = self.emit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensitive_keys() {
        for k in [
            "pin",
            "PIN",
            "my_number",
            "my-number",
            "customer_pin",
            "kiosk_token",
            "name",
        ] {
            assert!(is_sensitive_key(k), "{k}");
        }
        for k in [
            "reader",
            "reader_name_len",
            "tries_left",
            "kiosk_id",
            "message",
            "pinned",
        ] {
            assert!(!is_sensitive_key(k), "{k}");
        }
    }

    #[test]
    fn twelve_digit_numbers_are_masked_in_text() {
        assert_eq!(
            redact_text("number 123456789012 read"),
            "number [redacted] read"
        );
        assert_eq!(redact_text("1234-5678-9012"), "[redacted]");
        assert_eq!(
            redact_text("1234 5678 9012, 210987654321"),
            "[redacted], [redacted]"
        );
        // Longer and shorter runs are not My Numbers.
        assert_eq!(redact_text("ts 1700000000000"), "ts 1700000000000");
        assert_eq!(redact_text("port 35963"), "port 35963");
    }

    #[test]
    fn key_values_in_text() {
        let t = redact_text(r#"verify pin=1234 tries_left=3 name="山田 太郎" password: ABC123"#);
        assert!(!t.contains("1234"), "{t}");
        assert!(!t.contains("山田"), "{t}");
        assert!(!t.contains("ABC123"), "{t}");
        assert!(t.contains("tries_left=3"), "{t}");
    }

    #[test]
    fn json_fields_and_nested_values() {
        let line = r#"{"level":"INFO","fields":{"message":"card read 123456789012","pin":"1234","reader":"Virtual PCD 00 00","n":123456789012},"span":{"customer_name":"X"}}"#;
        let out = redact_json_line(line);
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["fields"]["pin"], REDACTED);
        assert_eq!(v["fields"]["n"], REDACTED);
        assert_eq!(v["fields"]["reader"], "Virtual PCD 00 00");
        assert_eq!(v["fields"]["message"], "card read [redacted]");
        assert_eq!(v["span"]["customer_name"], REDACTED);
    }

    #[test]
    fn writer_redacts_each_line() {
        use std::io::Write;
        let sink = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
        struct Sink(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
        impl io::Write for Sink {
            fn write(&mut self, d: &[u8]) -> io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(d);
                Ok(d.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        {
            let mut w = RedactingWriter {
                inner: Sink(sink.clone()),
                format: Format::Text,
                buf: Vec::new(),
            };
            w.write_all(b"a pin=9999\nb 111122223333\n").unwrap();
        }
        let got = String::from_utf8(sink.lock().unwrap().clone()).unwrap();
        assert_eq!(got, "a pin=[redacted]\nb [redacted]\n");
    }
}
