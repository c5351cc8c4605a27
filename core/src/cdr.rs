//! CDR, the Common Data Representation that GIOP messages are made of.
//!
//! Two facts shape this module (see `docs/architecture.md`):
//!
//! * Alignment is relative to an *origin*: the first byte of the GIOP header for a
//!   message, or the byte-order octet of an encapsulation. [`CdrWriter`] and
//!   [`CdrReader`] both carry that origin, so a value encodes the same way wherever it
//!   sits in a buffer.
//! * Input is untrusted. Every read checks that the bytes are there; a sequence length is
//!   checked against the bytes that remain *before* anything is allocated, so a forged
//!   length can never make us allocate more than the message itself holds.
//!
//! We always write little-endian (as every Tango peer observed does) and read both orders.

use std::fmt;

/// The byte order of a CDR stream (GIOP flag bit 0, or an encapsulation's first octet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteOrder {
    /// Most significant byte first (flag 0).
    Big,
    /// Least significant byte first (flag 1). What we write.
    Little,
}

impl ByteOrder {
    /// The byte order announced by a GIOP flags byte or encapsulation octet (bit 0).
    pub fn from_flag(flag: u8) -> Self {
        if flag & 1 == 1 {
            ByteOrder::Little
        } else {
            ByteOrder::Big
        }
    }
}

/// Why bytes could not be decoded. Every variant says where in the stream it happened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The message ended before a value was complete.
    #[error(
        "message truncated: {what} needs {needed} bytes at offset {offset}, only {remaining} left"
    )]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Offset from the stream origin.
        offset: usize,
        /// Bytes needed.
        needed: usize,
        /// Bytes left.
        remaining: usize,
    },
    /// A value is outside what its type allows (an enum or union discriminant, a flag...).
    #[error("invalid {what} {value} at offset {offset}")]
    InvalidValue {
        /// The field or type.
        what: &'static str,
        /// The value found.
        value: u64,
        /// Offset from the stream origin.
        offset: usize,
    },
    /// Anything else that is not well-formed, with a sentence saying what.
    #[error("malformed {what} at offset {offset}: {detail}")]
    Malformed {
        /// The field or type.
        what: &'static str,
        /// Offset from the stream origin.
        offset: usize,
        /// What is wrong.
        detail: String,
    },
}

/// Result of a decode.
pub type DecodeResult<T> = Result<T, DecodeError>;

/// Writes a CDR stream, little-endian.
///
/// The writer owns its buffer; alignment is computed from `origin`, an index into that
/// buffer (0 for a GIOP message, whose header is written into the same buffer).
#[derive(Default, Clone)]
pub struct CdrWriter {
    buf: Vec<u8>,
    origin: usize,
}

impl fmt::Debug for CdrWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CdrWriter")
            .field("len", &self.buf.len())
            .field("origin", &self.origin)
            .finish()
    }
}

