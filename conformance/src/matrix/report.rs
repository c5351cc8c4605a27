//! The matrix as a table (rows: clients, columns: servers, cells: passed/applicable, with
//! the not-applicable count), as Markdown, and as JSON:
//! `{"cells": [{"client", "server", "passed", "failed", "not_applicable", "failures"}]}`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::{CellResult, Client, Server, Verdict};

/// The text of one cell: `passed/total` (total = passed + failed), then the
/// not-applicable count if any; `-` for a cell that was not run.
pub fn cell_text(cell: Option<&CellResult>) -> String {
    match cell {
        None => "-".to_owned(),
        Some(c) => {
            let mut s = format!("{}/{}", c.passed(), c.passed() + c.failed());
            if c.not_applicable() > 0 {
                let _ = write!(s, " ({} n/a)", c.not_applicable());
            }
            if c.failed() > 0 {
                s.push_str(" FAIL");
            }
            s
        }
    }
}

fn rows_and_columns(cells: &[CellResult]) -> (Vec<Client>, Vec<Server>) {
    let rows = Client::all()
        .into_iter()
        .filter(|c| cells.iter().any(|x| x.client == *c))
        .collect();
    let cols = Server::ALL
        .into_iter()
        .filter(|s| cells.iter().any(|x| x.server == *s))
        .collect();
    (rows, cols)
}

fn find(cells: &[CellResult], client: Client, server: Server) -> Option<&CellResult> {
    cells
        .iter()
        .find(|c| c.client == client && c.server == server)
}

/// The matrix as aligned plain text.
pub fn table(cells: &[CellResult]) -> String {
    let (rows, cols) = rows_and_columns(cells);
    let mut grid: Vec<Vec<String>> = vec![std::iter::once("client \\ server".to_owned())
        .chain(cols.iter().map(|s| s.to_string()))
        .collect()];
    for r in &rows {
        grid.push(
            std::iter::once(r.to_string())
                .chain(cols.iter().map(|s| cell_text(find(cells, *r, *s))))
                .collect(),
        );
    }
    let widths: Vec<usize> = (0..=cols.len())
        .map(|i| {
            grid.iter()
                .map(|row| row[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in &grid {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", line.join("  ").trim_end());
    }
    out
}

/// The matrix as a Markdown table, followed by the failures (if any).
pub fn markdown(cells: &[CellResult]) -> String {
    let (rows, cols) = rows_and_columns(cells);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| client \\ server | {} |",
        cols.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" | ")
    );
    let _ = writeln!(out, "|---|{}", "---:|".repeat(cols.len()));
    for r in &rows {
        let _ = writeln!(
            out,
            "| {r} | {} |",
            cols.iter()
                .map(|s| cell_text(find(cells, *r, *s)))
                .collect::<Vec<_>>()
                .join(" | ")
        );
    }
    let failing: Vec<&CellResult> = cells.iter().filter(|c| c.failed() > 0).collect();
    if !failing.is_empty() {
        let _ = writeln!(out, "\nFailures:\n");
        for c in failing {
            for o in &c.outcomes {
                if let Verdict::Failed(why) = &o.verdict {
                    let why = why.lines().next().unwrap_or("");
                    let _ = writeln!(out, "- {} × {}: `{}`: {why}", c.client, c.server, o.case);
                }
            }
        }
    }
    out
}

/// The matrix as JSON (the cells in run order).
pub fn json(cells: &[CellResult]) -> serde_json::Value {
    let cells: Vec<serde_json::Value> = cells
        .iter()
        .map(|c| {
            serde_json::json!({
                "client": c.client.to_string(),
                "server": c.server.to_string(),
                "passed": c.passed(),
                "failed": c.failed(),
                "not_applicable": c.not_applicable(),
                "failures": c.failures(),
            })
        })
        .collect();
    serde_json::json!({ "cells": cells })
}

/// `target/conformance/` of the workspace (or of `$CARGO_TARGET_DIR`).
pub fn output_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| tango_testkit::workspace_root().join("target"))
        .join("conformance")
}

/// Writes `matrix.md` and `matrix.json` into `dir`; returns their paths.
pub fn write(cells: &[CellResult], dir: &Path) -> std::io::Result<(PathBuf, PathBuf)> {
    std::fs::create_dir_all(dir)?;
    let md = dir.join("matrix.md");
    let js = dir.join("matrix.json");
    std::fs::write(&md, markdown(cells))?;
    let text = serde_json::to_string_pretty(&json(cells)).map_err(std::io::Error::other)?;
    std::fs::write(&js, text + "\n")?;
    Ok((md, js))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matrix::client::OurClient;
    use crate::matrix::CaseOutcome;
    use std::time::Duration;

    fn cell(client: Client, server: Server, verdicts: &[Verdict]) -> CellResult {
        CellResult {
            client,
            server,
            outcomes: verdicts
                .iter()
                .enumerate()
                .map(|(i, v)| CaseOutcome {
                    case: format!("case{i}"),
                    verdict: v.clone(),
                })
                .collect(),
            elapsed: Duration::ZERO,
        }
    }

    #[test]
    fn the_report_counts_and_names_failures() {
        let cells = vec![
            cell(
                Client::Ours(OurClient::Tokio),
                Server::CppTangoTest,
                &[
                    Verdict::Passed,
                    Verdict::Failed("boom".into()),
                    Verdict::NotApplicable("why".into()),
                ],
            ),
            cell(
                Client::Ours(OurClient::Smol),
                Server::RustSmol,
                &[Verdict::Passed, Verdict::Passed],
            ),
        ];
        assert_eq!(cell_text(Some(&cells[0])), "1/2 (1 n/a) FAIL");
        assert_eq!(cell_text(Some(&cells[1])), "2/2");
        let t = table(&cells);
        assert!(
            t.contains("tokio") && t.contains("C++ TangoTest 9.3.4"),
            "{t}"
        );
        assert!(t.lines().count() == 3, "{t}");
        let md = markdown(&cells);
        assert!(md.contains("| tokio | - | 1/2 (1 n/a) FAIL |"), "{md}");
        assert!(md.contains("`case1`: boom"), "{md}");
        let j = json(&cells);
        assert_eq!(j["cells"][0]["failed"], 1);
        assert_eq!(j["cells"][0]["not_applicable"], 1);
        assert_eq!(j["cells"][0]["failures"][0], "case1");
        assert_eq!(j["cells"][1]["passed"], 2);
        assert_eq!(j["cells"][1]["client"], "smol");
    }
}
