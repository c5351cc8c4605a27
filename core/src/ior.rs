//! Object references: stringified IORs (`IOR:0100...`), IIOP profiles and `corbaloc:`
//! URLs.
//!
//! A Tango client meets IORs in the database's answer to `DbImportDevice`, and
//! `corbaloc:` is how no-database names (`tango://host:port/a/b/c#dbase=no`) are
//! addressed. Only the IIOP profile matters to us; anything else (other profiles,
//! unknown tagged components such as omniORB's Unix-socket component `0x41545402`) is
//! kept as opaque bytes and ignored, so vendor extensions never break parsing.

use std::fmt;

use crate::cdr::{
    ByteOrder, CdrDecode, CdrEncode, CdrReader, CdrWriter, DecodeError, DecodeResult,
};
use crate::giop::Version;

/// Profile tag of an IIOP profile (`IOP::TAG_INTERNET_IOP`).
pub const TAG_INTERNET_IOP: u32 = 0;
/// Component tag naming the ORB vendor (`IOP::TAG_ORB_TYPE`; omniORB is `0x41545400`).
pub const TAG_ORB_TYPE: u32 = 0;
/// Component tag of the code sets a server supports (`IOP::TAG_CODE_SETS`).
pub const TAG_CODE_SETS: u32 = 1;

/// The default IIOP port of a `corbaloc:` URL without one.
const DEFAULT_CORBALOC_PORT: u16 = 2809;

/// One profile of an IOR: a tag and its encapsulated data, kept as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaggedProfile {
    /// Profile tag ([`TAG_INTERNET_IOP`] is the only one we understand).
    pub tag: u32,
    /// The profile's encapsulation (byte-order octet first).
    pub data: Vec<u8>,
}

impl CdrEncode for TaggedProfile {
    fn encode(&self, w: &mut CdrWriter) {
        w.write_ulong(self.tag);
        w.write_octets(&self.data);
    }
}

impl CdrDecode for TaggedProfile {
    const MIN_SIZE: usize = 8;
    fn decode(r: &mut CdrReader<'_>) -> DecodeResult<Self> {
        let tag = r.read_ulong()?;
        let data = r.read_octets()?.to_vec();
        Ok(TaggedProfile { tag, data })
    }
}

/// One tagged component of an IIOP 1.1+ profile, kept as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaggedComponent {
    /// Component tag.
    pub tag: u32,
    /// The component data (usually an encapsulation).
    pub data: Vec<u8>,
}

impl CdrEncode for TaggedComponent {
    fn encode(&self, w: &mut CdrWriter) {
        w.write_ulong(self.tag);
        w.write_octets(&self.data);
    }
}

impl CdrDecode for TaggedComponent {
    const MIN_SIZE: usize = 8;
    fn decode(r: &mut CdrReader<'_>) -> DecodeResult<Self> {
        let tag = r.read_ulong()?;
        let data = r.read_octets()?.to_vec();
        Ok(TaggedComponent { tag, data })
    }
}

/// The content of a `TAG_INTERNET_IOP` profile: where to connect and which key to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IiopProfile {
    /// IIOP version; the GIOP version to speak (1.2 in omniORB IORs).
    pub version: Version,
    /// Host name or address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// The object key to put in requests, opaque to clients.
    pub object_key: Vec<u8>,
    /// Tagged components (IIOP 1.1 and later; absent in 1.0).
    pub components: Vec<TaggedComponent>,
}

