//! The attribute TCP server on smol: each line a client sends is an attribute name
//! (`sys/tg_test/1/ampli`, or `tango://HOST:PORT/sys/tg_test/1/ampli#dbase=no`); the reply is
//! its value on one line, or the printed error stack (its empty lines dropped) and a blank
//! line. Names without host are read from `--server`. One task per client; proxies are
//! cached per device. The line protocol is [`tango_client::attribute_line`], shared by the
//! runtime crates' examples; what is smol's is here.
//!
//! ```text
//! cargo run -p tango-smol --example attribute_server -- [--port 8888] [--server tango://127.0.0.1:10000]
//! printf 'sys/tg_test/1/double_scalar\nsys/tg_test/1/state\n' | nc 127.0.0.1 8888
//! ```

use std::io::Write as _;
use std::sync::Arc;

use smol::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tango_client::attribute_line::{self, AttributeRequest, Options, ProxyCache};
use tango_smol::DeviceProxy;

type Proxies = Arc<ProxyCache<DeviceProxy>>;

fn main() -> std::io::Result<()> {
    let Some(opts) = Options::from_args(std::env::args().skip(1)) else {
        eprintln!("{}", attribute_line::USAGE);
        std::process::exit(2)
    };
    let listener = std::net::TcpListener::bind(("127.0.0.1", opts.port))?;
    println!("listening on {}", listener.local_addr()?);
    std::io::stdout().flush()?;
    run(listener, &opts.server)
}

/// Serves `listener` (one task per client) until accepting fails.
pub fn run(listener: std::net::TcpListener, server: &str) -> std::io::Result<()> {
    let server: Arc<str> = server.into();
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
                    let reply = attribute_line::reply(read(&line, &server, &proxies).await);
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

/// Reads the attribute named by `line` through the cached proxy of its device.
async fn read(line: &[u8], server: &str, proxies: &Proxies) -> tango_smol::Result<String> {
    let req = AttributeRequest::parse(line, server)?;
    let dev = match proxies.get(&req.device) {
        Some(dev) => dev,
        None => proxies.insert(&req.device, tango_smol::connect(&req.device).await?),
    };
    let value = dev.read_attribute(&req.attribute).await?;
    Ok(attribute_line::format_value(&value))
}
