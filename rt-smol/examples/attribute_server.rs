//! The attribute TCP server on smol: each line a client sends is an attribute name
//! (`sys/tg_test/1/ampli`, or `tango://HOST:PORT/sys/tg_test/1/ampli#dbase=no`); the reply is
//! its value on one line, or the printed error stack (its empty lines dropped) and a blank
//! line. Names without host are read from `--server`. One task per client; proxies are
//! cached per device.
//!
//! ```text
//! cargo run -p tango-smol --example attribute_server -- [--port 8888] [--server tango://127.0.0.1:10000]
//! printf 'sys/tg_test/1/double_scalar\nsys/tg_test/1/state\n' | nc 127.0.0.1 8888
//! ```

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::{Arc, Mutex};

use smol::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tango_core::name::TangoName;
use tango_smol::{AttrData, AttrDataFormat, DeviceAttribute, DeviceProxy};

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
    let listener = std::net::TcpListener::bind(("127.0.0.1", port))?;
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

/// Serves `listener` (one task per client) until accepting fails.
pub fn run(listener: std::net::TcpListener, server: &str) -> std::io::Result<()> {
    let server: Arc<str> = server.trim_end_matches('/').into();
    let proxies = Proxies::default();
    let listener = smol::net::TcpListener::try_from(listener)?;
    smol::block_on(async {
        loop {
            let (stream, _) = listener.accept().await?;
            let (server, proxies) = (server.clone(), proxies.clone());
            smol::spawn(async move {
                let (mut r, mut w) = (BufReader::new(stream.clone()), stream);
                let mut line = Vec::new();
                while matches!(r.read_until(b'\n', &mut line).await, Ok(n) if n > 0) {
                    let reply = answer(&line, &server, &proxies).await;
                    line.clear();
                    if w.write_all(reply.as_bytes()).await.is_err() {
                        break;
                    }
                }
            })
            .detach();
        }
    })
}

/// The reply to one line: the value on one line, or the error's non-empty lines and a blank one.
async fn answer(line: &[u8], server: &str, proxies: &Proxies) -> String {
    match read(String::from_utf8_lossy(line).trim(), server, proxies).await {
        Ok(value) => format!("{value}\n"),
        Err(e) => {
            let e = e.to_string();
            let lines: Vec<&str> = e.lines().filter(|l| !l.trim().is_empty()).collect();
            format!("{}\n\n", lines.join("\n"))
        }
    }
}

/// Reads the attribute `name` through the cached proxy of its device.
async fn read(name: &str, server: &str, proxies: &Proxies) -> tango_smol::Result<String> {
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
            let dev = tango_smol::connect(&device).await?;
            let mut proxies = proxies.lock().unwrap();
            proxies.entry(device.to_lowercase()).or_insert(dev).clone()
        }
    };
    Ok(show(
        &dev.read_attribute(name.attribute.as_deref().unwrap_or(""))
            .await?,
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
