//! The `tango` binary against real TangoTest servers: the shared C++ TangoTest 9.3.4 and
//! the PyTango 10.3.1 peer started by `scripts/test`.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// Both shared peers, or `None` when interop tests are not enabled.
fn peers() -> Option<Vec<String>> {
    if !tango_testkit::require_interop() {
        return None;
    }
    Some(vec![
        tango_testkit::cpp_tangotest_device(),
        tango_testkit::py_tangotest_device(),
    ])
}

/// DEVICE/ATTR: the attribute inserted before `#dbase=no`.
fn attr(device: &str, name: &str) -> String {
    match device.split_once('#') {
        Some((d, frag)) => format!("{d}/{name}#{frag}"),
        None => format!("{device}/{name}"),
    }
}

fn tango(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tango"))
        .args(args)
        .output()
        .expect("run the tango binary")
}

/// Runs and requires success; returns stdout.
fn ok(args: &[&str]) -> String {
    let out = tango(args);
    assert!(
        out.status.success(),
        "tango {args:?} failed ({:?}):\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// Runs with `--json` semantics already in `args`; parses the one JSON object printed.
fn ok_json(args: &[&str]) -> Value {
    let s = ok(args);
    serde_json::from_str(s.trim()).unwrap_or_else(|e| panic!("tango {args:?}: not JSON ({e}): {s}"))
}

/// Runs and requires exit code 1; returns stderr.
fn fails(args: &[&str]) -> String {
    let out = tango(args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(1),
        "tango {args:?} should exit 1; stdout: {} stderr: {stderr}",
        String::from_utf8_lossy(&out.stdout)
    );
    stderr
}

/// A value unlikely to be written by a concurrent test.
fn unique(base: f64) -> f64 {
    base + f64::from(std::process::id() % 1000) / 8.0
}

#[test]
fn read_json_double_scalar_has_the_pytango_fields() {
    let Some(devs) = peers() else { return };
    for dev in devs {
        let v = ok_json(&["read", "--json", &attr(&dev, "double_scalar")]);
        assert_eq!(v["name"], "double_scalar", "{v}");
        assert!(v["value"].is_f64(), "{v}");
        assert!(v["w_value"].is_f64(), "{v}");
        assert_eq!(v["quality"], "ATTR_VALID");
        assert_eq!(v["data_format"], "SCALAR");
        assert_eq!(v["type"], "DevDouble");
        assert!(v["time"].as_f64().unwrap() > 1.5e9, "{v}");
        for k in [
            "dim_x",
            "dim_y",
            "w_dim_x",
            "w_dim_y",
            "nb_read",
            "nb_written",
        ] {
            assert!(v[k].is_u64(), "{k} in {v}");
        }
        assert_eq!(
            (v["dim_x"].as_u64(), v["dim_y"].as_u64()),
            (Some(1), Some(0))
        );
        assert_eq!(v["has_failed"], false);
        assert_eq!(v["is_empty"], false);
        assert_eq!(v.as_object().unwrap().len(), 15, "{v}");
    }
}

#[test]
fn read_text_is_the_pytango_printout() {
    let Some(devs) = peers() else { return };
    for dev in devs {
        let s = ok(&["read", &attr(&dev, "double_scalar")]);
        assert!(s.starts_with("DeviceAttribute["), "{s}");
        assert!(s.contains("name = 'double_scalar'"), "{s}");
    }
}

#[test]
fn write_then_read_back_a_double() {
    let Some(devs) = peers() else { return };
    let x = unique(1000.25);
    for dev in devs {
        let a = attr(&dev, "double_scalar");
        assert_eq!(ok(&["write", &a, &x.to_string()]), "");
        let v = ok_json(&["read", "--json", &a]);
        assert_eq!(v["w_value"].as_f64(), Some(x), "{v}");
    }
}

#[test]
fn write_a_long_spectrum_as_json() {
    let Some(devs) = peers() else { return };
    for dev in devs {
        let a = attr(&dev, "long_spectrum");
        ok(&["write", &a, "[7, -2147483648, 2147483647]"]);
        let v = ok_json(&["read", "--json", &a]);
        assert_eq!(v["w_value"], json!([7, -2147483648i64, 2147483647]), "{v}");
        assert_eq!(v["data_format"], "SPECTRUM");
        assert!(v["value"].is_array(), "{v}");
        let e = fails(&["write", &a, "[1, 2147483648]"]);
        assert!(e.contains("out of range for DevLong"), "{e}");
    }
}

#[test]
fn write_a_short_image_as_rows() {
    let Some(devs) = peers() else { return };
    for dev in devs {
        let a = attr(&dev, "short_image");
        ok(&["write", &a, "[[1,2,3],[4,5,-32768]]"]);
        let v = ok_json(&["read", "--json", &a]);
        assert_eq!(v["w_value"], json!([[1, 2, 3], [4, 5, -32768]]), "{v}");
        assert_eq!(
            (v["w_dim_x"].as_u64(), v["w_dim_y"].as_u64()),
            (Some(3), Some(2)),
            "{v}"
        );
        let rows = v["value"].as_array().expect("image value is rows");
        let dim_x = v["dim_x"].as_u64().unwrap() as usize;
        assert!(
            rows.iter().all(|r| r.as_array().unwrap().len() == dim_x),
            "{v}"
        );
        let e = fails(&["write", &a, "[[1,2],[3]]"]);
        assert!(e.contains("same length"), "{e}");
    }
}

#[test]
fn write_a_string_with_spaces() {
    let Some(devs) = peers() else { return };
    for dev in devs {
        let a = attr(&dev, "string_scalar");
        let s = "  hello  Tango wörld ";
        ok(&["write", &a, s]);
        let v = ok_json(&["read", "--json", &a]);
        assert_eq!(v["w_value"], s, "{v}");
        let e = fails(&["write", &a, "price: 5 €"]);
        assert!(e.contains("Latin-1"), "{e}");
    }
}

#[test]
fn write_a_boolean() {
    let Some(devs) = peers() else { return };
    for dev in devs {
        let a = attr(&dev, "boolean_scalar");
        for (text, b) in [("TRUE", true), ("0", false), ("true", true)] {
            ok(&["write", &a, text]);
            let v = ok_json(&["read", "--json", &a]);
            assert_eq!(v["w_value"], b, "{text}: {v}");
        }
        let e = fails(&["write", &a, "maybe"]);
        assert!(e.contains("DevBoolean"), "{e}");
    }
}

#[test]
fn cmd_dev_double_json() {
    let Some(devs) = peers() else { return };
    for dev in devs {
        assert_eq!(
            ok_json(&["cmd", &dev, "DevDouble", "2.5", "--json"]),
            json!({"value": 2.5})
        );
        assert_eq!(
            ok_json(&["cmd", "--json", &dev, "DevDouble", "-inf"]),
            json!({"value": "-Infinity"})
        );
        assert_eq!(ok(&["cmd", &dev, "DevDouble", "-1.25"]).trim(), "-1.25");
        assert_eq!(
            ok_json(&["cmd", &dev, "DevULong64", "18446744073709551615", "--json"]),
            json!({"value": u64::MAX})
        );
        let e = fails(&["cmd", &dev, "DevShort", "32768"]);
        assert!(e.contains("out of range for DevShort"), "{e}");
    }
}

#[test]
fn cmd_long_string_array() {
    let Some(devs) = peers() else { return };
    for dev in devs {
        let arg = r#"[[1,2],["a","b"]]"#;
        assert_eq!(
            ok_json(&["cmd", &dev, "DevVarLongStringArray", arg, "--json"]),
            json!({"value": [[1, 2], ["a", "b"]]})
        );
        assert_eq!(ok(&["cmd", &dev, "DevVarLongStringArray", arg]).trim(), arg);
        assert_eq!(
            ok_json(&[
                "cmd",
                &dev,
                "DevVarStringArray",
                r#"["x y", "é"]"#,
                "--json"
            ]),
            json!({"value": ["x y", "é"]})
        );
    }
}

#[test]
fn cmd_dev_void_has_no_value() {
    let Some(devs) = peers() else { return };
    for dev in devs {
        assert_eq!(ok_json(&["cmd", &dev, "DevVoid", "--json"]), json!({}));
        assert_eq!(ok(&["cmd", &dev, "DevVoid"]), "");
        let e = fails(&["cmd", &dev, "DevVoid", "1"]);
        assert!(e.contains("DevVoid"), "{e}");
    }
}

#[test]
fn info_ping_attrs_cmds() {
    let Some(devs) = peers() else { return };
    for dev in devs {
        let i = ok_json(&["info", "--json", &dev]);
        assert_eq!(i["dev_class"], "TangoTest", "{i}");
        assert!(i["server_version"].as_i64().unwrap() >= 5, "{i}");
        assert!(i["version_info"].is_object(), "{i}");
        let p = ok_json(&["ping", "--json", &dev]);
        assert!(p["round_trip_us"].is_u64(), "{p}");
        assert!(
            p["device"].as_str().unwrap().contains("sys/tg_test/1"),
            "{p}"
        );
        let a = ok_json(&["attrs", "--json", &dev]);
        let list = a["attributes"].as_array().unwrap();
        let ds = list
            .iter()
            .find(|x| x["name"] == "double_scalar")
            .expect("double_scalar listed");
        assert_eq!(
            (&ds["data_type"], &ds["data_format"]),
            (&json!("DevDouble"), &json!("SCALAR"))
        );
        let c = ok_json(&["cmds", "--json", &dev]);
        let list = c["commands"].as_array().unwrap();
        let dd = list
            .iter()
            .find(|x| x["cmd_name"] == "DevDouble")
            .expect("DevDouble listed");
        assert_eq!(
            (&dd["in_type"], &dd["out_type"]),
            (&json!("DevDouble"), &json!("DevDouble"))
        );
        assert!(ok(&["cmds", &dev]).contains("DevVarLongStringArray"));
        assert!(ok(&["attrs", &dev]).contains("long_spectrum"));
        assert!(ok(&["info", &dev]).contains("TangoTest"));
    }
}

#[test]
fn unknown_attribute_exits_1_with_the_error_stack() {
    let Some(devs) = peers() else { return };
    for dev in devs {
        let e = fails(&["read", &attr(&dev, "no_such_attribute")]);
        assert!(e.contains("API_AttrNotFound"), "{e}");
        assert!(
            e.contains("severity:") && e.contains("origin:") && e.contains("desc:"),
            "{e}"
        );
        let e = fails(&["read", "--json", &attr(&dev, "no_such_attribute")]);
        assert!(e.contains("API_AttrNotFound"), "{e}");
    }
}

#[test]
fn unknown_command_prints_command_not_found() {
    let Some(devs) = peers() else { return };
    for dev in devs {
        let e = fails(&["cmd", &dev, "NoSuchCommand"]);
        assert!(e.contains("API_CommandNotFound"), "{e}");
    }
}

#[test]
fn stopped_server_exits_1_quickly() {
    if !tango_testkit::require_interop() {
        return;
    }
    let port = tango_testkit::free_port();
    let dev = format!("tango://127.0.0.1:{port}/sys/tg_test/1#dbase=no");
    let t = Instant::now();
    let e = fails(&["--timeout", "1000", "read", &attr(&dev, "double_scalar")]);
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "took {:?}",
        t.elapsed()
    );
    assert!(
        e.contains("not running") && e.contains(&port.to_string()),
        "{e}"
    );
    let e = fails(&["--timeout", "1000", "ping", &dev]);
    assert!(e.contains("API_CantConnectToDevice"), "{e}");
}

#[test]
fn silent_server_times_out_within_the_timeout() {
    // No Tango peer needed: a listener that accepts and never answers.
    let port = tango_testkit::mock_server::silent_server();
    let dev = format!("tango://127.0.0.1:{port}/sys/tg_test/1#dbase=no");
    let t = Instant::now();
    let e = fails(&["--timeout", "300", "ping", &dev]);
    assert!(
        t.elapsed() < Duration::from_millis(2500),
        "took {:?}",
        t.elapsed()
    );
    assert!(
        e.contains("timed out after 300 ms") && e.contains("API_DeviceTimedOut"),
        "{e}"
    );
}

#[test]
fn usage_errors_exit_2() {
    // No server needed: clap refuses before any connection.
    let out = tango(&["read"]);
    assert_eq!(out.status.code(), Some(2));
    let out = tango(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
}
