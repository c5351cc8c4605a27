//! The attribute TCP server in Coroutine mode (may): each line a client sends is an attribute name
//! (`sys/tg_test/1/ampli`, or `tango://HOST:PORT/sys/tg_test/1/ampli#dbase=no`); the reply is
//! its value on one line, or the printed error stack (its empty lines dropped) and a blank
//! line. Names without host are read from `--server`. One coroutine per client; proxies are
//! cached per device.
//!
//! ```text
//! cargo run -p tango-coroutine --example attribute_server -- [--port 8888] [--server tango://127.0.0.1:10000]
//! printf 'sys/tg_test/1/double_scalar\nsys/tg_test/1/state\n' | nc 127.0.0.1 8888
//! ```

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use std::io::{BufRead, BufReader, Write};
use tango_core::name::TangoName;

use tango_core::idl::AttrDataFormat;
use tango_core::value::AttrData;
use tango_coroutine::{DeviceAttribute, DeviceProxy};

type Proxies = Arc<Mutex<HashMap<String, DeviceProxy>>>;

fn main() -> std::io::Result<()> {
    let (mut port, mut server) = (8888, "tango://127.0.0.1:10000".to_owned());
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--port", Some(p)) => port = p.parse().unwrap_or_else(|_| usage()),
            ("--server", Some(s)) => server = s,
            ("--tango-host", Some(h)) => server = format!("tango://{h}"),
            _ => usage(),
        }
    }
    let listener = may::net::TcpListener::bind(("127.0.0.1", port))?;
    println!("listening on {}", listener.local_addr()?);
    std::io::stdout().flush()?;
    run(listener, &server)
}

fn usage() -> ! {
    eprintln!(
        "usage: attribute_server [--port N] [--server tango://HOST:PORT | --tango-host HOST:PORT]"
    );
    std::process::exit(2)
}

/// Serves `listener` (one coroutine per client) until accepting fails.
pub fn run(listener: may::net::TcpListener, server: &str) -> std::io::Result<()> {
    let server: Arc<str> = server.trim_end_matches('/').into();
    let proxies = Proxies::default();
    loop {
        let (stream, _) = listener.accept()?;
        let (server, proxies) = (server.clone(), proxies.clone());
        // The handle is dropped: the coroutine runs on, detached.
        tango_coroutine::spawn(move || {
            let (mut r, mut w) = (BufReader::new(stream.try_clone()?), stream);
            let mut line = Vec::new();
            while r.read_until(b'\n', &mut line)? > 0 {
                w.write_all(answer(&line, &server, &proxies).as_bytes())?;
                line.clear();
            }
            Ok::<_, std::io::Error>(())
        });
    }
}

/// The reply to one line: the value on one line, or the error's non-empty lines and a blank one.
fn answer(line: &[u8], server: &str, proxies: &Proxies) -> String {
    match read(String::from_utf8_lossy(line).trim(), server, proxies) {
        Ok(value) => format!("{value}\n"),
        Err(e) => {
            let e = e.to_string();
            let lines: Vec<&str> = e.lines().filter(|l| !l.trim().is_empty()).collect();
            format!("{}\n\n", lines.join("\n"))
        }
    }
}

/// Reads the attribute `name` through the cached proxy of its device.
fn read(name: &str, server: &str, proxies: &Proxies) -> tango_coroutine::Result<String> {
    let name = TangoName::parse_attribute(name)?;
    let device = match name.host {
        Some(_) => TangoName {
            attribute: None,
            ..name.clone()
        }
        .full_name(),
        None => format!("{server}/{}#dbase=no", name.device),
    };
    let cached = proxies.lock().unwrap().get(&device.to_lowercase()).cloned();
    let dev = match cached {
        Some(dev) => dev,
        None => {
            let dev = DeviceProxy::new(&device)?;
            let mut proxies = proxies.lock().unwrap();
            proxies.entry(device.to_lowercase()).or_insert(dev).clone()
        }
    };
    Ok(show(
        &dev.read_attribute(name.attribute.as_deref().unwrap_or(""))?,
    ))
}

/// The value, compactly: a scalar bare, arrays (images row after row) as `[a, b, ...]`.
fn show(a: &DeviceAttribute) -> String {
    fn list<T>(v: &[T], scalar: bool, item: impl Fn(&T) -> String) -> String {
        let items: Vec<String> = v.iter().map(item).collect();
        match items.as_slice() {
            [one] if scalar => one.clone(),
            _ => format!("[{}]", items.join(", ")),
        }
    }
    let s = a.data_format == AttrDataFormat::Scalar;
    match &a.value {
        None => "None".to_owned(),
        Some(AttrData::Bool(v)) => list(v, s, ToString::to_string),
        Some(AttrData::Short(v) | AttrData::Enum(v)) => list(v, s, ToString::to_string),
        Some(AttrData::Long(v)) => list(v, s, ToString::to_string),
        Some(AttrData::Long64(v)) => list(v, s, ToString::to_string),
        Some(AttrData::Float(v)) => list(v, s, |x| format!("{x:?}")),
        Some(AttrData::Double(v)) => list(v, s, |x| format!("{x:?}")),
        Some(AttrData::UChar(v)) => list(v, s, ToString::to_string),
        Some(AttrData::UShort(v)) => list(v, s, ToString::to_string),
        Some(AttrData::ULong(v)) => list(v, s, ToString::to_string),
        Some(AttrData::ULong64(v)) => list(v, s, ToString::to_string),
        Some(AttrData::String(v)) => list(v, s, |x| x.replace('\n', "\\n")),
        Some(AttrData::State(v)) => list(v, s, ToString::to_string),
        Some(AttrData::Encoded(v)) => list(v, s, |x| {
            format!("({}, {} bytes)", x.encoded_format, x.encoded_data.len())
        }),
    }
}
