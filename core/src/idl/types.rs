//! The IDL enumerations of Tango, [`TimeVal`] and [`CmdArgType`] (Tango's type codes).
//!
//! Every IDL enum travels as a 4-byte `unsigned long`. The Rust variants are CamelCase;
//! `Display` prints the Tango label (`ATTR_VALID`, `ON`, `READ_WRITE`...) because that is
//! what PyTango and cppTango print, so users can compare output.
//!
//! `Default` is implemented for the enums only because the IDL structs that contain them
//! derive it (see [`crate::cdr_struct!`]); the default is the IDL's first label except
//! `DevState::Unknown` (nobody set it), `DevSource::CacheDev` (what DeviceProxy sends),
//! `ErrSeverity::Err` (what Tango uses unless told) and `AttributeDataType::AttNoData`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::cdr::{CdrDecode, CdrEncode, CdrReader, CdrWriter, DecodeResult};

crate::cdr_enum! {
    /// The state of a device (`Tango::DevState`).
    #[derive(Default)]
    pub enum DevState {
        /// Switched on.
        On = 0 => "ON",
        /// Switched off.
        Off = 1 => "OFF",
        /// Closed.
        Close = 2 => "CLOSE",
        /// Open.
        Open = 3 => "OPEN",
        /// Inserted.
        Insert = 4 => "INSERT",
        /// Extracted.
        Extract = 5 => "EXTRACT",
        /// Moving.
        Moving = 6 => "MOVING",
        /// Standing by.
        Standby = 7 => "STANDBY",
        /// Faulty.
        Fault = 8 => "FAULT",
        /// Initialising.
        Init = 9 => "INIT",
        /// Running.
        Running = 10 => "RUNNING",
        /// In alarm.
        Alarm = 11 => "ALARM",
        /// Disabled.
        Disable = 12 => "DISABLE",
        /// Unknown.
        #[default]
        Unknown = 13 => "UNKNOWN",
    }
}

crate::cdr_enum! {
    /// The quality of an attribute value.
    #[derive(Default)]
    pub enum AttrQuality {
        /// The value is good.
        #[default]
        Valid = 0 => "ATTR_VALID",
        /// The value is not usable (a failed read carries this).
        Invalid = 1 => "ATTR_INVALID",
        /// The value is outside its alarm limits.
        Alarm = 2 => "ATTR_ALARM",
        /// The value is changing.
        Changing = 3 => "ATTR_CHANGING",
        /// The value is outside its warning limits.
        Warning = 4 => "ATTR_WARNING",
    }
}

crate::cdr_enum! {
    /// Whether an attribute is readable, writable or both.
    #[derive(Default)]
    pub enum AttrWriteType {
        /// Read only.
        #[default]
        Read = 0 => "READ",
        /// Read, with an associated writable attribute.
        ReadWithWrite = 1 => "READ_WITH_WRITE",
        /// Write only.
        Write = 2 => "WRITE",
        /// Read and write.
        ReadWrite = 3 => "READ_WRITE",
        /// Unknown.
        WtUnknown = 4 => "WT_UNKNOWN",
    }
}

crate::cdr_enum! {
    /// The shape of an attribute.
    #[derive(Default)]
    pub enum AttrDataFormat {
        /// One value.
        #[default]
        Scalar = 0 => "SCALAR",
        /// A one-dimensional array.
        Spectrum = 1 => "SPECTRUM",
        /// A two-dimensional array (sent flat, row-major).
        Image = 2 => "IMAGE",
        /// Unknown (what clients put in writes, and failed reads carry).
        FmtUnknown = 3 => "FMT_UNKNOWN",
    }
}

crate::cdr_enum! {
    /// Where a read may be served from.
    #[derive(Default)]
    pub enum DevSource {
        /// Always from the device.
        Dev = 0 => "DEV",
        /// From the polling cache only.
        Cache = 1 => "CACHE",
        /// From the cache if polled, else the device (what DeviceProxy always sends).
        #[default]
        CacheDev = 2 => "CACHE_DEV",
    }
}

crate::cdr_enum! {
    /// The severity of a [`crate::idl::DevError`].
    #[derive(Default)]
    pub enum ErrSeverity {
        /// A warning.
        Warn = 0 => "WARN",
        /// An error.
        #[default]
        Err = 1 => "ERR",
        /// A panic.
        Panic = 2 => "PANIC",
    }
}

