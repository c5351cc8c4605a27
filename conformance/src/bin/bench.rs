//! The throughput harness under the name the issue gives it (`bench` of the conformance
//! crate); the same program as `cargo run -p tango-bench --release --bin throughput`. See
//! `docs/performance.md`.
//!
//! ```sh
//! cargo run -p tango-conformance --release --bin bench -- --help
//! ```

fn main() {
    tango_bench::harness::main();
}
