//! The kiosk's ledger in SQLite (rusqlite, bundled): ordered migrations, tellers, sessions,
//! outcomes, encrypted evidence, a hash-chained audit trail, the transactional outbox,
//! caches of trust data, and retention.
//!
//! Status: empty. It arrives with the ledger-and-sync issue.
//!
//! What it must not do: store a PIN ever, or a photo, template or My Number in clear; write a
//! record without its outbox event in the same transaction; speak HTTP; or know about Tauri
//! or the UI.
