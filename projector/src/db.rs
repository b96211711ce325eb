//! The read model: SQLite (embedded) or PostgreSQL (distributed), one SQL text for both
//! (`$n` placeholders, `INSERT .. ON CONFLICT .. DO UPDATE`), expanded once per backend by
//! `on_db!`.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

use prost::Message;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};
use tokio::sync::Mutex;
use triad_proto::api::v1::{Dataset, QueryStatus};
use triad_proto::events::v1::{ProofTemplate, ResultPublished};

use crate::ProjectorError;
use crate::fold::{Counter, Op, state};

enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the backend's pool (the body is compiled once per backend).
macro_rules! on_db {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            Pool::Sqlite($pool) => $body,
            Pool::Postgres($pool) => $body,
        }
    };
}

/// The read model's tables; `{blob}` is the dialect's byte-string type (`BLOB`, `BYTEA`).
const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS datasets (
        dataset_id TEXT PRIMARY KEY,
        description TEXT NOT NULL DEFAULT '',
        min_cohort BIGINT NOT NULL DEFAULT 0,
        template {blob},
        submitted BIGINT NOT NULL DEFAULT 0,
        accepted BIGINT NOT NULL DEFAULT 0,
        rejected BIGINT NOT NULL DEFAULT 0)",
    "CREATE TABLE IF NOT EXISTS queries (
        query_id {blob} PRIMARY KEY,
        dataset_id TEXT NOT NULL DEFAULT '',
        sql_text TEXT NOT NULL DEFAULT '',
        state TEXT NOT NULL,
        reason TEXT NOT NULL DEFAULT '',
        updated_position BIGINT NOT NULL DEFAULT 0)",
    "CREATE TABLE IF NOT EXISTS results (
        query_id {blob} PRIMARY KEY,
        dataset_id TEXT NOT NULL,
        published {blob} NOT NULL,
        seq BIGINT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS results_by_dataset ON results (dataset_id, seq)",
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS checkpoints (source TEXT PRIMARY KEY, position BIGINT NOT NULL)",
];

const DROP: &[&str] = &[
    "DROP TABLE IF EXISTS datasets",
    "DROP TABLE IF EXISTS queries",
    "DROP TABLE IF EXISTS results",
    "DROP TABLE IF EXISTS checkpoints",
    "DROP TABLE IF EXISTS meta",
];

type DatasetRow = (String, String, i64, Option<Vec<u8>>, i64, i64, i64);

/// The read model's database.
pub(crate) struct ReadDb {
    pool: Pool,
    /// One writer at a time: SQLite would refuse a second (a deferred transaction cannot
    /// upgrade past another's commit), and on PostgreSQL it rules out deadlocks between the
    /// consumers updating one query's row.
    write: Mutex<()>,
}

/// What one batch's transaction did.
pub(crate) struct Committed {
    /// The source's checkpoint after the commit: every position up to it is folded.
    pub checkpoint: u64,
    /// Results newly stored, in position order.
    pub published: Vec<ResultPublished>,
}

