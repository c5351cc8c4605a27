//! Writes of every writable attribute, grouped by format and type (images one type per
//! case, since four image types crash the C++ TangoTest 9.3.4 when written), each value
//! read back (set point, and the read value where the server echoes it); then
//! `write_read_attribute`, several attributes in one request, the attribute proxy, the
//! client-side conversion of values to the declared type.
//!
//! What a read returns after a write (peer quirks, see docs/architecture.md): the set point
//! (`w_value`) always echoes the write; the read value too, except the C++ TangoTest's
//! numeric READ_WRITE scalars (a made-up value) and its READ_WRITE spectra longer than 256
//! elements (the first 256). Every case writes the attribute's original value back.

use tango::green::AttributeProxy;
use tango::{
    AttrData, AttrDataFormat, AttrWriteType, CmdArgType, DeviceAttribute, Error, Image, WriteValue,
};

use super::{ensure, expect_err, still_running, CaseResult, OrFail};
use crate::interface::{ExpectedAttr, Interface};
use crate::matrix::client::Cx;
use crate::matrix::server::Family;
use crate::values::{is_numeric, same, write_sequence, write_value_for};

/// True for the integer types (not float, string, boolean, enum).
fn is_integer(t: CmdArgType) -> bool {
    is_numeric(t) && !matches!(t, CmdArgType::DevFloat | CmdArgType::DevDouble)
}

/// The value to write back after a case: the set point of scalars and write-only
/// attributes, the read value of spectra and images (their shape included).
fn original(e: &ExpectedAttr, before: &DeviceAttribute) -> Option<WriteValue> {
    if e.data_format == AttrDataFormat::Scalar || e.writable == AttrWriteType::Write {
        let data = before.w_value.clone().filter(|d| !d.is_empty())?;
        return write_value_for(e.data_format, data).ok().map(|mut v| {
            if e.data_format == AttrDataFormat::Image {
                v.dim_x = before.w_dim_x;
                v.dim_y = before.w_dim_y;
            }
            v
        });
    }
    let data = before
        .value
        .clone()
        .or_else(|| AttrData::empty(e.data_type).ok())?;
    match e.data_format {
        AttrDataFormat::Spectrum => Some(WriteValue::spectrum(data)),
        _ => WriteValue::image(data, before.dim_x, before.dim_y).ok(),
    }
}

/// What the read value of `e` should be after writing `written`; `None` when the server
/// makes it up.
fn expected_read(cx: &Cx, e: &ExpectedAttr, written: &AttrData) -> Option<AttrData> {
    let cpp = cx.family() == Family::Cpp;
    let read_write = e.writable == AttrWriteType::ReadWrite;
    if cpp && read_write && e.data_format == AttrDataFormat::Scalar && is_numeric(e.data_type) {
        return None;
    }
    if cpp && read_write && e.data_format == AttrDataFormat::Spectrum && written.len() > 256 {
        return Some(written.slice(0..256));
    }
    Some(written.clone())
}

/// Writes `wv` to `e`, reads it back and compares.
async fn write_and_check(cx: &Cx, e: &ExpectedAttr, wv: WriteValue) -> CaseResult {
    let dev = cx.dev().await?;
    let name = e.name.as_str();
    let shown = short(&wv.data);
    cx.call(dev.write_attribute(name, wv.clone()))
        .await
        .or_fail(format!("write {name} {shown}"))?;
    let a = cx
        .call(dev.read_attribute(name))
        .await
        .or_fail(format!("read {name} after writing {shown}"))?;
    ensure!(!a.has_failed(), "{name}: read failed {:?}", a.errors);
    let empty = || AttrData::empty(e.data_type).unwrap_or(AttrData::Bool(vec![]));
    let w = a.w_value.clone().unwrap_or_else(empty);
    ensure!(
        same(&w, &wv.data),
        "{name}: wrote {shown}, set point {}",
        short(&w)
    );
    if e.data_format == AttrDataFormat::Image && !wv.data.is_empty() {
        ensure!(
            (a.w_dim_x, a.w_dim_y) == (wv.dim_x, wv.dim_y),
            "{name}: wrote {}x{}, set point {}x{}",
            wv.dim_x,
            wv.dim_y,
            a.w_dim_x,
            a.w_dim_y
        );
    }
    if let Some(want) = expected_read(cx, e, &wv.data) {
        let r = a.value.clone().unwrap_or_else(empty);
        ensure!(same(&r, &want), "{name}: wrote {shown}, read {}", short(&r));
    }
    Ok(())
}

