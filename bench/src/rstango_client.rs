//! rstango 0.3 (crates.io `rstango`, the other pure-Rust Tango implementation) as a
//! [`Runner`]: its blocking `DevProxy` calls one after the other at depth 1, and its
//! `read_attr_async` / `command_async` futures (which need no particular executor) in a
//! `FuturesUnordered` at depth N. Values are converted to `f64` / `Vec<f64>`, as ours
//! decode into owned values.

use crate::ours::in_flight;
use crate::stats::sequential;
use crate::{Op, Res, Runner};
use crate::{COMMAND, COMMAND_ARG, SCALAR_ATTR, SPECTRUM_ATTR};

/// Connects rstango's `DevProxy` to the device `name`.
pub fn connect(name: &str) -> Res<Runner> {
    let dev = rstango::dev::DevProxy::try_new(name)
        .ok_or_else(|| format!("rstango does not take {name} as a device name"))?;
    dev.connect()
        .map_err(|e| format!("rstango cannot connect: {e}"))?;
    Ok(Box::new(move |op, depth, dur| {
        if depth == 1 {
            return sequential(dur, || {
                match op {
                    Op::ReadScalar => dev.read_attr::<f64, _>(SCALAR_ATTR).map(drop),
                    Op::Command => dev.command::<f64, f64>(COMMAND, COMMAND_ARG).map(drop),
                    Op::ReadSpectrum => dev.read_attr::<Vec<f64>, _>(SPECTRUM_ATTR).map(drop),
                }
                .map_err(|e| e.to_string())
            });
        }
        let dev = &dev;
        smol::block_on(async move {
            match op {
                Op::ReadScalar => {
                    in_flight(dur, depth, || dev.read_attr_async::<f64, _>(SCALAR_ATTR)).await
                }
                Op::Command => {
                    in_flight(dur, depth, || {
                        dev.command_async::<f64, f64>(COMMAND, COMMAND_ARG)
                    })
                    .await
                }
                Op::ReadSpectrum => {
                    in_flight(dur, depth, || {
                        dev.read_attr_async::<Vec<f64>, _>(SPECTRUM_ATTR)
                    })
                    .await
                }
            }
        })
    }))
}
