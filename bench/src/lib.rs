//! fanout-bench: measures fanout the way latency engineers do: open-loop load at a fixed
//! rate, latency from each request's scheduled send time, hdrhistogram percentiles, and
//! baselines run in the same process.
//!
//! # Layout
//! - [`schedule`]: arrival times, constant or Poisson, from a fixed seed.
//! - [`cluster`]: the cluster a scenario starts, in this process or as processes.
//! - [`load`]: the open-loop engine: bounded in-flight requests, overflow, warm-up.
//! - [`target`]: a root over HTTP or gRPC (or a mock), behind one trait.
//! - [`stats`]: histograms and percentiles.
//! - [`scenarios`]: one module per subcommand (run, overhead, stragglers, index-rate…).
//! - [`plot`]: SVG and PNG charts with an embedded font.
//! - [`report`]: JSON reports (machine, commit, configuration) and markdown tables.

pub mod cluster;
pub mod load;
pub mod plot;
pub mod report;
pub mod scenarios;
pub mod schedule;
pub mod stats;
pub mod target;