crate::cdr_enum! {
    /// The display level of a command or attribute.
    #[derive(Default)]
    pub enum DispLevel {
        /// For operators.
        #[default]
        Operator = 0 => "OPERATOR",
        /// For experts.
        Expert = 1 => "EXPERT",
        /// Unknown.
        DlUnknown = 2 => "DL_UNKNOWN",
    }
}

crate::cdr_enum! {
    /// The discriminant of `AttrValUnion`: which sequence an attribute value holds.
    #[derive(Default)]
    pub enum AttributeDataType {
        /// `sequence<boolean>`.
        AttBool = 0 => "ATT_BOOL",
        /// `sequence<short>`.
        AttShort = 1 => "ATT_SHORT",
        /// `sequence<long>`.
        AttLong = 2 => "ATT_LONG",
        /// `sequence<long long>`.
        AttLong64 = 3 => "ATT_LONG64",
        /// `sequence<float>`.
        AttFloat = 4 => "ATT_FLOAT",
        /// `sequence<double>`.
        AttDouble = 5 => "ATT_DOUBLE",
        /// `sequence<octet>`.
        AttUChar = 6 => "ATT_UCHAR",
        /// `sequence<unsigned short>`.
        AttUShort = 7 => "ATT_USHORT",
        /// `sequence<unsigned long>`.
        AttULong = 8 => "ATT_ULONG",
        /// `sequence<unsigned long long>`.
        AttULong64 = 9 => "ATT_ULONG64",
        /// `sequence<string>`.
        AttString = 10 => "ATT_STRING",
        /// `sequence<DevState>`.
        AttState = 11 => "ATT_STATE",
        /// One `DevState` (the `State` attribute).
        DeviceState = 12 => "DEVICE_STATE",
        /// `sequence<DevEncoded>`.
        AttEncoded = 13 => "ATT_ENCODED",
        /// No data (a failed read): one boolean.
        #[default]
        AttNoData = 14 => "ATT_NO_DATA",
    }
}

crate::cdr_enum! {
    /// The discriminant of `ClntIdent` (the client's language).
    ///
    /// `CPP_6` and `JAVA_6` are IDL 6 additions: their names come from the cppTango 10.3.3
    /// library, `CPP_6` = 2 was observed on the wire, `JAVA_6` = 3 is inferred from the
    /// declaration order (wire-notes §6.3).
    #[derive(Default)]
    pub enum LockerLanguage {
        /// C++ (or Python through cppTango), IDL 5 form: the pid only.
        #[default]
        Cpp = 0 => "CPP",
        /// Java, IDL 5 form.
        Java = 1 => "JAVA",
        /// C++, IDL 6 form: the pid and a trace context.
        Cpp6 = 2 => "CPP_6",
        /// Java, IDL 6 form (inferred).
        Java6 = 3 => "JAVA_6",
    }
}

crate::cdr_struct! {
    /// A timestamp: seconds and microseconds since the Unix epoch, plus nanoseconds.
    ///
    /// `tv_nsec` is the part below the microsecond: cppTango 9 always sends 0, cppTango 10
    /// small values (0..999) (wire-notes §6.4), so the instant is
    /// `tv_sec + tv_usec·1e-6 + tv_nsec·1e-9`.
    #[derive(Copy, Eq)]
    pub struct TimeVal {
        /// Seconds since 1970-01-01T00:00:00Z.
        pub tv_sec: i32,
        /// Microseconds (0..1,000,000).
        pub tv_usec: i32,
        /// Nanoseconds below the microsecond.
        pub tv_nsec: i32,
    }
}

impl TimeVal {
    /// A timestamp from seconds since the epoch (rounded to the nanosecond; saturates
    /// outside the 32-bit range of `tv_sec`, which is what the wire can carry).
    pub fn from_secs_f64(secs: f64) -> Self {
        if !secs.is_finite() {
            return TimeVal::default();
        }
        let whole = secs.floor();
        let mut sec = whole.clamp(i32::MIN as f64, i32::MAX as f64) as i64;
        let mut ns = ((secs - whole) * 1e9).round() as i64;
        if ns >= 1_000_000_000 {
            sec += 1;
            ns -= 1_000_000_000;
        }
        let sec = sec.clamp(i32::MIN as i64, i32::MAX as i64) as i32;
        TimeVal {
            tv_sec: sec,
            tv_usec: (ns / 1000) as i32,
            tv_nsec: (ns % 1000) as i32,
        }
    }

    /// Seconds since the epoch.
    pub fn as_secs_f64(&self) -> f64 {
        self.tv_sec as f64 + self.tv_usec as f64 * 1e-6 + self.tv_nsec as f64 * 1e-9
    }

