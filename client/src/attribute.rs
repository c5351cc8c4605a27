//! [`DeviceAttribute`]: what reading an attribute gives, with the fields PyTango's
//! `DeviceAttribute` has.

use std::fmt;

use tango_core::idl::{
    AttrDataFormat, AttrQuality, AttrValUnion, AttributeDim, AttributeValue4, AttributeValue5,
    CmdArgType, DevEncoded, DevError, DevFailed, DevState, ErrSeverity, TimeVal,
};

use crate::error::{Error, Result};
use tango_core::value::{AttrData, Image, TangoElement};

/// One attribute as read from a device: value and set point, quality, time, shape.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceAttribute {
    /// The attribute name as the device reports it.
    pub name: String,
    /// The read value (row-major for images); `None` when the read failed or the device
    /// sent no value (quality `ATTR_INVALID`).
    pub value: Option<AttrData>,
    /// The written value (set point) of a writable attribute.
    pub w_value: Option<AttrData>,
    /// `ATTR_VALID`, `ATTR_ALARM`...
    pub quality: AttrQuality,
    /// When the value was read, by the device's clock.
    pub time: TimeVal,
    /// Read elements per row (1 for a scalar).
    pub dim_x: usize,
    /// Read rows (0 unless an image).
    pub dim_y: usize,
    /// Written elements per row.
    pub w_dim_x: usize,
    /// Written rows.
    pub w_dim_y: usize,
    /// Scalar, spectrum or image.
    pub data_format: AttrDataFormat,
    /// The Tango type (`DevDouble`...); PyTango calls this field `type`.
    pub data_type: CmdArgType,
    /// Number of read elements.
    pub nb_read: usize,
    /// Number of written elements.
    pub nb_written: usize,
    /// The errors the device reported for this attribute (empty on success).
    pub errors: Vec<DevError>,
}

impl DeviceAttribute {
    /// True if the device reported an error for this attribute.
    pub fn has_failed(&self) -> bool {
        !self.errors.is_empty()
    }

    /// True if there is no read value.
    pub fn is_empty(&self) -> bool {
        self.value.as_ref().is_none_or(AttrData::is_empty)
    }

    /// The read value as a Rust type: `f64` for a scalar, `Vec<f64>` for any shape,
    /// [`Image<f64>`] for an image, `String`, `bool`, [`DevState`]...
    pub fn get<T: FromAttrData>(&self) -> Result<T> {
        let v = self.readable()?;
        T::from_attr_data(v, self.data_format, self.dim_x, self.dim_y)
            .map_err(|e| Error::type_mismatch(format!("attribute {}: {e}", self.name)))
    }

    /// The written value (set point) as a Rust type.
    pub fn get_w<T: FromAttrData>(&self) -> Result<T> {
        self.readable()?;
        let v = self.w_value.as_ref().ok_or_else(|| {
            Error::type_mismatch(format!("attribute {} has no written value", self.name))
        })?;
        T::from_attr_data(v, self.data_format, self.w_dim_x, self.w_dim_y)
            .map_err(|e| Error::type_mismatch(format!("attribute {}: {e}", self.name)))
    }

    fn readable(&self) -> Result<&AttrData> {
        if self.has_failed() {
            return Err(Error::DevFailed(self.failure()));
        }
        self.value.as_ref().ok_or_else(|| {
            Error::type_mismatch(format!(
                "attribute {} has no value (quality {})",
                self.name, self.quality
            ))
        })
    }

    /// The read errors as a `DevFailed`, with the `API_AttributeFailed` entry cppTango
    /// clients add.
    pub fn failure(&self) -> DevFailed {
        let mut errors = self.errors.clone();
        errors.push(DevError {
            reason: "API_AttributeFailed".to_owned(),
            severity: ErrSeverity::Err,
            desc: format!(
                "Failed to read_attribute on device, attribute {}",
                self.name
            ),
            origin: "DeviceProxy::read_attribute()".to_owned(),
        });
        DevFailed { errors }
    }

    pub(crate) fn from_v5(v: AttributeValue5) -> Self {
        let declared = CmdArgType::try_from(v.data_type).ok();
        Self::from_parts(Parts {
            value: v.value,
            quality: v.quality,
            data_format: v.data_format,
            declared,
            time: v.time,
            name: v.name,
            r_dim: v.r_dim,
            w_dim: v.w_dim,
            errors: v.err_list,
        })
    }

