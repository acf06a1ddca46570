//! A Markdown table that the benchmark prints and BENCHMARKS.md quotes as is.

use std::fmt;

/// Rows of cells under a header; columns are padded to line up in a terminal too.
pub struct Table {
    pub title: String,
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(title: impl Into<String>, header: &[&str]) -> Table {
        Table { title: title.into(), header: header.iter().map(|h| h.to_string()).collect(), rows: Vec::new() }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        assert_eq!(cells.len(), self.header.len(), "a row of {:?} has the wrong number of cells", self.title);
        self.rows.push(cells);
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let widths: Vec<usize> = (0..self.header.len())
            .map(|i| self.rows.iter().map(|r| r[i].len()).chain([self.header[i].len()]).max().unwrap_or(0))
            .collect();
        let line = |cells: &[String]| {
            let padded: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
            format!("| {} |", padded.join(" | "))
        };
        writeln!(f, "{}\n", self.title)?;
        writeln!(f, "{}", line(&self.header))?;
        writeln!(f, "|{}|", widths.iter().map(|w| "-".repeat(w + 2)).collect::<Vec<_>>().join("|"))?;
        for row in &self.rows {
            writeln!(f, "{}", line(row))?;
        }
        Ok(())
    }
}

/// A ratio with two decimals, the way every acceptance figure is reported.
pub fn ratio(actual: f64, floor: f64) -> String {
    if floor == 0.0 {
        return if actual == 0.0 { "1.00".into() } else { "inf".into() };
    }
    format!("{:.2}", actual / floor)
}

/// Peak resident memory of this process so far, in bytes (Linux `VmHWM`).
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// CPU seconds (user + system) this process has used so far, all threads together: on a
/// shared machine this drifts far less than wall time.
pub fn cpu_secs() -> f64 {
    usage(libc::RUSAGE_SELF).0
}

/// (CPU seconds, peak RSS bytes) of `who` (`RUSAGE_SELF` or `RUSAGE_CHILDREN`).
pub fn usage(who: libc::c_int) -> (f64, u64) {
    // SAFETY: getrusage only writes into the struct we hand it.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(who, &mut u) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    (t(u.ru_utime) + t(u.ru_stime), u.ru_maxrss as u64 * 1024)
}
