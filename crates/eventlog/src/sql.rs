//! What the PostgreSQL and the SQLite store share: the reads, appends and
//! checkpointed handling around each backend's own SQL, and the conversions
//! of positions and versions between `u64` and the `BIGINT` columns.
//!
//! A backend supplies what differs as a [`Dialect`] of its sqlx `Database`:
//! how it records checkpoints and how it appends inside a transaction.

use std::future::Future;
use std::sync::Arc;

use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, FromRow, IntoArguments, Pool, Type};
use tokio::sync::{Mutex, MutexGuard, watch};

use crate::error::StoreError;
use crate::model::{Append, Appended, RecordedEvent};
use crate::row::{EventRow, select_events};
use crate::store::{Checkpoint, Handled, split_handled};

/// The SQL a backend writes its own way.
pub(crate) trait Dialect: Database {
    /// How a write transaction begins. SQLite's must take the write lock at once: a deferred
    /// transaction that reads first and then writes fails with SQLITE_BUSY ("database is
    /// locked", no busy wait) when another connection to the file wrote in between.
    const BEGIN_WRITE: &'static str;

    /// Records the checkpoints in one statement or several, inside the
    /// caller's transaction; returns, in order, whether each was new.
    fn record_checkpoints(
        conn: &mut Self::Connection,
        checkpoints: &[&Checkpoint],
    ) -> impl Future<Output = Result<Vec<bool>, StoreError>> + Send;

    /// Appends `batch` inside the caller's transaction; returns the results
    /// in input order and the last position written.
    fn append_in(
        conn: &mut Self::Connection,
        batch: &[Append],
    ) -> impl Future<Output = Result<(Vec<Appended>, u64), StoreError>> + Send;
}

/// The state and operations both SQL stores share.
pub(crate) struct SqlCore<DB: Database> {
    pub(crate) pool: Pool<DB>,
    pub(crate) service: String,
    head: watch::Sender<u64>,
    /// Where writers take turns in-process (SQLite: one writer at a time,
    /// and never `SQLITE_BUSY`); `None` where the database orders them.
    writer: Option<Arc<Mutex<()>>>,
}

impl<DB: Database> Clone for SqlCore<DB> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
            service: self.service.clone(),
            head: self.head.clone(),
            writer: self.writer.clone(),
        }
    }
}

