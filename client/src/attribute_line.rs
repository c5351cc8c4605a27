//! The line protocol of the runtime crates' `attribute_server` examples, written once.
//!
//! Each line a client sends is an attribute name (`sys/tg_test/1/ampli`, or
//! `tango://HOST:PORT/sys/tg_test/1/ampli#dbase=no`); the reply is its value on one line, or
//! the printed error stack (its empty lines dropped) and a blank line. Names without host are
//! read from the server given on the command line. The examples of `tango-tokio`,
//! `tango-smol`, `tango-async-std` and `tango-coroutine` differ only in how they accept
//! clients, connect and read (their runtime); they share this:
//!
//! ```
//! use tango_client::attribute_line::{format_value, reply, AttributeRequest, ProxyCache};
//!
//! let req = AttributeRequest::parse(b"sys/tg_test/1/ampli\n", "tango://127.0.0.1:10000").unwrap();
//! assert_eq!(req.device, "tango://127.0.0.1:10000/sys/tg_test/1#dbase=no");
//! assert_eq!(req.attribute, "ampli");
//! // connect to `req.device` (or take the proxy from a `ProxyCache`), read `req.attribute`,
//! // then answer with `reply(result.map(|a| format_value(&a)))`.
//! assert_eq!(reply::<String>(Ok("1.5".into())), "1.5\n");
//! ```

use std::collections::HashMap;
use std::fmt::Display;
use std::sync::Mutex;

use tango_core::idl::AttrDataFormat;
use tango_core::name::TangoName;
use tango_core::value::AttrData;

use crate::{DeviceAttribute, Result};

/// The usage line of the examples' command line (see [`Options::from_args`]).
pub const USAGE: &str =
    "usage: attribute_server [--port N] [--server tango://HOST:PORT | --tango-host HOST:PORT]";

/// The examples' command line: the port to listen on (127.0.0.1) and the server whose
/// devices short names designate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Port to listen on; 8888 unless `--port N`.
    pub port: u16,
    /// `tango://HOST:PORT`; `tango://127.0.0.1:10000` unless `--server` or `--tango-host`.
    pub server: String,
}

impl Options {
    /// Parses the arguments after the program name; `None` on anything unknown (then print
    /// [`USAGE`]).
    pub fn from_args(args: impl IntoIterator<Item = String>) -> Option<Self> {
        let (mut port, mut server) = (8888, "tango://127.0.0.1:10000".to_owned());
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            match (arg.as_str(), args.next()) {
                ("--port", Some(p)) => port = p.parse().ok()?,
                ("--server", Some(s)) => server = s,
                ("--tango-host", Some(h)) => server = format!("tango://{h}"),
                _ => return None,
            }
        }
        Some(Options { port, server })
    }
}

/// One request line, parsed: the attribute to read and the device that has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributeRequest {
    /// The device's full name, to connect to: the line's own host, or `server` in
    /// no-database mode (`SERVER/domain/family/member#dbase=no`).
    pub device: String,
    /// The attribute's name.
    pub attribute: String,
}

impl AttributeRequest {
    /// Parses `line` (lossy UTF-8, white space trimmed) as a full attribute name; a name
    /// without host designates a device of `server` (`tango://HOST:PORT`).
    pub fn parse(line: &[u8], server: &str) -> Result<Self> {
        let name = TangoName::parse_attribute(String::from_utf8_lossy(line).trim())?;
        let device = match name.host {
            Some(_) => TangoName {
                attribute: None,
                ..name.clone()
            }
            .full_name(),
            None => format!("{}/{}#dbase=no", server.trim_end_matches('/'), name.device),
        };
        Ok(AttributeRequest {
            device,
            attribute: name.attribute.unwrap_or_default(),
        })
    }
}

/// Proxies cached per device (names compared case-insensitively), shared by the clients of
/// one example server.
#[derive(Debug)]
pub struct ProxyCache<P>(Mutex<HashMap<String, P>>);

impl<P> Default for ProxyCache<P> {
    fn default() -> Self {
        ProxyCache(Mutex::new(HashMap::new()))
    }
}

impl<P: Clone> ProxyCache<P> {
    /// The cached proxy of `device`, if any.
    pub fn get(&self, device: &str) -> Option<P> {
        self.lock().get(&device.to_lowercase()).cloned()
    }

