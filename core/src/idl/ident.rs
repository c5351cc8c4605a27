//! `ClntIdent`: who is calling, the last argument of `command_inout_4`,
//! `read_attributes_5`, `write_attributes_4` and `write_read_attributes_5`.
//!
//! IDL 6 added two union members carrying a W3C trace context (wire-notes §6.3). The
//! pytango 10 client sends `CPP_6` (2) to IDL 6 servers and `CPP` (0) to IDL 5 ones;
//! cppTango 9 clients always send `CPP`. A server must accept every form, because
//! decoding only the IDL 5 members breaks on every call from a 10.x client.

use crate::cdr::{CdrDecode, CdrEncode, CdrReader, CdrWriter, DecodeResult};

use super::types::LockerLanguage;

crate::cdr_struct! {
    /// The trace context of IDL 6 client identifications.
    ///
    /// Whether cppTango declares it as a union on its format or as a struct starting
    /// with it cannot be told from the bytes (both are a `0` then two strings); we model
    /// the one format that exists, `W3C_TC_V0` = 0.
    #[derive(Eq)]
    pub struct TraceContext {
        /// `TraceContextFormat`: 0 = `W3C_TC_V0`.
        pub format: u32,
        /// W3C `traceparent` (empty when telemetry is off, as always observed).
        pub trace_parent: String,
        /// W3C `tracestate`.
        pub trace_state: String,
    }
}

impl TraceContext {
    /// The `W3C_TC_V0` format.
    pub const W3C_TC_V0: u32 = 0;
}

/// `ClntIdent`: the client's language and identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClntIdent {
    /// Discriminant 0, `CPP`: the client's process id.
    Cpp(u32),
    /// Discriminant 1, `JAVA`: main class and a UUID.
    Java {
        /// The client's main class.
        main_class: String,
        /// `JavaUUID` (two `unsigned long long`).
        uuid: [u64; 2],
    },
    /// Discriminant 2, `CPP_6`: process id and a trace context (observed).
    Cpp6 {
        /// The client's process id.
        pid: u32,
        /// Its trace context.
        trace: TraceContext,
    },
    /// Discriminant 3, `JAVA_6`: the `JAVA` member then a trace context (inferred layout:
    /// never observed).
    Java6 {
        /// The client's main class.
        main_class: String,
        /// `JavaUUID`.
        uuid: [u64; 2],
        /// Its trace context.
        trace: TraceContext,
    },
}

impl Default for ClntIdent {
    fn default() -> Self {
        ClntIdent::Cpp(0)
    }
}

impl ClntIdent {
    /// What a C++ client sends to a server of IDL `version`: `CPP_6` with an empty
    /// `W3C_TC_V0` trace context for 6 and above, else `CPP`.
    pub fn for_idl(version: u32, pid: u32) -> Self {
        if version >= 6 {
            ClntIdent::Cpp6 {
                pid,
                trace: TraceContext::default(),
            }
        } else {
            ClntIdent::Cpp(pid)
        }
    }

    /// The union discriminant.
    pub fn language(&self) -> LockerLanguage {
        match self {
            ClntIdent::Cpp(_) => LockerLanguage::Cpp,
            ClntIdent::Java { .. } => LockerLanguage::Java,
            ClntIdent::Cpp6 { .. } => LockerLanguage::Cpp6,
            ClntIdent::Java6 { .. } => LockerLanguage::Java6,
        }
    }

    /// The process id of a C++ client.
    pub fn pid(&self) -> Option<u32> {
        match self {
            ClntIdent::Cpp(pid) | ClntIdent::Cpp6 { pid, .. } => Some(*pid),
            _ => None,
        }
    }
}

impl CdrEncode for ClntIdent {
    fn encode(&self, w: &mut CdrWriter) {
        self.language().encode(w);
        match self {
            ClntIdent::Cpp(pid) => w.write_ulong(*pid),
            ClntIdent::Java { main_class, uuid } => {
                w.write_string(main_class);
                w.write_ulonglong(uuid[0]);
                w.write_ulonglong(uuid[1]);
            }
            ClntIdent::Cpp6 { pid, trace } => {
                w.write_ulong(*pid);
                trace.encode(w);
            }
            ClntIdent::Java6 {
                main_class,
                uuid,
                trace,
            } => {
                w.write_string(main_class);
                w.write_ulonglong(uuid[0]);
                w.write_ulonglong(uuid[1]);
                trace.encode(w);
            }
        }
    }
}

impl CdrDecode for ClntIdent {
    const MIN_SIZE: usize = 8;
    fn decode(r: &mut CdrReader<'_>) -> DecodeResult<Self> {
        Ok(match LockerLanguage::decode(r)? {
            LockerLanguage::Cpp => ClntIdent::Cpp(r.read_ulong()?),
            LockerLanguage::Java => ClntIdent::Java {
                main_class: r.read_string()?,
                uuid: [r.read_ulonglong()?, r.read_ulonglong()?],
            },
            LockerLanguage::Cpp6 => ClntIdent::Cpp6 {
                pid: r.read_ulong()?,
                trace: TraceContext::decode(r)?,
            },
            LockerLanguage::Java6 => ClntIdent::Java6 {
                main_class: r.read_string()?,
                uuid: [r.read_ulonglong()?, r.read_ulonglong()?],
                trace: TraceContext::decode(r)?,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cdr::ByteOrder;

    #[test]
    fn every_form_round_trips() {
        let trace = TraceContext {
            format: 0,
            trace_parent: "00-abc-def-01".into(),
            trace_state: "k=v".into(),
        };
        for c in [
            ClntIdent::for_idl(5, 347),
            ClntIdent::for_idl(6, 2383),
            ClntIdent::Java {
                main_class: "org.Main".into(),
                uuid: [1, u64::MAX],
            },
            ClntIdent::Cpp6 {
                pid: 1,
                trace: trace.clone(),
            },
            ClntIdent::Java6 {
                main_class: "M".into(),
                uuid: [3, 4],
                trace,
            },
        ] {
            let mut w = CdrWriter::new();
            w.write_octet(0);
            c.encode(&mut w);
            let mut r = CdrReader::at(w.as_bytes(), 1, ByteOrder::Little);
            assert_eq!(ClntIdent::decode(&mut r).unwrap(), c);
            assert_eq!(r.remaining(), 0);
        }
        assert_eq!(ClntIdent::for_idl(6, 9).pid(), Some(9));
        let mut w = CdrWriter::new();
        ClntIdent::for_idl(6, 0x94f).encode(&mut w);
        assert_eq!(
            w.as_bytes(),
            &[2, 0, 0, 0, 0x4f, 9, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]
        );
    }
}
