//! Polling history structs (`read_attribute_history_*`, `command_inout_history_*`).
//! Decode/encode only; not exercised by the captures.

use crate::any::Any;

use super::attribute::{AttributeDim, AttributeValue, AttributeValue3};
use super::error::DevError;
use super::types::{AttrDataFormat, AttrQuality, TimeVal};

crate::cdr_struct! {
    /// A run of equal entries in a compressed history: `nb_elt` entries from `start`.
    #[derive(Copy, Eq)]
    pub struct EltInArray {
        /// Index of the first entry.
        pub start: i32,
        /// Number of entries.
        pub nb_elt: i32,
    }
}

crate::cdr_struct! {
    /// `DevCmdHistory` (IDL 1 command history entry).
    pub struct DevCmdHistory {
        /// When.
        pub time: TimeVal,
        /// Whether the command failed.
        pub cmd_failed: bool,
        /// The result.
        pub value: Any,
        /// Its errors.
        pub errors: Vec<DevError>,
    }
}

crate::cdr_struct! {
    /// `DevAttrHistory` (IDL 1 attribute history entry).
    pub struct DevAttrHistory {
        /// Whether the read failed.
        pub attr_failed: bool,
        /// The value.
        pub value: AttributeValue,
        /// Its errors.
        pub errors: Vec<DevError>,
    }
}

crate::cdr_struct! {
    /// `DevAttrHistory_3`.
    pub struct DevAttrHistory3 {
        /// Whether the read failed.
        pub attr_failed: bool,
        /// The value.
        pub value: AttributeValue3,
    }
}

crate::cdr_struct! {
    /// `DevAttrHistory_4`: a whole attribute history, values concatenated in one `any`.
    pub struct DevAttrHistory4 {
        /// Attribute name.
        pub name: String,
        /// One date per entry.
        pub dates: Vec<TimeVal>,
        /// All values.
        pub value: Any,
        /// Qualities (compressed by `quals_array`).
        pub quals: Vec<AttrQuality>,
        /// Runs of qualities.
        pub quals_array: Vec<EltInArray>,
        /// Read dimensions.
        pub r_dims: Vec<AttributeDim>,
        /// Runs of read dimensions.
        pub r_dims_array: Vec<EltInArray>,
        /// Write dimensions.
        pub w_dims: Vec<AttributeDim>,
        /// Runs of write dimensions.
        pub w_dims_array: Vec<EltInArray>,
        /// Error stacks.
        pub errors: Vec<Vec<DevError>>,
        /// Runs of error stacks.
        pub errors_array: Vec<EltInArray>,
    }
}

crate::cdr_struct! {
    /// `DevAttrHistory_5`: `DevAttrHistory_4` plus format and type.
    pub struct DevAttrHistory5 {
        /// Attribute name.
        pub name: String,
        /// Shape.
        pub data_format: AttrDataFormat,
        /// Tango type code.
        pub data_type: i32,
        /// One date per entry.
        pub dates: Vec<TimeVal>,
        /// All values.
        pub value: Any,
        /// Qualities.
        pub quals: Vec<AttrQuality>,
        /// Runs of qualities.
        pub quals_array: Vec<EltInArray>,
        /// Read dimensions.
        pub r_dims: Vec<AttributeDim>,
        /// Runs of read dimensions.
        pub r_dims_array: Vec<EltInArray>,
        /// Write dimensions.
        pub w_dims: Vec<AttributeDim>,
        /// Runs of write dimensions.
        pub w_dims_array: Vec<EltInArray>,
        /// Error stacks.
        pub errors: Vec<Vec<DevError>>,
        /// Runs of error stacks.
        pub errors_array: Vec<EltInArray>,
    }
}

crate::cdr_struct! {
    /// `DevCmdHistory_4`: a whole command history, results concatenated in one `any`.
    pub struct DevCmdHistory4 {
        /// One date per entry.
        pub dates: Vec<TimeVal>,
        /// All results.
        pub value: Any,
        /// Dimensions.
        pub dims: Vec<AttributeDim>,
        /// Runs of dimensions.
        pub dims_array: Vec<EltInArray>,
        /// Error stacks.
        pub errors: Vec<Vec<DevError>>,
        /// Runs of error stacks.
        pub errors_array: Vec<EltInArray>,
        /// Tango type code of the command result.
        pub cmd_type: i32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::any::CommandData;
    use crate::cdr::{ByteOrder, CdrDecode, CdrEncode, CdrReader, CdrWriter};

    #[test]
    fn history_round_trips() {
        let h = DevAttrHistory5 {
            name: "double_scalar".into(),
            data_type: 5,
            dates: vec![TimeVal::from_secs_f64(1.5); 2],
            value: Any(CommandData::DoubleArray(vec![1.0, 2.0])),
            quals: vec![AttrQuality::Valid, AttrQuality::Alarm],
            quals_array: vec![EltInArray {
                start: 0,
                nb_elt: 2,
            }],
            errors: vec![vec![DevError::new("a", "b", "c")]],
            ..Default::default()
        };
        let mut w = CdrWriter::new();
        h.encode(&mut w);
        let mut r = CdrReader::new(w.as_bytes(), ByteOrder::Little);
        assert_eq!(DevAttrHistory5::decode(&mut r).unwrap(), h);

        let c = DevCmdHistory4 {
            value: Any(CommandData::LongArray(vec![1, 2])),
            cmd_type: 3,
            ..Default::default()
        };
        let mut w = CdrWriter::new();
        c.encode(&mut w);
        let mut r = CdrReader::new(w.as_bytes(), ByteOrder::Little);
        assert_eq!(DevCmdHistory4::decode(&mut r).unwrap(), c);
    }
}