    pub(crate) fn from_v4(v: AttributeValue4) -> Self {
        Self::from_parts(Parts {
            value: v.value,
            quality: v.quality,
            data_format: v.data_format,
            declared: None,
            time: v.time,
            name: v.name,
            r_dim: v.r_dim,
            w_dim: v.w_dim,
            errors: v.err_list,
        })
    }

    fn from_parts(p: Parts) -> Self {
        let no_data = matches!(p.value, AttrValUnion::NoData(_));
        let dev_state = matches!(p.value, AttrValUnion::DevState(_));
        let data_type = p
            .declared
            .filter(|t| *t != CmdArgType::Unknown)
            .unwrap_or_else(|| {
                if no_data {
                    CmdArgType::Unknown
                } else {
                    p.value.data_type()
                }
            });
        let data = AttrData::from_union(p.value, Some(data_type));
        let dim = |d: i32| usize::try_from(d).unwrap_or(0);
        let (dim_x, dim_y) = (dim(p.r_dim.dim_x), dim(p.r_dim.dim_y));
        let (w_dim_x, w_dim_y) = (dim(p.w_dim.dim_x), dim(p.w_dim.dim_y));
        let (value, w_value) = match data {
            None => (None, None),
            Some(d) if d.is_empty() && p.quality == AttrQuality::Invalid => (None, None),
            Some(d) => {
                let n_read = if dev_state || p.data_format == AttrDataFormat::Scalar {
                    1.min(d.len())
                } else {
                    (dim_x * dim_y.max(1)).min(d.len())
                };
                // Whatever follows the read part is the set point. TangoTest 9.3.4 sends
                // one set-point element for read-write images while claiming w_dim (1,0):
                // taking "the rest" copes with that (see docs/peer-quirks in shared/).
                let read = d.slice(0..n_read);
                let w_n = w_dim_x * w_dim_y.max(1);
                let w = if d.len() > n_read {
                    Some(d.slice(n_read..d.len()))
                } else if w_n > 0 && w_n == n_read {
                    // A write-only attribute sends its set value once: it is both the
                    // value and the set point (as cppTango's DeviceAttribute shows it).
                    Some(read.clone())
                } else {
                    None
                };
                (Some(read), w)
            }
        };
        let nb_read = value.as_ref().map_or(0, AttrData::len);
        let nb_written = w_value.as_ref().map_or(0, AttrData::len);
        DeviceAttribute {
            name: p.name,
            value,
            w_value,
            quality: p.quality,
            time: p.time,
            dim_x,
            dim_y,
            w_dim_x,
            w_dim_y,
            data_format: p.data_format,
            data_type,
            nb_read,
            nb_written,
            errors: p.errors,
        }
    }
}

struct Parts {
    value: AttrValUnion,
    quality: AttrQuality,
    data_format: AttrDataFormat,
    declared: Option<CmdArgType>,
    time: TimeVal,
    name: String,
    r_dim: AttributeDim,
    w_dim: AttributeDim,
    errors: Vec<DevError>,
}

/// A Rust type an attribute value converts to.
pub trait FromAttrData: Sized {
    /// Converts `data` of the given shape, or explains why not.
    fn from_attr_data(
        data: &AttrData,
        format: AttrDataFormat,
        dim_x: usize,
        dim_y: usize,
    ) -> std::result::Result<Self, String>;
}

fn elements<T: TangoElement>(data: &AttrData) -> std::result::Result<Vec<T>, String> {
    T::from_data(data).ok_or_else(|| {
        format!(
            "holds {} values, not {}",
            data.data_type(),
            std::any::type_name::<T>()
        )
    })
}

macro_rules! scalar_from_attr {
    ($($t:ty),*) => {$(
        impl FromAttrData for $t {
            fn from_attr_data(data: &AttrData, _: AttrDataFormat, _: usize, _: usize) -> std::result::Result<Self, String> {
                let v = elements::<$t>(data)?;
                match <[$t; 1]>::try_from(v) {
                    Ok([x]) => Ok(x),
                    Err(v) => Err(format!("holds {} values, not one (read it as a Vec)", v.len())),
                }
            }
        }
    )*};
}
scalar_from_attr!(bool, i16, i32, i64, f32, f64, u8, u16, u32, u64, String, DevState, DevEncoded);

