//! The party's private state: what it folded from the log (datasets, submissions with its own
//! sealed bundle, sessions, queries, the other parties' data-plane addresses) and the shares
//! its intake accepted. A SQLite file in the party's data directory on either backend: the
//! shares are secrets of this party alone, so they stay on its own disk rather than in a
//! database server another operator may run. Every write is an idempotent upsert, so a
//! redelivered event changes nothing.

use std::path::Path;
use std::str::FromStr as _;

use prost::Message as _;
use sqlx::Row as _;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use triad_proto::events::v1::{ContributionSubmitted, DatasetCreated, SessionOpened};

/// A state database failure.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// SQLite failed.
    #[error("party state database: {0}")]
    Db(#[from] sqlx::Error),
    /// A stored row does not decode (the file was altered or is from another version).
    #[error("party state database: corrupt row: {0}")]
    Corrupt(String),
}

/// An accepted contribution's id and this party's two components of each of its values.
pub type AcceptedShares = (Vec<u8>, Vec<(u64, u64)>);

/// One column of a dataset's rows: this party's components `x_i` and `x_{i+1}`, one per row.
/// `Debug` shows the row count only.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ColumnShares {
    /// `x_i` per row.
    pub first: Vec<u64>,
    /// `x_{i+1}` per row.
    pub second: Vec<u64>,
}

impl std::fmt::Debug for ColumnShares {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ColumnShares({} rows)", self.first.len())
    }
}

/// A session as the party tracks it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionState {
    /// Opened by the coordinator, not started here.
    Open,
    /// Started here and not finished (a restart finds it so and aborts it).
    Running,
    /// Finished here; its report is in the party's log.
    Done,
    /// Closed by the coordinator before it ran here.
    Closed,
}

impl SessionState {
    fn as_str(&self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Running => "running",
            Self::Done => "done",
            Self::Closed => "closed",
        }
    }
}

/// One contribution of an intake session, as the party holds it.
pub struct Submission {
    /// The submission event (its `sealed_bundles` emptied: only this party's is kept).
    pub submitted: ContributionSubmitted,
    /// This party's sealed bundle.
    pub sealed: Vec<u8>,
}

