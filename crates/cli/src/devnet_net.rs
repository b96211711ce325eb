//! What `triad devnet` needs of a running network, for its two shapes: every service in this
//! process ([`LocalNet`], the default) or one OS process per service on PostgreSQL + JetStream
//! (`--processes`, the itests harness's [`Network`]).

use std::time::Duration;

use anyhow::{Result, anyhow};
use tonic::transport::Channel;
use triad_itests::network::Network;
use triad_localnet::{DatasetSpec, LocalNet, Provider};
use triad_proto::api::v1::{self as api, coordinator_client::CoordinatorClient};
use triad_proto::events::v1::{ResultPublished, event::Kind};
use triad_provider::PublicKey;

/// A query's end: published, or refused with the parties' reason.
pub(crate) enum Outcome {
    Published(Box<ResultPublished>),
    Refused(String),
}

/// The network as the devnet drives it.
pub(crate) trait DevNet {
    fn client(&self) -> CoordinatorClient<Channel>;
    async fn wait_up(&mut self, timeout: Duration) -> Result<api::Network>;
    async fn create_dataset(&mut self, spec: &DatasetSpec) -> Result<()>;
    async fn submission(
        &self,
        token: &str,
        spec: &DatasetSpec,
        keys: &[PublicKey; 3],
        behaviour: Provider,
    ) -> Result<api::SubmitContributionRequest>;
    async fn wait_decided(
        &mut self,
        dataset: &str,
        total: u64,
        timeout: Duration,
        progress: impl Fn(u64),
    ) -> Result<api::DatasetStatus>;
    /// The rejected contributions' uids and reasons.
    async fn rejections(&mut self) -> Result<Vec<(String, String)>>;
    async fn wait_key(&mut self, timeout: Duration) -> Result<api::NetworkKey>;
    async fn wait_query(&mut self, query_id: &[u8], timeout: Duration) -> Result<Outcome>;
}

impl DevNet for LocalNet {
    fn client(&self) -> CoordinatorClient<Channel> {
        self.client.clone()
    }

    async fn wait_up(&mut self, timeout: Duration) -> Result<api::Network> {
        Ok(LocalNet::wait_up(self, timeout).await?)
    }

    async fn create_dataset(&mut self, spec: &DatasetSpec) -> Result<()> {
        Ok(LocalNet::create_dataset(self, spec).await?)
    }

    async fn submission(
        &self,
        token: &str,
        spec: &DatasetSpec,
        keys: &[PublicKey; 3],
        behaviour: Provider,
    ) -> Result<api::SubmitContributionRequest> {
        Ok(LocalNet::submission(self, token, spec, keys, behaviour).await?)
    }

    async fn wait_decided(
        &mut self,
        dataset: &str,
        total: u64,
        timeout: Duration,
        progress: impl Fn(u64),
    ) -> Result<api::DatasetStatus> {
        Ok(LocalNet::wait_decided(self, dataset, total, timeout, progress).await?)
    }

    async fn rejections(&mut self) -> Result<Vec<(String, String)>> {
        Ok(LocalNet::rejections(self).await?)
    }

    async fn wait_key(&mut self, timeout: Duration) -> Result<api::NetworkKey> {
        Ok(LocalNet::wait_key(self, timeout).await?)
    }

    async fn wait_query(&mut self, query_id: &[u8], timeout: Duration) -> Result<Outcome> {
        match self.projector.wait_query(query_id, timeout).await {
            Ok(r) => Ok(Outcome::Published(Box::new(r))),
            Err(triad_projector::ProjectorError::Aborted { reason, .. }) => Ok(Outcome::Refused(reason)),
            Err(e) => Err(e.into()),
        }
    }
}

impl DevNet for Network {
    fn client(&self) -> CoordinatorClient<Channel> {
        self.client.clone()
    }

    async fn wait_up(&mut self, timeout: Duration) -> Result<api::Network> {
        Network::wait_up(self, timeout).await
    }

    async fn create_dataset(&mut self, spec: &DatasetSpec) -> Result<()> {
        Network::create_dataset(self, spec).await
    }

    async fn submission(
        &self,
        token: &str,
        spec: &DatasetSpec,
        keys: &[PublicKey; 3],
        behaviour: Provider,
    ) -> Result<api::SubmitContributionRequest> {
        Network::submission(self, token, spec, keys, behaviour).await
    }

    async fn wait_decided(
        &mut self,
        dataset: &str,
        total: u64,
        timeout: Duration,
        progress: impl Fn(u64),
    ) -> Result<api::DatasetStatus> {
        // The harness waits without progress; poll the counts here for the bar.
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let network = self.network().await?;
            let status =
                network.datasets.into_iter().find(|d| d.dataset.as_ref().is_some_and(|d| d.dataset_id == dataset));
            if let Some(d) = &status {
                progress(d.accepted + d.rejected);
                if d.accepted + d.rejected >= total && d.pending == 0 {
                    return Ok(d.clone());
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return Network::wait_decided(self, dataset, total, Duration::ZERO).await;
            }
            self.check_alive()?;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn rejections(&mut self) -> Result<Vec<(String, String)>> {
        let log = self.coordinator_log().await?;
        let mut uids = std::collections::HashMap::new();
        let mut out = Vec::new();
        for (_, kind) in log {
            match kind {
                Kind::ContributionSubmitted(s) => {
                    uids.insert(s.contribution_id.clone(), s.uid.clone());
                }
                Kind::ContributionRejected(r) => {
                    let uid = uids.get(&r.contribution_id).cloned().unwrap_or_else(|| hex::encode(&r.contribution_id));
                    let detail = if r.detail.is_empty() { String::new() } else { format!(" ({})", r.detail) };
                    out.push((uid, format!("{}{detail}", r.reason)));
                }
                _ => {}
            }
        }
        Ok(out)
    }

    async fn wait_key(&mut self, timeout: Duration) -> Result<api::NetworkKey> {
        Network::wait_key(self, 0, timeout).await
    }

    async fn wait_query(&mut self, query_id: &[u8], timeout: Duration) -> Result<Outcome> {
        let status = self.wait_status(query_id, timeout, |s| s.state == "published" || s.state == "aborted").await?;
        if status.state == "aborted" {
            return Ok(Outcome::Refused(status.reason));
        }
        let request = api::GetResultRequest { query_id: query_id.to_vec() };
        let result = self.query_api.get_result(request).await.map_err(|s| anyhow!("GetResult: {}", s.message()))?;
        Ok(Outcome::Published(Box::new(result.into_inner())))
    }
}
