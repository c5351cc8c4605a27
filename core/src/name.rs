//! Tango device and attribute names.
//!
//! Accepted forms (whitespace around the name is ignored):
//!
//! * `tango://host:port/domain/family/member[/attribute][#dbase=no|#dbase=yes]`
//! * `host:port/domain/family/member[/attribute][#dbase=...]` (no scheme)
//! * `domain/family/member[/attribute]` (no host: the database from `TANGO_HOST`)
//!
//! With `#dbase=no` the host and port are those of the device server itself (the name is
//! then addressed as `corbaloc:iiop:host:port/<lower-cased device name>`, GIOP 1.0);
//! otherwise they are those of the database. Device aliases (names without `/`) need a
//! database look-up, which this crate does not do yet, so they are refused with an error
//! that says so.

use std::fmt;

/// The forms accepted, repeated in every error so the user sees what to type.
const FORMS: &str = "expected tango://host:port/domain/family/member[/attribute][#dbase=no], \
host:port/domain/family/member[/attribute] or domain/family/member[/attribute]";

/// A parsed Tango device or attribute name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TangoName {
    /// Host of the database, or of the device server when `dbase` is false.
    pub host: Option<String>,
    /// Port going with `host`.
    pub port: Option<u16>,
    /// `domain/family/member`, in the case given (kept for display; Tango compares
    /// names case-insensitively and sends them lower-cased).
    pub device: String,
    /// The attribute, if the name designates one.
    pub attribute: Option<String>,
    /// False iff the name ends with `#dbase=no`.
    pub dbase: bool,
}

/// Where to connect to reach a name's device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// The device server itself (no-database mode).
    Device {
        /// Host.
        host: String,
        /// Port.
        port: u16,
    },
    /// The database, to be asked for the device's IOR.
    Database {
        /// Host.
        host: String,
        /// Port.
        port: u16,
    },
}

impl TangoName {
    /// Parses a device or attribute name in any of the accepted forms.
    pub fn parse(s: &str) -> Result<Self, NameError> {
        let input = s.trim();
        if input.is_empty() {
            return Err(NameError::Empty);
        }
        let invalid = |reason: &str| NameError::Invalid {
            input: input.to_owned(),
            reason: reason.to_owned(),
        };
        let (body, dbase) = match input.split_once('#') {
            None => (input, true),
            Some((b, frag)) => {
                let dbase = if frag.eq_ignore_ascii_case("dbase=no") {
                    false
                } else if frag.eq_ignore_ascii_case("dbase=yes") {
                    true
                } else {
                    return Err(invalid(
                        "the only option after '#' is dbase=no or dbase=yes",
                    ));
                };
                (b, dbase)
            }
        };
        let (scheme, rest) = match body.get(..8) {
            Some(p) if p.eq_ignore_ascii_case("tango://") => (true, &body[8..]),
            _ => (false, body),
        };
        if !scheme && body.contains("://") {
            return Err(invalid("the only URL scheme is tango://"));
        }
        let (hostport, path) = match rest.split_once('/') {
            Some((first, tail)) if scheme || first.contains(':') => (Some(first), tail),
            Some(_) => (None, rest),
            None if scheme => return Err(invalid("no device name after host:port")),
            None => return Err(NameError::AliasNotSupported(input.to_owned())),
        };
        let (host, port) = match hostport {
            None => (None, None),
            Some(hp) => {
                let (h, p) = parse_host_port(hp).map_err(|r| invalid(&r))?;
                (Some(h), Some(p))
            }
        };
        let parts: Vec<&str> = path.split('/').collect();
        if parts.iter().any(|p| p.is_empty()) {
            return Err(invalid("empty part in domain/family/member"));
        }
        if parts.iter().any(|p| p.chars().any(char::is_whitespace)) {
            return Err(invalid("whitespace inside the name"));
        }
        let (device, attribute) = match parts.as_slice() {
            [_] => return Err(NameError::AliasNotSupported(input.to_owned())),
            [d, f, m] => (format!("{d}/{f}/{m}"), None),
            [d, f, m, a] => (format!("{d}/{f}/{m}"), Some((*a).to_owned())),
            _ => {
                return Err(invalid(
                    "a device name has 3 parts (domain/family/member), an attribute name 4",
                ))
            }
        };
        if !dbase && host.is_none() {
            return Err(invalid("#dbase=no needs the device server's host:port"));
        }
        Ok(TangoName {
            host,
            port,
            device,
            attribute,
            dbase,
        })
    }

    /// Parses a device name: like [`TangoName::parse`], but an attribute part is an error.
    pub fn parse_device(s: &str) -> Result<Self, NameError> {
        let n = Self::parse(s)?;
        if n.attribute.is_some() {
            return Err(NameError::UnexpectedAttribute(s.trim().to_owned()));
        }
        Ok(n)
    }

    /// Parses an attribute name: like [`TangoName::parse`], but the attribute part is
    /// required.
    pub fn parse_attribute(s: &str) -> Result<Self, NameError> {
        let n = Self::parse(s)?;
        if n.attribute.is_none() {
            return Err(NameError::MissingAttribute(s.trim().to_owned()));
        }
        Ok(n)
    }

