//! The Rust TangoTest class against the interface of C++ TangoTest 9.3.4 (as a PyTango
//! client listed it) and the behaviour of the C++ device, driving the device object
//! directly.

use std::time::{SystemTime, UNIX_EPOCH};

use tango_conformance::tangotest::{
    ENUM_LABELS, IMAGE_SIDE, SPECTRUM_LEN, STRING_IMAGE_RO_X, STRING_IMAGE_RO_Y, TS_OFFSET_SECS,
};
use tango_conformance::tangotest_class;
use tango_core::any::CommandData;
use tango_core::device::{
    AttrReading, Builtin, Call, ClassInfo, DeviceClass, DeviceCtx, Outcome, SyncDevice,
};
use tango_core::idl::{
    AttrDataFormat, AttrWriteType, CmdArgType, DevFailed, DevState, DispLevel, TimeVal,
};
use tango_core::value::{AttrData, WriteValue};

const INTERFACE: &str = include_str!("data/tangotest-9.3.4-interface.txt");

/// Attributes newer TangoTest releases added: name, type, format, writable, max dims.
const NEWER: &[(&str, CmdArgType, &str, &str, i32, i32)] = &[
    (
        "enum_scalar",
        CmdArgType::DevEnum,
        "SCALAR",
        "READ_WRITE",
        1,
        0,
    ),
    (
        "enum_scalar_ro",
        CmdArgType::DevEnum,
        "SCALAR",
        "READ",
        1,
        0,
    ),
    (
        "enum_spectrum",
        CmdArgType::DevEnum,
        "SPECTRUM",
        "READ_WRITE",
        4096,
        0,
    ),
    (
        "enum_spectrum_ro",
        CmdArgType::DevEnum,
        "SPECTRUM",
        "READ",
        4096,
        0,
    ),
    (
        "enum_image",
        CmdArgType::DevEnum,
        "IMAGE",
        "READ_WRITE",
        251,
        251,
    ),
    (
        "enum_image_ro",
        CmdArgType::DevEnum,
        "IMAGE",
        "READ",
        251,
        251,
    ),
    ("freq", CmdArgType::DevDouble, "SCALAR", "READ_WRITE", 1, 0),
    (
        "echo_mode",
        CmdArgType::DevBoolean,
        "SCALAR",
        "READ_WRITE",
        1,
        0,
    ),
    (
        "long_scalar_ts_future",
        CmdArgType::DevLong,
        "SCALAR",
        "READ_WRITE",
        1,
        0,
    ),
    (
        "long_scalar_ts_past",
        CmdArgType::DevLong,
        "SCALAR",
        "READ_WRITE",
        1,
        0,
    ),
];

struct IfaceAttr {
    name: String,
    data_type: i32,
    format: String,
    writable: String,
    max_x: i32,
    max_y: i32,
}

struct IfaceCmd {
    name: String,
    in_type: String,
    out_type: String,
}

fn interface() -> (Vec<IfaceAttr>, Vec<IfaceCmd>) {
    let mut attrs = Vec::new();
    let mut cmds = Vec::new();
    let mut in_cmds = false;
    for line in INTERFACE.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        if line.trim() == "---" {
            in_cmds = true;
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        if !in_cmds {
            assert_eq!(f.len(), 6, "attribute line {line:?}");
            attrs.push(IfaceAttr {
                name: f[0].to_owned(),
                data_type: f[1].parse().unwrap(),
                format: f[2].to_owned(),
                writable: f[3].to_owned(),
                max_x: f[4].parse().unwrap(),
                max_y: f[5].parse().unwrap(),
            });
        } else if f.len() == 3 && f[1].starts_with("Dev") && f[2].starts_with("Dev") {
            cmds.push(IfaceCmd {
                name: f[0].to_owned(),
                in_type: f[1].to_owned(),
                out_type: f[2].to_owned(),
            });
        }
    }
    (attrs, cmds)
}

struct Dev {
    class: DeviceClass,
    ctx: DeviceCtx,
    dev: Box<dyn SyncDevice>,
}

impl Dev {
    fn new() -> Self {
        let class = tangotest_class();
        let ctx = DeviceCtx::new("sys/tg_test/1");
        let mut dev = class.new_device(&ctx);
        dev.init_device(&ctx).expect("init_device");
        Dev { class, ctx, dev }
    }

    fn info(&self) -> &ClassInfo {
        &self.class.info
    }

    fn attr(&self, name: &str) -> usize {
        self.info()
            .attribute(name)
            .unwrap_or_else(|| panic!("no attribute {name}"))
    }

    fn cmd_index(&self, name: &str) -> usize {
        self.info()
            .command(name)
            .unwrap_or_else(|| panic!("no command {name}"))
    }

    fn run(&mut self, call: Call) -> Outcome {
        Outcome::run_sync(&mut *self.dev, &self.ctx, call)
    }

