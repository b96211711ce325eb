//! The projector: consumes every service's events through durable consumers
//! and builds the read models behind the consumers' gRPC query API
//! (`triad.api.v1.QueryApi`) and the web page: datasets, contribution counts,
//! query status, published results with their signatures. Any read model can
//! be rebuilt from position 0.
//!
//! Not built yet: this crate holds the place the design card gives it; the
//! full-network issue fills it.
