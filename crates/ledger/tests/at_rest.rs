//! Personal data (evidence, reasons, confirmation records' names and addresses) is never in
//! clear in the database files (main file and WAL), and no PIN has anywhere to be stored.

mod common;

use common::{contains, files, key};
use madoguchi_ledger::{EvidenceKind, Ledger, Procedure, TellerRole};
use rusqlite::Connection;

#[test]
fn photos_templates_my_numbers_reasons_and_confirmations_are_not_in_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("ledger.sqlite");
    let l = Ledger::open(&p, key()).expect("open");
    l.register_teller("t-scan-visible", TellerRole::Teller)
        .expect("teller");
    let s = l
        .start_session(Procedure::IdentityVerification, "t-scan-visible")
        .expect("session");
    // A fake JPEG with a recognisable body, a template, a My Number, a signature.
    let mut photo = b"\xFF\xD8\xFF\xE0JFIF-FACE-IMAGE-PLAINTEXT-MARKER".to_vec();
    photo.extend((0..4096u32).map(|i| (i * 31 % 251) as u8));
    let template = b"TEMPLATE-PLAINTEXT-MARKER-0123456789abcdef".to_vec();
    let my_number = b"123456789018".to_vec();
    let signature = b"SIGNATURE-PLAINTEXT-MARKER".to_vec();
    let chip_hash = b"CHIP-PHOTO-HASH-PLAINTEXT-MARKER".to_vec();
    l.store_evidence(&s.id, EvidenceKind::FaceImage, &photo)
        .expect("photo");
    l.store_evidence(&s.id, EvidenceKind::Template, &template)
        .expect("template");
    l.store_evidence(&s.id, EvidenceKind::MyNumber, &my_number)
        .expect("my number");
    l.store_evidence(&s.id, EvidenceKind::Signature, &signature)
        .expect("signature");
    l.store_evidence(&s.id, EvidenceKind::ChipPhotoHash, &chip_hash)
        .expect("chip hash");
    // A confirmation record: its name and address are sealed in the row and in its event.
    l.record_confirmation(
        &s.id,
        &serde_json::json!({
            "format": madoguchi_ledger::CONFIRMATION_FORMAT,
            "record_id": "rec-at-rest",
            "session_id": s.id,
            "verified_at_ms": 1_796_000_000_000u64,
            "subject": {"name": "CONFIRMATION-NAME-MARKER 佐藤花子",
                        "address": "CONFIRMATION-ADDRESS-MARKER 大阪市北区"},
            "outcome": "verified"
        }),
    )
    .expect("confirmation");
    l.append_event(
        "custom.event",
        &serde_json::json!({ "name": "NAME-PLAINTEXT-MARKER 山田太郎" }),
    )
    .expect("event");

    let secrets: Vec<&[u8]> = vec![
        b"FACE-IMAGE-PLAINTEXT-MARKER",
        &photo[40..104],
        b"TEMPLATE-PLAINTEXT-MARKER",
        b"123456789018",
        b"SIGNATURE-PLAINTEXT-MARKER",
        b"CHIP-PHOTO-HASH-PLAINTEXT-MARKER",
        b"NAME-PLAINTEXT-MARKER",
        "山田太郎".as_bytes(),
        b"CONFIRMATION-NAME-MARKER",
        "佐藤花子".as_bytes(),
        b"CONFIRMATION-ADDRESS-MARKER",
        "大阪市北区".as_bytes(),
    ];
    // Before a checkpoint the data is in the WAL; after it, in the main file. Check both.
    for phase in ["wal", "checkpointed"] {
        if phase == "checkpointed" {
            l.checkpoint().expect("checkpoint");
        }
        let bytes = files(&p);
        // The scan really sees content: the (non-personal) teller id is in clear.
        assert!(
            contains(&bytes, b"t-scan-visible"),
            "{phase}: scan sees nothing"
        );
        for s in &secrets {
            assert!(
                !contains(&bytes, s),
                "{phase}: plaintext {:?} found in the database files",
                String::from_utf8_lossy(s)
            );
        }
    }
}

#[test]
fn the_schema_has_no_column_for_a_pin_or_password() {
    let l = Ledger::open_in_memory(key()).expect("open");
    drop(l);
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("l.sqlite");
    drop(Ledger::open(&p, key()).expect("open"));
    let c = Connection::open(&p).expect("raw");
    let mut stmt = c
        .prepare(
            "SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p
             WHERE m.type = 'table'",
        )
        .expect("prepare");
    let cols: Vec<(String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert!(cols.len() > 30, "schema not read: {cols:?}");
    for (t, col) in cols {
        let lc = col.to_lowercase();
        assert!(
            !(lc.contains("pin") || lc.contains("password") || lc.contains("passwd")),
            "{t}.{col} could hold a PIN"
        );
    }
}

#[cfg(unix)]
#[test]
fn database_files_are_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("ledger.sqlite");
    let l = Ledger::open(&p, key()).expect("open");
    l.append_event("a", &serde_json::json!({})).expect("event");
    let mut wal = p.as_os_str().to_owned();
    wal.push("-wal");
    for f in [p.as_os_str().to_owned(), wal] {
        let mode = std::fs::metadata(&f).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{f:?}");
    }
}