impl<T: TangoElement> FromAttrData for Vec<T> {
    fn from_attr_data(
        data: &AttrData,
        _: AttrDataFormat,
        _: usize,
        _: usize,
    ) -> std::result::Result<Self, String> {
        elements(data)
    }
}

impl<T: TangoElement> FromAttrData for Image<T> {
    fn from_attr_data(
        data: &AttrData,
        format: AttrDataFormat,
        dim_x: usize,
        dim_y: usize,
    ) -> std::result::Result<Self, String> {
        if format != AttrDataFormat::Image {
            return Err(format!("is a {format}, not an IMAGE"));
        }
        Ok(Image {
            dim_x,
            dim_y,
            data: elements(data)?,
        })
    }
}

impl FromAttrData for AttrData {
    fn from_attr_data(
        data: &AttrData,
        _: AttrDataFormat,
        _: usize,
        _: usize,
    ) -> std::result::Result<Self, String> {
        Ok(data.clone())
    }
}

/// Writes elements the way PyTango prints them: a scalar bare, arrays in brackets (long
/// ones abbreviated with `...`), strings quoted.
pub(crate) fn fmt_data(f: &mut fmt::Formatter<'_>, d: &AttrData, scalar: bool) -> fmt::Result {
    fn list<T>(
        f: &mut fmt::Formatter<'_>,
        v: &[T],
        scalar: bool,
        item: impl Fn(&mut fmt::Formatter<'_>, &T) -> fmt::Result,
    ) -> fmt::Result {
        if scalar && v.len() == 1 {
            return item(f, &v[0]);
        }
        f.write_str("[")?;
        let abbreviate = v.len() > 20;
        for (i, x) in v.iter().enumerate() {
            if abbreviate && (3..v.len() - 3).contains(&i) {
                if i == 3 {
                    f.write_str(", ...")?;
                }
                continue;
            }
            if i > 0 {
                f.write_str(", ")?;
            }
            item(f, x)?;
        }
        f.write_str("]")
    }
    match d {
        AttrData::Bool(v) => list(f, v, scalar, |f, x| {
            f.write_str(if *x { "True" } else { "False" })
        }),
        AttrData::Short(v) | AttrData::Enum(v) => list(f, v, scalar, |f, x| write!(f, "{x}")),
        AttrData::Long(v) => list(f, v, scalar, |f, x| write!(f, "{x}")),
        AttrData::Long64(v) => list(f, v, scalar, |f, x| write!(f, "{x}")),
        AttrData::Float(v) => list(f, v, scalar, |f, x| write!(f, "{x:?}")),
        AttrData::Double(v) => list(f, v, scalar, |f, x| write!(f, "{x:?}")),
        AttrData::UChar(v) => list(f, v, scalar, |f, x| write!(f, "{x}")),
        AttrData::UShort(v) => list(f, v, scalar, |f, x| write!(f, "{x}")),
        AttrData::ULong(v) => list(f, v, scalar, |f, x| write!(f, "{x}")),
        AttrData::ULong64(v) => list(f, v, scalar, |f, x| write!(f, "{x}")),
        AttrData::String(v) => list(f, v, scalar, |f, x| write!(f, "'{x}'")),
        AttrData::State(v) => list(f, v, scalar, |f, x| write!(f, "{x}")),
        AttrData::Encoded(v) => list(f, v, scalar, |f, x| {
            write!(
                f,
                "('{}', <{} bytes>)",
                x.encoded_format,
                x.encoded_data.len()
            )
        }),
    }
}

struct Shown<'a>(&'a Option<AttrData>, bool);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            None => f.write_str("None"),
            Some(d) => fmt_data(f, d, self.1),
        }
    }
}