macro_rules! write_prim {
    ($(#[$m:meta])* $name:ident, $t:ty) => {
        $(#[$m])*
        #[inline]
        pub fn $name(&mut self, v: $t) {
            self.align(std::mem::size_of::<$t>());
            self.buf.extend_from_slice(&v.to_le_bytes());
        }
    };
}

macro_rules! write_prim_seq {
    ($(#[$m:meta])* $name:ident, $t:ty) => {
        $(#[$m])*
        pub fn $name(&mut self, v: &[$t]) {
            self.write_len(v.len());
            if !v.is_empty() {
                const N: usize = std::mem::size_of::<$t>();
                self.align(N);
                // Sized once, then filled element by element in place: a loop without
                // capacity checks, which the compiler turns into a plain copy.
                let start = self.buf.len();
                self.buf.resize(start + v.len() * N, 0);
                for (dst, x) in self.buf[start..].chunks_exact_mut(N).zip(v) {
                    dst.copy_from_slice(&x.to_le_bytes());
                }
            }
        }
    };
}

impl CdrWriter {
    /// An empty stream whose origin is its first byte.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty stream with room for `n` bytes.
    pub fn with_capacity(n: usize) -> Self {
        Self {
            buf: Vec::with_capacity(n),
            origin: 0,
        }
    }

    /// Bytes written since the origin (the offset the next value aligns against).
    pub fn position(&self) -> usize {
        self.buf.len() - self.origin
    }

    /// Everything written so far.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Gives the bytes back.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    /// Pads with zeros until the position is a multiple of `n` (1, 2, 4 or 8).
    #[inline]
    pub fn align(&mut self, n: usize) {
        let pad = (n - self.position() % n) % n;
        self.buf.resize(self.buf.len() + pad, 0);
    }

    /// Appends raw bytes with no length and no alignment.
    pub fn write_raw(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// `octet`.
    #[inline]
    pub fn write_octet(&mut self, v: u8) {
        self.buf.push(v);
    }

    /// `boolean` (one octet, 0 or 1).
    #[inline]
    pub fn write_bool(&mut self, v: bool) {
        self.buf.push(v as u8);
    }

    write_prim!(
        /// `short`.
        write_short, i16);
    write_prim!(
        /// `unsigned short`.
        write_ushort, u16);
    write_prim!(
        /// `long` (32 bits).
        write_long, i32);
    write_prim!(
        /// `unsigned long` (32 bits); also enums and sequence lengths.
        write_ulong, u32);
    write_prim!(
        /// `long long`.
        write_longlong, i64);
    write_prim!(
        /// `unsigned long long`.
        write_ulonglong, u64);
    write_prim!(
        /// `float`.
        write_float, f32);
    write_prim!(
        /// `double`.
        write_double, f64);

    /// A sequence length or element count.
    ///
    /// # Panics
    /// If `n` exceeds `u32::MAX`, which no GIOP message can carry.
    pub fn write_len(&mut self, n: usize) {
        let n = u32::try_from(n).expect("CDR sequences hold at most u32::MAX elements");
        self.write_ulong(n);
    }

    /// `string`: length including the NUL, the Latin-1 bytes, the NUL.
    ///
    /// Tango strings are ISO-8859-1 on the wire; a character above U+00FF cannot be
    /// represented and is sent as `?`.
    pub fn write_string(&mut self, s: &str) {
        if s.is_ascii() {
            self.write_len(s.len() + 1);
            self.buf.extend_from_slice(s.as_bytes());
        } else {
            let n = s.chars().count();
            self.write_len(n + 1);
            self.buf.extend(s.chars().map(|c| {
                let c = c as u32;
                if c <= 0xFF {
                    c as u8
                } else {
                    b'?'
                }
            }));
        }
        self.buf.push(0);
    }

    /// `sequence<octet>`: length then the bytes (object keys, encapsulations, blobs).
    pub fn write_octets(&mut self, v: &[u8]) {
        self.write_len(v.len());
        self.buf.extend_from_slice(v);
    }

    /// `sequence<boolean>`.
    pub fn write_bool_seq(&mut self, v: &[bool]) {
        self.write_len(v.len());
        self.buf.extend(v.iter().map(|&b| b as u8));
    }

    write_prim_seq!(
        /// `sequence<short>`.
        write_short_seq, i16);
    write_prim_seq!(
        /// `sequence<unsigned short>`.
        write_ushort_seq, u16);
    write_prim_seq!(
        /// `sequence<long>`.
        write_long_seq, i32);
    write_prim_seq!(
        /// `sequence<unsigned long>`.
        write_ulong_seq, u32);
    write_prim_seq!(
        /// `sequence<long long>`.
        write_longlong_seq, i64);
    write_prim_seq!(
        /// `sequence<unsigned long long>`.
        write_ulonglong_seq, u64);
    write_prim_seq!(
        /// `sequence<float>`.
        write_float_seq, f32);
    write_prim_seq!(
        /// `sequence<double>`.
        write_double_seq, f64);

    /// `sequence<string>`.
    pub fn write_string_seq<S: AsRef<str>>(&mut self, v: &[S]) {
        self.write_len(v.len());
        for s in v {
            self.write_string(s.as_ref());
        }
    }

    /// An encapsulation: a `sequence<octet>` whose content is a CDR stream of its own,
    /// starting with a byte-order octet, with alignment restarting at that octet.
    pub fn write_encapsulation(&mut self, body: impl FnOnce(&mut CdrWriter)) {
        self.align(4);
        let len_at = self.buf.len();
        self.buf.extend_from_slice(&[0; 4]);
        let saved = self.origin;
        self.origin = self.buf.len();
        self.write_octet(1); // little-endian
        body(self);
        self.origin = saved;
        let len = (self.buf.len() - len_at - 4) as u32;
        self.buf[len_at..len_at + 4].copy_from_slice(&len.to_le_bytes());
    }

    /// Overwrites a `u32` already written at absolute index `at` (a length placeholder).
    pub fn patch_ulong(&mut self, at: usize, v: u32) {
        self.buf[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }

    /// Writes any encodable value.
    pub fn put<T: CdrEncode + ?Sized>(&mut self, v: &T) {
        v.encode(self);
    }
}

/// Reads a CDR stream from a borrowed buffer.
#[derive(Clone)]
pub struct CdrReader<'a> {
    buf: &'a [u8],
    pos: usize,
    origin: usize,
    order: ByteOrder,
}

impl fmt::Debug for CdrReader<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CdrReader")
            .field("len", &self.buf.len())
            .field("pos", &self.pos)
            .field("origin", &self.origin)
            .field("order", &self.order)
            .finish()
    }
}

macro_rules! read_prim {
    ($(#[$m:meta])* $name:ident, $t:ty, $what:literal) => {
        $(#[$m])*
        #[inline]
        pub fn $name(&mut self) -> DecodeResult<$t> {
            const N: usize = std::mem::size_of::<$t>();
            self.align(N)?;
            let b: [u8; N] = self.take(N, $what)?.try_into().expect("take returns N bytes");
            Ok(match self.order {
                ByteOrder::Little => <$t>::from_le_bytes(b),
                ByteOrder::Big => <$t>::from_be_bytes(b),
            })
        }
    };
}

macro_rules! read_prim_seq {
    ($(#[$m:meta])* $name:ident, $t:ty, $what:literal) => {
        $(#[$m])*
        pub fn $name(&mut self) -> DecodeResult<Vec<$t>> {
            const N: usize = std::mem::size_of::<$t>();
            let n = self.read_len(N, $what)?;
            if n == 0 {
                return Ok(Vec::new());
            }
            self.align(N)?;
            let bytes = self.take(n * N, $what)?;
            // The byte order is chosen once, outside the loop, so that each loop is a plain
            // copy (or byte swap) the compiler vectorises.
            fn element(c: &[u8]) -> [u8; N] {
                c.try_into().expect("chunks_exact")
            }
            let chunks = bytes.chunks_exact(N);
            Ok(match self.order {
                ByteOrder::Little => chunks.map(|c| <$t>::from_le_bytes(element(c))).collect(),
                ByteOrder::Big => chunks.map(|c| <$t>::from_be_bytes(element(c))).collect(),
            })
        }
    };
}

impl<'a> CdrReader<'a> {
    /// A reader over `buf` whose origin is `buf[0]`, positioned at the origin.
    pub fn new(buf: &'a [u8], order: ByteOrder) -> Self {
        Self {
            buf,
            pos: 0,
            origin: 0,
            order,
        }
    }

    /// A reader over a whole message, origin at `buf[0]`, positioned at `pos`.
    pub fn at(buf: &'a [u8], pos: usize, order: ByteOrder) -> Self {
        Self {
            buf,
            pos: pos.min(buf.len()),
            origin: 0,
            order,
        }
    }

    /// The byte order being read.
    pub fn order(&self) -> ByteOrder {
        self.order
    }

    /// Offset of the next byte from the origin.
    pub fn position(&self) -> usize {
        self.pos - self.origin
    }

    /// Absolute index of the next byte in the underlying buffer.
    pub fn absolute_position(&self) -> usize {
        self.pos
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// The bytes not yet read.
    pub fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    /// Fails unless every byte was consumed (a check for exact-length bodies).
    pub fn expect_end(&self, what: &'static str) -> DecodeResult<()> {
        if self.remaining() == 0 {
            Ok(())
        } else {
            Err(self.malformed(
                what,
                format!("{} unexpected trailing bytes", self.remaining()),
            ))
        }
    }

    /// An error of kind [`DecodeError::Malformed`] at the current position.
    pub fn malformed(&self, what: &'static str, detail: impl Into<String>) -> DecodeError {
        DecodeError::Malformed {
            what,
            offset: self.position(),
            detail: detail.into(),
        }
    }

    /// An error of kind [`DecodeError::InvalidValue`] at the current position.
    pub fn invalid(&self, what: &'static str, value: u64) -> DecodeError {
        DecodeError::InvalidValue {
            what,
            value,
            offset: self.position(),
        }
    }

    /// Skips padding so that the position is a multiple of `n`. Padding content is
    /// ignored: omniORB leaves garbage there.
    #[inline]
    pub fn align(&mut self, n: usize) -> DecodeResult<()> {
        let pad = (n - self.position() % n) % n;
        if pad > self.remaining() {
            return Err(self.truncated("alignment", pad));
        }
        self.pos += pad;
        Ok(())
    }

    fn truncated(&self, what: &'static str, needed: usize) -> DecodeError {
        DecodeError::Truncated {
            what,
            offset: self.position(),
            needed,
            remaining: self.remaining(),
        }
    }

    /// Takes `n` raw bytes.
    #[inline]
    pub fn take(&mut self, n: usize, what: &'static str) -> DecodeResult<&'a [u8]> {
        if n > self.remaining() {
            return Err(self.truncated(what, n));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// `octet`.
    #[inline]
    pub fn read_octet(&mut self) -> DecodeResult<u8> {
        Ok(self.take(1, "octet")?[0])
    }

    /// `boolean`; any non-zero octet reads as true (as omniORB does).
    #[inline]
    pub fn read_bool(&mut self) -> DecodeResult<bool> {
        Ok(self.take(1, "boolean")?[0] != 0)
    }

    read_prim!(
        /// `short`.
        read_short, i16, "short");
    read_prim!(
        /// `unsigned short`.
        read_ushort, u16, "unsigned short");
    read_prim!(
        /// `long`.
        read_long, i32, "long");
    read_prim!(
        /// `unsigned long`.
        read_ulong, u32, "unsigned long");
    read_prim!(
        /// `long long`.
        read_longlong, i64, "long long");
    read_prim!(
        /// `unsigned long long`.
        read_ulonglong, u64, "unsigned long long");
    read_prim!(
        /// `float`.
        read_float, f32, "float");
    read_prim!(
        /// `double`.
        read_double, f64, "double");

    /// A sequence length whose elements take at least `min_elem_size` bytes each; fails
    /// if the remaining bytes cannot possibly hold that many (so callers may allocate).
    pub fn read_len(&mut self, min_elem_size: usize, what: &'static str) -> DecodeResult<usize> {
        let n = self.read_ulong()? as usize;
        if n.saturating_mul(min_elem_size.max(1)) > self.remaining() {
            return Err(DecodeError::Malformed {
                what,
                offset: self.position(),
                detail: format!(
                    "sequence of {n} elements cannot fit in the {} bytes left",
                    self.remaining()
                ),
            });
        }
        Ok(n)
    }

    /// `string`, decoded from Latin-1. A zero length (not legal CDR, but seen from some
    /// ORBs) reads as the empty string; a missing final NUL is an error.
    pub fn read_string(&mut self) -> DecodeResult<String> {
        let n = self.read_len(1, "string")?;
        if n == 0 {
            return Ok(String::new());
        }
        let bytes = self.take(n, "string")?;
        let (text, nul) = bytes.split_at(n - 1);
        if nul[0] != 0 {
            return Err(self.malformed("string", "not terminated by NUL"));
        }
        Ok(latin1_to_string(text))
    }

    /// `sequence<octet>`, borrowed.
    pub fn read_octets(&mut self) -> DecodeResult<&'a [u8]> {
        let n = self.read_len(1, "sequence<octet>")?;
        self.take(n, "sequence<octet>")
    }

    /// `sequence<boolean>`.
    pub fn read_bool_seq(&mut self) -> DecodeResult<Vec<bool>> {
        let n = self.read_len(1, "sequence<boolean>")?;
        Ok(self
            .take(n, "sequence<boolean>")?
            .iter()
            .map(|&b| b != 0)
            .collect())
    }

    read_prim_seq!(
        /// `sequence<short>`.
        read_short_seq, i16, "sequence<short>");
    read_prim_seq!(
        /// `sequence<unsigned short>`.
        read_ushort_seq, u16, "sequence<unsigned short>");
    read_prim_seq!(
        /// `sequence<long>`.
        read_long_seq, i32, "sequence<long>");
    read_prim_seq!(
        /// `sequence<unsigned long>`.
        read_ulong_seq, u32, "sequence<unsigned long>");
    read_prim_seq!(
        /// `sequence<long long>`.
        read_longlong_seq, i64, "sequence<long long>");
    read_prim_seq!(
        /// `sequence<unsigned long long>`.
        read_ulonglong_seq, u64, "sequence<unsigned long long>");
    read_prim_seq!(
        /// `sequence<float>`.
        read_float_seq, f32, "sequence<float>");
    read_prim_seq!(
        /// `sequence<double>`.
        read_double_seq, f64, "sequence<double>");

    /// `sequence<string>`.
    pub fn read_string_seq(&mut self) -> DecodeResult<Vec<String>> {
        let n = self.read_len(4, "sequence<string>")?;
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            v.push(self.read_string()?);
        }
        Ok(v)
    }

    /// Opens an encapsulation: reads its length, and returns a reader over its content
    /// (origin at its byte-order octet, in the order that octet announces). This reader
    /// moves past the whole encapsulation.
    pub fn read_encapsulation(&mut self) -> DecodeResult<CdrReader<'a>> {
        let bytes = self.read_octets()?;
        if bytes.is_empty() {
            return Err(self.malformed("encapsulation", "empty (no byte-order octet)"));
        }
        let mut inner = CdrReader::new(bytes, ByteOrder::from_flag(bytes[0]));
        inner.pos = 1;
        Ok(inner)
    }

    /// Reads any decodable value.
    pub fn get<T: CdrDecode>(&mut self) -> DecodeResult<T> {
        T::decode(self)
    }

    /// A sequence of any decodable value.
    pub fn read_seq<T: CdrDecode>(&mut self, what: &'static str) -> DecodeResult<Vec<T>> {
        let n = self.read_len(T::MIN_SIZE, what)?;
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            v.push(T::decode(self)?);
        }
        Ok(v)
    }
}

/// Latin-1 bytes to a Rust string (every byte is a code point U+0000..U+00FF).
pub fn latin1_to_string(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) if s.is_ascii() => s.to_owned(),
        _ => bytes.iter().map(|&b| b as char).collect(),
    }
}

/// A value with a CDR encoding.
pub trait CdrEncode {
    /// Appends the encoding of `self`.
    fn encode(&self, w: &mut CdrWriter);
}

/// A value that can be decoded from CDR.
pub trait CdrDecode: Sized {
    /// The fewest bytes one encoded value can take; bounds sequence allocations.
    const MIN_SIZE: usize = 1;
    /// Reads one value.
    fn decode(r: &mut CdrReader<'_>) -> DecodeResult<Self>;
}

macro_rules! prim_impl {
    ($t:ty, $w:ident, $r:ident) => {
        impl CdrEncode for $t {
            fn encode(&self, w: &mut CdrWriter) {
                w.$w(*self)
            }
        }
        impl CdrDecode for $t {
            const MIN_SIZE: usize = std::mem::size_of::<$t>();
            fn decode(r: &mut CdrReader<'_>) -> DecodeResult<Self> {
                r.$r()
            }
        }
    };
}
prim_impl!(bool, write_bool, read_bool);
prim_impl!(u8, write_octet, read_octet);
prim_impl!(i16, write_short, read_short);
prim_impl!(u16, write_ushort, read_ushort);
prim_impl!(i32, write_long, read_long);
prim_impl!(u32, write_ulong, read_ulong);
prim_impl!(i64, write_longlong, read_longlong);
prim_impl!(u64, write_ulonglong, read_ulonglong);
prim_impl!(f32, write_float, read_float);
prim_impl!(f64, write_double, read_double);

impl CdrEncode for String {
    fn encode(&self, w: &mut CdrWriter) {
        w.write_string(self)
    }
}
impl CdrEncode for str {
    fn encode(&self, w: &mut CdrWriter) {
        w.write_string(self)
    }
}
impl CdrDecode for String {
    const MIN_SIZE: usize = 4;
    fn decode(r: &mut CdrReader<'_>) -> DecodeResult<Self> {
        r.read_string()
    }
}

impl<T: CdrEncode> CdrEncode for Vec<T> {
    fn encode(&self, w: &mut CdrWriter) {
        self.as_slice().encode(w)
    }
}
impl<T: CdrEncode> CdrEncode for [T] {
    fn encode(&self, w: &mut CdrWriter) {
        w.write_len(self.len());
        for x in self {
            x.encode(w);
        }
    }
}
impl<T: CdrDecode> CdrDecode for Vec<T> {
    const MIN_SIZE: usize = 4;
    fn decode(r: &mut CdrReader<'_>) -> DecodeResult<Self> {
        r.read_seq("sequence")
    }
}

/// Declares an IDL `struct` with its CDR codec: fields are encoded in declaration order.
///
/// ```
/// tango_core::cdr_struct! {
///     /// A point.
///     pub struct Point {
///         /// Abscissa.
///         pub x: i32,
///         /// Ordinate.
///         pub y: i32,
///     }
/// }
/// ```
#[macro_export]
macro_rules! cdr_struct {
    ($(#[$m:meta])* pub struct $name:ident { $($(#[$fm:meta])* pub $field:ident : $t:ty),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Default)]
        pub struct $name { $($(#[$fm])* pub $field: $t),* }
        impl $crate::cdr::CdrEncode for $name {
            fn encode(&self, w: &mut $crate::cdr::CdrWriter) {
                $( $crate::cdr::CdrEncode::encode(&self.$field, w); )*
            }
        }
        impl $crate::cdr::CdrDecode for $name {
            const MIN_SIZE: usize = 0 $(+ <$t as $crate::cdr::CdrDecode>::MIN_SIZE)*;
            fn decode(r: &mut $crate::cdr::CdrReader<'_>) -> $crate::cdr::DecodeResult<Self> {
                Ok(Self { $($field: $crate::cdr::CdrDecode::decode(r)?),* })
            }
        }
    };
}

/// Declares an IDL `enum` (encoded as an `unsigned long`) with its CDR codec, its
/// conversions to and from `u32`, and `Display` printing the Tango label (which is what
/// PyTango prints, e.g. `ATTR_VALID`), while the Rust variant stays CamelCase.
///
/// ```
/// tango_core::cdr_enum! {
///     /// A colour.
///     pub enum Colour {
///         /// Red.
///         Red = 0 => "RED",
///         /// Green.
///         Green = 1 => "GREEN",
///     }
/// }
/// assert_eq!(Colour::try_from(1u32).unwrap(), Colour::Green);
/// assert_eq!(Colour::Green.to_string(), "GREEN");
/// assert_eq!(Colour::from_name("green"), Some(Colour::Green));
/// ```
#[macro_export]
macro_rules! cdr_enum {
    ($(#[$m:meta])* pub enum $name:ident { $($(#[$vm:meta])* $variant:ident = $val:literal => $label:literal),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u32)]
        pub enum $name { $($(#[$vm])* $variant = $val),* }
        impl $name {
            /// Every value, in IDL order.
            pub const ALL: &'static [$name] = &[$($name::$variant),*];
            /// The Tango label (`ATTR_VALID`, `SCALAR`, `ON`...).
            pub fn name(self) -> &'static str {
                match self { $($name::$variant => $label),* }
            }
            /// Looks a value up by its Tango label or Rust name, case-insensitively.
            pub fn from_name(s: &str) -> Option<Self> {
                $( if s.eq_ignore_ascii_case($label) || s.eq_ignore_ascii_case(stringify!($variant)) {
                    return Some($name::$variant);
                } )*
                None
            }
        }
        impl TryFrom<u32> for $name {
            type Error = u32;
            fn try_from(v: u32) -> Result<Self, u32> {
                match v { $($val => Ok($name::$variant),)* other => Err(other) }
            }
        }
        impl From<$name> for u32 {
            fn from(v: $name) -> u32 { v as u32 }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }
        impl $crate::cdr::CdrEncode for $name {
            fn encode(&self, w: &mut $crate::cdr::CdrWriter) { w.write_ulong(*self as u32) }
        }
        impl $crate::cdr::CdrDecode for $name {
            const MIN_SIZE: usize = 4;
            fn decode(r: &mut $crate::cdr::CdrReader<'_>) -> $crate::cdr::DecodeResult<Self> {
                let v = r.read_ulong()?;
                $name::try_from(v).map_err(|v| r.invalid(stringify!($name), v as u64))
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alignment_is_relative_to_origin() {
        let mut w = CdrWriter::new();
        w.write_octet(7);
        w.write_double(1.5);
        assert_eq!(w.as_bytes().len(), 16);
        let mut r = CdrReader::new(w.as_bytes(), ByteOrder::Little);
        assert_eq!(r.read_octet().unwrap(), 7);
        assert_eq!(r.read_double().unwrap(), 1.5);
        assert_eq!(r.remaining(), 0);
    }

    #[test]
    fn strings_count_the_nul_and_are_latin1() {
        let mut w = CdrWriter::new();
        w.write_string("");
        assert_eq!(w.as_bytes(), &[1, 0, 0, 0, 0]);
        let mut w = CdrWriter::new();
        w.write_string("é€");
        assert_eq!(w.as_bytes(), &[3, 0, 0, 0, 0xE9, b'?', 0]);
        let mut r = CdrReader::new(w.as_bytes(), ByteOrder::Little);
        assert_eq!(r.read_string().unwrap(), "é?");
    }

    #[test]
    fn big_endian_reads() {
        let bytes = [0, 0, 0, 2, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0];
        let mut r = CdrReader::new(&bytes, ByteOrder::Big);
        assert_eq!(r.read_ulong().unwrap(), 2);
        // 4 bytes in: a double aligns to 8 -> needs padding, so put it at 4 via a long
        let mut r2 = CdrReader::new(&bytes[4..], ByteOrder::Big);
        assert_eq!(r2.read_double().unwrap(), 1.5);
        let _ = r;
    }

    #[test]
    fn sequences_round_trip_and_read_in_both_byte_orders() {
        let doubles = [1.5, -0.0, f64::MAX, f64::MIN_POSITIVE, 3.25];
        let shorts = [1i16, -2, i16::MAX, i16::MIN];
        let mut w = CdrWriter::new();
        w.write_short_seq(&shorts);
        w.write_double_seq(&doubles);
        let mut r = CdrReader::new(w.as_bytes(), ByteOrder::Little);
        assert_eq!(r.read_short_seq().unwrap(), shorts);
        assert_eq!(r.read_double_seq().unwrap(), doubles);
        // The same values, big-endian: length 2 then two doubles after 4 bytes of padding.
        let mut big = vec![0, 0, 0, 2, 0, 0, 0, 0];
        big.extend_from_slice(&1.5f64.to_be_bytes());
        big.extend_from_slice(&(-7.0f64).to_be_bytes());
        let mut r = CdrReader::new(&big, ByteOrder::Big);
        assert_eq!(r.read_double_seq().unwrap(), [1.5, -7.0]);
    }

    #[test]
    fn empty_sequence_of_doubles_has_no_padding() {
        let mut w = CdrWriter::new();
        w.write_double_seq(&[]);
        w.write_ulong(9);
        assert_eq!(w.as_bytes(), &[0, 0, 0, 0, 9, 0, 0, 0]);
    }

    #[test]
    fn forged_lengths_do_not_allocate() {
        let bytes = [0xff, 0xff, 0xff, 0x7f, 1, 2, 3];
        let mut r = CdrReader::new(&bytes, ByteOrder::Little);
        assert!(matches!(
            r.read_double_seq(),
            Err(DecodeError::Malformed { .. })
        ));
        let mut r = CdrReader::new(&bytes, ByteOrder::Little);
        assert!(r.read_string_seq().is_err());
    }

    #[test]
    fn encapsulation_restarts_alignment() {
        let mut w = CdrWriter::new();
        w.write_octet(0xAA);
        w.write_encapsulation(|e| {
            e.write_ulong(0x11223344);
        });
        // 1 octet, 3 pad, 4 len, [1, pad 3, 4 bytes] => len 8
        assert_eq!(&w.as_bytes()[4..8], &8u32.to_le_bytes());
        let mut r = CdrReader::new(w.as_bytes(), ByteOrder::Little);
        r.read_octet().unwrap();
        let mut e = r.read_encapsulation().unwrap();
        assert_eq!(e.read_ulong().unwrap(), 0x11223344);
        assert_eq!(r.remaining(), 0);
    }

    crate::cdr_struct! {
        /// test struct
        pub struct Pair { /// a
            pub a: i16, /// b
            pub b: f64 }
    }

    #[test]
    fn struct_macro_roundtrip() {
        let p = Pair { a: -3, b: 2.5 };
        let mut w = CdrWriter::new();
        w.put(&vec![p.clone(), p.clone()]);
        let mut r = CdrReader::new(w.as_bytes(), ByteOrder::Little);
        let v: Vec<Pair> = r.get().unwrap();
        assert_eq!(v, vec![p.clone(), p]);
    }
}
