//! What a run gives: a table per server, the goals, `bench.csv` (one row per
//! measurement) and `bench.svg` (grouped bars of ops/s, one panel per operation and depth).

use std::fmt::Write as _;
use std::path::Path;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::servers::ServerKind;
use crate::{ClientKind, Op, Res, Stats};

/// One measurement: a client running an operation at a depth against a server.
#[derive(Debug, Clone)]
pub struct Measurement {
    /// The client.
    pub client: ClientKind,
    /// The operation.
    pub op: Op,
    /// Calls in flight.
    pub depth: usize,
    /// Its statistics, or why there are none.
    pub result: Res<Stats>,
}

/// Everything measured against one server.
#[derive(Debug, Clone)]
pub struct ServerRun {
    /// Which server.
    pub kind: ServerKind,
    /// Why the server could not be measured at all, if so.
    pub error: Option<String>,
    /// Lines about the server (pid, memory, message sizes, what the spectrum holds).
    pub notes: Vec<String>,
    /// The measurements, in table order.
    pub rows: Vec<Measurement>,
}

impl ServerRun {
    /// The ops/s of `client` for (`op`, `depth`), if measured.
    pub fn rate(&self, client: ClientKind, op: Op, depth: usize) -> Option<f64> {
        self.stats(client, op, depth).map(|s| s.ops_per_s)
    }

    /// The statistics of `client` for (`op`, `depth`), if measured.
    pub fn stats(&self, client: ClientKind, op: Op, depth: usize) -> Option<&Stats> {
        self.rows
            .iter()
            .find(|m| m.client == client && m.op == op && m.depth == depth)
            .and_then(|m| m.result.as_ref().ok())
    }
}

/// `a / b` when both exist.
fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    Some(a? / b?)
}

fn fmt_ratio(r: Option<f64>) -> String {
    r.map_or_else(|| "-".into(), |r| format!("{r:.2}x"))
}

fn fmt_num(r: Option<f64>, decimals: usize) -> String {
    r.map_or_else(String::new, |r| format!("{r:.decimals$}"))
}

/// The ratios of a measurement's ops/s: to PyTango Synchronous (same op and depth), to
/// PyTango Asyncio (depth > 1 only) and to the floor.
fn ratios(run: &ServerRun, m: &Measurement) -> [Option<f64>; 3] {
    let rate = m.result.as_ref().ok().map(|s| s.ops_per_s);
    let other = |c| run.rate(c, m.op, m.depth);
    [
        ratio(rate, other(ClientKind::PySync)),
        ratio(rate, other(ClientKind::PyAsyncio)).filter(|_| m.depth > 1),
        ratio(rate, other(ClientKind::Floor)),
    ]
}

/// The table of one server.
pub fn server_table(run: &ServerRun) -> String {
    let mut t = String::new();
    let _ = writeln!(t, "\n== {} ==", run.kind.label());
    for n in &run.notes {
        let _ = writeln!(t, "   {n}");
    }
    if let Some(e) = &run.error {
        let _ = writeln!(t, "   not measured: {e}");
        return t;
    }
    let mut ops: Vec<Op> = run.rows.iter().map(|m| m.op).collect();
    ops.dedup();
    for op in ops {
        let _ = writeln!(t, "{}", op.label());
        let _ = writeln!(
            t,
            "  {:<21} {:>5} {:>9} {:>9} {:>9} {:>9} {:>11} {:>8}",
            "client", "depth", "ops/s", "p50 µs", "p99 µs", "/Py sync", "/Py asyncio", "/floor"
        );
        for m in run.rows.iter().filter(|m| m.op == op) {
            match &m.result {
                Ok(s) => {
                    let [py, pya, fl] = ratios(run, m);
                    let _ = writeln!(
                        t,
                        "  {:<21} {:>5} {:>9.0} {:>9.1} {:>9.1} {:>9} {:>11} {:>8}",
                        m.client.label(),
                        m.depth,
                        s.ops_per_s,
                        s.p50_us,
                        s.p99_us,
                        fmt_ratio(py),
                        if m.depth > 1 {
                            fmt_ratio(pya)
                        } else {
                            String::new()
                        },
                        fmt_ratio(fl)
                    );
                }
                Err(e) => {
                    let _ = writeln!(t, "  {:<21} {:>5} n/a: {e}", m.client.label(), m.depth);
                }
            }
        }
    }
    t
}

