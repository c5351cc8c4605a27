//! Values on the command line: parsing the user's text for a Tango type and shape, and
//! the JSON form of attribute values and command results.
//!
//! Input forms:
//! - numbers: integers for integer types (range-checked, the error names the type),
//!   floats for `DevFloat`/`DevDouble` including `nan`, `inf`, `-inf` (any case);
//! - booleans: `true`/`false`/`1`/`0`, any case;
//! - a `DevString` scalar: the text verbatim; strings must be Latin-1 (Tango's encoding);
//! - spectra and arrays: JSON arrays (`[1,2,3]`, `["a","b"]`); images: arrays of rows
//!   (`[[1,2],[3,4]]`), all rows the same length;
//! - `DevState`: a state name (`ON`); `DevEnum`: the index or the label;
//! - `DevVarLongStringArray` / `DevVarDoubleStringArray`: `[[numbers],["strings"]]`;
//! - `DevEncoded`: `["format", [bytes]]` or `["format", "Latin-1 text"]`.
//!
//! Output ([`attr_data_json`], [`command_json`]) uses the same forms, with non-finite
//! floats as the strings `"NaN"`, `"Infinity"`, `"-Infinity"` (which the input accepts
//! back).

use std::fmt;

use serde_json::{json, Map, Value};
use tango::tango_core::idl::DevEncoded;
use tango::{
    AttrData, AttrDataFormat, CmdArgType, CommandData, DevState, DeviceAttribute, WriteValue,
};

use crate::jsonish::{self, Node};

/// Why a value could not be parsed for its Tango type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueError(pub String);

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ValueError {}

/// Result of parsing.
pub type Parsed<T> = Result<T, ValueError>;

fn err<T>(msg: impl Into<String>) -> Parsed<T> {
    Err(ValueError(msg.into()))
}

/// What is known about an attribute when parsing a value to write to it.
#[derive(Debug, Clone, PartialEq)]
pub struct AttrSpec {
    /// Element type.
    pub data_type: CmdArgType,
    /// Scalar, spectrum or image.
    pub data_format: AttrDataFormat,
    /// Labels of a `DevEnum` attribute (index = value).
    pub enum_labels: Vec<String>,
}

// ---------------------------------------------------------------------------------------
// Elements
// ---------------------------------------------------------------------------------------

/// An integer from its text, checked against `T`'s range; `ty` names the Tango type.
fn int_from_text<T: TryFrom<i128> + fmt::Display + Bounded>(t: &str, ty: CmdArgType) -> Parsed<T> {
    let t = t.trim();
    let parsed: Option<i128> = t.parse::<i128>().ok().or_else(|| {
        // 1e3, 2.0: integral values written as floats are accepted.
        let f: f64 = t.parse().ok()?;
        (f.is_finite() && f.fract() == 0.0 && f.abs() < 1e30).then_some(f as i128)
    });
    match parsed {
        None if t
            .parse::<f64>()
            .is_ok_and(|f| f.is_finite() && f.abs() >= 1e30) =>
        {
            let (lo, hi) = T::bounds();
            err(format!("{t} is out of range for {ty} ({lo}..={hi})"))
        }
        None if t.parse::<f64>().is_ok() => {
            err(format!("{t} is not an integer ({ty} takes integers)"))
        }
        None => err(format!("{t:?} is not a number ({ty} takes integers)")),
        Some(i) => T::try_from(i).map_err(|_| {
            let (lo, hi) = T::bounds();
            ValueError(format!("{t} is out of range for {ty} ({lo}..={hi})"))
        }),
    }
}

/// The bounds of an integer type, for error messages.
trait Bounded {
    /// `MIN` and `MAX` as text.
    fn bounds() -> (String, String);
}

macro_rules! bounded {
    ($($t:ty),*) => {$(
        impl Bounded for $t {
            fn bounds() -> (String, String) {
                (<$t>::MIN.to_string(), <$t>::MAX.to_string())
            }
        }
    )*};
}
bounded!(i16, i32, i64, u8, u16, u32, u64);

/// A float from its text (`nan`, `inf`, `-inf`, `Infinity` accepted); a finite number too
/// large for the type is an error rather than an infinity.
fn f64_from_text(t: &str, ty: CmdArgType) -> Parsed<f64> {
    let t = t.trim();
    let v: f64 = t
        .parse()
        .map_err(|_| ValueError(format!("{t:?} is not a number ({ty})")))?;
    if v.is_infinite() && !t.to_ascii_lowercase().contains("inf") {
        return err(format!("{t} is out of range for {ty}"));
    }
    Ok(v)
}

fn f32_from_text(t: &str, ty: CmdArgType) -> Parsed<f32> {
    let t = t.trim();
    let v: f32 = t
        .parse()
        .map_err(|_| ValueError(format!("{t:?} is not a number ({ty})")))?;
    if v.is_infinite() && !t.to_ascii_lowercase().contains("inf") {
        return err(format!("{t} is out of range for {ty} (±3.4028235e38)"));
    }
    Ok(v)
}

/// `true`/`false`/`1`/`0`, any case.
fn bool_from_text(t: &str) -> Parsed<bool> {
    let t = t.trim();
    if t.eq_ignore_ascii_case("true") || t == "1" {
        Ok(true)
    } else if t.eq_ignore_ascii_case("false") || t == "0" {
        Ok(false)
    } else {
        err(format!("{t:?} is not a DevBoolean (true, false, 1 or 0)"))
    }
}