impl ReadDb {
    /// Connects to `url` (`sqlite://<path>`, created if missing, or `postgres://...`) and
    /// creates the tables.
    pub async fn open(url: &str) -> Result<Self, ProjectorError> {
        let pool = if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10));
            // An in-memory database is one per connection: keep one.
            let max = if url.contains(":memory:") || url.contains("mode=memory") { 1 } else { 4 };
            Pool::Sqlite(SqlitePoolOptions::new().max_connections(max).connect_with(options).await?)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let options = PgConnectOptions::from_str(url)?;
            Pool::Postgres(PgPoolOptions::new().max_connections(8).connect_with(options).await?)
        } else {
            return Err(ProjectorError::DatabaseUrl(url.to_owned()));
        };
        let blob = match pool {
            Pool::Sqlite(_) => "BLOB",
            Pool::Postgres(_) => "BYTEA",
        };
        on_db!(&pool, p => {
            for statement in SCHEMA {
                // Constant text with a constant type name substituted: nothing from input.
                sqlx::query(sqlx::AssertSqlSafe(statement.replace("{blob}", blob))).execute(p).await?;
            }
        });
        Ok(Self { pool, write: Mutex::new(()) })
    }

    /// Drops every table of the read model at `url` (a rebuild starts from nothing).
    pub async fn wipe(url: &str) -> Result<(), ProjectorError> {
        let db = Self::open(url).await?;
        on_db!(&db.pool, p => {
            for statement in DROP {
                sqlx::query(*statement).execute(p).await?;
            }
        });
        db.close().await;
        Ok(())
    }

    pub async fn close(&self) {
        on_db!(&self.pool, p => p.close().await);
    }

    /// Folds `events` (position, its operations; ascending) of `source` in one transaction
    /// with the source's checkpoint. Positions at or below the checkpoint were folded before
    /// and are skipped; the fold stops at a gap (an event delivered ahead of its predecessor).
    pub async fn commit(&self, source: &str, events: &[(u64, Vec<Op>)]) -> Result<Committed, ProjectorError> {
        let _turn = self.write.lock().await;
        on_db!(&self.pool, pool => {
            let mut tx = pool.begin().await?;
            let stored: Option<i64> = sqlx::query_scalar("SELECT position FROM checkpoints WHERE source = $1")
                .bind(source)
                .fetch_optional(&mut *tx)
                .await?;
            let start = stored.map_or(Ok(0), |p| to_u64("checkpoint", p))?;
            let mut checkpoint = start;
            let mut published = Vec::new();
            let mut counts: BTreeMap<(&str, Counter), i64> = BTreeMap::new();
            for (position, ops) in events {
                if *position <= checkpoint {
                    continue;
                }
                if *position != checkpoint + 1 {
                    break;
                }
                let at = to_i64("position", *position)?;
                for op in ops {
                    match op {
                        Op::Dataset { dataset_id, description, min_cohort, template } => {
                            sqlx::query(
                                "INSERT INTO datasets (dataset_id, description, min_cohort, template)
                                 VALUES ($1, $2, $3, $4)
                                 ON CONFLICT (dataset_id) DO UPDATE SET description = excluded.description,
                                   min_cohort = excluded.min_cohort, template = excluded.template",
                            )
                            .bind(dataset_id)
                            .bind(description)
                            .bind(to_i64("min_cohort", *min_cohort)?)
                            .bind(template.as_deref())
                            .execute(&mut *tx)
                            .await?;
                        }
                        // Summed over the run, written once per counter below: a counter row
                        // updated per event made every contribution two more round trips
                        // and two dead row versions.
                        Op::Count { dataset_id, counter, by } => {
                            *counts.entry((dataset_id.as_str(), *counter)).or_insert(0) += i64::try_from(*by).unwrap_or(i64::MAX);
                        }
                        Op::QueryRequested { query_id, dataset_id, sql } => {
                            sqlx::query(
                                "INSERT INTO queries (query_id, dataset_id, sql_text, state, reason, updated_position)
                                 VALUES ($1, $2, $3, $4, '', $5)
                                 ON CONFLICT (query_id) DO UPDATE SET dataset_id = excluded.dataset_id,
                                   sql_text = excluded.sql_text",
                            )
                            .bind(query_id.as_slice())
                            .bind(dataset_id)
                            .bind(sql)
                            .bind(state::REQUESTED)
                            .bind(at)
                            .execute(&mut *tx)
                            .await?;
                        }
                        Op::QueryRunning { query_id, create: true } => {
                            sqlx::query(
                                "INSERT INTO queries (query_id, state, updated_position) VALUES ($1, $2, $3)
                                 ON CONFLICT (query_id) DO UPDATE SET state = excluded.state,
                                   updated_position = excluded.updated_position
                                 WHERE queries.state IN ($4, $2)",
                            )
                            .bind(query_id.as_slice())
                            .bind(state::RUNNING)
                            .bind(at)
                            .bind(state::REQUESTED)
                            .execute(&mut *tx)
                            .await?;
                        }
                        Op::QueryRunning { query_id, create: false } => {
                            sqlx::query(
                                "UPDATE queries SET state = $2, updated_position = $3
                                 WHERE query_id = $1 AND state = $4",
                            )
                            .bind(query_id.as_slice())
                            .bind(state::RUNNING)
                            .bind(at)
                            .bind(state::REQUESTED)
                            .execute(&mut *tx)
                            .await?;
                        }
                        Op::QueryRetrying { query_id, reason } => {
                            sqlx::query(
                                "UPDATE queries SET state = $2, reason = $3, updated_position = $4
                                 WHERE query_id = $1 AND state IN ($5, $2)",
                            )
                            .bind(query_id.as_slice())
                            .bind(state::RUNNING)
                            .bind(reason)
                            .bind(at)
                            .bind(state::REQUESTED)
                            .execute(&mut *tx)
                            .await?;
                        }
                        Op::QueryAborted { query_id, reason } => {
                            sqlx::query(
                                "INSERT INTO queries (query_id, state, reason, updated_position) VALUES ($1, $2, $3, $4)
                                 ON CONFLICT (query_id) DO UPDATE SET state = excluded.state,
                                   reason = excluded.reason, updated_position = excluded.updated_position",
                            )
                            .bind(query_id.as_slice())
                            .bind(state::ABORTED)
                            .bind(reason)
                            .bind(at)
                            .execute(&mut *tx)
                            .await?;
                        }
                        Op::Published(r) => {
                            sqlx::query(
                                "INSERT INTO queries (query_id, dataset_id, sql_text, state, reason, updated_position)
                                 VALUES ($1, $2, $3, $4, '', $5)
                                 ON CONFLICT (query_id) DO UPDATE SET state = excluded.state, reason = '',
                                   updated_position = excluded.updated_position",
                            )
                            .bind(r.query_id.as_slice())
                            .bind(&r.dataset_id)
                            .bind(&r.sql)
                            .bind(state::PUBLISHED)
                            .bind(at)
                            .execute(&mut *tx)
                            .await?;
                            let inserted = sqlx::query(
                                "INSERT INTO results (query_id, dataset_id, published, seq) VALUES ($1, $2, $3, $4)
                                 ON CONFLICT (query_id) DO NOTHING",
                            )
                            .bind(r.query_id.as_slice())
                            .bind(&r.dataset_id)
                            .bind(r.encode_to_vec())
                            .bind(at)
                            .execute(&mut *tx)
                            .await?
                            .rows_affected();
                            if inserted > 0 {
                                published.push(r.as_ref().clone());
                            }
                        }
                    }
                }
                checkpoint = *position;
            }
            for ((dataset_id, counter), n) in counts {
                let sql = match counter {
                    Counter::Submitted => {
                        "INSERT INTO datasets (dataset_id, submitted) VALUES ($1, $2)
                         ON CONFLICT (dataset_id) DO UPDATE SET submitted = datasets.submitted + $2"
                    }
                    Counter::Accepted => {
                        "INSERT INTO datasets (dataset_id, accepted) VALUES ($1, $2)
                         ON CONFLICT (dataset_id) DO UPDATE SET accepted = datasets.accepted + $2"
                    }
                    Counter::Rejected => {
                        "INSERT INTO datasets (dataset_id, rejected) VALUES ($1, $2)
                         ON CONFLICT (dataset_id) DO UPDATE SET rejected = datasets.rejected + $2"
                    }
                };
                sqlx::query(sql).bind(dataset_id).bind(n).execute(&mut *tx).await?;
            }
            if checkpoint > start {
                sqlx::query(
                    "INSERT INTO checkpoints (source, position) VALUES ($1, $2)
                     ON CONFLICT (source) DO UPDATE SET position = excluded.position",
                )
                .bind(source)
                .bind(to_i64("position", checkpoint)?)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(Committed { checkpoint, published })
        })
    }

    /// The durable consumers' suffix of this read model: the one it was created with
    /// (`configured`, recorded on first start), so its checkpoints and its consumers stay
    /// paired whatever later settings say.
    pub async fn consumer_suffix(&self, configured: &str) -> Result<String, ProjectorError> {
        let _turn = self.write.lock().await;
        on_db!(&self.pool, pool => {
            sqlx::query("INSERT INTO meta (key, value) VALUES ('consumer_suffix', $1) ON CONFLICT (key) DO NOTHING")
                .bind(configured)
                .execute(pool)
                .await?;
            Ok(sqlx::query_scalar("SELECT value FROM meta WHERE key = 'consumer_suffix'").fetch_one(pool).await?)
        })
    }

    /// The highest position of `source` folded (0: none).
    pub async fn position(&self, source: &str) -> Result<u64, ProjectorError> {
        let p: Option<i64> = on_db!(&self.pool, pool => {
            sqlx::query_scalar("SELECT position FROM checkpoints WHERE source = $1")
                .bind(source)
                .fetch_optional(pool)
                .await?
        });
        p.map_or(Ok(0), |p| to_u64("checkpoint", p))
    }

    pub async fn datasets(&self) -> Result<Vec<Dataset>, ProjectorError> {
        let rows: Vec<DatasetRow> = on_db!(&self.pool, pool => {
            sqlx::query_as(
                "SELECT dataset_id, description, min_cohort, template, submitted, accepted, rejected
                 FROM datasets ORDER BY dataset_id",
            )
            .fetch_all(pool)
            .await?
        });
        rows.into_iter().map(dataset).collect()
    }

    pub async fn dataset(&self, dataset_id: &str) -> Result<Option<Dataset>, ProjectorError> {
        let row: Option<DatasetRow> = on_db!(&self.pool, pool => {
            sqlx::query_as(
                "SELECT dataset_id, description, min_cohort, template, submitted, accepted, rejected
                 FROM datasets WHERE dataset_id = $1",
            )
            .bind(dataset_id)
            .fetch_optional(pool)
            .await?
        });
        row.map(dataset).transpose()
    }

    pub async fn query(&self, query_id: &[u8]) -> Result<Option<QueryStatus>, ProjectorError> {
        let row: Option<(String, String, String, String)> = on_db!(&self.pool, pool => {
            sqlx::query_as("SELECT dataset_id, sql_text, state, reason FROM queries WHERE query_id = $1")
                .bind(query_id)
                .fetch_optional(pool)
                .await?
        });
        Ok(row.map(|(dataset_id, sql, state, reason)| QueryStatus {
            query_id: query_id.to_vec(),
            dataset_id,
            sql,
            state,
            reason,
        }))
    }

    pub async fn result(&self, query_id: &[u8]) -> Result<Option<ResultPublished>, ProjectorError> {
        let blob: Option<Vec<u8>> = on_db!(&self.pool, pool => {
            sqlx::query_scalar("SELECT published FROM results WHERE query_id = $1")
                .bind(query_id)
                .fetch_optional(pool)
                .await?
        });
        blob.map(|b| decode_result(&b)).transpose()
    }

    /// The results of `dataset_id` (all datasets if empty), in publication order.
    pub async fn results(&self, dataset_id: &str) -> Result<Vec<ResultPublished>, ProjectorError> {
        let blobs: Vec<Vec<u8>> = on_db!(&self.pool, pool => {
            sqlx::query_scalar("SELECT published FROM results WHERE $1 = '' OR dataset_id = $1 ORDER BY seq")
                .bind(dataset_id)
                .fetch_all(pool)
                .await?
        });
        blobs.iter().map(|b| decode_result(b)).collect()
    }
}

