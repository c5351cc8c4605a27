//! CORBA `any` the way omniORB and Tango use it: a [`TypeCode`] followed by a value.
//!
//! Tango commands (`command_inout*`) carry their argument and result in an `any`; so do
//! the old `AttributeValue`/`AttributeValue_3` and the history structs. Rather than a
//! general dynamic CORBA value we decode into [`CommandData`], the closed set of Tango
//! command types, because nothing else ever travels there.
//!
//! What omniORB sends (wire-notes §6.2, §9.11-12): scalars use the plain primitive
//! TypeCode; `DevString` is `tk_string` bound 0; void is `tk_null` (kind 0, not
//! `tk_void`); every `DevVarXxxArray` is a `tk_alias` of a `tk_sequence`; the two mixed
//! arrays and `DevEncoded` are `tk_struct`s of aliased members; `DevState` is a full
//! `tk_enum`. [`CommandData::type_code`] reproduces exactly those, so a re-encoded value
//! matches the captured bytes (padding aside). Decoding goes by the TypeCode's *shape*
//! (after removing aliases), so plain sequences or `tk_void` from other ORBs work too.

use crate::cdr::{CdrDecode, CdrEncode, CdrReader, CdrWriter, DecodeError, DecodeResult};
use crate::idl::{CmdArgType, DevEncoded, DevState};

/// How deeply TypeCodes may nest before we refuse them: bounds recursion on hostile input
/// (Tango's deepest is 3: struct → alias → sequence).
pub const MAX_TYPECODE_DEPTH: usize = 32;

/// `TCKind` values (CORBA 3, §15.3.5.1) we give a name to.
pub mod tk {
    /// `tk_null`: what omniORB sends for void.
    pub const NULL: u32 = 0;
    /// `tk_void`.
    pub const VOID: u32 = 1;
    /// `tk_short`.
    pub const SHORT: u32 = 2;
    /// `tk_long`.
    pub const LONG: u32 = 3;
    /// `tk_ushort`.
    pub const USHORT: u32 = 4;
    /// `tk_ulong`.
    pub const ULONG: u32 = 5;
    /// `tk_float`.
    pub const FLOAT: u32 = 6;
    /// `tk_double`.
    pub const DOUBLE: u32 = 7;
    /// `tk_boolean`.
    pub const BOOLEAN: u32 = 8;
    /// `tk_char`.
    pub const CHAR: u32 = 9;
    /// `tk_octet`.
    pub const OCTET: u32 = 10;
    /// `tk_any`.
    pub const ANY: u32 = 11;
    /// `tk_TypeCode`.
    pub const TYPECODE: u32 = 12;
    /// `tk_Principal`.
    pub const PRINCIPAL: u32 = 13;
    /// `tk_objref`.
    pub const OBJREF: u32 = 14;
    /// `tk_struct`.
    pub const STRUCT: u32 = 15;
    /// `tk_union`.
    pub const UNION: u32 = 16;
    /// `tk_enum`.
    pub const ENUM: u32 = 17;
    /// `tk_string`.
    pub const STRING: u32 = 18;
    /// `tk_sequence`.
    pub const SEQUENCE: u32 = 19;
    /// `tk_array`.
    pub const ARRAY: u32 = 20;
    /// `tk_alias`.
    pub const ALIAS: u32 = 21;
    /// `tk_except`.
    pub const EXCEPT: u32 = 22;
    /// `tk_longlong`.
    pub const LONGLONG: u32 = 23;
    /// `tk_ulonglong`.
    pub const ULONGLONG: u32 = 24;
    /// `tk_longdouble`.
    pub const LONGDOUBLE: u32 = 25;
    /// `tk_wchar`.
    pub const WCHAR: u32 = 26;
    /// `tk_wstring`.
    pub const WSTRING: u32 = 27;
    /// An indirection to a TypeCode sent earlier (never seen from Tango).
    pub const INDIRECTION: u32 = 0xffff_ffff;
}