    /// A timestamp from a system time (saturating outside the 32-bit seconds range).
    pub fn from_system_time(t: SystemTime) -> Self {
        let (neg, d) = match t.duration_since(UNIX_EPOCH) {
            Ok(d) => (false, d),
            Err(e) => (true, e.duration()),
        };
        let total_ns = d.as_nanos() as i128;
        let total_ns = if neg { -total_ns } else { total_ns };
        let sec = total_ns.div_euclid(1_000_000_000);
        let ns = total_ns.rem_euclid(1_000_000_000) as i64;
        if sec > i32::MAX as i128 {
            return TimeVal {
                tv_sec: i32::MAX,
                tv_usec: 999_999,
                tv_nsec: 999,
            };
        }
        if sec < i32::MIN as i128 {
            return TimeVal {
                tv_sec: i32::MIN,
                tv_usec: 0,
                tv_nsec: 0,
            };
        }
        TimeVal {
            tv_sec: sec as i32,
            tv_usec: (ns / 1000) as i32,
            tv_nsec: (ns % 1000) as i32,
        }
    }

    /// The timestamp as a system time. Out-of-range sub-second fields (garbage from a
    /// peer) are taken as they are, added to the seconds.
    pub fn to_system_time(&self) -> SystemTime {
        let ns = self.tv_sec as i128 * 1_000_000_000
            + self.tv_usec as i128 * 1000
            + self.tv_nsec as i128;
        if ns >= 0 {
            UNIX_EPOCH + Duration::from_nanos(ns as u64)
        } else {
            UNIX_EPOCH - Duration::from_nanos((-ns) as u64)
        }
    }
}