/// Checks a string can travel as Tango's Latin-1.
fn latin1(s: String) -> Parsed<String> {
    match s.chars().find(|&c| c as u32 > 0xFF) {
        Some(c) => err(format!(
            "character {c:?} (U+{:04X}) cannot be sent: Tango strings are Latin-1 (ISO-8859-1)",
            c as u32
        )),
        None => Ok(s),
    }
}

fn state_from_text(t: &str) -> Parsed<DevState> {
    let t = t.trim();
    DevState::from_name(t)
        .or_else(|| {
            t.parse::<u32>()
                .ok()
                .and_then(|n| DevState::try_from(n).ok())
        })
        .ok_or_else(|| {
            let names: Vec<&str> = DevState::ALL.iter().map(|s| s.name()).collect();
            ValueError(format!(
                "{t:?} is not a DevState (one of {})",
                names.join(", ")
            ))
        })
}

fn enum_from_text(t: &str, labels: &[String]) -> Parsed<i16> {
    let t = t.trim();
    if let Some(i) = labels.iter().position(|l| l == t) {
        return i16::try_from(i).map_err(|_| ValueError("too many enum labels".into()));
    }
    if let Some(i) = labels.iter().position(|l| l.eq_ignore_ascii_case(t)) {
        return i16::try_from(i).map_err(|_| ValueError("too many enum labels".into()));
    }
    if t.parse::<f64>().is_ok() {
        let i: i16 = int_from_text(t, CmdArgType::DevEnum)?;
        if !labels.is_empty() && (i < 0 || i as usize >= labels.len()) {
            return err(format!(
                "{i} is not a valid index for this DevEnum (0..={}: {})",
                labels.len() - 1,
                labels.join(", ")
            ));
        }
        return Ok(i);
    }
    if labels.is_empty() {
        err(format!("{t:?} is not a DevEnum index"))
    } else {
        err(format!(
            "{t:?} is not one of the labels: {}",
            labels.join(", ")
        ))
    }
}

/// The text of a scalar node, for element parsers that work on text.
fn scalar_text(n: &Node, what: &str) -> Parsed<String> {
    match n {
        Node::Num(t) | Node::Str(t) => Ok(t.clone()),
        Node::Bool(b) => Ok(b.to_string()),
        other => err(format!("expected {what}, got {}", other.describe())),
    }
}

/// A number node (or a string holding `NaN`/`Infinity`... for floats) as text.
fn number_text(n: &Node, ty: CmdArgType) -> Parsed<String> {
    match n {
        Node::Num(t) => Ok(t.clone()),
        Node::Str(s) if is_float(ty) => Ok(s.clone()),
        other => err(format!(
            "expected a number for {ty}, got {}",
            other.describe()
        )),
    }
}

fn is_float(ty: CmdArgType) -> bool {
    matches!(ty, CmdArgType::DevFloat | CmdArgType::DevDouble)
}

/// Elements of type `ty` from JSON nodes.
fn elements(nodes: &[Node], ty: CmdArgType, labels: &[String]) -> Parsed<AttrData> {
    macro_rules! ints {
        ($variant:ident, $t:ty) => {
            AttrData::$variant(
                nodes
                    .iter()
                    .map(|n| int_from_text::<$t>(&number_text(n, ty)?, ty))
                    .collect::<Parsed<_>>()?,
            )
        };
    }
    Ok(match ty {
        CmdArgType::DevBoolean => AttrData::Bool(
            nodes
                .iter()
                .map(|n| match n {
                    Node::Bool(b) => Ok(*b),
                    Node::Num(t) | Node::Str(t) => bool_from_text(t),
                    other => err(format!("expected a boolean, got {}", other.describe())),
                })
                .collect::<Parsed<_>>()?,
        ),
        CmdArgType::DevShort => ints!(Short, i16),
        CmdArgType::DevLong => ints!(Long, i32),
        CmdArgType::DevLong64 => ints!(Long64, i64),
        CmdArgType::DevUChar => ints!(UChar, u8),
        CmdArgType::DevUShort => ints!(UShort, u16),
        CmdArgType::DevULong => ints!(ULong, u32),
        CmdArgType::DevULong64 => ints!(ULong64, u64),
        CmdArgType::DevFloat => AttrData::Float(
            nodes
                .iter()
                .map(|n| f32_from_text(&number_text(n, ty)?, ty))
                .collect::<Parsed<_>>()?,
        ),
        CmdArgType::DevDouble => AttrData::Double(
            nodes
                .iter()
                .map(|n| f64_from_text(&number_text(n, ty)?, ty))
                .collect::<Parsed<_>>()?,
        ),
        CmdArgType::DevString | CmdArgType::ConstDevString => AttrData::String(
            nodes
                .iter()
                .map(|n| match n {
                    Node::Str(s) => latin1(s.clone()),
                    other => err(format!("expected a string, got {}", other.describe())),
                })
                .collect::<Parsed<_>>()?,
        ),
        CmdArgType::DevState => AttrData::State(
            nodes
                .iter()
                .map(|n| state_from_text(&scalar_text(n, "a state name")?))
                .collect::<Parsed<_>>()?,
        ),
        CmdArgType::DevEnum => AttrData::Enum(
            nodes
                .iter()
                .map(|n| enum_from_text(&scalar_text(n, "an enum index or label")?, labels))
                .collect::<Parsed<_>>()?,
        ),
        CmdArgType::DevEncoded => {
            AttrData::Encoded(nodes.iter().map(encoded_from_node).collect::<Parsed<_>>()?)
        }
        other => {
            return err(format!(
                "{other} values cannot be given on the command line"
            ))
        }
    })
}

