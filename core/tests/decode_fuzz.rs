//! Untrusted input never makes the decoders panic or loop: arbitrary bytes, arbitrary
//! bytes behind a valid-looking GIOP header, and real captured messages with random
//! byte flips and truncations, fed to the framer and every decoder; arbitrary strings
//! fed to the IOR, corbaloc and Tango name parsers.
mod support;

use std::sync::OnceLock;

use proptest::prelude::*;
use tango_core::cdr::CdrReader;
use tango_core::giop::*;
use tango_core::ior::{Corbaloc, Ior};
use tango_core::name::TangoName;

/// Real messages of a few captures covering GIOP 1.0/1.1/1.2, requests, replies,
/// system exceptions, locate messages and a database conversation.
fn corpus() -> &'static [Vec<u8>] {
    static CORPUS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    CORPUS.get_or_init(|| {
        [
            "pytango10-to-pytango10-via-db.pcap",
            "pytango10-to-tangotest934-read-double-scalar.pcap",
            "pytango10-to-tangotest934-cmd-many-types.pcap",
            "raw-to-pytango10-giop-1-1.pcap",
            "raw-to-pytango10-giop-1-2.pcap",
            "raw-to-tangotest934-unknown-op-1-0.pcap",
            "raw-to-tangotest934-big-endian-1-0.pcap",
            "raw-to-tangotest934-locate-1-0.pcap",
        ]
        .iter()
        .flat_map(|n| support::messages(n))
        .map(|c| c.bytes)
        .filter(|b| b.len() < 4096)
        .collect()
    })
}

/// A stringified IOR from a real `DbExportDevice`.
fn real_ior() -> &'static str {
    static IOR: OnceLock<String> = OnceLock::new();
    IOR.get_or_init(|| {
        for req in support::requests("pytango10-server-startup-with-db.pcap") {
            if let Some(i) = req.windows(4).position(|w| w == b"IOR:") {
                let end = req[i..].iter().position(|&b| b == 0).unwrap();
                return String::from_utf8(req[i..i + end].to_vec()).unwrap();
            }
        }
        panic!("no IOR in the capture")
    })
}

/// Runs every message decoder on `m`; only panics matter, errors are fine.
fn decode_everything(m: &Message) {
    if let Ok((_, mut r)) = decode_request(m) {
        let _ = r.read_string();
    }
    if let Ok((h, mut r)) = decode_reply(m) {
        if h.status == ReplyStatus::SystemException {
            let _ = SystemException::decode(&mut r);
        }
    }
    let _ = decode_locate_request(m);
    let _ = decode_locate_reply(m);
    let _ = decode_cancel_request(m);
    let _ = m.body();
    let _ = m.reader().read_ulonglong();
}

