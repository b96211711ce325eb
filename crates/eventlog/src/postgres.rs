//! The PostgreSQL event store: one database per service.
//!
//! Appends compare-and-set the streams' versions in `streams` (locked in name order,
//! so concurrent multi-stream appends cannot deadlock), then take positions
//! from `log_head` under its row lock. That lock is held until commit, which
//! makes one store single-writer: positions are gapless and in commit order,
//! and readers never see position p+1 before p. Throughput comes from batching
//! (one transaction per batch), not from concurrent writers.

use futures::future::BoxFuture;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool, Postgres};
use std::collections::HashMap;
use std::str::FromStr;
use uuid::Uuid;

use crate::error::StoreError;
use crate::model::{Append, Appended, RecordedEvent, validate_token};
use crate::sql::{Dialect, SqlCore, sql_event_store, to_i64, to_u64};
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
    const BEGIN_WRITE: &'static str = "BEGIN";

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

/// The first of `wanted` that an `INSERT .. ON CONFLICT DO NOTHING RETURNING` did not return
/// (another writer had it first), if any.
fn first_missing<'a>(wanted: &[&'a str], returned: &[String]) -> Option<&'a str> {
    if returned.len() == wanted.len() {
        return None;
    }
    let returned: std::collections::HashSet<&str> = returned.iter().map(String::as_str).collect();
    wanted.iter().find(|w| !returned.contains(**w)).copied()
}