/// A short rendering of a value for messages.
fn short(d: &AttrData) -> String {
    let s = format!("{d:?}");
    if s.len() <= 80 {
        s
    } else {
        format!("{}...<{} elements>", &s[..80], d.len())
    }
}

/// Writes each of `values(e)` to every writable interface attribute `pick` selects (not the
/// READ_WITH_WRITE ones), checks each, and restores the original value.
async fn write_group(
    cx: &Cx,
    pick: impl Fn(&ExpectedAttr) -> bool,
    values: impl Fn(&ExpectedAttr) -> Vec<AttrData>,
) -> CaseResult {
    let dev = cx.dev().await?;
    let mut checked = 0;
    let attrs = Interface::tangotest().attributes.iter().filter(|e| {
        matches!(e.writable, AttrWriteType::ReadWrite | AttrWriteType::Write) && pick(e)
    });
    for e in attrs {
        let before = cx
            .call(dev.read_attribute(&e.name))
            .await
            .or_fail(format!("read {} before writing", e.name))?;
        let restore = original(e, &before);
        let mut outcome = Ok(());
        for v in values(e) {
            let wv = write_value_for(e.data_format, v)?;
            outcome = write_and_check(cx, e, wv).await;
            if outcome.is_err() {
                break;
            }
            checked += 1;
        }
        if let Some(orig) = restore {
            let restored = cx
                .call(dev.write_attribute(&e.name, orig))
                .await
                .or_fail(format!("write the original {} back", e.name));
            outcome = outcome.and(restored);
        }
        outcome?;
    }
    ensure!(checked > 0, "no attribute in this group");
    Ok(())
}

fn boundaries(e: &ExpectedAttr) -> Vec<AttrData> {
    write_sequence(e.data_format, e.data_type)
}

/// Integer scalars (and the write-only ones) with each boundary value.
pub async fn scalar_integer(cx: &Cx) -> CaseResult {
    let pick =
        |e: &ExpectedAttr| e.data_format == AttrDataFormat::Scalar && is_integer(e.data_type);
    write_group(cx, pick, boundaries).await
}

/// Float and double scalars (finite extremes, the smallest normal, a fraction).
pub async fn scalar_float(cx: &Cx) -> CaseResult {
    let pick = |e: &ExpectedAttr| {
        e.data_format == AttrDataFormat::Scalar
            && matches!(e.data_type, CmdArgType::DevFloat | CmdArgType::DevDouble)
    };
    write_group(cx, pick, boundaries).await
}

/// The boolean and string scalars (empty, Latin-1, 1,000 characters).
pub async fn scalar_other(cx: &Cx) -> CaseResult {
    let pick =
        |e: &ExpectedAttr| e.data_format == AttrDataFormat::Scalar && !is_numeric(e.data_type);
    write_group(cx, pick, boundaries).await
}

/// Integer spectra: the boundary set, nothing, two elements.
pub async fn spectrum_integer(cx: &Cx) -> CaseResult {
    let pick =
        |e: &ExpectedAttr| e.data_format == AttrDataFormat::Spectrum && is_integer(e.data_type);
    write_group(cx, pick, boundaries).await
}

/// Float and double spectra.
pub async fn spectrum_float(cx: &Cx) -> CaseResult {
    let pick = |e: &ExpectedAttr| {
        e.data_format == AttrDataFormat::Spectrum
            && matches!(e.data_type, CmdArgType::DevFloat | CmdArgType::DevDouble)
    };
    write_group(cx, pick, boundaries).await
}

