//! Reads of every attribute of the interface, grouped by format and type family, checked
//! against the recorded type, format and maximum dimensions; typed access; one request for
//! all of them; the newer TangoTest attributes.

use tango::{AttrData, AttrDataFormat, AttrQuality, AttrWriteType, CmdArgType, DevState, Image};

use super::{ensure, CaseResult, OrFail};
use crate::interface::{ExpectedAttr, Interface};
use crate::matrix::client::Cx;
use crate::matrix::server::Family;
use crate::values::is_numeric;

/// The two attributes whose reads fail on purpose (see `errors`).
pub const FAILING_READS: [&str; 2] = ["no_value", "throw_exception"];

/// Reads each interface attribute `pick` selects and checks what comes back.
async fn read_group(cx: &Cx, pick: impl Fn(&ExpectedAttr) -> bool) -> CaseResult {
    let dev = cx.dev().await?;
    let mut checked = 0;
    for e in Interface::tangotest().attributes.iter().filter(|e| pick(e)) {
        if FAILING_READS.contains(&e.name.as_str()) {
            continue;
        }
        let name = e.name.as_str();
        let a = cx.call(dev.read_attribute(name)).await.or_fail(name)?;
        ensure!(!a.has_failed(), "{name}: failed {:?}", a.errors);
        ensure!(
            a.name.eq_ignore_ascii_case(name),
            "{name}: named {:?}",
            a.name
        );
        ensure!(
            (a.data_type, a.data_format) == (e.data_type, e.data_format),
            "{name}: {} {}, expected {} {}",
            a.data_type,
            a.data_format,
            e.data_type,
            e.data_format
        );
        ensure!(
            a.quality == AttrQuality::Valid,
            "{name}: quality {}",
            a.quality
        );
        if e.writable == AttrWriteType::Write && cx.family() == Family::Cpp {
            // C++ write-only attributes read back their set value, which may not be set
            checked += 1;
            continue;
        }
        let Some(value) = a.value.as_ref() else {
            return Err(format!("{name}: no value"));
        };
        ensure!(
            value.data_type() == e.data_type,
            "{name}: value of type {}",
            value.data_type()
        );
        match e.data_format {
            AttrDataFormat::Scalar => {
                ensure!(value.len() == 1, "{name}: {} elements", value.len());
                ensure!(
                    (a.dim_x, a.dim_y) == (1, 0),
                    "{name}: dims {}x{}",
                    a.dim_x,
                    a.dim_y
                );
            }
            AttrDataFormat::Spectrum => {
                ensure!(
                    a.dim_x as i32 <= e.max_dim_x && a.dim_y == 0,
                    "{name}: dims {}x{}",
                    a.dim_x,
                    a.dim_y
                );
                ensure!(value.len() == a.dim_x, "{name}: {} elements", value.len());
            }
            _ => {
                ensure!(
                    a.dim_x as i32 <= e.max_dim_x && a.dim_y as i32 <= e.max_dim_y,
                    "{name}: dims {}x{}",
                    a.dim_x,
                    a.dim_y
                );
                ensure!(
                    value.len() == a.dim_x * a.dim_y,
                    "{name}: {} elements for {}x{}",
                    value.len(),
                    a.dim_x,
                    a.dim_y
                );
            }
        }
        ensure!(!a.to_string().is_empty(), "{name}: empty display");
        checked += 1;
    }
    ensure!(checked > 0, "no attribute in this group");
    Ok(())
}

fn numeric_of(format: AttrDataFormat) -> impl Fn(&ExpectedAttr) -> bool {
    move |e| e.data_format == format && is_numeric(e.data_type)
}

fn other_of(format: AttrDataFormat) -> impl Fn(&ExpectedAttr) -> bool {
    move |e| e.data_format == format && !is_numeric(e.data_type)
}

/// Every scalar attribute (numbers, strings, booleans, State, Status).
pub async fn scalars(cx: &Cx) -> CaseResult {
    read_group(cx, |e| e.data_format == AttrDataFormat::Scalar).await
}

/// Numeric spectra.
pub async fn spectra_numeric(cx: &Cx) -> CaseResult {
    read_group(cx, numeric_of(AttrDataFormat::Spectrum)).await
}

/// Boolean and string spectra.
pub async fn spectra_other(cx: &Cx) -> CaseResult {
    read_group(cx, other_of(AttrDataFormat::Spectrum)).await
}

/// Numeric images.
pub async fn images_numeric(cx: &Cx) -> CaseResult {
    read_group(cx, numeric_of(AttrDataFormat::Image)).await
}