/// The private state database.
#[derive(Clone)]
pub struct State {
    pool: SqlitePool,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS peers (party INTEGER PRIMARY KEY, address TEXT NOT NULL, pinned_key BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS datasets (dataset_id TEXT PRIMARY KEY, event BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS contributions (
    contribution_id BLOB PRIMARY KEY,
    dataset_id TEXT NOT NULL,
    submitted BLOB NOT NULL,
    sealed BLOB NOT NULL,
    accepted_position INTEGER,
    rejected INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS contributions_rows ON contributions (dataset_id, accepted_position);
-- Per contribution, this party's two components of each value (column), 16 bytes per value:
-- x_first then x_second, little-endian.
CREATE TABLE IF NOT EXISTS value_shares (contribution_id BLOB PRIMARY KEY, components BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS queries (query_id BLOB PRIMARY KEY, dataset_id TEXT NOT NULL, sql TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS folded (source TEXT PRIMARY KEY, position INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
    session_id BLOB PRIMARY KEY,
    position INTEGER NOT NULL,
    opened BLOB NOT NULL,
    state TEXT NOT NULL
);
";

impl State {
    /// Opens (creating) `path`.
    pub async fn open(path: &Path) -> Result<State, StateError> {
        let options = SqliteConnectOptions::from_str("sqlite://")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(std::time::Duration::from_secs(10));
        let pool = SqlitePoolOptions::new().max_connections(4).connect_with(options).await?;
        sqlx::raw_sql(SCHEMA).execute(&pool).await?;
        Ok(State { pool })
    }

    /// The last position of `source`'s stream folded into this state (0: none).
    pub async fn folded(&self, source: &str) -> Result<u64, StateError> {
        let p: Option<i64> = sqlx::query_scalar("SELECT position FROM folded WHERE source = $1")
            .bind(source)
            .fetch_optional(&self.pool)
            .await?;
        Ok(p.map_or(0, |p| p as u64))
    }

    /// Records a run of the coordinator's events (`source`'s positions, consecutive and in
    /// order) and that the stream is folded up to the last, in one transaction: one commit per
    /// delivery batch rather than two per event.
    pub async fn fold(&self, source: &str, events: &[(u64, Fold)]) -> Result<(), StateError> {
        let Some(&(last, _)) = events.last() else { return Ok(()) };
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        for (position, fold) in events {
            apply(&mut tx, *position, fold).await?;
        }
        sqlx::query(
            "INSERT INTO folded (source, position) VALUES ($1, $2)
             ON CONFLICT (source) DO UPDATE SET position = max(position, excluded.position)",
        )
        .bind(source)
        .bind(last as i64)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records a peer's data plane (the newest `PartyJoined` wins).
    pub async fn put_peer(&self, party: u32, address: &str, pinned_key: &[u8]) -> Result<(), StateError> {
        sqlx::query(
            "INSERT INTO peers (party, address, pinned_key) VALUES ($1, $2, $3)
             ON CONFLICT (party) DO UPDATE SET address = excluded.address, pinned_key = excluded.pinned_key",
        )
        .bind(i64::from(party))
        .bind(address)
        .bind(pinned_key)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The known peers: (party, address, pinned key).
    pub async fn peers(&self) -> Result<Vec<(u32, String, Vec<u8>)>, StateError> {
        let rows =
            sqlx::query("SELECT party, address, pinned_key FROM peers ORDER BY party").fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                let p: i64 = r.try_get("party")?;
                Ok((
                    u32::try_from(p).map_err(|_| StateError::Corrupt(format!("party {p}")))?,
                    r.try_get("address")?,
                    r.try_get("pinned_key")?,
                ))
            })
            .collect()
    }

    /// A dataset's declaration.
    pub async fn dataset(&self, dataset_id: &str) -> Result<Option<DatasetCreated>, StateError> {
        let row = sqlx::query("SELECT event FROM datasets WHERE dataset_id = $1")
            .bind(dataset_id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| decode::<DatasetCreated>(&r.try_get::<Vec<u8>, _>("event")?)).transpose()
    }

    /// The submissions of `ids`, in that order (`None` for one never seen).
    pub async fn submissions(&self, ids: &[Vec<u8>]) -> Result<Vec<Option<Submission>>, StateError> {
        let mut out = Vec::with_capacity(ids.len());
        let mut conn = self.pool.acquire().await?;
        for id in ids {
            let row = sqlx::query("SELECT submitted, sealed FROM contributions WHERE contribution_id = $1")
                .bind(id)
                .fetch_optional(&mut *conn)
                .await?;
            out.push(match row {
                Some(r) => Some(Submission {
                    submitted: decode(&r.try_get::<Vec<u8>, _>("submitted")?)?,
                    sealed: r.try_get("sealed")?,
                }),
                None => None,
            });
        }
        Ok(out)
    }

    /// Stores the accepted shares of a session, all or nothing: per contribution, this party's
    /// two components of each value.
    pub async fn put_shares(&self, shares: &[AcceptedShares]) -> Result<(), StateError> {
        let mut tx = self.pool.begin().await?;
        for (id, values) in shares {
            let blob: Vec<u8> = values.iter().flat_map(|(a, b)| [a.to_le_bytes(), b.to_le_bytes()]).flatten().collect();
            sqlx::query(
                "INSERT INTO value_shares (contribution_id, components) VALUES ($1, $2)
                 ON CONFLICT (contribution_id) DO UPDATE SET components = excluded.components",
            )
            .bind(id)
            .bind(blob)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The rows of `dataset_id` at `snapshot`, by column: the shares of contributions accepted
    /// at or before it, in acceptance order (`columns` values each); `Err` names a row whose
    /// shares this party lacks.
    pub async fn rows(
        &self,
        dataset_id: &str,
        snapshot: u64,
        columns: usize,
    ) -> Result<Result<Vec<ColumnShares>, Vec<u8>>, StateError> {
        let rows = sqlx::query(
            "SELECT c.contribution_id AS id, s.components AS components FROM contributions c
             LEFT JOIN value_shares s ON s.contribution_id = c.contribution_id
             WHERE c.dataset_id = $1 AND c.accepted_position IS NOT NULL AND c.accepted_position <= $2
             ORDER BY c.accepted_position",
        )
        .bind(dataset_id)
        .bind(snapshot as i64)
        .fetch_all(&self.pool)
        .await?;
        let mut out = vec![ColumnShares::default(); columns];
        for c in &mut out {
            c.first.reserve(rows.len());
            c.second.reserve(rows.len());
        }
        for r in &rows {
            let Some(blob): Option<Vec<u8>> = r.try_get("components")? else {
                return Ok(Err(r.try_get("id")?));
            };
            if blob.len() != 16 * columns {
                return Err(StateError::Corrupt(format!(
                    "shares of {}: {} bytes for {columns} values",
                    hex::encode(r.try_get::<Vec<u8>, _>("id")?),
                    blob.len()
                )));
            }
            for (c, chunk) in out.iter_mut().zip(blob.chunks_exact(16)) {
                let (a, b) = chunk.split_at(8);
                c.first.push(u64::from_le_bytes(a.try_into().unwrap_or_default()));
                c.second.push(u64::from_le_bytes(b.try_into().unwrap_or_default()));
            }
        }
        Ok(Ok(out))
    }

    /// A query's SQL.
    pub async fn query_sql(&self, query_id: &[u8]) -> Result<Option<String>, StateError> {
        let row = sqlx::query("SELECT sql FROM queries WHERE query_id = $1")
            .bind(query_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get("sql")).transpose()?)
    }

    /// Moves a session to `state`.
    pub async fn set_session(&self, session_id: &[u8], state: SessionState) -> Result<(), StateError> {
        sqlx::query("UPDATE sessions SET state = $1 WHERE session_id = $2")
            .bind(state.as_str())
            .bind(session_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The newest open session, marked running; older open ones are closed (the coordinator
    /// runs one session at a time, so a newer one means they were given up).
    pub async fn take_next_session(&self) -> Result<Option<SessionOpened>, StateError> {
        // A read then a write: take the write lock first, or a fold committing in between makes
        // the upgrade fail with SQLITE_BUSY_SNAPSHOT.
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let row = sqlx::query(
            "SELECT session_id, position, opened FROM sessions WHERE state = 'open' ORDER BY position DESC LIMIT 1",
        )
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let (id, position): (Vec<u8>, i64) = (row.try_get("session_id")?, row.try_get("position")?);
        sqlx::query("UPDATE sessions SET state = 'closed' WHERE state = 'open' AND position < $1")
            .bind(position)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE sessions SET state = 'running' WHERE session_id = $1").bind(&id).execute(&mut *tx).await?;
        let opened = decode::<SessionOpened>(&row.try_get::<Vec<u8>, _>("opened")?)?;
        tx.commit().await?;
        Ok(Some(opened))
    }

    /// Sessions a previous run of this party started and did not finish.
    pub async fn running_sessions(&self) -> Result<Vec<SessionOpened>, StateError> {
        let rows = sqlx::query("SELECT opened FROM sessions WHERE state = 'running' ORDER BY position")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| decode(&r.try_get::<Vec<u8>, _>("opened")?)).collect()
    }

    /// Closes the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// One event of the coordinator's stream as the party records it (the rest it skips).
pub enum Fold {
    /// A dataset's declaration.
    Dataset(DatasetCreated),
    /// A submission (its `sealed_bundles` emptied) and this party's sealed bundle of it.
    Submission {
        /// The event, without the bundles.
        submitted: ContributionSubmitted,
        /// This party's sealed bundle.
        sealed: Vec<u8>,
    },
    /// A contribution's rows count from here (the event's position).
    Accepted(Vec<u8>),
    /// A contribution was rejected: its bundle and shares are no longer needed.
    Rejected(Vec<u8>),
    /// A query: its id, dataset and SQL.
    Query {
        /// The query's id.
        query_id: Vec<u8>,
        /// The dataset it reads.
        dataset_id: String,
        /// Its SQL.
        sql: String,
    },
    /// A session opened (at the event's position).
    SessionOpened(SessionOpened),
    /// The coordinator closed a session: one not yet started here is never run.
    SessionClosed(Vec<u8>),
    /// Nothing to record (only the position moves).
    Skip,
}

/// Every write is an idempotent upsert or a monotone update, so folding an event twice (after
/// a crash before the checkpoint) changes nothing.
async fn apply(c: &mut SqliteConnection, position: u64, fold: &Fold) -> Result<(), StateError> {
    match fold {
        Fold::Dataset(d) => {
            sqlx::query("INSERT INTO datasets (dataset_id, event) VALUES ($1, $2) ON CONFLICT (dataset_id) DO NOTHING")
                .bind(&d.dataset_id)
                .bind(d.encode_to_vec())
                .execute(&mut *c)
                .await?;
        }
        Fold::Submission { submitted: s, sealed } => {
            sqlx::query(
                "INSERT INTO contributions (contribution_id, dataset_id, submitted, sealed) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (contribution_id) DO NOTHING",
            )
            .bind(&s.contribution_id)
            .bind(&s.dataset_id)
            .bind(s.encode_to_vec())
            .bind(sealed)
            .execute(&mut *c)
            .await?;
        }
        Fold::Accepted(id) => {
            sqlx::query("UPDATE contributions SET accepted_position = $1 WHERE contribution_id = $2")
                .bind(position as i64)
                .bind(id)
                .execute(&mut *c)
                .await?;
        }
        Fold::Rejected(id) => {
            sqlx::query("UPDATE contributions SET rejected = 1, sealed = x'' WHERE contribution_id = $1")
                .bind(id)
                .execute(&mut *c)
                .await?;
            sqlx::query("DELETE FROM value_shares WHERE contribution_id = $1").bind(id).execute(&mut *c).await?;
        }
        Fold::Query { query_id, dataset_id, sql } => {
            sqlx::query(
                "INSERT INTO queries (query_id, dataset_id, sql) VALUES ($1, $2, $3) ON CONFLICT (query_id) DO NOTHING",
            )
            .bind(query_id)
            .bind(dataset_id)
            .bind(sql)
            .execute(&mut *c)
            .await?;
        }
        Fold::SessionOpened(s) => {
            sqlx::query(
                "INSERT INTO sessions (session_id, position, opened, state) VALUES ($1, $2, $3, 'open')
                 ON CONFLICT (session_id) DO NOTHING",
            )
            .bind(&s.session_id)
            .bind(position as i64)
            .bind(s.encode_to_vec())
            .execute(&mut *c)
            .await?;
        }
        Fold::SessionClosed(id) => {
            sqlx::query("UPDATE sessions SET state = 'closed' WHERE session_id = $1 AND state = 'open'")
                .bind(id)
                .execute(&mut *c)
                .await?;
        }
        Fold::Skip => {}
    }
    Ok(())
}

fn decode<M: prost::Message + Default>(bytes: &[u8]) -> Result<M, StateError> {
    M::decode(bytes).map_err(|e| StateError::Corrupt(e.to_string()))
}
