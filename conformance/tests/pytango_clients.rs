//! PyTango 10.3.1's own client, in each of its four green modes, against our Rust
//! TangoTest: the suite `peers/pytango_client_suite.py` (154 cases: every attribute read,
//! every writable one written and read back, every command, configuration get/set,
//! polling through the admin device, errors with their reasons). And the same suite
//! against Debian's C++ TangoTest in the same run: every case both servers support must
//! give the same result.
//!
//! Uses the shared servers `scripts/test` starts; the suite restores what it changes.
//! Runs only with `TANGO_INTEROP=1`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

use tango_testkit::{cpp_tangotest_device, require_interop, rust_tangotest_device, workspace_root};

/// The suite changes attributes and polling of the device it tests: one run at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn python() -> PathBuf {
    std::env::var_os("TANGO_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv/bin/python"))
}

fn admin_of(device: &str) -> String {
    device.replace("sys/tg_test/1", "dserver/TangoTest/test")
}

/// Runs the suite; returns its per-case results.
fn run_suite(device: &str, server: &str, mode: &str) -> BTreeMap<String, String> {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let json = std::env::temp_dir().join(format!(
        "pytango-suite-{server}-{mode}-{}.json",
        std::process::id()
    ));
    let out = Command::new(python())
        .arg(workspace_root().join("peers/pytango_client_suite.py"))
        .args(["--device", device, "--admin", &admin_of(device)])
        .args(["--green-mode", mode, "--server", server, "--json"])
        .arg(&json)
        .output()
        .expect("run the PyTango client suite (is the venv installed? run scripts/test)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let failures: Vec<&str> = stdout.lines().filter(|l| l.starts_with("FAIL")).collect();
    assert!(
        out.status.success(),
        "PyTango {mode} client against the {server} server: {}\n{}\n{}",
        stdout.lines().last().unwrap_or(""),
        failures.join("\n"),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&json).expect("suite wrote its JSON");
    let _ = std::fs::remove_file(&json);
    parse_results(&text)
}

/// The suite's JSON is a flat object of strings; read it without a JSON dependency.
fn parse_results(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let body = text.trim().trim_start_matches('{').trim_end_matches('}');
    let mut rest = body;
    while let Some(start) = rest.find('"') {
        let (key, after) = take_string(&rest[start..]);
        let colon = after.find(':').expect("colon");
        let value_start = after[colon..].find('"').expect("value") + colon;
        let (value, after_value) = take_string(&after[value_start..]);
        out.insert(key, value);
        rest = after_value;
    }
    out
}

/// Reads one JSON string at the start of `s` (which begins with `"`).
fn take_string(s: &str) -> (String, &str) {
    let mut value = String::new();
    let mut chars = s.char_indices().skip(1);
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return (value, &s[i + 1..]),
            '\\' => {
                if let Some((_, e)) = chars.next() {
                    value.push(match e {
                        'n' => '\n',
                        't' => '\t',
                        other => other,
                    });
                }
            }
            c => value.push(c),
        }
    }
    (value, "")
}

fn passed(results: &BTreeMap<String, String>) -> usize {
    results.values().filter(|v| v.as_str() == "pass").count()
}

macro_rules! green_mode {
    ($name:ident, $mode:literal) => {
        #[test]
        fn $name() {
            if !require_interop() {
                return;
            }
            let results = run_suite(&rust_tangotest_device(), "rust", $mode);
            assert!(
                passed(&results) >= 150,
                "only {} cases passed",
                passed(&results)
            );
        }
    };
}

green_mode!(
    pytango_synchronous_client_against_rust_tangotest,
    "synchronous"
);
green_mode!(pytango_futures_client_against_rust_tangotest, "futures");
green_mode!(pytango_gevent_client_against_rust_tangotest, "gevent");
green_mode!(pytango_asyncio_client_against_rust_tangotest, "asyncio");

#[test]
fn rust_and_cpp_tangotest_agree_for_pytango() {
    if !require_interop() {
        return;
    }
    let rust = run_suite(&rust_tangotest_device(), "rust", "synchronous");
    let cpp = run_suite(&cpp_tangotest_device(), "cpp", "synchronous");
    let mut compared = 0;
    for (case, c) in &cpp {
        if c.starts_with("n/a") {
            continue;
        }
        let r = rust.get(case).map(String::as_str).unwrap_or("missing");
        assert_eq!(
            r, c,
            "case {case}: Rust TangoTest {r:?}, C++ TangoTest {c:?}"
        );
        compared += 1;
    }
    assert!(compared > 140, "only {compared} cases compared");
}

#[test]
fn json_reader() {
    let r = parse_results(r#"{"a": "pass", "b:x": "fail: \"q\" n", "c": "n/a"}"#);
    assert_eq!(r["a"], "pass");
    assert_eq!(r["b:x"], "fail: \"q\" n");
    assert_eq!(r.len(), 3);
}
