//! The metrics endpoint serves what the process records.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use triad_telemetry::{LogFormat, TelemetryConfig, init_with_writer};

#[tokio::test]
async fn the_metrics_endpoint_serves_recorded_counters() {
    // Find a free port (the exporter takes an address, not a listener).
    let addr = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port");
    let config = TelemetryConfig { log_format: LogFormat::Json, log_filter: "warn".into(), metrics_addr: Some(addr) };
    init_with_writer("telemetry_test", &config, std::io::sink).expect("telemetry starts");
    metrics::counter!("triad_test_events_total").increment(3);

    let mut body = String::new();
    for _ in 0..200 {
        if let Ok(mut conn) = tokio::net::TcpStream::connect(addr).await {
            conn.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                .await
                .expect("request");
            conn.read_to_string(&mut body).await.expect("response");
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(body.contains("triad_test_events_total"), "{body}");
    assert!(body.contains("service=\"telemetry_test\""), "{body}");
}

#[test]
fn a_bad_log_filter_is_named() {
    let config = TelemetryConfig { log_filter: "info,[[[".into(), ..Default::default() };
    let err = init_with_writer("t", &config, std::io::sink).expect_err("bad filter");
    assert!(err.to_string().contains("[[["), "{err}");
}