    fn read(&mut self, name: &str) -> Result<AttrReading, DevFailed> {
        let i = self.attr(name);
        match self.run(Call::Read(i)) {
            Outcome::Read(r) => r,
            other => panic!("read {name}: {other:?}"),
        }
    }

    fn read_ok(&mut self, name: &str) -> AttrReading {
        self.read(name)
            .unwrap_or_else(|e| panic!("read {name}: {e:?}"))
    }

    fn write(&mut self, name: &str, v: WriteValue) -> Result<(), DevFailed> {
        let i = self.attr(name);
        match self.run(Call::Write(i, v)) {
            Outcome::Done(r) => r,
            other => panic!("write {name}: {other:?}"),
        }
    }

    fn command(&mut self, name: &str, arg: CommandData) -> Result<CommandData, DevFailed> {
        let i = self.cmd_index(name);
        match self.run(Call::Command(i, arg)) {
            Outcome::Command(r) => r,
            other => panic!("command {name}: {other:?}"),
        }
    }

    fn state(&mut self) -> DevState {
        match self.run(Call::State) {
            Outcome::State(s) => s,
            other => panic!("state: {other:?}"),
        }
    }

    fn status(&mut self) -> String {
        match self.run(Call::Status) {
            Outcome::Status(s) => s,
            other => panic!("status: {other:?}"),
        }
    }
}

fn reason(e: &DevFailed) -> &str {
    e.reason().unwrap_or("")
}

#[test]
fn attributes_match_the_cpp_interface_then_the_newer_ones() {
    let class = tangotest_class();
    assert_eq!(class.name(), "TangoTest");
    let (iface, _) = interface();
    assert_eq!(
        iface.len(),
        62,
        "the interface file lists 60 attributes + State, Status"
    );
    let attrs = &class.info.attributes;
    let (cpp, state_status) = iface.split_at(iface.len() - 2);
    assert_eq!(attrs.len(), cpp.len() + NEWER.len() + 2);
    for (i, want) in cpp.iter().enumerate() {
        let got = &attrs[i];
        let c = &got.config;
        assert_eq!(c.name, want.name, "attribute #{i}");
        assert_eq!(c.data_type, want.data_type, "{}: type", want.name);
        assert_eq!(got.data_type as i32, want.data_type, "{}: type", want.name);
        assert_eq!(
            c.data_format.to_string(),
            want.format,
            "{}: format",
            want.name
        );
        assert_eq!(
            c.writable.to_string(),
            want.writable,
            "{}: writable",
            want.name
        );
        assert_eq!(c.max_dim_x, want.max_x, "{}: max_dim_x", want.name);
        assert_eq!(c.max_dim_y, want.max_y, "{}: max_dim_y", want.name);
        assert!(got.builtin.is_none());
    }
    for (j, (name, t, format, writable, x, y)) in NEWER.iter().enumerate() {
        let got = &attrs[cpp.len() + j];
        let c = &got.config;
        assert_eq!(c.name, *name);
        assert_eq!(c.data_type, *t as i32, "{name}");
        assert_eq!(got.data_type, *t, "{name}");
        assert_eq!(c.data_format.to_string(), *format, "{name}");
        assert_eq!(c.writable.to_string(), *writable, "{name}");
        assert_eq!((c.max_dim_x, c.max_dim_y), (*x, *y), "{name}");
        if *t == CmdArgType::DevEnum {
            assert_eq!(c.enum_labels, ENUM_LABELS, "{name}");
        } else {
            assert!(c.enum_labels.is_empty());
        }
    }
    for (k, want) in state_status.iter().enumerate() {
        let got = &attrs[attrs.len() - 2 + k];
        assert_eq!(got.config.name, want.name);
        assert_eq!(got.config.data_type, want.data_type);
        assert!(got.builtin.is_some());
    }
}