/// `["format", [bytes]]` or `["format", "text"]`.
fn encoded_from_node(n: &Node) -> Parsed<DevEncoded> {
    const FORM: &str = "a DevEncoded is [\"format\", [bytes]] or [\"format\", \"text\"]";
    let Node::Arr(parts) = n else {
        return err(FORM);
    };
    let [Node::Str(format), data] = parts.as_slice() else {
        return err(FORM);
    };
    let encoded_data = match data {
        Node::Str(s) => latin1(s.clone())?.chars().map(|c| c as u8).collect(),
        Node::Arr(items) => match elements(items, CmdArgType::DevUChar, &[])? {
            AttrData::UChar(v) => v,
            _ => unreachable!("DevUChar elements are UChar"),
        },
        _ => return err(FORM),
    };
    Ok(DevEncoded {
        encoded_format: latin1(format.clone())?,
        encoded_data,
    })
}

/// One scalar element from the user's text: strings verbatim, other types from the text
/// (a JSON-quoted `"ON"` or `"label"` is accepted too).
fn scalar_element(text: &str, ty: CmdArgType, labels: &[String]) -> Parsed<AttrData> {
    match ty {
        CmdArgType::DevString | CmdArgType::ConstDevString => {
            Ok(AttrData::String(vec![latin1(text.to_owned())?]))
        }
        CmdArgType::DevEncoded => elements(&[parse_json(text)?], ty, labels),
        _ => {
            let t = text.trim();
            let node = if t.starts_with('"') {
                parse_json(t)?
            } else if ty == CmdArgType::DevBoolean {
                Node::Str(t.to_owned())
            } else if is_float(ty) || is_integer(ty) {
                Node::Num(t.to_owned())
            } else {
                Node::Str(t.to_owned())
            };
            if matches!(node, Node::Arr(_)) {
                return err(format!("{ty} takes one value, not an array"));
            }
            elements(&[node], ty, labels)
        }
    }
}

fn is_integer(ty: CmdArgType) -> bool {
    use CmdArgType as T;
    matches!(
        ty,
        T::DevShort
            | T::DevLong
            | T::DevLong64
            | T::DevUChar
            | T::DevUShort
            | T::DevULong
            | T::DevULong64
    )
}

fn parse_json(text: &str) -> Parsed<Node> {
    jsonish::parse(text).map_err(|e| ValueError(e.to_string()))
}

fn json_array(text: &str, what: &str) -> Parsed<Vec<Node>> {
    match parse_json(text) {
        Ok(Node::Arr(v)) => Ok(v),
        Ok(other) => err(format!(
            "{what} is written as a JSON array like [1,2,3] or [\"a\",\"b\"], got {}",
            other.describe()
        )),
        Err(e) => err(format!(
            "{what} is written as a JSON array like [1,2,3]: {e}"
        )),
    }
}

// ---------------------------------------------------------------------------------------
// Attributes
// ---------------------------------------------------------------------------------------

/// Parses `text` into what `write_attribute` takes, for an attribute of this type and
/// format.
pub fn parse_attr_value(text: &str, spec: &AttrSpec) -> Parsed<WriteValue> {
    let ty = spec.data_type;
    let labels = &spec.enum_labels;
    match spec.data_format {
        AttrDataFormat::Scalar => Ok(WriteValue::scalar(scalar_element(text, ty, labels)?)),
        AttrDataFormat::Spectrum => {
            let items = json_array(text, &format!("a {ty} spectrum"))?;
            Ok(WriteValue::spectrum(elements(&items, ty, labels)?))
        }
        AttrDataFormat::Image => {
            let rows = json_array(text, &format!("a {ty} image (array of rows)"))?;
            let mut flat = Vec::new();
            let mut dim_x = None;
            for (i, row) in rows.iter().enumerate() {
                let Node::Arr(items) = row else {
                    return err(format!(
                        "an image is an array of rows like [[1,2],[3,4]]; row {i} is {}",
                        row.describe()
                    ));
                };
                match dim_x {
                    None => dim_x = Some(items.len()),
                    Some(n) if n != items.len() => {
                        return err(format!(
                            "image rows must all have the same length: row 0 has {n} elements, row {i} has {}",
                            items.len()
                        ))
                    }
                    Some(_) => {}
                }
                flat.extend(items.iter().cloned());
            }
            let data = elements(&flat, ty, labels)?;
            WriteValue::image(data, dim_x.unwrap_or(0), rows.len())
                .map_err(|e| ValueError(e.to_string()))
        }
        other => err(format!("cannot write an attribute of format {other}")),
    }
}

// ---------------------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------------------