impl IiopProfile {
    /// The profile as encapsulation content (byte-order octet first), little-endian.
    /// Components are written only for IIOP 1.1 and later, as the 1.0 layout has none.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = CdrWriter::new();
        w.write_octet(1);
        w.write_octet(self.version.major);
        w.write_octet(self.version.minor);
        w.write_string(&self.host);
        w.write_ushort(self.port);
        w.write_octets(&self.object_key);
        if self.version.minor >= 1 {
            w.put(self.components.as_slice());
        }
        w.into_bytes()
    }

    /// Decodes profile encapsulation content (byte-order octet first). Trailing bytes
    /// are tolerated (a later IIOP minor version may append fields).
    pub fn decode(data: &[u8]) -> Result<Self, IorError> {
        let (&flag, _) = data.split_first().ok_or(IorError::Empty)?;
        let mut r = CdrReader::new(data, ByteOrder::from_flag(flag));
        r.read_octet()?;
        let major = r.read_octet()?;
        let minor = r.read_octet()?;
        if major != 1 {
            return Err(IorError::UnsupportedIiopVersion { major, minor });
        }
        let host = r.read_string()?;
        let port = r.read_ushort()?;
        let object_key = r.read_octets()?.to_vec();
        let components = if minor >= 1 {
            r.read_seq("tagged components")?
        } else {
            Vec::new()
        };
        Ok(IiopProfile {
            version: Version { major, minor },
            host,
            port,
            object_key,
            components,
        })
    }
}

/// An Interoperable Object Reference: a type id and profiles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ior {
    /// Repository id of the most derived interface (`IDL:Tango/Device_6:1.0`); a Tango
    /// client uses it to skip `_is_a` calls.
    pub type_id: String,
    /// The profiles, as sent.
    pub profiles: Vec<TaggedProfile>,
}

impl Ior {
    /// Parses a stringified IOR: `IOR:` (any case) followed by the hex (any case) of a
    /// CDR encapsulation. Surrounding whitespace is ignored.
    pub fn parse(s: &str) -> Result<Ior, IorError> {
        let s = s.trim();
        let hex = s
            .get(..4)
            .filter(|p| p.eq_ignore_ascii_case("IOR:"))
            .map(|_| &s[4..])
            .ok_or_else(|| IorError::NotAnIor(truncate_for_error(s)))?;
        let bytes = decode_hex(hex)?;
        let (&flag, _) = bytes.split_first().ok_or(IorError::Empty)?;
        let mut r = CdrReader::new(&bytes, ByteOrder::from_flag(flag));
        r.read_octet()?;
        Ok(Ior::decode_cdr(&mut r)?)
    }

    /// An IOR with a single IIOP profile.
    pub fn new_iiop(type_id: &str, profile: &IiopProfile) -> Ior {
        Ior {
            type_id: type_id.to_owned(),
            profiles: vec![TaggedProfile {
                tag: TAG_INTERNET_IOP,
                data: profile.encode(),
            }],
        }
    }

    /// The first IIOP profile, decoded. Unknown components are kept but ignored.
    pub fn iiop_profile(&self) -> Result<IiopProfile, IorError> {
        let p = self
            .profiles
            .iter()
            .find(|p| p.tag == TAG_INTERNET_IOP)
            .ok_or(IorError::NoIiopProfile)?;
        IiopProfile::decode(&p.data)
    }

    /// Writes the IOR as a CDR `IOP::IOR` struct (type id, then profiles).
    pub fn encode_cdr(&self, w: &mut CdrWriter) {
        w.write_string(&self.type_id);
        w.put(self.profiles.as_slice());
    }

    /// Reads a CDR `IOP::IOR` struct.
    pub fn decode_cdr(r: &mut CdrReader) -> DecodeResult<Ior> {
        let type_id = r.read_string()?;
        let profiles = r.read_seq("IOR profiles")?;
        Ok(Ior { type_id, profiles })
    }
}