fn dataset(row: DatasetRow) -> Result<Dataset, ProjectorError> {
    let (dataset_id, description, min_cohort, template, submitted, accepted, rejected) = row;
    let template = template
        .map(|t| ProofTemplate::decode(t.as_slice()))
        .transpose()
        .map_err(|source| ProjectorError::Corrupt { what: "datasets.template", source })?;
    Ok(Dataset {
        dataset_id,
        description,
        min_cohort: to_u64("datasets.min_cohort", min_cohort)?,
        template,
        contributions_submitted: to_u64("datasets.submitted", submitted)?,
        contributions_accepted: to_u64("datasets.accepted", accepted)?,
        contributions_rejected: to_u64("datasets.rejected", rejected)?,
    })
}

fn decode_result(b: &[u8]) -> Result<ResultPublished, ProjectorError> {
    ResultPublished::decode(b).map_err(|source| ProjectorError::Corrupt { what: "results.published", source })
}

fn to_i64(what: &'static str, v: u64) -> Result<i64, ProjectorError> {
    i64::try_from(v).map_err(|_| ProjectorError::Range { what, value: v.to_string() })
}

fn to_u64(what: &'static str, v: i64) -> Result<u64, ProjectorError> {
    u64::try_from(v).map_err(|_| ProjectorError::Range { what, value: v.to_string() })
}
