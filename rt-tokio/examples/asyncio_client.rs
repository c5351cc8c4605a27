//! The Asyncio green mode on tokio: connect to a device and await its state.
//!
//! ```text
//! cargo run -p tango-tokio --example asyncio_client -- tango://127.0.0.1:10000/sys/tg_test/1#dbase=no
//! ```

#[tokio::main(flavor = "current_thread")]
async fn main() -> tango_tokio::Result<()> {
    let name = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "tango://127.0.0.1:10000/sys/tg_test/1#dbase=no".to_owned());
    let dev = tango_tokio::DeviceProxy::connect(&name, tango_tokio::DEFAULT_TIMEOUT).await?;
    println!("green mode: Asyncio (tokio)");
    println!("{}: {}", dev.name(), dev.state().await?);
    Ok(())
}
