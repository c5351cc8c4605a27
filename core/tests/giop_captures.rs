//! The GIOP codec against every message of the real captures (cppTango 9.3.4 and 10.3.3,
//! omniORB 4.3.4, and hand-made probes), plus fragment reassembly and framing limits.
mod support;

use std::collections::BTreeMap;
use std::ops::Range;

use tango_core::cdr::{ByteOrder, CdrReader};
use tango_core::giop::{self, *};

/// Every capture file name, sorted.
fn capture_names() -> Vec<String> {
    let dir = support::path("");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".pcap"))
        .collect();
    names.sort();
    assert!(names.len() > 100, "captures missing in {dir:?}");
    names
}

/// The messages of a capture; `None` for the bad-magic probes, whose client stream
/// starts with `POIG` and which the pcap reader therefore cannot frame.
fn load(name: &str) -> Option<Vec<support::Captured>> {
    if name.contains("bad-magic") {
        let raw = std::fs::read(support::path(name)).unwrap();
        assert!(raw.windows(4).any(|w| w == b"POIG"), "{name}");
        return None;
    }
    Some(support::messages(name))
}

fn msg(bytes: &[u8]) -> Message {
    message_from_bytes(bytes.to_vec()).unwrap()
}

#[test]
fn every_captured_message_decodes() {
    let mut counts: BTreeMap<&'static str, usize> = BTreeMap::new();
    for name in capture_names() {
        let Some(msgs) = load(&name) else { continue };
        for (i, c) in msgs.iter().enumerate() {
            let ctx = format!("{name} message {i}");
            let header = match parse_header(&c.bytes) {
                Ok(h) => h,
                Err(GiopError::UnsupportedVersion(v)) => {
                    assert!(name.contains("bad-version"), "{ctx}: version {v}");
                    assert_eq!(v, Version { major: 1, minor: 9 });
                    *counts.entry("bad version").or_default() += 1;
                    continue;
                }
                Err(e) => panic!("{ctx}: {e}"),
            };
            assert!(!header.more_fragments, "{ctx}");
            let m = message_from_bytes(c.bytes.clone()).unwrap_or_else(|e| panic!("{ctx}: {e}"));
            match header.msg_type {
                MsgType::Request => {
                    assert!(c.from_client, "{ctx}");
                    let (h, args) = decode_request(&m).unwrap_or_else(|e| panic!("{ctx}: {e}"));
                    let scanned = if header.version.minor < 2 && !h.service_contexts.is_empty() {
                        // the support scanner refuses 1.0/1.1 contexts (the 1.1 probes carry
                        // CodeSets): scan the same request re-encoded without them
                        let mut bare = h.clone();
                        bare.service_contexts.clear();
                        let again =
                            encode_request(header.version, &bare, |w| w.write_raw(args.rest()));
                        *counts.entry("1.0/1.1 request with contexts").or_default() += 1;
                        support::operation_of(&again)
                    } else {
                        support::operation_of(&c.bytes)
                    };
                    assert_eq!(Some(h.operation), scanned, "{ctx}");
                    *counts.entry("request").or_default() += 1;
                }
                MsgType::Reply => {
                    assert!(!c.from_client, "{ctx}");
                    let (h, mut r) = decode_reply(&m).unwrap_or_else(|e| panic!("{ctx}: {e}"));
                    if h.status == ReplyStatus::SystemException {
                        let ex = SystemException::decode(&mut r)
                            .unwrap_or_else(|e| panic!("{ctx}: {e}"));
                        assert_eq!(r.remaining(), 0, "{ctx}");
                        assert_eq!(ex.completed, CompletionStatus::No, "{ctx}");
                    }
                    *counts.entry("reply").or_default() += 1;
                }
                MsgType::LocateRequest => {
                    decode_locate_request(&m).unwrap_or_else(|e| panic!("{ctx}: {e}"));
                    *counts.entry("locate request").or_default() += 1;
                }
                MsgType::LocateReply => {
                    decode_locate_reply(&m).unwrap_or_else(|e| panic!("{ctx}: {e}"));
                    *counts.entry("locate reply").or_default() += 1;
                }
                MsgType::CancelRequest => {
                    decode_cancel_request(&m).unwrap_or_else(|e| panic!("{ctx}: {e}"));
                    *counts.entry("cancel").or_default() += 1;
                }
                MsgType::CloseConnection => {
                    assert_eq!(header.body_len, 0, "{ctx}");
                    *counts.entry("close").or_default() += 1;
                }
                other => panic!("{ctx}: unexpected {other}"),
            }
        }
    }
    eprintln!("{counts:?}");
    assert!(counts["request"] > 500, "{counts:?}");
    assert!(counts["reply"] > 500, "{counts:?}");
    assert_eq!(counts["locate request"], counts["locate reply"]);
    assert!(counts["locate request"] >= 8, "{counts:?}");
    assert_eq!(counts["cancel"], 2, "{counts:?}");
    assert_eq!(counts["close"], 4, "{counts:?}"); // 2 idle-raw servers + 2 client-close-1-2
    assert_eq!(counts["bad version"], 2, "{counts:?}");
}