#[test]
fn attribute_configs_match_the_cpp_device() {
    let class = tangotest_class();
    let info = &class.info;
    let cfg = |n: &str| &info.attributes[info.attribute(n).unwrap()].config;
    // READ_WITH_WRITE partners.
    for (rww, w) in [
        ("double_scalar_rww", "double_scalar_w"),
        ("long_scalar_rww", "long_scalar_w"),
        ("short_scalar_rww", "short_scalar_w"),
    ] {
        assert_eq!(cfg(rww).writable, AttrWriteType::ReadWithWrite);
        assert_eq!(cfg(rww).writable_attr_name, w);
    }
    assert_eq!(cfg("double_scalar").writable_attr_name, "double_scalar");
    assert_eq!(cfg("wave").writable_attr_name, "None");
    // The non-default properties the C++ device declares.
    assert_eq!(
        cfg("boolean_scalar").description,
        "A boolean scalar attribute"
    );
    assert_eq!(cfg("float_scalar").description, "A float attribute");
    assert_eq!(
        cfg("float_spectrum").description,
        "A float spectrum attribute"
    );
    let uchar = cfg("uchar_spectrum");
    assert_eq!(uchar.description, "An unsigned char spectrum attribute");
    assert_eq!(
        (uchar.min_value.as_str(), uchar.max_value.as_str()),
        ("0", "255")
    );
    assert_eq!(
        cfg("ushort_spectrum").description,
        "An unsigned short spectrum attribute"
    );
    assert_eq!(cfg("boolean_image_ro").label, "boolean_image");
    let f = cfg("float_image_ro");
    assert_eq!(
        (f.label.as_str(), f.description.as_str()),
        ("float_image", "A float image attribute")
    );
    assert_eq!((f.min_value.as_str(), f.max_value.as_str()), ("0", "255"));
    let u = cfg("uchar_image_ro");
    assert_eq!(
        (u.label.as_str(), u.description.as_str()),
        ("uchar_image", "An unsigned char image attribute")
    );
    let us = cfg("ushort_image_ro");
    assert_eq!(us.label, "ushort_image_ro");
    assert_eq!(us.description, "An unsigned short image attribute");
    assert_eq!((us.min_value.as_str(), us.max_value.as_str()), ("0", "255"));
    // Everything else keeps the defaults.
    for n in [
        "ampli",
        "double_scalar",
        "long_scalar",
        "wave",
        "string_image",
    ] {
        assert_eq!(cfg(n).label, n);
        assert_eq!(cfg(n).description, "No description");
        assert_eq!(cfg(n).min_value, "Not specified");
    }
    // Display formats as the C++ device shows them.
    assert_eq!(cfg("double_scalar").format, "%6.2f");
    assert_eq!(cfg("float_spectrum").format, "%6.2f");
    assert_eq!(cfg("long_scalar").format, "%d");
    assert_eq!(cfg("string_scalar").format, "%s");
    for a in &info.attributes {
        if a.data_type == CmdArgType::DevBoolean {
            assert_eq!(a.config.format, "Not specified", "{}", a.config.name);
        }
        assert_eq!(a.config.level, DispLevel::Operator);
    }
}

/// cppTango reports `writable_attr_name` "None" for WRITE attributes (seen live on
/// `ampli` and the `*_w` ones).
#[test]
fn write_only_attributes_name_no_partner() {
    let class = tangotest_class();
    let info = &class.info;
    for n in [
        "ampli",
        "double_scalar_w",
        "long_scalar_w",
        "short_scalar_w",
    ] {
        let c = &info.attributes[info.attribute(n).unwrap()].config;
        assert_eq!(c.writable, AttrWriteType::Write);
        assert_eq!(c.writable_attr_name, "None", "{n}");
    }
}

#[test]
fn commands_match_the_cpp_interface() {
    let class = tangotest_class();
    let (_, iface) = interface();
    let cmds = &class.info.commands;
    assert_eq!(cmds.len(), iface.len());
    for want in &iface {
        let i = class
            .info
            .command(&want.name)
            .unwrap_or_else(|| panic!("missing {}", want.name));
        let got = &cmds[i];
        assert_eq!(got.name, want.name);
        assert_eq!(got.in_type.name(), want.in_type, "{}", want.name);
        assert_eq!(got.out_type.name(), want.out_type, "{}", want.name);
    }
    let cmd = |n: &str| &cmds[class.info.command(n).unwrap()];
    for n in [
        "CrashFromDevelopperThread",
        "CrashFromOmniThread",
        "DumpExecutionState",
    ] {
        assert_eq!(cmd(n).level, DispLevel::Expert, "{n}");
    }
    assert_eq!(cmd("DevBoolean").in_desc, "Any boolean value");
    assert_eq!(cmd("DevBoolean").out_desc, "Echo of the argin value");
    assert_eq!(cmd("DevULong").in_desc, "Any DevULong");
    assert_eq!(cmd("DevString").in_desc, "-");
    assert_eq!(cmd("DevVoid").out_desc, "N/A");
    assert_eq!(cmd("DevVarLong64Array").in_desc, "Uninitialised");
    assert_eq!(cmd("SwitchStates").level, DispLevel::Operator);
    assert_eq!(cmd("Init").builtin, Some(Builtin::Init));
}

fn check_shape(name: &str, format: AttrDataFormat, max: (i32, i32), r: &AttrReading) {
    let n = r.data.len();
    match format {
        AttrDataFormat::Scalar => {
            assert_eq!((n, r.dim_x, r.dim_y), (1, 1, 0), "{name}: scalar shape")
        }
        AttrDataFormat::Spectrum => {
            assert_eq!(r.dim_x, n, "{name}: spectrum dim_x");
            assert_eq!(r.dim_y, 0, "{name}: spectrum dim_y");
            assert!(n <= max.0 as usize, "{name}: {n} > max {}", max.0);
        }
        _ => {
            assert_eq!(r.dim_x * r.dim_y, n, "{name}: image elements");
            assert!(r.dim_x <= max.0 as usize, "{name}: dim_x {}", r.dim_x);
            assert!(r.dim_y <= max.1 as usize, "{name}: dim_y {}", r.dim_y);
        }
    }
}

