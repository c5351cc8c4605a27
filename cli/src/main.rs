//! `tango`: read, write, command and inspect Tango devices from the shell.
//!
//! ```text
//! tango info  tango://127.0.0.1:10000/sys/tg_test/1#dbase=no
//! tango read  tango://127.0.0.1:10000/sys/tg_test/1/double_scalar#dbase=no --json
//! tango write tango://127.0.0.1:10000/sys/tg_test/1/long_spectrum#dbase=no '[1,2,3]'
//! tango cmd   tango://127.0.0.1:10000/sys/tg_test/1#dbase=no DevDouble 2.5
//! ```
//!
//! Exit codes: 0 on success, 1 when the device or the value was refused (the error, with
//! the whole Tango error stack, goes to stderr), 2 for usage errors.

use std::io::Write;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use serde_json::json;
use tango::server::{DeviceServer, RunningServer, ServerArgs};
use tango::tango_core::name::TangoName;
use tango::{AttrWriteType, DeviceProxy};

use tango_cli::value::{self, AttrSpec, ValueError};
use tango_cli::{report, Failure};

/// Talk to Tango devices: read, write and command them, and see what they offer.
///
/// DEVICE is `tango://host:port/domain/family/member#dbase=no` (or without `tango://`);
/// DEVICE/ATTR appends the attribute before the `#dbase=no`:
/// `tango://127.0.0.1:10000/sys/tg_test/1/double_scalar#dbase=no`.
#[derive(Debug, Parser)]
#[command(name = "tango", version, about, long_about)]
struct Cli {
    /// Timeout of each call to the device, in milliseconds (default 3000).
    #[arg(long, global = true, value_name = "MS")]
    timeout: Option<u64>,
    /// What to do.
    #[command(subcommand)]
    command: Command,
}