#[test]
fn request_ids_are_2_4_6_per_connection() {
    let mut connections = 0;
    for name in capture_names()
        .into_iter()
        .filter(|n| n.starts_with("pytango10-to-"))
    {
        let mut ids: BTreeMap<u16, Vec<u32>> = BTreeMap::new();
        for c in support::messages(&name).iter().filter(|c| c.from_client) {
            let (h, _) = decode_request(&msg(&c.bytes)).unwrap();
            assert!(h.response_expected, "{name}");
            ids.entry(c.client_port).or_default().push(h.request_id);
        }
        for (port, ids) in ids {
            let expected: Vec<u32> = (1..=ids.len() as u32).map(|i| 2 * i).collect();
            assert_eq!(ids, expected, "{name} connection from port {port}");
            connections += 1;
        }
    }
    assert!(connections > 70);
}

#[test]
fn first_giop_1_2_request_carries_code_sets() {
    let msgs = support::messages("pytango10-to-pytango10-via-db.pcap");
    let device: Vec<Message> = msgs
        .iter()
        .filter(|c| c.from_client && c.bytes[5] == 2)
        .map(|c| msg(&c.bytes))
        .collect();
    assert!(device.len() >= 3);
    let (first, rest) = decode_request(&device[0]).unwrap();
    assert_eq!(first.operation, "_non_existent");
    assert_eq!(first.request_id, 2);
    assert!(first.response_expected);
    assert_eq!(
        first.object_key,
        [0xfe, 0xb2, 0x13, 0x08, 0x6b, 0, 0, 0x33, 0x1b, 0, 0, 0, 0, 0]
    );
    assert_eq!(
        first.service_contexts,
        [ServiceContext::code_sets_latin1_utf16()]
    );
    assert_eq!(rest.remaining(), 0);
    assert_eq!(device[0].header.body_len, 76);
    for m in &device[1..] {
        let (h, _) = decode_request(m).unwrap();
        assert!(h.service_contexts.is_empty(), "{}", h.operation);
        assert_eq!(h.object_key, first.object_key);
    }
    // the GIOP 1.0 part of the same capture talks to the database
    let db = msgs
        .iter()
        .find(|c| c.from_client && c.bytes[5] == 0)
        .unwrap();
    assert_eq!(
        decode_request(&msg(&db.bytes)).unwrap().0.object_key,
        b"database"
    );
    // a command_query_2 argument starts 8-aligned after 4 padding bytes (wire-notes §3.4)
    let cq = device
        .iter()
        .find(|m| decode_request(m).unwrap().0.operation == "command_query_2");
    if let Some(cq) = cq {
        let (_, r) = decode_request(cq).unwrap();
        assert_eq!(r.position() % 8, 0);
    }
}

fn system_exception_of(reply: &[u8]) -> (u32, SystemException) {
    let m = msg(reply);
    let (h, mut r) = decode_reply(&m).unwrap();
    assert_eq!(h.status, ReplyStatus::SystemException);
    (h.request_id, SystemException::decode(&mut r).unwrap())
}