#[test]
fn every_readable_attribute_reads_with_its_declared_type_and_shape() {
    let mut d = Dev::new();
    let attrs: Vec<_> = d.info().attributes.clone();
    for (i, a) in attrs.iter().enumerate() {
        if a.builtin.is_some() {
            continue;
        }
        let name = a.name().to_owned();
        let r = match d.run(Call::Read(i)) {
            Outcome::Read(r) => r,
            other => panic!("{other:?}"),
        };
        match name.as_str() {
            "no_value" => {
                let e = r.unwrap_err();
                assert_eq!(reason(&e), "API_AttrValueNotSet");
                assert_eq!(
                    e.errors[0].desc,
                    "Read value for attribute no_value has not been updated"
                );
                continue;
            }
            "throw_exception" => {
                let e = r.unwrap_err();
                assert_eq!(reason(&e), "exception test");
                assert_eq!(e.errors[0].desc, "here is the exception you requested");
                assert_eq!(e.errors[0].origin, "TangoTest::read_throw_exception");
                continue;
            }
            _ => {}
        }
        let r = r.unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert_eq!(r.data.data_type(), a.data_type, "{name}: data type");
        check_shape(
            &name,
            a.format(),
            (a.config.max_dim_x, a.config.max_dim_y),
            &r,
        );
        if a.data_type == CmdArgType::DevEnum {
            let AttrData::Enum(v) = &r.data else {
                unreachable!()
            };
            assert!(v
                .iter()
                .all(|&x| (0..ENUM_LABELS.len() as i16).contains(&x)));
        }
    }
}

#[test]
fn initial_values_are_those_of_the_cpp_device() {
    let mut d = Dev::new();
    assert_eq!(d.state(), DevState::Running);
    assert_eq!(d.status(), "The device is in RUNNING state.");
    let r = d.read_ok("boolean_scalar");
    assert_eq!(r.data, AttrData::Bool(vec![true]));
    let r = d.read_ok("string_scalar");
    assert_eq!(r.data, AttrData::String(vec!["Default string".into()]));
    for (n, zero) in [
        ("ampli", AttrData::Double(vec![0.0])),
        ("double_scalar_w", AttrData::Double(vec![0.0])),
        ("long_scalar_w", AttrData::Long(vec![0])),
        ("short_scalar_w", AttrData::Short(vec![0])),
        ("float_scalar", AttrData::Float(vec![0.0])),
        ("uchar_scalar", AttrData::UChar(vec![0])),
        ("ushort_scalar", AttrData::UShort(vec![0])),
    ] {
        assert_eq!(d.read_ok(n).data, zero, "{n}");
    }
    // Generated until written: integers in [0, 256), double_scalar within +-256.
    for _ in 0..20 {
        let AttrData::Long(v) = d.read_ok("long_scalar").data else {
            panic!()
        };
        assert!((0..256).contains(&v[0]));
        let AttrData::Short(v) = d.read_ok("short_scalar_ro").data else {
            panic!()
        };
        assert!((0..256).contains(&v[0]));
        let AttrData::Double(v) = d.read_ok("double_scalar").data else {
            panic!()
        };
        assert!(v[0].abs() <= 256.0);
    }
    // Writable spectra: 256 zeros; writable images: 251x251 zeros.
    let r = d.read_ok("double_spectrum");
    assert_eq!(r.data, AttrData::Double(vec![0.0; SPECTRUM_LEN]));
    let r = d.read_ok("string_spectrum");
    assert_eq!(r.data, AttrData::String(vec![String::new(); SPECTRUM_LEN]));
    let r = d.read_ok("long_image");
    assert_eq!((r.dim_x, r.dim_y), (IMAGE_SIDE, IMAGE_SIDE));
    assert_eq!(r.data, AttrData::Long(vec![0; IMAGE_SIDE * IMAGE_SIDE]));
}

