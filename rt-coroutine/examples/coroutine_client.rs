//! A Tango client in Coroutine (gevent) green mode: connect, read the state, then a few
//! reads at once in may coroutines, all sharing one TCP connection.
//!
//! ```text
//! cargo run -p tango-coroutine --example coroutine_client -- tango://127.0.0.1:10000/sys/tg_test/1#dbase=no
//! ```

use std::time::Instant;

use tango_coroutine::{spawn, DeviceProxy};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let name = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "tango://127.0.0.1:10000/sys/tg_test/1#dbase=no".to_owned());
    may::config().set_workers(2);
    println!("green mode: {}", tango_coroutine::GREEN_MODE);
    let dev = DeviceProxy::new(&name)?;
    println!("{} state: {}", dev.name(), dev.state()?);

    let start = Instant::now();
    let reads: Vec<_> = [
        "double_scalar",
        "long_scalar",
        "short_scalar",
        "boolean_scalar",
    ]
    .into_iter()
    .map(|attr| {
        let dev = dev.clone();
        spawn(move || (attr, dev.read_attribute(attr)))
    })
    .collect();
    for r in reads {
        let (attr, value) = r.get();
        match value {
            Ok(a) => println!("{attr} = {:?}", a.value),
            Err(e) => println!("{attr}: {e}"),
        }
    }
    println!("4 concurrent reads in {:?}", start.elapsed());
    Ok(())
}
