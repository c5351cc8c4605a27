//! Typed Tango data as users hold it, and the conversions between Rust values, the wire
//! representations and the type a device declares.
//!
//! * [`AttrData`]: the elements of an attribute value (one for a scalar, a row-major
//!   flat list for spectra and images), typed.
//! * [`WriteValue`]: data plus its shape, what `write_attribute` takes. Anything
//!   `Into<WriteValue>`: `1.5`, `vec![1, 2]`, `"text"`, [`Image`]...
//! * [`IntoCommandData`] / [`FromCommandData`]: command arguments and results.
//!
//! Conversions to the device's declared type follow PyTango: numbers convert between
//! numeric types when the value fits (an error names the value and the type otherwise),
//! strings only to strings.

use crate::any::CommandData;
use crate::idl::{AttrDataFormat, AttrValUnion, CmdArgType, DevEncoded, DevState};

/// A value does not have the type or shape asked for, or does not fit the target type.
/// The message names the value and the type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ValueError(pub String);

impl ValueError {
    fn new(msg: impl std::fmt::Display) -> Self {
        ValueError(msg.to_string())
    }
}

/// Result of a value conversion.
pub type Result<T, E = ValueError> = std::result::Result<T, E>;

macro_rules! attr_data {
    ($( $(#[$m:meta])* $variant:ident($t:ty) => $cmd:ident ),* $(,)?) => {
        /// The elements of an attribute value, typed as the device declares them.
        #[derive(Debug, Clone, PartialEq)]
        pub enum AttrData {
            $( $(#[$m])* $variant(Vec<$t>), )*
        }

        impl AttrData {
            /// How many elements.
            pub fn len(&self) -> usize {
                match self { $( AttrData::$variant(v) => v.len(), )* }
            }

            /// The Tango type of the elements.
            pub fn data_type(&self) -> CmdArgType {
                match self { $( AttrData::$variant(_) => CmdArgType::$cmd, )* }
            }

            /// The elements `range`, as a new value of the same type.
            pub fn slice(&self, range: std::ops::Range<usize>) -> AttrData {
                match self { $( AttrData::$variant(v) => AttrData::$variant(v[range].to_vec()), )* }
            }

            /// An empty value of the given Tango type.
            pub fn empty(t: CmdArgType) -> Result<AttrData> {
                match t {
                    $( CmdArgType::$cmd => Ok(AttrData::$variant(Vec::new())), )*
                    other => Err(ValueError::new(format!("{other} is not an attribute data type"))),
                }
            }
        }
    };
}

attr_data! {
    /// `DevBoolean`.
    Bool(bool) => DevBoolean,
    /// `DevShort`.
    Short(i16) => DevShort,
    /// `DevLong`.
    Long(i32) => DevLong,
    /// `DevLong64`.
    Long64(i64) => DevLong64,
    /// `DevFloat`.
    Float(f32) => DevFloat,
    /// `DevDouble`.
    Double(f64) => DevDouble,
    /// `DevUChar`.
    UChar(u8) => DevUChar,
    /// `DevUShort`.
    UShort(u16) => DevUShort,
    /// `DevULong`.
    ULong(u32) => DevULong,
    /// `DevULong64`.
    ULong64(u64) => DevULong64,
    /// `DevString`.
    String(String) => DevString,
    /// `DevState`.
    State(DevState) => DevState,
    /// `DevEncoded`.
    Encoded(DevEncoded) => DevEncoded,
    /// `DevEnum`: the index into the attribute's enum labels (a `DevShort` on the wire).
    Enum(i16) => DevEnum,
}

impl AttrData {
    /// True if there is no element.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// From the wire union; `declared` (IDL 5's `data_type`) tells a `DevEnum` from a
    /// `DevShort`. `None` for `ATT_NO_DATA`.
    pub fn from_union(u: AttrValUnion, declared: Option<CmdArgType>) -> Option<AttrData> {
        Some(match u {
            AttrValUnion::Bool(v) => AttrData::Bool(v),
            AttrValUnion::Short(v) if declared == Some(CmdArgType::DevEnum) => AttrData::Enum(v),
            AttrValUnion::Short(v) => AttrData::Short(v),
            AttrValUnion::Long(v) => AttrData::Long(v),
            AttrValUnion::Long64(v) => AttrData::Long64(v),
            AttrValUnion::Float(v) => AttrData::Float(v),
            AttrValUnion::Double(v) => AttrData::Double(v),
            AttrValUnion::UChar(v) => AttrData::UChar(v),
            AttrValUnion::UShort(v) => AttrData::UShort(v),
            AttrValUnion::ULong(v) => AttrData::ULong(v),
            AttrValUnion::ULong64(v) => AttrData::ULong64(v),
            AttrValUnion::String(v) => AttrData::String(v),
            AttrValUnion::State(v) => AttrData::State(v),
            AttrValUnion::DevState(s) => AttrData::State(vec![s]),
            AttrValUnion::Encoded(v) => AttrData::Encoded(v),
            AttrValUnion::NoData(_) => return None,
        })
    }

    /// To the wire union.
    pub fn into_union(self) -> AttrValUnion {
        match self {
            AttrData::Bool(v) => AttrValUnion::Bool(v),
            AttrData::Short(v) | AttrData::Enum(v) => AttrValUnion::Short(v),
            AttrData::Long(v) => AttrValUnion::Long(v),
            AttrData::Long64(v) => AttrValUnion::Long64(v),
            AttrData::Float(v) => AttrValUnion::Float(v),
            AttrData::Double(v) => AttrValUnion::Double(v),
            AttrData::UChar(v) => AttrValUnion::UChar(v),
            AttrData::UShort(v) => AttrValUnion::UShort(v),
            AttrData::ULong(v) => AttrValUnion::ULong(v),
            AttrData::ULong64(v) => AttrValUnion::ULong64(v),
            AttrData::String(v) => AttrValUnion::String(v),
            AttrData::State(v) => AttrValUnion::State(v),
            AttrData::Encoded(v) => AttrValUnion::Encoded(v),
        }
    }

    /// The same elements converted to the Tango type `target`, as PyTango converts a
    /// Python value to the attribute's type before writing it. Numbers must fit the target
    /// type exactly (no silent truncation); strings, states and encoded values convert
    /// only to themselves.
    pub fn convert_to(self, target: CmdArgType) -> Result<AttrData> {
        if self.data_type() == target {
            return Ok(self);
        }
        let nums = self.numbers()?;
        let ty = target;
        macro_rules! conv {
            ($variant:ident, $t:ty) => {
                AttrData::$variant(nums.iter().map(|n| n.to::<$t>(ty)).collect::<Result<_>>()?)
            };
        }
        Ok(match target {
            CmdArgType::DevBoolean => AttrData::Bool(
                nums.iter()
                    .map(|n| match n.as_i128() {
                        Some(0) => Ok(false),
                        Some(1) => Ok(true),
                        _ => Err(ValueError::new(format!("{n} is not a DevBoolean (0 or 1)"))),
                    })
                    .collect::<Result<_>>()?,
            ),
            CmdArgType::DevShort => conv!(Short, i16),
            CmdArgType::DevEnum => conv!(Enum, i16),
            CmdArgType::DevLong => conv!(Long, i32),
            CmdArgType::DevLong64 => conv!(Long64, i64),
            CmdArgType::DevUChar => conv!(UChar, u8),
            CmdArgType::DevUShort => conv!(UShort, u16),
            CmdArgType::DevULong => conv!(ULong, u32),
            CmdArgType::DevULong64 => conv!(ULong64, u64),
            CmdArgType::DevFloat => {
                AttrData::Float(nums.iter().map(|n| n.as_f64() as f32).collect())
            }
            CmdArgType::DevDouble => AttrData::Double(nums.iter().map(|n| n.as_f64()).collect()),
            other => {
                return Err(ValueError::new(format!(
                    "cannot convert numbers to {other}"
                )))
            }
        })
    }

    fn numbers(&self) -> Result<Vec<Num>> {
        Ok(match self {
            AttrData::Bool(v) => v.iter().map(|&b| Num::I(b as i128)).collect(),
            AttrData::Short(v) | AttrData::Enum(v) => v.iter().map(|&x| Num::I(x.into())).collect(),
            AttrData::Long(v) => v.iter().map(|&x| Num::I(x.into())).collect(),
            AttrData::Long64(v) => v.iter().map(|&x| Num::I(x.into())).collect(),
            AttrData::UChar(v) => v.iter().map(|&x| Num::I(x.into())).collect(),
            AttrData::UShort(v) => v.iter().map(|&x| Num::I(x.into())).collect(),
            AttrData::ULong(v) => v.iter().map(|&x| Num::I(x.into())).collect(),
            AttrData::ULong64(v) => v.iter().map(|&x| Num::I(x.into())).collect(),
            AttrData::Float(v) => v.iter().map(|&x| Num::F(x.into())).collect(),
            AttrData::Double(v) => v.iter().map(|&x| Num::F(x)).collect(),
            other => {
                return Err(ValueError::new(format!(
                    "a {} value cannot be converted to another type",
                    other.data_type()
                )))
            }
        })
    }
}

/// A number on its way between Tango types.
#[derive(Debug, Clone, Copy)]
enum Num {
    I(i128),
    F(f64),
}

impl std::fmt::Display for Num {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Num::I(i) => write!(f, "{i}"),
            Num::F(x) => write!(f, "{x}"),
        }
    }
}

impl Num {
    fn as_f64(self) -> f64 {
        match self {
            Num::I(i) => i as f64,
            Num::F(x) => x,
        }
    }
    fn as_i128(self) -> Option<i128> {
        match self {
            Num::I(i) => Some(i),
            Num::F(x) if x.is_finite() && x.fract() == 0.0 && x.abs() < 1e38 => Some(x as i128),
            Num::F(_) => None,
        }
    }
    fn to<T: TryFrom<i128>>(self, ty: CmdArgType) -> Result<T> {
        self.as_i128()
            .and_then(|i| T::try_from(i).ok())
            .ok_or_else(|| ValueError::new(format!("{self} does not fit in a {ty}")))
    }
}

/// An image: `dim_y` rows of `dim_x` elements, stored row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Image<T> {
    /// Columns.
    pub dim_x: usize,
    /// Rows.
    pub dim_y: usize,
    /// `dim_x * dim_y` elements, row after row.
    pub data: Vec<T>,
}

impl<T> Image<T> {
    /// An image from rows, which must all have the same length.
    pub fn from_rows(rows: Vec<Vec<T>>) -> Result<Self> {
        let dim_y = rows.len();
        let dim_x = rows.first().map_or(0, Vec::len);
        if rows.iter().any(|r| r.len() != dim_x) {
            return Err(ValueError::new("image rows differ in length"));
        }
        Ok(Image {
            dim_x,
            dim_y,
            data: rows.into_iter().flatten().collect(),
        })
    }

    /// The rows.
    pub fn rows(&self) -> impl Iterator<Item = &[T]> {
        self.data.chunks(self.dim_x.max(1)).take(self.dim_y)
    }
}

/// What `write_attribute` takes: data and its shape.
#[derive(Debug, Clone, PartialEq)]
pub struct WriteValue {
    /// The elements, row-major for images.
    pub data: AttrData,
    /// Scalar, spectrum or image.
    pub format: AttrDataFormat,
    /// Elements per row (1 for a scalar).
    pub dim_x: usize,
    /// Rows (0 unless an image).
    pub dim_y: usize,
}

impl WriteValue {
    /// A scalar.
    pub fn scalar(data: AttrData) -> Self {
        WriteValue {
            data,
            format: AttrDataFormat::Scalar,
            dim_x: 1,
            dim_y: 0,
        }
    }
    /// A spectrum of `data.len()` elements.
    pub fn spectrum(data: AttrData) -> Self {
        let dim_x = data.len();
        WriteValue {
            data,
            format: AttrDataFormat::Spectrum,
            dim_x,
            dim_y: 0,
        }
    }
    /// An image of `dim_y` rows of `dim_x` elements.
    pub fn image(data: AttrData, dim_x: usize, dim_y: usize) -> Result<Self> {
        if data.len() != dim_x * dim_y {
            return Err(ValueError::new(format!(
                "image of {dim_x}x{dim_y} needs {} elements, got {}",
                dim_x * dim_y,
                data.len()
            )));
        }
        Ok(WriteValue {
            data,
            format: AttrDataFormat::Image,
            dim_x,
            dim_y,
        })
    }
}

/// A Rust type that is one element of an attribute value or a command argument.
pub trait TangoElement: Sized + Clone {
    /// Wraps elements into [`AttrData`].
    fn into_data(v: Vec<Self>) -> AttrData;
    /// Takes elements out of [`AttrData`] of the same or a losslessly wider-convertible
    /// type; `None` if the types do not match.
    fn from_data(d: &AttrData) -> Option<Vec<Self>>;
}

macro_rules! element {
    ($t:ty, $variant:ident $(, $from:ident)*) => {
        impl TangoElement for $t {
            fn into_data(v: Vec<Self>) -> AttrData {
                AttrData::$variant(v)
            }
            fn from_data(d: &AttrData) -> Option<Vec<Self>> {
                match d {
                    AttrData::$variant(v) => Some(v.clone()),
                    $( AttrData::$from(v) => Some(v.iter().map(|&x| <$t>::from(x)).collect()), )*
                    _ => None,
                }
            }
        }
    };
}
element!(bool, Bool);
element!(i16, Short, UChar, Enum);
element!(i32, Long, Short, UShort, UChar, Enum);
element!(i64, Long64, Long, ULong, Short, UShort, UChar, Enum);
element!(f32, Float);
element!(f64, Double, Float, Long, Short, UShort, ULong, UChar);
element!(u8, UChar);
element!(u16, UShort, UChar);
element!(u32, ULong, UShort, UChar);
element!(u64, ULong64, ULong, UShort, UChar);
element!(String, String);
element!(DevState, State);
element!(DevEncoded, Encoded);

impl<T: TangoElement> From<T> for WriteValue {
    fn from(v: T) -> Self {
        WriteValue::scalar(T::into_data(vec![v]))
    }
}
impl<T: TangoElement> From<Vec<T>> for WriteValue {
    fn from(v: Vec<T>) -> Self {
        WriteValue::spectrum(T::into_data(v))
    }
}
impl<T: TangoElement> From<&[T]> for WriteValue {
    fn from(v: &[T]) -> Self {
        WriteValue::spectrum(T::into_data(v.to_vec()))
    }
}
impl From<&str> for WriteValue {
    fn from(v: &str) -> Self {
        WriteValue::scalar(AttrData::String(vec![v.to_owned()]))
    }
}
impl From<Vec<&str>> for WriteValue {
    fn from(v: Vec<&str>) -> Self {
        WriteValue::spectrum(AttrData::String(v.into_iter().map(str::to_owned).collect()))
    }
}
impl<T: TangoElement> From<Image<T>> for WriteValue {
    fn from(img: Image<T>) -> Self {
        WriteValue {
            format: AttrDataFormat::Image,
            dim_x: img.dim_x,
            dim_y: img.dim_y,
            data: T::into_data(img.data),
        }
    }
}

/// A value that can be a command argument. `()` is the argument of `DevVoid` commands.
pub trait IntoCommandData {
    /// The argument as Tango command data.
    fn into_command_data(self) -> CommandData;
}

impl IntoCommandData for CommandData {
    fn into_command_data(self) -> CommandData {
        self
    }
}
impl IntoCommandData for () {
    fn into_command_data(self) -> CommandData {
        CommandData::Void
    }
}
impl IntoCommandData for &str {
    fn into_command_data(self) -> CommandData {
        CommandData::String(self.to_owned())
    }
}
impl IntoCommandData for Vec<&str> {
    fn into_command_data(self) -> CommandData {
        CommandData::StringArray(self.into_iter().map(str::to_owned).collect())
    }
}
impl IntoCommandData for (Vec<i32>, Vec<String>) {
    fn into_command_data(self) -> CommandData {
        CommandData::LongStringArray(self.0, self.1)
    }
}
impl IntoCommandData for (Vec<f64>, Vec<String>) {
    fn into_command_data(self) -> CommandData {
        CommandData::DoubleStringArray(self.0, self.1)
    }
}

/// A command result converted to a Rust type.
pub trait FromCommandData: Sized {
    /// Converts, or says what the data was.
    fn from_command_data(d: CommandData) -> Result<Self>;
}

impl FromCommandData for CommandData {
    fn from_command_data(d: CommandData) -> Result<Self> {
        Ok(d)
    }
}
impl FromCommandData for () {
    fn from_command_data(d: CommandData) -> Result<Self> {
        match d {
            CommandData::Void => Ok(()),
            other => Err(mismatch("nothing (DevVoid)", &other)),
        }
    }
}
impl FromCommandData for (Vec<i32>, Vec<String>) {
    fn from_command_data(d: CommandData) -> Result<Self> {
        match d {
            CommandData::LongStringArray(l, s) => Ok((l, s)),
            other => Err(mismatch("DevVarLongStringArray", &other)),
        }
    }
}
impl FromCommandData for (Vec<f64>, Vec<String>) {
    fn from_command_data(d: CommandData) -> Result<Self> {
        match d {
            CommandData::DoubleStringArray(l, s) => Ok((l, s)),
            other => Err(mismatch("DevVarDoubleStringArray", &other)),
        }
    }
}

fn mismatch(wanted: &str, got: &CommandData) -> ValueError {
    ValueError::new(format!("expected {wanted}, got {}", got.arg_type()))
}

macro_rules! command_scalar {
    ($t:ty, $scalar:ident, $array:ident) => {
        impl IntoCommandData for $t {
            fn into_command_data(self) -> CommandData {
                CommandData::$scalar(self)
            }
        }
        impl IntoCommandData for Vec<$t> {
            fn into_command_data(self) -> CommandData {
                CommandData::$array(self)
            }
        }
        impl FromCommandData for $t {
            fn from_command_data(d: CommandData) -> Result<Self> {
                match d {
                    CommandData::$scalar(v) => Ok(v),
                    other => Err(mismatch(stringify!($t), &other)),
                }
            }
        }
        impl FromCommandData for Vec<$t> {
            fn from_command_data(d: CommandData) -> Result<Self> {
                match d {
                    CommandData::$array(v) => Ok(v),
                    other => Err(mismatch(concat!("Vec<", stringify!($t), ">"), &other)),
                }
            }
        }
    };
}
command_scalar!(bool, Boolean, BooleanArray);
command_scalar!(i16, Short, ShortArray);
command_scalar!(i32, Long, LongArray);
command_scalar!(i64, Long64, Long64Array);
command_scalar!(f32, Float, FloatArray);
command_scalar!(f64, Double, DoubleArray);
command_scalar!(u8, UChar, CharArray);
command_scalar!(u16, UShort, UShortArray);
command_scalar!(u32, ULong, ULongArray);
command_scalar!(u64, ULong64, ULong64Array);
command_scalar!(String, String, StringArray);
command_scalar!(DevState, State, StateArray);

impl IntoCommandData for DevEncoded {
    fn into_command_data(self) -> CommandData {
        CommandData::Encoded(self)
    }
}
impl FromCommandData for DevEncoded {
    fn from_command_data(d: CommandData) -> Result<Self> {
        match d {
            CommandData::Encoded(v) => Ok(v),
            other => Err(mismatch("DevEncoded", &other)),
        }
    }
}

/// Converts a command argument to the type the command declares, as PyTango does after
/// its `command_query`: numbers convert when they fit, arrays element-wise.
pub fn convert_command_arg(arg: CommandData, target: CmdArgType) -> Result<CommandData> {
    use CmdArgType as T;
    if arg.arg_type() == target
        || (target == T::ConstDevString && matches!(arg, CommandData::String(_)))
    {
        return Ok(arg);
    }
    let scalar = |a: AttrData| -> Result<AttrData> {
        if a.len() == 1 {
            Ok(a)
        } else {
            Err(ValueError::new(format!(
                "{target} takes one value, got {}",
                a.len()
            )))
        }
    };
    // Reuse the attribute conversions: command scalars and arrays map onto AttrData.
    let data = command_to_attr(&arg).ok_or_else(|| {
        ValueError::new(format!(
            "command expects {target}, the argument is {}",
            arg.arg_type()
        ))
    })?;
    let elem = |t| data.clone().convert_to(t);
    Ok(match target {
        T::DevVoid => {
            return Err(ValueError::new(format!(
                "command takes no argument (DevVoid), got {}",
                arg.arg_type()
            )))
        }
        T::DevBoolean => first(scalar(elem(T::DevBoolean)?)?, CommandData::Boolean),
        T::DevShort => first(scalar(elem(T::DevShort)?)?, CommandData::Short),
        T::DevEnum => first(scalar(elem(T::DevShort)?)?, CommandData::Enum),
        T::DevLong => first(scalar(elem(T::DevLong)?)?, CommandData::Long),
        T::DevLong64 => first(scalar(elem(T::DevLong64)?)?, CommandData::Long64),
        T::DevFloat => first(scalar(elem(T::DevFloat)?)?, CommandData::Float),
        T::DevDouble => first(scalar(elem(T::DevDouble)?)?, CommandData::Double),
        T::DevUChar => first(scalar(elem(T::DevUChar)?)?, CommandData::UChar),
        T::DevUShort => first(scalar(elem(T::DevUShort)?)?, CommandData::UShort),
        T::DevULong => first(scalar(elem(T::DevULong)?)?, CommandData::ULong),
        T::DevULong64 => first(scalar(elem(T::DevULong64)?)?, CommandData::ULong64),
        T::DevVarBooleanArray => all(elem(T::DevBoolean)?, CommandData::BooleanArray),
        T::DevVarCharArray => all(elem(T::DevUChar)?, CommandData::CharArray),
        T::DevVarShortArray => all(elem(T::DevShort)?, CommandData::ShortArray),
        T::DevVarLongArray => all(elem(T::DevLong)?, CommandData::LongArray),
        T::DevVarLong64Array => all(elem(T::DevLong64)?, CommandData::Long64Array),
        T::DevVarFloatArray => all(elem(T::DevFloat)?, CommandData::FloatArray),
        T::DevVarDoubleArray => all(elem(T::DevDouble)?, CommandData::DoubleArray),
        T::DevVarUShortArray => all(elem(T::DevUShort)?, CommandData::UShortArray),
        T::DevVarULongArray => all(elem(T::DevULong)?, CommandData::ULongArray),
        T::DevVarULong64Array => all(elem(T::DevULong64)?, CommandData::ULong64Array),
        other => {
            return Err(ValueError::new(format!(
                "command expects {other}, the argument is {}",
                arg.arg_type()
            )))
        }
    })
}

fn first<T: TangoElement>(d: AttrData, f: impl FnOnce(T) -> CommandData) -> CommandData {
    let v = T::from_data(&d).expect("converted to this type");
    f(v.into_iter().next().expect("one element"))
}

fn all<T: TangoElement>(d: AttrData, f: impl FnOnce(Vec<T>) -> CommandData) -> CommandData {
    f(T::from_data(&d).expect("converted to this type"))
}

/// Tango strings travel as ISO-8859-1: a character above U+00FF cannot be sent, and is
/// refused here rather than replaced (the CDR writer would send `?`).
pub fn check_latin1(s: &str) -> Result<()> {
    match s.chars().find(|c| u32::from(*c) > 0xFF) {
        None => Ok(()),
        Some(c) => Err(ValueError::new(format!(
            "character {c:?} (U+{:04X}) cannot be sent: Tango strings are Latin-1 (ISO-8859-1)",
            u32::from(c)
        ))),
    }
}

/// Checks every string of attribute data with [`check_latin1`].
pub fn check_latin1_data(d: &AttrData) -> Result<()> {
    match d {
        AttrData::String(v) => v.iter().try_for_each(|s| check_latin1(s)),
        AttrData::Encoded(v) => v.iter().try_for_each(|e| check_latin1(&e.encoded_format)),
        _ => Ok(()),
    }
}

/// Checks every string of command data with [`check_latin1`].
pub fn check_latin1_command(c: &CommandData) -> Result<()> {
    match c {
        CommandData::String(s) => check_latin1(s),
        CommandData::StringArray(v)
        | CommandData::LongStringArray(_, v)
        | CommandData::DoubleStringArray(_, v) => v.iter().try_for_each(|s| check_latin1(s)),
        CommandData::Encoded(e) => check_latin1(&e.encoded_format),
        _ => Ok(()),
    }
}

/// The numeric view of a command argument (scalars as one element), for conversions and
/// display; `None` for strings, states and encoded data.
pub fn command_to_attr(c: &CommandData) -> Option<AttrData> {
    Some(match c.clone() {
        CommandData::Boolean(v) => AttrData::Bool(vec![v]),
        CommandData::Short(v) => AttrData::Short(vec![v]),
        CommandData::Enum(v) => AttrData::Short(vec![v]),
        CommandData::Long(v) => AttrData::Long(vec![v]),
        CommandData::Long64(v) => AttrData::Long64(vec![v]),
        CommandData::Float(v) => AttrData::Float(vec![v]),
        CommandData::Double(v) => AttrData::Double(vec![v]),
        CommandData::UChar(v) => AttrData::UChar(vec![v]),
        CommandData::UShort(v) => AttrData::UShort(vec![v]),
        CommandData::ULong(v) => AttrData::ULong(vec![v]),
        CommandData::ULong64(v) => AttrData::ULong64(vec![v]),
        CommandData::BooleanArray(v) => AttrData::Bool(v),
        CommandData::CharArray(v) => AttrData::UChar(v),
        CommandData::ShortArray(v) => AttrData::Short(v),
        CommandData::LongArray(v) => AttrData::Long(v),
        CommandData::Long64Array(v) => AttrData::Long64(v),
        CommandData::FloatArray(v) => AttrData::Float(v),
        CommandData::DoubleArray(v) => AttrData::Double(v),
        CommandData::UShortArray(v) => AttrData::UShort(v),
        CommandData::ULongArray(v) => AttrData::ULong(v),
        CommandData::ULong64Array(v) => AttrData::ULong64(v),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_convert_when_they_fit() {
        let d = AttrData::Long(vec![1, -2])
            .convert_to(CmdArgType::DevShort)
            .unwrap();
        assert_eq!(d, AttrData::Short(vec![1, -2]));
        let e = AttrData::Long(vec![70000])
            .convert_to(CmdArgType::DevShort)
            .unwrap_err();
        assert!(e.to_string().contains("70000"), "{e}");
        assert!(AttrData::Double(vec![1.5])
            .convert_to(CmdArgType::DevLong)
            .is_err());
        assert_eq!(
            AttrData::Double(vec![2.0])
                .convert_to(CmdArgType::DevULong)
                .unwrap(),
            AttrData::ULong(vec![2])
        );
        assert!(AttrData::String(vec!["x".into()])
            .convert_to(CmdArgType::DevDouble)
            .is_err());
    }

    #[test]
    fn command_args_convert_to_declared_type() {
        assert_eq!(
            convert_command_arg(CommandData::Long(3), CmdArgType::DevDouble).unwrap(),
            CommandData::Double(3.0)
        );
        assert_eq!(
            convert_command_arg(
                CommandData::LongArray(vec![1, 2]),
                CmdArgType::DevVarDoubleArray
            )
            .unwrap(),
            CommandData::DoubleArray(vec![1.0, 2.0])
        );
        assert!(convert_command_arg(CommandData::String("a".into()), CmdArgType::DevLong).is_err());
        assert!(convert_command_arg(CommandData::Long(1), CmdArgType::DevVoid).is_err());
    }

    #[test]
    fn latin1_only() {
        assert!(check_latin1("été ÿ").is_ok());
        let e = check_latin1("20 €").unwrap_err();
        assert!(e.to_string().contains("U+20AC"), "{e}");
        assert!(check_latin1_command(&CommandData::StringArray(vec!["€".into()])).is_err());
    }

    #[test]
    fn image_rows() {
        let img = Image::from_rows(vec![vec![1, 2, 3], vec![4, 5, 6]]).unwrap();
        assert_eq!((img.dim_x, img.dim_y), (3, 2));
        assert_eq!(img.rows().nth(1).unwrap(), &[4, 5, 6]);
        assert!(Image::from_rows(vec![vec![1], vec![1, 2]]).is_err());
    }
}
