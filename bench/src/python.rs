//! PyTango 10.3.1's client green modes as [`Runner`]s: one Python process per (server,
//! mode) running `peers/bench_client.py`, driven over its stdin/stdout (one line per turn),
//! killed when dropped.

use std::io::{BufRead, BufReader, Write as _};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

use crate::{ClientKind, Op, Res, Runner, Sample};

/// The Python interpreter with PyTango: `$TANGO_TEST_PYTHON`, else `<repo>/.venv/bin/python`
/// (made by `scripts/install-peers`).
pub fn interpreter() -> Res<PathBuf> {
    if let Some(p) = std::env::var_os("TANGO_TEST_PYTHON") {
        return Ok(p.into());
    }
    let p = crate::repo_root().join(".venv/bin/python");
    if p.exists() {
        Ok(p)
    } else {
        Err(format!(
            "{} is missing: run scripts/install-peers to create the PyTango venv",
            p.display()
        ))
    }
}

/// The script's name for a PyTango client mode.
fn mode(kind: ClientKind) -> Res<&'static str> {
    Ok(match kind {
        ClientKind::PySync => "sync",
        ClientKind::PyFutures => "futures",
        ClientKind::PyGevent => "gevent",
        ClientKind::PyAsyncio => "asyncio",
        other => return Err(format!("{} is not a PyTango client", other.label())),
    })
}

/// A `bench_client.py` process.
struct PyClient {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl PyClient {
    fn line(&mut self) -> Res<String> {
        let mut line = String::new();
        match self.stdout.read_line(&mut line) {
            Ok(n) if n > 0 => Ok(line),
            _ => Err("the PyTango client process died (its error is above)".into()),
        }
    }

    fn turn(&mut self, op: Op, depth: usize, dur: Duration) -> Res<Sample> {
        writeln!(self.stdin, "{} {depth} {}", op.key(), dur.as_secs_f64())
            .map_err(|e| format!("cannot talk to the PyTango client: {e}"))?;
        parse_turn(&self.line()?)
    }
}

/// Parses a turn's answer: `ELAPSED_NS LAT_NS...` or `error MESSAGE`.
fn parse_turn(line: &str) -> Res<Sample> {
    if let Some(msg) = line.strip_prefix("error") {
        return Err(format!("PyTango: {}", msg.trim()));
    }
    let bad = || format!("unreadable answer from the PyTango client: {:.80?}", line);
    let mut nums = line.split_whitespace().map(str::parse::<u64>);
    let elapsed = nums.next().ok_or_else(bad)?.map_err(|_| bad())?;
    let lat_ns = nums.collect::<Result<Vec<_>, _>>().map_err(|_| bad())?;
    Ok(Sample {
        elapsed: Duration::from_nanos(elapsed),
        lat_ns,
    })
}

impl Drop for PyClient {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts PyTango's client `kind` on the device `name`.
pub fn connect(kind: ClientKind, name: &str) -> Res<Runner> {
    let mode = mode(kind)?;
    let script = crate::repo_root().join("peers/bench_client.py");
    let mut child = Command::new(interpreter()?)
        .arg(&script)
        .args([name, mode])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run python: {e}"))?;
    let (stdin, stdout) = (child.stdin.take(), child.stdout.take());
    let mut py = PyClient {
        child,
        stdin: stdin.expect("piped"),
        stdout: BufReader::new(stdout.expect("piped")),
    };
    let first = py.line()?;
    if first.trim() != "ready" {
        return Err(format!(
            "the PyTango {mode} client did not start: {first:?}"
        ));
    }
    Ok(Box::new(move |op, depth, dur| py.turn(op, depth, dur)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turns_parse_and_errors_are_reported() {
        let s = parse_turn("2000000000 10 20 30\n").unwrap();
        assert_eq!(s.elapsed, Duration::from_secs(2));
        assert_eq!(s.lat_ns, vec![10, 20, 30]);
        assert_eq!(
            parse_turn("error DevFailed: no such attribute\n").unwrap_err(),
            "PyTango: DevFailed: no such attribute"
        );
        assert!(parse_turn("12 x\n").is_err());
        assert!(parse_turn("\n").is_err());
    }

    #[test]
    fn only_pytango_modes_have_a_script_mode() {
        assert_eq!(mode(ClientKind::PyGevent), Ok("gevent"));
        assert!(mode(ClientKind::OursSync).is_err());
    }
}
