//! tango-async-std against the C++ and the Rust TangoTest (interop, `TANGO_INTEROP=1`) and
//! against local sockets that never answer or are not there (always run). The cases are
//! tango-smol's, run here on async-std.

#[macro_use]
#[path = "../../rt-smol/tests/common/mod.rs"]
mod common;

use tango_async_std::AsyncStd;

runtime_cases!(AsyncStd, async_std::task::block_on);

/// The crate's own entry point gives a working proxy with the 3 s default timeout.
#[test]
fn connect_entry_point() {
    if !tango_testkit::require_interop() {
        return;
    }
    async_std::task::block_on(async {
        let dev = tango_async_std::connect(&tango_testkit::cpp_tangotest_device())
            .await
            .unwrap();
        assert_eq!(dev.get_timeout_millis(), 3000);
        assert_eq!(
            dev.state().await.unwrap(),
            tango_async_std::DevState::Running
        );
    });
}