#[test]
fn system_exceptions_from_raw_probes() {
    for server in ["tangotest934", "pytango10"] {
        let replies = support::replies(&format!("raw-to-{server}-unknown-op-1-0.pcap"));
        assert!(!replies.is_empty());
        for reply in &replies {
            let (_, ex) = system_exception_of(reply);
            assert_eq!(
                ex,
                SystemException::new(
                    "BAD_OPERATION",
                    minor::BAD_OPERATION_UNKNOWN,
                    CompletionStatus::No
                )
            );
            assert_eq!(ex.name(), "BAD_OPERATION");
            assert_eq!(
                ex.to_string(),
                "CORBA system exception BAD_OPERATION (minor 0x41540026, COMPLETED_NO)"
            );
        }
        // our encoder produces the same message as omniORB (no padding is involved)
        let (id, ex) = system_exception_of(&replies[0]);
        assert_eq!(
            encode_system_exception_reply(Version::V1_0, id, &ex),
            replies[0]
        );

        for reply in support::replies(&format!("raw-to-{server}-unknown-key-1-0.pcap")) {
            let (_, ex) = system_exception_of(&reply);
            assert_eq!(ex.name(), "OBJECT_NOT_EXIST");
            assert_eq!(ex.minor, minor::OBJECT_NOT_EXIST_NO_MATCH);
        }
        for reply in support::replies(&format!("raw-to-{server}-bad-args-1-0.pcap")) {
            let (_, ex) = system_exception_of(&reply);
            assert_eq!(ex.name(), "MARSHAL");
            assert_eq!(ex.minor, minor::MARSHAL_PASS_END_OF_MESSAGE);
        }
    }
}

#[test]
fn locate_replies() {
    for server in ["tangotest934", "pytango10"] {
        let name = format!("raw-to-{server}-locate-1-0.pcap");
        let reqs: Vec<(u32, Vec<u8>)> = support::requests(&name)
            .iter()
            .map(|b| decode_locate_request(&msg(b)).unwrap())
            .collect();
        let reps: Vec<(u32, LocateStatus)> = support::replies(&name)
            .iter()
            .map(|b| decode_locate_reply(&msg(b)).unwrap())
            .collect();
        assert_eq!(reqs.len(), 2);
        assert_eq!(reqs[1], (3, b"no/such/device".to_vec()));
        assert_eq!(
            reps,
            [
                (1, LocateStatus::ObjectHere),
                (3, LocateStatus::UnknownObject)
            ]
        );
        // byte-exact: 47 49 4f 50 01 00 01 04 08 00 00 00 | 01 00 00 00 | 01 00 00 00
        assert_eq!(
            encode_locate_reply(Version::V1_0, 1, LocateStatus::ObjectHere),
            support::replies(&name)[0]
        );
        let (id, key) = &reqs[0];
        assert_eq!(
            encode_locate_request(Version::V1_0, *id, key),
            support::requests(&name)[0]
        );

        let name = format!("raw-to-{server}-locate-case-1-0.pcap");
        let reps: Vec<LocateStatus> = support::replies(&name)
            .iter()
            .map(|b| decode_locate_reply(&msg(b)).unwrap().1)
            .collect();
        assert_eq!(reps[0], LocateStatus::ObjectHere);
        assert_eq!(
            reps[1],
            LocateStatus::UnknownObject,
            "upper-case key is unknown"
        );
    }
    // GIOP 1.2 LocateRequest uses a TargetAddress
    let msgs = support::messages("raw-to-pytango10-giop-1-2.pcap");
    let locates: Vec<(u32, Vec<u8>)> = msgs
        .iter()
        .filter(|c| c.bytes[7] == 3)
        .map(|c| decode_locate_request(&msg(&c.bytes)).unwrap())
        .collect();
    assert_eq!(
        locates,
        [
            (6, b"test/wire/1".to_vec()),
            (7, b"no/such/device".to_vec())
        ]
    );
}

#[test]
fn server_close_connection_after_idle() {
    for server in ["tangotest934", "pytango10"] {
        let replies = support::replies(&format!("raw-to-{server}-idle-raw.pcap"));
        let last = replies.last().unwrap();
        assert_eq!(
            last.as_slice(),
            [0x47, 0x49, 0x4f, 0x50, 0x01, 0x00, 0x01, 0x05, 0x00, 0x00, 0x00, 0x00]
        );
        assert_eq!(encode_close_connection(Version::V1_0), *last);
        assert_eq!(
            parse_header(last).unwrap().msg_type,
            MsgType::CloseConnection
        );
    }
}

