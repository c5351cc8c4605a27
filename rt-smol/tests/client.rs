//! tango-smol against the C++ and the Rust TangoTest (interop, `TANGO_INTEROP=1`) and
//! against local sockets that never answer or are not there (always run).

#[macro_use]
mod common;

use tango_smol::Smol;

runtime_cases!(Smol, smol::block_on);

/// The crate's own entry point gives a working proxy with the 3 s default timeout.
#[test]
fn connect_entry_point() {
    if !tango_testkit::require_interop() {
        return;
    }
    smol::block_on(async {
        let dev = tango_smol::connect(&tango_testkit::cpp_tangotest_device())
            .await
            .unwrap();
        assert_eq!(dev.get_timeout_millis(), 3000);
        assert_eq!(dev.state().await.unwrap(), tango_smol::DevState::Running);
    });
}