/// Boolean and string spectra.
pub async fn spectrum_other(cx: &Cx) -> CaseResult {
    let pick =
        |e: &ExpectedAttr| e.data_format == AttrDataFormat::Spectrum && !is_numeric(e.data_type);
    write_group(cx, pick, boundaries).await
}

/// Every writable spectrum at its maximum length (4096 elements; 256 strings).
pub async fn spectrum_longest(cx: &Cx) -> CaseResult {
    let pick = |e: &ExpectedAttr| e.data_format == AttrDataFormat::Spectrum;
    let longest = |e: &ExpectedAttr| {
        let b = boundaries(e).into_iter().next();
        let Some(b) = b else { return Vec::new() };
        let n = e.max_dim_x as usize;
        let mut data = b.slice(0..0);
        while data.len() < n {
            let take = (n - data.len()).min(b.len());
            data = concat(&data, &b.slice(0..take));
        }
        vec![data]
    };
    write_group(cx, pick, longest).await
}

/// `a` followed by `b` (same type).
fn concat(a: &AttrData, b: &AttrData) -> AttrData {
    macro_rules! cat {
        ($($v:ident),*) => {
            match (a, b) {
                $((AttrData::$v(x), AttrData::$v(y)) => {
                    AttrData::$v(x.iter().chain(y).cloned().collect())
                })*
                _ => a.clone(),
            }
        };
    }
    cat!(Bool, Short, Long, Long64, Float, Double, UChar, UShort, ULong, ULong64, String, Enum)
}

async fn image_of(cx: &Cx, name: &str) -> CaseResult {
    let pick = |e: &ExpectedAttr| e.name == name;
    write_group(cx, pick, boundaries).await
}

/// `boolean_image`: 2 rows, empty, 1x2.
pub async fn image_boolean(cx: &Cx) -> CaseResult {
    image_of(cx, "boolean_image").await
}

/// `uchar_image`.
pub async fn image_uchar(cx: &Cx) -> CaseResult {
    image_of(cx, "uchar_image").await
}

/// `short_image`.
pub async fn image_short(cx: &Cx) -> CaseResult {
    image_of(cx, "short_image").await
}

/// `ushort_image` (crashes the C++ TangoTest 9.3.4).
pub async fn image_ushort(cx: &Cx) -> CaseResult {
    image_of(cx, "ushort_image").await
}

/// `long_image` (crashes the C++ TangoTest 9.3.4).
pub async fn image_long(cx: &Cx) -> CaseResult {
    image_of(cx, "long_image").await
}

/// `float_image`.
pub async fn image_float(cx: &Cx) -> CaseResult {
    image_of(cx, "float_image").await
}

/// `double_image` (crashes the C++ TangoTest 9.3.4).
pub async fn image_double(cx: &Cx) -> CaseResult {
    image_of(cx, "double_image").await
}

/// `string_image` (crashes the C++ TangoTest 9.3.4).
pub async fn image_string(cx: &Cx) -> CaseResult {
    image_of(cx, "string_image").await
}

/// An `Image` made from rows is written and read back as the same `Image`.
pub async fn image_from_rows(cx: &Cx) -> CaseResult {
    let dev = cx.dev().await?;
    let before = cx
        .call(dev.read_attribute("short_image"))
        .await
        .or_fail("read short_image")?;
    let img = Image::from_rows(vec![vec![1i16, 2, 3], vec![4, 5, 6]]).or_fail("from_rows")?;
    let outcome = async {
        cx.call(dev.write_attribute("short_image", img.clone()))
            .await
            .or_fail("write short_image")?;
        let a = cx
            .call(dev.read_attribute("short_image"))
            .await
            .or_fail("read short_image")?;
        let back: Image<i16> = a.get().or_fail("short_image as Image<i16>")?;
        ensure!(back == img, "wrote {img:?}, read {back:?}");
        ensure!((a.dim_x, a.dim_y) == (3, 2), "dims {}x{}", a.dim_x, a.dim_y);
        Ok(())
    }
    .await;
    let e = Interface::tangotest()
        .attribute("short_image")
        .ok_or("short_image is not in the interface")?;
    if let Some(orig) = original(e, &before) {
        cx.call(dev.write_attribute("short_image", orig))
            .await
            .or_fail("restore short_image")?;
    }
    outcome
}