/// Parses a command argument for the command's declared input type; `None` when the
/// user gave none (only right for `DevVoid`).
pub fn parse_command_arg(text: Option<&str>, in_type: CmdArgType) -> Parsed<CommandData> {
    use CmdArgType as T;
    let Some(text) = text else {
        return if in_type == T::DevVoid {
            Ok(CommandData::Void)
        } else {
            err(format!("the command takes an argument of type {in_type}"))
        };
    };
    let one = |ty: CmdArgType| scalar_element(text, ty, &[]);
    let many = |ty: CmdArgType| -> Parsed<AttrData> {
        elements(&json_array(text, &format!("a {in_type}"))?, ty, &[])
    };
    macro_rules! first {
        ($ty:expr, $variant:ident, $cmd:ident) => {
            match one($ty)? {
                AttrData::$variant(mut v) if v.len() == 1 => CommandData::$cmd(v.remove(0)),
                _ => unreachable!("one element of the requested type"),
            }
        };
    }
    macro_rules! all {
        ($ty:expr, $variant:ident, $cmd:ident) => {
            match many($ty)? {
                AttrData::$variant(v) => CommandData::$cmd(v),
                _ => unreachable!("elements of the requested type"),
            }
        };
    }
    Ok(match in_type {
        T::DevVoid => {
            return err(format!(
                "the command takes no argument (DevVoid), got {text:?}"
            ))
        }
        T::DevBoolean => first!(T::DevBoolean, Bool, Boolean),
        T::DevShort => first!(T::DevShort, Short, Short),
        T::DevLong => first!(T::DevLong, Long, Long),
        T::DevLong64 => first!(T::DevLong64, Long64, Long64),
        T::DevFloat => first!(T::DevFloat, Float, Float),
        T::DevDouble => first!(T::DevDouble, Double, Double),
        T::DevUShort => first!(T::DevUShort, UShort, UShort),
        T::DevULong => first!(T::DevULong, ULong, ULong),
        T::DevULong64 => first!(T::DevULong64, ULong64, ULong64),
        T::DevUChar => first!(T::DevUChar, UChar, UChar),
        T::DevString | T::ConstDevString => first!(T::DevString, String, String),
        T::DevState => first!(T::DevState, State, State),
        T::DevEnum => first!(T::DevEnum, Enum, Enum),
        T::DevEncoded => first!(T::DevEncoded, Encoded, Encoded),
        T::DevVarBooleanArray => all!(T::DevBoolean, Bool, BooleanArray),
        T::DevVarCharArray => all!(T::DevUChar, UChar, CharArray),
        T::DevVarShortArray => all!(T::DevShort, Short, ShortArray),
        T::DevVarLongArray => all!(T::DevLong, Long, LongArray),
        T::DevVarLong64Array => all!(T::DevLong64, Long64, Long64Array),
        T::DevVarFloatArray => all!(T::DevFloat, Float, FloatArray),
        T::DevVarDoubleArray => all!(T::DevDouble, Double, DoubleArray),
        T::DevVarUShortArray => all!(T::DevUShort, UShort, UShortArray),
        T::DevVarULongArray => all!(T::DevULong, ULong, ULongArray),
        T::DevVarULong64Array => all!(T::DevULong64, ULong64, ULong64Array),
        T::DevVarStringArray => all!(T::DevString, String, StringArray),
        T::DevVarStateArray => all!(T::DevState, State, StateArray),
        T::DevVarLongStringArray | T::DevVarDoubleStringArray => {
            let form = format!("a {in_type} is written [[numbers],[\"strings\"]]");
            let parts = json_array(text, &form)?;
            let [Node::Arr(nums), Node::Arr(strs)] = parts.as_slice() else {
                return err(form);
            };
            let strs = match elements(strs, T::DevString, &[])? {
                AttrData::String(v) => v,
                _ => unreachable!("string elements"),
            };
            if in_type == T::DevVarLongStringArray {
                match elements(nums, T::DevLong, &[])? {
                    AttrData::Long(v) => CommandData::LongStringArray(v, strs),
                    _ => unreachable!("long elements"),
                }
            } else {
                match elements(nums, T::DevDouble, &[])? {
                    AttrData::Double(v) => CommandData::DoubleStringArray(v, strs),
                    _ => unreachable!("double elements"),
                }
            }
        }
        other => {
            return err(format!(
                "arguments of type {other} are not supported by this tool"
            ))
        }
    })
}

// ---------------------------------------------------------------------------------------
// JSON output
// ---------------------------------------------------------------------------------------

/// A float as JSON: a number, or `"NaN"`, `"Infinity"`, `"-Infinity"`.
pub fn f64_json(x: f64) -> Value {
    if x.is_nan() {
        json!("NaN")
    } else if x == f64::INFINITY {
        json!("Infinity")
    } else if x == f64::NEG_INFINITY {
        json!("-Infinity")
    } else {
        json!(x)
    }
}

/// A `f32` as JSON, with its shortest decimal form (0.1, not 0.10000000149011612).
pub fn f32_json(x: f32) -> Value {
    if x.is_finite() {
        f64_json(x.to_string().parse().unwrap_or(f64::from(x)))
    } else {
        f64_json(f64::from(x))
    }
}

fn encoded_json(e: &DevEncoded) -> Value {
    json!([e.encoded_format, e.encoded_data])
}

/// The elements as a list of JSON values.
pub fn elements_json(d: &AttrData) -> Vec<Value> {
    match d {
        AttrData::Bool(v) => v.iter().map(|&x| json!(x)).collect(),
        AttrData::Short(v) | AttrData::Enum(v) => v.iter().map(|&x| json!(x)).collect(),
        AttrData::Long(v) => v.iter().map(|&x| json!(x)).collect(),
        AttrData::Long64(v) => v.iter().map(|&x| json!(x)).collect(),
        AttrData::Float(v) => v.iter().map(|&x| f32_json(x)).collect(),
        AttrData::Double(v) => v.iter().map(|&x| f64_json(x)).collect(),
        AttrData::UChar(v) => v.iter().map(|&x| json!(x)).collect(),
        AttrData::UShort(v) => v.iter().map(|&x| json!(x)).collect(),
        AttrData::ULong(v) => v.iter().map(|&x| json!(x)).collect(),
        AttrData::ULong64(v) => v.iter().map(|&x| json!(x)).collect(),
        AttrData::String(v) => v.iter().map(|x| json!(x)).collect(),
        AttrData::State(v) => v.iter().map(|x| json!(x.name())).collect(),
        AttrData::Encoded(v) => v.iter().map(encoded_json).collect(),
    }
}

