//! Building attribute values for replies: read part plus set point, quality from the
//! alarm limits, the IDL 5/4/3/1 forms, and the small conversions between unions, `any`s
//! and [`AttrData`].

use crate::any::{Any, CommandData};
use crate::device::{AttrDef, AttrReading};
use crate::idl::{
    AttrDataFormat, AttrQuality, AttrValUnion, AttrWriteType, AttributeConfig5, AttributeDataType,
    AttributeDim, AttributeValue, AttributeValue3, AttributeValue4, AttributeValue5, CmdArgType,
    DevEncoded, DevError, DevFailed, DevState, TimeVal,
};
use crate::value::{AttrData, WriteValue};

/// One attribute value, version-independent, ready to be put in any reply form.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Built {
    pub name: String,
    pub value: AttrValUnion,
    pub quality: AttrQuality,
    pub format: AttrDataFormat,
    pub data_type: i32,
    pub time: TimeVal,
    pub r_dim: AttributeDim,
    pub w_dim: AttributeDim,
    pub errors: Vec<DevError>,
}

impl Built {
    /// A failed read: `ATT_NO_DATA`, `ATTR_INVALID`, `FMT_UNKNOWN`, type 0, no dims.
    pub fn failed(name: &str, err: DevFailed, time: TimeVal) -> Self {
        Built {
            name: name.to_owned(),
            value: AttrValUnion::NoData(true),
            quality: AttrQuality::Invalid,
            format: AttrDataFormat::FmtUnknown,
            data_type: 0,
            time,
            r_dim: AttributeDim::default(),
            w_dim: AttributeDim::default(),
            errors: err.errors,
        }
    }

    /// The `State` attribute.
    pub fn state(name: &str, s: DevState, time: TimeVal) -> Self {
        Built {
            name: name.to_owned(),
            value: AttrValUnion::DevState(s),
            quality: AttrQuality::Valid,
            format: AttrDataFormat::Scalar,
            data_type: CmdArgType::DevState as i32,
            time,
            r_dim: AttributeDim::new(1, 0),
            w_dim: AttributeDim::new(0, 0),
            errors: Vec::new(),
        }
    }

    /// The `Status` attribute.
    pub fn status(name: &str, s: String, time: TimeVal) -> Self {
        Built {
            name: name.to_owned(),
            value: AttrValUnion::String(vec![s]),
            quality: AttrQuality::Valid,
            format: AttrDataFormat::Scalar,
            data_type: CmdArgType::DevString as i32,
            time,
            r_dim: AttributeDim::new(1, 0),
            w_dim: AttributeDim::new(0, 0),
            errors: Vec::new(),
        }
    }

    pub fn is_failed(&self) -> bool {
        !self.errors.is_empty()
    }

    pub fn into_v5(self) -> AttributeValue5 {
        AttributeValue5 {
            value: self.value,
            quality: self.quality,
            data_format: self.format,
            data_type: self.data_type,
            time: self.time,
            name: self.name,
            r_dim: self.r_dim,
            w_dim: self.w_dim,
            err_list: self.errors,
        }
    }

    pub fn into_v4(self) -> AttributeValue4 {
        AttributeValue4 {
            value: self.value,
            quality: self.quality,
            data_format: self.format,
            time: self.time,
            name: self.name,
            r_dim: self.r_dim,
            w_dim: self.w_dim,
            err_list: self.errors,
        }
    }

    pub fn into_v3(self) -> AttributeValue3 {
        AttributeValue3 {
            value: Any(union_to_any(self.value)),
            quality: self.quality,
            time: self.time,
            name: self.name,
            r_dim: self.r_dim,
            w_dim: self.w_dim,
            err_list: self.errors,
        }
    }

    pub fn into_v1(self) -> AttributeValue {
        AttributeValue {
            value: Any(union_to_any(self.value)),
            quality: self.quality,
            time: self.time,
            name: self.name,
            dim_x: self.r_dim.dim_x,
            dim_y: self.r_dim.dim_y,
        }
    }
}