/// The CSV header of [`csv_rows`].
pub const CSV_HEADER: &str = "server,client,op,depth,ops_per_s,p50_us,p99_us,ops,\
ratio_vs_pytango_sync,ratio_vs_pytango_asyncio,fraction_of_floor,error\n";

/// Quotes a CSV field if needed.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// One CSV row per measurement (keys for server, client and op).
pub fn csv_rows(run: &ServerRun) -> String {
    let mut c = String::new();
    if let Some(e) = &run.error {
        let _ = writeln!(c, "{},,,,,,,,,,,{}", run.kind.key(), csv_field(e));
    }
    for m in &run.rows {
        let [py, pya, fl] = ratios(run, m);
        let (stats, err) = match &m.result {
            Ok(s) => (Some(s), String::new()),
            Err(e) => (None, csv_field(e)),
        };
        let _ = writeln!(
            c,
            "{},{},{},{},{},{},{},{},{},{},{},{err}",
            run.kind.key(),
            m.client.key(),
            m.op.key(),
            m.depth,
            fmt_num(stats.map(|s| s.ops_per_s), 1),
            fmt_num(stats.map(|s| s.p50_us), 1),
            fmt_num(stats.map(|s| s.p99_us), 1),
            stats.map_or(String::new(), |s| s.ops.to_string()),
            fmt_num(py, 3),
            fmt_num(pya, 3),
            fmt_num(fl, 3),
        );
    }
    c
}

/// A PASS/MISS cell: the ratio, and by how much it misses `goal`.
fn verdict(r: Option<f64>, goal: f64) -> String {
    match r {
        None => "-".into(),
        Some(r) if r >= goal => format!("{r:.2}x ok"),
        Some(r) => format!("{r:.2}x MISS -{:.0}%", 100.0 * (1.0 - r / goal)),
    }
}

