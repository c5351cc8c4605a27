//! Queries: attribute and command lists against the recorded TangoTest 9.3.4 interface,
//! `command_query`, attribute configuration, and reads of a polled attribute through the
//! admin device's polling commands.

use std::collections::BTreeSet;
use std::time::Duration;

use tango::{AttrWriteType, CmdArgType, CommandData, DevSource};

use super::{ensure, CaseResult, OrFail};
use crate::interface::Interface;
use crate::matrix::client::Cx;
use crate::matrix::server::Family;

/// `get_attribute_list`, `attribute_list_query` and `attribute_list_query_ex` name the same
/// attributes, every one of the 9.3.4 interface (exactly those for the peers; ours adds
/// the newer TangoTest attributes).
pub async fn attribute_list(cx: &Cx) -> CaseResult {
    let dev = cx.dev().await?;
    let names = cx
        .call(dev.get_attribute_list())
        .await
        .or_fail("get_attribute_list")?;
    let old: Vec<String> = cx
        .call(dev.attribute_list_query())
        .await
        .or_fail("attribute_list_query")?
        .into_iter()
        .map(|a| a.name)
        .collect();
    let ex: Vec<String> = cx
        .call(dev.attribute_list_query_ex())
        .await
        .or_fail("attribute_list_query_ex")?
        .into_iter()
        .map(|a| a.name)
        .collect();
    ensure!(old == names, "attribute_list_query {old:?} != {names:?}");
    ensure!(ex == names, "attribute_list_query_ex {ex:?} != {names:?}");
    let have: BTreeSet<&str> = names.iter().map(String::as_str).collect();
    let expected: BTreeSet<&str> = Interface::tangotest()
        .attributes
        .iter()
        .map(|a| a.name.as_str())
        .collect();
    let missing: Vec<_> = expected.difference(&have).collect();
    ensure!(missing.is_empty(), "missing attributes {missing:?}");
    if cx.family() != Family::Rust {
        let extra: Vec<_> = have.difference(&expected).collect();
        ensure!(
            extra.is_empty(),
            "attributes beyond the interface {extra:?}"
        );
    }
    Ok(())
}

/// Every attribute's type, format, maximum dimensions and writability as recorded (the
/// writability of the `*_rww` attributes is the next case's).
pub async fn attributes_match_interface(cx: &Cx) -> CaseResult {
    let dev = cx.dev().await?;
    let configs = cx
        .call(dev.attribute_list_query_ex())
        .await
        .or_fail("attribute_list_query_ex")?;
    for e in &Interface::tangotest().attributes {
        let Some(c) = configs.iter().find(|c| c.name == e.name) else {
            return Err(format!("attribute {} missing", e.name));
        };
        let got = (c.data_type, c.data_format, c.max_dim_x, c.max_dim_y);
        let want = (e.data_type, e.data_format, e.max_dim_x, e.max_dim_y);
        ensure!(got == want, "{}: {got:?}, expected {want:?}", e.name);
        if e.writable != AttrWriteType::ReadWithWrite {
            ensure!(
                c.writable == e.writable,
                "{}: writable {}, expected {}",
                e.name,
                c.writable,
                e.writable
            );
        }
    }
    Ok(())
}

/// The `*_rww` attributes are READ_WITH_WRITE, each naming its `*_w` attribute.
pub async fn read_with_write(cx: &Cx) -> CaseResult {
    let dev = cx.dev().await?;
    for base in ["double", "long", "short"] {
        let name = format!("{base}_scalar_rww");
        let c = cx
            .call(dev.get_attribute_config(&name))
            .await
            .or_fail(&name)?;
        ensure!(
            c.writable == AttrWriteType::ReadWithWrite,
            "{name}: writable {}",
            c.writable
        );
        let w = format!("{base}_scalar_w");
        ensure!(
            c.writable_attr_name.eq_ignore_ascii_case(&w),
            "{name}: writable_attr_name {:?}, expected {w}",
            c.writable_attr_name
        );
    }
    Ok(())
}

/// `command_list_query`: every command of the interface with its argument types.
pub async fn commands_match_interface(cx: &Cx) -> CaseResult {
    let dev = cx.dev().await?;
    let cmds = cx
        .call(dev.command_list_query())
        .await
        .or_fail("command_list_query")?;
    for e in &Interface::tangotest().commands {
        let Some(c) = cmds.iter().find(|c| c.cmd_name == e.name) else {
            return Err(format!("command {} missing", e.name));
        };
        ensure!(
            (c.in_type, c.out_type) == (e.in_type, e.out_type),
            "{}: {} -> {}, expected {} -> {}",
            e.name,
            c.in_type,
            c.out_type,
            e.in_type,
            e.out_type
        );
    }
    if cx.family() != Family::Rust {
        ensure!(
            cmds.len() == Interface::tangotest().commands.len(),
            "{} commands, expected {}",
            cmds.len(),
            Interface::tangotest().commands.len()
        );
    }
    Ok(())
}

