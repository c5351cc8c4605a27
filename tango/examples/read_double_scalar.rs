//! Reads `double_scalar` from a TangoTest device and prints it the way PyTango does.
//!
//! ```text
//! cargo run -p tango --example read_double_scalar -- tango://127.0.0.1:10000/sys/tg_test/1#dbase=no
//! ```

fn main() -> Result<(), tango::Error> {
    let name = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "tango://127.0.0.1:10000/sys/tg_test/1#dbase=no".to_owned());
    let dev = tango::DeviceProxy::new(&name)?;
    let attr = dev.read_attribute("double_scalar")?;
    println!("{attr}");
    let value: f64 = attr.get()?;
    println!("double_scalar = {value}");
    Ok(())
}