    /// The object key of the device in no-database mode: its lower-cased name, raw bytes
    /// without NUL, because that is what cppTango sends and omniORB servers look keys up
    /// case-sensitively (wire-notes §1.2).
    pub fn object_key(&self) -> Vec<u8> {
        self.device_lower().into_bytes()
    }

    /// The device name in lower case.
    pub fn device_lower(&self) -> String {
        self.device.to_ascii_lowercase()
    }

    /// Whether both names designate the same device: device and host compared
    /// case-insensitively (as Tango does), port and database mode exactly. Attributes
    /// are not compared.
    pub fn same_device(&self, other: &TangoName) -> bool {
        let host_eq = match (&self.host, &other.host) {
            (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
            (None, None) => true,
            _ => false,
        };
        host_eq
            && self.port == other.port
            && self.dbase == other.dbase
            && self.device.eq_ignore_ascii_case(&other.device)
    }

    /// Where to connect: the device server itself (`#dbase=no`), the database named in
    /// the name, or the first database of `tango_host` (the `TANGO_HOST` value,
    /// `host:port` or a comma-separated list of them).
    pub fn endpoint(&self, tango_host: Option<&str>) -> Result<Endpoint, NameError> {
        match (&self.host, self.port) {
            (Some(host), Some(port)) => Ok(if self.dbase {
                Endpoint::Database {
                    host: host.clone(),
                    port,
                }
            } else {
                Endpoint::Device {
                    host: host.clone(),
                    port,
                }
            }),
            _ => {
                let th = tango_host.ok_or(NameError::NoTangoHost)?;
                let first = th.split(',').next().unwrap_or(th).trim();
                if first.is_empty() {
                    return Err(NameError::NoTangoHost);
                }
                let (host, port) = parse_host_port(first)
                    .map_err(|reason| NameError::BadTangoHost(th.to_owned(), reason))?;
                Ok(Endpoint::Database { host, port })
            }
        }
    }

    /// The full name, `tango://host:port/a/b/c[/attr][#dbase=no]`, in the case given;
    /// a name without host is written `a/b/c[/attr]` (its database is not known here).
    pub fn full_name(&self) -> String {
        let mut s = String::new();
        if let (Some(h), Some(p)) = (&self.host, self.port) {
            if h.contains(':') {
                s.push_str(&format!("tango://[{h}]:{p}/"));
            } else {
                s.push_str(&format!("tango://{h}:{p}/"));
            }
        }
        s.push_str(&self.device);
        if let Some(a) = &self.attribute {
            s.push('/');
            s.push_str(a);
        }
        if !self.dbase {
            s.push_str("#dbase=no");
        }
        s
    }
}

impl fmt::Display for TangoName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.full_name())
    }
}

/// `host:port` (IPv6 hosts in brackets) to its parts; the error says what is wrong.
fn parse_host_port(s: &str) -> Result<(String, u16), String> {
    let (host, port) = if let Some(after) = s.strip_prefix('[') {
        let (h, tail) = after
            .split_once(']')
            .ok_or_else(|| format!("unclosed '[' in {s:?}"))?;
        let p = tail
            .strip_prefix(':')
            .ok_or_else(|| format!("no :port after {s:?}"))?;
        (h, p)
    } else {
        s.rsplit_once(':')
            .ok_or_else(|| format!("{s:?} is not host:port"))?
    };
    if host.is_empty() || host.chars().any(char::is_whitespace) {
        return Err(format!("bad host in {s:?}"));
    }
    let port = port
        .parse::<u16>()
        .map_err(|_| format!("port {port:?} is not a number from 0 to 65535"))?;
    Ok((host.to_owned(), port))
}

