//! Tango errors: [`DevError`], the user exceptions [`DevFailed`] and [`MultiDevFailed`].
//!
//! On the wire a user exception is a reply with status `USER_EXCEPTION` whose body is the
//! exception's repository id (a string) followed by its members (wire-notes §6.6).
//! [`DevFailed::encode_exception`] and [`DevFailed::decode_exception`] handle that body;
//! the plain [`CdrEncode`]/[`CdrDecode`] impls handle the members only.

use std::fmt;

use crate::cdr::{CdrDecode, CdrEncode, CdrReader, CdrWriter, DecodeResult};

use super::types::ErrSeverity;

crate::cdr_struct! {
    /// One error of a Tango error stack.
    pub struct DevError {
        /// A short code (`API_CommandNotFound`).
        pub reason: String,
        /// How bad it is.
        pub severity: ErrSeverity,
        /// A sentence for humans.
        pub desc: String,
        /// Where it happened (a function name, or a C++ signature with file:line).
        pub origin: String,
    }
}

impl DevError {
    /// An error of severity `ERR`.
    pub fn new(
        reason: impl Into<String>,
        desc: impl Into<String>,
        origin: impl Into<String>,
    ) -> Self {
        DevError {
            reason: reason.into(),
            severity: ErrSeverity::Err,
            desc: desc.into(),
            origin: origin.into(),
        }
    }
}

impl fmt::Display for DevError {
    /// The way PyTango prints a `DevError`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "DevError[\n    desc = {}\n  origin = {}\n  reason = {}\nseverity = {}]\n",
            self.desc, self.origin, self.reason, self.severity
        )
    }
}

/// Writes a user exception body: repository id, then the members.
fn encode_exception_body<T: CdrEncode>(w: &mut CdrWriter, repo_id: &str, members: &T) {
    w.write_string(repo_id);
    members.encode(w);
}

/// Reads a user exception body, failing if the repository id is not `repo_id`.
fn decode_exception_body<T: CdrDecode>(
    r: &mut CdrReader<'_>,
    repo_id: &str,
    what: &'static str,
) -> DecodeResult<T> {
    let id = r.read_string()?;
    if id != repo_id {
        return Err(r.malformed(what, format!("repository id is {id:?}, not {repo_id:?}")));
    }
    T::decode(r)
}

crate::cdr_struct! {
    /// The exception every Tango operation may raise: a stack of errors, the first being
    /// the innermost (where it started).
    pub struct DevFailed {
        /// The error stack.
        pub errors: Vec<DevError>,
    }
}

impl DevFailed {
    /// Its CORBA repository id, the first string of the exception reply body.
    pub const REPO_ID: &'static str = "IDL:Tango/DevFailed:1.0";

    /// An exception holding one error of severity `ERR`.
    pub fn new(
        reason: impl Into<String>,
        desc: impl Into<String>,
        origin: impl Into<String>,
    ) -> Self {
        DevFailed {
            errors: vec![DevError::new(reason, desc, origin)],
        }
    }

    /// The `reason` of the first error, if any (what callers usually match on).
    pub fn reason(&self) -> Option<&str> {
        self.errors.first().map(|e| e.reason.as_str())
    }

    /// Writes the body of a `USER_EXCEPTION` reply: repository id, then the errors.
    pub fn encode_exception(&self, w: &mut CdrWriter) {
        encode_exception_body(w, Self::REPO_ID, self)
    }

    /// Reads the body of a `USER_EXCEPTION` reply, checking the repository id.
    pub fn decode_exception(r: &mut CdrReader<'_>) -> DecodeResult<Self> {
        decode_exception_body(r, Self::REPO_ID, "DevFailed")
    }
}

impl fmt::Display for DevFailed {
    /// The way PyTango prints a `DevFailed`: every error of the stack in order.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "DevFailed[")?;
        for e in &self.errors {
            writeln!(f, "{e}")?;
        }
        write!(f, "]")
    }
}

impl std::error::Error for DevFailed {}

crate::cdr_struct! {
    /// The errors of one attribute in a call on several (`write_attributes`).
    pub struct NamedDevError {
        /// The attribute name.
        pub name: String,
        /// Its index in the call's list.
        pub index_in_call: i32,
        /// Its error stack.
        pub err_list: Vec<DevError>,
    }
}

crate::cdr_struct! {
    /// The exception of calls on several attributes: one error stack per failed one.
    /// Never observed in the captures.
    pub struct MultiDevFailed {
        /// One entry per failed attribute.
        pub errors: Vec<NamedDevError>,
    }
}

impl MultiDevFailed {
    /// Its CORBA repository id.
    pub const REPO_ID: &'static str = "IDL:Tango/MultiDevFailed:1.0";

    /// Writes the body of a `USER_EXCEPTION` reply: repository id, then the members.
    pub fn encode_exception(&self, w: &mut CdrWriter) {
        encode_exception_body(w, Self::REPO_ID, self)
    }

    /// Reads the body of a `USER_EXCEPTION` reply, checking the repository id.
    pub fn decode_exception(r: &mut CdrReader<'_>) -> DecodeResult<Self> {
        decode_exception_body(r, Self::REPO_ID, "MultiDevFailed")
    }
}

impl fmt::Display for MultiDevFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "MultiDevFailed[")?;
        for n in &self.errors {
            writeln!(f, "{} (index {}):", n.name, n.index_in_call)?;
            for e in &n.err_list {
                writeln!(f, "{e}")?;
            }
        }
        write!(f, "]")
    }
}

impl std::error::Error for MultiDevFailed {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cdr::ByteOrder;

    #[test]
    fn exception_round_trip_and_display() {
        let e = DevFailed::new("API_X", "went wrong", "here");
        let mut w = CdrWriter::new();
        e.encode_exception(&mut w);
        let mut r = CdrReader::new(w.as_bytes(), ByteOrder::Little);
        assert_eq!(DevFailed::decode_exception(&mut r).unwrap(), e);
        let mut r = CdrReader::new(w.as_bytes(), ByteOrder::Little);
        assert!(MultiDevFailed::decode_exception(&mut r).is_err());
        let s = e.to_string();
        assert!(s.starts_with("DevFailed[\nDevError[\n    desc = went wrong\n"));
        assert!(s.contains("  reason = API_X\nseverity = ERR]"));
        assert_eq!(e.reason(), Some("API_X"));

        let m = MultiDevFailed {
            errors: vec![NamedDevError {
                name: "a".into(),
                index_in_call: 1,
                err_list: e.errors.clone(),
            }],
        };
        let mut w = CdrWriter::new();
        m.encode_exception(&mut w);
        let mut r = CdrReader::new(w.as_bytes(), ByteOrder::Little);
        assert_eq!(MultiDevFailed::decode_exception(&mut r).unwrap(), m);
    }
}
