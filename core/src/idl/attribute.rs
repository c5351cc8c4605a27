//! Attribute values: [`AttrValUnion`], [`AttributeValue5`] (what `read_attributes_5`
//! returns), [`AttributeValue4`] (what writes send) and the older any-based forms.
//!
//! Values are flat sequences: a scalar READ_WRITE attribute carries two elements (read
//! value, then set point), an image is row-major with `r_dim = (columns, rows)`
//! (wire-notes §6.4). Primitive sequences go through the bulk readers of
//! [`crate::cdr`], so a million doubles decode at about memory speed.

use crate::any::Any;
use crate::cdr::{CdrDecode, CdrEncode, CdrReader, CdrWriter, DecodeResult};

use super::error::DevError;
use super::types::{AttrDataFormat, AttrQuality, AttributeDataType, CmdArgType, DevState, TimeVal};

crate::cdr_struct! {
    /// The dimensions of an attribute value: `(dim_x, dim_y)` = (columns, rows);
    /// a scalar is `(1, 0)`, a spectrum `(n, 0)`.
    #[derive(Copy, Eq)]
    pub struct AttributeDim {
        /// Number of columns (elements for a spectrum).
        pub dim_x: i32,
        /// Number of rows (0 unless an image).
        pub dim_y: i32,
    }
}

impl AttributeDim {
    /// A dimension pair.
    pub fn new(dim_x: i32, dim_y: i32) -> Self {
        AttributeDim { dim_x, dim_y }
    }
}

crate::cdr_struct! {
    /// `DevEncoded`: bytes with a format name (`"JPEG"`, `"utf8"`...).
    #[derive(Eq)]
    pub struct DevEncoded {
        /// How `encoded_data` is to be read.
        pub encoded_format: String,
        /// The bytes.
        pub encoded_data: Vec<u8>,
    }
}

/// The value of an attribute (`AttrValUnion`): one sequence per Tango type, selected by
/// an [`AttributeDataType`] discriminant.
#[derive(Debug, Clone, PartialEq)]
pub enum AttrValUnion {
    /// `ATT_BOOL`.
    Bool(Vec<bool>),
    /// `ATT_SHORT`.
    Short(Vec<i16>),
    /// `ATT_LONG`.
    Long(Vec<i32>),
    /// `ATT_LONG64`.
    Long64(Vec<i64>),
    /// `ATT_FLOAT`.
    Float(Vec<f32>),
    /// `ATT_DOUBLE`.
    Double(Vec<f64>),
    /// `ATT_UCHAR`.
    UChar(Vec<u8>),
    /// `ATT_USHORT`.
    UShort(Vec<u16>),
    /// `ATT_ULONG`.
    ULong(Vec<u32>),
    /// `ATT_ULONG64`.
    ULong64(Vec<u64>),
    /// `ATT_STRING`.
    String(Vec<String>),
    /// `ATT_STATE`: a sequence of states.
    State(Vec<DevState>),
    /// `DEVICE_STATE`: one state, no sequence (the `State` attribute).
    DevState(DevState),
    /// `ATT_ENCODED`.
    Encoded(Vec<DevEncoded>),
    /// `ATT_NO_DATA`: a failed read (the boolean is what the server sent, `true` seen).
    NoData(bool),
}

impl Default for AttrValUnion {
    /// `NoData(true)`, what a server sends for a failed read.
    fn default() -> Self {
        AttrValUnion::NoData(true)
    }
}

impl AttrValUnion {
    /// The union discriminant.
    pub fn discriminant(&self) -> AttributeDataType {
        use AttrValUnion as U;
        use AttributeDataType as D;
        match self {
            U::Bool(_) => D::AttBool,
            U::Short(_) => D::AttShort,
            U::Long(_) => D::AttLong,
            U::Long64(_) => D::AttLong64,
            U::Float(_) => D::AttFloat,
            U::Double(_) => D::AttDouble,
            U::UChar(_) => D::AttUChar,
            U::UShort(_) => D::AttUShort,
            U::ULong(_) => D::AttULong,
            U::ULong64(_) => D::AttULong64,
            U::String(_) => D::AttString,
            U::State(_) => D::AttState,
            U::DevState(_) => D::DeviceState,
            U::Encoded(_) => D::AttEncoded,
            U::NoData(_) => D::AttNoData,
        }
    }

    /// Number of elements (1 for `DevState`, 0 for `NoData`).
    pub fn len(&self) -> usize {
        use AttrValUnion as U;
        match self {
            U::Bool(v) => v.len(),
            U::Short(v) => v.len(),
            U::Long(v) => v.len(),
            U::Long64(v) => v.len(),
            U::Float(v) => v.len(),
            U::Double(v) => v.len(),
            U::UChar(v) => v.len(),
            U::UShort(v) => v.len(),
            U::ULong(v) => v.len(),
            U::ULong64(v) => v.len(),
            U::String(v) => v.len(),
            U::State(v) => v.len(),
            U::DevState(_) => 1,
            U::Encoded(v) => v.len(),
            U::NoData(_) => 0,
        }
    }