#[test]
fn versions_and_byte_orders_of_probes() {
    for server in ["tangotest934", "pytango10"] {
        for (probe, minor) in [("giop-1-1", 1u8), ("giop-1-2", 2)] {
            let msgs = support::messages(&format!("raw-to-{server}-{probe}.pcap"));
            assert!(msgs.len() >= 2);
            for c in &msgs {
                assert_eq!(parse_header(&c.bytes).unwrap().version.minor, minor);
            }
        }
        let msgs = support::messages(&format!("raw-to-{server}-big-endian-1-0.pcap"));
        let req = msg(&msgs.iter().find(|c| c.from_client).unwrap().bytes);
        assert_eq!(req.header.byte_order, ByteOrder::Big);
        let (h, _) = decode_request(&req).unwrap();
        let rep = msg(&msgs.iter().find(|c| !c.from_client).unwrap().bytes);
        assert_eq!(rep.header.byte_order, ByteOrder::Little);
        assert_eq!(decode_reply(&rep).unwrap().0.request_id, h.request_id);

        let name = format!("raw-to-{server}-pipelined-sleep-1-0.pcap");
        let ids: Vec<u32> = support::replies(&name)
            .iter()
            .map(|b| decode_reply(&msg(b)).unwrap().0.request_id)
            .collect();
        assert_eq!(ids, [22, 23, 21], "replies come back out of order");

        let name = format!("raw-to-{server}-oneway-1-0.pcap");
        let (h, _) = decode_request(&msg(&support::requests(&name)[0])).unwrap();
        assert!(!h.response_expected);
    }
}

/// Padding ranges of a request header, found by walking it with a plain reader.
fn header_padding(m: &Message) -> Vec<Range<usize>> {
    let mut pads = Vec::new();
    let mut r = CdrReader::at(&m.bytes, HEADER_LEN, m.header.byte_order);
    let mut pad = |r: &mut CdrReader<'_>, n: usize| {
        let a = r.position();
        r.align(n).unwrap();
        pads.push(a..r.position());
    };
    let contexts = |r: &mut CdrReader<'_>, pad: &mut dyn FnMut(&mut CdrReader<'_>, usize)| {
        let n = r.read_ulong().unwrap();
        for _ in 0..n {
            pad(r, 4);
            r.read_ulong().unwrap();
            r.read_octets().unwrap();
        }
    };
    if m.header.version.minor < 2 {
        contexts(&mut r, &mut pad);
        r.read_ulong().unwrap();
        r.read_octet().unwrap();
        if m.header.version.minor == 1 {
            r.take(3, "reserved").unwrap();
        }
        pad(&mut r, 4);
        r.read_octets().unwrap();
        pad(&mut r, 4);
        r.read_string().unwrap();
        pad(&mut r, 4);
        r.read_octets().unwrap();
    } else {
        r.read_ulong().unwrap();
        r.read_octet().unwrap();
        r.take(3, "reserved").unwrap();
        r.read_short().unwrap();
        pad(&mut r, 4);
        r.read_octets().unwrap();
        pad(&mut r, 4);
        r.read_string().unwrap();
        pad(&mut r, 4);
        contexts(&mut r, &mut pad);
        if r.remaining() > 0 {
            pad(&mut r, 8);
        }
    }
    pads
}

#[test]
fn requests_re_encode_identically_except_padding() {
    let mut checked = 0;
    let mut garbage_seen = 0;
    for name in capture_names() {
        let Some(msgs) = load(&name) else { continue };
        for c in msgs.iter().filter(|c| c.from_client && c.bytes[7] == 0) {
            let Ok(m) = message_from_bytes(c.bytes.clone()) else {
                continue; // bad-version probe
            };
            if m.header.byte_order == ByteOrder::Big {
                continue; // we always write little-endian
            }
            let (h, args) = decode_request(&m).unwrap();
            let again = encode_request(m.header.version, &h, |w| w.write_raw(args.rest()));
            assert_eq!(again.len(), c.bytes.len(), "{name} {}", h.operation);
            let mut original = c.bytes.clone();
            let mut ours = again.clone();
            for p in header_padding(&m) {
                if original[p.clone()].iter().any(|&b| b != 0) {
                    garbage_seen += 1;
                }
                assert!(ours[p.clone()].iter().all(|&b| b == 0), "we pad with zeros");
                original[p.clone()].fill(0);
                ours[p].fill(0);
            }
            assert_eq!(ours, original, "{name} {}", h.operation);
            // and it decodes to the same header and arguments
            let m2 = message_from_bytes(again).unwrap();
            let (h2, args2) = decode_request(&m2).unwrap();
            assert_eq!(h2, h);
            assert_eq!(args2.rest(), args.rest());
            checked += 1;
        }
    }
    assert!(checked > 500, "{checked}");
    assert!(
        garbage_seen > 0,
        "wire-notes say omniORB leaves garbage in padding"
    );
}