/// Feeds a stream to a framer in chunks and decodes whatever comes out. Terminates
/// because each message returned consumes at least 12 bytes.
fn frame_everything(stream: &[u8], chunk: usize, max: usize) {
    let mut dec = FrameDecoder::with_max_message_size(max);
    for piece in stream.chunks(chunk.max(1)) {
        dec.push(piece);
        loop {
            match dec.next_message() {
                Ok(Some(m)) => {
                    assert!(m.bytes.len() <= max);
                    decode_everything(&m);
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
    assert!(dec.buffered() <= stream.len());
}

fn check_bytes(bytes: &[u8], chunk: usize) {
    let _ = parse_header(bytes);
    if let Ok(m) = message_from_bytes(bytes.to_vec()) {
        decode_everything(&m);
    }
    frame_everything(bytes, chunk, 2048);
    frame_everything(bytes, chunk, DEFAULT_MAX_MESSAGE_SIZE);
    let _ = CdrReader::new(bytes, tango_core::cdr::ByteOrder::Little).read_string();
}

/// A GIOP header (any version 1.0..=1.3, any flags, any type 0..=8) with a body length
/// that is right most of the time, so decoders get past the framing.
fn with_header(version: u8, flags: u8, msg_type: u8, body: &[u8], len_fix: bool) -> Vec<u8> {
    let mut v = b"GIOP".to_vec();
    v.extend_from_slice(&[1, version, flags, msg_type]);
    let len = if len_fix { body.len() as u32 } else { 0x10 };
    if flags & 1 == 1 {
        v.extend_from_slice(&len.to_le_bytes());
    } else {
        v.extend_from_slice(&len.to_be_bytes());
    }
    v.extend_from_slice(body);
    v
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..300), chunk in 1usize..64) {
        check_bytes(&bytes, chunk);
    }

    #[test]
    fn arbitrary_bodies_behind_a_header(
        version in 0u8..4,
        flags in 0u8..4,
        msg_type in 0u8..9,
        body in proptest::collection::vec(any::<u8>(), 0..200),
        len_fix in prop::bool::weighted(0.9),
        chunk in 1usize..64,
    ) {
        let bytes = with_header(version, flags, msg_type, &body, len_fix);
        check_bytes(&bytes, chunk);
        // several of them in a row: fragments meeting other fragments
        let stream = [bytes.clone(), with_header(version, flags ^ 2, 7, &body, true), bytes].concat();
        frame_everything(&stream, chunk, 4096);
    }

    #[test]
    fn mutated_captured_messages(
        pick in any::<prop::sample::Index>(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..6),
        truncate in prop::option::weighted(0.3, any::<prop::sample::Index>()),
        fix_len in any::<bool>(),
        chunk in 1usize..100,
    ) {
        let corpus = corpus();
        let mut m = corpus[pick.index(corpus.len())].clone();
        for (at, x) in flips {
            // mostly mutate the header and request/reply headers, where the structure is
            let i = at.index(m.len().min(96));
            m[i] ^= x;
        }
        if let Some(t) = truncate {
            m.truncate(t.index(m.len() + 1));
        }
        if fix_len && m.len() >= 12 {
            let body = (m.len() - 12) as u32;
            let b = if m[6] & 1 == 1 { body.to_le_bytes() } else { body.to_be_bytes() };
            m[8..12].copy_from_slice(&b);
        }
        check_bytes(&m, chunk);
    }

    #[test]
    fn ior_strings(s in "\\PC{0,80}", flips in proptest::collection::vec((any::<prop::sample::Index>(), 0u8..16), 0..4), cut in any::<prop::sample::Index>()) {
        let _ = Ior::parse(&s);
        let _ = Ior::parse(&format!("IOR:{s}"));
        // the real IOR with hex digits changed and truncated
        let mut real: Vec<u8> = real_ior().as_bytes().to_vec();
        for (at, d) in flips {
            let i = 4 + at.index(real.len() - 4);
            real[i] = b"0123456789abcdef"[d as usize];
        }
        let real = String::from_utf8(real).unwrap();
        if let Ok(ior) = Ior::parse(&real) {
            let _ = ior.iiop_profile();
            let _ = ior.to_string();
        }
        let cut = 4 + cut.index(real.len() - 3);
        if let Ok(ior) = Ior::parse(&real[..cut]) {
            let _ = ior.iiop_profile();
        }
    }

    #[test]
    fn corbaloc_strings(s in "\\PC{0,60}", t in "corbaloc:(iiop)?:[0-9.@\\[\\]:a-z%/,]{0,30}") {
        let _ = Corbaloc::parse(&s);
        if let Ok(c) = Corbaloc::parse(&t) {
            prop_assert_eq!(Corbaloc::parse(&c.to_string()), Ok(c));
        }
    }

    #[test]
    fn tango_names(s in "\\PC{0,60}", t in "(tango://)?([a-z:\\[\\]0-9]{0,12}/)?[a-zA-Z/ ]{0,20}(#dbase=(no|yes|x))?") {
        let _ = TangoName::parse(&s);
        let _ = TangoName::parse_device(&s);
        let _ = TangoName::parse_attribute(&s);
        if let Ok(n) = TangoName::parse(&t) {
            let _ = n.endpoint(Some(&s));
            prop_assert_eq!(TangoName::parse(&n.full_name()), Ok(n.clone()));
            prop_assert!(n.same_device(&n));
        }
    }
}
