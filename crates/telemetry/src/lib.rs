//! Telemetry shared by every Triad service: logs (human or JSON) through
//! `tracing`, Prometheus metrics on an HTTP endpoint, and a shutdown signal
//! on SIGINT or SIGTERM. Shares and secrets never go to logs: types holding
//! them have opaque `Debug` impls.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// How logs are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Readable lines for a terminal.
    #[default]
    Human,
    /// One JSON object per line, for collectors.
    Json,
}

/// The telemetry section of every service's configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetryConfig {
    /// Log format.
    pub log_format: LogFormat,
    /// `tracing` filter directives, e.g. `info,triad_eventlog=debug`;
    /// `RUST_LOG` overrides it.
    pub log_filter: String,
    /// Address of the Prometheus `/metrics` endpoint; none to disable.
    pub metrics_addr: Option<SocketAddr>,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self { log_format: LogFormat::Human, log_filter: "info".into(), metrics_addr: None }
    }
}

/// A telemetry setup failure.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The log filter does not parse.
    #[error("invalid log filter {filter:?}: {reason}")]
    Filter {
        /// The filter given.
        filter: String,
        /// The parser's complaint.
        reason: String,
    },
    /// The metrics endpoint could not start.
    #[error("cannot serve metrics on {addr}: {reason}")]
    Metrics {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        reason: String,
    },
}

/// Installs logging to stderr and, if configured, the metrics endpoint.
/// Call once, inside a tokio runtime, at the start of `main`.
pub fn init(service: &str, config: &TelemetryConfig) -> Result<(), TelemetryError> {
    init_with_writer(service, config, std::io::stderr)
}

/// Like [`init`], writing logs to `sink` (tests pass `std::io::sink`).
pub fn init_with_writer<W>(service: &str, config: &TelemetryConfig, sink: W) -> Result<(), TelemetryError>
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = match std::env::var("RUST_LOG") {
        Ok(f) if !f.is_empty() => f,
        _ => config.log_filter.clone(),
    };
    let env_filter =
        EnvFilter::try_new(&filter).map_err(|e| TelemetryError::Filter { filter, reason: e.to_string() })?;
    let builder = tracing_subscriber::fmt().with_env_filter(env_filter).with_writer(sink);
    // A second init in one process (tests, the embedded network) keeps the first.
    let _ = match config.log_format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    if let Some(addr) = config.metrics_addr {
        metrics_exporter_prometheus::PrometheusBuilder::new()
            .with_http_listener(addr)
            .add_global_label("service", service)
            .install()
            .map_err(|e| TelemetryError::Metrics { addr, reason: e.to_string() })?;
    }
    tracing::info!(service, "telemetry ready");
    Ok(())
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM: pass it to servers and loops as
/// their stop signal.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown signal received");
}