/// A CORBA TypeCode, reduced to the kinds Tango uses.
#[derive(Debug, Clone, PartialEq)]
pub enum TypeCode {
    /// `tk_null` (omniORB's void).
    Null,
    /// `tk_void`.
    Void,
    /// `tk_short`.
    Short,
    /// `tk_long`.
    Long,
    /// `tk_ushort`.
    UShort,
    /// `tk_ulong`.
    ULong,
    /// `tk_float`.
    Float,
    /// `tk_double`.
    Double,
    /// `tk_boolean`.
    Boolean,
    /// `tk_char`.
    Char,
    /// `tk_octet`.
    Octet,
    /// `tk_any`.
    Any,
    /// `tk_longlong`.
    LongLong,
    /// `tk_ulonglong`.
    ULongLong,
    /// `tk_string` with its bound (0 = unbounded, what Tango sends).
    String {
        /// Maximum length, 0 for none.
        bound: u32,
    },
    /// `tk_sequence`.
    Sequence {
        /// The element type.
        element: Box<TypeCode>,
        /// Maximum length, 0 for none.
        bound: u32,
    },
    /// `tk_alias`: a named typedef (`IDL:Tango/DevVarDoubleArray:1.0`).
    Alias {
        /// Repository id.
        id: String,
        /// Simple name.
        name: String,
        /// The aliased type.
        content: Box<TypeCode>,
    },
    /// `tk_struct`.
    Struct {
        /// Repository id.
        id: String,
        /// Simple name.
        name: String,
        /// Member names and types, in order.
        members: Vec<(String, TypeCode)>,
    },
    /// `tk_enum`.
    Enum {
        /// Repository id.
        id: String,
        /// Simple name.
        name: String,
        /// The labels, value 0 first.
        labels: Vec<String>,
    },
    /// Another kind that has no parameters (`tk_TypeCode`, `tk_Principal`,
    /// `tk_longdouble`, `tk_wchar`). Kinds with parameters we do not model (`tk_objref`,
    /// `tk_union`, `tk_array`, `tk_except`, `tk_wstring`...) are decode errors: Tango never
    /// sends them, and skipping them would leave us unable to read the value anyway.
    Other(u32),
}

fn kind_name(kind: u32) -> &'static str {
    match kind {
        tk::NULL => "tk_null",
        tk::VOID => "tk_void",
        tk::SHORT => "tk_short",
        tk::LONG => "tk_long",
        tk::USHORT => "tk_ushort",
        tk::ULONG => "tk_ulong",
        tk::FLOAT => "tk_float",
        tk::DOUBLE => "tk_double",
        tk::BOOLEAN => "tk_boolean",
        tk::CHAR => "tk_char",
        tk::OCTET => "tk_octet",
        tk::ANY => "tk_any",
        tk::TYPECODE => "tk_TypeCode",
        tk::PRINCIPAL => "tk_Principal",
        tk::OBJREF => "tk_objref",
        tk::STRUCT => "tk_struct",
        tk::UNION => "tk_union",
        tk::ENUM => "tk_enum",
        tk::STRING => "tk_string",
        tk::SEQUENCE => "tk_sequence",
        tk::ARRAY => "tk_array",
        tk::ALIAS => "tk_alias",
        tk::EXCEPT => "tk_except",
        tk::LONGLONG => "tk_longlong",
        tk::ULONGLONG => "tk_ulonglong",
        tk::LONGDOUBLE => "tk_longdouble",
        tk::WCHAR => "tk_wchar",
        tk::WSTRING => "tk_wstring",
        28 => "tk_fixed",
        29 => "tk_value",
        30 => "tk_value_box",
        31 => "tk_native",
        32 => "tk_abstract_interface",
        33 => "tk_local_interface",
        _ => "unknown kind",
    }
}

impl TypeCode {
    /// The `TCKind` number.
    pub fn kind(&self) -> u32 {
        match self {
            TypeCode::Null => tk::NULL,
            TypeCode::Void => tk::VOID,
            TypeCode::Short => tk::SHORT,
            TypeCode::Long => tk::LONG,
            TypeCode::UShort => tk::USHORT,
            TypeCode::ULong => tk::ULONG,
            TypeCode::Float => tk::FLOAT,
            TypeCode::Double => tk::DOUBLE,
            TypeCode::Boolean => tk::BOOLEAN,
            TypeCode::Char => tk::CHAR,
            TypeCode::Octet => tk::OCTET,
            TypeCode::Any => tk::ANY,
            TypeCode::LongLong => tk::LONGLONG,
            TypeCode::ULongLong => tk::ULONGLONG,
            TypeCode::String { .. } => tk::STRING,
            TypeCode::Sequence { .. } => tk::SEQUENCE,
            TypeCode::Alias { .. } => tk::ALIAS,
            TypeCode::Struct { .. } => tk::STRUCT,
            TypeCode::Enum { .. } => tk::ENUM,
            TypeCode::Other(k) => *k,
        }
    }

    /// Writes the TypeCode: its kind, then a bound (`tk_string`) or an encapsulation of
    /// its parameters (complex kinds).
    pub fn encode(&self, w: &mut CdrWriter) {
        w.write_ulong(self.kind());
        match self {
            TypeCode::String { bound } => w.write_ulong(*bound),
            TypeCode::Sequence { element, bound } => w.write_encapsulation(|e| {
                element.encode(e);
                e.write_ulong(*bound);
            }),
            TypeCode::Alias { id, name, content } => w.write_encapsulation(|e| {
                e.write_string(id);
                e.write_string(name);
                content.encode(e);
            }),
            TypeCode::Struct { id, name, members } => w.write_encapsulation(|e| {
                e.write_string(id);
                e.write_string(name);
                e.write_len(members.len());
                for (m, tc) in members {
                    e.write_string(m);
                    tc.encode(e);
                }
            }),
            TypeCode::Enum { id, name, labels } => w.write_encapsulation(|e| {
                e.write_string(id);
                e.write_string(name);
                e.write_string_seq(labels);
            }),
            _ => {}
        }
    }