/// Writing a `*_w` attribute sets the set point its `*_rww` attribute reads.
pub async fn rww_setpoint(cx: &Cx) -> CaseResult {
    let dev = cx.dev().await?;
    let writes: [(&str, WriteValue); 3] = [
        ("double", 12.5f64.into()),
        ("long", (-123_456i32).into()),
        ("short", (-321i16).into()),
    ];
    for (base, value) in writes {
        let w = format!("{base}_scalar_w");
        let rww = format!("{base}_scalar_rww");
        let before = cx.call(dev.read_attribute(&w)).await.or_fail(&w)?;
        let outcome = async {
            cx.call(dev.write_attribute(&w, value.clone()))
                .await
                .or_fail(format!("write {w}"))?;
            let a = cx.call(dev.read_attribute(&rww)).await.or_fail(&rww)?;
            let set = a.w_value.clone();
            ensure!(
                set.as_ref().is_some_and(|s| same(s, &value.data)),
                "{rww}: set point {set:?} after writing {:?} to {w}",
                value.data
            );
            Ok(())
        }
        .await;
        if let Some(orig) = before.w_value.filter(|v| !v.is_empty()) {
            cx.call(dev.write_attribute(&w, WriteValue::scalar(orig)))
                .await
                .or_fail(format!("restore {w}"))?;
        }
        outcome?;
    }
    Ok(())
}

/// A 100,000-character Latin-1 string round-trips through `string_scalar`.
pub async fn long_string(cx: &Cx) -> CaseResult {
    let dev = cx.dev().await?;
    let before = cx
        .call(dev.read_attribute("string_scalar"))
        .await
        .or_fail("read string_scalar")?;
    let long = "é".repeat(100_000);
    let outcome = async {
        cx.call(dev.write_attribute("string_scalar", long.as_str()))
            .await
            .or_fail("write 100,000 characters")?;
        let back: String = cx
            .call(dev.read_attribute("string_scalar"))
            .await
            .or_fail("read them back")?
            .get()
            .or_fail("as String")?;
        ensure!(
            back == long,
            "read back {} characters",
            back.chars().count()
        );
        Ok(())
    }
    .await;
    if let Some(orig) = before.w_value.filter(|v| !v.is_empty()) {
        cx.call(dev.write_attribute("string_scalar", WriteValue::scalar(orig)))
            .await
            .or_fail("restore string_scalar")?;
    }
    outcome
}

/// The newer TangoTest's DevEnum scalar: each label index written and read back, an index
/// beyond the labels refused.
pub async fn enum_scalar(cx: &Cx) -> CaseResult {
    let dev = cx.dev().await?;
    let c = cx
        .call(dev.get_attribute_config("enum_scalar"))
        .await
        .or_fail("enum_scalar config")?;
    ensure!(c.data_type == CmdArgType::DevEnum, "type {}", c.data_type);
    let n = c.enum_labels.len() as i16;
    ensure!(n > 1, "labels {:?}", c.enum_labels);
    let before = cx
        .call(dev.read_attribute("enum_scalar"))
        .await
        .or_fail("read enum_scalar")?;
    let outcome = async {
        for i in 0..n {
            let wv = WriteValue::scalar(AttrData::Enum(vec![i]));
            cx.call(dev.write_attribute("enum_scalar", wv))
                .await
                .or_fail(format!("write enum_scalar {i}"))?;
            let a = cx
                .call(dev.read_attribute("enum_scalar"))
                .await
                .or_fail("read enum_scalar")?;
            ensure!(
                a.value == Some(AttrData::Enum(vec![i])),
                "wrote {i}, read {:?}",
                a.value
            );
        }
        let wv = WriteValue::scalar(AttrData::Enum(vec![n]));
        let r = cx.call(dev.write_attribute("enum_scalar", wv)).await;
        expect_err(r, "enum index beyond the labels")?;
        Ok(())
    }
    .await;
    if let Some(orig) = before.w_value.filter(|v| !v.is_empty()) {
        cx.call(dev.write_attribute("enum_scalar", WriteValue::scalar(orig)))
            .await
            .or_fail("restore enum_scalar")?;
    }
    outcome
}