/// Appends `batch` inside the caller's transaction; returns the results in
/// input order and the last position written.
async fn append_in(conn: &mut PgConnection, batch: &[Append]) -> Result<(Vec<Appended>, u64), StoreError> {
    crate::model::validate_batch(batch)?;
    let total: i64 = batch.iter().map(|a| a.events.len() as i64).sum();

    // Claims first, in key order, then streams in name order: one order for every writer. A
    // key another writer is claiming makes this insert wait for its commit, then do nothing.
    let claims = crate::model::batch_claims(batch)?;
    if !claims.is_empty() {
        let taken: Vec<String> = sqlx::query_scalar(
            "INSERT INTO claims (key) SELECT * FROM UNNEST($1::text[]) ON CONFLICT (key) DO NOTHING RETURNING key",
        )
        .bind(&claims)
        .fetch_all(&mut *conn)
        .await?;
        if let Some(lost) = first_missing(&claims, &taken) {
            return Err(StoreError::Claimed { key: lost.to_owned() });
        }
    }

    // Compare-and-set every stream's version in a few statements whatever the batch's size
    // (a batch of 2,048 verdicts used to take 2,048 round trips): lock the streams that exist,
    // in name order (`ORDER BY` under `FOR UPDATE` locks in that order, so concurrent
    // multi-stream appends cannot deadlock), check each expectation here in batch order (a
    // stream named twice sees its first append), then write the new versions. A stream that
    // only `Any` appends name is upserted on its own, as before: it must not fail when another
    // writer creates it concurrently.
    let mut pinned: HashMap<&str, bool> = HashMap::with_capacity(batch.len());
    let mut totals: HashMap<&str, u64> = HashMap::with_capacity(batch.len());
    for a in batch {
        *pinned.entry(a.stream.as_str()).or_insert(false) |= a.expected.pinned().is_some();
        *totals.entry(a.stream.as_str()).or_insert(0) += a.events.len() as u64;
    }
    let mut names: Vec<&str> = pinned.iter().filter(|(_, p)| **p).map(|(n, _)| *n).collect();
    names.sort_unstable();
    let mut any_only: Vec<&str> = pinned.iter().filter(|(_, p)| !**p).map(|(n, _)| *n).collect();
    any_only.sort_unstable();
    // A join, not `stream = ANY($1)`: that rechecks every row against the whole array. Planned
    // on every call (`persistent(false)`): a cached generic plan, made while `streams` was small
    // and never analysed, hash-joins a full scan of it, and the table grows by every
    // contribution (a 10^4 run scanned 3.5 million rows, 4 to 20 ms a group commit).
    let locked: Vec<(String, i64)> = sqlx::query_as(
        "SELECT s.stream, s.version FROM UNNEST($1::text[]) AS u(stream)
         JOIN streams s ON s.stream = u.stream ORDER BY s.stream FOR UPDATE OF s",
    )
    .persistent(false)
    .bind(&names)
    .fetch_all(&mut *conn)
    .await?;
    let existing: HashMap<String, u64> =
        locked.into_iter().map(|(s, v)| Ok((s, to_u64("streams.version", v)?))).collect::<Result<_, StoreError>>()?;
    let mut current: HashMap<&str, u64> = HashMap::with_capacity(pinned.len());
    for name in any_only {
        let n = totals.get(name).copied().unwrap_or(0);
        let after: i64 = sqlx::query_scalar(
            "INSERT INTO streams (stream, version) VALUES ($1, $2)
             ON CONFLICT (stream) DO UPDATE SET version = streams.version + $2
             RETURNING version",
        )
        .bind(name)
        .bind(to_i64("streams.version", n)?)
        .fetch_one(&mut *conn)
        .await?;
        current.insert(name, to_u64("streams.version", after)?.saturating_sub(n));
    }
    let mut new_versions = Vec::with_capacity(batch.len());
    for a in batch {
        let now = current.get(a.stream.as_str()).copied().or_else(|| existing.get(&a.stream).copied()).unwrap_or(0);
        if let Some(expected) = a.expected.pinned()
            && expected != now
        {
            return Err(StoreError::Conflict { stream: a.stream.clone(), expected, actual: now });
        }
        let next = now + a.events.len() as u64;
        current.insert(a.stream.as_str(), next);
        new_versions.push(next);
    }
    let mut updated: Vec<(&str, i64)> = Vec::new();
    let mut created: Vec<(&str, i64)> = Vec::new();
    for name in &names {
        let version = to_i64("streams.version", current.get(name).copied().unwrap_or(0))?;
        if existing.contains_key(*name) { updated.push((name, version)) } else { created.push((name, version)) }
    }
    if !updated.is_empty() {
        let (s, v): (Vec<&str>, Vec<i64>) = updated.into_iter().unzip();
        sqlx::query(
            "UPDATE streams SET version = u.version
             FROM UNNEST($1::text[], $2::bigint[]) AS u(stream, version) WHERE streams.stream = u.stream",
        )
        .persistent(false)
        .bind(&s)
        .bind(&v)
        .execute(&mut *conn)
        .await?;
    }
    if !created.is_empty() {
        // In name order, as the locks above: a stream another writer created since is a
        // conflict (its insert waits for that writer's commit, then does nothing).
        let (s, v): (Vec<&str>, Vec<i64>) = created.into_iter().unzip();
        let inserted: Vec<String> = sqlx::query_scalar(
            "INSERT INTO streams (stream, version) SELECT * FROM UNNEST($1::text[], $2::bigint[])
             ON CONFLICT (stream) DO NOTHING RETURNING stream",
        )
        .bind(&s)
        .bind(&v)
        .fetch_all(&mut *conn)
        .await?;
        if let Some(lost) = first_missing(&s, &inserted) {
            let actual: Option<i64> = sqlx::query_scalar("SELECT version FROM streams WHERE stream = $1")
                .bind(lost)
                .fetch_optional(&mut *conn)
                .await?;
            let expected = batch.iter().find(|a| a.stream == lost).and_then(|a| a.expected.pinned()).unwrap_or(0);
            return Err(StoreError::Conflict {
                stream: lost.to_owned(),
                expected,
                actual: actual.map_or(Ok(0), |v| to_u64("streams.version", v))?,
            });
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
            // The cursor is only a lower bound of what the bus holds: if a crash loses this
            // commit, the events after the older cursor are published again with their ids, which
            // the bus and the handlers' checkpoints drop. So this commit need not wait for its WAL
            // flush (the next append's flush carries it). It writes nothing but the cursor, so
            // nobody can have seen something that such a crash takes back.
            sqlx::query("SET LOCAL synchronous_commit = off").execute(&mut *tx).await?;
            sqlx::query("UPDATE outbox_cursor SET position = $1")
                .bind(to_i64("outbox_cursor.position", new_cursor)?)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(Some(RelayProgress { offered: events.len(), cursor: new_cursor }))
    }
}