    /// Reads a TypeCode. Nesting deeper than [`MAX_TYPECODE_DEPTH`], indirections and
    /// parameterised kinds we do not model are errors (never a panic or a stack overflow).
    pub fn decode(r: &mut CdrReader<'_>) -> DecodeResult<TypeCode> {
        Self::decode_at_depth(r, 0)
    }

    fn decode_at_depth(r: &mut CdrReader<'_>, depth: usize) -> DecodeResult<TypeCode> {
        if depth > MAX_TYPECODE_DEPTH {
            return Err(r.malformed(
                "TypeCode",
                format!("nested more than {MAX_TYPECODE_DEPTH} levels deep"),
            ));
        }
        let kind = r.read_ulong()?;
        Ok(match kind {
            tk::NULL => TypeCode::Null,
            tk::VOID => TypeCode::Void,
            tk::SHORT => TypeCode::Short,
            tk::LONG => TypeCode::Long,
            tk::USHORT => TypeCode::UShort,
            tk::ULONG => TypeCode::ULong,
            tk::FLOAT => TypeCode::Float,
            tk::DOUBLE => TypeCode::Double,
            tk::BOOLEAN => TypeCode::Boolean,
            tk::CHAR => TypeCode::Char,
            tk::OCTET => TypeCode::Octet,
            tk::ANY => TypeCode::Any,
            tk::LONGLONG => TypeCode::LongLong,
            tk::ULONGLONG => TypeCode::ULongLong,
            tk::TYPECODE | tk::PRINCIPAL | tk::LONGDOUBLE | tk::WCHAR => TypeCode::Other(kind),
            tk::STRING => TypeCode::String {
                bound: r.read_ulong()?,
            },
            tk::SEQUENCE => {
                let mut e = r.read_encapsulation()?;
                let element = Self::decode_at_depth(&mut e, depth + 1)?;
                let bound = e.read_ulong()?;
                TypeCode::Sequence {
                    element: Box::new(element),
                    bound,
                }
            }
            tk::ALIAS => {
                let mut e = r.read_encapsulation()?;
                let id = e.read_string()?;
                let name = e.read_string()?;
                let content = Self::decode_at_depth(&mut e, depth + 1)?;
                TypeCode::Alias {
                    id,
                    name,
                    content: Box::new(content),
                }
            }
            tk::STRUCT => {
                let mut e = r.read_encapsulation()?;
                let id = e.read_string()?;
                let name = e.read_string()?;
                // each member is at least a string (5 bytes) and a kind (4 bytes)
                let n = e.read_len(9, "tk_struct members")?;
                let mut members = Vec::with_capacity(n);
                for _ in 0..n {
                    let m = e.read_string()?;
                    let tc = Self::decode_at_depth(&mut e, depth + 1)?;
                    members.push((m, tc));
                }
                TypeCode::Struct { id, name, members }
            }
            tk::ENUM => {
                let mut e = r.read_encapsulation()?;
                let id = e.read_string()?;
                let name = e.read_string()?;
                let labels = e.read_string_seq()?;
                TypeCode::Enum { id, name, labels }
            }
            tk::INDIRECTION => {
                return Err(r.malformed(
                    "TypeCode",
                    "indirection (kind 0xffffffff) is not supported (Tango never sends it)",
                ))
            }
            other => {
                return Err(r.malformed(
                    "TypeCode",
                    format!(
                        "kind {other} ({}) is not supported in a Tango any",
                        kind_name(other)
                    ),
                ))
            }
        })
    }

    /// The type with every outer `tk_alias` removed.
    pub fn unalias(&self) -> &TypeCode {
        let mut t = self;
        while let TypeCode::Alias { content, .. } = t {
            t = content;
        }
        t
    }

    /// A short human description (`alias DevVarDoubleArray -> sequence<tk_double>`), for
    /// error messages.
    pub fn describe(&self) -> String {
        match self {
            TypeCode::String { .. } => "tk_string".into(),
            TypeCode::Sequence { element, .. } => format!("sequence<{}>", element.describe()),
            TypeCode::Alias { id, content, .. } => {
                format!("alias {id} -> {}", content.describe())
            }
            TypeCode::Struct { id, members, .. } => {
                let m: Vec<String> = members
                    .iter()
                    .map(|(n, t)| format!("{n}: {}", t.describe()))
                    .collect();
                format!("struct {id} {{{}}}", m.join(", "))
            }
            TypeCode::Enum { id, labels, .. } => {
                format!("enum {id} ({} labels)", labels.len())
            }
            other => kind_name(other.kind()).into(),
        }
    }
}

impl std::fmt::Display for TypeCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

