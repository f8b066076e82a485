//! Progress of a card reading, for the UI's progress bar: which step, bytes read / expected.
//! It carries no card content.

use serde::Serialize;

/// A step of a reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Step {
    /// The 4 attributes (券面事項入力補助AP EF 0002).
    Attributes,
    /// The My Number file (EF 0001).
    MyNumber,
    /// The signed digests of the text application (EF 0003).
    TextIntegrity,
    /// The text application's card-verifiable certificate (EF 0004).
    TextCertificate,
    /// The card face with the photo (券面事項確認AP EF 0002).
    CardFace,
    /// The card-face application's card-verifiable certificate (EF 0004).
    CardFaceCertificate,
    /// The JPKI authentication certificate (EF 000A).
    AuthCertificate,
    /// The JPKI signing certificate (EF 0001).
    SignCertificate,
    /// Which JPKI certificates the card has (EF 0008).
    CertificateAvailability,
}

impl Step {
    /// What is being read, for error messages.
    pub fn what(self) -> &'static str {
        match self {
            Step::Attributes => "attributes file",
            Step::MyNumber => "My Number file",
            Step::TextIntegrity => "text integrity record",
            Step::TextCertificate => "text application certificate",
            Step::CardFace => "card face file",
            Step::CardFaceCertificate => "card-face application certificate",
            Step::AuthCertificate => "authentication certificate",
            Step::SignCertificate => "signing certificate",
            Step::CertificateAvailability => "certificate availability",
        }
    }
}

/// One progress report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Progress {
    /// The step.
    pub step: Step,
    /// Bytes of this step's file read so far.
    pub bytes_read: usize,
    /// The file's size, once known.
    pub bytes_expected: Option<usize>,
}