/// The goals of the earlier issues, judged on this run's numbers.
pub fn goals(runs: &[ServerRun], ops: &[Op], clients: &[ClientKind]) -> String {
    let mut g = String::new();
    let find = |k: ServerKind| runs.iter().find(|r| r.kind == k && r.error.is_none());
    let ours: Vec<ClientKind> = clients.iter().copied().filter(|c| c.is_ours()).collect();
    let header = |g: &mut String, first: &str| {
        let _ = write!(g, "  {first:<21}");
        for op in ops {
            let _ = write!(g, " {:>20}", op.key());
        }
        let _ = writeln!(g);
    };
    let _ = writeln!(g, "\n== goals ==");

    // 1. Sequentially, 2x PyTango's synchronous client, against the C++ server.
    if let Some(cpp) = find(ServerKind::Cpp) {
        let _ = writeln!(
            g,
            "1. depth 1 against the C++ TangoTest: ours >= 2x PyTango Synchronous \
             (the floor row is the most any client can reach)"
        );
        header(&mut g, "client");
        for c in ours.iter().copied().chain([ClientKind::Floor]) {
            let _ = write!(g, "  {:<21}", c.label());
            for &op in ops {
                let r = ratio(cpp.rate(c, op, 1), cpp.rate(ClientKind::PySync, op, 1));
                let cell = if c == ClientKind::Floor {
                    fmt_ratio(r)
                } else {
                    verdict(r, 2.0)
                };
                let _ = write!(g, " {cell:>20}");
            }
            let _ = writeln!(g);
        }
    }

    // 2. 64 in flight, each concurrent mode >= 5x PyTango Asyncio, against the C++ server.
    if let Some(cpp) = find(ServerKind::Cpp) {
        let _ = writeln!(
            g,
            "2. depth 64 against the C++ TangoTest: each of our modes >= 5x PyTango Asyncio"
        );
        header(&mut g, "client");
        for c in ours.iter().copied().chain([ClientKind::Floor]) {
            let _ = write!(g, "  {:<21}", c.label());
            for &op in ops {
                let r = ratio(cpp.rate(c, op, 64), cpp.rate(ClientKind::PyAsyncio, op, 64));
                let cell = if c == ClientKind::Floor {
                    fmt_ratio(r)
                } else {
                    verdict(r, 5.0)
                };
                let _ = write!(g, " {cell:>20}");
            }
            let _ = writeln!(g);
        }
    }

    // 3. 64 in flight, >= 0.7x the floor, against our TangoTest (each server mode).
    let our_runs: Vec<&ServerRun> = runs
        .iter()
        .filter(|r| matches!(r.kind, ServerKind::Rust(_)) && r.error.is_none())
        .collect();
    if !our_runs.is_empty() && !ours.is_empty() {
        let _ = writeln!(
            g,
            "3. depth 64 against our TangoTest: each of our modes >= 0.7x the floor"
        );
        for &op in ops {
            let _ = write!(g, "  {:<21}", op.key());
            for r in &our_runs {
                let _ = write!(g, " {:>20}", r.kind.short());
            }
            let _ = writeln!(g);
            for &c in &ours {
                let _ = write!(g, "  {:<21}", c.label());
                for r in &our_runs {
                    let v = ratio(r.rate(c, op, 64), r.rate(ClientKind::Floor, op, 64));
                    let _ = write!(g, " {:>20}", verdict(v, 0.7));
                }
                let _ = writeln!(g);
            }
        }
    }

    // 4. PyTango's synchronous client against our Asyncio servers, within 1.3x of against
    //    our Synchronous server (sequential).
    if let Some(sync) = find(ServerKind::Rust("synchronous")) {
        let asyncio: Vec<&ServerRun> = ["tokio", "async-std", "smol"]
            .into_iter()
            .filter_map(|m| find(ServerKind::Rust(m)))
            .collect();
        if !asyncio.is_empty() {
            let _ = writeln!(
                g,
                "4. depth 1, PyTango Synchronous against our Asyncio servers: rate >= 1/1.3 \
                 (0.77x) of its rate against our Synchronous server"
            );
            header(&mut g, "server");
            for r in asyncio {
                let _ = write!(g, "  {:<21}", r.kind.short());
                for &op in ops {
                    let v = ratio(
                        r.rate(ClientKind::PySync, op, 1),
                        sync.rate(ClientKind::PySync, op, 1),
                    );
                    let _ = write!(g, " {:>20}", verdict(v, 1.0 / 1.3));
                }
                let _ = writeln!(g);
            }
        }
    }
    g
}

/// The chart's colour of each client: ours blue/green, PyTango warm, rstango purple, the
/// floor grey.
fn colour(c: ClientKind) -> RGBColor {
    match c {
        ClientKind::OursSync => RGBColor(8, 48, 107),
        ClientKind::OursFutures => RGBColor(33, 113, 181),
        ClientKind::OursCoroutine => RGBColor(107, 174, 214),
        ClientKind::OursTokio => RGBColor(0, 109, 44),
        ClientKind::OursAsyncStd => RGBColor(65, 171, 93),
        ClientKind::OursSmol => RGBColor(161, 217, 155),
        ClientKind::PySync => RGBColor(165, 15, 21),
        ClientKind::PyFutures => RGBColor(239, 59, 44),
        ClientKind::PyGevent => RGBColor(253, 141, 60),
        ClientKind::PyAsyncio => RGBColor(254, 196, 79),
        ClientKind::Rstango => RGBColor(117, 107, 177),
        ClientKind::Floor => RGBColor(115, 115, 115),
    }
}