/// A tiny deterministic PRNG (xorshift), to avoid a dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next() % (hi - lo + 1) as u64) as usize
    }
}

fn feed_in_chunks(stream: &[u8], rng: &mut Rng, dec: &mut FrameDecoder) -> Vec<Message> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < stream.len() {
        let n = rng.range(1, 100).min(stream.len() - pos);
        dec.push(&stream[pos..pos + n]);
        pos += n;
        while let Some(m) = dec.next_message().unwrap() {
            out.push(m);
        }
    }
    out
}

#[test]
fn frame_decoder_splits_capture_streams_in_random_chunks() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut total = 0;
    for name in capture_names() {
        if name.contains("bad-version") {
            continue;
        }
        let Some(msgs) = load(&name) else { continue };
        let mut streams: BTreeMap<(u16, bool), Vec<Vec<u8>>> = BTreeMap::new();
        for c in msgs {
            streams
                .entry((c.client_port, c.from_client))
                .or_default()
                .push(c.bytes);
        }
        for (key, expected) in streams {
            let stream: Vec<u8> = expected.concat();
            let mut dec = FrameDecoder::new();
            let got = feed_in_chunks(&stream, &mut rng, &mut dec);
            let got: Vec<Vec<u8>> = got.into_iter().map(|m| m.bytes).collect();
            assert_eq!(got, expected, "{name} {key:?}");
            assert_eq!(dec.buffered(), 0);
            total += got.len();
        }
    }
    assert!(total > 1000);
}

#[test]
fn frame_decoder_rejects_bad_streams() {
    let mut dec = FrameDecoder::new();
    dec.push(b"POIG\x01\x00\x01\x00\0\0\0\0");
    assert_eq!(dec.next_message(), Err(GiopError::BadMagic(*b"POIG")));

    let mut dec = FrameDecoder::new();
    dec.push(b"GIOP\x01\x09\x01\x00\0\0\0");
    assert_eq!(dec.next_message(), Ok(None), "11 bytes: wait");
    dec.push(b"\0");
    assert_eq!(
        dec.next_message(),
        Err(GiopError::UnsupportedVersion(Version {
            major: 1,
            minor: 9
        }))
    );

    // a 1.0 message with more_fragments
    let mut bytes = encode_cancel_request(Version::V1_0, 1);
    bytes[6] |= 2;
    let mut dec = FrameDecoder::new();
    dec.push(&bytes);
    assert!(matches!(
        dec.next_message(),
        Err(GiopError::UnexpectedFragment(_))
    ));

    // a Fragment with nothing pending, 1.1 and 1.2
    for minor in [1u8, 2] {
        let frag = [
            b'G', b'I', b'O', b'P', 1, minor, 1, 7, 4, 0, 0, 0, 5, 0, 0, 0,
        ];
        let mut dec = FrameDecoder::new();
        dec.push(&frag);
        assert!(matches!(
            dec.next_message(),
            Err(GiopError::UnexpectedFragment(_))
        ));
    }
}

#[test]
fn frame_decoder_refuses_large_messages_from_the_header() {
    let mut dec = FrameDecoder::with_max_message_size(1000);
    // the header alone announces 4 GiB: refused at once, nothing else is awaited
    dec.push(b"GIOP\x01\x00\x01\x01\xff\xff\xff\xff");
    assert_eq!(
        dec.next_message(),
        Err(GiopError::MessageTooLarge {
            size: 12 + 0xffff_ffff,
            max: 1000
        })
    );
    // exactly at the limit is fine
    let mut dec = FrameDecoder::with_max_message_size(1000);
    let mut m = b"GIOP\x01\x00\x01\x01".to_vec();
    m.extend_from_slice(&988u32.to_le_bytes());
    m.resize(1000, 0);
    dec.push(&m);
    assert_eq!(dec.next_message().unwrap().unwrap().bytes.len(), 1000);
    // big-endian length field
    let mut dec = FrameDecoder::with_max_message_size(1000);
    dec.push(b"GIOP\x01\x00\x00\x01\x00\x00\x03\xe9");
    assert!(matches!(
        dec.next_message(),
        Err(GiopError::MessageTooLarge { size: 1013, .. })
    ));
}