/// The output switch shared by the subcommands that print something.
#[derive(Debug, Args)]
struct Output {
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
enum Command {
    /// Class, server, host and versions of a device.
    Info {
        /// The device.
        device: String,
        #[command(flatten)]
        out: Output,
    },
    /// Ping a device and print the round-trip time.
    Ping {
        /// The device.
        device: String,
        #[command(flatten)]
        out: Output,
    },
    /// The device's state (ON, FAULT...).
    State {
        /// The device.
        device: String,
        #[command(flatten)]
        out: Output,
    },
    /// The device's status text.
    Status {
        /// The device.
        device: String,
        #[command(flatten)]
        out: Output,
    },
    /// List the attributes: type, format, writable, maximum dimensions.
    Attrs {
        /// The device.
        device: String,
        #[command(flatten)]
        out: Output,
    },
    /// List the commands with their argument and result types.
    Cmds {
        /// The device.
        device: String,
        #[command(flatten)]
        out: Output,
    },
    /// Read an attribute.
    Read {
        /// The attribute: DEVICE/ATTR, e.g. tango://host:port/sys/tg_test/1/double_scalar#dbase=no.
        attribute: String,
        #[command(flatten)]
        out: Output,
    },
    /// Write an attribute; VALUE is parsed for the attribute's type and format.
    ///
    /// Numbers (`nan`, `inf`, `-inf` for floats), booleans (true/false/1/0), strings
    /// verbatim, JSON arrays for spectra (`[1,2,3]`, `["a","b"]`), arrays of rows for
    /// images (`[[1,2],[3,4]]`), a label or index for DevEnum, a name for DevState.
    Write {
        /// The attribute: DEVICE/ATTR.
        attribute: String,
        /// The value.
        #[arg(allow_hyphen_values = true)]
        value: String,
    },
    /// Run a command; ARG is parsed for the command's input type.
    ///
    /// Scalars as for `write`; JSON arrays for DevVar...Array; `[[numbers],["strings"]]`
    /// for DevVarLongStringArray and DevVarDoubleStringArray; nothing for DevVoid.
    Cmd {
        /// The device.
        device: String,
        /// The command name.
        command: String,
        /// The argument (omit for DevVoid commands).
        #[arg(allow_hyphen_values = true)]
        arg: Option<String>,
        #[command(flatten)]
        out: Output,
    },
    /// Serve the Rust TangoTest without a Tango database until Ctrl-C; prints the device
    /// names to use.
    Serve {
        /// Devices to create.
        #[arg(long = "device", default_value = "sys/tg_test/1")]
        devices: Vec<String>,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        /// Port to listen on (0: a free one).
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Instance name (the admin device is dserver/TangoTest/INSTANCE).
        #[arg(long, default_value = "test")]
        instance: String,
    },
    /// Serve TangoTest in this process and drive it with the client: what a newcomer
    /// should see first. Needs nothing installed.
    Demo,
}

fn server_args(
    instance: &str,
    devices: &[String],
    host: &str,
    port: u16,
) -> Result<ServerArgs, Failure> {
    let mut args = vec![
        instance.to_owned(),
        "-nodb".to_owned(),
        "-dlist".to_owned(),
        devices.join(","),
        "-ORBendPoint".to_owned(),
        format!("giop:tcp:{host}:{port}"),
    ];
    args.retain(|a| !a.is_empty());
    ServerArgs::parse("TangoTest", &args, &[]).map_err(|e| Failure::Value(e.to_string()))
}

fn start_tangotest(args: &ServerArgs) -> Result<RunningServer, Failure> {
    DeviceServer::new("TangoTest")
        .class(tango_conformance::tangotest_class())
        .start(args)
        .map_err(|e| Failure::Value(format!("cannot start TangoTest: {e}")))
}

/// Prints `$ tango ...` and its result, as the demo walks through the client.
fn demo_step<T>(
    what: &str,
    f: impl FnOnce() -> Result<T, tango::Error>,
    show: impl FnOnce(T) -> String,
) {
    println!("\n>>> {what}");
    match f() {
        Ok(v) => println!("{}", show(v)),
        Err(e) => eprint!("{}", report::failure_text(&Failure::Tango(e))),
    }
}

fn demo() -> Result<(), Failure> {
    let server = start_tangotest(&server_args(
        "demo",
        &["sys/tg_test/1".to_owned()],
        "127.0.0.1",
        0,
    )?)?;
    let name = server.device_name("sys/tg_test/1");
    println!("\nThe Rust TangoTest runs in this process; any Tango client can use {name}");
    let dev = DeviceProxy::new(&name)?;
    demo_step("dev.info()", || dev.info(), |i| report::info_text(&i));
    demo_step("dev.state()", || dev.state(), |s| s.to_string());
    demo_step(
        "dev.read_attribute(\"double_scalar\")",
        || dev.read_attribute("double_scalar"),
        |a| a.to_string(),
    );
    demo_step(
        "dev.write_attribute(\"double_scalar\", 3.25); dev.read_attribute(\"double_scalar\").value",
        || {
            dev.write_attribute("double_scalar", 3.25)?;
            dev.read_attribute("double_scalar")?.get::<f64>()
        },
        |v| v.to_string(),
    );
    demo_step(
        "dev.read_attribute(\"wave\").value (256 points)",
        || dev.read_attribute("wave")?.get::<Vec<f64>>(),
        |w| {
            format!(
                "[{:.3}, {:.3}, {:.3}, ... {} points]",
                w[0],
                w[1],
                w[2],
                w.len()
            )
        },
    );
    demo_step(
        "dev.command_inout(\"DevVarDoubleArray\", [1.5, 2.5])",
        || dev.command_inout("DevVarDoubleArray", vec![1.5, 2.5]),
        |r| value::command_text(&r).unwrap_or_default(),
    );
    demo_step(
        "dev.read_attribute(\"throw_exception\")  (an error, on purpose)",
        || dev.read_attribute("throw_exception"),
        |a| a.to_string(),
    );
    println!(
        "\nTry the same from a shell while `tango serve` runs: tango read '{}'",
        name.replace("#dbase=no", "/double_scalar#dbase=no")
    );
    server.shutdown();
    Ok(())
}

/// Connects to the device named on the command line, with the `--timeout` applied from
/// the first exchange on (the constructor's IDL handshake included).
fn connect(device: &str, timeout: Option<u64>) -> Result<DeviceProxy, Failure> {
    Ok(match timeout {
        Some(ms) => DeviceProxy::with_timeout(device, std::time::Duration::from_millis(ms))?,
        None => DeviceProxy::new(device)?,
    })
}

/// Splits DEVICE/ATTR into the device name (with `#dbase=no` kept) and the attribute.
fn split_attribute(name: &str) -> Result<(String, String), Failure> {
    let mut n = TangoName::parse_attribute(name).map_err(tango::Error::from)?;
    let attr = n.attribute.take().unwrap_or_default();
    Ok((n.full_name(), attr))
}

/// Prints a line to stdout.
fn print(s: impl std::fmt::Display) {
    let mut out = std::io::stdout().lock();
    // A closed pipe (`tango ... | head`) is not an error worth a panic.
    let _ = writeln!(out, "{s}");
}

/// Runs one subcommand.
fn run(cli: Cli) -> Result<(), Failure> {
    let t = cli.timeout;
    match cli.command {
        Command::Info { device, out } => {
            let dev = connect(&device, t)?;
            let info = dev.info()?;
            if out.json {
                print(report::info_json(&info));
            } else {
                print(report::info_text(&info));
            }
        }
        Command::Ping { device, out } => {
            let dev = connect(&device, t)?;
            let rtt = dev.ping()?;
            let us = rtt.as_micros();
            if out.json {
                print(json!({"device": dev.name(), "round_trip_us": us as u64}));
            } else {
                print(format!("{} is alive, round trip {us} us", dev.name()));
            }
        }
        Command::State { device, out } => {
            let s = connect(&device, t)?.state()?;
            if out.json {
                print(json!({"state": s.name()}));
            } else {
                print(s);
            }
        }
        Command::Status { device, out } => {
            let s = connect(&device, t)?.status()?;
            if out.json {
                print(json!({"status": s}));
            } else {
                print(s);
            }
        }
        Command::Attrs { device, out } => {
            let list = connect(&device, t)?.attribute_list_query_ex()?;
            if out.json {
                print(report::attrs_json(&list));
            } else {
                print(report::attrs_text(&list));
            }
        }
        Command::Cmds { device, out } => {
            let list = connect(&device, t)?.command_list_query()?;
            if out.json {
                print(report::cmds_json(&list));
            } else {
                print(report::cmds_text(&list));
            }
        }
        Command::Read { attribute, out } => {
            let (device, attr) = split_attribute(&attribute)?;
            let a = connect(&device, t)?.read_attribute(&attr)?;
            if out.json {
                print(value::device_attribute_json(&a));
            } else {
                print(a);
            }
        }
        Command::Write { attribute, value } => {
            let (device, attr) = split_attribute(&attribute)?;
            let dev = connect(&device, t)?;
            let cfg = dev.get_attribute_config(&attr)?;
            if cfg.writable == AttrWriteType::Read {
                return Err(Failure::Value(format!(
                    "attribute {attr} is read-only (writable = READ)"
                )));
            }
            let spec = AttrSpec {
                data_type: cfg.data_type,
                data_format: cfg.data_format,
                enum_labels: cfg.enum_labels.clone(),
            };
            let w = value::parse_attr_value(&value, &spec).map_err(|ValueError(e)| {
                Failure::Value(format!(
                    "cannot write {value:?} to {attr} ({} {}): {e}",
                    cfg.data_type, cfg.data_format
                ))
            })?;
            dev.write_attribute(&attr, w)?;
        }
        Command::Cmd {
            device,
            command,
            arg,
            out,
        } => {
            let dev = connect(&device, t)?;
            let info = dev.command_query(&command)?;
            let data = value::parse_command_arg(arg.as_deref(), info.in_type).map_err(
                |ValueError(e)| {
                    Failure::Value(format!(
                        "bad argument for command {} ({}): {e}",
                        info.cmd_name, info.in_type
                    ))
                },
            )?;
            let result = dev.command_inout(&command, data)?;
            if out.json {
                let mut m = serde_json::Map::new();
                if let Some(v) = value::command_json(&result) {
                    m.insert("value".into(), v);
                }
                print(serde_json::Value::Object(m));
            } else if let Some(text) = value::command_text(&result) {
                print(text);
            }
        }
        Command::Serve {
            devices,
            host,
            port,
            instance,
        } => {
            let server = start_tangotest(&server_args(&instance, &devices, &host, port)?)?;
            print(format!("admin device: {}", server.admin_device_name()));
            print("Ctrl-C stops it.");
            server.stop_on_signals();
            server.wait();
        }
        Command::Demo => demo()?,
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprint!("{}", report::failure_text(&f));
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_valid() {
        Cli::command().debug_assert();
    }

    #[test]
    fn negative_values_are_not_flags() {
        let cli = Cli::try_parse_from(["tango", "write", "h:1/a/b/c/x#dbase=no", "-inf"]).unwrap();
        assert!(matches!(cli.command, Command::Write { value, .. } if value == "-inf"));
        let cli = Cli::try_parse_from([
            "tango",
            "--timeout",
            "500",
            "cmd",
            "h:1/a/b/c",
            "DevShort",
            "-5",
            "--json",
        ])
        .unwrap();
        assert_eq!(cli.timeout, Some(500));
        assert!(
            matches!(cli.command, Command::Cmd { arg: Some(a), out, .. } if a == "-5" && out.json)
        );
    }

    #[test]
    fn attribute_names_keep_the_dbase_flag_on_the_device() {
        let (d, a) =
            split_attribute("tango://127.0.0.1:10000/sys/tg_test/1/double_scalar#dbase=no")
                .unwrap();
        assert_eq!(d, "tango://127.0.0.1:10000/sys/tg_test/1#dbase=no");
        assert_eq!(a, "double_scalar");
        let (d, a) = split_attribute("127.0.0.1:10000/sys/tg_test/1/ampli#dbase=no").unwrap();
        assert_eq!(d, "tango://127.0.0.1:10000/sys/tg_test/1#dbase=no");
        assert_eq!(a, "ampli");
        assert!(split_attribute("tango://127.0.0.1:10000/sys/tg_test/1#dbase=no").is_err());
    }
}