#[test]
fn generated_data_changes_and_has_the_cpp_sizes() {
    let mut d = Dev::new();
    for n in [
        "boolean_spectrum_ro",
        "double_spectrum_ro",
        "float_spectrum_ro",
        "long64_spectrum_ro",
        "long_spectrum_ro",
        "short_spectrum_ro",
        "string_spectrum_ro",
        "uchar_spectrum_ro",
        "ulong64_spectrum_ro",
        "ulong_spectrum_ro",
        "ushort_spectrum_ro",
        "wave",
    ] {
        let a = d.read_ok(n);
        let b = d.read_ok(n);
        assert_eq!(a.data.len(), SPECTRUM_LEN, "{n}");
        assert_ne!(a.data, b.data, "{n} does not change");
    }
    for n in [
        "boolean_image_ro",
        "double_image_ro",
        "float_image_ro",
        "long64_image_ro",
        "long_image_ro",
        "short_image_ro",
        "uchar_image_ro",
        "ulong64_image_ro",
        "ulong_image_ro",
        "ushort_image_ro",
    ] {
        let a = d.read_ok(n);
        assert_eq!((a.dim_x, a.dim_y), (IMAGE_SIDE, IMAGE_SIDE), "{n}");
        let changed = (0..5).any(|_| d.read_ok(n).data != a.data);
        assert!(changed, "{n} does not change");
    }
    // Beam images: a non-empty cone, zero far from the centre.
    let AttrData::Long64(v) = d.read_ok("long64_image_ro").data else {
        panic!()
    };
    assert!(v.iter().any(|&x| x > 0));
    assert_eq!(v[0], 0);
    // Random data stays in [0, 256).
    let AttrData::ULong64(v) = d.read_ok("ulong64_spectrum_ro").data else {
        panic!()
    };
    assert!(v.iter().all(|&x| x < 256));
    let r = d.read_ok("string_spectrum_ro");
    let AttrData::String(s) = &r.data else {
        panic!()
    };
    assert!(s[3].starts_with("[03]::hello-world-"), "{}", s[3]);
    let r = d.read_ok("string_image_ro");
    assert_eq!((r.dim_x, r.dim_y), (STRING_IMAGE_RO_X, STRING_IMAGE_RO_Y));
    let AttrData::String(s) = &r.data else {
        panic!()
    };
    assert!(s[STRING_IMAGE_RO_X + 2].starts_with("[02][01]::hello world::"));
}

fn max_abs(r: &AttrReading) -> f64 {
    let AttrData::Double(v) = &r.data else {
        panic!("wave is not DevDouble")
    };
    v.iter().fold(0.0f64, |m, x| m.max(x.abs()))
}

#[test]
fn wave_is_a_256_point_sine_scaled_by_ampli() {
    let mut d = Dev::new();
    let r = d.read_ok("wave");
    assert_eq!((r.data.len(), r.dim_x, r.dim_y), (256, 256, 0));
    // 256 consecutive degrees always pass a peak: max |wave| is the amplitude.
    assert!((max_abs(&r) - 1.0).abs() < 1e-9, "{}", max_abs(&r));
    d.write("ampli", 5.5.into()).unwrap();
    assert_eq!(d.read_ok("ampli").data, AttrData::Double(vec![5.5]));
    let r = d.read_ok("wave");
    assert_eq!(r.data.len(), 256);
    assert!((max_abs(&r) - 5.5).abs() < 1e-9, "{}", max_abs(&r));
    d.write("ampli", 0.0.into()).unwrap();
    assert_eq!(max_abs(&d.read_ok("wave")), 0.0);
}

fn round_trip(d: &mut Dev, name: &str, v: WriteValue) {
    d.write(name, v.clone())
        .unwrap_or_else(|e| panic!("write {name}: {e:?}"));
    let r = d.read_ok(name);
    assert_eq!(r.data, v.data, "{name} reads back");
    assert_eq!((r.dim_x, r.dim_y), (v.dim_x, v.dim_y), "{name} shape");
}

#[test]
fn writable_scalars_read_back_boundary_values() {
    let mut d = Dev::new();
    for v in [true, false] {
        round_trip(&mut d, "boolean_scalar", v.into());
    }
    for v in [f64::MIN, f64::MAX, -0.0, f64::MIN_POSITIVE, 1.5] {
        round_trip(&mut d, "double_scalar", v.into());
        round_trip(&mut d, "freq", v.into());
    }
    for v in [f32::MIN, f32::MAX, 1.25] {
        round_trip(&mut d, "float_scalar", v.into());
    }
    for v in [i64::MIN, i64::MAX, 0] {
        round_trip(&mut d, "long64_scalar", v.into());
    }
    for v in [i32::MIN, i32::MAX, -1] {
        round_trip(&mut d, "long_scalar", v.into());
        round_trip(&mut d, "long_scalar_ts_future", v.into());
        round_trip(&mut d, "long_scalar_ts_past", v.into());
    }
    for v in [i16::MIN, i16::MAX, -1] {
        round_trip(&mut d, "short_scalar", v.into());
    }
    for v in [u8::MIN, u8::MAX] {
        round_trip(&mut d, "uchar_scalar", v.into());
    }
    for v in [u64::MIN, u64::MAX] {
        round_trip(&mut d, "ulong64_scalar", v.into());
    }
    for v in [u16::MIN, u16::MAX] {
        round_trip(&mut d, "ushort_scalar", v.into());
    }
    for v in [u32::MIN, u32::MAX] {
        round_trip(&mut d, "ulong_scalar", v.into());
    }
    for s in ["", "é latin-1 ÿ", &"x".repeat(100_000)] {
        round_trip(&mut d, "string_scalar", s.into());
    }
    // Write-only attributes read their set point.
    round_trip(&mut d, "double_scalar_w", (-2.5).into());
    round_trip(&mut d, "long_scalar_w", i32::MIN.into());
    round_trip(&mut d, "short_scalar_w", i16::MAX.into());
    round_trip(&mut d, "ampli", 3.0.into());
    // Enum and boolean additions.
    for v in 0..ENUM_LABELS.len() as i16 {
        let w = WriteValue::scalar(AttrData::Enum(vec![v]));
        round_trip(&mut d, "enum_scalar", w);
    }
    round_trip(&mut d, "echo_mode", true.into());
}

