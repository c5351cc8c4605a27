//! Values the conformance cases send, and how they compare what comes back: boundary values
//! of every Tango type, NaN-aware equality for attribute data and command data, and the
//! write value of an attribute format.

use tango::{AttrData, AttrDataFormat, CmdArgType, CommandData, WriteValue};

/// Equality of floating-point slices where NaN equals NaN (we send NaN on purpose).
fn same_floats<T: PartialEq + Copy>(a: &[T], b: &[T], is_nan: fn(T) -> bool) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(p, q)| p == q || (is_nan(*p) && is_nan(*q)))
}

/// Attribute data equality that treats NaN as equal to NaN; otherwise `==`.
pub fn same(a: &AttrData, b: &AttrData) -> bool {
    match (a, b) {
        (AttrData::Double(x), AttrData::Double(y)) => same_floats(x, y, f64::is_nan),
        (AttrData::Float(x), AttrData::Float(y)) => same_floats(x, y, f32::is_nan),
        _ => a == b,
    }
}

/// Command data equality that treats NaN as equal to NaN; otherwise `==`.
pub fn same_cmd(a: &CommandData, b: &CommandData) -> bool {
    match (a, b) {
        (CommandData::Double(x), CommandData::Double(y)) => same_floats(&[*x], &[*y], f64::is_nan),
        (CommandData::Float(x), CommandData::Float(y)) => same_floats(&[*x], &[*y], f32::is_nan),
        (CommandData::DoubleArray(x), CommandData::DoubleArray(y)) => {
            same_floats(x, y, f64::is_nan)
        }
        (CommandData::FloatArray(x), CommandData::FloatArray(y)) => same_floats(x, y, f32::is_nan),
        (CommandData::DoubleStringArray(x, s), CommandData::DoubleStringArray(y, t)) => {
            s == t && same_floats(x, y, f64::is_nan)
        }
        _ => a == b,
    }
}

/// Boundary values of an attribute type (several elements: a spectrum, or one scalar each).
///
/// Floating-point values are finite: Tango servers refuse NaN and infinities in attribute
/// writes (`API_WAttrOutsideLimit`); commands carry them (see [`command_boundaries`]).
/// DevEnum values are indices into the labels (our TangoTest's enums have three). `None`
/// for types that have no attribute boundary set here (DevState, DevEncoded...).
pub fn boundary(t: CmdArgType) -> Option<AttrData> {
    Some(match t {
        CmdArgType::DevBoolean => AttrData::Bool(vec![true, false, true]),
        CmdArgType::DevShort => AttrData::Short(vec![i16::MIN, -1, 0, i16::MAX]),
        CmdArgType::DevLong => AttrData::Long(vec![i32::MIN, -1, 0, i32::MAX]),
        CmdArgType::DevLong64 => AttrData::Long64(vec![i64::MIN, -1, 0, i64::MAX]),
        CmdArgType::DevFloat => AttrData::Float(vec![f32::MIN, f32::MAX, 1.5, -0.0]),
        CmdArgType::DevDouble => {
            AttrData::Double(vec![f64::MIN, f64::MAX, f64::MIN_POSITIVE, -0.25])
        }
        CmdArgType::DevUChar => AttrData::UChar(vec![0, 1, 255]),
        CmdArgType::DevEnum => AttrData::Enum(vec![0, 2, 1]),
        CmdArgType::DevUShort => AttrData::UShort(vec![0, 1, u16::MAX]),
        CmdArgType::DevULong => AttrData::ULong(vec![0, 1, u32::MAX]),
        CmdArgType::DevULong64 => AttrData::ULong64(vec![0, 1, u64::MAX]),
        CmdArgType::DevString => AttrData::String(vec![
            String::new(),
            "with spaces and Latin-1: été".into(),
            "x".repeat(1000),
        ]),
        _ => return None,
    })
}

/// True for the numeric types (not string, boolean or enum).
pub fn is_numeric(t: CmdArgType) -> bool {
    !matches!(
        t,
        CmdArgType::DevString | CmdArgType::DevBoolean | CmdArgType::DevEnum
    )
}

/// `data` as a write value of `format`: one scalar, a spectrum, or an image of two rows
/// (the elements cut to an even count; an empty image is 0 x 0).
pub fn write_value_for(format: AttrDataFormat, data: AttrData) -> Result<WriteValue, String> {
    match format {
        AttrDataFormat::Scalar => Ok(WriteValue::scalar(data)),
        AttrDataFormat::Spectrum => Ok(WriteValue::spectrum(data)),
        AttrDataFormat::Image if data.is_empty() => {
            WriteValue::image(data, 0, 0).map_err(|e| e.to_string())
        }
        AttrDataFormat::Image => {
            let n = data.len() / 2 * 2;
            WriteValue::image(data.slice(0..n), n / 2, 2).map_err(|e| e.to_string())
        }
        f => Err(format!("no write value for format {f}")),
    }
}

/// The values written to an attribute of `format` and type `t` in turn: each boundary value
/// alone for a scalar; for a spectrum or image the whole boundary set, nothing, and its
/// first two elements.
pub fn write_sequence(format: AttrDataFormat, t: CmdArgType) -> Vec<AttrData> {
    let Some(b) = boundary(t) else {
        return Vec::new();
    };
    if format == AttrDataFormat::Scalar {
        (0..b.len()).map(|i| b.slice(i..i + 1)).collect()
    } else {
        vec![b.clone(), b.slice(0..0), b.slice(0..b.len().min(2))]
    }
}