impl fmt::Display for DeviceAttribute {
    /// The layout of PyTango's `print(dev.read_attribute(...))`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scalar = self.data_format == AttrDataFormat::Scalar;
        let t = &self.time;
        writeln!(f, "DeviceAttribute[")?;
        writeln!(f, "data_format = {}", self.data_format)?;
        writeln!(f, "      dim_x = {}", self.dim_x)?;
        writeln!(f, "      dim_y = {}", self.dim_y)?;
        writeln!(f, " has_failed = {}", py_bool(self.has_failed()))?;
        writeln!(f, "   is_empty = {}", py_bool(self.is_empty()))?;
        writeln!(f, "       name = '{}'", self.name)?;
        writeln!(f, "    nb_read = {}", self.nb_read)?;
        writeln!(f, " nb_written = {}", self.nb_written)?;
        writeln!(f, "    quality = {}", self.quality)?;
        writeln!(
            f,
            "r_dimension = AttributeDimension(dim_x = {}, dim_y = {})",
            self.dim_x, self.dim_y
        )?;
        writeln!(
            f,
            "       time = TimeVal(tv_nsec = {}, tv_sec = {}, tv_usec = {})",
            t.tv_nsec, t.tv_sec, t.tv_usec
        )?;
        writeln!(f, "       type = {}", self.data_type)?;
        writeln!(f, "      value = {}", Shown(&self.value, scalar))?;
        writeln!(f, "    w_dim_x = {}", self.w_dim_x)?;
        writeln!(f, "    w_dim_y = {}", self.w_dim_y)?;
        writeln!(
            f,
            "w_dimension = AttributeDimension(dim_x = {}, dim_y = {})",
            self.w_dim_x, self.w_dim_y
        )?;
        write!(f, "    w_value = {}]", Shown(&self.w_value, scalar))?;
        for e in &self.errors {
            write!(
                f,
                "\n  error: {} ({}): {} [{}]",
                e.reason, e.severity, e.desc, e.origin
            )?;
        }
        Ok(())
    }
}

fn py_bool(b: bool) -> &'static str {
    if b {
        "True"
    } else {
        "False"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v5(
        value: AttrValUnion,
        format: AttrDataFormat,
        r: (i32, i32),
        w: (i32, i32),
    ) -> AttributeValue5 {
        let data_type = value.data_type() as i32;
        AttributeValue5 {
            value,
            quality: AttrQuality::Valid,
            data_format: format,
            data_type,
            time: TimeVal::default(),
            name: "x".into(),
            r_dim: AttributeDim {
                dim_x: r.0,
                dim_y: r.1,
            },
            w_dim: AttributeDim {
                dim_x: w.0,
                dim_y: w.1,
            },
            err_list: vec![],
        }
    }

    #[test]
    fn scalar_read_write_split() {
        let a = DeviceAttribute::from_v5(v5(
            AttrValUnion::Double(vec![40.0, 1.5]),
            AttrDataFormat::Scalar,
            (1, 0),
            (1, 0),
        ));
        assert_eq!(a.get::<f64>().unwrap(), 40.0);
        assert_eq!(a.get_w::<f64>().unwrap(), 1.5);
        assert_eq!((a.nb_read, a.nb_written), (1, 1));
        assert!(a.get::<String>().is_err());
        assert!(a.to_string().contains("value = 40.0"), "{a}");
    }

    #[test]
    fn image_with_tangotest_quirk() {
        // 2x2 read values, plus one set-point element while w_dim says (1, 0)
        let a = DeviceAttribute::from_v5(v5(
            AttrValUnion::Long(vec![1, 2, 3, 4, 9]),
            AttrDataFormat::Image,
            (2, 2),
            (1, 0),
        ));
        let img: Image<i32> = a.get().unwrap();
        assert_eq!(img.data, vec![1, 2, 3, 4]);
        assert_eq!(a.get_w::<Vec<i32>>().unwrap(), vec![9]);
    }

    #[test]
    fn failed_read_is_an_error_on_access() {
        let mut v = v5(
            AttrValUnion::NoData(true),
            AttrDataFormat::FmtUnknown,
            (0, 0),
            (0, 0),
        );
        v.quality = AttrQuality::Invalid;
        v.data_type = 0;
        v.err_list = vec![DevError {
            reason: "exception test".into(),
            severity: ErrSeverity::Err,
            desc: "here is the exception you requested".into(),
            origin: "TangoTest::read_throw_exception".into(),
        }];
        let a = DeviceAttribute::from_v5(v);
        assert!(a.has_failed());
        assert!(a.is_empty());
        let e = a.get::<i32>().unwrap_err();
        assert!(e.has_reason("exception test"));
        assert!(e.has_reason("API_AttributeFailed"));
    }
}
