//! The vpcd wire protocol, with this test playing vpcd (a loopback TCP listener): framing,
//! control codes (power on/off, reset, ATR), APDUs, removal after N APDUs, re-insertion, and
//! that the server's log lines never carry APDU bytes (a PIN travels in them).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use madoguchi_virtual_card::files::AID_JPKI;
use madoguchi_virtual_card::vpcd::Server;
use madoguchi_virtual_card::{ATR, VirtualCard, profile};

fn send(s: &mut TcpStream, payload: &[u8]) {
    let mut frame = (payload.len() as u16).to_be_bytes().to_vec();
    frame.extend_from_slice(payload);
    s.write_all(&frame).unwrap();
}

fn recv(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut len = [0u8; 2];
    s.read_exact(&mut len).ok()?;
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    s.read_exact(&mut buf).ok()?;
    Some(buf)
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn frames_control_codes_apdus_and_removal() {
    let log = Captured::default();
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    // Global: the server logs from its own thread.
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let p = profile("hopper").unwrap();
    let server = Server::start(VirtualCard::new(&p, None).unwrap(), addr, true);
    let (mut s, _) = listener.accept().unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();

    send(&mut s, &[1]); // power on
    send(&mut s, &[4]); // get ATR
    assert_eq!(recv(&mut s).unwrap(), ATR);
    assert!(server.wait_seen(Duration::from_secs(5)));

    let mut select = vec![0x00, 0xA4, 0x04, 0x0C, 0x0A];
    select.extend_from_slice(&AID_JPKI);
    send(&mut s, &select);
    assert_eq!(recv(&mut s).unwrap(), [0x90, 0x00]);
    send(&mut s, &[0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x18]);
    assert_eq!(recv(&mut s).unwrap(), [0x90, 0x00]);
    let mut verify = vec![0x00, 0x20, 0x00, 0x80, 0x04];
    verify.extend_from_slice(p.credentials.auth_pin.as_bytes());
    send(&mut s, &verify);
    assert_eq!(recv(&mut s).unwrap(), [0x90, 0x00]);
    // Reset clears the security status: the key needs the PIN again.
    send(&mut s, &[2]);
    send(&mut s, &select);
    assert_eq!(recv(&mut s).unwrap(), [0x90, 0x00]);
    send(&mut s, &[0x80, 0x2A, 0x00, 0x97, 0x01, 0xAA, 0x00]);
    assert_eq!(recv(&mut s).unwrap(), [0x69, 0x82]);
    // Power off: the card answers 6F00 to a command vpcd should not have sent.
    send(&mut s, &[0]);
    send(&mut s, &select);
    assert_eq!(recv(&mut s).unwrap(), [0x6F, 0x00]);
    send(&mut s, &[1]);
    assert_eq!(server.answered(), 6);

    // Removal after 2 more APDUs: the connection closes after the second answer.
    server.remove_after(2);
    send(&mut s, &select);
    assert!(recv(&mut s).is_some());
    send(&mut s, &select);
    assert!(recv(&mut s).is_some());
    assert_eq!(recv(&mut s), None, "connection closed = card removed");
    assert!(server.wait_disconnected(Duration::from_secs(5)));
    assert!(!server.with_card(|c| c.is_powered()));

    // Insert again: a new connection.
    server.insert();
    let (mut s2, _) = listener.accept().unwrap();
    s2.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    send(&mut s2, &[1]);
    send(&mut s2, &select);
    assert_eq!(recv(&mut s2).unwrap(), [0x90, 0x00]);
    assert!(server.is_connected());
    server.stop();

    let text = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
    assert!(text.contains("inserted"), "{text}");
    assert!(!text.contains(&p.credentials.auth_pin), "{text}");
    assert!(!text.to_uppercase().contains("D392F0"), "{text}");
}
