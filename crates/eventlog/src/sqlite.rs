//! The embedded event store: one SQLite file (or memory) per service, for the
//! single-process default. SQLite allows one writer at a time; a process-local
//! mutex orders our writers so they never meet `SQLITE_BUSY`, which makes
//! positions gapless and in commit order as in the PostgreSQL store.

use futures::future::BoxFuture;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqliteConnection, SqlitePool};
use std::path::Path;
use std::sync::Arc;
use tokio::sync::Mutex;
use uuid::Uuid;

use crate::error::StoreError;
use crate::model::{Append, Appended, RecordedEvent, validate_batch, validate_token};
use crate::sql::{Dialect, SqlCore, bound, sql_event_store, to_i64, to_u64};
use crate::store::{Checkpoint, EventStore, RelayProgress};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

/// An event store in a SQLite database.
#[derive(Clone)]
pub struct SqliteEventStore {
    core: SqlCore<Sqlite>,
    relay: Arc<Mutex<()>>,
}

impl SqliteEventStore {
    /// Opens (creating if needed) the database file at `path` for `service`.
    pub async fn open(path: &Path, service: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // In WAL mode NORMAL survives a process crash; a power loss may
            // lose the last transactions. The embedded backend is for
            // development and demos; production uses PostgreSQL.
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(std::time::Duration::from_secs(10));
        let pool = SqlitePoolOptions::new().max_connections(4).connect_with(options).await?;
        Self::with_pool(pool, service).await
    }

    async fn with_pool(pool: SqlitePool, service: &str) -> Result<Self, StoreError> {
        validate_token("service", service)?;
        MIGRATOR.run(&pool).await?;
        Ok(Self { core: SqlCore::new(pool, service, true).await?, relay: Arc::new(Mutex::new(())) })
    }

    /// The connection pool, for a service's own read models.
    pub fn pool(&self) -> &SqlitePool {
        &self.core.pool
    }

    /// The acked floor of the in-process bus's durable consumer `name`.
    pub(crate) async fn consumer_floor(&self, name: &str) -> Result<u64, StoreError> {
        let f: Option<i64> = sqlx::query_scalar("SELECT floor FROM bus_consumers WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.core.pool)
            .await?;
        f.map_or(Ok(0), |f| to_u64("bus_consumers.floor", f))
    }

    /// Moves the acked floor of the in-process bus's durable consumer `name`.
    pub(crate) async fn set_consumer_floor(&self, name: &str, floor: u64) -> Result<(), StoreError> {
        let floor = to_i64("bus_consumers.floor", floor)?;
        let _turn = self.core.write_turn().await;
        sqlx::query(
            "INSERT INTO bus_consumers (name, floor) VALUES ($1, $2)
             ON CONFLICT (name) DO UPDATE SET floor = max(floor, excluded.floor)",
        )
        .bind(name)
        .bind(floor)
        .execute(&self.core.pool)
        .await?;
        Ok(())
    }
}

impl Dialect for Sqlite {
    const BEGIN_WRITE: &'static str = "BEGIN IMMEDIATE";