/// Builds the value of a (non built-in) attribute from what the device read and the set
/// point the server keeps. `reading` is `None` for a WRITE attribute served from its set
/// point alone.
pub(crate) fn build(
    def: &AttrDef,
    config: &AttributeConfig5,
    reading: Option<AttrReading>,
    set_point: Option<&WriteValue>,
    now: TimeVal,
) -> Built {
    let name = def.name();
    let declared = def.data_type;
    let writable = def.writable();
    let has_write_part = matches!(
        writable,
        AttrWriteType::ReadWrite | AttrWriteType::ReadWithWrite | AttrWriteType::Write
    );
    // The write part: the set point, or for scalars a zero of the type (cppTango shows 0).
    let (w_data, w_dim) = match (has_write_part, set_point) {
        (false, _) => (None, AttributeDim::new(0, 0)),
        (true, Some(sp)) => (
            sp.data.clone().convert_to(declared).ok(),
            AttributeDim::new(sp.dim_x as i32, sp.dim_y as i32),
        ),
        (true, None) if def.format() == AttrDataFormat::Scalar => {
            (zero_of(declared), AttributeDim::new(1, 0))
        }
        (true, None) => (AttrData::empty(declared).ok(), AttributeDim::new(0, 0)),
    };
    let reading = match reading {
        Some(r) => r,
        None => {
            // WRITE attribute without a read handler: the read value is the set point.
            let data = match w_data.clone() {
                Some(d) => d,
                None => {
                    return Built::failed(
                        name,
                        DevFailed::new(
                            "API_AttrValueNotSet",
                            format!("Value for attribute {name} has not been updated"),
                            "Device_3Impl::read_attributes_no_except",
                        ),
                        now,
                    )
                }
            };
            AttrReading::new(
                data,
                w_dim.dim_x.max(0) as usize,
                w_dim.dim_y.max(0) as usize,
            )
        }
    };
    let data = if reading.data.data_type() == declared {
        reading.data
    } else {
        match reading.data.clone().convert_to(declared) {
            Ok(d) => d,
            Err(e) => {
                return Built::failed(
                    name,
                    DevFailed::new(
                        "API_IncompatibleAttrDataType",
                        format!(
                            "the device returned {} for attribute {name} of type {declared}: {e}",
                            reading.data.data_type()
                        ),
                        "Dispatcher::read_attribute",
                    ),
                    now,
                )
            }
        }
    };
    let (r_x, r_y) = match def.format() {
        AttrDataFormat::Scalar => (1, 0),
        AttrDataFormat::Spectrum => (data.len(), 0),
        _ => (reading.dim_x, reading.dim_y),
    };
    let quality = reading
        .quality
        .unwrap_or_else(|| alarm_quality(&data, config));
    let all = match (writable, w_data) {
        (AttrWriteType::Read, _) | (_, None) => data,
        (_, Some(w)) => concat(data, w),
    };
    Built {
        name: name.to_owned(),
        value: all.into_union(),
        quality,
        format: def.format(),
        data_type: declared as i32,
        time: reading.time.unwrap_or(now),
        r_dim: AttributeDim::new(r_x as i32, r_y as i32),
        w_dim,
        errors: Vec::new(),
    }
}

/// A limit of the live configuration (`"Not specified"` and garbage are no limit).
pub(crate) fn limit(s: &str) -> Option<f64> {
    s.trim().parse::<f64>().ok().filter(|v| !v.is_nan())
}

/// `ATTR_ALARM` outside min/max_alarm, `ATTR_WARNING` outside min/max_warning.
pub(crate) fn alarm_quality(data: &AttrData, cfg: &AttributeConfig5) -> AttrQuality {
    let Some(nums) = numbers(data) else {
        return AttrQuality::Valid;
    };
    let outside = |lo: &str, hi: &str| {
        let (lo, hi) = (limit(lo), limit(hi));
        nums.iter()
            .any(|v| lo.is_some_and(|l| *v < l) || hi.is_some_and(|h| *v > h))
    };
    let a = &cfg.att_alarm;
    if outside(&a.min_alarm, &a.max_alarm) {
        AttrQuality::Alarm
    } else if outside(&a.min_warning, &a.max_warning) {
        AttrQuality::Warning
    } else {
        AttrQuality::Valid
    }
}

