//! The attribute TCP server in Coroutine mode (may): each line a client sends is an attribute name
//! (`sys/tg_test/1/ampli`, or `tango://HOST:PORT/sys/tg_test/1/ampli#dbase=no`); the reply is
//! its value on one line, or the printed error stack (its empty lines dropped) and a blank
//! line. Names without host are read from `--server`. One coroutine per client; proxies are
//! cached per device. The line protocol is [`tango_client::attribute_line`], shared by the
//! runtime crates' examples; what is may's is here.
//!
//! ```text
//! cargo run -p tango-coroutine --example attribute_server -- [--port 8888] [--server tango://127.0.0.1:10000]
//! printf 'sys/tg_test/1/double_scalar\nsys/tg_test/1/state\n' | nc 127.0.0.1 8888
//! ```

use std::io::{BufRead, BufReader, Write};
use std::sync::Arc;

use tango_client::attribute_line::{self, AttributeRequest, Options, ProxyCache};
use tango_coroutine::DeviceProxy;

type Proxies = Arc<ProxyCache<DeviceProxy>>;

fn main() -> std::io::Result<()> {
    let Some(opts) = Options::from_args(std::env::args().skip(1)) else {
        eprintln!("{}", attribute_line::USAGE);
        std::process::exit(2)
    };
    let listener = may::net::TcpListener::bind(("127.0.0.1", opts.port))?;
    println!("listening on {}", listener.local_addr()?);
    std::io::stdout().flush()?;
    run(listener, &opts.server)
}

/// Serves `listener` (one coroutine per client) until accepting fails.
pub fn run(listener: may::net::TcpListener, server: &str) -> std::io::Result<()> {
    let server: Arc<str> = server.into();
    let proxies = Proxies::default();
    loop {
        let (stream, _) = listener.accept()?;
        let (server, proxies) = (server.clone(), proxies.clone());
        // The handle is dropped: the coroutine runs on, detached.
        tango_coroutine::spawn(move || {
            let (mut r, mut w) = (BufReader::new(stream.try_clone()?), stream);
            let mut line = Vec::new();
            while r.read_until(b'\n', &mut line)? > 0 {
                w.write_all(attribute_line::reply(read(&line, &server, &proxies)).as_bytes())?;
                line.clear();
            }
            Ok::<_, std::io::Error>(())
        });
    }
}

/// Reads the attribute named by `line` through the cached proxy of its device.
fn read(line: &[u8], server: &str, proxies: &Proxies) -> tango_coroutine::Result<String> {
    let req = AttributeRequest::parse(line, server)?;
    let dev = match proxies.get(&req.device) {
        Some(dev) => dev,
        None => proxies.insert(&req.device, DeviceProxy::new(&req.device)?),
    };
    let value = dev.read_attribute(&req.attribute)?;
    Ok(attribute_line::format_value(&value))
}