    async fn record_checkpoints(
        conn: &mut SqliteConnection,
        checkpoints: &[&Checkpoint],
    ) -> Result<Vec<bool>, StoreError> {
        let mut fresh = Vec::with_capacity(checkpoints.len());
        for c in checkpoints {
            let new = sqlx::query(
                "INSERT INTO processed (consumer, source, position) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            )
            .bind(&c.consumer)
            .bind(&c.source)
            .bind(to_i64("processed.position", c.position)?)
            .execute(&mut *conn)
            .await?
            .rows_affected()
                == 1;
            fresh.push(new);
        }
        Ok(fresh)
    }

    async fn append_in(conn: &mut SqliteConnection, batch: &[Append]) -> Result<(Vec<Appended>, u64), StoreError> {
        append_in(conn, batch).await
    }
}

async fn append_in(conn: &mut SqliteConnection, batch: &[Append]) -> Result<(Vec<Appended>, u64), StoreError> {
    validate_batch(batch)?;
    let total: i64 = batch.iter().map(|a| a.events.len() as i64).sum();
    // Writers are serialised (`BEGIN IMMEDIATE`): a claim is an insert that must add a row.
    for key in crate::model::batch_claims(batch)? {
        let taken = sqlx::query("INSERT INTO claims (key) VALUES ($1) ON CONFLICT (key) DO NOTHING")
            .bind(key)
            .execute(&mut *conn)
            .await?
            .rows_affected();
        if taken != 1 {
            return Err(StoreError::Claimed { key: key.to_owned() });
        }
    }
    let mut head: i64 = sqlx::query_scalar("SELECT position FROM log_head").fetch_one(&mut *conn).await?;
    let mut results = Vec::with_capacity(batch.len());
    for a in batch {
        let n = a.events.len() as i64;
        let current: i64 = sqlx::query_scalar("SELECT version FROM streams WHERE stream = $1")
            .bind(&a.stream)
            .fetch_optional(&mut *conn)
            .await?
            .unwrap_or(0);
        if let Some(expected) = a.expected.pinned()
            && bound(expected) != current
        {
            return Err(StoreError::Conflict {
                stream: a.stream.clone(),
                expected,
                actual: to_u64("streams.version", current)?,
            });
        }
        sqlx::query("INSERT INTO streams (stream, version) VALUES ($1, $2) ON CONFLICT (stream) DO UPDATE SET version = excluded.version")
            .bind(&a.stream)
            .bind(current + n)
            .execute(&mut *conn)
            .await?;
        let first_position = head + 1;
        for (k, e) in a.events.iter().enumerate() {
            head += 1;
            let r = sqlx::query(
                "INSERT INTO events (position, stream, version, event_id, event_type, schema_version,
                                     causation_id, correlation_id, occurred_at, payload)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(head)
            .bind(&a.stream)
            .bind(current + 1 + k as i64)
            .bind(e.id)
            .bind(&e.event_type)
            .bind(e.schema_version as i64)
            .bind(e.causation_id)
            .bind(e.correlation_id)
            .bind(e.occurred_at)
            .bind(e.payload.as_ref())
            .execute(&mut *conn)
            .await;
            if let Err(err) = r {
                return Err(duplicate_or(err, e.id));
            }
        }
        results.push(Appended {
            version: to_u64("streams.version", current + n)?,
            first_position: to_u64("events.position", first_position)?,
            last_position: to_u64("events.position", head)?,
        });
    }
    debug_assert_eq!(results.iter().map(|r| r.last_position - r.first_position + 1).sum::<u64>() as i64, total);
    sqlx::query("UPDATE log_head SET position = $1").bind(head).execute(&mut *conn).await?;
    Ok((results, to_u64("log_head.position", head)?))
}

fn duplicate_or(e: sqlx::Error, id: Uuid) -> StoreError {
    if let sqlx::Error::Database(db) = &e
        && db.message().contains("events.event_id")
    {
        return StoreError::DuplicateEvent(id);
    }
    StoreError::Database(e)
}

sql_event_store!(SqliteEventStore);

impl SqliteEventStore {
    /// [`crate::EventStore::relay_batch`].
    async fn relay_once(
        &self,
        limit: usize,
        publish: &mut (dyn for<'a> FnMut(&'a [RecordedEvent]) -> BoxFuture<'a, Option<u64>> + Send),
    ) -> Result<Option<RelayProgress>, StoreError> {
        // One process owns an embedded store, so a local lock is the claim.
        let Ok(_claim) = self.relay.try_lock() else {
            return Ok(None);
        };
        let cursor = self.published().await?;
        let events = self.read_all(cursor, limit).await?;
        if events.is_empty() {
            return Ok(Some(RelayProgress { offered: 0, cursor }));
        }
        let confirmed = publish(&events).await;
        let new_cursor = confirmed.filter(|&p| p > cursor).unwrap_or(cursor);
        if new_cursor > cursor {
            let position = to_i64("outbox_cursor.position", new_cursor)?;
            let _turn = self.core.write_turn().await;
            sqlx::query("UPDATE outbox_cursor SET position = $1").bind(position).execute(&self.core.pool).await?;
        }
        Ok(Some(RelayProgress { offered: events.len(), cursor: new_cursor }))
    }
}