/// Boolean and string images.
pub async fn images_other(cx: &Cx) -> CaseResult {
    read_group(cx, other_of(AttrDataFormat::Image)).await
}

/// `wave`: 256 finite points.
pub async fn wave(cx: &Cx) -> CaseResult {
    let dev = cx.dev().await?;
    let a = cx.call(dev.read_attribute("wave")).await.or_fail("wave")?;
    let w: Vec<f64> = a.get().or_fail("wave as Vec<f64>")?;
    ensure!(w.len() == 256, "{} points", w.len());
    ensure!(w.iter().all(|x| x.is_finite()), "not finite: {w:?}");
    Ok(())
}

/// Typed access: `get::<f64>()`, `Vec<f64>`, `Image<f64>`, `String`, `DevState`.
pub async fn typed(cx: &Cx) -> CaseResult {
    let dev = cx.dev().await?;
    let read = |name: &'static str| {
        let call = dev.read_attribute(name);
        async move { cx.call(call).await.or_fail(name) }
    };
    read("double_scalar")
        .await?
        .get::<f64>()
        .or_fail("double_scalar as f64")?;
    let s: Vec<f64> = read("double_spectrum_ro")
        .await?
        .get()
        .or_fail("double_spectrum_ro as Vec<f64>")?;
    ensure!(!s.is_empty(), "empty double_spectrum_ro");
    let img: Image<f64> = read("double_image_ro")
        .await?
        .get()
        .or_fail("double_image_ro as Image<f64>")?;
    ensure!(
        img.data.len() == img.dim_x * img.dim_y && img.dim_x > 0,
        "image {}x{} with {} elements",
        img.dim_x,
        img.dim_y,
        img.data.len()
    );
    read("string_scalar")
        .await?
        .get::<String>()
        .or_fail("string_scalar as String")?;
    let st: DevState = read("State").await?.get().or_fail("State as DevState")?;
    ensure!(st == DevState::Running, "State attribute {st}");
    let status: String = read("Status").await?.get().or_fail("Status as String")?;
    ensure!(status.contains("RUNNING"), "Status attribute {status:?}");
    let wrong = read("double_scalar").await?.get::<String>();
    ensure!(wrong.is_err(), "a double read as a String: {wrong:?}");
    Ok(())
}

/// Every readable attribute in one `read_attributes` request, in the order asked.
pub async fn all_at_once(cx: &Cx) -> CaseResult {
    let dev = cx.dev().await?;
    let names: Vec<&str> = Interface::tangotest()
        .attributes
        .iter()
        .map(|a| a.name.as_str())
        .filter(|n| !FAILING_READS.contains(n))
        .collect();
    let all = cx
        .call(dev.read_attributes(&names))
        .await
        .or_fail("read_attributes")?;
    let got: Vec<&str> = all.iter().map(|a| a.name.as_str()).collect();
    ensure!(
        got.len() == names.len()
            && got
                .iter()
                .zip(&names)
                .all(|(a, b)| a.eq_ignore_ascii_case(b)),
        "names {got:?}"
    );
    let failed: Vec<_> = all
        .iter()
        .filter(|a| a.has_failed())
        .map(|a| a.name.as_str())
        .collect();
    ensure!(failed.is_empty(), "failed: {failed:?}");
    Ok(())
}

/// Attributes beyond the 9.3.4 interface (newer TangoTest: `enum_*`, `freq`, ...): each
/// reads; DevEnum ones have labels and values within them.
pub async fn newer_attributes(cx: &Cx) -> CaseResult {
    let dev = cx.dev().await?;
    let configs = cx
        .call(dev.attribute_list_query_ex())
        .await
        .or_fail("attribute_list_query_ex")?;
    let newer: Vec<_> = configs
        .iter()
        .filter(|c| Interface::tangotest().attribute(&c.name).is_none())
        .collect();
    ensure!(!newer.is_empty(), "no attribute beyond the 9.3.4 interface");
    for c in newer {
        if c.writable == AttrWriteType::Write {
            continue;
        }
        let a = cx
            .call(dev.read_attribute(&c.name))
            .await
            .or_fail(&c.name)?;
        ensure!(!a.has_failed(), "{}: failed {:?}", c.name, a.errors);
        if c.data_type == CmdArgType::DevEnum {
            let n = c.enum_labels.len() as i16;
            ensure!(n > 0, "{}: no enum labels", c.name);
            if let Some(AttrData::Enum(v)) = &a.value {
                ensure!(
                    v.iter().all(|i| (0..n).contains(i)),
                    "{}: values {v:?} outside {n} labels",
                    c.name
                );
            } else {
                return Err(format!("{}: value {:?}", c.name, a.value));
            }
        }
    }
    Ok(())
}