#[test]
fn echo_mode_off_shows_generated_scalars_as_cpp_9_3_4() {
    let mut d = Dev::new();
    d.write("long_scalar", 100_000.into()).unwrap();
    d.write("echo_mode", false.into()).unwrap();
    for _ in 0..10 {
        let AttrData::Long(v) = d.read_ok("long_scalar").data else {
            panic!()
        };
        assert!((0..256).contains(&v[0]));
    }
    d.write("echo_mode", true.into()).unwrap();
    assert_eq!(d.read_ok("long_scalar").data, AttrData::Long(vec![100_000]));
}

#[test]
fn read_with_write_attributes_follow_their_partner() {
    let mut d = Dev::new();
    // Before any write the partner is the C++ internal 256.
    for _ in 0..20 {
        let AttrData::Short(v) = d.read_ok("short_scalar_rww").data else {
            panic!()
        };
        assert!((0..256).contains(&v[0]));
    }
    d.write("double_scalar_w", 2.0.into()).unwrap();
    d.write("long_scalar_w", 3.into()).unwrap();
    d.write("short_scalar_w", 1i16.into()).unwrap();
    for _ in 0..20 {
        let AttrData::Double(v) = d.read_ok("double_scalar_rww").data else {
            panic!()
        };
        assert!(v[0].abs() <= 2.0);
        let AttrData::Long(v) = d.read_ok("long_scalar_rww").data else {
            panic!()
        };
        assert!((0..3).contains(&v[0]));
        assert_eq!(d.read_ok("short_scalar_rww").data, AttrData::Short(vec![0]));
    }
}

#[test]
fn writable_spectra_and_images_read_back_including_empty() {
    let mut d = Dev::new();
    let long_str = "y".repeat(100_000);
    let spectra: Vec<(&str, AttrData, AttrData)> = vec![
        (
            "boolean_spectrum",
            AttrData::Bool(vec![true, false, true]),
            AttrData::Bool(vec![]),
        ),
        (
            "double_spectrum",
            AttrData::Double(vec![f64::MIN, f64::MAX, 0.5]),
            AttrData::Double(vec![]),
        ),
        (
            "float_spectrum",
            AttrData::Float(vec![f32::MIN, f32::MAX]),
            AttrData::Float(vec![]),
        ),
        (
            "long_spectrum",
            AttrData::Long(vec![i32::MIN, i32::MAX]),
            AttrData::Long(vec![]),
        ),
        (
            "short_spectrum",
            AttrData::Short(vec![i16::MIN, i16::MAX]),
            AttrData::Short(vec![]),
        ),
        (
            "string_spectrum",
            AttrData::String(vec![long_str.clone(), String::new(), "ÿ".into()]),
            AttrData::String(vec![]),
        ),
        (
            "uchar_spectrum",
            AttrData::UChar(vec![0, 255]),
            AttrData::UChar(vec![]),
        ),
        (
            "ushort_spectrum",
            AttrData::UShort(vec![0, u16::MAX]),
            AttrData::UShort(vec![]),
        ),
        (
            "enum_spectrum",
            AttrData::Enum(vec![2, 0, 1]),
            AttrData::Enum(vec![]),
        ),
    ];
    for (name, full, empty) in spectra {
        round_trip(&mut d, name, WriteValue::spectrum(full));
        round_trip(&mut d, name, WriteValue::spectrum(empty));
    }
    // The longest spectrum the limits allow.
    round_trip(
        &mut d,
        "long_spectrum",
        WriteValue::spectrum(AttrData::Long((0..4096).collect())),
    );
    let images: Vec<(&str, AttrData)> = vec![
        (
            "boolean_image",
            AttrData::Bool(vec![true, false, false, true, true, false]),
        ),
        (
            "double_image",
            AttrData::Double(vec![f64::MIN, 1.0, 2.0, 3.0, 4.0, f64::MAX]),
        ),
        (
            "float_image",
            AttrData::Float(vec![f32::MIN, 1.0, 2.0, 3.0, 4.0, f32::MAX]),
        ),
        (
            "long_image",
            AttrData::Long(vec![i32::MIN, 1, 2, 3, 4, i32::MAX]),
        ),
        (
            "short_image",
            AttrData::Short(vec![i16::MIN, 1, 2, 3, 4, i16::MAX]),
        ),
        (
            "string_image",
            AttrData::String(vec![
                long_str.clone(),
                "b".into(),
                "c".into(),
                String::new(),
                "e".into(),
                "f".into(),
            ]),
        ),
        ("uchar_image", AttrData::UChar(vec![0, 1, 2, 3, 4, 255])),
        (
            "ushort_image",
            AttrData::UShort(vec![0, 1, 2, 3, 4, u16::MAX]),
        ),
        ("enum_image", AttrData::Enum(vec![0, 1, 2, 2, 1, 0])),
    ];
    for (name, data) in images {
        // 2 columns x 3 rows, and 3 x 2.
        round_trip(&mut d, name, WriteValue::image(data.clone(), 2, 3).unwrap());
        round_trip(&mut d, name, WriteValue::image(data, 3, 2).unwrap());
    }
    // The largest string image the limits allow.
    let big = AttrData::String(vec!["s".to_owned(); 256 * 256]);
    round_trip(
        &mut d,
        "string_image",
        WriteValue::image(big, 256, 256).unwrap(),
    );
}

