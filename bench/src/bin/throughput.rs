//! The throughput harness: every client mode of ours, PyTango's four client green modes,
//! rstango and a bare-socket floor against each TangoTest server (C++, PyTango, ours in
//! every server green mode), one server at a time. See `docs/performance.md`.
//!
//! ```sh
//! cargo run -p tango-bench --release --bin throughput -- --help
//! ```

fn main() {
    tango_bench::harness::main();
}
