//! The PostgreSQL event store: one database per service.
//!
//! Appends compare-and-set each stream's version in `streams` (sorted by name,
//! so concurrent multi-stream appends cannot deadlock), then take positions
//! from `log_head` under its row lock. That lock is held until commit, which
//! makes one store single-writer: positions are gapless and in commit order,
//! and readers never see position p+1 before p. Throughput comes from batching
//! (one transaction per batch), not from concurrent writers.

use futures::future::BoxFuture;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool, Postgres};
use std::str::FromStr;
use uuid::Uuid;

use crate::error::StoreError;
use crate::model::{Append, Appended, ExpectedVersion, RecordedEvent, validate_token};
use crate::sql::{Dialect, SqlCore, bound, sql_event_store, to_i64, to_u64};
use crate::store::{Checkpoint, RelayProgress};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// An event store in a PostgreSQL database.
#[derive(Clone)]
pub struct PgEventStore {
    core: SqlCore<Postgres>,
}

impl PgEventStore {
    /// Connects to `url`, runs the embedded migrations, and serves `service`.
    pub async fn connect(url: &str, service: &str) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)?;
        let pool = PgPoolOptions::new().max_connections(16).connect_with(options).await?;
        Self::with_pool(pool, service).await
    }

    /// Serves `service` from an existing pool, running migrations first.
    pub async fn with_pool(pool: PgPool, service: &str) -> Result<Self, StoreError> {
        validate_token("service", service)?;
        MIGRATOR.run(&pool).await?;
        // PostgreSQL orders writers itself, by the `log_head` row lock.
        Ok(Self { core: SqlCore::new(pool, service, false).await? })
    }

    /// The connection pool, for a service's own read models.
    pub fn pool(&self) -> &PgPool {
        &self.core.pool
    }

    /// Creates database `name` on the server at `admin_url` if it is missing.
    pub async fn create_database(admin_url: &str, name: &str) -> Result<(), StoreError> {
        validate_token("database", name)?;
        let mut conn = PgConnection::connect(admin_url).await?;
        let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(name)
            .fetch_one(&mut conn)
            .await?;
        if !exists {
            // Identifiers cannot be bound; `name` is checked to be [a-z0-9_]+.
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut conn).await?;
        }
        Ok(())
    }

    /// Drops database `name` (for tests), closing other connections to it.
    pub async fn drop_database(admin_url: &str, name: &str) -> Result<(), StoreError> {
        validate_token("database", name)?;
        let mut conn = PgConnection::connect(admin_url).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
            .execute(&mut conn)
            .await?;
        Ok(())
    }
}

impl Dialect for Postgres {
    async fn record_checkpoints(conn: &mut PgConnection, checkpoints: &[&Checkpoint]) -> Result<Vec<bool>, StoreError> {
        let consumers: Vec<&str> = checkpoints.iter().map(|c| c.consumer.as_str()).collect();
        let sources: Vec<&str> = checkpoints.iter().map(|c| c.source.as_str()).collect();
        let positions =
            checkpoints.iter().map(|c| to_i64("processed.position", c.position)).collect::<Result<Vec<i64>, _>>()?;
        let recorded: Vec<(String, String, i64)> = sqlx::query_as(
            "INSERT INTO processed (consumer, source, position)
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::bigint[])
             ON CONFLICT DO NOTHING RETURNING consumer, source, position",
        )
        .bind(&consumers)
        .bind(&sources)
        .bind(&positions)
        .fetch_all(&mut *conn)
        .await?;
        let recorded: std::collections::HashSet<(String, String, i64)> = recorded.into_iter().collect();
        Ok(checkpoints
            .iter()
            .zip(positions)
            .map(|(c, p)| recorded.contains(&(c.consumer.clone(), c.source.clone(), p)))
            .collect())
    }

    async fn append_in(conn: &mut PgConnection, batch: &[Append]) -> Result<(Vec<Appended>, u64), StoreError> {
        append_in(conn, batch).await
    }
}

