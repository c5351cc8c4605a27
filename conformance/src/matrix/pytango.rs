//! PyTango 10.3.1's own client, in each of its four green modes, as rows of the matrix: a
//! cell runs `peers/pytango_client_suite.py` (154 cases, written once in Python the way
//! ours are in Rust) against the cell's server and turns its per-case PASS / FAIL / N/A
//! into the cell's outcomes.
//!
//! The suite lists its own not-applicable cases; a case it reports not applicable that
//! [`super::na::PYTANGO_SUITE`] does not list (e.g. one it skipped at run time) is a
//! failure. It also lists one reviewed peer-to-peer flake (`RETRY_ONCE_ON`: the C++
//! TangoTest 9.3.4 now and then leaving a call unanswered past the 10 s timeout); such a
//! case runs once more, and its pass is printed as a note naming the first error.

use std::fmt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::na::pytango_suite_not_applicable;
use super::server::Target;
use super::{CaseOutcome, Verdict};

/// A PyTango client green mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PyClient {
    /// `tango.DeviceProxy` (GreenMode.Synchronous).
    Synchronous,
    /// `tango.futures.DeviceProxy`.
    Futures,
    /// `tango.gevent.DeviceProxy`.
    Gevent,
    /// `tango.asyncio.DeviceProxy`.
    Asyncio,
}

impl PyClient {
    /// The four modes, in the matrix's row order.
    pub const ALL: [PyClient; 4] = [
        PyClient::Synchronous,
        PyClient::Futures,
        PyClient::Gevent,
        PyClient::Asyncio,
    ];

    /// The suite's `--green-mode` value.
    pub fn slug(self) -> &'static str {
        match self {
            PyClient::Synchronous => "synchronous",
            PyClient::Futures => "futures",
            PyClient::Gevent => "gevent",
            PyClient::Asyncio => "asyncio",
        }
    }
}

impl fmt::Display for PyClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PyClient::Synchronous => "PyTango Synchronous",
            PyClient::Futures => "PyTango Futures",
            PyClient::Gevent => "PyTango Gevent",
            PyClient::Asyncio => "PyTango Asyncio",
        })
    }
}

/// How long one run of the suite may take before it is killed and the cell fails.
pub const SUITE_LIMIT: Duration = Duration::from_secs(300);

/// The Python with PyTango: `$TANGO_TEST_PYTHON`, else the workspace's `.venv`.
pub fn python() -> PathBuf {
    std::env::var_os("TANGO_TEST_PYTHON")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            tango_testkit::workspace_root()
                .join(".venv")
                .join("bin")
                .join("python")
        })
}

/// Runs the suite in `mode` against `target` (`quick`: its reduced list of 21 cases).
pub fn run_suite(mode: PyClient, target: &Target, admin: &str, quick: bool) -> Vec<CaseOutcome> {
    match try_run_suite(mode, target, admin, quick) {
        Ok(outcomes) => outcomes,
        Err(why) => vec![CaseOutcome {
            case: "pytango_client_suite".to_owned(),
            verdict: Verdict::Failed(why),
        }],
    }
}

fn try_run_suite(
    mode: PyClient,
    target: &Target,
    admin: &str,
    quick: bool,
) -> Result<Vec<CaseOutcome>, String> {
    let family = target.server.family();
    let json = std::env::temp_dir().join(format!(
        "tango-conformance-pytango-{}-{}-{}.json",
        mode.slug(),
        target.port,
        std::process::id()
    ));
    let script = tango_testkit::workspace_root()
        .join("peers")
        .join("pytango_client_suite.py");
    let mut cmd = Command::new(python());
    cmd.arg(&script)
        .args(["--device", &target.device, "--admin", admin])
        .args(["--green-mode", mode.slug()])
        .args(["--server", family.pytango_suite_name()])
        .arg("--json")
        .arg(&json)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if quick {
        cmd.arg("--quick");
    }
    let child = cmd.spawn().map_err(|e| {
        format!(
            "cannot run {} {}: {e}",
            python().display(),
            script.display()
        )
    })?;
    let output = wait_with_limit(child, SUITE_LIMIT)?;
    let text = std::fs::read_to_string(&json).map_err(|e| {
        format!(
            "the suite wrote no results ({e}); exit {}; stdout tail:\n{}\nstderr tail:\n{}",
            output.status,
            tail(&output.stdout),
            tail(&output.stderr)
        )
    })?;
    let _ = std::fs::remove_file(&json);
    let results: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&text).map_err(|e| format!("the suite's JSON: {e}"))?;
    let mut outcomes = Vec::new();
    for (case, value) in results {
        let v = value
            .as_str()
            .unwrap_or("fail: not a string in the suite's JSON");
        let verdict = if v == "pass" {
            Verdict::Passed
        } else if let Some(first) = v.strip_prefix("pass after retry: ") {
            // The suite's reviewed peer flakes (RETRY_ONCE_ON): say so wherever it runs.
            eprintln!(
                "note: {mode} client against the {} server: {case} passed on its second \
                 run; the first failed with: {first}",
                target.server
            );
            Verdict::Passed
        } else if v == "n/a" {
            if pytango_suite_not_applicable(family, &case) {
                Verdict::NotApplicable("listed in the suite's NOT_APPLICABLE table".to_owned())
            } else {
                Verdict::Failed(
                    "reported not applicable, but not in the reviewed list \
                     (conformance::matrix::na::PYTANGO_SUITE)"
                        .to_owned(),
                )
            }
        } else {
            Verdict::Failed(v.strip_prefix("fail: ").unwrap_or(v).to_owned())
        };
        outcomes.push(CaseOutcome { case, verdict });
    }
    if outcomes.is_empty() {
        return Err("the suite reported no case".to_owned());
    }
    Ok(outcomes)
}

/// Waits for `child`, killing it past `limit`.
fn wait_with_limit(
    mut child: std::process::Child,
    limit: Duration,
) -> Result<std::process::Output, String> {
    // Drain the pipes on threads so that a talkative suite never blocks on a full pipe.
    let drain = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut buf);
            }
            buf
        })
    };
    let out = drain(child.stdout.take().map(|p| Box::new(p) as _));
    let err = drain(child.stderr.take().map(|p| Box::new(p) as _));
    let t = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if t.elapsed() > limit => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("the suite did not finish within {limit:?}"));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("waiting for the suite: {e}")),
        }
    };
    Ok(std::process::Output {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    })
}

fn tail(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}