/// `command_query` of one command.
pub async fn command_query(cx: &Cx) -> CaseResult {
    let dev = cx.dev().await?;
    for (name, tin, tout) in [
        (
            "DevVarDoubleArray",
            CmdArgType::DevVarDoubleArray,
            CmdArgType::DevVarDoubleArray,
        ),
        ("State", CmdArgType::DevVoid, CmdArgType::DevState),
        (
            "DevVarLongStringArray",
            CmdArgType::DevVarLongStringArray,
            CmdArgType::DevVarLongStringArray,
        ),
    ] {
        let q = cx.call(dev.command_query(name)).await.or_fail(name)?;
        ensure!(q.cmd_name == name, "cmd_name {:?}", q.cmd_name);
        ensure!(
            (q.in_type, q.out_type) == (tin, tout),
            "{name}: {} -> {}",
            q.in_type,
            q.out_type
        );
    }
    Ok(())
}

/// `get_command_list` names the commands `command_list_query` describes.
pub async fn get_command_list(cx: &Cx) -> CaseResult {
    let dev = cx.dev().await?;
    let names = cx
        .call(dev.get_command_list())
        .await
        .or_fail("get_command_list")?;
    let infos: Vec<String> = cx
        .call(dev.command_list_query())
        .await
        .or_fail("command_list_query")?
        .into_iter()
        .map(|c| c.cmd_name)
        .collect();
    ensure!(names == infos, "{names:?} != {infos:?}");
    Ok(())
}

/// `get_attribute_config(_list)`: TangoTest's defaults (label = name, no limits, a
/// description, `%6.2f` / `%d` formats), in the order asked.
pub async fn config_get(cx: &Cx) -> CaseResult {
    let dev = cx.dev().await?;
    let names = [
        "double_scalar",
        "long_spectrum",
        "string_scalar",
        "short_image_ro",
    ];
    let list = cx
        .call(dev.get_attribute_config_list(&names))
        .await
        .or_fail("get_attribute_config_list")?;
    let got: Vec<&str> = list.iter().map(|c| c.name.as_str()).collect();
    ensure!(got == names, "names {got:?}");
    for c in &list {
        ensure!(c.label == c.name, "{}: label {:?}", c.name, c.label);
        ensure!(
            c.min_value == "Not specified" && c.max_value == "Not specified",
            "{}: limits {:?}..{:?}",
            c.name,
            c.min_value,
            c.max_value
        );
        ensure!(
            c.unit.is_empty() || c.unit == "No unit",
            "{}: unit {:?}",
            c.name,
            c.unit
        );
        ensure!(!c.description.is_empty(), "{}: no description", c.name);
    }
    let d = cx
        .call(dev.get_attribute_config("double_scalar"))
        .await
        .or_fail("double_scalar")?;
    ensure!(d.format == "%6.2f", "double_scalar format {:?}", d.format);
    ensure!(d.data_type == CmdArgType::DevDouble, "type {}", d.data_type);
    let l = cx
        .call(dev.get_attribute_config("long_scalar"))
        .await
        .or_fail("long_scalar")?;
    ensure!(l.format == "%d", "long_scalar format {:?}", l.format);
    Ok(())
}

/// Polls `attr` every 200 ms through the admin device while `body` runs, then removes the
/// polling (also when `body` fails).
async fn while_polled(
    cx: &Cx,
    attr: &str,
    source: DevSource,
) -> Result<tango::DeviceAttribute, String> {
    let admin = cx
        .new_proxy(&cx.admin_name())
        .await
        .or_fail("admin device")?;
    let spec = |period: Option<i32>| {
        let strings = vec!["sys/tg_test/1".to_owned(), "attribute".into(), attr.into()];
        match period {
            Some(p) => CommandData::LongStringArray(vec![p], strings),
            None => CommandData::StringArray(strings),
        }
    };
    cx.call(admin.command_inout("AddObjPolling", spec(Some(200))))
        .await
        .or_fail("AddObjPolling")?;
    let read = async {
        cx.sleep(Duration::from_millis(500)).await;
        let dev = cx
            .new_proxy(cx.device_name())
            .await
            .or_fail("second proxy")?;
        dev.set_source(source);
        cx.call(dev.read_attribute(attr))
            .await
            .or_fail(format!("read with source {source:?} of a polled attribute"))
    }
    .await;
    let removed = cx
        .call(admin.command_inout("RemObjPolling", spec(None)))
        .await
        .or_fail("RemObjPolling");
    let a = read?;
    removed?;
    Ok(a)
}