macro_rules! cmd_arg_types {
    ($($(#[$m:meta])* $variant:ident = $val:literal),* $(,)?) => {
        /// Tango's data type codes (`Tango::CmdArgType`): not an IDL enum but plain `long`s
        /// in `DevCmdInfo.in_type`, `AttributeConfig.data_type`, `AttributeValue_5.data_type`...
        ///
        /// `Display` and [`CmdArgType::name`] give the cppTango name (`DevDouble`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        #[repr(i32)]
        pub enum CmdArgType {
            $($(#[$m])* $variant = $val,)*
        }

        impl CmdArgType {
            /// Every type code, in numeric order.
            pub const ALL: &'static [CmdArgType] = &[$(CmdArgType::$variant),*];

            /// The cppTango name (`DevDouble`, `DevVarStringArray`, `Unknown`...).
            pub fn name(self) -> &'static str {
                match self { $(CmdArgType::$variant => stringify!($variant)),* }
            }
        }

        impl TryFrom<i32> for CmdArgType {
            type Error = i32;
            fn try_from(v: i32) -> Result<Self, i32> {
                match v { $($val => Ok(CmdArgType::$variant),)* other => Err(other) }
            }
        }
    };
}

cmd_arg_types! {
    /// No data.
    #[default]
    DevVoid = 0,
    /// `boolean`.
    DevBoolean = 1,
    /// `short`.
    DevShort = 2,
    /// `long` (32 bits).
    DevLong = 3,
    /// `float`.
    DevFloat = 4,
    /// `double`.
    DevDouble = 5,
    /// `unsigned short`.
    DevUShort = 6,
    /// `unsigned long`.
    DevULong = 7,
    /// `string`.
    DevString = 8,
    /// `sequence<octet>`.
    DevVarCharArray = 9,
    /// `sequence<short>`.
    DevVarShortArray = 10,
    /// `sequence<long>`.
    DevVarLongArray = 11,
    /// `sequence<float>`.
    DevVarFloatArray = 12,
    /// `sequence<double>`.
    DevVarDoubleArray = 13,
    /// `sequence<unsigned short>`.
    DevVarUShortArray = 14,
    /// `sequence<unsigned long>`.
    DevVarULongArray = 15,
    /// `sequence<string>`.
    DevVarStringArray = 16,
    /// `struct { sequence<long>, sequence<string> }`.
    DevVarLongStringArray = 17,
    /// `struct { sequence<double>, sequence<string> }`.
    DevVarDoubleStringArray = 18,
    /// `DevState`.
    DevState = 19,
    /// A constant string (sent as `DevString`).
    ConstDevString = 20,
    /// `sequence<boolean>`.
    DevVarBooleanArray = 21,
    /// `octet`.
    DevUChar = 22,
    /// `long long`.
    DevLong64 = 23,
    /// `unsigned long long`.
    DevULong64 = 24,
    /// `sequence<long long>`.
    DevVarLong64Array = 25,
    /// `sequence<unsigned long long>`.
    DevVarULong64Array = 26,
    /// An old integer type.
    DevInt = 27,
    /// `DevEncoded` (format string + bytes).
    DevEncoded = 28,
    /// An enumerated value (sent as `short`).
    DevEnum = 29,
    /// A pipe blob.
    DevPipeBlob = 30,
    /// `sequence<DevState>`.
    DevVarStateArray = 31,
    /// Unknown type.
    Unknown = 100,
}

impl CmdArgType {
    /// Looks a type up by name, case-insensitively, with or without a `Tango::` prefix
    /// (cppTango error messages say `Tango::DevString`).
    pub fn from_name(s: &str) -> Option<Self> {
        let s = s.trim();
        let s = s
            .strip_prefix("Tango::")
            .or_else(|| s.strip_prefix("tango::"))
            .unwrap_or(s);
        Self::ALL
            .iter()
            .copied()
            .find(|t| t.name().eq_ignore_ascii_case(s))
    }

    /// The numeric code.
    pub fn code(self) -> i32 {
        self as i32
    }
}

impl From<CmdArgType> for i32 {
    fn from(t: CmdArgType) -> i32 {
        t as i32
    }
}

impl std::fmt::Display for CmdArgType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl CdrEncode for CmdArgType {
    fn encode(&self, w: &mut CdrWriter) {
        w.write_long(*self as i32)
    }
}

impl CdrDecode for CmdArgType {
    const MIN_SIZE: usize = 4;
    fn decode(r: &mut CdrReader<'_>) -> DecodeResult<Self> {
        let v = r.read_long()?;
        CmdArgType::try_from(v).map_err(|v| r.invalid("CmdArgType", v as u32 as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_codes() {
        assert_eq!(DevState::On.to_string(), "ON");
        assert_eq!(AttrQuality::Valid.to_string(), "ATTR_VALID");
        assert_eq!(AttrWriteType::ReadWrite.to_string(), "READ_WRITE");
        assert_eq!(DevSource::CacheDev as u32, 2);
        assert_eq!(DevState::ALL.len(), 14);
        assert_eq!(CmdArgType::try_from(13), Ok(CmdArgType::DevVarDoubleArray));
        assert_eq!(CmdArgType::try_from(100), Ok(CmdArgType::Unknown));
        assert_eq!(CmdArgType::try_from(32), Err(32));
        assert_eq!(CmdArgType::DevDouble.to_string(), "DevDouble");
        assert_eq!(
            CmdArgType::from_name("tango::devstring"),
            Some(CmdArgType::DevString)
        );
        assert_eq!(
            CmdArgType::from_name("DEVVARSTATEARRAY"),
            Some(CmdArgType::DevVarStateArray)
        );
        for t in CmdArgType::ALL {
            assert_eq!(CmdArgType::try_from(t.code()), Ok(*t));
            assert_eq!(CmdArgType::from_name(t.name()), Some(*t));
        }
    }

    #[test]
    fn timeval_conversions() {
        // f64 resolves nanoseconds only for small values (1e-7 s at 2023 epochs)
        let t = TimeVal::from_secs_f64(1_000.123_456_789);
        assert_eq!(t.tv_sec, 1000);
        assert_eq!(t.tv_usec, 123_456);
        assert!((t.tv_nsec - 789).abs() <= 1);
        let t = TimeVal::from_secs_f64(1_700_000_000.25);
        assert_eq!(
            (t.tv_sec, t.tv_usec, t.tv_nsec),
            (1_700_000_000, 250_000, 0)
        );
        assert!((t.as_secs_f64() - 1_700_000_000.25).abs() < 1e-6);
        let st = UNIX_EPOCH + Duration::new(1_600_000_000, 987_654_321);
        let t = TimeVal::from_system_time(st);
        assert_eq!(
            t,
            TimeVal {
                tv_sec: 1_600_000_000,
                tv_usec: 987_654,
                tv_nsec: 321
            }
        );
        assert_eq!(t.to_system_time(), st);
        let before = UNIX_EPOCH - Duration::new(1, 500_000_000);
        let t = TimeVal::from_system_time(before);
        assert_eq!((t.tv_sec, t.tv_usec), (-2, 500_000));
        assert_eq!(t.to_system_time(), before);
        assert_eq!(TimeVal::from_secs_f64(0.999_999_999_9).tv_sec, 1);
    }
}
