//! The attribute TCP server on tokio: each line a client sends is an attribute name
//! (`sys/tg_test/1/ampli`, or `tango://HOST:PORT/sys/tg_test/1/ampli#dbase=no`); the reply is
//! its value on one line, or the printed error stack (its empty lines dropped) and a blank
//! line. Names without host are read from `--server`. One task per client; proxies are
//! cached per device. The line protocol is [`tango_client::attribute_line`], shared by the
//! runtime crates' examples; what is tokio's is here.
//!
//! ```text
//! cargo run -p tango-tokio --example attribute_server -- [--port 8888] [--server tango://127.0.0.1:10000]
//! printf 'sys/tg_test/1/double_scalar\nsys/tg_test/1/state\n' | nc 127.0.0.1 8888
//! ```

use std::io::Write as _;
use std::sync::Arc;

use tango_client::attribute_line::{self, AttributeRequest, Options, ProxyCache};
use tango_tokio::DeviceProxy;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

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
    listener.set_nonblocking(true)?;
    let server: Arc<str> = server.into();
    let proxies = Proxies::default();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        loop {
            let (stream, _) = listener.accept().await?;
            let (server, proxies) = (server.clone(), proxies.clone());
            tokio::spawn(async move {
                let (r, mut w) = stream.into_split();
                let (mut r, mut line) = (BufReader::new(r), Vec::new());
                while matches!(r.read_until(b'\n', &mut line).await, Ok(n) if n > 0) {
                    let reply = attribute_line::reply(read(&line, &server, &proxies).await);
                    line.clear();
                    if w.write_all(reply.as_bytes()).await.is_err() {
                        break;
                    }
                }
            });
        }
    })
}

/// Reads the attribute named by `line` through the cached proxy of its device.
async fn read(line: &[u8], server: &str, proxies: &Proxies) -> tango_tokio::Result<String> {
    let req = AttributeRequest::parse(line, server)?;
    let dev = match proxies.get(&req.device) {
        Some(dev) => dev,
        None => proxies.insert(&req.device, tango_tokio::connect(&req.device).await?),
    };
    let value = dev.read_attribute(&req.attribute).await?;
    Ok(attribute_line::format_value(&value))
}