    /// Caches `proxy` for `device` unless another client did first; returns the cached one.
    pub fn insert(&self, device: &str, proxy: P) -> P {
        self.lock()
            .entry(device.to_lowercase())
            .or_insert(proxy)
            .clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, P>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The reply to one line: the value on one line, or the error's non-empty lines and a blank
/// one.
pub fn reply<E: Display>(result: std::result::Result<String, E>) -> String {
    match result {
        Ok(value) => format!("{value}\n"),
        Err(e) => {
            let e = e.to_string();
            let lines: Vec<&str> = e.lines().filter(|l| !l.trim().is_empty()).collect();
            format!("{}\n\n", lines.join("\n"))
        }
    }
}

/// The value, compactly: a scalar bare, arrays (images row after row) as `[a, b, ...]`,
/// `None` when the attribute has no value.
pub fn format_value(a: &DeviceAttribute) -> String {
    fn list<T>(v: &[T], scalar: bool, item: impl Fn(&T) -> String) -> String {
        let items: Vec<String> = v.iter().map(item).collect();
        match items.as_slice() {
            [one] if scalar => one.clone(),
            _ => format!("[{}]", items.join(", ")),
        }
    }
    let s = a.data_format == AttrDataFormat::Scalar;
    match &a.value {
        None => "None".to_owned(),
        Some(AttrData::Bool(v)) => list(v, s, ToString::to_string),
        Some(AttrData::Short(v) | AttrData::Enum(v)) => list(v, s, ToString::to_string),
        Some(AttrData::Long(v)) => list(v, s, ToString::to_string),
        Some(AttrData::Long64(v)) => list(v, s, ToString::to_string),
        Some(AttrData::Float(v)) => list(v, s, |x| format!("{x:?}")),
        Some(AttrData::Double(v)) => list(v, s, |x| format!("{x:?}")),
        Some(AttrData::UChar(v)) => list(v, s, ToString::to_string),
        Some(AttrData::UShort(v)) => list(v, s, ToString::to_string),
        Some(AttrData::ULong(v)) => list(v, s, ToString::to_string),
        Some(AttrData::ULong64(v)) => list(v, s, ToString::to_string),
        Some(AttrData::String(v)) => list(v, s, |x| x.replace('\n', "\\n")),
        Some(AttrData::State(v)) => list(v, s, ToString::to_string),
        Some(AttrData::Encoded(v)) => list(v, s, |x| {
            format!("({}, {} bytes)", x.encoded_format, x.encoded_data.len())
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_short_and_full_names() {
        let r = AttributeRequest::parse(b"  SYS/TG_TEST/1/State  \r\n", "tango://h:1/").unwrap();
        assert_eq!(r.device, "tango://h:1/SYS/TG_TEST/1#dbase=no");
        assert_eq!(r.attribute, "State");
        let r = AttributeRequest::parse(b"tango://127.0.0.1:5/a/b/c/d#dbase=no", "tango://h:1")
            .unwrap();
        assert_eq!(r.device, "tango://127.0.0.1:5/a/b/c#dbase=no");
        assert_eq!(r.attribute, "d");
        assert!(AttributeRequest::parse(b"a/b", "tango://h:1").is_err());
    }

    #[test]
    fn replies_values_and_error_stacks() {
        assert_eq!(reply::<String>(Ok("7".into())), "7\n");
        assert_eq!(
            reply::<&str>(Err("first\n\n  \nsecond\n")),
            "first\nsecond\n\n"
        );
    }

    #[test]
    fn options_from_args() {
        let args = |a: &[&str]| Options::from_args(a.iter().map(|s| s.to_string()));
        assert_eq!(
            args(&[]),
            Some(Options {
                port: 8888,
                server: "tango://127.0.0.1:10000".into()
            })
        );
        let o = args(&["--port", "9", "--tango-host", "h:2"]).unwrap();
        assert_eq!((o.port, o.server.as_str()), (9, "tango://h:2"));
        assert_eq!(args(&["--port", "x"]), None);
        assert_eq!(args(&["--server"]), None);
    }

    #[test]
    fn caches_the_first_proxy_case_insensitively() {
        let cache = ProxyCache::default();
        assert_eq!(cache.get("A/b/c"), None);
        assert_eq!(cache.insert("a/B/c", 1), 1);
        assert_eq!(cache.insert("a/b/C", 2), 1);
        assert_eq!(cache.get("A/B/C"), Some(1));
    }
}