/// Each echo command of TangoTest (`DevShort`, `DevVarDoubleArray`...) with the arguments
/// sent to it: the type's extremes, NaN and infinities for floating point (commands carry
/// them unchanged), empty arrays, Latin-1 and 100,000-character strings, a 100,000-element
/// array.
pub fn command_boundaries(command: &str) -> Vec<CommandData> {
    let long = || "x".repeat(100_000);
    match command {
        "DevBoolean" => vec![CommandData::Boolean(true), CommandData::Boolean(false)],
        "DevShort" => vec![CommandData::Short(i16::MIN), CommandData::Short(i16::MAX)],
        "DevLong" => vec![CommandData::Long(i32::MIN), CommandData::Long(i32::MAX)],
        "DevLong64" => vec![CommandData::Long64(i64::MIN), CommandData::Long64(i64::MAX)],
        "DevUShort" => vec![CommandData::UShort(0), CommandData::UShort(u16::MAX)],
        "DevULong" => vec![CommandData::ULong(0), CommandData::ULong(u32::MAX)],
        "DevULong64" => vec![CommandData::ULong64(0), CommandData::ULong64(u64::MAX)],
        "DevFloat" => vec![
            CommandData::Float(f32::MAX),
            CommandData::Float(f32::MIN_POSITIVE),
            CommandData::Float(f32::NAN),
            CommandData::Float(f32::NEG_INFINITY),
        ],
        "DevDouble" => vec![
            CommandData::Double(f64::MIN_POSITIVE),
            CommandData::Double(f64::MIN),
            CommandData::Double(f64::NAN),
            CommandData::Double(f64::INFINITY),
            CommandData::Double(f64::NEG_INFINITY),
        ],
        "DevString" => vec![
            CommandData::String(String::new()),
            CommandData::String("Latin-1: àéîõü ÿ".into()),
            CommandData::String(long()),
        ],
        "DevVarCharArray" => vec![
            CommandData::CharArray(vec![]),
            CommandData::CharArray(vec![0, 127, 255]),
        ],
        "DevVarShortArray" => vec![
            CommandData::ShortArray(vec![]),
            CommandData::ShortArray(vec![i16::MIN, i16::MAX]),
        ],
        "DevVarLongArray" => vec![
            CommandData::LongArray(vec![]),
            CommandData::LongArray(vec![i32::MIN, 0, i32::MAX]),
        ],
        "DevVarLong64Array" => vec![
            CommandData::Long64Array(vec![]),
            CommandData::Long64Array(vec![i64::MIN, i64::MAX]),
        ],
        "DevVarUShortArray" => vec![
            CommandData::UShortArray(vec![]),
            CommandData::UShortArray(vec![0, u16::MAX]),
        ],
        "DevVarULongArray" => vec![
            CommandData::ULongArray(vec![]),
            CommandData::ULongArray(vec![0, u32::MAX]),
        ],
        "DevVarULong64Array" => vec![
            CommandData::ULong64Array(vec![]),
            CommandData::ULong64Array(vec![0, u64::MAX]),
        ],
        "DevVarFloatArray" => vec![
            CommandData::FloatArray(vec![]),
            CommandData::FloatArray(vec![f32::NAN, f32::INFINITY, -1.5]),
        ],
        "DevVarDoubleArray" => vec![
            CommandData::DoubleArray(vec![]),
            CommandData::DoubleArray(vec![f64::NAN, f64::NEG_INFINITY, 1e300]),
            CommandData::DoubleArray((0..100_000).map(f64::from).collect()),
        ],
        "DevVarStringArray" => vec![
            CommandData::StringArray(vec![]),
            CommandData::StringArray(vec![String::new(), "a b".into(), long()]),
        ],
        "DevVarLongStringArray" => vec![
            CommandData::LongStringArray(vec![], vec![]),
            CommandData::LongStringArray(vec![i32::MIN, i32::MAX], vec!["x".into(), String::new()]),
        ],
        "DevVarDoubleStringArray" => vec![
            CommandData::DoubleStringArray(vec![], vec![]),
            CommandData::DoubleStringArray(vec![f64::NAN, -0.5], vec!["é".into()]),
        ],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nan_equals_nan_and_nothing_else_changes() {
        let a = AttrData::Double(vec![1.0, f64::NAN]);
        assert!(same(&a, &a.clone()));
        assert!(!same(&a, &AttrData::Double(vec![1.0, 2.0])));
        assert!(!same(&a, &AttrData::Double(vec![1.0])));
        assert!(!same(&AttrData::Long(vec![1]), &AttrData::Long(vec![2])));
        assert!(same_cmd(
            &CommandData::Float(f32::NAN),
            &CommandData::Float(f32::NAN)
        ));
        assert!(!same_cmd(
            &CommandData::Float(1.0),
            &CommandData::Double(1.0)
        ));
        assert!(!same_cmd(
            &CommandData::DoubleStringArray(vec![f64::NAN], vec!["a".into()]),
            &CommandData::DoubleStringArray(vec![f64::NAN], vec!["b".into()])
        ));
    }

    #[test]
    fn write_values_have_the_format_s_shape() {
        let b = boundary(CmdArgType::DevShort).unwrap();
        let img = write_value_for(AttrDataFormat::Image, b.clone()).unwrap();
        assert_eq!((img.dim_x, img.dim_y), (2, 2));
        let empty = write_value_for(AttrDataFormat::Image, b.slice(0..0)).unwrap();
        assert_eq!((empty.dim_x, empty.dim_y), (0, 0));
        assert_eq!(
            write_sequence(AttrDataFormat::Scalar, CmdArgType::DevShort).len(),
            4
        );
        assert_eq!(
            write_sequence(AttrDataFormat::Spectrum, CmdArgType::DevShort).len(),
            3
        );
        assert!(write_sequence(AttrDataFormat::Scalar, CmdArgType::DevState).is_empty());
        assert!(command_boundaries("DevVarDoubleArray").len() == 3);
        assert!(command_boundaries("NoSuchCommand").is_empty());
    }
}
