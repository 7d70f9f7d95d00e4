//! Queries against the root's published HTTP port, an open-loop stream
//! in the background, and a tally of what came back, each answer held to the single-index
//! reference.

use super::support::cluster::{Background, Outcome, background};
use super::support::reference::Reference;

/// Hits asked for.
pub const LIMIT: usize = 10;

/// Starts an open-loop stream of `queries` at `rate` per second against the root's
/// published HTTP port (`127.0.0.1:PORT`).
pub fn start(client: &reqwest::Client, http: &str, queries: Vec<String>, rate: u32) -> Background {
    let port = http.rsplit_once(':').and_then(|(_, port)| port.parse().ok()).expect("http is 127.0.0.1:PORT");
    background(client, port, queries, rate, LIMIT)
}

/// What a phase's queries got.
#[derive(Default)]
pub struct Tally {
    pub sent: usize,
    /// 200, complete, and the reference's answer.
    pub ok: usize,
    /// No answer, or an HTTP error.
    pub failed: usize,
    /// 200 with `partial: true`.
    pub partial: usize,
    /// 200, complete, but not the reference's answer.
    pub wrong: usize,
    /// The first few problems, for the failure message.
    pub problems: Vec<String>,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Tally {
    /// Counts `outcomes`, checking every complete answer against `reference`.
    pub fn of(outcomes: &[Outcome], reference: &Reference) -> Tally {
        let mut tally = Tally { sent: outcomes.len(), ..Tally::default() };
        for outcome in outcomes {
            let problem = if outcome.status != 200 {
                tally.failed += 1;
                Some(format!("status {}", outcome.status))
            } else if outcome.answer["partial"] != false {
                tally.partial += 1;
                Some("partial".to_string())
            } else {
                match reference.check(&outcome.query, LIMIT, &outcome.answer) {
                    Ok(()) => {
                        tally.ok += 1;
                        None
                    }
                    Err(difference) => {
                        tally.wrong += 1;
                        Some(format!("not the reference's answer: {difference}"))
                    }
                }
            };
            if let Some(problem) = problem
                && tally.problems.len() < 5
            {
                let answer = outcome.answer.to_string();
                let answer: String = answer.chars().take(600).collect();
                tally.problems.push(format!("{:?}: {problem}: {answer}", outcome.query));
            }
        }
        let mut latencies: Vec<f64> = outcomes.iter().map(|outcome| outcome.latency.as_secs_f64() * 1000.0).collect();
        latencies.sort_by(f64::total_cmp);
        let at = |q: f64| latencies.get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)));
        tally.p50_ms = at(0.5).copied().unwrap_or_default();
        tally.p99_ms = at(0.99).copied().unwrap_or_default();
        tally.max_ms = latencies.last().copied().unwrap_or_default();
        tally
    }

    /// One line: counts and latencies.
    pub fn line(&self, phase: &str) -> String {
        format!(
            "{phase:<10} sent {:>4}  ok {:>4}  failed {:>3}  partial {:>3}  wrong {:>3}  latency p50 {:.1} ms  p99 {:.1} ms  max {:.1} ms",
            self.sent, self.ok, self.failed, self.partial, self.wrong, self.p50_ms, self.p99_ms, self.max_ms
        )
    }

    /// Panics unless every query was answered completely and correctly.
    pub fn assert_clean(&self, phase: &str) {
        assert!(
            self.failed == 0 && self.partial == 0 && self.wrong == 0 && self.sent > 0,
            "{}\nfirst problems:\n{}",
            self.line(phase),
            self.problems.join("\n")
        );
    }
}