/// The data of a Tango command: what `command_inout` carries in its `any`.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum CommandData {
    /// `DevVoid`.
    #[default]
    Void,
    /// `DevBoolean`.
    Boolean(bool),
    /// `DevShort`.
    Short(i16),
    /// `DevLong`.
    Long(i32),
    /// `DevFloat`.
    Float(f32),
    /// `DevDouble`.
    Double(f64),
    /// `DevUShort`.
    UShort(u16),
    /// `DevULong`.
    ULong(u32),
    /// `DevString`.
    String(String),
    /// `DevVarCharArray`.
    CharArray(Vec<u8>),
    /// `DevVarShortArray`.
    ShortArray(Vec<i16>),
    /// `DevVarLongArray`.
    LongArray(Vec<i32>),
    /// `DevVarFloatArray`.
    FloatArray(Vec<f32>),
    /// `DevVarDoubleArray`.
    DoubleArray(Vec<f64>),
    /// `DevVarUShortArray`.
    UShortArray(Vec<u16>),
    /// `DevVarULongArray`.
    ULongArray(Vec<u32>),
    /// `DevVarStringArray`.
    StringArray(Vec<String>),
    /// `DevVarLongStringArray` (`lvalue`, `svalue`).
    LongStringArray(Vec<i32>, Vec<String>),
    /// `DevVarDoubleStringArray` (`dvalue`, `svalue`).
    DoubleStringArray(Vec<f64>, Vec<String>),
    /// `DevState`.
    State(DevState),
    /// `DevVarBooleanArray`.
    BooleanArray(Vec<bool>),
    /// `DevUChar`.
    UChar(u8),
    /// `DevLong64`.
    Long64(i64),
    /// `DevULong64`.
    ULong64(u64),
    /// `DevVarLong64Array`.
    Long64Array(Vec<i64>),
    /// `DevVarULong64Array`.
    ULong64Array(Vec<u64>),
    /// `DevEncoded`.
    Encoded(DevEncoded),
    /// `DevEnum`: sent as a `DevShort` (`tk_short`), so only [`CommandData::decode_any_as`]
    /// can produce it.
    Enum(i16),
    /// `DevVarStateArray`.
    StateArray(Vec<DevState>),
}

fn alias_seq(name: &str, element: TypeCode) -> TypeCode {
    TypeCode::Alias {
        id: format!("IDL:Tango/{name}:1.0"),
        name: name.to_owned(),
        content: Box::new(TypeCode::Sequence {
            element: Box::new(element),
            bound: 0,
        }),
    }
}

/// The `tk_enum` TypeCode of `Tango::DevState`, with its 14 labels.
pub fn dev_state_type_code() -> TypeCode {
    TypeCode::Enum {
        id: "IDL:Tango/DevState:1.0".into(),
        name: "DevState".into(),
        labels: DevState::ALL.iter().map(|s| s.name().to_owned()).collect(),
    }
}

fn mixed_struct(name: &str, first: &str, first_tc: TypeCode) -> TypeCode {
    TypeCode::Struct {
        id: format!("IDL:Tango/{name}:1.0"),
        name: name.to_owned(),
        members: vec![
            (first.to_owned(), first_tc),
            (
                "svalue".to_owned(),
                alias_seq("DevVarStringArray", TypeCode::String { bound: 0 }),
            ),
        ],
    }
}

impl CommandData {
    /// The Tango type of this value.
    pub fn arg_type(&self) -> CmdArgType {
        use CommandData as C;
        match self {
            C::Void => CmdArgType::DevVoid,
            C::Boolean(_) => CmdArgType::DevBoolean,
            C::Short(_) => CmdArgType::DevShort,
            C::Long(_) => CmdArgType::DevLong,
            C::Float(_) => CmdArgType::DevFloat,
            C::Double(_) => CmdArgType::DevDouble,
            C::UShort(_) => CmdArgType::DevUShort,
            C::ULong(_) => CmdArgType::DevULong,
            C::String(_) => CmdArgType::DevString,
            C::CharArray(_) => CmdArgType::DevVarCharArray,
            C::ShortArray(_) => CmdArgType::DevVarShortArray,
            C::LongArray(_) => CmdArgType::DevVarLongArray,
            C::FloatArray(_) => CmdArgType::DevVarFloatArray,
            C::DoubleArray(_) => CmdArgType::DevVarDoubleArray,
            C::UShortArray(_) => CmdArgType::DevVarUShortArray,
            C::ULongArray(_) => CmdArgType::DevVarULongArray,
            C::StringArray(_) => CmdArgType::DevVarStringArray,
            C::LongStringArray(..) => CmdArgType::DevVarLongStringArray,
            C::DoubleStringArray(..) => CmdArgType::DevVarDoubleStringArray,
            C::State(_) => CmdArgType::DevState,
            C::BooleanArray(_) => CmdArgType::DevVarBooleanArray,
            C::UChar(_) => CmdArgType::DevUChar,
            C::Long64(_) => CmdArgType::DevLong64,
            C::ULong64(_) => CmdArgType::DevULong64,
            C::Long64Array(_) => CmdArgType::DevVarLong64Array,
            C::ULong64Array(_) => CmdArgType::DevVarULong64Array,
            C::Encoded(_) => CmdArgType::DevEncoded,
            C::Enum(_) => CmdArgType::DevEnum,
            C::StateArray(_) => CmdArgType::DevVarStateArray,
        }
    }

