//! The reference central backend (`madoguchi-central`): the sync API of record, described by
//! an OpenAPI document, used by the demo and the tests.
//!
//! Status: empty. It arrives with the ledger-and-sync issue.
//!
//! What it must not do: share code paths with the kiosk's sync client beyond the documented
//! wire format (the two check each other), or accept a batch non-idempotently.
