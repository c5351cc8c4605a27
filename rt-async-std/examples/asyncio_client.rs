//! Connects to a device on async-std and prints its state.
//!
//! `cargo run -p tango-async-std --example asyncio_client [DEVICE]`
//! (default `tango://127.0.0.1:10000/sys/tg_test/1#dbase=no`).

fn main() {
    let name = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "tango://127.0.0.1:10000/sys/tg_test/1#dbase=no".to_owned());
    let run = async_std::task::block_on(async {
        let dev = tango_async_std::connect(&name).await?;
        println!("green mode: Asyncio (async-std)");
        println!("{}: {}", dev.name(), dev.state().await?);
        Ok::<_, tango_async_std::Error>(())
    });
    if let Err(e) = run {
        eprintln!("{name}: {e}");
        std::process::exit(1);
    }
}