    /// The TypeCode omniORB sends for this value (see the module documentation).
    pub fn type_code(&self) -> TypeCode {
        use CommandData as C;
        match self {
            C::Void => TypeCode::Null,
            C::Boolean(_) => TypeCode::Boolean,
            C::Short(_) | C::Enum(_) => TypeCode::Short,
            C::Long(_) => TypeCode::Long,
            C::Float(_) => TypeCode::Float,
            C::Double(_) => TypeCode::Double,
            C::UShort(_) => TypeCode::UShort,
            C::ULong(_) => TypeCode::ULong,
            C::String(_) => TypeCode::String { bound: 0 },
            C::UChar(_) => TypeCode::Octet,
            C::Long64(_) => TypeCode::LongLong,
            C::ULong64(_) => TypeCode::ULongLong,
            C::State(_) => dev_state_type_code(),
            C::CharArray(_) => alias_seq("DevVarCharArray", TypeCode::Octet),
            C::ShortArray(_) => alias_seq("DevVarShortArray", TypeCode::Short),
            C::LongArray(_) => alias_seq("DevVarLongArray", TypeCode::Long),
            C::FloatArray(_) => alias_seq("DevVarFloatArray", TypeCode::Float),
            C::DoubleArray(_) => alias_seq("DevVarDoubleArray", TypeCode::Double),
            C::UShortArray(_) => alias_seq("DevVarUShortArray", TypeCode::UShort),
            C::ULongArray(_) => alias_seq("DevVarULongArray", TypeCode::ULong),
            C::StringArray(_) => alias_seq("DevVarStringArray", TypeCode::String { bound: 0 }),
            C::BooleanArray(_) => alias_seq("DevVarBooleanArray", TypeCode::Boolean),
            C::Long64Array(_) => alias_seq("DevVarLong64Array", TypeCode::LongLong),
            C::ULong64Array(_) => alias_seq("DevVarULong64Array", TypeCode::ULongLong),
            C::StateArray(_) => alias_seq("DevVarStateArray", dev_state_type_code()),
            C::LongStringArray(..) => mixed_struct(
                "DevVarLongStringArray",
                "lvalue",
                alias_seq("DevVarLongArray", TypeCode::Long),
            ),
            C::DoubleStringArray(..) => mixed_struct(
                "DevVarDoubleStringArray",
                "dvalue",
                alias_seq("DevVarDoubleArray", TypeCode::Double),
            ),
            C::Encoded(_) => TypeCode::Struct {
                id: "IDL:Tango/DevEncoded:1.0".into(),
                name: "DevEncoded".into(),
                members: vec![
                    ("encoded_format".into(), TypeCode::String { bound: 0 }),
                    (
                        "encoded_data".into(),
                        alias_seq("DevVarCharArray", TypeCode::Octet),
                    ),
                ],
            },
        }
    }

    /// Writes the value alone, as its TypeCode says (no TypeCode).
    pub fn encode_value(&self, w: &mut CdrWriter) {
        use CommandData as C;
        match self {
            C::Void => {}
            C::Boolean(v) => w.write_bool(*v),
            C::Short(v) | C::Enum(v) => w.write_short(*v),
            C::Long(v) => w.write_long(*v),
            C::Float(v) => w.write_float(*v),
            C::Double(v) => w.write_double(*v),
            C::UShort(v) => w.write_ushort(*v),
            C::ULong(v) => w.write_ulong(*v),
            C::String(v) => w.write_string(v),
            C::CharArray(v) => w.write_octets(v),
            C::ShortArray(v) => w.write_short_seq(v),
            C::LongArray(v) => w.write_long_seq(v),
            C::FloatArray(v) => w.write_float_seq(v),
            C::DoubleArray(v) => w.write_double_seq(v),
            C::UShortArray(v) => w.write_ushort_seq(v),
            C::ULongArray(v) => w.write_ulong_seq(v),
            C::StringArray(v) => w.write_string_seq(v),
            C::LongStringArray(l, s) => {
                w.write_long_seq(l);
                w.write_string_seq(s);
            }
            C::DoubleStringArray(d, s) => {
                w.write_double_seq(d);
                w.write_string_seq(s);
            }
            C::State(s) => s.encode(w),
            C::BooleanArray(v) => w.write_bool_seq(v),
            C::UChar(v) => w.write_octet(*v),
            C::Long64(v) => w.write_longlong(*v),
            C::ULong64(v) => w.write_ulonglong(*v),
            C::Long64Array(v) => w.write_longlong_seq(v),
            C::ULong64Array(v) => w.write_ulonglong_seq(v),
            C::Encoded(e) => e.encode(w),
            C::StateArray(v) => v.encode(w),
        }
    }

