//! The customer's keypad as the procedures see it: key presses in, a zeroizing buffer, and
//! only the number of characters typed out (for the dots on the screen).
//!
//! A [`Secret`] is what a finished entry becomes: zeroised on drop, `Debug` redacted, no
//! `Display`, no `Clone`, no serialisation. The web side never holds the value: each key press
//! crosses to Rust on its own and the page is told only how many characters there are.
//! This module does not know which card file a secret opens (the card port does).

use std::fmt;

use zeroize::Zeroizing;

/// A secret typed at the counter (PIN, signing password, security code).
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// Wraps a value (the caller's `String` moves in and is wiped on drop).
    pub fn new(value: String) -> Self {
        Secret(Zeroizing::new(value))
    }
    /// The value, for the one call that sends it to the card.
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// Number of characters.
    pub fn len(&self) -> usize {
        self.0.chars().count()
    }
    /// Nothing typed.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// One key of the customer's keypad.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// A digit or (alphanumeric keypad) a letter. `Debug` of a key press shows the character:
    /// key presses are never logged.
    Char(char),
    /// Delete the last character.
    Backspace,
    /// Delete everything.
    Clear,
    /// Done.
    Enter,
}

/// Which keypad the customer display shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeypadKind {
    /// The 4-digit card PIN (digits only).
    Pin,
    /// The JPKI signing password: 6–16 characters A–Z and 0–9 (lower case folded).
    SignPassword,
}

impl KeypadKind {
    /// Fewest characters an entry may have.
    pub fn min(self) -> usize {
        match self {
            KeypadKind::Pin => 4,
            KeypadKind::SignPassword => 6,
        }
    }
    /// Most characters an entry may have.
    pub fn max(self) -> usize {
        match self {
            KeypadKind::Pin => 4,
            KeypadKind::SignPassword => 16,
        }
    }
    fn accepts(self, c: char) -> Option<char> {
        match self {
            KeypadKind::Pin => c.is_ascii_digit().then_some(c),
            KeypadKind::SignPassword => {
                let c = c.to_ascii_uppercase();
                (c.is_ascii_uppercase() || c.is_ascii_digit()).then_some(c)
            }
        }
    }
}

/// What a key press did.
#[derive(Debug, PartialEq, Eq)]
pub enum Typed {
    /// The buffer changed (or a key was ignored); the entry goes on.
    Editing,
    /// Enter on too few characters: nothing is sent.
    TooShort,
    /// Enter on a complete entry: here is the secret (the buffer is empty again).
    Done(SecretEntry),
}

/// A finished entry (wraps [`Secret`] so that `Typed` can derive `PartialEq` for tests
/// without comparing values).
pub struct SecretEntry(pub Secret);

impl PartialEq for SecretEntry {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl Eq for SecretEntry {}
impl fmt::Debug for SecretEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A keypad entry in progress.
pub struct Keypad {
    kind: KeypadKind,
    buf: Zeroizing<String>,
}

impl fmt::Debug for Keypad {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Keypad({:?}, {} typed)", self.kind, self.typed())
    }
}

impl Keypad {
    /// An empty entry.
    pub fn new(kind: KeypadKind) -> Self {
        Keypad {
            kind,
            buf: Zeroizing::new(String::with_capacity(kind.max())),
        }
    }
    /// The keypad's kind.
    pub fn kind(&self) -> KeypadKind {
        self.kind
    }
    /// Characters typed so far.
    pub fn typed(&self) -> usize {
        self.buf.chars().count()
    }
    /// Applies a key. Characters the keypad does not accept, and characters beyond the
    /// maximum, are ignored.
    pub fn press(&mut self, key: Key) -> Typed {
        match key {
            Key::Char(c) => {
                if let Some(c) = self.kind.accepts(c)
                    && self.typed() < self.kind.max()
                {
                    self.buf.push(c);
                }
                Typed::Editing
            }
            Key::Backspace => {
                self.buf.pop();
                Typed::Editing
            }
            Key::Clear => {
                self.buf.clear();
                Typed::Editing
            }
            Key::Enter if self.typed() < self.kind.min() => Typed::TooShort,
            Key::Enter => {
                // The capacity was reserved up front, so the value never reallocated (a
                // reallocation would leave an unzeroised copy behind).
                let value =
                    std::mem::replace(&mut *self.buf, String::with_capacity(self.kind.max()));
                Typed::Done(SecretEntry(Secret::new(value)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(k: &mut Keypad, s: &str) {
        for c in s.chars() {
            assert_eq!(k.press(Key::Char(c)), Typed::Editing);
        }
    }

    #[test]
    fn pin_keypad_takes_four_digits_only() {
        let mut k = Keypad::new(KeypadKind::Pin);
        typed(&mut k, "1a2b");
        assert_eq!(k.typed(), 2);
        assert_eq!(k.press(Key::Enter), Typed::TooShort);
        typed(&mut k, "3456");
        assert_eq!(k.typed(), 4, "capped at 4");
        k.press(Key::Backspace);
        typed(&mut k, "9");
        match k.press(Key::Enter) {
            Typed::Done(SecretEntry(s)) => assert_eq!(s.expose(), "1239"),
            other => panic!("{other:?}"),
        }
        assert_eq!(k.typed(), 0, "the buffer is empty after Enter");
    }

    #[test]
    fn password_keypad_folds_case_and_bounds_length() {
        let mut k = Keypad::new(KeypadKind::SignPassword);
        typed(&mut k, "ab-c1");
        assert_eq!(k.typed(), 4);
        assert_eq!(k.press(Key::Enter), Typed::TooShort);
        typed(&mut k, "xyz");
        match k.press(Key::Enter) {
            Typed::Done(SecretEntry(s)) => assert_eq!(s.expose(), "ABC1XYZ"),
            other => panic!("{other:?}"),
        }
        typed(&mut k, &"A".repeat(20));
        assert_eq!(k.typed(), 16);
        k.press(Key::Clear);
        assert_eq!(k.typed(), 0);
    }

    #[test]
    fn debug_never_shows_what_was_typed() {
        let mut k = Keypad::new(KeypadKind::Pin);
        typed(&mut k, "4821");
        assert!(!format!("{k:?}").contains("4821"));
        let Typed::Done(s) = k.press(Key::Enter) else {
            panic!()
        };
        assert!(!format!("{s:?}").contains("4821"));
    }
}