/// The elements as numbers, for the numeric types.
pub(crate) fn numbers(d: &AttrData) -> Option<Vec<f64>> {
    Some(match d {
        AttrData::Short(v) | AttrData::Enum(v) => v.iter().map(|&x| x as f64).collect(),
        AttrData::Long(v) => v.iter().map(|&x| x as f64).collect(),
        AttrData::Long64(v) => v.iter().map(|&x| x as f64).collect(),
        AttrData::Float(v) => v.iter().map(|&x| x as f64).collect(),
        AttrData::Double(v) => v.clone(),
        AttrData::UChar(v) => v.iter().map(|&x| x as f64).collect(),
        AttrData::UShort(v) => v.iter().map(|&x| x as f64).collect(),
        AttrData::ULong(v) => v.iter().map(|&x| x as f64).collect(),
        AttrData::ULong64(v) => v.iter().map(|&x| x as f64).collect(),
        _ => return None,
    })
}

/// One zero element of a type (the set point of a never-written scalar).
pub(crate) fn zero_of(t: CmdArgType) -> Option<AttrData> {
    Some(match t {
        CmdArgType::DevBoolean => AttrData::Bool(vec![false]),
        CmdArgType::DevShort => AttrData::Short(vec![0]),
        CmdArgType::DevEnum => AttrData::Enum(vec![0]),
        CmdArgType::DevLong => AttrData::Long(vec![0]),
        CmdArgType::DevLong64 => AttrData::Long64(vec![0]),
        CmdArgType::DevFloat => AttrData::Float(vec![0.0]),
        CmdArgType::DevDouble => AttrData::Double(vec![0.0]),
        CmdArgType::DevUChar => AttrData::UChar(vec![0]),
        CmdArgType::DevUShort => AttrData::UShort(vec![0]),
        CmdArgType::DevULong => AttrData::ULong(vec![0]),
        CmdArgType::DevULong64 => AttrData::ULong64(vec![0]),
        CmdArgType::DevString => AttrData::String(vec![String::new()]),
        CmdArgType::DevState => AttrData::State(vec![DevState::Unknown]),
        CmdArgType::DevEncoded => AttrData::Encoded(vec![DevEncoded::default()]),
        _ => return None,
    })
}

/// `a` followed by `b` (same type; `a` alone otherwise).
pub(crate) fn concat(a: AttrData, b: AttrData) -> AttrData {
    macro_rules! cat {
        ($($v:ident),*) => {
            match (a, b) {
                $( (AttrData::$v(mut x), AttrData::$v(y)) => { x.extend(y); AttrData::$v(x) } )*
                (a, _) => a,
            }
        };
    }
    cat!(
        Bool, Short, Long, Long64, Float, Double, UChar, UShort, ULong, ULong64, String, State,
        Encoded, Enum
    )
}

/// The union branch cppTango requires for a write of the declared type.
pub(crate) fn expected_union(t: CmdArgType) -> Option<AttributeDataType> {
    use AttributeDataType as D;
    Some(match t {
        CmdArgType::DevBoolean => D::AttBool,
        CmdArgType::DevShort | CmdArgType::DevEnum => D::AttShort,
        CmdArgType::DevLong => D::AttLong,
        CmdArgType::DevLong64 => D::AttLong64,
        CmdArgType::DevFloat => D::AttFloat,
        CmdArgType::DevDouble => D::AttDouble,
        CmdArgType::DevUChar => D::AttUChar,
        CmdArgType::DevUShort => D::AttUShort,
        CmdArgType::DevULong => D::AttULong,
        CmdArgType::DevULong64 => D::AttULong64,
        CmdArgType::DevString => D::AttString,
        CmdArgType::DevState => D::AttState,
        CmdArgType::DevEncoded => D::AttEncoded,
        _ => return None,
    })
}

/// The array type cppTango names in write type errors (`Tango::DevVarDoubleArray`).
pub(crate) fn array_type_name(t: CmdArgType) -> &'static str {
    match t {
        CmdArgType::DevBoolean => "DevVarBooleanArray",
        CmdArgType::DevShort | CmdArgType::DevEnum => "DevVarShortArray",
        CmdArgType::DevLong => "DevVarLongArray",
        CmdArgType::DevLong64 => "DevVarLong64Array",
        CmdArgType::DevFloat => "DevVarFloatArray",
        CmdArgType::DevDouble => "DevVarDoubleArray",
        CmdArgType::DevUChar => "DevVarCharArray",
        CmdArgType::DevUShort => "DevVarUShortArray",
        CmdArgType::DevULong => "DevVarULongArray",
        CmdArgType::DevULong64 => "DevVarULong64Array",
        CmdArgType::DevString => "DevVarStringArray",
        CmdArgType::DevState => "DevVarStateArray",
        CmdArgType::DevEncoded => "DevVarEncodedArray",
        _ => "Unknown",
    }
}

