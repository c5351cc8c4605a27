//! Text and JSON forms of what the device tells about itself, and of errors.

use serde_json::{json, Map, Value};
use tango::{AttributeInfoEx, CommandInfo, DevFailed, DeviceInfo};

/// Why a `tango` command failed.
#[derive(Debug)]
pub enum Failure {
    /// The Tango call failed.
    Tango(tango::Error),
    /// The value given on the command line does not fit.
    Value(String),
}

impl From<tango::Error> for Failure {
    fn from(e: tango::Error) -> Self {
        Failure::Tango(e)
    }
}

/// `DeviceInfo` as aligned `field: value` lines.
pub fn info_text(i: &DeviceInfo) -> String {
    let mut s = format!(
        "dev_class:      {}\nserver_id:      {}\nserver_host:    {}\nserver_version: {}\n\
         doc_url:        {}\ndev_type:       {}",
        i.dev_class, i.server_id, i.server_host, i.server_version, i.doc_url, i.dev_type
    );
    if i.version_info.is_empty() {
        s.push_str("\nversion_info:   {}");
    } else {
        s.push_str("\nversion_info:");
        for (k, v) in &i.version_info {
            s.push_str(&format!("\n  {k}: {v}"));
        }
    }
    s
}

/// `DeviceInfo` as a JSON object (`version_info` as an object).
pub fn info_json(i: &DeviceInfo) -> Value {
    let versions: Map<String, Value> = i
        .version_info
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    json!({
        "dev_class": i.dev_class,
        "server_id": i.server_id,
        "server_host": i.server_host,
        "server_version": i.server_version,
        "doc_url": i.doc_url,
        "dev_type": i.dev_type,
        "version_info": versions,
    })
}

/// Left-aligned columns, with a header.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut width: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| -> String {
        let n = cells.len();
        cells
            .iter()
            .zip(&width)
            .enumerate()
            .map(|(i, (c, w))| {
                if i + 1 == n {
                    (*c).to_owned()
                } else {
                    format!("{c:<w$}  ")
                }
            })
            .collect::<String>()
    };
    let mut out = vec![line(header.to_vec())];
    out.extend(
        rows.iter()
            .map(|r| line(r.iter().map(String::as_str).collect())),
    );
    out.join("\n")
}

/// The attribute list as a table.
pub fn attrs_text(list: &[AttributeInfoEx]) -> String {
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|a| {
            vec![
                a.name.clone(),
                a.data_type.name().to_owned(),
                a.data_format.name().to_owned(),
                a.writable.name().to_owned(),
                a.max_dim_x.to_string(),
                a.max_dim_y.to_string(),
            ]
        })
        .collect();
    table(
        &[
            "NAME",
            "TYPE",
            "FORMAT",
            "WRITABLE",
            "MAX_DIM_X",
            "MAX_DIM_Y",
        ],
        &rows,
    )
}

/// The attribute list as `{"attributes": [...]}` (field names of PyTango's
/// `AttributeInfoEx`).
pub fn attrs_json(list: &[AttributeInfoEx]) -> Value {
    let items: Vec<Value> = list
        .iter()
        .map(|a| {
            json!({
                "name": a.name,
                "data_type": a.data_type.name(),
                "data_format": a.data_format.name(),
                "writable": a.writable.name(),
                "max_dim_x": a.max_dim_x,
                "max_dim_y": a.max_dim_y,
                "label": a.label,
                "unit": a.unit,
                "description": a.description,
                "enum_labels": a.enum_labels,
            })
        })
        .collect();
    json!({ "attributes": items })
}

/// The command list as a table.
pub fn cmds_text(list: &[CommandInfo]) -> String {
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|c| {
            vec![
                c.cmd_name.clone(),
                c.in_type.name().to_owned(),
                c.out_type.name().to_owned(),
            ]
        })
        .collect();
    table(&["NAME", "IN_TYPE", "OUT_TYPE"], &rows)
}

/// The command list as `{"commands": [...]}` (field names of PyTango's `CommandInfo`).
pub fn cmds_json(list: &[CommandInfo]) -> Value {
    let items: Vec<Value> = list
        .iter()
        .map(|c| {
            json!({
                "cmd_name": c.cmd_name,
                "in_type": c.in_type.name(),
                "out_type": c.out_type.name(),
                "in_type_desc": c.in_type_desc,
                "out_type_desc": c.out_type_desc,
                "disp_level": c.disp_level.name(),
            })
        })
        .collect();
    json!({ "commands": items })
}

/// The whole Tango error stack, one block per `DevError`.
pub fn dev_failed_text(df: &DevFailed) -> String {
    let mut s = String::from("DevFailed:\n");
    for (i, e) in df.errors.iter().enumerate() {
        s.push_str(&format!(
            "  [{i}] reason:   {}\n      severity: {}\n      desc:     {}\n      origin:   {}\n",
            e.reason,
            e.severity,
            e.desc.trim_end(),
            e.origin
        ));
    }
    s
}

/// What goes to stderr when a command fails (ends with a newline).
pub fn failure_text(f: &Failure) -> String {
    match f {
        Failure::Tango(tango::Error::DevFailed(df)) => {
            let first = df
                .errors
                .first()
                .map(|e| format!("{}: {}", e.reason, e.desc.trim_end()))
                .unwrap_or_else(|| "DevFailed with an empty error stack".to_owned());
            format!("error: {first}\n{}", dev_failed_text(df))
        }
        Failure::Tango(e) => format!("error: {e} [{}]\n", e.reason()),
        Failure::Value(msg) => format!("error: {msg}\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tango::{DevError, ErrSeverity};

    #[test]
    fn dev_failed_prints_every_error() {
        let df = DevFailed {
            errors: vec![
                DevError {
                    reason: "API_AttrNotFound".into(),
                    severity: ErrSeverity::Err,
                    desc: "no attribute nope".into(),
                    origin: "Device::read".into(),
                },
                DevError {
                    reason: "API_AttributeFailed".into(),
                    severity: ErrSeverity::Err,
                    desc: "Failed to read_attribute".into(),
                    origin: "DeviceProxy::read_attribute()".into(),
                },
            ],
        };
        let t = failure_text(&Failure::Tango(tango::Error::DevFailed(df)));
        assert!(
            t.starts_with("error: API_AttrNotFound: no attribute nope\n"),
            "{t}"
        );
        assert!(t.contains("[1] reason:   API_AttributeFailed"), "{t}");
        assert!(t.contains("severity: ERR"), "{t}");
        assert!(t.contains("origin:   Device::read"), "{t}");
    }

    #[test]
    fn info_forms() {
        let i = DeviceInfo {
            dev_class: "TangoTest".into(),
            server_id: "TangoTest/test".into(),
            server_host: "h".into(),
            server_version: 6,
            doc_url: "u".into(),
            dev_type: "t".into(),
            version_info: vec![("cppTango".into(), "10.0".into())],
        };
        let j = info_json(&i);
        assert_eq!(j["dev_class"], "TangoTest");
        assert_eq!(j["server_version"], 6);
        assert_eq!(j["version_info"]["cppTango"], "10.0");
        assert!(info_text(&i).contains("  cppTango: 10.0"));
    }

    #[test]
    fn tables_align() {
        let t = table(&["A", "B"], &[vec!["long name".into(), "x".into()]]);
        assert_eq!(t, "A          B\nlong name  x");
    }
}