    /// Writes the `any`: TypeCode, then value.
    pub fn encode_any(&self, w: &mut CdrWriter) {
        self.type_code().encode(w);
        self.encode_value(w);
    }

    /// Reads an `any`: the TypeCode, then the value as that TypeCode says.
    pub fn decode_any(r: &mut CdrReader<'_>) -> DecodeResult<CommandData> {
        let tc = TypeCode::decode(r)?;
        Self::decode_value(&tc, r)
    }

    /// Like [`CommandData::decode_any`], then adapts the value to the type the caller
    /// expects where the wire cannot tell: `DevEnum` travels as `DevShort`, and
    /// `ConstDevString` as `DevString`. Other mismatches are left for the caller to judge.
    pub fn decode_any_as(r: &mut CdrReader<'_>, expected: CmdArgType) -> DecodeResult<CommandData> {
        let v = Self::decode_any(r)?;
        Ok(match (expected, v) {
            (CmdArgType::DevEnum, CommandData::Short(s)) => CommandData::Enum(s),
            (_, v) => v,
        })
    }

    /// Reads a value whose TypeCode is already known.
    pub fn decode_value(tc: &TypeCode, r: &mut CdrReader<'_>) -> DecodeResult<CommandData> {
        use CommandData as C;
        Ok(match tc.unalias() {
            TypeCode::Null | TypeCode::Void => C::Void,
            TypeCode::Boolean => C::Boolean(r.read_bool()?),
            TypeCode::Short => C::Short(r.read_short()?),
            TypeCode::Long => C::Long(r.read_long()?),
            TypeCode::Float => C::Float(r.read_float()?),
            TypeCode::Double => C::Double(r.read_double()?),
            TypeCode::UShort => C::UShort(r.read_ushort()?),
            TypeCode::ULong => C::ULong(r.read_ulong()?),
            TypeCode::String { .. } => C::String(r.read_string()?),
            TypeCode::Octet => C::UChar(r.read_octet()?),
            TypeCode::LongLong => C::Long64(r.read_longlong()?),
            TypeCode::ULongLong => C::ULong64(r.read_ulonglong()?),
            TypeCode::Enum { labels, .. } => C::State(read_state(r, labels.len())?),
            TypeCode::Sequence { element, .. } => match element.unalias() {
                TypeCode::Octet => C::CharArray(r.read_octets()?.to_vec()),
                TypeCode::Boolean => C::BooleanArray(r.read_bool_seq()?),
                TypeCode::Short => C::ShortArray(r.read_short_seq()?),
                TypeCode::Long => C::LongArray(r.read_long_seq()?),
                TypeCode::Float => C::FloatArray(r.read_float_seq()?),
                TypeCode::Double => C::DoubleArray(r.read_double_seq()?),
                TypeCode::UShort => C::UShortArray(r.read_ushort_seq()?),
                TypeCode::ULong => C::ULongArray(r.read_ulong_seq()?),
                TypeCode::LongLong => C::Long64Array(r.read_longlong_seq()?),
                TypeCode::ULongLong => C::ULong64Array(r.read_ulonglong_seq()?),
                TypeCode::String { .. } => C::StringArray(r.read_string_seq()?),
                TypeCode::Enum { labels, .. } => {
                    let n = r.read_len(4, "sequence<DevState>")?;
                    let mut v = Vec::with_capacity(n);
                    for _ in 0..n {
                        v.push(read_state(r, labels.len())?);
                    }
                    C::StateArray(v)
                }
                _ => return Err(unsupported(r, tc)),
            },
            TypeCode::Struct { members, .. } if members.len() == 2 => {
                let (a, b) = (members[0].1.unalias(), members[1].1.unalias());
                let seq_of = |t: &TypeCode| match t {
                    TypeCode::Sequence { element, .. } => Some(element.unalias().kind()),
                    _ => None,
                };
                match (a, seq_of(a), seq_of(b)) {
                    (_, Some(tk::LONG), Some(tk::STRING)) => {
                        C::LongStringArray(r.read_long_seq()?, r.read_string_seq()?)
                    }
                    (_, Some(tk::DOUBLE), Some(tk::STRING)) => {
                        C::DoubleStringArray(r.read_double_seq()?, r.read_string_seq()?)
                    }
                    (TypeCode::String { .. }, _, Some(tk::OCTET)) => C::Encoded(DevEncoded {
                        encoded_format: r.read_string()?,
                        encoded_data: r.read_octets()?.to_vec(),
                    }),
                    _ => return Err(unsupported(r, tc)),
                }
            }
            _ => return Err(unsupported(r, tc)),
        })
    }
}