/// Splits a whole message into a first fragment and continuation fragments.
fn fragment(whole: &[u8], cut: &[usize], with_request_id: bool) -> Vec<Vec<u8>> {
    let h = parse_header(whole).unwrap();
    let body = &whole[HEADER_LEN..];
    let id = &body[0..4];
    let mut bounds = vec![0];
    bounds.extend_from_slice(cut);
    bounds.push(body.len());
    let mut out = Vec::new();
    for (i, w) in bounds.windows(2).enumerate() {
        let last = i == bounds.len() - 2;
        let mut f = b"GIOP".to_vec();
        f.push(h.version.major);
        f.push(h.version.minor);
        f.push(if last { 1 } else { 3 });
        f.push(if i == 0 { whole[7] } else { 7 });
        let mut b = Vec::new();
        if i > 0 && with_request_id {
            b.extend_from_slice(id);
        }
        b.extend_from_slice(&body[w[0]..w[1]]);
        f.extend_from_slice(&(b.len() as u32).to_le_bytes());
        f.extend_from_slice(&b);
        out.push(f);
    }
    out
}

fn big_request(version: Version, id: u32) -> Vec<u8> {
    let h = RequestHeader {
        request_id: id,
        response_expected: true,
        object_key: b"sys/tg_test/1".to_vec(),
        operation: "command_inout".into(),
        service_contexts: vec![],
    };
    encode_request(version, &h, |w| {
        w.write_double_seq(&(0..100).map(|i| i as f64 * 0.5).collect::<Vec<_>>())
    })
}

#[test]
fn reassembles_giop_1_1_fragments() {
    let whole = big_request(Version::V1_1, 2);
    let frags = fragment(&whole, &[40, 400, 600], false);
    assert_eq!(frags.len(), 4);
    let mut dec = FrameDecoder::new();
    for f in &frags[..3] {
        dec.push(f);
        assert_eq!(dec.next_message(), Ok(None));
    }
    assert!(dec.buffered() > 600);
    dec.push(&frags[3]);
    let m = dec.next_message().unwrap().unwrap();
    assert_eq!(m.bytes, whole);
    assert!(!m.header.more_fragments);
    assert_eq!(dec.buffered(), 0);
    let (h, mut r) = decode_request(&m).unwrap();
    assert_eq!(h.operation, "command_inout");
    assert_eq!(r.read_double_seq().unwrap()[99], 49.5);
}

#[test]
fn reassembles_interleaved_giop_1_2_fragments() {
    let a = big_request(Version::V1_2, 2);
    let b = big_request(Version::V1_2, 4);
    let fa = fragment(&a, &[40, 400], true);
    let fb = fragment(&b, &[48, 304], true);
    let small = encode_cancel_request(Version::V1_2, 9);
    let order: Vec<&Vec<u8>> = vec![&fa[0], &fb[0], &fb[1], &small, &fa[1], &fa[2], &fb[2]];
    let stream: Vec<u8> = order.into_iter().flatten().copied().collect();
    let mut rng = Rng(42);
    let mut dec = FrameDecoder::new();
    let got = feed_in_chunks(&stream, &mut rng, &mut dec);
    let got: Vec<Vec<u8>> = got.into_iter().map(|m| m.bytes).collect();
    assert_eq!(got, [small, a, b]);
    assert_eq!(dec.buffered(), 0);
}

#[test]
fn fragment_for_unknown_request_id_is_an_error() {
    let a = big_request(Version::V1_2, 2);
    let b = big_request(Version::V1_2, 4);
    let fa = fragment(&a, &[40], true);
    let fb = fragment(&b, &[40], true);
    let mut dec = FrameDecoder::new();
    dec.push(&fa[0]);
    assert_eq!(dec.next_message(), Ok(None));
    dec.push(&fb[1]);
    assert!(matches!(dec.next_message(), Err(GiopError::UnexpectedFragment(m)) if m.contains('4')));
}

#[test]
fn reassembled_size_is_bounded() {
    let whole = big_request(Version::V1_1, 2);
    assert!(whole.len() > 800);
    let frags = fragment(&whole, &[200, 400, 600], false);
    let mut dec = FrameDecoder::with_max_message_size(500);
    let mut result = Ok(None);
    for f in &frags {
        assert!(f.len() < 500);
        dec.push(f);
        result = dec.next_message();
        if result.is_err() {
            break;
        }
    }
    assert!(
        matches!(result, Err(GiopError::MessageTooLarge { max: 500, .. })),
        "{result:?}"
    );
}