/// Appends `batch` inside the caller's transaction; returns the results in
/// input order and the last position written.
async fn append_in(conn: &mut PgConnection, batch: &[Append]) -> Result<(Vec<Appended>, u64), StoreError> {
    crate::model::validate_batch(batch)?;
    let total: i64 = batch.iter().map(|a| a.events.len() as i64).sum();

    // Compare-and-set every stream's version, in name order (no deadlocks).
    let mut order: Vec<usize> = (0..batch.len()).collect();
    order.sort_by(|&a, &b| batch[a].stream.cmp(&batch[b].stream));
    let mut new_versions = vec![0u64; batch.len()];
    for &i in &order {
        let a = &batch[i];
        let n = a.events.len() as i64;
        let version: Option<i64> = match a.expected {
            ExpectedVersion::Any => Some(
                sqlx::query_scalar(
                    "INSERT INTO streams (stream, version) VALUES ($1, $2)
                     ON CONFLICT (stream) DO UPDATE SET version = streams.version + $2
                     RETURNING version",
                )
                .bind(&a.stream)
                .bind(n)
                .fetch_one(&mut *conn)
                .await?,
            ),
            ExpectedVersion::NoStream | ExpectedVersion::Exact(0) => {
                sqlx::query_scalar(
                    "INSERT INTO streams (stream, version) VALUES ($1, $2)
                     ON CONFLICT (stream) DO NOTHING RETURNING version",
                )
                .bind(&a.stream)
                .bind(n)
                .fetch_optional(&mut *conn)
                .await?
            }
            ExpectedVersion::Exact(v) => {
                sqlx::query_scalar(
                    "UPDATE streams SET version = version + $3
                     WHERE stream = $1 AND version = $2 RETURNING version",
                )
                .bind(&a.stream)
                .bind(bound(v))
                .bind(n)
                .fetch_optional(&mut *conn)
                .await?
            }
        };
        match version {
            Some(v) => new_versions[i] = to_u64("streams.version", v)?,
            None => {
                let actual: Option<i64> = sqlx::query_scalar("SELECT version FROM streams WHERE stream = $1")
                    .bind(&a.stream)
                    .fetch_optional(&mut *conn)
                    .await?;
                return Err(StoreError::Conflict {
                    stream: a.stream.clone(),
                    expected: a.expected.pinned().unwrap_or(0),
                    actual: actual.map_or(Ok(0), |v| to_u64("streams.version", v))?,
                });
            }
        }
    }

    // Take positions last: the head row lock is held until commit.
    let last: i64 = sqlx::query_scalar("UPDATE log_head SET position = position + $1 RETURNING position")
        .bind(total)
        .fetch_one(&mut *conn)
        .await?;
    let mut position = last - total;

    let cap = total as usize;
    let mut positions = Vec::with_capacity(cap);
    let mut streams = Vec::with_capacity(cap);
    let mut versions = Vec::with_capacity(cap);
    let mut ids = Vec::with_capacity(cap);
    let mut types = Vec::with_capacity(cap);
    let mut schemas = Vec::with_capacity(cap);
    let mut causations: Vec<Option<Uuid>> = Vec::with_capacity(cap);
    let mut correlations: Vec<Option<Uuid>> = Vec::with_capacity(cap);
    let mut occurred = Vec::with_capacity(cap);
    let mut payloads: Vec<&[u8]> = Vec::with_capacity(cap);
    let mut results = Vec::with_capacity(batch.len());
    for (a, new_version) in batch.iter().zip(&new_versions) {
        let first_version = new_version - a.events.len() as u64 + 1;
        let first_position = position + 1;
        for (k, e) in a.events.iter().enumerate() {
            position += 1;
            positions.push(position);
            streams.push(a.stream.as_str());
            versions.push(to_i64("events.version", first_version + k as u64)?);
            ids.push(e.id);
            types.push(e.event_type.as_str());
            schemas.push(e.schema_version as i32);
            causations.push(e.causation_id);
            correlations.push(e.correlation_id);
            occurred.push(e.occurred_at);
            payloads.push(&e.payload);
        }
        results.push(Appended {
            version: *new_version,
            first_position: to_u64("events.position", first_position)?,
            last_position: to_u64("events.position", position)?,
        });
    }
    let inserted = sqlx::query(
        "INSERT INTO events (position, stream, version, event_id, event_type, schema_version,
                             causation_id, correlation_id, occurred_at, payload)
         SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::bigint[], $4::uuid[], $5::text[],
                              $6::int[], $7::uuid[], $8::uuid[], $9::bigint[], $10::bytea[])",
    )
    .bind(&positions)
    .bind(&streams)
    .bind(&versions)
    .bind(&ids)
    .bind(&types)
    .bind(&schemas)
    .bind(&causations)
    .bind(&correlations)
    .bind(&occurred)
    .bind(&payloads)
    .execute(&mut *conn)
    .await;
    if let Err(e) = inserted {
        return Err(duplicate_or(e, &ids));
    }
    Ok((results, to_u64("log_head.position", last)?))
}

/// Maps a unique violation on `event_id` to [`StoreError::DuplicateEvent`].
fn duplicate_or(e: sqlx::Error, ids: &[Uuid]) -> StoreError {
    if let sqlx::Error::Database(db) = &e
        && db.constraint() == Some("events_event_id_key")
    {
        // Which id collided is not reported per row; name the first of the batch.
        return StoreError::DuplicateEvent(ids.first().copied().unwrap_or_default());
    }
    StoreError::Database(e)
}

sql_event_store!(PgEventStore);

impl PgEventStore {
    /// [`crate::EventStore::relay_batch`].
    async fn relay_once(
        &self,
        limit: usize,
        publish: &mut (dyn for<'a> FnMut(&'a [RecordedEvent]) -> BoxFuture<'a, Option<u64>> + Send),
    ) -> Result<Option<RelayProgress>, StoreError> {
        let mut tx = self.core.pool.begin().await?;
        // Relays of several instances take turns; the one holding the row publishes.
        let cursor: Option<i64> = sqlx::query_scalar("SELECT position FROM outbox_cursor FOR UPDATE SKIP LOCKED")
            .fetch_optional(&mut *tx)
            .await?;
        let Some(cursor) = cursor.map(|c| to_u64("outbox_cursor.position", c)).transpose()? else {
            return Ok(None);
        };
        let events = SqlCore::<Postgres>::read_after(&mut tx, &self.core.service, cursor, limit).await?;
        if events.is_empty() {
            return Ok(Some(RelayProgress { offered: 0, cursor }));
        }
        let confirmed = publish(&events).await;
        let new_cursor = confirmed.filter(|&p| p > cursor).unwrap_or(cursor);
        if new_cursor > cursor {
            sqlx::query("UPDATE outbox_cursor SET position = $1")
                .bind(to_i64("outbox_cursor.position", new_cursor)?)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(Some(RelayProgress { offered: events.len(), cursor: new_cursor }))
    }
}