impl fmt::Display for Ior {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut w = CdrWriter::new();
        w.write_octet(1);
        self.encode_cdr(&mut w);
        f.write_str("IOR:")?;
        for b in w.as_bytes() {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

fn decode_hex(hex: &str) -> Result<Vec<u8>, IorError> {
    let b = hex.as_bytes();
    if b.len() & 1 == 1 {
        return Err(IorError::OddHexLength(b.len()));
    }
    let mut out = Vec::with_capacity(b.len() / 2);
    for (i, pair) in b.chunks_exact(2).enumerate() {
        let hi = hex_val(pair[0]).ok_or(IorError::InvalidHex { index: 2 * i + 4 })?;
        let lo = hex_val(pair[1]).ok_or(IorError::InvalidHex { index: 2 * i + 5 })?;
        out.push(hi << 4 | lo);
    }
    Ok(out)
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn truncate_for_error(s: &str) -> String {
    if s.chars().count() > 40 {
        let mut t: String = s.chars().take(40).collect();
        t.push('…');
        t
    } else {
        s.to_owned()
    }
}

/// A `corbaloc:iiop:` URL: what a no-database Tango name turns into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Corbaloc {
    /// IIOP version (`1.2@` prefix); 1.0 when absent, which is why no-database Tango
    /// traffic is GIOP 1.0.
    pub version: Version,
    /// Host name or address (IPv6 without the brackets).
    pub host: String,
    /// Port (2809 when absent).
    pub port: u16,
    /// The object key, %-escapes decoded.
    pub object_key: Vec<u8>,
}

impl Corbaloc {
    /// Parses `corbaloc:iiop:[1.x@]host[:port]/key` or `corbaloc::host[:port]/key`.
    ///
    /// The scheme and protocol are case-insensitive, IPv6 hosts go in brackets, the key
    /// may contain `/` and `%XX` escapes. Of an address list (`a:1,b:2/key`) only the
    /// first address is kept.
    pub fn parse(s: &str) -> Result<Self, IorError> {
        let input = s.trim();
        let err = |reason: &str| IorError::Corbaloc {
            input: truncate_for_error(input),
            reason: reason.to_owned(),
        };
        let rest = input
            .get(..9)
            .filter(|p| p.eq_ignore_ascii_case("corbaloc:"))
            .map(|_| &input[9..])
            .ok_or_else(|| err("does not start with \"corbaloc:\""))?;
        let (addrs, key) = rest
            .split_once('/')
            .ok_or_else(|| err("no \"/\" before the object key"))?;
        let addr = addrs.split(',').next().unwrap_or(addrs);
        let addr = if addr
            .get(..5)
            .is_some_and(|p| p.eq_ignore_ascii_case("iiop:"))
        {
            &addr[5..]
        } else if let Some(a) = addr.strip_prefix(':') {
            a
        } else {
            return Err(err(
                "only the iiop protocol is supported (\"iiop:\" or \":\")",
            ));
        };
        let (version, hostport) = match addr.split_once('@') {
            Some((v, hp)) => {
                let (maj, min) = v
                    .split_once('.')
                    .ok_or_else(|| err("version must look like 1.2"))?;
                let version = Version {
                    major: maj.parse().map_err(|_| err("bad major version"))?,
                    minor: min.parse().map_err(|_| err("bad minor version"))?,
                };
                if version.major != 1 || version.minor > 2 {
                    return Err(err("IIOP version must be 1.0, 1.1 or 1.2"));
                }
                (version, hp)
            }
            None => (Version::V1_0, addr),
        };
        let (host, port) = if let Some(after) = hostport.strip_prefix('[') {
            let (h, tail) = after
                .split_once(']')
                .ok_or_else(|| err("unclosed \"[\" in IPv6 host"))?;
            let port = match tail {
                "" => None,
                t => Some(
                    t.strip_prefix(':')
                        .ok_or_else(|| err("unexpected text after \"]\""))?,
                ),
            };
            (h, port)
        } else {
            match hostport.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (hostport, None),
            }
        };
        if host.is_empty() {
            return Err(err("empty host"));
        }
        if host.contains(['[', ']', '/', '@', ',']) || host.chars().any(char::is_whitespace) {
            return Err(err("bad character in host"));
        }
        let port = match port {
            None | Some("") => DEFAULT_CORBALOC_PORT,
            Some(p) => p
                .parse::<u16>()
                .map_err(|_| err("port must be a number from 0 to 65535"))?,
        };
        let object_key = percent_decode(key).ok_or_else(|| err("bad %-escape in object key"))?;
        Ok(Corbaloc {
            version,
            host: host.to_owned(),
            port,
            object_key,
        })
    }
}

fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hi = hex_val(*b.get(i + 1)?)?;
            let lo = hex_val(*b.get(i + 2)?)?;
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

/// Characters a `corbaloc` key may carry unescaped (RFC 2396 unreserved + reserved,
/// as in the CORBA Interoperable Naming Service specification).
fn url_safe(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b";/:?@&=+$,-_.!~*'()".contains(&b)
}

impl fmt::Display for Corbaloc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("corbaloc:iiop:")?;
        if self.version != Version::V1_0 {
            write!(f, "{}.{}@", self.version.major, self.version.minor)?;
        }
        if self.host.contains(':') {
            write!(f, "[{}]:{}/", self.host, self.port)?;
        } else {
            write!(f, "{}:{}/", self.host, self.port)?;
        }
        for &b in &self.object_key {
            if url_safe(b) {
                write!(f, "{}", b as char)?;
            } else {
                write!(f, "%{b:02X}")?;
            }
        }
        Ok(())
    }
}