#[test]
fn enum_writes_outside_the_labels_are_refused() {
    let mut d = Dev::new();
    for v in [-1i16, ENUM_LABELS.len() as i16] {
        let e = d
            .write("enum_scalar", WriteValue::scalar(AttrData::Enum(vec![v])))
            .unwrap_err();
        assert_eq!(reason(&e), "API_WAttrOutsideLimit");
    }
    assert_eq!(d.read_ok("enum_scalar").data, AttrData::Enum(vec![0]));
}

#[test]
fn echo_commands_return_their_argument() {
    let mut d = Dev::new();
    let long = "z".repeat(100_000);
    let args = vec![
        ("DevBoolean", CommandData::Boolean(true)),
        ("DevBoolean", CommandData::Boolean(false)),
        ("DevDouble", CommandData::Double(f64::MAX)),
        ("DevDouble", CommandData::Double(f64::NEG_INFINITY)),
        ("DevDouble", CommandData::Double(-0.0)),
        ("DevFloat", CommandData::Float(f32::INFINITY)),
        ("DevFloat", CommandData::Float(f32::MIN)),
        ("DevLong", CommandData::Long(i32::MIN)),
        ("DevLong", CommandData::Long(i32::MAX)),
        ("DevLong64", CommandData::Long64(i64::MIN)),
        ("DevLong64", CommandData::Long64(i64::MAX)),
        ("DevShort", CommandData::Short(i16::MIN)),
        ("DevShort", CommandData::Short(i16::MAX)),
        ("DevString", CommandData::String(String::new())),
        ("DevString", CommandData::String(long.clone())),
        ("DevULong", CommandData::ULong(u32::MAX)),
        ("DevULong64", CommandData::ULong64(u64::MAX)),
        ("DevULong64", CommandData::ULong64(0)),
        ("DevUShort", CommandData::UShort(u16::MAX)),
        ("DevVarCharArray", CommandData::CharArray(vec![0, 255])),
        ("DevVarCharArray", CommandData::CharArray(vec![])),
        (
            "DevVarDoubleArray",
            CommandData::DoubleArray(vec![f64::INFINITY, -1.0, f64::MIN_POSITIVE]),
        ),
        ("DevVarDoubleArray", CommandData::DoubleArray(vec![])),
        (
            "DevVarDoubleStringArray",
            CommandData::DoubleStringArray(vec![1.5, f64::MAX], vec![long.clone()]),
        ),
        (
            "DevVarDoubleStringArray",
            CommandData::DoubleStringArray(vec![], vec![]),
        ),
        (
            "DevVarFloatArray",
            CommandData::FloatArray(vec![f32::MAX, f32::NEG_INFINITY]),
        ),
        (
            "DevVarLong64Array",
            CommandData::Long64Array(vec![i64::MIN, i64::MAX]),
        ),
        ("DevVarLong64Array", CommandData::Long64Array(vec![])),
        (
            "DevVarLongArray",
            CommandData::LongArray(vec![i32::MIN, i32::MAX]),
        ),
        (
            "DevVarLongStringArray",
            CommandData::LongStringArray(vec![i32::MIN], vec!["a".into(), long.clone()]),
        ),
        (
            "DevVarLongStringArray",
            CommandData::LongStringArray(vec![], vec![]),
        ),
        (
            "DevVarShortArray",
            CommandData::ShortArray(vec![i16::MIN, i16::MAX]),
        ),
        (
            "DevVarStringArray",
            CommandData::StringArray(vec![long.clone(), String::new()]),
        ),
        ("DevVarStringArray", CommandData::StringArray(vec![])),
        (
            "DevVarULong64Array",
            CommandData::ULong64Array(vec![0, u64::MAX]),
        ),
        ("DevVarULongArray", CommandData::ULongArray(vec![u32::MAX])),
        (
            "DevVarUShortArray",
            CommandData::UShortArray(vec![u16::MAX]),
        ),
        ("DevVoid", CommandData::Void),
    ];
    for (name, arg) in args {
        let got = d
            .command(name, arg.clone())
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert_eq!(got, arg, "{name}");
    }
    // NaN is not equal to itself: compare bits.
    match d
        .command("DevDouble", CommandData::Double(f64::NAN))
        .unwrap()
    {
        CommandData::Double(v) => assert!(v.is_nan()),
        other => panic!("{other:?}"),
    }
    match d
        .command("DevVarFloatArray", CommandData::FloatArray(vec![f32::NAN]))
        .unwrap()
    {
        CommandData::FloatArray(v) => assert!(v[0].is_nan()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn crash_commands_refuse_and_the_device_goes_on() {
    let mut d = Dev::new();
    for name in ["CrashFromDevelopperThread", "CrashFromOmniThread"] {
        let e = d.command(name, CommandData::Void).unwrap_err();
        assert_eq!(reason(&e), "API_NotSupported", "{name}");
        assert!(e.errors[0].desc.contains(name));
    }
    assert_eq!(
        d.command("DumpExecutionState", CommandData::Void).unwrap(),
        CommandData::Void
    );
    assert_eq!(d.state(), DevState::Running);
    assert_eq!(
        d.command("DevLong", CommandData::Long(7)).unwrap(),
        CommandData::Long(7)
    );
}

#[test]
fn switch_states_toggles_running_and_fault_and_init_resets() {
    let mut d = Dev::new();
    d.command("SwitchStates", CommandData::Void).unwrap();
    assert_eq!(d.state(), DevState::Fault);
    assert_eq!(d.status(), "The device is in FAULT state.");
    // Attributes stay readable in FAULT, as in the C++ device.
    assert!(d.read("double_scalar").is_ok());
    d.command("SwitchStates", CommandData::Void).unwrap();
    assert_eq!(d.state(), DevState::Running);
    d.command("SwitchStates", CommandData::Void).unwrap();
    d.write("string_scalar", "changed".into()).unwrap();
    d.write("long_spectrum", vec![1, 2, 3].into()).unwrap();
    d.write("ampli", 9.0.into()).unwrap();
    match d.run(Call::Init) {
        Outcome::Done(r) => r.unwrap(),
        other => panic!("{other:?}"),
    }
    assert_eq!(d.state(), DevState::Running);
    assert_eq!(d.status(), "The device is in RUNNING state.");
    assert_eq!(
        d.read_ok("string_scalar").data,
        AttrData::String(vec!["Default string".into()])
    );
    assert_eq!(d.read_ok("long_spectrum").data.len(), SPECTRUM_LEN);
    assert_eq!(d.read_ok("ampli").data, AttrData::Double(vec![0.0]));
    assert!((max_abs(&d.read_ok("wave")) - 1.0).abs() < 1e-9);
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[test]
fn timestamps_of_ts_future_and_ts_past() {
    let mut d = Dev::new();
    d.write("long_scalar_ts_future", 42.into()).unwrap();
    let before = now_secs();
    let fut = d.read_ok("long_scalar_ts_future");
    let past = d.read_ok("long_scalar_ts_past");
    let after = now_secs();
    assert_eq!(fut.data, AttrData::Long(vec![42]));
    assert_eq!(past.data, AttrData::Long(vec![0]));
    let off = TS_OFFSET_SECS as f64;
    let t: TimeVal = fut.time.expect("ts_future has a time");
    assert!(t.as_secs_f64() >= before + off - 1e-3 && t.as_secs_f64() <= after + off + 1e-3);
    let t: TimeVal = past.time.expect("ts_past has a time");
    assert!(t.as_secs_f64() >= before - off - 1e-3 && t.as_secs_f64() <= after - off + 1e-3);
    // Ordinary attributes leave the time to the server.
    assert!(d.read_ok("long_scalar").time.is_none());
}

#[test]
fn devices_are_independent() {
    let class = tangotest_class();
    let (c1, c2) = (
        DeviceCtx::new("sys/tg_test/1"),
        DeviceCtx::new("sys/tg_test/2"),
    );
    let mut d1 = class.new_device(&c1);
    let mut d2 = class.new_device(&c2);
    d1.init_device(&c1).unwrap();
    d2.init_device(&c2).unwrap();
    let i = class.info.attribute("long_scalar").unwrap();
    let w = Outcome::run_sync(&mut *d1, &c1, Call::Write(i, 5.into()));
    assert_eq!(w, Outcome::Done(Ok(())));
    let cmd = class.info.command("SwitchStates").unwrap();
    let _ = Outcome::run_sync(&mut *d1, &c1, Call::Command(cmd, CommandData::Void));
    assert_eq!(c1.get_state(), DevState::Fault);
    assert_eq!(c2.get_state(), DevState::Running);
    match Outcome::run_sync(&mut *d1, &c1, Call::Read(i)) {
        Outcome::Read(Ok(r)) => assert_eq!(r.data, AttrData::Long(vec![5])),
        other => panic!("{other:?}"),
    }
}
