//! TLS: the client trusts the bank's CA (alone, without the built-in roots) and presents its
//! client certificate to a server that requires one (mutual TLS). The certificates are made
//! at test time with the `openssl` command (Debian package `openssl`); the server is rustls on
//! loopback.
#![allow(clippy::unwrap_used)] // test helpers: a failed set-up is a failed test

use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use madoguchi_sync::pull::measure_skew;
use madoguchi_sync::{Client, ClientOptions};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use zeroize::Zeroizing;

fn openssl(dir: &Path, args: &[&str]) {
    let ok = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .map(|o| o.status.success())
        .unwrap_or_else(|e| {
            panic!("cannot run `openssl` ({e}): install the Debian package `openssl`")
        });
    assert!(ok, "openssl {args:?} failed");
}

/// CA, server (127.0.0.1) and client certificates, all EC P-256, in `dir`.
fn make_pki(dir: &Path) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let mut a = vec!["req", "-x509"];
    a.extend_from_slice(&ec);
    a.extend_from_slice(&[
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=Test Bank CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    openssl(dir, &a);
    for (name, usage, san) in [
        (
            "server",
            "serverAuth",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ),
        (
            "client",
            "clientAuth",
            "subjectAltName=DNS:kiosk-0001.branch.invalid",
        ),
    ] {
        let mut a = vec!["req"];
        a.extend_from_slice(&ec);
        let key = format!("{name}.key");
        let csr = format!("{name}.csr");
        let pem = format!("{name}.pem");
        let ext = format!("{name}.ext");
        a.extend_from_slice(&["-keyout", &key, "-out", &csr, "-subj", "/CN=test"]);
        openssl(dir, &a);
        std::fs::write(
            dir.join(&ext),
            format!("basicConstraints=CA:FALSE\nextendedKeyUsage={usage}\n{san}\n"),
        )
        .unwrap();
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &pem,
                "-days",
                "2",
                "-extfile",
                &ext,
            ],
        );
    }
}

/// A TLS server requiring a client certificate from the CA; answers `/v1/time` on up to
/// `conns` connections.
fn mtls_server(dir: &Path, conns: usize) -> String {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let ca = CertificateDer::from_pem_file(dir.join("ca.pem")).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca).unwrap();
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .unwrap();
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(dir.join("server.pem"))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(dir.join("server.key")).unwrap();
    let config = Arc::new(
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_client_cert_verifier(verifier)
            .with_single_cert(certs, key)
            .unwrap(),
    );
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "https://127.0.0.1:{}",
        listener.local_addr().unwrap().port()
    );
    std::thread::spawn(move || {
        for _ in 0..conns {
            let Ok((sock, _)) = listener.accept() else {
                return;
            };
            let conn = rustls::ServerConnection::new(config.clone()).unwrap();
            let mut tls = rustls::StreamOwned::new(conn, sock);
            let mut req = Vec::new();
            let mut buf = [0u8; 1024];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                match tls.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => req.extend_from_slice(&buf[..n]),
                }
            }
            if req.is_empty() {
                continue; // handshake refused
            }
            let body = format!("{{\"server_time_ms\":{}}}", madoguchi_sync::now_ms());
            let _ = write!(
                tls,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = tls.flush();
            tls.conn.send_close_notify();
            let _ = tls.flush();
        }
    });
    url
}

fn options(url: &str, dir: &Path, ca: bool, identity: bool) -> ClientOptions {
    let mut o = ClientOptions::new(url);
    if ca {
        o.ca_pem = Some(std::fs::read(dir.join("ca.pem")).unwrap());
        o.bank_ca_only = true;
    }
    if identity {
        let mut pem = std::fs::read(dir.join("client.pem")).unwrap();
        pem.extend(std::fs::read(dir.join("client.key")).unwrap());
        o.client_identity_pem = Some(Zeroizing::new(pem));
    }
    o.timeout = std::time::Duration::from_secs(5);
    o
}

#[test]
fn mutual_tls_with_the_bank_ca() {
    let dir = tempfile::tempdir().unwrap();
    make_pki(dir.path());
    let url = mtls_server(dir.path(), 3);
    // Bank CA only + client certificate: accepted.
    let c = Client::new(options(&url, dir.path(), true, true)).unwrap();
    let s = measure_skew(&c).unwrap();
    assert!(s.ok, "{s:?}");
    // No client certificate: the server refuses the handshake.
    let c = Client::new(options(&url, dir.path(), true, false)).unwrap();
    let e = measure_skew(&c).unwrap_err();
    assert_eq!(e.code(), "sync.unreachable", "{e}");
    // The built-in roots do not know the bank's CA: the client refuses the server.
    let c = Client::new(options(&url, dir.path(), false, true)).unwrap();
    let e = measure_skew(&c).unwrap_err();
    assert_eq!(e.code(), "sync.unreachable", "{e}");
}
