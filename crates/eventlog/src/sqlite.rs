//! The embedded event store: one SQLite file (or memory) per service, for the
//! single-process default. SQLite allows one writer at a time; a process-local
//! mutex orders our writers so they never meet `SQLITE_BUSY`, which makes
//! positions gapless and in commit order as in the PostgreSQL store.

use async_trait::async_trait;
use futures::future::BoxFuture;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{SqliteConnection, SqlitePool};
use std::path::Path;
use std::sync::Arc;
use tokio::sync::{Mutex, watch};
use uuid::Uuid;

use crate::error::StoreError;
use crate::model::{Append, Appended, RecordedEvent, validate_batch, validate_token};
use crate::postgres::{to_i64, to_u64};
use crate::row::{EventRow, select_events};
use crate::store::{Checkpoint, EventStore, Handled, RelayProgress, split_handled};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

/// An event store in a SQLite database.
#[derive(Clone)]
pub struct SqliteEventStore {
    pool: SqlitePool,
    service: String,
    head: watch::Sender<u64>,
    writer: Arc<Mutex<()>>,
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
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        Self::with_pool(pool, service).await
    }

    async fn with_pool(pool: SqlitePool, service: &str) -> Result<Self, StoreError> {
        validate_token("service", service)?;
        MIGRATOR.run(&pool).await?;
        let head: i64 = sqlx::query_scalar("SELECT position FROM log_head")
            .fetch_one(&pool)
            .await?;
        let (tx, _) = watch::channel(to_u64(head));
        Ok(Self {
            pool,
            service: service.to_owned(),
            head: tx,
            writer: Arc::new(Mutex::new(())),
            relay: Arc::new(Mutex::new(())),
        })
    }

    /// The connection pool, for a service's own read models.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Records the checkpoints not recorded before and appends those items'
    /// effects, in item order, in one transaction.
    async fn handle_batch(
        &self,
        items: Vec<(Checkpoint, Vec<Append>)>,
    ) -> Result<Vec<Handled>, StoreError> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let _w = self.writer.lock().await;
        let mut tx = self.pool.begin().await?;
        let mut fresh = Vec::with_capacity(items.len());
        let mut counts = Vec::with_capacity(items.len());
        let mut effects = Vec::new();
        for (c, e) in items {
            let new = sqlx::query("INSERT INTO processed (consumer, source, position) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
                .bind(&c.consumer)
                .bind(&c.source)
                .bind(to_i64(c.position))
                .execute(&mut *tx)
                .await?
                .rows_affected()
                == 1;
            if new {
                counts.push(e.len());
                effects.extend(e);
            }
            fresh.push(new);
        }
        let (appended, last) = if effects.is_empty() {
            (Vec::new(), None)
        } else {
            let (appended, last) = append_in(&mut tx, &effects).await?;
            (appended, Some(last))
        };
        tx.commit().await?;
        if let Some(last) = last {
            self.bump_head(last);
        }
        Ok(split_handled(&fresh, &counts, appended))
    }

    fn bump_head(&self, last: u64) {
        crate::store::advance(&self.head, last);
    }

    /// The acked floor of the in-process bus's durable consumer `name`.
    pub(crate) async fn consumer_floor(&self, name: &str) -> Result<u64, StoreError> {
        let f: Option<i64> = sqlx::query_scalar("SELECT floor FROM bus_consumers WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(f.map_or(0, to_u64))
    }

    /// Moves the acked floor of the in-process bus's durable consumer `name`.
    pub(crate) async fn set_consumer_floor(
        &self,
        name: &str,
        floor: u64,
    ) -> Result<(), StoreError> {
        let _w = self.writer.lock().await;
        sqlx::query(
            "INSERT INTO bus_consumers (name, floor) VALUES ($1, $2)
             ON CONFLICT (name) DO UPDATE SET floor = max(floor, excluded.floor)",
        )
        .bind(name)
        .bind(to_i64(floor))
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

async fn append_in(
    conn: &mut SqliteConnection,
    batch: &[Append],
) -> Result<(Vec<Appended>, u64), StoreError> {
    validate_batch(batch)?;
    let total: i64 = batch.iter().map(|a| a.events.len() as i64).sum();
    let mut head: i64 = sqlx::query_scalar("SELECT position FROM log_head")
        .fetch_one(&mut *conn)
        .await?;
    let mut results = Vec::with_capacity(batch.len());
    for a in batch {
        let n = a.events.len() as i64;
        let current: i64 = sqlx::query_scalar("SELECT version FROM streams WHERE stream = $1")
            .bind(&a.stream)
            .fetch_optional(&mut *conn)
            .await?
            .unwrap_or(0);
        if let Some(expected) = a.expected.pinned()
            && to_i64(expected) != current
        {
            return Err(StoreError::Conflict {
                stream: a.stream.clone(),
                expected,
                actual: to_u64(current),
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
            version: to_u64(current + n),
            first_position: to_u64(first_position),
            last_position: to_u64(head),
        });
    }
    debug_assert_eq!(
        results
            .iter()
            .map(|r| r.last_position - r.first_position + 1)
            .sum::<u64>() as i64,
        total
    );
    sqlx::query("UPDATE log_head SET position = $1")
        .bind(head)
        .execute(&mut *conn)
        .await?;
    Ok((results, to_u64(head)))
}

fn duplicate_or(e: sqlx::Error, id: Uuid) -> StoreError {
    if let sqlx::Error::Database(db) = &e
        && db.message().contains("events.event_id")
    {
        return StoreError::DuplicateEvent(id);
    }
    StoreError::Database(e)
}

#[async_trait]
impl EventStore for SqliteEventStore {
    fn service(&self) -> &str {
        &self.service
    }

    async fn append(&self, batch: Vec<Append>) -> Result<Vec<Appended>, StoreError> {
        let _w = self.writer.lock().await;
        let mut tx = self.pool.begin().await?;
        let (results, last) = append_in(&mut tx, &batch).await?;
        tx.commit().await?;
        self.bump_head(last);
        Ok(results)
    }

    async fn load(
        &self,
        stream: &str,
        after_version: u64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let rows = sqlx::query_as::<_, EventRow>(select_events!(
            "WHERE stream = $1 AND version > $2 ORDER BY version"
        ))
        .bind(stream)
        .bind(to_i64(after_version))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| r.into_event(&self.service))
            .collect())
    }

    async fn read_all(&self, after: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        let rows = sqlx::query_as::<_, EventRow>(select_events!(
            "WHERE position > $1 ORDER BY position LIMIT $2"
        ))
        .bind(to_i64(after))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| r.into_event(&self.service))
            .collect())
    }

    async fn head(&self) -> Result<u64, StoreError> {
        let head: i64 = sqlx::query_scalar("SELECT position FROM log_head")
            .fetch_one(&self.pool)
            .await?;
        Ok(to_u64(head))
    }

    fn watch_head(&self) -> watch::Receiver<u64> {
        self.head.subscribe()
    }

    async fn relay_batch(
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
            let _w = self.writer.lock().await;
            sqlx::query("UPDATE outbox_cursor SET position = $1")
                .bind(to_i64(new_cursor))
                .execute(&self.pool)
                .await?;
        }
        Ok(Some(RelayProgress {
            offered: events.len(),
            cursor: new_cursor,
        }))
    }

    async fn published(&self) -> Result<u64, StoreError> {
        let p: i64 = sqlx::query_scalar("SELECT position FROM outbox_cursor")
            .fetch_one(&self.pool)
            .await?;
        Ok(to_u64(p))
    }

    async fn apply_once(
        &self,
        checkpoint: &Checkpoint,
        effects: Vec<Append>,
    ) -> Result<Handled, StoreError> {
        let mut handled = self
            .handle_batch(vec![(checkpoint.clone(), effects)])
            .await?;
        Ok(handled.pop().unwrap_or(Handled::AlreadyHandled))
    }

    async fn apply_batch_once(
        &self,
        items: Vec<(Checkpoint, Vec<Append>)>,
    ) -> Result<Vec<bool>, StoreError> {
        Ok(self
            .handle_batch(items)
            .await?
            .into_iter()
            .map(|h| matches!(h, Handled::Applied(_)))
            .collect())
    }

    async fn last_handled(&self, consumer: &str, source: &str) -> Result<u64, StoreError> {
        let p: Option<i64> = sqlx::query_scalar(
            "SELECT max(position) FROM processed WHERE consumer = $1 AND source = $2",
        )
        .bind(consumer)
        .bind(source)
        .fetch_one(&self.pool)
        .await?;
        Ok(p.map_or(0, to_u64))
    }
}