/// Writes the SVG chart: one panel per (operation, depth), servers along x, one bar per
/// client, ops/s on a log scale.
pub fn write_svg(
    path: &Path,
    runs: &[ServerRun],
    ops: &[Op],
    depths: &[usize],
    clients: &[ClientKind],
) -> Res<()> {
    let err = |e: &dyn std::fmt::Display| format!("cannot draw {}: {e}", path.display());
    let panels = ops.len() * depths.len();
    let (panel_w, panel_h, legend_h) = (1000u32, 340u32, 70u32);
    let cols = depths.len().max(1) as u32;
    let rows = panels.div_ceil(depths.len().max(1)) as u32;
    let size = (panel_w * cols, legend_h + panel_h * rows);
    let root = SVGBackend::new(path, size).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let (legend, grid) = root.split_vertically(legend_h);
    legend
        .draw(&Text::new(
            "ops/s (log scale) per client against each server; higher is better",
            (10, 8),
            ("sans-serif", 18).into_font(),
        ))
        .map_err(|e| err(&e))?;
    for (i, c) in clients.iter().enumerate() {
        let (x, y) = (10 + (i as i32 % 6) * 190, 34 + (i as i32 / 6) * 18);
        legend
            .draw(&Rectangle::new(
                [(x, y), (x + 12, y + 12)],
                colour(*c).filled(),
            ))
            .map_err(|e| err(&e))?;
        legend
            .draw(&Text::new(
                c.label(),
                (x + 16, y),
                ("sans-serif", 13).into_font(),
            ))
            .map_err(|e| err(&e))?;
    }
    let measured: Vec<&ServerRun> = runs.iter().filter(|r| r.error.is_none()).collect();
    let areas = grid.split_evenly((rows as usize, cols as usize));
    for (pi, area) in areas.iter().enumerate().take(panels) {
        let (op, depth) = (ops[pi / depths.len()], depths[pi % depths.len()]);
        let rates: Vec<f64> = measured
            .iter()
            .flat_map(|r| clients.iter().filter_map(move |c| r.rate(*c, op, depth)))
            .filter(|r| *r > 0.0)
            .collect();
        let lo = rates.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = rates.iter().copied().fold(0.0, f64::max);
        let (lo, hi) = if rates.is_empty() {
            (1.0, 10.0)
        } else {
            (
                10f64.powf(lo.log10().floor()),
                10f64.powf(hi.log10().ceil()),
            )
        };
        let n = measured.len().max(1);
        let mut chart = ChartBuilder::on(area)
            .caption(
                format!("{} - {depth} in flight", op.label()),
                ("sans-serif", 15),
            )
            .margin(8)
            .x_label_area_size(24)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..n as f64, (lo..hi).log_scale())
            .map_err(|e| err(&e))?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(0)
            .y_desc("ops/s")
            .y_label_formatter(&|v| format!("{v:.0}"))
            .draw()
            .map_err(|e| err(&e))?;
        let width = 0.8 / clients.len().max(1) as f64;
        for (si, r) in measured.iter().enumerate() {
            let bars = clients.iter().enumerate().filter_map(|(ci, c)| {
                let rate = r.rate(*c, op, depth)?;
                let x0 = si as f64 + 0.1 + ci as f64 * width;
                Some(Rectangle::new(
                    [(x0, lo), (x0 + width * 0.9, rate)],
                    colour(*c).filled(),
                ))
            });
            chart.draw_series(bars).map_err(|e| err(&e))?;
            let (px, py) = chart.backend_coord(&(si as f64 + 0.5, lo));
            let (ax, ay) = area.get_base_pixel();
            let label = ("sans-serif", 13)
                .into_font()
                .into_text_style(area)
                .pos(Pos::new(HPos::Center, VPos::Top));
            area.draw(&Text::new(r.kind.short(), (px - ax, py - ay + 6), label))
                .map_err(|e| err(&e))?;
        }
    }
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(ops_per_s: f64) -> Res<Stats> {
        Ok(Stats {
            ops: 100,
            ops_per_s,
            p50_us: 10.0,
            p99_us: 20.0,
        })
    }

    fn run() -> ServerRun {
        let m = |client, depth, r: f64| Measurement {
            client,
            op: Op::ReadScalar,
            depth,
            result: stats(r),
        };
        ServerRun {
            kind: ServerKind::Cpp,
            error: None,
            notes: vec!["pid 1".into()],
            rows: vec![
                m(ClientKind::OursSync, 1, 15000.0),
                m(ClientKind::PySync, 1, 10000.0),
                m(ClientKind::Floor, 1, 20000.0),
                m(ClientKind::OursTokio, 64, 60000.0),
                m(ClientKind::PySync, 64, 12000.0),
                m(ClientKind::PyAsyncio, 64, 10000.0),
                m(ClientKind::Floor, 64, 100000.0),
                Measurement {
                    client: ClientKind::Rstango,
                    op: Op::ReadScalar,
                    depth: 64,
                    result: Err("refused, \"badly\"".into()),
                },
            ],
        }
    }

    #[test]
    fn ratios_compare_with_the_same_op_and_depth() {
        let r = run();
        let tokio = &r.rows[3];
        let [py, pya, fl] = ratios(&r, tokio);
        assert_eq!(py, Some(5.0));
        assert_eq!(pya, Some(6.0));
        assert_eq!(fl, Some(0.6));
        // No Asyncio ratio at depth 1.
        assert_eq!(ratios(&r, &r.rows[0])[1], None);
    }

    #[test]
    fn csv_has_one_row_per_measurement_with_quoted_errors() {
        let csv = csv_rows(&run());
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 8);
        assert_eq!(
            lines[3],
            "cpp,tokio,scalar,64,60000.0,10.0,20.0,100,5.000,6.000,0.600,"
        );
        assert!(
            lines[7].ends_with(",\"refused, \"\"badly\"\"\""),
            "{}",
            lines[7]
        );
        assert_eq!(
            CSV_HEADER.trim_end().split(',').count(),
            lines[3].split(',').count()
        );
    }

    #[test]
    fn goals_say_how_much_is_missing() {
        assert_eq!(verdict(Some(1.5), 2.0), "1.50x MISS -25%");
        assert_eq!(verdict(Some(6.0), 5.0), "6.00x ok");
        let g = goals(
            &[run()],
            &[Op::ReadScalar],
            &[ClientKind::OursSync, ClientKind::OursTokio],
        );
        assert!(g.contains("1.50x MISS -25%"), "{g}");
        assert!(g.contains("6.00x ok"), "{g}");
        let t = server_table(&run());
        assert!(t.contains("n/a: refused"), "{t}");
    }

    #[test]
    fn the_chart_has_a_bar_per_measured_client_and_every_label() {
        let dir = std::env::temp_dir().join(format!("tango-bench-svg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bench.svg");
        let clients = [
            ClientKind::OursSync,
            ClientKind::OursTokio,
            ClientKind::PySync,
            ClientKind::PyAsyncio,
            ClientKind::Floor,
        ];
        write_svg(&path, &[run()], &[Op::ReadScalar], &[1, 64], &clients).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..40]);
        for c in clients {
            assert!(svg.contains(c.label()), "{} missing", c.label());
        }
        assert!(svg.contains("C++"));
        // Depth 1: ours, PyTango sync, floor; depth 64: ours, two PyTango, floor; plus
        // the legend's five swatches.
        let fill = |c: ClientKind| {
            let RGBColor(r, g, b) = colour(c);
            format!("fill=\"#{r:02X}{g:02X}{b:02X}\"")
        };
        assert_eq!(svg.matches(&fill(ClientKind::Floor)).count(), 3);
        assert_eq!(svg.matches(&fill(ClientKind::PyAsyncio)).count(), 2);
    }
}