#[test]
fn many_small_messages_in_one_push_are_linear() {
    let one = encode_request(
        Version::V1_0,
        &RequestHeader {
            request_id: 2,
            response_expected: true,
            object_key: b"k".to_vec(),
            operation: "ping".into(),
            service_contexts: vec![],
        },
        |_| {},
    );
    let n = 200_000;
    let stream = one.repeat(n);
    let start = std::time::Instant::now();
    let mut dec = FrameDecoder::new();
    dec.push(&stream);
    let mut count = 0;
    while let Some(m) = dec.next_message().unwrap() {
        assert_eq!(m.bytes.len(), one.len());
        count += 1;
    }
    assert_eq!(count, n);
    // quadratic behaviour (draining from the front each time) would move ~1e12 bytes
    assert!(start.elapsed().as_secs() < 20);
    // and a huge message arriving in small pieces
    let big = giop::encode_reply(
        Version::V1_0,
        &ReplyHeader {
            request_id: 2,
            status: ReplyStatus::NoException,
            service_contexts: vec![],
        },
        |w| w.write_octets(&vec![7u8; 8 << 20]),
    );
    let mut dec = FrameDecoder::new();
    for chunk in big.chunks(1024) {
        dec.push(chunk);
        if let Some(m) = dec.next_message().unwrap() {
            assert_eq!(m.bytes.len(), big.len());
        }
    }
    assert_eq!(dec.buffered(), 0);
}

/// The stringified IORs in the `DbExportDevice` arguments of a server start-up.
fn exported_iors(capture: &str) -> Vec<String> {
    let mut out = Vec::new();
    for req in support::requests(capture) {
        let mut rest = req.as_slice();
        while let Some(i) = rest.windows(4).position(|w| w == b"IOR:") {
            let tail = &rest[i..];
            let end = tail.iter().position(|&b| b == 0).unwrap();
            out.push(String::from_utf8(tail[..end].to_vec()).unwrap());
            rest = &tail[end..];
        }
    }
    out
}

#[test]
fn device_ior_from_db_export() {
    use tango_core::ior::{self, Ior};
    let iors = exported_iors("pytango10-server-startup-with-db.pcap");
    assert!(iors.len() >= 2, "device and admin device are exported");
    let ior = Ior::parse(&iors[0]).unwrap();
    assert_eq!(ior.type_id, "IDL:Tango/Device_6:1.0");
    assert_eq!(ior.profiles.len(), 1);
    assert_eq!(ior.profiles[0].data.len(), 156);
    let p = ior.iiop_profile().unwrap();
    assert_eq!(p.version, Version::V1_2);
    assert_eq!(p.host, "127.0.0.1");
    assert_eq!(p.port, 19311);
    assert_eq!(
        p.object_key,
        [0xfe, 0xb2, 0x13, 0x08, 0x6b, 0x00, 0x00, 0x33, 0x1b, 0x00, 0x00, 0x00, 0x00, 0x00]
    );
    let tags: Vec<u32> = p.components.iter().map(|c| c.tag).collect();
    assert_eq!(tags, [ior::TAG_ORB_TYPE, ior::TAG_CODE_SETS, 0x4154_5402]);
    // TAG_ORB_TYPE: omniORB
    assert_eq!(p.components[0].data, [1, 0, 0, 0, 0x00, 0x54, 0x54, 0x41]);
    let unix = String::from_utf8_lossy(&p.components[2].data);
    assert!(unix.contains("/tmp/omni-root/"), "{unix}");
    // round trips: the string, and the profile encoding
    assert!(ior.to_string().eq_ignore_ascii_case(&iors[0]));
    assert_eq!(Ior::parse(&ior.to_string()).unwrap(), ior);
    assert_eq!(p.encode(), ior.profiles[0].data);
    assert_eq!(Ior::new_iiop(&ior.type_id, &p), ior);
    // the admin device's key differs in its last byte only
    let admin = Ior::parse(&iors[1]).unwrap().iiop_profile().unwrap();
    assert_eq!(admin.object_key[..13], p.object_key[..13]);
    assert_eq!(admin.object_key[13], 1);
    // and the client's GIOP 1.2 requests via the database use exactly that key
    let via_db = support::messages("pytango10-to-pytango10-via-db.pcap");
    let dev = via_db
        .iter()
        .find(|c| c.from_client && c.bytes[5] == 2)
        .unwrap();
    assert_eq!(
        decode_request(&msg(&dev.bytes)).unwrap().0.object_key,
        p.object_key
    );
}
