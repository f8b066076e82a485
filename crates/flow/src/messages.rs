//! Message codes: what each step tells the teller and the customer. The screens translate
//! every code into Japanese and English (`ui/src/lib/i18n.ts`); a test checks that each code here
//! has both texts, so a procedure can never show an untranslated step.
//!
//! Codes only, never sentences. Parameters (tries left, seconds) travel beside the code.

macro_rules! codes {
    ($($(#[$m:meta])* $name:ident = $code:literal;)*) => {
        $($(#[$m])* pub const $name: &str = $code;)*
        /// Every code of this module, for the translation test.
        pub const ALL: &[&str] = &[$($code),*];
    };
}

codes! {
    // The teller console.
    /// Nothing running: a procedure can be started.
    T_IDLE = "teller.idle";
    /// Waiting for the card on the reader.
    T_WAIT_CARD = "teller.wait_card";
    /// The customer types the PIN ({tries} left).
    T_PIN_ENTRY = "teller.pin_entry";
    /// Reading the card.
    T_READING = "teller.reading";
    /// The card left the reader mid-read: ask the customer to put it back.
    T_CARD_BACK = "teller.card_back";
    /// 照合番号B was wrong: type it again from the card face.
    T_CODE_B_ENTRY = "teller.code_b_entry";
    /// Live capture and head-turn challenge.
    T_FACE = "teller.face";
    /// The camera is gone: the procedure waits for it.
    T_CAMERA_LOST = "teller.camera_lost";
    /// The customer types the signing password.
    T_SIGN_ENTRY = "teller.sign_entry";
    /// The card signs the evidence.
    T_SIGNING = "teller.signing";
    /// Review: confirm or override.
    T_REVIEW = "teller.review";
    /// Writing the record.
    T_RECORDING = "teller.recording";
    /// The outcome is recorded.
    T_RESULT = "teller.result";
    /// The customer holds the phone's QR up to the camera.
    T_SCAN_QR = "teller.scan_qr";
    /// The credential is checked.
    T_CHECKING_QR = "teller.checking_qr";
    /// Live capture against the credential's face.
    T_QR_FACE = "teller.qr_face";
    /// Live capture for the new credential.
    T_ENROLL_FACE = "teller.enroll_face";
    /// The credential is issued.
    T_ISSUING = "teller.issuing";
    /// The QR is on the customer display: the customer saves it, then the teller finishes.
    T_SHOW_QR = "teller.show_qr";
    /// The backend searches the enrolled faces for this one under another identity.
    T_DUPLICATE_CHECK = "teller.duplicate_check";
    /// The face matches {matches} customer(s) enrolled under another identity (best
    /// {percent} % similar): check the customer's documents, then issue or cancel.
    T_DUPLICATE_REVIEW = "teller.duplicate_review";
    /// The kiosk asks the bank's backend for a passkey binding code.
    T_REQUESTING_CODE = "teller.requesting_code";
    /// The binding code is on the customer display ({minutes} left): the customer scans it
    /// with the new phone, then the teller finishes.
    T_SHOW_CODE = "teller.show_code";

    // The customer display.
    /// Welcome; the teller will guide.
    C_IDLE = "customer.idle";
    /// Place the card on the reader.
    C_PLACE_CARD = "customer.place_card";
    /// Type the 4-digit PIN.
    C_TYPE_PIN = "customer.type_pin";
    /// Please wait, reading; do not move the card.
    C_READING = "customer.reading";
    /// Put the card back on the reader.
    C_CARD_BACK = "customer.card_back";
    /// Please wait (the teller is doing something).
    C_WAIT = "customer.wait";
    /// Look at the camera.
    C_LOOK = "customer.look_at_camera";
    /// The camera is being reconnected; please wait.
    C_CAMERA_LOST = "customer.camera_lost";
    /// Type the signing password.
    C_TYPE_PASSWORD = "customer.type_password";
    /// Please wait: the teller checks the result.
    C_REVIEW = "customer.review";
    /// Done: confirmed.
    C_DONE_OK = "customer.done_ok";
    /// Done: the teller will explain.
    C_DONE_NOT = "customer.done_not";
    /// One try left / locked: the municipal office can help.
    C_DONE_MUNICIPALITY = "customer.done_municipality";
    /// Cancelled.
    C_CANCELLED = "customer.cancelled";
    /// The My Number will be read and kept, because the procedure needs it.
    C_MY_NUMBER_NOTICE = "customer.my_number_notice";
    /// Hold the phone's face QR up to the camera, inside the frame.
    C_SHOW_PHONE_QR = "customer.show_phone_qr";
    /// Checking the QR; please wait.
    C_CHECKING_QR = "customer.checking_qr";
    /// Save this QR with your phone.
    C_SAVE_QR = "customer.save_qr";
    /// Scan the binding code with the bank app on the new phone.
    C_SCAN_BINDING = "customer.scan_binding";
    /// Done: the face credential is issued.
    C_DONE_ISSUED = "customer.done_issued";
    /// The binding code was shown: finish the registration on the new phone.
    C_DONE_CODE_ISSUED = "customer.done_code_issued";
    /// No binding code could be issued: the teller will explain.
    C_DONE_CODE_NOT_ISSUED = "customer.done_code_not_issued";

    // Notices (either screen).
    /// The PIN was wrong ({tries} left).
    N_PIN_WRONG = "notice.pin_wrong";
    /// The PIN has 4 digits.
    N_PIN_SHORT = "notice.pin_short";
    /// The password was wrong ({tries} left).
    N_PASSWORD_WRONG = "notice.password_wrong";
    /// The password has 6 to 16 characters.
    N_PASSWORD_SHORT = "notice.password_short";
    /// 照合番号B was wrong ({tries} left).
    N_CODE_B_WRONG = "notice.code_b_wrong";
    /// That card is not a My Number card.
    N_NOT_MY_NUMBER_CARD = "notice.not_my_number_card";
    /// The record could not be written; try again.
    N_RECORD_FAILED = "notice.record_failed";
    /// The duplicate-face check could not run (the backend did not answer): issued unchecked.
    N_DUPLICATE_UNCHECKED = "notice.duplicate_unchecked";
    /// The signature was skipped (the reason code is the result's note).
    N_SIGN_SKIPPED = "notice.sign_skipped";
    /// Signed.
    N_SIGNED = "notice.signed";
    /// An override needs a written reason.
    N_REASON_REQUIRED = "notice.reason_required";
    /// An override needs a supervisor's key (approval).
    N_APPROVAL_REQUIRED = "notice.approval_required";
    /// An override cannot be approved by the teller who makes it.
    N_APPROVER_SAME = "notice.approver_same";
    /// The procedure could not start (the reason code follows).
    N_START_FAILED = "notice.start_failed";
    /// The camera could not start.
    N_FACE_UNAVAILABLE = "notice.face_unavailable";

    // Outcomes and their reasons.
    /// Verified.
    O_VERIFIED = "outcome.verified";
    /// Not verified.
    O_NOT_VERIFIED = "outcome.not_verified";
    /// Possible presentation attack.
    O_ATTACK = "outcome.attack_suspected";
    /// Refused (one PIN try left, locked).
    O_REFUSED = "outcome.refused";
    /// Cancelled.
    O_CANCELLED = "outcome.cancelled";
    /// A face credential was issued.
    O_ISSUED = "outcome.issued";

    /// Cancelled by the teller.
    R_CANCELLED_TELLER = "cancelled.teller";
    /// Cancelled by the customer.
    R_CANCELLED_CUSTOMER = "cancelled.customer";
    /// Nobody acted in time: the customer's data was wiped.
    R_INACTIVITY = "timeout.inactivity";
    /// No card came in time.
    R_TIMEOUT_CARD = "timeout.card";
    /// The PIN was not typed in time.
    R_TIMEOUT_PIN = "timeout.pin";
    /// The card did not come back in time.
    R_TIMEOUT_CARD_BACK = "timeout.card_back";
    /// The face check did not end in time.
    R_TIMEOUT_FACE = "timeout.face";
    /// The camera did not come back in time.
    R_TIMEOUT_CAMERA = "timeout.camera";
    /// The password was not typed in time.
    R_TIMEOUT_PASSWORD = "timeout.password";
    /// 照合番号B was not typed again in time.
    R_TIMEOUT_CODE_B = "timeout.code_b";
    /// The identity and the face match.
    R_MATCH = "face.match";
    /// The teller overrode the kiosk's decision.
    R_OVERRIDDEN = "teller.override";
    /// No QR was shown in time.
    R_TIMEOUT_QR = "timeout.qr";
    /// The credential was issued and shown.
    R_ISSUED = "credential.issued";
    /// The credential was valid and the live face matched it.
    R_QR_MATCH = "faceqr.match";
    /// Credential rejections (the credential port's codes).
    R_QR_UNREADABLE = "faceqr.unreadable";
    /// The issuer key is not on the trust list.
    R_QR_UNKNOWN_ISSUER = "faceqr.unknown_issuer";
    /// The credential was altered or forged.
    R_QR_BAD_SIGNATURE = "faceqr.bad_signature";
    /// The credential has expired.
    R_QR_EXPIRED = "faceqr.expired";
    /// The credential is not valid yet.
    R_QR_NOT_YET_VALID = "faceqr.not_yet_valid";
    /// The credential or its issuer key is revoked.
    R_QR_REVOKED = "faceqr.revoked";
    /// Made by another face model.
    R_QR_MODEL = "faceqr.model_mismatch";
    /// Its template key is not held here.
    R_QR_TEMPLATE_KEY = "faceqr.template_key_unknown";
    /// The kiosk has no trust lists yet.
    R_TRUST_MISSING = "trust.missing";
    /// The kiosk's trust lists are too old.
    R_TRUST_STALE = "trust.stale";
    /// The kiosk's cached trust lists do not verify (or cannot be read).
    R_TRUST_INVALID = "trust.invalid";
    /// This kiosk's issuer key is not (or no longer) active on the trust list.
    R_ISSUER_INACTIVE = "credential.issuer_inactive";
    /// No template key to issue with.
    R_NO_TEMPLATE_KEY = "credential.no_template_key";
    /// The enrolled face did not give a usable template.
    R_NO_TEMPLATE = "credential.no_template";
    /// The backend found the enrolled face under another identity (the teller reviewed).
    R_DUPLICATE_FLAGGED = "duplicate.flagged";
    /// The backend found no enrolled face of another identity like it.
    R_DUPLICATE_NONE = "duplicate.none";
    /// The duplicate check could not run (no answer from the backend): issued unchecked.
    R_DUPLICATE_UNCHECKED = "duplicate.unchecked";
    /// The teller did not issue after a flagged duplicate.
    R_DUPLICATE_REFUSED = "duplicate.refused";
    /// A binding code was issued and shown.
    R_BINDING_ISSUED = "binding.issued";
    /// The backend could not be reached: re-binding needs the network.
    R_BINDING_UNREACHABLE = "binding.unreachable";
    /// The backend does not know the proof (it has not received the record yet).
    R_BINDING_UNKNOWN_PROOF = "binding.unknown_proof";
    /// The credential (or its issuer key) is revoked at the backend.
    R_BINDING_REVOKED = "binding.revoked";
    /// The credential has expired at the backend.
    R_BINDING_EXPIRED = "binding.expired_credential";
    /// The identity verification behind the proof was not verified.
    R_BINDING_NOT_VERIFIED = "binding.not_verified";
    /// The customer has too many live codes.
    R_BINDING_TOO_MANY = "binding.too_many_codes";
    /// The backend refused for another reason, or answered something unexpected.
    R_BINDING_FAILED = "binding.failed";
    /// The backend did not answer in time.
    R_TIMEOUT_BACKEND = "timeout.backend";
}

#[cfg(test)]
mod tests {
    #[test]
    fn codes_are_unique_and_well_formed() {
        let mut seen = std::collections::HashSet::new();
        for c in super::ALL {
            assert!(seen.insert(c), "duplicate {c}");
            assert!(
                c.bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'.' || b == b'_'),
                "{c}"
            );
            assert!(c.contains('.'), "{c}");
        }
    }
}
