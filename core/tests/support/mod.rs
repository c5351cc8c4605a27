//! Reads the packet captures of real Tango traffic (`tests/captures/*.pcap`, copied from
//! the project's shared captures) back into GIOP messages, so codecs can be tested
//! against the exact bytes cppTango and PyTango sent.
#![allow(dead_code)]

use std::collections::BTreeMap;

/// One GIOP message as it crossed the wire.
#[derive(Debug, Clone)]
pub struct Captured {
    /// True if the client (the side that opened the TCP connection) sent it.
    pub from_client: bool,
    /// Client's TCP port: identifies the connection.
    pub client_port: u16,
    /// The whole message, 12-byte header first.
    pub bytes: Vec<u8>,
}

/// Path of a capture file by its name (without directory).
pub fn path(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/captures")
        .join(name)
}

/// Every GIOP message of a capture, in the order its first byte was seen, TCP streams
/// reassembled per direction (loopback captures have no loss nor reordering).
pub fn messages(name: &str) -> Vec<Captured> {
    let data = std::fs::read(path(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(data.len() >= 24, "{name}: not a pcap");
    let le = match &data[0..4] {
        [0xd4, 0xc3, 0xb2, 0xa1] => true,
        [0xa1, 0xb2, 0xc3, 0xd4] => false,
        m => panic!("{name}: bad pcap magic {m:?}"),
    };
    let u32_at = |b: &[u8], i: usize| {
        let a = [b[i], b[i + 1], b[i + 2], b[i + 3]];
        if le {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        }
    };
    let linktype = u32_at(&data, 20);
    // (client_port, from_client) -> stream bytes, with the order of first appearance
    let mut streams: BTreeMap<(u16, u16, bool), Vec<u8>> = BTreeMap::new();
    let mut syn_from: BTreeMap<(u16, u16), u16> = BTreeMap::new();
    let mut order: Vec<(u16, u16, bool)> = Vec::new();
    let mut out: Vec<Captured> = Vec::new();
    let mut pos = 24;
    while pos + 16 <= data.len() {
        let incl = u32_at(&data, pos + 8) as usize;
        let pkt = &data[pos + 16..pos + 16 + incl];
        pos += 16 + incl;
        let ip = match linktype {
            1 => &pkt[14..],   // Ethernet
            0 => &pkt[4..],    // BSD loopback
            113 => &pkt[16..], // Linux cooked
            t => panic!("{name}: unsupported link type {t}"),
        };
        if ip[0] >> 4 != 4 || ip[9] != 6 {
            continue;
        }
        let ihl = (ip[0] & 0xf) as usize * 4;
        let total = u16::from_be_bytes([ip[2], ip[3]]) as usize;
        let tcp = &ip[ihl..total];
        let sport = u16::from_be_bytes([tcp[0], tcp[1]]);
        let dport = u16::from_be_bytes([tcp[2], tcp[3]]);
        let flags = tcp[13];
        let doff = (tcp[12] >> 4) as usize * 4;
        let key = (sport.min(dport), sport.max(dport));
        if flags & 0x02 != 0 && flags & 0x10 == 0 {
            syn_from.insert(key, sport); // SYN without ACK: the client
        }
        let payload = &tcp[doff..];
        if payload.is_empty() {
            continue;
        }
        let client = *syn_from.get(&key).unwrap_or(&sport.max(dport));
        let from_client = sport == client;
        let skey = (client, if from_client { dport } else { sport }, from_client);
        let buf = streams.entry(skey).or_default();
        if !order.contains(&skey) {
            order.push(skey);
        }
        buf.extend_from_slice(payload);
        // cut complete messages as they become available, keeping wire order
        loop {
            if buf.len() < 12 {
                break;
            }
            assert_eq!(&buf[0..4], b"GIOP", "{name}: stream out of sync");
            let size = if buf[6] & 1 == 1 {
                u32::from_le_bytes([buf[8], buf[9], buf[10], buf[11]])
            } else {
                u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]])
            } as usize;
            if buf.len() < 12 + size {
                break;
            }
            let bytes: Vec<u8> = buf.drain(..12 + size).collect();
            out.push(Captured {
                from_client,
                client_port: client,
                bytes,
            });
        }
    }
    out
}

/// The messages sent by the client, in order.
pub fn requests(name: &str) -> Vec<Vec<u8>> {
    messages(name)
        .into_iter()
        .filter(|m| m.from_client)
        .map(|m| m.bytes)
        .collect()
}

/// The messages sent by the server, in order.
pub fn replies(name: &str) -> Vec<Vec<u8>> {
    messages(name)
        .into_iter()
        .filter(|m| !m.from_client)
        .map(|m| m.bytes)
        .collect()
}

/// The GIOP operation name of a request message (any GIOP version), for finding one.
pub fn operation_of(msg: &[u8]) -> Option<String> {
    // Cheap scan: good enough to pick messages in tests; the real decoder is tested too.
    let minor = msg[5];
    let le = msg[6] & 1 == 1;
    let rd = |i: usize| -> Option<u32> {
        let a: [u8; 4] = msg.get(i..i + 4)?.try_into().ok()?;
        Some(if le {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        })
    };
    let al = |i: usize| (i + 3) & !3;
    if msg[7] != 0 {
        return None;
    }
    let mut p = 12;
    if minor < 2 {
        let n = rd(p)? as usize;
        assert_eq!(n, 0, "service contexts not expected in captures");
        p += 4 + 4 + 1; // contexts, id, response_expected
        if minor == 1 {
            p += 3;
        }
        p = al(p);
        let k = rd(p)? as usize;
        p = al(p + 4 + k);
    } else {
        p += 4 + 1 + 3; // id, flags, reserved
        p += 2; // KeyAddr
        p = al(p);
        let k = rd(p)? as usize;
        p = al(p + 4 + k);
    }
    let n = rd(p)? as usize;
    let s = msg.get(p + 4..p + 4 + n - 1)?;
    Some(String::from_utf8_lossy(s).into_owned())
}