/// Why a name was refused. Every message says which forms are accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Nothing but whitespace.
    #[error("empty Tango name; {FORMS}")]
    Empty,
    /// Not well-formed.
    #[error("invalid Tango name {input:?}: {reason}; {FORMS}")]
    Invalid {
        /// The name given.
        input: String,
        /// What is wrong.
        reason: String,
    },
    /// A name without `/`: a device alias, which needs a database look-up.
    #[error(
        "{0:?} looks like a device alias; aliases need a database look-up, which is not \
         supported yet; {FORMS}"
    )]
    AliasNotSupported(String),
    /// A device name was expected but an attribute was given.
    #[error("{0:?} names an attribute, a device name was expected (domain/family/member)")]
    UnexpectedAttribute(String),
    /// An attribute name was expected but a device was given.
    #[error(
        "{0:?} names a device, an attribute name was expected (domain/family/member/attribute)"
    )]
    MissingAttribute(String),
    /// The name has no host and no `TANGO_HOST` was given.
    #[error(
        "the name has no host:port and TANGO_HOST is not set; set TANGO_HOST=host:port or \
         use tango://host:port/domain/family/member"
    )]
    NoTangoHost,
    /// `TANGO_HOST` is not `host:port[,host:port...]`.
    #[error("invalid TANGO_HOST {0:?}: {1}; expected host:port or a comma-separated list")]
    BadTangoHost(String, String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_url_nodb() {
        let n = TangoName::parse("  tango://LocalHost:19340/Sys/TG_Test/1#dbase=no\n").unwrap();
        assert_eq!(
            n,
            TangoName {
                host: Some("LocalHost".into()),
                port: Some(19340),
                device: "Sys/TG_Test/1".into(),
                attribute: None,
                dbase: false,
            }
        );
        assert_eq!(n.object_key(), b"sys/tg_test/1");
        assert_eq!(n.device_lower(), "sys/tg_test/1");
        assert_eq!(
            n.endpoint(None).unwrap(),
            Endpoint::Device {
                host: "LocalHost".into(),
                port: 19340
            }
        );
        assert_eq!(
            n.full_name(),
            "tango://LocalHost:19340/Sys/TG_Test/1#dbase=no"
        );
        assert_eq!(TangoName::parse(&n.to_string()).unwrap(), n);
    }

    #[test]
    fn attribute_and_db_forms() {
        let n = TangoName::parse("tango://db:10000/a/b/c/double_scalar#dbase=yes").unwrap();
        assert_eq!(n.attribute.as_deref(), Some("double_scalar"));
        assert!(n.dbase);
        assert_eq!(
            n.endpoint(Some("other:1")).unwrap(),
            Endpoint::Database {
                host: "db".into(),
                port: 10000
            }
        );
        assert_eq!(n.full_name(), "tango://db:10000/a/b/c/double_scalar");

        let n = TangoName::parse("host:123/a/b/c/attr#DBASE=NO").unwrap();
        assert_eq!(
            (n.host.as_deref(), n.port, n.dbase),
            (Some("host"), Some(123), false)
        );
        assert_eq!(n.attribute.as_deref(), Some("attr"));

        let n = TangoName::parse("a/b/c").unwrap();
        assert_eq!((n.host.clone(), n.port, n.dbase), (None, None, true));
        assert_eq!(n.full_name(), "a/b/c");
        assert_eq!(
            n.endpoint(Some(" tg1:10000 , tg2:10000")).unwrap(),
            Endpoint::Database {
                host: "tg1".into(),
                port: 10000
            }
        );
        assert_eq!(n.endpoint(None), Err(NameError::NoTangoHost));
        assert!(matches!(
            n.endpoint(Some("nohostport")),
            Err(NameError::BadTangoHost(..))
        ));
        let n = TangoName::parse("tango://[::1]:5/a/b/c").unwrap();
        assert_eq!(n.host.as_deref(), Some("::1"));
        assert_eq!(TangoName::parse(&n.full_name()).unwrap(), n);
    }

    #[test]
    fn device_or_attribute_required() {
        assert!(TangoName::parse_device("a/b/c").is_ok());
        assert!(matches!(
            TangoName::parse_device("a/b/c/d"),
            Err(NameError::UnexpectedAttribute(_))
        ));
        assert!(TangoName::parse_attribute("a/b/c/d").is_ok());
        assert!(matches!(
            TangoName::parse_attribute("tango://h:1/a/b/c"),
            Err(NameError::MissingAttribute(_))
        ));
    }

    #[test]
    fn case_insensitive_comparison() {
        let a = TangoName::parse("tango://HOST:1/Sys/Tg_Test/1#dbase=no").unwrap();
        let b = TangoName::parse("tango://host:1/sys/tg_test/1/attr#dbase=no").unwrap();
        assert!(a.same_device(&b));
        assert_ne!(a, b);
        let c = TangoName::parse("tango://host:2/sys/tg_test/1#dbase=no").unwrap();
        assert!(!a.same_device(&c));
        let d = TangoName::parse("tango://host:1/sys/tg_test/1").unwrap();
        assert!(!a.same_device(&d));
        let e = TangoName::parse("sys/tg_test/2").unwrap();
        assert!(!TangoName::parse("sys/tg_test/1").unwrap().same_device(&e));
    }

    #[test]
    fn errors_say_what_is_expected() {
        assert_eq!(TangoName::parse("   "), Err(NameError::Empty));
        let e = TangoName::parse("my_alias").unwrap_err();
        assert!(matches!(e, NameError::AliasNotSupported(_)));
        assert!(e.to_string().contains("alias"), "{e}");
        assert!(e.to_string().contains("not supported"), "{e}");
        for bad in [
            "a/b",
            "a/b/c/d/e",
            "a//c",
            "tango://h:1",
            "tango://h/a/b/c",
            "tango://h:port/a/b/c",
            "tango://h:70000/a/b/c",
            "tango://:1/a/b/c",
            "a/b/c#dbase=maybe",
            "a/b/c#dbase=no",
            "http://h:1/a/b/c",
            "a/b c/d",
        ] {
            let e = TangoName::parse(bad).unwrap_err();
            let msg = e.to_string();
            assert!(msg.contains(bad), "{bad}: {msg}");
            assert!(msg.contains("domain/family/member"), "{bad}: {msg}");
        }
    }
}