    /// True if there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The Tango type of the elements (what `AttributeValue_5.data_type` says);
    /// `DevVoid` for `NoData`, as servers send 0 then.
    pub fn data_type(&self) -> CmdArgType {
        use AttrValUnion as U;
        match self {
            U::Bool(_) => CmdArgType::DevBoolean,
            U::Short(_) => CmdArgType::DevShort,
            U::Long(_) => CmdArgType::DevLong,
            U::Long64(_) => CmdArgType::DevLong64,
            U::Float(_) => CmdArgType::DevFloat,
            U::Double(_) => CmdArgType::DevDouble,
            U::UChar(_) => CmdArgType::DevUChar,
            U::UShort(_) => CmdArgType::DevUShort,
            U::ULong(_) => CmdArgType::DevULong,
            U::ULong64(_) => CmdArgType::DevULong64,
            U::String(_) => CmdArgType::DevString,
            U::State(_) | U::DevState(_) => CmdArgType::DevState,
            U::Encoded(_) => CmdArgType::DevEncoded,
            U::NoData(_) => CmdArgType::DevVoid,
        }
    }
}

impl CdrEncode for AttrValUnion {
    fn encode(&self, w: &mut CdrWriter) {
        use AttrValUnion as U;
        self.discriminant().encode(w);
        match self {
            U::Bool(v) => w.write_bool_seq(v),
            U::Short(v) => w.write_short_seq(v),
            U::Long(v) => w.write_long_seq(v),
            U::Long64(v) => w.write_longlong_seq(v),
            U::Float(v) => w.write_float_seq(v),
            U::Double(v) => w.write_double_seq(v),
            U::UChar(v) => w.write_octets(v),
            U::UShort(v) => w.write_ushort_seq(v),
            U::ULong(v) => w.write_ulong_seq(v),
            U::ULong64(v) => w.write_ulonglong_seq(v),
            U::String(v) => w.write_string_seq(v),
            U::State(v) => v.encode(w),
            U::DevState(s) => s.encode(w),
            U::Encoded(v) => v.encode(w),
            U::NoData(b) => w.write_bool(*b),
        }
    }
}

impl CdrDecode for AttrValUnion {
    const MIN_SIZE: usize = 5;
    fn decode(r: &mut CdrReader<'_>) -> DecodeResult<Self> {
        use AttrValUnion as U;
        use AttributeDataType as D;
        Ok(match AttributeDataType::decode(r)? {
            D::AttBool => U::Bool(r.read_bool_seq()?),
            D::AttShort => U::Short(r.read_short_seq()?),
            D::AttLong => U::Long(r.read_long_seq()?),
            D::AttLong64 => U::Long64(r.read_longlong_seq()?),
            D::AttFloat => U::Float(r.read_float_seq()?),
            D::AttDouble => U::Double(r.read_double_seq()?),
            D::AttUChar => U::UChar(r.read_octets()?.to_vec()),
            D::AttUShort => U::UShort(r.read_ushort_seq()?),
            D::AttULong => U::ULong(r.read_ulong_seq()?),
            D::AttULong64 => U::ULong64(r.read_ulonglong_seq()?),
            D::AttString => U::String(r.read_string_seq()?),
            D::AttState => U::State(r.read_seq("sequence<DevState>")?),
            D::DeviceState => U::DevState(DevState::decode(r)?),
            D::AttEncoded => U::Encoded(r.read_seq("sequence<DevEncoded>")?),
            D::AttNoData => U::NoData(r.read_bool()?),
        })
    }
}

crate::cdr_struct! {
    /// `AttributeValue` (IDL 1): the value in an `any`. Kept for old servers and
    /// `DevAttrHistory`.
    pub struct AttributeValue {
        /// The value.
        pub value: Any,
        /// Its quality.
        pub quality: AttrQuality,
        /// When it was read.
        pub time: TimeVal,
        /// The attribute name.
        pub name: String,
        /// Columns.
        pub dim_x: i32,
        /// Rows.
        pub dim_y: i32,
    }
}

crate::cdr_struct! {
    /// `AttributeValue_3`: the value in an `any`, with dimensions and errors.
    pub struct AttributeValue3 {
        /// The value.
        pub value: Any,
        /// Its quality.
        pub quality: AttrQuality,
        /// When it was read.
        pub time: TimeVal,
        /// The attribute name.
        pub name: String,
        /// Dimensions of the read part.
        pub r_dim: AttributeDim,
        /// Dimensions of the written part.
        pub w_dim: AttributeDim,
        /// Errors of a failed read.
        pub err_list: Vec<DevError>,
    }
}