/// A polled attribute read with `DevSource::CacheDev` (from the polling buffer, else the
/// device).
pub async fn polling_cache_dev(cx: &Cx) -> CaseResult {
    let a = while_polled(cx, "double_scalar", DevSource::CacheDev).await?;
    ensure!(!a.has_failed(), "failed: {:?}", a.errors);
    ensure!(a.data_type == CmdArgType::DevDouble, "type {}", a.data_type);
    Ok(())
}

/// A polled attribute read with `DevSource::Cache` (from the polling buffer only).
pub async fn polling_cache(cx: &Cx) -> CaseResult {
    let a = while_polled(cx, "long_scalar", DevSource::Cache).await?;
    ensure!(!a.has_failed(), "failed: {:?}", a.errors);
    ensure!(a.data_type == CmdArgType::DevLong, "type {}", a.data_type);
    Ok(())
}

/// `set_attribute_config` of an unchanged configuration leaves it unchanged (what every
/// server accepts, the C++ TangoTest without a database included).
pub async fn config_set_unchanged(cx: &Cx) -> CaseResult {
    let dev = cx.dev().await?;
    let original = cx
        .call(dev.get_attribute_config("long_scalar"))
        .await
        .or_fail("get_attribute_config long_scalar")?;
    cx.call(dev.set_attribute_config(&original))
        .await
        .or_fail("set_attribute_config of the unchanged configuration")?;
    let back = cx
        .call(dev.get_attribute_config("long_scalar"))
        .await
        .or_fail("get_attribute_config after the set")?;
    ensure!(back == original, "changed: {back:?}\nwas {original:?}");
    Ok(())
}

/// `set_attribute_config` changes label, unit, format, description and limits; they read
/// back, writes outside the new limits are refused (`API_WAttrOutsideLimit`), and the
/// original configuration, set again, reads back exactly.
pub async fn config_set(cx: &Cx) -> CaseResult {
    let dev = cx.dev().await?;
    let name = "double_scalar";
    let original = cx
        .call(dev.get_attribute_config(name))
        .await
        .or_fail("get_attribute_config")?;
    let before = cx
        .call(dev.read_attribute(name))
        .await
        .or_fail("read before")?;
    let mut wanted = original.clone();
    wanted.label = "conformance label".into();
    wanted.unit = "mm".into();
    wanted.format = "%7.3f".into();
    wanted.description = "changed by the conformance matrix".into();
    wanted.min_value = "10".into();
    wanted.max_value = "100".into();
    let outcome = async {
        cx.call(dev.set_attribute_config(&wanted))
            .await
            .or_fail("set_attribute_config")?;
        let back = cx
            .call(dev.get_attribute_config(name))
            .await
            .or_fail("get_attribute_config after the set")?;
        let got = (&back.label, &back.unit, &back.format, &back.description);
        let want = (
            &wanted.label,
            &wanted.unit,
            &wanted.format,
            &wanted.description,
        );
        ensure!(got == want, "read back {got:?}, set {want:?}");
        ensure!(
            (back.min_value.as_str(), back.max_value.as_str()) == ("10", "100"),
            "limits read back {:?}..{:?}",
            back.min_value,
            back.max_value
        );
        for bad in [150.0, 9.5] {
            let r = cx.call(dev.write_attribute(name, bad)).await;
            super::expect_reason(r, "API_WAttrOutsideLimit", &format!("write {bad}"))?;
        }
        cx.call(dev.write_attribute(name, 50.0))
            .await
            .or_fail("write within the limits")?;
        Ok(())
    }
    .await;
    cx.call(dev.set_attribute_config(&original))
        .await
        .or_fail("set the original configuration back")?;
    if let Some(w) = before.w_value.filter(|v| !v.is_empty()) {
        cx.call(dev.write_attribute(name, tango::WriteValue::scalar(w)))
            .await
            .or_fail("restore the set point")?;
    }
    outcome?;
    let back = cx
        .call(dev.get_attribute_config(name))
        .await
        .or_fail("get_attribute_config after restoring")?;
    ensure!(back == original, "not restored: {back:?}\nwas {original:?}");
    Ok(())
}