impl<DB: Dialect> SqlCore<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    i64: Type<DB> + for<'q> Encode<'q, DB> + for<'r> Decode<'r, DB>,
    for<'q> &'q str: Type<DB> + Encode<'q, DB>,
    usize: ColumnIndex<DB::Row>,
    for<'r> EventRow: FromRow<'r, DB::Row>,
{
    /// Serves `service` from a migrated `pool`; `serialize_writers` makes
    /// writers of this process take turns.
    pub(crate) async fn new(pool: Pool<DB>, service: &str, serialize_writers: bool) -> Result<Self, StoreError> {
        let head = position_of(&pool, "SELECT position FROM log_head", "log_head.position").await?;
        let (head, _) = watch::channel(head);
        Ok(Self {
            pool,
            service: service.to_owned(),
            head,
            writer: serialize_writers.then(|| Arc::new(Mutex::new(()))),
        })
    }

    /// This process's turn to write, where writers take turns.
    pub(crate) async fn write_turn(&self) -> Option<MutexGuard<'_, ()>> {
        match &self.writer {
            Some(writer) => Some(writer.lock().await),
            None => None,
        }
    }

    fn bump_head(&self, last: u64) {
        crate::store::advance(&self.head, last);
    }

    /// A receiver of the head after each local append.
    pub(crate) fn watch_head(&self) -> watch::Receiver<u64> {
        self.head.subscribe()
    }

    /// Appends `batch` in one transaction.
    pub(crate) async fn append(&self, batch: Vec<Append>) -> Result<Vec<Appended>, StoreError> {
        let _turn = self.write_turn().await;
        let mut tx = self.pool.begin_with(DB::BEGIN_WRITE).await?;
        let (results, last) = DB::append_in(&mut tx, &batch).await?;
        tx.commit().await?;
        self.bump_head(last);
        Ok(results)
    }

    /// Records the checkpoints not recorded before and appends those items'
    /// effects, in item order, in one transaction.
    pub(crate) async fn handle_batch(&self, items: Vec<(Checkpoint, Vec<Append>)>) -> Result<Vec<Handled>, StoreError> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let _turn = self.write_turn().await;
        let mut tx = self.pool.begin_with(DB::BEGIN_WRITE).await?;
        let checkpoints: Vec<&Checkpoint> = items.iter().map(|(c, _)| c).collect();
        let fresh = DB::record_checkpoints(&mut tx, &checkpoints).await?;
        let mut counts = Vec::with_capacity(items.len());
        let mut effects = Vec::new();
        for ((_, e), &new) in items.into_iter().zip(&fresh) {
            if new {
                counts.push(e.len());
                effects.extend(e);
            }
        }
        let (appended, last) = if effects.is_empty() {
            (Vec::new(), None)
        } else {
            let (appended, last) = DB::append_in(&mut tx, &effects).await?;
            (appended, Some(last))
        };
        tx.commit().await?;
        if let Some(last) = last {
            self.bump_head(last);
        }
        Ok(split_handled(&fresh, &counts, appended))
    }

    /// [`crate::EventStore::apply_once`].
    pub(crate) async fn apply_once(
        &self,
        checkpoint: &Checkpoint,
        effects: Vec<Append>,
    ) -> Result<Handled, StoreError> {
        let mut handled = self.handle_batch(vec![(checkpoint.clone(), effects)]).await?;
        Ok(handled.pop().unwrap_or(Handled::AlreadyHandled))
    }

    /// [`crate::EventStore::apply_batch_once`].
    pub(crate) async fn apply_batch_once(
        &self,
        items: Vec<(Checkpoint, Vec<Append>)>,
    ) -> Result<Vec<bool>, StoreError> {
        Ok(self.handle_batch(items).await?.into_iter().map(|h| matches!(h, Handled::Applied(_))).collect())
    }

    /// Events of `stream` with version > `after_version`, in order.
    pub(crate) async fn load(&self, stream: &str, after_version: u64) -> Result<Vec<RecordedEvent>, StoreError> {
        let rows =
            sqlx::query_as::<DB, EventRow>(select_events!("WHERE stream = $1 AND version > $2 ORDER BY version"))
                .bind(stream)
                .bind(bound(after_version))
                .fetch_all(&self.pool)
                .await?;
        into_events(rows, &self.service)
    }

    /// Up to `limit` events with position > `after`, in position order.
    pub(crate) async fn read_all(&self, after: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        Self::read_after(&mut conn, &self.service, after, limit).await
    }

    /// [`Self::read_all`] on `conn` (say, inside a transaction).
    pub(crate) async fn read_after(
        conn: &mut DB::Connection,
        service: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let rows = sqlx::query_as::<DB, EventRow>(select_events!("WHERE position > $1 ORDER BY position LIMIT $2"))
            .bind(bound(after))
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&mut *conn)
            .await?;
        into_events(rows, service)
    }

    /// The last position appended.
    pub(crate) async fn head(&self) -> Result<u64, StoreError> {
        position_of(&self.pool, "SELECT position FROM log_head", "log_head.position").await
    }

    /// The outbox cursor.
    pub(crate) async fn published(&self) -> Result<u64, StoreError> {
        position_of(&self.pool, "SELECT position FROM outbox_cursor", "outbox_cursor.position").await
    }

    /// The highest source position `consumer` has handled of `source`.
    pub(crate) async fn last_handled(&self, consumer: &str, source: &str) -> Result<u64, StoreError> {
        let p: Option<i64> =
            sqlx::query_scalar("SELECT max(position) FROM processed WHERE consumer = $1 AND source = $2")
                .bind(consumer)
                .bind(source)
                .fetch_one(&self.pool)
                .await?;
        p.map_or(Ok(0), |p| to_u64("processed.position", p))
    }
}