/// Values convert to the declared type when they fit; else a clear `Error::Type` before
/// anything is sent (the connection is untouched).
pub async fn type_conversion(cx: &Cx) -> CaseResult {
    let dev = cx.dev().await?;
    let before = cx
        .call(dev.read_attribute("short_spectrum"))
        .await
        .or_fail("read short_spectrum")?;
    let outcome = async {
        cx.call(dev.write_attribute("short_spectrum", vec![1i64, -2]))
            .await
            .or_fail("i64 values that fit a DevShort")?;
        let back: Vec<i16> = cx
            .call(dev.read_attribute("short_spectrum"))
            .await
            .or_fail("read short_spectrum")?
            .get()
            .or_fail("as Vec<i16>")?;
        ensure!(back == [1, -2], "read back {back:?}");
        let r = cx
            .call(dev.write_attribute("short_spectrum", vec![70_000i64]))
            .await;
        let e = expect_err(r, "70,000 into a DevShort")?;
        ensure!(
            matches!(e, Error::Type(_)),
            "expected a type error, got {e}"
        );
        let r = cx
            .call(dev.write_attribute("double_scalar", "not a number"))
            .await;
        let e = expect_err(r, "a string into a DevDouble")?;
        ensure!(
            matches!(e, Error::Type(_)),
            "expected a type error, got {e}"
        );
        Ok(())
    }
    .await;
    let restore = before
        .value
        .or_else(|| AttrData::empty(CmdArgType::DevShort).ok())
        .map(WriteValue::spectrum);
    if let Some(orig) = restore {
        cx.call(dev.write_attribute("short_spectrum", orig))
            .await
            .or_fail("restore short_spectrum")?;
    }
    outcome?;
    still_running(cx).await
}

/// `write_read_attribute` writes and reads back in one request.
pub async fn write_read(cx: &Cx) -> CaseResult {
    let dev = cx.dev().await?;
    let before = cx
        .call(dev.read_attributes(&["string_scalar", "long_spectrum"]))
        .await
        .or_fail("read before")?;
    let outcome = async {
        let a = cx
            .call(dev.write_read_attribute("string_scalar", "wr-été"))
            .await
            .or_fail("write_read_attribute string_scalar")?;
        let v: String = a.get().or_fail("as String")?;
        ensure!(v == "wr-été", "read {v:?}");
        let a = cx
            .call(dev.write_read_attribute("long_spectrum", vec![7, -7, i32::MAX]))
            .await
            .or_fail("write_read_attribute long_spectrum")?;
        let v: Vec<i32> = a.get().or_fail("as Vec<i32>")?;
        ensure!(v == [7, -7, i32::MAX], "read {v:?}");
        Ok(())
    }
    .await;
    restore_two(cx, &before).await?;
    outcome
}

/// Writes back `string_scalar` (set point) and `long_spectrum` (read value).
async fn restore_two(cx: &Cx, before: &[DeviceAttribute]) -> CaseResult {
    let dev = cx.dev().await?;
    if let Some(s) = before[0].w_value.clone().filter(|v| !v.is_empty()) {
        cx.call(dev.write_attribute("string_scalar", WriteValue::scalar(s)))
            .await
            .or_fail("restore string_scalar")?;
    }
    let l = before[1]
        .value
        .clone()
        .unwrap_or(AttrData::Long(Vec::new()));
    cx.call(dev.write_attribute("long_spectrum", WriteValue::spectrum(l)))
        .await
        .or_fail("restore long_spectrum")?;
    Ok(())
}