/// An attribute value in JSON form: a scalar as a JSON scalar, a spectrum as an array, an
/// image as an array of rows of `dim_x` elements. `null` when absent or empty scalar.
pub fn attr_data_json(d: Option<&AttrData>, format: AttrDataFormat, dim_x: usize) -> Value {
    let Some(d) = d else {
        return Value::Null;
    };
    let items = elements_json(d);
    match format {
        AttrDataFormat::Scalar => items.into_iter().next().unwrap_or(Value::Null),
        AttrDataFormat::Image => {
            if items.is_empty() {
                return json!([]);
            }
            let w = if dim_x == 0 { items.len() } else { dim_x };
            Value::Array(items.chunks(w).map(|r| Value::Array(r.to_vec())).collect())
        }
        _ => Value::Array(items),
    }
}

/// A read attribute as one JSON object with PyTango's `DeviceAttribute` field names.
pub fn device_attribute_json(a: &DeviceAttribute) -> Value {
    let mut m = Map::new();
    m.insert("name".into(), json!(a.name));
    m.insert(
        "value".into(),
        attr_data_json(a.value.as_ref(), a.data_format, a.dim_x),
    );
    m.insert(
        "w_value".into(),
        attr_data_json(a.w_value.as_ref(), a.data_format, a.w_dim_x),
    );
    m.insert("quality".into(), json!(a.quality.name()));
    m.insert("time".into(), f64_json(a.time.as_secs_f64()));
    m.insert("dim_x".into(), json!(a.dim_x));
    m.insert("dim_y".into(), json!(a.dim_y));
    m.insert("w_dim_x".into(), json!(a.w_dim_x));
    m.insert("w_dim_y".into(), json!(a.w_dim_y));
    m.insert("data_format".into(), json!(a.data_format.name()));
    m.insert("type".into(), json!(a.data_type.name()));
    m.insert("nb_read".into(), json!(a.nb_read));
    m.insert("nb_written".into(), json!(a.nb_written));
    m.insert("has_failed".into(), json!(a.has_failed()));
    m.insert("is_empty".into(), json!(a.is_empty()));
    Value::Object(m)
}

/// A command result in JSON form (the same forms the argument parser takes); `None` for
/// `DevVoid`.
pub fn command_json(c: &CommandData) -> Option<Value> {
    let arr = |d: AttrData| Value::Array(elements_json(&d));
    Some(match c {
        CommandData::Void => return None,
        CommandData::Boolean(x) => json!(x),
        CommandData::Short(x) | CommandData::Enum(x) => json!(x),
        CommandData::Long(x) => json!(x),
        CommandData::Long64(x) => json!(x),
        CommandData::Float(x) => f32_json(*x),
        CommandData::Double(x) => f64_json(*x),
        CommandData::UChar(x) => json!(x),
        CommandData::UShort(x) => json!(x),
        CommandData::ULong(x) => json!(x),
        CommandData::ULong64(x) => json!(x),
        CommandData::String(s) => json!(s),
        CommandData::State(s) => json!(s.name()),
        CommandData::Encoded(e) => encoded_json(e),
        CommandData::CharArray(v) => arr(AttrData::UChar(v.clone())),
        CommandData::ShortArray(v) => arr(AttrData::Short(v.clone())),
        CommandData::LongArray(v) => arr(AttrData::Long(v.clone())),
        CommandData::Long64Array(v) => arr(AttrData::Long64(v.clone())),
        CommandData::FloatArray(v) => arr(AttrData::Float(v.clone())),
        CommandData::DoubleArray(v) => arr(AttrData::Double(v.clone())),
        CommandData::UShortArray(v) => arr(AttrData::UShort(v.clone())),
        CommandData::ULongArray(v) => arr(AttrData::ULong(v.clone())),
        CommandData::ULong64Array(v) => arr(AttrData::ULong64(v.clone())),
        CommandData::BooleanArray(v) => arr(AttrData::Bool(v.clone())),
        CommandData::StringArray(v) => arr(AttrData::String(v.clone())),
        CommandData::StateArray(v) => arr(AttrData::State(v.clone())),
        CommandData::LongStringArray(l, s) => json!([l, s]),
        CommandData::DoubleStringArray(d, s) => {
            json!([Value::Array(d.iter().map(|&x| f64_json(x)).collect()), s])
        }
    })
}