/// Implements [`crate::EventStore`] for `$store`, a struct with a
/// `core: SqlCore<_>` field and an inherent `relay_once` (the one operation
/// whose SQL and locking differ beyond a [`Dialect`]: how relays take turns).
macro_rules! sql_event_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::EventStore for $store {
            fn service(&self) -> &str {
                &self.core.service
            }

            async fn append(
                &self,
                batch: Vec<$crate::model::Append>,
            ) -> Result<Vec<$crate::model::Appended>, $crate::error::StoreError> {
                self.core.append(batch).await
            }

            async fn load(
                &self,
                stream: &str,
                after_version: u64,
            ) -> Result<Vec<$crate::model::RecordedEvent>, $crate::error::StoreError> {
                self.core.load(stream, after_version).await
            }

            async fn read_all(
                &self,
                after: u64,
                limit: usize,
            ) -> Result<Vec<$crate::model::RecordedEvent>, $crate::error::StoreError> {
                self.core.read_all(after, limit).await
            }

            async fn head(&self) -> Result<u64, $crate::error::StoreError> {
                self.core.head().await
            }

            fn watch_head(&self) -> tokio::sync::watch::Receiver<u64> {
                self.core.watch_head()
            }

            async fn relay_batch(
                &self,
                limit: usize,
                publish: &mut (
                         dyn for<'a> FnMut(
                    &'a [$crate::model::RecordedEvent],
                ) -> futures::future::BoxFuture<'a, Option<u64>>
                             + Send
                     ),
            ) -> Result<Option<$crate::store::RelayProgress>, $crate::error::StoreError> {
                self.relay_once(limit, publish).await
            }

            async fn published(&self) -> Result<u64, $crate::error::StoreError> {
                self.core.published().await
            }

            async fn apply_once(
                &self,
                checkpoint: &$crate::store::Checkpoint,
                effects: Vec<$crate::model::Append>,
            ) -> Result<$crate::store::Handled, $crate::error::StoreError> {
                self.core.apply_once(checkpoint, effects).await
            }

            async fn apply_batch_once(
                &self,
                items: Vec<($crate::store::Checkpoint, Vec<$crate::model::Append>)>,
            ) -> Result<Vec<bool>, $crate::error::StoreError> {
                self.core.apply_batch_once(items).await
            }

            async fn last_handled(&self, consumer: &str, source: &str) -> Result<u64, $crate::error::StoreError> {
                self.core.last_handled(consumer, source).await
            }
        }
    };
}
pub(crate) use sql_event_store;

/// The one-row, one-column position `sql` selects.
async fn position_of<DB: Database>(pool: &Pool<DB>, sql: &'static str, column: &'static str) -> Result<u64, StoreError>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    i64: Type<DB> + for<'r> Decode<'r, DB>,
    usize: ColumnIndex<DB::Row>,
{
    let p: i64 = sqlx::query_scalar(sql).fetch_one(pool).await?;
    to_u64(column, p)
}

fn into_events(rows: Vec<EventRow>, service: &str) -> Result<Vec<RecordedEvent>, StoreError> {
    rows.into_iter().map(|r| r.into_event(service)).collect()
}

/// A position or version read from `column`: a negative one is corrupt.
pub(crate) fn to_u64(column: &'static str, v: i64) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| StoreError::Corrupt { column, value: v.into() })
}

/// A position or version to write to `column`, which holds at most
/// `i64::MAX`: a larger one (from a corrupt delivery, say) is refused, not
/// stored as another number.
pub(crate) fn to_i64(column: &'static str, v: u64) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::Corrupt { column, value: v.into() })
}

/// A position or version to compare with: nothing stored exceeds
/// `i64::MAX`, so a larger one compares as `i64::MAX` does ("after u64::MAX"
/// selects nothing, an expected version past it conflicts).
pub(crate) fn bound(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_negative_stored_position_is_corrupt_and_names_value_and_column() {
        assert_eq!(to_u64("log_head.position", 0).ok(), Some(0));
        assert_eq!(to_u64("log_head.position", i64::MAX).ok(), Some(i64::MAX as u64));
        let err = to_u64("log_head.position", -3).expect_err("negative");
        assert!(matches!(err, StoreError::Corrupt { column: "log_head.position", value: -3 }), "{err:?}");
        let message = err.to_string();
        assert!(message.contains("log_head.position") && message.contains("-3"), "{message}");
    }

    #[test]
    fn a_position_past_i64_max_is_refused_not_clamped() {
        assert_eq!(to_i64("processed.position", 7).ok(), Some(7));
        assert_eq!(to_i64("processed.position", i64::MAX as u64).ok(), Some(i64::MAX));
        let big = i64::MAX as u64 + 1;
        let err = to_i64("processed.position", big).expect_err("too large");
        assert!(
            matches!(err, StoreError::Corrupt { column: "processed.position", value } if value == i128::from(big)),
            "{err:?}"
        );
        let message = err.to_string();
        assert!(message.contains("processed.position") && message.contains(&big.to_string()), "{message}");
    }

    #[test]
    fn a_bound_past_i64_max_compares_as_the_largest_stored_value() {
        assert_eq!(bound(5), 5);
        assert_eq!(bound(u64::MAX), i64::MAX);
    }
}