/// `write_attributes` and `write_read_attributes`: several attributes in one request.
pub async fn many(cx: &Cx) -> CaseResult {
    let dev = cx.dev().await?;
    let before = cx
        .call(dev.read_attributes(&["string_scalar", "long_spectrum"]))
        .await
        .or_fail("read before")?;
    let outcome = async {
        let values = vec![
            ("string_scalar", WriteValue::from("many")),
            ("long_spectrum", WriteValue::from(vec![1i32, 2, 3])),
        ];
        cx.call(dev.write_attributes(values))
            .await
            .or_fail("write_attributes")?;
        let back = cx
            .call(dev.read_attributes(&["string_scalar", "long_spectrum"]))
            .await
            .or_fail("read_attributes")?;
        let s: String = back[0].get().or_fail("string_scalar")?;
        let l: Vec<i32> = back[1].get().or_fail("long_spectrum")?;
        ensure!(s == "many" && l == [1, 2, 3], "read back {s:?} {l:?}");
        let values = vec![("long_spectrum", WriteValue::from(vec![4i32, 5]))];
        let read = cx
            .call(dev.write_read_attributes(values, &["long_spectrum", "string_scalar"]))
            .await
            .or_fail("write_read_attributes")?;
        ensure!(read.len() == 2, "{} results", read.len());
        let l: Vec<i32> = read[0].get().or_fail("long_spectrum")?;
        let s: String = read[1].get().or_fail("string_scalar")?;
        ensure!(l == [4, 5] && s == "many", "read back {l:?} {s:?}");
        Ok(())
    }
    .await;
    restore_two(cx, &before).await?;
    outcome
}

/// `AttributeProxy`: write, read, write_read, get_config, state, status, ping.
pub async fn attribute_proxy(cx: &Cx) -> CaseResult {
    let name = cx.name_of("sys/tg_test/1/float_spectrum");
    let attr = cx
        .call(AttributeProxy::new_with_mode(&name, cx.mode()))
        .await
        .or_fail("AttributeProxy::new_with_mode")?;
    ensure!(attr.name() == "float_spectrum", "name {:?}", attr.name());
    ensure!(
        attr.get_green_mode().ok() == Some(cx.mode()),
        "green mode {:?}",
        attr.get_green_mode()
    );
    let before = cx.call(attr.read()).await.or_fail("read")?;
    let outcome = async {
        cx.call(attr.write(vec![1.5f32, 2.5]))
            .await
            .or_fail("write")?;
        let v: Vec<f32> = cx
            .call(attr.read())
            .await
            .or_fail("read")?
            .get()
            .or_fail("f32")?;
        ensure!(v == [1.5, 2.5], "read {v:?}");
        let v: Vec<f32> = cx
            .call(attr.write_read(vec![3.5f32]))
            .await
            .or_fail("write_read")?
            .get()
            .or_fail("f32")?;
        ensure!(v == [3.5], "write_read {v:?}");
        let c = cx.call(attr.get_config()).await.or_fail("get_config")?;
        ensure!(c.data_type == CmdArgType::DevFloat, "type {}", c.data_type);
        let st = cx.call(attr.state()).await.or_fail("state")?;
        ensure!(st == tango::DevState::Running, "state {st}");
        let s = cx.call(attr.status()).await.or_fail("status")?;
        ensure!(s.contains("RUNNING"), "status {s:?}");
        cx.call(attr.ping()).await.or_fail("ping")?;
        Ok(())
    }
    .await;
    let orig = before.value.unwrap_or(AttrData::Float(Vec::new()));
    cx.call(attr.write(WriteValue::spectrum(orig)))
        .await
        .or_fail("restore float_spectrum")?;
    outcome
}
