//! `triad.api.v1.QueryApi` over the read model.

use std::pin::Pin;
use std::sync::Arc;

use futures::Stream;
use tokio::sync::{broadcast, watch};
use tonic::{Request, Response, Status};
use triad_proto::api::v1::query_api_server::QueryApi;
use triad_proto::api::v1::{
    Dataset, GetDatasetRequest, GetQueryStatusRequest, GetResultRequest, ListDatasetsRequest, ListDatasetsResponse,
    ListResultsRequest, ListResultsResponse, QueryStatus, StreamResultsRequest,
};
use triad_proto::events::v1::ResultPublished;

use crate::fold::state;
use crate::{Inner, ProjectorError};

/// The query API's implementation (mount it with `QueryApiServer::new`, or use
/// [`crate::Projector::service`]).
#[derive(Clone)]
pub struct QueryService {
    inner: Arc<Inner>,
}

impl QueryService {
    pub(crate) fn new(inner: Arc<Inner>) -> Self {
        Self { inner }
    }
}

fn internal(e: ProjectorError) -> Status {
    tracing::error!(error = %e, "query API");
    Status::internal(e.to_string())
}

fn query_not_found(query_id: &[u8]) -> Status {
    Status::not_found(format!("query {} not found", hex::encode(query_id)))
}

type ResultStream = Pin<Box<dyn Stream<Item = Result<ResultPublished, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl QueryApi for QueryService {
    async fn list_datasets(
        &self,
        _request: Request<ListDatasetsRequest>,
    ) -> Result<Response<ListDatasetsResponse>, Status> {
        let datasets = self.inner.db.datasets().await.map_err(internal)?;
        Ok(Response::new(ListDatasetsResponse { datasets }))
    }

    async fn get_dataset(&self, request: Request<GetDatasetRequest>) -> Result<Response<Dataset>, Status> {
        let id = request.into_inner().dataset_id;
        match self.inner.db.dataset(&id).await.map_err(internal)? {
            Some(d) => Ok(Response::new(d)),
            None => Err(Status::not_found(format!("dataset `{id}` not found"))),
        }
    }

    async fn get_query_status(&self, request: Request<GetQueryStatusRequest>) -> Result<Response<QueryStatus>, Status> {
        let id = request.into_inner().query_id;
        match self.inner.db.query(&id).await.map_err(internal)? {
            Some(q) => Ok(Response::new(q)),
            None => Err(query_not_found(&id)),
        }
    }

    async fn get_result(&self, request: Request<GetResultRequest>) -> Result<Response<ResultPublished>, Status> {
        let id = request.into_inner().query_id;
        let Some(q) = self.inner.db.query(&id).await.map_err(internal)? else {
            return Err(query_not_found(&id));
        };
        if q.state == state::PUBLISHED
            && let Some(r) = self.inner.db.result(&id).await.map_err(internal)?
        {
            return Ok(Response::new(r));
        }
        let detail = if q.reason.is_empty() { String::new() } else { format!(": {}", q.reason) };
        Err(Status::failed_precondition(format!("query is {}{detail}", q.state)))
    }

    async fn list_results(
        &self,
        request: Request<ListResultsRequest>,
    ) -> Result<Response<ListResultsResponse>, Status> {
        let results = self.inner.db.results(&request.into_inner().dataset_id).await.map_err(internal)?;
        Ok(Response::new(ListResultsResponse { results }))
    }

    type StreamResultsStream = ResultStream;

    async fn stream_results(
        &self,
        request: Request<StreamResultsRequest>,
    ) -> Result<Response<Self::StreamResultsStream>, Status> {
        // Subscribed before the call returns: every result committed from here on is sent.
        let follow = Follow {
            results: self.inner.results.subscribe(),
            closing: self.inner.closing.subscribe(),
            dataset_id: request.into_inner().dataset_id,
            ended: false,
        };
        Ok(Response::new(Box::pin(futures::stream::unfold(follow, Follow::next))))
    }
}

/// One `StreamResults` call's state.
struct Follow {
    results: broadcast::Receiver<ResultPublished>,
    closing: watch::Receiver<bool>,
    dataset_id: String,
    ended: bool,
}

enum Next {
    Result(ResultPublished),
    Lagged(u64),
    Closing,
    Closed,
}

impl Follow {
    async fn next(mut self) -> Option<(Result<ResultPublished, Status>, Self)> {
        if self.ended {
            return None;
        }
        loop {
            let next = tokio::select! {
                _ = self.closing.wait_for(|c| *c) => Next::Closing,
                r = self.results.recv() => match r {
                    Ok(r) => Next::Result(r),
                    Err(broadcast::error::RecvError::Lagged(n)) => Next::Lagged(n),
                    Err(broadcast::error::RecvError::Closed) => Next::Closed,
                },
            };
            let item = match next {
                Next::Result(r) if self.dataset_id.is_empty() || r.dataset_id == self.dataset_id => Ok(r),
                Next::Result(_) => continue,
                Next::Lagged(n) => {
                    self.ended = true;
                    Err(Status::data_loss(format!(
                        "this stream fell {n} results behind and was ended; call ListResults and StreamResults again"
                    )))
                }
                Next::Closing => {
                    self.ended = true;
                    Err(Status::unavailable("the projector is shutting down"))
                }
                Next::Closed => return None,
            };
            return Some((item, self));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(dataset: &str, n: u8) -> ResultPublished {
        ResultPublished { query_id: vec![n], dataset_id: dataset.into(), ..Default::default() }
    }

    #[tokio::test]
    async fn a_stream_filters_by_dataset_and_a_lagging_one_ends_with_data_loss() {
        let (tx, rx) = broadcast::channel(2);
        let (closing, closing_rx) = watch::channel(false);
        let follow = Follow { results: rx, closing: closing_rx, dataset_id: "a".into(), ended: false };
        let _ = tx.send(result("b", 1));
        let _ = tx.send(result("a", 2));
        let (first, follow) = follow.next().await.unwrap_or_else(|| panic!("an item"));
        assert_eq!(first.ok(), Some(result("a", 2)));

        for n in 3..8 {
            let _ = tx.send(result("a", n));
        }
        let (lagged, follow) = follow.next().await.unwrap_or_else(|| panic!("an item"));
        assert_eq!(lagged.err().map(|s| s.code()), Some(tonic::Code::DataLoss));
        assert!(follow.next().await.is_none(), "ended after the loss");

        let rx = tx.subscribe();
        let follow = Follow { results: rx, closing: closing.subscribe(), dataset_id: String::new(), ended: false };
        closing.send_replace(true);
        let (end, follow) = follow.next().await.unwrap_or_else(|| panic!("an item"));
        assert_eq!(end.err().map(|s| s.code()), Some(tonic::Code::Unavailable));
        assert!(follow.next().await.is_none());
    }
}