fn unsupported(r: &CdrReader<'_>, tc: &TypeCode) -> DecodeError {
    r.malformed(
        "any",
        format!("no Tango command type has the TypeCode {}", tc.describe()),
    )
}

/// A `DevState` enum value, checked against both the TypeCode's labels and Tango's states.
fn read_state(r: &mut CdrReader<'_>, labels: usize) -> DecodeResult<DevState> {
    let v = r.read_ulong()?;
    if (v as usize) >= labels {
        return Err(r.invalid("enum value (beyond the TypeCode's labels)", v as u64));
    }
    DevState::try_from(v).map_err(|v| r.invalid("DevState", v as u64))
}

/// A decoded CORBA `any` whose value is kept as [`CommandData`] (the `value` of
/// `AttributeValue_3` and of the history structs).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Any(pub CommandData);

impl CdrEncode for Any {
    fn encode(&self, w: &mut CdrWriter) {
        self.0.encode_any(w)
    }
}

impl CdrDecode for Any {
    const MIN_SIZE: usize = 4;
    fn decode(r: &mut CdrReader<'_>) -> DecodeResult<Self> {
        CommandData::decode_any(r).map(Any)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cdr::ByteOrder;

    fn all_values() -> Vec<CommandData> {
        use CommandData as C;
        vec![
            C::Void,
            C::Boolean(true),
            C::Short(-7),
            C::Long(-70000),
            C::Float(1.5),
            C::Double(-2.25),
            C::UShort(65535),
            C::ULong(4_000_000_000),
            C::String("héllo".into()),
            C::CharArray(vec![0, 1, 255]),
            C::ShortArray(vec![1, -2, 3]),
            C::LongArray(vec![1, -2]),
            C::FloatArray(vec![0.5, -0.25]),
            C::DoubleArray(vec![1.0, 2.0, 3.5]),
            C::UShortArray(vec![9, 8]),
            C::ULongArray(vec![7]),
            C::StringArray(vec!["a".into(), "".into(), "ccc".into()]),
            C::LongStringArray(vec![1, 2, 3], vec!["x".into()]),
            C::DoubleStringArray(vec![1.5], vec!["y".into(), "z".into()]),
            C::State(DevState::Running),
            C::BooleanArray(vec![true, false, true]),
            C::UChar(200),
            C::Long64(-1 << 40),
            C::ULong64(1 << 63),
            C::Long64Array(vec![-1, 1 << 50]),
            C::ULong64Array(vec![u64::MAX]),
            C::Encoded(DevEncoded {
                encoded_format: "fmt".into(),
                encoded_data: vec![1, 2, 3, 4, 5],
            }),
            C::Enum(3),
            C::StateArray(vec![DevState::On, DevState::Unknown, DevState::Fault]),
            C::DoubleArray(vec![]),
            C::StringArray(vec![]),
        ]
    }

    #[test]
    fn every_variant_round_trips_at_every_offset() {
        for v in all_values() {
            for prefix in 0..8 {
                let mut w = CdrWriter::new();
                for _ in 0..prefix {
                    w.write_octet(0xEE);
                }
                v.encode_any(&mut w);
                let bytes = w.into_bytes();
                let mut r = CdrReader::at(&bytes, prefix, ByteOrder::Little);
                let back = CommandData::decode_any_as(&mut r, v.arg_type()).unwrap();
                assert_eq!(back, v, "prefix {prefix}");
                assert_eq!(r.remaining(), 0);
                assert_eq!(back.arg_type(), v.arg_type());
            }
        }
        // Enum travels as Short without a hint
        let mut w = CdrWriter::new();
        CommandData::Enum(4).encode_any(&mut w);
        let mut r = CdrReader::new(w.as_bytes(), ByteOrder::Little);
        assert_eq!(
            CommandData::decode_any(&mut r).unwrap(),
            CommandData::Short(4)
        );
    }

    #[test]
    fn void_is_tk_null_and_tk_void_is_accepted() {
        let mut w = CdrWriter::new();
        CommandData::Void.encode_any(&mut w);
        assert_eq!(w.as_bytes(), &[0, 0, 0, 0]);
        let mut r = CdrReader::new(&[1, 0, 0, 0], ByteOrder::Little);
        assert_eq!(CommandData::decode_any(&mut r).unwrap(), CommandData::Void);
    }

    #[test]
    fn plain_sequence_is_accepted() {
        let tc = TypeCode::Sequence {
            element: Box::new(TypeCode::Long),
            bound: 0,
        };
        let mut w = CdrWriter::new();
        tc.encode(&mut w);
        w.write_long_seq(&[5, 6]);
        let mut r = CdrReader::new(w.as_bytes(), ByteOrder::Little);
        assert_eq!(
            CommandData::decode_any(&mut r).unwrap(),
            CommandData::LongArray(vec![5, 6])
        );
    }

    /// A big-endian any built by hand: alias DevVarDoubleArray of sequence<double> [1.5].
    #[test]
    fn big_endian_any() {
        let mut b: Vec<u8> = vec![];
        b.extend_from_slice(&21u32.to_be_bytes());
        let mut enc: Vec<u8> = vec![0, 0, 0, 0]; // byte order 0 = big, then pad
        let id = b"IDL:Tango/DevVarDoubleArray:1.0\0";
        enc.extend_from_slice(&(id.len() as u32).to_be_bytes());
        enc.extend_from_slice(id);
        let name = b"DevVarDoubleArray\0";
        enc.extend_from_slice(&(name.len() as u32).to_be_bytes());
        enc.extend_from_slice(name);
        while enc.len() % 4 != 0 {
            enc.push(0xAB);
        }
        enc.extend_from_slice(&19u32.to_be_bytes());
        let inner: Vec<u8> = [
            &[0u8, 0, 0, 0][..],
            &7u32.to_be_bytes(),
            &0u32.to_be_bytes(),
        ]
        .concat();
        enc.extend_from_slice(&(inner.len() as u32).to_be_bytes());
        enc.extend_from_slice(&inner);
        b.extend_from_slice(&(enc.len() as u32).to_be_bytes());
        b.extend_from_slice(&enc);
        while b.len() % 4 != 0 {
            b.push(0xCD);
        }
        b.extend_from_slice(&2u32.to_be_bytes());
        while b.len() % 8 != 0 {
            b.push(0xCD);
        }
        b.extend_from_slice(&1.5f64.to_be_bytes());
        b.extend_from_slice(&(-3.0f64).to_be_bytes());
        let mut r = CdrReader::new(&b, ByteOrder::Big);
        assert_eq!(
            CommandData::decode_any(&mut r).unwrap(),
            CommandData::DoubleArray(vec![1.5, -3.0])
        );
        assert_eq!(r.remaining(), 0);
    }

    #[test]
    fn hostile_typecodes_are_errors() {
        // indirection
        let mut r = CdrReader::new(&[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0], ByteOrder::Little);
        let e = TypeCode::decode(&mut r).unwrap_err();
        assert!(e.to_string().contains("indirection"), "{e}");
        // tk_union
        let mut r = CdrReader::new(&[16, 0, 0, 0, 0, 0, 0, 0], ByteOrder::Little);
        let e = TypeCode::decode(&mut r).unwrap_err();
        assert!(e.to_string().contains("tk_union"), "{e}");
        // deep nesting: 100 nested sequences
        let mut tc = TypeCode::Long;
        for _ in 0..100 {
            tc = TypeCode::Sequence {
                element: Box::new(tc),
                bound: 0,
            };
        }
        let mut w = CdrWriter::new();
        tc.encode(&mut w);
        let mut r = CdrReader::new(w.as_bytes(), ByteOrder::Little);
        let e = TypeCode::decode(&mut r).unwrap_err();
        assert!(e.to_string().contains("nested"), "{e}");
        // unknown shape
        let mut w = CdrWriter::new();
        TypeCode::Char.encode(&mut w);
        w.write_octet(b'x');
        let mut r = CdrReader::new(w.as_bytes(), ByteOrder::Little);
        let e = CommandData::decode_any(&mut r).unwrap_err();
        assert!(e.to_string().contains("tk_char"), "{e}");
        // enum value beyond labels
        let mut w = CdrWriter::new();
        dev_state_type_code().encode(&mut w);
        w.write_ulong(14);
        let mut r = CdrReader::new(w.as_bytes(), ByteOrder::Little);
        assert!(CommandData::decode_any(&mut r).is_err());
    }

    #[test]
    fn typecode_round_trip_and_unalias() {
        for v in all_values() {
            let tc = v.type_code();
            let mut w = CdrWriter::new();
            tc.encode(&mut w);
            let mut r = CdrReader::new(w.as_bytes(), ByteOrder::Little);
            assert_eq!(TypeCode::decode(&mut r).unwrap(), tc);
        }
        let tc = CommandData::DoubleArray(vec![]).type_code();
        assert!(matches!(tc.unalias(), TypeCode::Sequence { .. }));
        assert_eq!(
            tc.describe(),
            "alias IDL:Tango/DevVarDoubleArray:1.0 -> sequence<tk_double>"
        );
    }

    #[test]
    fn million_doubles_decode() {
        let v: Vec<f64> = (0..1_000_000).map(|i| i as f64).collect();
        let mut w = CdrWriter::with_capacity(8_000_200);
        CommandData::DoubleArray(v.clone()).encode_any(&mut w);
        let t = std::time::Instant::now();
        let mut r = CdrReader::new(w.as_bytes(), ByteOrder::Little);
        let back = CommandData::decode_any(&mut r).unwrap();
        let dt = t.elapsed();
        assert_eq!(back, CommandData::DoubleArray(v));
        // generous even for debug builds; release runs in about a millisecond
        assert!(dt.as_secs_f64() < 2.0, "{dt:?}");
    }
}