/// An attribute value as the `any` of IDL 1-3 (`DevVarDoubleArray`... also for scalars).
pub(crate) fn union_to_any(u: AttrValUnion) -> CommandData {
    use AttrValUnion as U;
    use CommandData as C;
    match u {
        U::Bool(v) => C::BooleanArray(v),
        U::Short(v) => C::ShortArray(v),
        U::Long(v) => C::LongArray(v),
        U::Long64(v) => C::Long64Array(v),
        U::Float(v) => C::FloatArray(v),
        U::Double(v) => C::DoubleArray(v),
        U::UChar(v) => C::CharArray(v),
        U::UShort(v) => C::UShortArray(v),
        U::ULong(v) => C::ULongArray(v),
        U::ULong64(v) => C::ULong64Array(v),
        U::String(v) => C::StringArray(v),
        U::State(v) => C::StateArray(v),
        U::DevState(s) => C::State(s),
        U::Encoded(v) => v.into_iter().next().map_or(C::Void, C::Encoded),
        U::NoData(_) => C::Void,
    }
}

/// The elements of an IDL 1-3 written `any` (arrays or scalars) as a union.
pub(crate) fn any_to_union(c: CommandData) -> Option<AttrValUnion> {
    use AttrValUnion as U;
    use CommandData as C;
    Some(match c {
        C::Boolean(v) => U::Bool(vec![v]),
        C::BooleanArray(v) => U::Bool(v),
        C::Short(v) | C::Enum(v) => U::Short(vec![v]),
        C::ShortArray(v) => U::Short(v),
        C::Long(v) => U::Long(vec![v]),
        C::LongArray(v) => U::Long(v),
        C::Long64(v) => U::Long64(vec![v]),
        C::Long64Array(v) => U::Long64(v),
        C::Float(v) => U::Float(vec![v]),
        C::FloatArray(v) => U::Float(v),
        C::Double(v) => U::Double(vec![v]),
        C::DoubleArray(v) => U::Double(v),
        C::UChar(v) => U::UChar(vec![v]),
        C::CharArray(v) => U::UChar(v),
        C::UShort(v) => U::UShort(vec![v]),
        C::UShortArray(v) => U::UShort(v),
        C::ULong(v) => U::ULong(vec![v]),
        C::ULongArray(v) => U::ULong(v),
        C::ULong64(v) => U::ULong64(vec![v]),
        C::ULong64Array(v) => U::ULong64(v),
        C::String(v) => U::String(vec![v]),
        C::StringArray(v) => U::String(v),
        C::State(s) => U::State(vec![s]),
        C::StateArray(v) => U::State(v),
        C::Encoded(e) => U::Encoded(vec![e]),
        C::Void | C::LongStringArray(..) | C::DoubleStringArray(..) => return None,
    })
}

/// A command result as a union (for command histories).
pub(crate) fn command_to_union(c: CommandData) -> Option<AttrValUnion> {
    any_to_union(c)
}

/// `DD/MM/YYYY HH:MM:SS:cc` (UTC, hundredths), the black-box date format of cppTango.
pub(crate) fn format_time(t: TimeVal) -> String {
    let secs = t.tv_sec as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{d:02}/{m:02}/{y:04} {:02}:{:02}:{:02}:{:02}",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60,
        (t.tv_usec.clamp(0, 999_999) / 10_000)
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        // 2026-11-26 11:02:19.82 UTC
        let t = TimeVal {
            tv_sec: 1_795_690_939,
            tv_usec: 820_000,
            tv_nsec: 0,
        };
        assert_eq!(format_time(t), "26/11/2026 11:02:19:82");
        assert_eq!(format_time(TimeVal::default()), "01/01/1970 00:00:00:00");
    }

    #[test]
    fn concat_and_zero() {
        let a = concat(
            AttrData::Double(vec![1.0]),
            zero_of(CmdArgType::DevDouble).unwrap(),
        );
        assert_eq!(a, AttrData::Double(vec![1.0, 0.0]));
    }
}
