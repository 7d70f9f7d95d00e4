//! A `fanout root` process's `/metrics`: every series dashboards and alerts watch exists
//! from start-up (at zero, described by `# HELP`), and the request counter counts this
//! root's searches from its start.

mod support;

use std::time::Duration;

use serde_json::json;
use support::cluster::ProcessCluster;

/// The value of the series `name{labels}` (labels exactly as rendered, `""` for none).
fn value(metrics: &str, name: &str, labels: &str) -> Option<f64> {
    let series = if labels.is_empty() { name.to_string() } else { format!("{name}{{{labels}}}") };
    metrics.lines().find_map(|line| line.strip_prefix(&series)?.strip_prefix(' ')?.trim().parse().ok())
}

#[test]
fn a_root_counts_its_searches_and_shows_every_series_from_start_up() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        let cluster = ProcessCluster::start(2, 1).await;
        let fresh = cluster.metrics().await;
        for name in ["fanout_root_hedges_sent_total", "fanout_root_ejections_total", "fanout_root_probations_total"] {
            assert!(fresh.contains(&format!("# HELP {name} ")), "{name} is described: {fresh}");
            assert!(fresh.contains(&format!("# TYPE {name} counter")), "{name} is a counter: {fresh}");
        }
        for shard in 0..2 {
            let labels = format!("shard=\"{shard}\"");
            assert_eq!(value(&fresh, "fanout_root_hedges_sent_total", &labels), Some(0.0), "shard {shard}: {fresh}");
            let replica = format!("shard=\"{shard}\",replica=\"127.0.0.1:{}\"", cluster.leaves[shard][0].port);
            for name in ["fanout_root_ejections_total", "fanout_root_probations_total"] {
                assert_eq!(value(&fresh, name, &replica), Some(0.0), "{name}{{{replica}}}: {fresh}");
            }
        }
        let ok = |metrics: &str| value(metrics, "fanout_root_requests_total", "status=\"ok\"");
        assert_eq!(ok(&fresh), Some(0.0), "a fresh root has answered nothing: {fresh}");

        let queries =
            ["boundary layer", "supersonic flow", "heat transfer", "shock wave", "wing", "buckling", "jet", "nozzle"];
        for query in &queries[..5] {
            let outcome = cluster.search(json!({"query": query, "limit": 3})).await;
            assert_eq!((outcome.status, &outcome.answer["partial"]), (200, &json!(false)), "{}", outcome.answer);
        }
        let after_five = cluster.metrics().await;
        assert_eq!(ok(&after_five), Some(5.0), "{after_five}");
        for query in &queries[5..] {
            let outcome = cluster.search(json!({"query": query, "limit": 3})).await;
            assert_eq!(outcome.status, 200, "{}", outcome.answer);
        }
        let after_eight = cluster.metrics().await;
        assert_eq!(ok(&after_eight), Some(8.0), "{after_eight}");
        // Scrapes, readiness probes and the prober's own traffic are not searches.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let _ = cluster.get("/readyz").await;
        assert_eq!(ok(&cluster.metrics().await), Some(8.0));
    });
}