/// A command result for humans: strings raw, other scalars as text, arrays in JSON form;
/// `None` for `DevVoid`.
pub fn command_text(c: &CommandData) -> Option<String> {
    match c {
        CommandData::String(s) => Some(s.clone()),
        other => command_json(other).map(|v| match v {
            Value::String(s) => s,
            v => v.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use CmdArgType as T;

    fn spec(data_type: CmdArgType, data_format: AttrDataFormat) -> AttrSpec {
        AttrSpec {
            data_type,
            data_format,
            enum_labels: vec![],
        }
    }
    fn scalar(ty: CmdArgType, text: &str) -> Parsed<AttrData> {
        parse_attr_value(text, &spec(ty, AttrDataFormat::Scalar)).map(|w| w.data)
    }
    fn arg(ty: CmdArgType, text: &str) -> Parsed<CommandData> {
        parse_command_arg(Some(text), ty)
    }

    #[test]
    fn integer_boundaries() {
        assert_eq!(
            scalar(T::DevShort, "-32768").unwrap(),
            AttrData::Short(vec![i16::MIN])
        );
        assert_eq!(
            scalar(T::DevShort, "32767").unwrap(),
            AttrData::Short(vec![i16::MAX])
        );
        assert_eq!(
            scalar(T::DevLong, "-2147483648").unwrap(),
            AttrData::Long(vec![i32::MIN])
        );
        assert_eq!(
            scalar(T::DevLong, "2147483647").unwrap(),
            AttrData::Long(vec![i32::MAX])
        );
        assert_eq!(
            scalar(T::DevLong64, "-9223372036854775808").unwrap(),
            AttrData::Long64(vec![i64::MIN])
        );
        assert_eq!(
            scalar(T::DevLong64, "9223372036854775807").unwrap(),
            AttrData::Long64(vec![i64::MAX])
        );
        assert_eq!(
            scalar(T::DevULong64, "18446744073709551615").unwrap(),
            AttrData::ULong64(vec![u64::MAX])
        );
        assert_eq!(
            scalar(T::DevUChar, "255").unwrap(),
            AttrData::UChar(vec![255])
        );
        assert_eq!(
            scalar(T::DevLong, " 1e3 ").unwrap(),
            AttrData::Long(vec![1000])
        );
    }

    #[test]
    fn integer_out_of_range_names_the_type() {
        for (ty, text) in [
            (T::DevShort, "32768"),
            (T::DevShort, "-32769"),
            (T::DevLong, "2147483648"),
            (T::DevLong64, "9223372036854775808"),
            (T::DevULong64, "18446744073709551616"),
            (T::DevULong64, "-1"),
            (T::DevUShort, "65536"),
            (T::DevULong, "-1"),
            (T::DevUChar, "256"),
            (T::DevLong, "1e40"),
        ] {
            let e = scalar(ty, text).unwrap_err().0;
            assert!(
                e.contains("out of range") && e.contains(ty.name()),
                "{ty} {text}: {e}"
            );
        }
        let e = scalar(T::DevLong, "1.5").unwrap_err().0;
        assert!(e.contains("not an integer") && e.contains("DevLong"), "{e}");
        let e = scalar(T::DevLong, "abc").unwrap_err().0;
        assert!(e.contains("not a number"), "{e}");
        assert!(scalar(T::DevLong, "nan").is_err());
        assert!(scalar(T::DevLong, "").is_err());
    }

    #[test]
    fn floats_with_nan_and_inf() {
        assert_eq!(
            scalar(T::DevDouble, "2.5").unwrap(),
            AttrData::Double(vec![2.5])
        );
        assert_eq!(
            scalar(T::DevDouble, "inf").unwrap(),
            AttrData::Double(vec![f64::INFINITY])
        );
        assert_eq!(
            scalar(T::DevDouble, "-inf").unwrap(),
            AttrData::Double(vec![f64::NEG_INFINITY])
        );
        assert_eq!(
            scalar(T::DevDouble, "-Infinity").unwrap(),
            AttrData::Double(vec![f64::NEG_INFINITY])
        );
        match scalar(T::DevDouble, "nan").unwrap() {
            AttrData::Double(v) => assert!(v[0].is_nan()),
            other => panic!("{other:?}"),
        }
        match scalar(T::DevFloat, "NaN").unwrap() {
            AttrData::Float(v) => assert!(v[0].is_nan()),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            scalar(T::DevDouble, "1.7976931348623157e308").unwrap(),
            AttrData::Double(vec![f64::MAX])
        );
        assert!(scalar(T::DevDouble, "1e400")
            .unwrap_err()
            .0
            .contains("DevDouble"));
        assert!(scalar(T::DevFloat, "1e39")
            .unwrap_err()
            .0
            .contains("DevFloat"));
        assert!(scalar(T::DevDouble, "x").is_err());
        let w = parse_attr_value(
            "[1, nan, \"-Infinity\", inf]",
            &spec(T::DevDouble, AttrDataFormat::Spectrum),
        )
        .unwrap();
        match w.data {
            AttrData::Double(v) => {
                assert_eq!(v[0], 1.0);
                assert!(v[1].is_nan());
                assert_eq!(v[2], f64::NEG_INFINITY);
                assert_eq!(v[3], f64::INFINITY);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn booleans() {
        for (t, b) in [
            ("true", true),
            ("TRUE", true),
            ("1", true),
            ("False", false),
            ("0", false),
        ] {
            assert_eq!(scalar(T::DevBoolean, t).unwrap(), AttrData::Bool(vec![b]));
        }
        assert!(scalar(T::DevBoolean, "2").is_err());
        assert!(scalar(T::DevBoolean, "yes").is_err());
        let w = parse_attr_value(
            "[true, 0, \"False\"]",
            &spec(T::DevBoolean, AttrDataFormat::Spectrum),
        )
        .unwrap();
        assert_eq!(w.data, AttrData::Bool(vec![true, false, false]));
    }

    #[test]
    fn strings_are_verbatim_and_latin1() {
        assert_eq!(
            scalar(T::DevString, "  hello world  ").unwrap(),
            AttrData::String(vec!["  hello world  ".into()])
        );
        assert_eq!(
            scalar(T::DevString, "[1,2]").unwrap(),
            AttrData::String(vec!["[1,2]".into()])
        );
        assert_eq!(
            scalar(T::DevString, "").unwrap(),
            AttrData::String(vec![String::new()])
        );
        assert_eq!(
            scalar(T::DevString, "café ÿ").unwrap(),
            AttrData::String(vec!["café ÿ".into()])
        );
        let e = scalar(T::DevString, "5 €").unwrap_err().0;
        assert!(e.contains("Latin-1") && e.contains("U+20AC"), "{e}");
        let w = parse_attr_value(
            r#"["a b", "é"]"#,
            &spec(T::DevString, AttrDataFormat::Spectrum),
        )
        .unwrap();
        assert_eq!(w.data, AttrData::String(vec!["a b".into(), "é".into()]));
        assert!(
            parse_attr_value(r#"["a", 1]"#, &spec(T::DevString, AttrDataFormat::Spectrum)).is_err()
        );
    }

    #[test]
    fn spectra_and_images() {
        let sp = spec(T::DevLong, AttrDataFormat::Spectrum);
        let w = parse_attr_value("[1,2,3]", &sp).unwrap();
        assert_eq!(
            (w.data, w.format, w.dim_x, w.dim_y),
            (
                AttrData::Long(vec![1, 2, 3]),
                AttrDataFormat::Spectrum,
                3,
                0
            )
        );
        let w = parse_attr_value("[]", &sp).unwrap();
        assert_eq!((w.data, w.dim_x), (AttrData::Long(vec![]), 0));
        assert!(parse_attr_value("5", &sp)
            .unwrap_err()
            .0
            .contains("JSON array"));
        assert!(parse_attr_value("[1,", &sp).is_err());
        let e = parse_attr_value("[1, 3000000000]", &sp).unwrap_err().0;
        assert!(e.contains("DevLong"), "{e}");

        let im = spec(T::DevShort, AttrDataFormat::Image);
        let w = parse_attr_value("[[1,2,3],[4,5,6]]", &im).unwrap();
        assert_eq!(
            (w.data, w.format, w.dim_x, w.dim_y),
            (
                AttrData::Short(vec![1, 2, 3, 4, 5, 6]),
                AttrDataFormat::Image,
                3,
                2
            )
        );
        let w = parse_attr_value("[]", &im).unwrap();
        assert_eq!((w.dim_x, w.dim_y, w.data.len()), (0, 0, 0));
        let e = parse_attr_value("[[1,2],[3]]", &im).unwrap_err().0;
        assert!(e.contains("same length"), "{e}");
        assert!(parse_attr_value("[1,2]", &im)
            .unwrap_err()
            .0
            .contains("array of rows"));
    }

    #[test]
    fn states_and_enums() {
        assert_eq!(
            scalar(T::DevState, "ON").unwrap(),
            AttrData::State(vec![DevState::On])
        );
        assert_eq!(
            scalar(T::DevState, "moving").unwrap(),
            AttrData::State(vec![DevState::Moving])
        );
        assert_eq!(
            scalar(T::DevState, "\"FAULT\"").unwrap(),
            AttrData::State(vec![DevState::Fault])
        );
        assert!(scalar(T::DevState, "BANANA").unwrap_err().0.contains("ON"));
        let s = AttrSpec {
            data_type: T::DevEnum,
            data_format: AttrDataFormat::Scalar,
            enum_labels: vec!["ZERO".into(), "ONE".into(), "TWO".into()],
        };
        assert_eq!(
            parse_attr_value("1", &s).unwrap().data,
            AttrData::Enum(vec![1])
        );
        assert_eq!(
            parse_attr_value("TWO", &s).unwrap().data,
            AttrData::Enum(vec![2])
        );
        assert_eq!(
            parse_attr_value("one", &s).unwrap().data,
            AttrData::Enum(vec![1])
        );
        assert!(parse_attr_value("3", &s).unwrap_err().0.contains("ZERO"));
        assert!(parse_attr_value("THREE", &s)
            .unwrap_err()
            .0
            .contains("labels"));
    }

    #[test]
    fn command_args() {
        assert_eq!(
            parse_command_arg(None, T::DevVoid).unwrap(),
            CommandData::Void
        );
        assert!(parse_command_arg(None, T::DevDouble)
            .unwrap_err()
            .0
            .contains("DevDouble"));
        assert!(arg(T::DevVoid, "1").is_err());
        assert_eq!(arg(T::DevDouble, "2.5").unwrap(), CommandData::Double(2.5));
        assert_eq!(
            arg(T::DevShort, "-32768").unwrap(),
            CommandData::Short(i16::MIN)
        );
        assert!(arg(T::DevShort, "40000")
            .unwrap_err()
            .0
            .contains("DevShort"));
        assert_eq!(
            arg(T::DevULong64, "18446744073709551615").unwrap(),
            CommandData::ULong64(u64::MAX)
        );
        assert_eq!(
            arg(T::DevString, "a b").unwrap(),
            CommandData::String("a b".into())
        );
        assert_eq!(
            arg(T::ConstDevString, "x").unwrap(),
            CommandData::String("x".into())
        );
        assert_eq!(
            arg(T::DevBoolean, "TRUE").unwrap(),
            CommandData::Boolean(true)
        );
        assert_eq!(
            arg(T::DevState, "ALARM").unwrap(),
            CommandData::State(DevState::Alarm)
        );
        assert_eq!(
            arg(T::DevVarLongArray, "[1,-2]").unwrap(),
            CommandData::LongArray(vec![1, -2])
        );
        assert_eq!(
            arg(T::DevVarDoubleArray, "[]").unwrap(),
            CommandData::DoubleArray(vec![])
        );
        assert_eq!(
            arg(T::DevVarCharArray, "[0,255]").unwrap(),
            CommandData::CharArray(vec![0, 255])
        );
        assert!(arg(T::DevVarCharArray, "[256]").is_err());
        assert_eq!(
            arg(T::DevVarStringArray, r#"["a","b c"]"#).unwrap(),
            CommandData::StringArray(vec!["a".into(), "b c".into()])
        );
        assert_eq!(
            arg(T::DevVarLongStringArray, r#"[[1,2],["a","b"]]"#).unwrap(),
            CommandData::LongStringArray(vec![1, 2], vec!["a".into(), "b".into()])
        );
        assert_eq!(
            arg(T::DevVarDoubleStringArray, r#"[[1.5],[]]"#).unwrap(),
            CommandData::DoubleStringArray(vec![1.5], vec![])
        );
        assert!(arg(T::DevVarLongStringArray, r#"[1,2]"#).is_err());
        assert!(arg(T::DevVarLongStringArray, r#"[[1.5],["a"]]"#).is_err());
        assert_eq!(
            arg(T::DevEncoded, r#"["txt", [104, 105]]"#).unwrap(),
            CommandData::Encoded(DevEncoded {
                encoded_format: "txt".into(),
                encoded_data: vec![104, 105]
            })
        );
        assert_eq!(
            arg(T::DevEncoded, r#"["txt", "hi"]"#).unwrap(),
            CommandData::Encoded(DevEncoded {
                encoded_format: "txt".into(),
                encoded_data: vec![104, 105]
            })
        );
        assert!(arg(T::DevDouble, "[1]").is_err());
        assert!(arg(T::DevPipeBlob, "1").is_err());
    }

    #[test]
    fn json_forms() {
        assert_eq!(f64_json(f64::NAN), json!("NaN"));
        assert_eq!(f64_json(f64::INFINITY), json!("Infinity"));
        assert_eq!(f64_json(f64::NEG_INFINITY), json!("-Infinity"));
        assert_eq!(f32_json(0.1), json!(0.1));
        let d = AttrData::Short(vec![1, 2, 3, 4, 5, 6]);
        assert_eq!(
            attr_data_json(Some(&d), AttrDataFormat::Image, 3),
            json!([[1, 2, 3], [4, 5, 6]])
        );
        assert_eq!(
            attr_data_json(Some(&d), AttrDataFormat::Spectrum, 6),
            json!([1, 2, 3, 4, 5, 6])
        );
        assert_eq!(
            attr_data_json(Some(&AttrData::Short(vec![])), AttrDataFormat::Image, 0),
            json!([])
        );
        assert_eq!(
            attr_data_json(
                Some(&AttrData::Double(vec![1.5])),
                AttrDataFormat::Scalar,
                1
            ),
            json!(1.5)
        );
        assert_eq!(attr_data_json(None, AttrDataFormat::Scalar, 1), Value::Null);
        assert_eq!(
            attr_data_json(
                Some(&AttrData::ULong64(vec![u64::MAX])),
                AttrDataFormat::Scalar,
                1
            ),
            json!(u64::MAX)
        );
        assert_eq!(
            attr_data_json(
                Some(&AttrData::State(vec![DevState::On])),
                AttrDataFormat::Scalar,
                1
            ),
            json!("ON")
        );
        assert_eq!(command_json(&CommandData::Void), None);
        assert_eq!(command_json(&CommandData::Double(2.5)), Some(json!(2.5)));
        assert_eq!(
            command_json(&CommandData::LongStringArray(vec![1, 2], vec!["a".into()])),
            Some(json!([[1, 2], ["a"]]))
        );
        assert_eq!(
            command_json(&CommandData::DoubleStringArray(vec![f64::NAN], vec![])),
            Some(json!([["NaN"], []]))
        );
        assert_eq!(
            command_text(&CommandData::String("a b".into())).as_deref(),
            Some("a b")
        );
        assert_eq!(
            command_text(&CommandData::State(DevState::On)).as_deref(),
            Some("ON")
        );
        assert_eq!(
            command_text(&CommandData::LongArray(vec![1, 2])).as_deref(),
            Some("[1,2]")
        );
    }

    #[test]
    fn json_output_reads_back() {
        let cases = [
            (
                T::DevVarDoubleArray,
                CommandData::DoubleArray(vec![1.5, f64::INFINITY, -0.0]),
            ),
            (
                T::DevVarLong64Array,
                CommandData::Long64Array(vec![i64::MIN, i64::MAX]),
            ),
            (
                T::DevVarULong64Array,
                CommandData::ULong64Array(vec![u64::MAX]),
            ),
            (
                T::DevVarFloatArray,
                CommandData::FloatArray(vec![0.1, 3.4028235e38]),
            ),
            (
                T::DevVarStringArray,
                CommandData::StringArray(vec!["é \"q\"".into()]),
            ),
            (
                T::DevVarLongStringArray,
                CommandData::LongStringArray(vec![1], vec!["x".into()]),
            ),
        ];
        for (ty, data) in cases {
            let text = command_json(&data).unwrap().to_string();
            assert_eq!(arg(ty, &text).unwrap(), data, "{text}");
        }
    }
}