/// Why an object reference could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IorError {
    /// The string does not start with `IOR:`.
    #[error("not a stringified IOR (expected \"IOR:\" followed by hex digits): {0:?}")]
    NotAnIor(String),
    /// An odd number of hex digits.
    #[error("IOR has an odd number ({0}) of hex digits")]
    OddHexLength(usize),
    /// A character that is not a hex digit.
    #[error("IOR has a non-hex character at index {index}")]
    InvalidHex {
        /// Index in the string (after trimming), counting the `IOR:` prefix.
        index: usize,
    },
    /// An IOR or profile with no bytes at all (not even the byte-order octet).
    #[error("empty encapsulation (no byte-order octet)")]
    Empty,
    /// The CDR inside is malformed.
    #[error("malformed IOR: {0}")]
    Decode(#[from] DecodeError),
    /// The IOR has no `TAG_INTERNET_IOP` profile, so there is nowhere to connect.
    #[error("IOR has no IIOP (TAG_INTERNET_IOP) profile")]
    NoIiopProfile,
    /// An IIOP profile of a major version other than 1.
    #[error("unsupported IIOP version {major}.{minor} (expected 1.x)")]
    UnsupportedIiopVersion {
        /// Major version found.
        major: u8,
        /// Minor version found.
        minor: u8,
    },
    /// A `corbaloc:` URL that is not well-formed.
    #[error(
        "invalid corbaloc URL {input:?}: {reason} (expected corbaloc:iiop:[1.2@]host[:port]/key)"
    )]
    Corbaloc {
        /// The URL (shortened if long).
        input: String,
        /// What is wrong.
        reason: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile() -> IiopProfile {
        IiopProfile {
            version: Version::V1_2,
            host: "127.0.0.1".into(),
            port: 19311,
            object_key: vec![
                0xfe, 0xb2, 0x13, 0x08, 0x6b, 0, 0, 0x33, 0x1b, 0, 0, 0, 0, 0,
            ],
            components: vec![TaggedComponent {
                tag: 0x4154_5402,
                data: vec![1, 2, 3],
            }],
        }
    }

    #[test]
    fn ior_round_trip() {
        let ior = Ior::new_iiop("IDL:Tango/Device_6:1.0", &profile());
        let s = ior.to_string();
        assert!(s.starts_with("IOR:01000000"));
        assert_eq!(Ior::parse(&s).unwrap(), ior);
        assert_eq!(Ior::parse(&s.to_uppercase()).unwrap(), ior);
        assert_eq!(Ior::parse(&format!("  ior:{}\n", &s[4..])).unwrap(), ior);
        assert_eq!(ior.iiop_profile().unwrap(), profile());
    }

    #[test]
    fn iiop_1_0_profile_has_no_components() {
        let mut p = profile();
        p.version = Version::V1_0;
        p.components.clear();
        assert_eq!(IiopProfile::decode(&p.encode()).unwrap(), p);
        let mut with = profile();
        with.version = Version::V1_0;
        // components are dropped when encoding 1.0
        assert_eq!(IiopProfile::decode(&with.encode()).unwrap(), p);
    }

    #[test]
    fn ior_errors() {
        assert!(matches!(
            Ior::parse("corbaloc::h/k"),
            Err(IorError::NotAnIor(_))
        ));
        assert!(matches!(
            Ior::parse("IOR:0"),
            Err(IorError::OddHexLength(1))
        ));
        assert_eq!(Ior::parse("IOR:0g"), Err(IorError::InvalidHex { index: 5 }));
        assert_eq!(Ior::parse("IOR:"), Err(IorError::Empty));
        assert!(matches!(
            Ior::parse("IOR:01ffffff"),
            Err(IorError::Decode(_))
        ));
        let no_iiop = Ior {
            type_id: "IDL:X:1.0".into(),
            profiles: vec![TaggedProfile {
                tag: 3,
                data: vec![1],
            }],
        };
        assert_eq!(no_iiop.iiop_profile(), Err(IorError::NoIiopProfile));
        assert!(Ior::parse("IOR:é").is_err());
    }

    #[test]
    fn corbaloc_forms() {
        let c = Corbaloc::parse("corbaloc:iiop:localhost:19340/sys/tg_test/1").unwrap();
        assert_eq!(
            c,
            Corbaloc {
                version: Version::V1_0,
                host: "localhost".into(),
                port: 19340,
                object_key: b"sys/tg_test/1".to_vec(),
            }
        );
        assert_eq!(c.to_string(), "corbaloc:iiop:localhost:19340/sys/tg_test/1");
        let c = Corbaloc::parse("CORBALOC::h:1/database").unwrap();
        assert_eq!((c.host.as_str(), c.port), ("h", 1));
        let c = Corbaloc::parse("corbaloc:iiop:1.2@h/k%00%fe").unwrap();
        assert_eq!(c.version, Version::V1_2);
        assert_eq!(c.port, 2809);
        assert_eq!(c.object_key, b"k\x00\xfe");
        assert_eq!(c.to_string(), "corbaloc:iiop:1.2@h:2809/k%00%FE");
        assert_eq!(Corbaloc::parse(&c.to_string()).unwrap(), c);
        let c = Corbaloc::parse("corbaloc:iiop:[::1]:5/a b").unwrap();
        assert_eq!(c.host, "::1");
        assert_eq!(c.port, 5);
        assert_eq!(c.to_string(), "corbaloc:iiop:[::1]:5/a%20b");
        assert_eq!(Corbaloc::parse(&c.to_string()).unwrap(), c);
        let c = Corbaloc::parse("corbaloc:iiop:a:1,iiop:b:2/k").unwrap();
        assert_eq!(c.host, "a");
    }

    #[test]
    fn corbaloc_errors() {
        for bad in [
            "iiop:h:1/k",
            "corbaloc:rir:/NameService",
            "corbaloc:iiop:h:1",
            "corbaloc:iiop::1/k",
            "corbaloc:iiop:h:99999/k",
            "corbaloc:iiop:h:x/k",
            "corbaloc:iiop:2.0@h/k",
            "corbaloc:iiop:[::1/k",
            "corbaloc:iiop:h/k%4",
            "corbaloc:iiop:h/k%zz",
        ] {
            let e = Corbaloc::parse(bad).unwrap_err();
            assert!(
                e.to_string().contains("corbaloc:iiop:[1.2@]host"),
                "{bad}: {e}"
            );
        }
    }
}