crate::cdr_struct! {
    /// `AttributeValue_4`: what clients send in `write_attributes_4` and
    /// `write_read_attributes_5`.
    ///
    /// Clients leave `r_dim` uninitialised (garbage) and put `FMT_UNKNOWN` in
    /// `data_format`: a server must take the shape from `w_dim` (wire-notes §6.5).
    pub struct AttributeValue4 {
        /// The value.
        pub value: AttrValUnion,
        /// Its quality.
        pub quality: AttrQuality,
        /// Its shape (unreliable from clients).
        pub data_format: AttrDataFormat,
        /// When it was read (zero from clients).
        pub time: TimeVal,
        /// The attribute name.
        pub name: String,
        /// Dimensions of the read part (garbage from clients).
        pub r_dim: AttributeDim,
        /// Dimensions of the written part.
        pub w_dim: AttributeDim,
        /// Errors.
        pub err_list: Vec<DevError>,
    }
}

crate::cdr_struct! {
    /// `AttributeValue_5`: one element of the reply of `read_attributes_5`.
    ///
    /// A failed read is not an exception: it is a value `NoData`, quality
    /// `ATTR_INVALID`, with the errors in `err_list` (wire-notes §1.12).
    pub struct AttributeValue5 {
        /// The value (`[read, set point]` for a READ_WRITE scalar).
        pub value: AttrValUnion,
        /// Its quality.
        pub quality: AttrQuality,
        /// Its shape.
        pub data_format: AttrDataFormat,
        /// Tango type code ([`CmdArgType`]) as a plain `long`, so that a type this crate
        /// does not know does not make the whole reply fail.
        pub data_type: i32,
        /// When it was read (garbage for failed reads from cppTango 10).
        pub time: TimeVal,
        /// The attribute name.
        pub name: String,
        /// Dimensions of the read part.
        pub r_dim: AttributeDim,
        /// Dimensions of the written part.
        pub w_dim: AttributeDim,
        /// Errors of a failed read.
        pub err_list: Vec<DevError>,
    }
}

impl AttributeValue5 {
    /// `data_type` as a [`CmdArgType`], if known.
    pub fn arg_type(&self) -> Option<CmdArgType> {
        CmdArgType::try_from(self.data_type).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cdr::ByteOrder;

    fn all() -> Vec<AttrValUnion> {
        use AttrValUnion as U;
        vec![
            U::Bool(vec![true, false]),
            U::Short(vec![-1, 2]),
            U::Long(vec![3]),
            U::Long64(vec![-4, 1 << 40]),
            U::Float(vec![0.5]),
            U::Double(vec![40.047, 0.0]),
            U::UChar(vec![1, 2, 255]),
            U::UShort(vec![65535]),
            U::ULong(vec![u32::MAX]),
            U::ULong64(vec![u64::MAX, 0]),
            U::String(vec!["a".into(), "bc".into()]),
            U::State(vec![DevState::On, DevState::Alarm]),
            U::DevState(DevState::Running),
            U::Encoded(vec![DevEncoded {
                encoded_format: "f".into(),
                encoded_data: vec![9, 8],
            }]),
            U::NoData(true),
            U::Double(vec![]),
        ]
    }

    #[test]
    fn every_union_variant_round_trips() {
        for v in all() {
            for prefix in 0..8usize {
                let av = AttributeValue5 {
                    data_type: v.data_type().code(),
                    value: v.clone(),
                    name: "x".into(),
                    r_dim: AttributeDim::new(v.len() as i32, 0),
                    ..Default::default()
                };
                let mut w = CdrWriter::new();
                w.write_raw(&vec![0xAA; prefix]);
                av.encode(&mut w);
                let bytes = w.into_bytes();
                let mut r = CdrReader::at(&bytes, prefix, ByteOrder::Little);
                let back = AttributeValue5::decode(&mut r).unwrap();
                assert_eq!(back, av);
                assert_eq!(r.remaining(), 0);
            }
        }
    }

    #[test]
    fn value4_and_value3_round_trip() {
        let v4 = AttributeValue4 {
            value: AttrValUnion::Double(vec![1.5]),
            data_format: AttrDataFormat::FmtUnknown,
            name: "double_scalar".into(),
            w_dim: AttributeDim::new(1, 0),
            ..Default::default()
        };
        let mut w = CdrWriter::new();
        w.put(&vec![v4.clone()]);
        let mut r = CdrReader::new(w.as_bytes(), ByteOrder::Little);
        assert_eq!(r.get::<Vec<AttributeValue4>>().unwrap(), vec![v4]);

        let v3 = AttributeValue3 {
            value: Any(crate::any::CommandData::DoubleArray(vec![1.0, 2.0])),
            name: "wave".into(),
            err_list: vec![DevError::new("r", "d", "o")],
            ..Default::default()
        };
        let mut w = CdrWriter::new();
        v3.encode(&mut w);
        let mut r = CdrReader::new(w.as_bytes(), ByteOrder::Little);
        assert_eq!(AttributeValue3::decode(&mut r).unwrap(), v3);
    }

    #[test]
    fn bad_discriminant_is_an_error() {
        let mut r = CdrReader::new(&[15, 0, 0, 0, 0], ByteOrder::Little);
        assert!(AttrValUnion::decode(&mut r).is_err());
    }
}
