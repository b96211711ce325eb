//! The party's private state: what it folded from the log (datasets, submissions with its own
//! sealed bundle, sessions, queries, the other parties' data-plane addresses) and the shares
//! its intake accepted. A SQLite file in the party's data directory on either backend: the
//! shares are secrets of this party alone, so they stay on its own disk rather than in a
//! database server another operator may run. Every write is an idempotent upsert, so a
//! redelivered event changes nothing.

use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr as _;
use std::sync::{Arc, Mutex, PoisonError};

use prost::Message as _;
use sqlx::Row as _;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use triad_proto::events::v1::{ContributionSubmitted, DatasetCreated, SessionOpened, SigningRequested};

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
#[derive(Clone)]
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
    /// Every committed contribution's row, by id. SQLite keys contributions by the position of
    /// their submission and is never asked to index the random 16-byte ids: keeping such an
    /// index was most of the fold's cost at 10^5 contributions (docs/BENCHMARKS.md). Loaded at
    /// open; a fold adds its submissions after its commit. About 80 bytes a contribution.
    rows_by_id: Arc<Mutex<HashMap<Vec<u8>, i64>>>,
    /// Serialises folds: one reads the map, writes, commits, then updates the map.
    fold_lock: Arc<tokio::sync::Mutex<()>>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS peers (party INTEGER PRIMARY KEY, address TEXT NOT NULL, pinned_key BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS datasets (dataset_id TEXT PRIMARY KEY, event BLOB NOT NULL);
-- `row`: the position of the submission in the coordinator's stream (ids map to rows in the
-- party's memory: no index on the ids).
CREATE TABLE IF NOT EXISTS contributions (
    row INTEGER PRIMARY KEY,
    contribution_id BLOB NOT NULL,
    dataset_id TEXT NOT NULL,
    submitted BLOB NOT NULL,
    sealed BLOB NOT NULL,
    accepted_position INTEGER,
    rejected INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS contributions_rows ON contributions (dataset_id, accepted_position);
-- Per contribution (its row), this party's two components of each value (column), 16 bytes
-- per value: x_first then x_second, little-endian.
CREATE TABLE IF NOT EXISTS value_shares (row INTEGER PRIMARY KEY, components BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS queries (query_id BLOB PRIMARY KEY, dataset_id TEXT NOT NULL, sql TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS folded (source TEXT PRIMARY KEY, position INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
    session_id BLOB PRIMARY KEY,
    position INTEGER NOT NULL,
    opened BLOB NOT NULL,
    state TEXT NOT NULL
);
-- The peers' HPKE keys (PartyJoined.share_public_key): signing messages are sealed to them.
CREATE TABLE IF NOT EXISTS peer_share_keys (party INTEGER PRIMARY KEY, share_public_key BLOB NOT NULL);
-- Signing attempts the coordinator requested (one row per attempt), and how far this party got.
CREATE TABLE IF NOT EXISTS signing (
    session_id BLOB PRIMARY KEY,
    request_id BLOB NOT NULL,
    position INTEGER NOT NULL,
    request BLOB NOT NULL,
    state TEXT NOT NULL
);
-- This party's threshold key shares by epoch, sealed at rest (service::signer).
CREATE TABLE IF NOT EXISTS key_shares (epoch INTEGER PRIMARY KEY, public_key BLOB NOT NULL, sealed BLOB NOT NULL);
-- The key all three parties reported (the coordinator's `network-key` stream): its epoch.
CREATE TABLE IF NOT EXISTS key_confirmed (id INTEGER PRIMARY KEY CHECK (id = 0), epoch INTEGER NOT NULL, public_key BLOB NOT NULL);
-- The statement each party would sign for a query's result (its ResultComputed.signed_message).
CREATE TABLE IF NOT EXISTS statements (
    query_id BLOB NOT NULL,
    session_id BLOB NOT NULL,
    party INTEGER NOT NULL,
    statement BLOB NOT NULL,
    PRIMARY KEY (query_id, session_id, party)
);
";

/// From the first layout (contributions and shares keyed by the contribution id, which SQLite
/// indexed) to rows: a contribution keeps its old rowid as its row. Old rowids never exceed
/// the number of submissions folded, so they stay below every later submission's position.
const MIGRATE_AWAY_FROM_IDS: &str = "
ALTER TABLE contributions RENAME TO contributions_by_id;
ALTER TABLE value_shares RENAME TO value_shares_by_id;
DROP INDEX IF EXISTS contributions_rows;
";

/// After [`MIGRATE_AWAY_FROM_IDS`] and the schema: the old rows into the new tables.
const MIGRATE_TO_ROWS: &str = "
INSERT INTO contributions (row, contribution_id, dataset_id, submitted, sealed, accepted_position, rejected)
    SELECT rowid, contribution_id, dataset_id, submitted, sealed, accepted_position, rejected FROM contributions_by_id;
INSERT INTO value_shares (row, components)
    SELECT c.rowid, s.components FROM value_shares_by_id s JOIN contributions_by_id c USING (contribution_id);
DROP TABLE value_shares_by_id;
DROP TABLE contributions_by_id;
";

impl State {
    /// Opens (creating) `path`, moving a file of the first layout to the present one.
    pub async fn open(path: &Path) -> Result<State, StateError> {
        let options = SqliteConnectOptions::from_str("sqlite://")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(std::time::Duration::from_secs(10))
            // Pages read through a mapping and a 16 MiB cache per connection, not a read(2)
            // per page missing from SQLite's default 2 MB cache (the fold and the session
            // loads read the submissions' rows all the time at ingest).
            .pragma("mmap_size", "1073741824")
            .pragma("cache_size", "-16384");
        let pool = SqlitePoolOptions::new().max_connections(4).connect_with(options).await?;
        let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
        let first_layout: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pragma_table_info('contributions'))
                AND NOT EXISTS (SELECT 1 FROM pragma_table_info('contributions') WHERE name = 'row')",
        )
        .fetch_one(&mut *tx)
        .await?;
        if first_layout {
            sqlx::raw_sql(MIGRATE_AWAY_FROM_IDS).execute(&mut *tx).await?;
        }
        sqlx::raw_sql(SCHEMA).execute(&mut *tx).await?;
        if first_layout {
            sqlx::raw_sql(MIGRATE_TO_ROWS).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        let mut rows_by_id = HashMap::new();
        for r in sqlx::query("SELECT row, contribution_id FROM contributions").fetch_all(&pool).await? {
            rows_by_id.insert(r.try_get("contribution_id")?, r.try_get("row")?);
        }
        Ok(State {
            pool,
            rows_by_id: Arc::new(Mutex::new(rows_by_id)),
            fold_lock: Arc::new(tokio::sync::Mutex::new(())),
        })
    }

    /// The rows of `ids` (`None` for an id never folded).
    fn rows_of<'a>(&self, ids: impl IntoIterator<Item = &'a [u8]>) -> Vec<Option<i64>> {
        let map = self.rows_by_id.lock().unwrap_or_else(PoisonError::into_inner);
        ids.into_iter().map(|id| map.get(id).copied()).collect()
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
    /// delivery batch rather than two per event. Submissions come from the coordinator's stream
    /// only, so their positions there number the rows.
    pub async fn fold(&self, source: &str, events: &[(u64, Fold)]) -> Result<(), StateError> {
        let Some(&(last, _)) = events.last() else { return Ok(()) };
        let _serial = self.fold_lock.lock().await;
        let (writes, added) = self.plan(events);
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        // Runs of submissions and of acceptances (nearly every write of an intake) go in
        // multi-row statements: each statement is a round trip to sqlx's SQLite thread.
        let mut rest = writes.as_slice();
        while let Some(first) = rest.first() {
            let run = match first {
                Write::Insert { .. } | Write::Accept { .. } => {
                    rest.iter().take_while(|w| std::mem::discriminant(*w) == std::mem::discriminant(first)).count()
                }
                Write::Reject(_) | Write::Other(..) => 1,
            };
            let (head, tail) = rest.split_at(run);
            match first {
                Write::Insert { .. } => {
                    for chunk in head.chunks(ROWS_PER_STATEMENT) {
                        insert_rows(&mut tx, chunk).await?;
                    }
                }
                Write::Accept { .. } => {
                    for chunk in head.chunks(ROWS_PER_STATEMENT) {
                        accept_rows(&mut tx, chunk).await?;
                    }
                }
                Write::Reject(row) => reject(&mut tx, *row).await?,
                Write::Other(position, fold) => apply(&mut tx, *position, fold).await?,
            }
            rest = tail;
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
        self.rows_by_id.lock().unwrap_or_else(PoisonError::into_inner).extend(added);
        Ok(())
    }

    /// The writes of `events`, ids resolved to rows, and the rows their submissions add. A
    /// submission whose id is known (a redelivery) and an acceptance or rejection of an id
    /// never submitted write nothing.
    fn plan<'a>(&self, events: &'a [(u64, Fold)]) -> (Vec<Write<'a>>, HashMap<Vec<u8>, i64>) {
        let map = self.rows_by_id.lock().unwrap_or_else(PoisonError::into_inner);
        let mut added: HashMap<Vec<u8>, i64> = HashMap::new();
        let mut writes = Vec::with_capacity(events.len());
        for (position, fold) in events {
            let position = *position as i64;
            let row = |id: &[u8]| map.get(id).or_else(|| added.get(id)).copied();
            match fold {
                Fold::Submission { submitted, sealed } => {
                    if row(&submitted.contribution_id).is_none() {
                        added.insert(submitted.contribution_id.clone(), position);
                        writes.push(Write::Insert { row: position, submitted, sealed });
                    }
                }
                Fold::Accepted(id) => writes.extend(row(id).map(|row| Write::Accept { row, position })),
                Fold::AcceptedAll(ids) => {
                    writes.extend(ids.iter().filter_map(|id| row(id)).map(|row| Write::Accept { row, position }))
                }
                Fold::Rejected(id) => writes.extend(row(id).map(Write::Reject)),
                Fold::Skip => {}
                other => writes.push(Write::Other(position, other)),
            }
        }
        (writes, added)
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
        let rows = self.rows_of(ids.iter().map(Vec::as_slice));
        let wanted: Vec<i64> = rows.iter().flatten().copied().collect();
        let mut found: HashMap<i64, Submission> = HashMap::with_capacity(wanted.len());
        let mut conn = self.pool.acquire().await?;
        for chunk in wanted.chunks(ROWS_PER_STATEMENT) {
            let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                "SELECT row, submitted, sealed FROM contributions WHERE row IN (",
            );
            let mut list = q.separated(", ");
            for row in chunk {
                list.push_bind(*row);
            }
            q.push(")");
            for r in q.build().fetch_all(&mut *conn).await? {
                found.insert(
                    r.try_get("row")?,
                    Submission {
                        submitted: decode(&r.try_get::<Vec<u8>, _>("submitted")?)?,
                        sealed: r.try_get("sealed")?,
                    },
                );
            }
        }
        let mut out: Vec<Option<Submission>> = Vec::with_capacity(ids.len());
        for (i, row) in rows.iter().enumerate() {
            // A row named twice is returned twice (taken the first time: look back).
            let submission = row.and_then(|r| {
                found.remove(&r).or_else(|| rows[..i].iter().position(|p| *p == Some(r)).and_then(|j| out[j].clone()))
            });
            out.push(submission);
        }
        Ok(out)
    }

    /// Stores the accepted shares of a session, all or nothing: per contribution, this party's
    /// two components of each value.
    pub async fn put_shares(&self, shares: &[AcceptedShares]) -> Result<(), StateError> {
        let rows = self.rows_of(shares.iter().map(|(id, _)| id.as_slice()));
        let mut keyed = Vec::with_capacity(shares.len());
        for ((id, values), row) in shares.iter().zip(rows) {
            let row =
                row.ok_or_else(|| StateError::Corrupt(format!("shares of {}, never submitted", hex::encode(id))))?;
            keyed.push((row, values));
        }
        let mut tx = self.pool.begin().await?;
        for chunk in keyed.chunks(ROWS_PER_STATEMENT) {
            let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new("INSERT INTO value_shares (row, components) ");
            q.push_values(chunk, |mut b, (row, values)| {
                let blob: Vec<u8> =
                    values.iter().flat_map(|(a, b)| [a.to_le_bytes(), b.to_le_bytes()]).flatten().collect();
                b.push_bind(*row).push_bind(blob);
            });
            q.push(" ON CONFLICT (row) DO UPDATE SET components = excluded.components");
            q.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The rows of `dataset_id` at `snapshot`, by column (`columns` values each): the shares of
    /// contributions accepted at or before it, in acceptance order (those a session accepted
    /// at one position by id); `Err` names a row whose shares this party lacks.
    pub async fn rows(
        &self,
        dataset_id: &str,
        snapshot: u64,
        columns: usize,
    ) -> Result<Result<Vec<ColumnShares>, Vec<u8>>, StateError> {
        let rows = sqlx::query(
            "SELECT c.contribution_id AS id, s.components AS components FROM contributions c
             LEFT JOIN value_shares s ON s.row = c.row
             WHERE c.dataset_id = $1 AND c.accepted_position IS NOT NULL AND c.accepted_position <= $2
             ORDER BY c.accepted_position, c.contribution_id",
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

    /// The oldest open session, marked running. The coordinator may queue a session behind the
    /// one running, and every party takes them in log order, so the three meet in the same one;
    /// a session the coordinator has given up is closed by its `SessionClosed` when folded.
    pub async fn take_next_session(&self) -> Result<Option<SessionOpened>, StateError> {
        // A read then a write: take the write lock first, or a fold committing in between makes
        // the upgrade fail with SQLITE_BUSY_SNAPSHOT.
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let row = sqlx::query("SELECT session_id, opened FROM sessions WHERE state = 'open' ORDER BY position LIMIT 1")
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let id: Vec<u8> = row.try_get("session_id")?;
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

    /// Records a peer's HPKE public key (the newest `PartyJoined` wins).
    pub async fn put_peer_share_key(&self, party: u32, key: &[u8]) -> Result<(), StateError> {
        sqlx::query(
            "INSERT INTO peer_share_keys (party, share_public_key) VALUES ($1, $2)
             ON CONFLICT (party) DO UPDATE SET share_public_key = excluded.share_public_key",
        )
        .bind(party as i64)
        .bind(key)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The peers' HPKE public keys.
    pub async fn peer_share_keys(&self) -> Result<Vec<(u32, Vec<u8>)>, StateError> {
        let rows = sqlx::query("SELECT party, share_public_key FROM peer_share_keys").fetch_all(&self.pool).await?;
        rows.iter().map(|r| Ok((r.try_get::<i64, _>("party")? as u32, r.try_get("share_public_key")?))).collect()
    }

    /// The oldest open signing attempt `party` takes part in, marked running; open attempts it
    /// is not in are marked skipped.
    pub async fn take_next_signing(&self, party: u32) -> Result<Option<SigningRequested>, StateError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let rows = sqlx::query("SELECT session_id, request FROM signing WHERE state = 'open' ORDER BY position")
            .fetch_all(&mut *tx)
            .await?;
        let mut taken = None;
        for row in rows {
            let id: Vec<u8> = row.try_get("session_id")?;
            let request = decode::<SigningRequested>(&row.try_get::<Vec<u8>, _>("request")?)?;
            if request.participants.contains(&party) {
                sqlx::query("UPDATE signing SET state = 'running' WHERE session_id = $1")
                    .bind(&id)
                    .execute(&mut *tx)
                    .await?;
                taken = Some(request);
                break;
            }
            sqlx::query("UPDATE signing SET state = 'skipped' WHERE session_id = $1")
                .bind(&id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(taken)
    }

    /// Moves a signing attempt to `state` (`done`).
    pub async fn set_signing(&self, session_id: &[u8], state: &str) -> Result<(), StateError> {
        sqlx::query("UPDATE signing SET state = $1 WHERE session_id = $2")
            .bind(state)
            .bind(session_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Signing attempts a previous run of this party started and did not finish.
    pub async fn running_signings(&self) -> Result<Vec<SigningRequested>, StateError> {
        let rows = sqlx::query("SELECT request FROM signing WHERE state = 'running' ORDER BY position")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| decode(&r.try_get::<Vec<u8>, _>("request")?)).collect()
    }

    /// Stores this party's key share of `epoch` (sealed), replacing an unconfirmed one.
    pub async fn put_key_share(&self, epoch: u64, public_key: &[u8], sealed: &[u8]) -> Result<(), StateError> {
        sqlx::query(
            "INSERT INTO key_shares (epoch, public_key, sealed) VALUES ($1, $2, $3)
             ON CONFLICT (epoch) DO UPDATE SET public_key = excluded.public_key, sealed = excluded.sealed",
        )
        .bind(epoch as i64)
        .bind(public_key)
        .bind(sealed)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// This party's sealed key share of `epoch`, if it has one.
    pub async fn key_share(&self, epoch: u64) -> Result<Option<Vec<u8>>, StateError> {
        Ok(sqlx::query_scalar("SELECT sealed FROM key_shares WHERE epoch = $1")
            .bind(epoch as i64)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// The epoch and public key of the key all three parties reported, if any.
    pub async fn confirmed_key(&self) -> Result<Option<(u64, Vec<u8>)>, StateError> {
        let row =
            sqlx::query("SELECT epoch, public_key FROM key_confirmed WHERE id = 0").fetch_optional(&self.pool).await?;
        row.map(|r| Ok((r.try_get::<i64, _>("epoch")? as u64, r.try_get("public_key")?))).transpose()
    }

    /// Records the statement `party` reported for `query_id`'s result in `session_id`.
    pub async fn put_statement(
        &self,
        query_id: &[u8],
        session_id: &[u8],
        party: u32,
        statement: &[u8],
    ) -> Result<(), StateError> {
        sqlx::query(
            "INSERT INTO statements (query_id, session_id, party, statement) VALUES ($1, $2, $3, $4)
             ON CONFLICT (query_id, session_id, party) DO NOTHING",
        )
        .bind(query_id)
        .bind(session_id)
        .bind(party as i64)
        .bind(statement)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The statements reported for `query_id`: (session, party, statement).
    pub async fn statements(&self, query_id: &[u8]) -> Result<Vec<(Vec<u8>, u32, Vec<u8>)>, StateError> {
        let rows = sqlx::query("SELECT session_id, party, statement FROM statements WHERE query_id = $1")
            .bind(query_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("session_id")?, r.try_get::<i64, _>("party")? as u32, r.try_get("statement")?)))
            .collect()
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
    /// A session's accepted contributions, all at this position (folded as one `Accepted` each).
    AcceptedAll(Vec<Vec<u8>>),
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
    /// A signing attempt the coordinator requested.
    SigningRequested(SigningRequested),
    /// The key all three parties reported, at `epoch`: shares of older epochs are deleted.
    KeyConfirmed {
        /// The epoch.
        epoch: u64,
        /// The network's public key.
        public_key: Vec<u8>,
    },
    /// Nothing to record (only the position moves).
    Skip,
}

/// Rows per multi-row statement (at most 5 parameters a row, far below SQLite's limit).
const ROWS_PER_STATEMENT: usize = 256;

/// A write of the fold, its contribution resolved to its row.
enum Write<'a> {
    /// A new submission at `row` (its position).
    Insert {
        /// The row.
        row: i64,
        /// The event, without the bundles.
        submitted: &'a ContributionSubmitted,
        /// This party's sealed bundle.
        sealed: &'a [u8],
    },
    /// The contribution at `row` counts from `position`.
    Accept {
        /// The row.
        row: i64,
        /// The acceptance's position.
        position: i64,
    },
    /// The contribution at this row was rejected.
    Reject(i64),
    /// Any other event, at its position.
    Other(i64, &'a Fold),
}

/// A run of submissions in one statement ([`ROWS_PER_STATEMENT`] at most).
async fn insert_rows(c: &mut SqliteConnection, run: &[Write<'_>]) -> Result<(), StateError> {
    let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
        "INSERT INTO contributions (row, contribution_id, dataset_id, submitted, sealed) ",
    );
    q.push_values(run, |mut b, w| {
        if let Write::Insert { row, submitted: s, sealed } = w {
            b.push_bind(*row)
                .push_bind(s.contribution_id.as_slice())
                .push_bind(s.dataset_id.as_str())
                .push_bind(s.encode_to_vec())
                .push_bind(*sealed);
        }
    });
    q.push(" ON CONFLICT (row) DO NOTHING");
    q.build().execute(&mut *c).await?;
    Ok(())
}

/// Contributions' rows count from their positions: one statement ([`ROWS_PER_STATEMENT`] at
/// most).
async fn accept_rows(c: &mut SqliteConnection, run: &[Write<'_>]) -> Result<(), StateError> {
    let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new("WITH v(position, row) AS (");
    q.push_values(run, |mut b, w| {
        if let Write::Accept { row, position } = w {
            b.push_bind(*position).push_bind(*row);
        }
    });
    q.push(") UPDATE contributions SET accepted_position = v.position FROM v WHERE contributions.row = v.row");
    q.build().execute(&mut *c).await?;
    Ok(())
}

/// A rejected contribution's bundle and shares are no longer needed.
async fn reject(c: &mut SqliteConnection, row: i64) -> Result<(), StateError> {
    sqlx::query("UPDATE contributions SET rejected = 1, sealed = x'' WHERE row = $1")
        .bind(row)
        .execute(&mut *c)
        .await?;
    sqlx::query("DELETE FROM value_shares WHERE row = $1").bind(row).execute(&mut *c).await?;
    Ok(())
}

/// The events other than contributions' (at their positions). Every write is an idempotent
/// upsert or a monotone update, so folding an event twice (after a crash before the
/// checkpoint) changes nothing.
async fn apply(c: &mut SqliteConnection, position: i64, fold: &Fold) -> Result<(), StateError> {
    match fold {
        Fold::Dataset(d) => {
            sqlx::query("INSERT INTO datasets (dataset_id, event) VALUES ($1, $2) ON CONFLICT (dataset_id) DO NOTHING")
                .bind(&d.dataset_id)
                .bind(d.encode_to_vec())
                .execute(&mut *c)
                .await?;
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
        Fold::SigningRequested(r) => {
            sqlx::query(
                "INSERT INTO signing (session_id, request_id, position, request, state) VALUES ($1, $2, $3, $4, 'open')
                 ON CONFLICT (session_id) DO NOTHING",
            )
            .bind(&r.session_id)
            .bind(&r.request_id)
            .bind(position)
            .bind(r.encode_to_vec())
            .execute(&mut *c)
            .await?;
            // A newer attempt of the request: an older one not yet run here is not run.
            sqlx::query(
                "UPDATE signing SET state = 'closed' WHERE request_id = $1 AND state = 'open' AND position < $2",
            )
            .bind(&r.request_id)
            .bind(position)
            .execute(&mut *c)
            .await?;
        }
        Fold::KeyConfirmed { epoch, public_key } => {
            sqlx::query(
                "INSERT INTO key_confirmed (id, epoch, public_key) VALUES (0, $1, $2)
                 ON CONFLICT (id) DO UPDATE SET epoch = max(epoch, excluded.epoch)",
            )
            .bind(*epoch as i64)
            .bind(public_key)
            .execute(&mut *c)
            .await?;
            // Old shares no longer sign: the refresh all three reported replaced them.
            sqlx::query("DELETE FROM key_shares WHERE epoch < (SELECT epoch FROM key_confirmed WHERE id = 0)")
                .execute(&mut *c)
                .await?;
        }
        Fold::SessionOpened(s) => {
            sqlx::query(
                "INSERT INTO sessions (session_id, position, opened, state) VALUES ($1, $2, $3, 'open')
                 ON CONFLICT (session_id) DO NOTHING",
            )
            .bind(&s.session_id)
            .bind(position)
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
        // Resolved to writes by `State::plan`.
        Fold::Submission { .. } | Fold::Accepted(_) | Fold::AcceptedAll(_) | Fold::Rejected(_) | Fold::Skip => {}
    }
    Ok(())
}

fn decode<M: prost::Message + Default>(bytes: &[u8]) -> Result<M, StateError> {
    M::decode(bytes).map_err(|e| StateError::Corrupt(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn submission(id: u8) -> (Vec<u8>, Fold) {
        let submitted = ContributionSubmitted {
            dataset_id: "d".into(),
            contribution_id: vec![id],
            uid: format!("u{id}"),
            ..Default::default()
        };
        (vec![id], Fold::Submission { submitted, sealed: vec![id, id] })
    }

    /// A fresh state (its directory kept alive by the caller) and the folds of dataset `d` at
    /// position 1 and submissions 0..5 at positions 2..=6.
    async fn five_submitted() -> Result<(tempfile::TempDir, State, Vec<(u64, Fold)>), StateError> {
        let dir = tempfile::tempdir().map_err(|e| StateError::Corrupt(e.to_string()))?;
        let state = State::open(&dir.path().join("state.db")).await?;
        let dataset = DatasetCreated { dataset_id: "d".into(), ..Default::default() };
        let mut events = vec![(1, Fold::Dataset(dataset))];
        events.extend((0..5u8).map(|i| (2 + u64::from(i), submission(i).1)));
        Ok((dir, state, events))
    }

    /// The multi-row statements of a run record exactly what the one-by-one fold recorded:
    /// every submission, the acceptances at their positions (the rows' order), a rejection.
    #[tokio::test]
    async fn runs_of_submissions_and_acceptances_fold_as_one_by_one() -> Result<(), StateError> {
        let (_dir, state, mut events) = five_submitted().await?;
        // Accepted out of id order: the rows follow the positions.
        events.extend([(7, Fold::Accepted(vec![3])), (8, Fold::Accepted(vec![0])), (9, Fold::Accepted(vec![4]))]);
        events.push((10, Fold::Rejected(vec![1])));
        state.fold("coordinator", &events).await?;
        assert_eq!(state.folded("coordinator").await?, 10);
        // Folded again (a redelivery): nothing changes.
        state.fold("coordinator", &events).await?;

        let found = state.submissions(&[vec![4], vec![9], vec![0], vec![4]]).await?;
        let uids: Vec<Option<String>> = found.iter().map(|s| s.as_ref().map(|s| s.submitted.uid.clone())).collect();
        assert_eq!(uids, [Some("u4".into()), None, Some("u0".into()), Some("u4".into())]);
        assert_eq!(found[0].as_ref().map(|s| s.sealed.clone()), Some(vec![4, 4]));

        let shares: Vec<AcceptedShares> = [3u8, 0, 4].iter().map(|&i| (vec![i], vec![(u64::from(i), 100)])).collect();
        state.put_shares(&shares).await?;
        let rows = state.rows("d", 8, 1).await?.map_err(|id| StateError::Corrupt(hex::encode(id)))?;
        assert_eq!(rows[0].first, [3, 0], "accepted at or before the snapshot, in acceptance order");
        let rows = state.rows("d", 9, 1).await?.map_err(|id| StateError::Corrupt(hex::encode(id)))?;
        assert_eq!(rows[0].first, [3, 0, 4]);
        assert_eq!(rows[0].second, [100, 100, 100]);
        Ok(())
    }

    /// A session's acceptances in one event: every contribution counts from its position, and
    /// the rows of one position follow their ids (the same order at every party).
    #[tokio::test]
    async fn a_session_accepted_at_once_orders_its_rows_by_id() -> Result<(), StateError> {
        let (_dir, state, mut events) = five_submitted().await?;
        events.push((7, Fold::Accepted(vec![4])));
        events.push((8, Fold::AcceptedAll(vec![vec![3], vec![0], vec![2]])));
        state.fold("coordinator", &events).await?;
        // Alone in a delivery batch too (the one-event path).
        state.fold("coordinator", &[(9, Fold::AcceptedAll(vec![vec![1]]))]).await?;
        assert_eq!(state.folded("coordinator").await?, 9);
        let shares: Vec<AcceptedShares> = (0..5u8).map(|i| (vec![i], vec![(u64::from(i), 100)])).collect();
        state.put_shares(&shares).await?;
        let rows = state.rows("d", 7, 1).await?.map_err(|id| StateError::Corrupt(hex::encode(id)))?;
        assert_eq!(rows[0].first, [4]);
        let rows = state.rows("d", 8, 1).await?.map_err(|id| StateError::Corrupt(hex::encode(id)))?;
        assert_eq!(rows[0].first, [4, 0, 2, 3], "position first, then id");
        let rows = state.rows("d", 9, 1).await?.map_err(|id| StateError::Corrupt(hex::encode(id)))?;
        assert_eq!(rows[0].first, [4, 0, 2, 3, 1]);
        Ok(())
    }

    /// A file of the first layout (contributions keyed by id) opens in the present one: its
    /// submissions, acceptances, rejections and shares read as before, and folding goes on.
    #[tokio::test]
    async fn a_file_of_the_first_layout_is_migrated() -> Result<(), StateError> {
        let dir = tempfile::tempdir().map_err(|e| StateError::Corrupt(e.to_string()))?;
        let path = dir.path().join("state.db");
        {
            let options = SqliteConnectOptions::from_str("sqlite://")?.filename(&path).create_if_missing(true);
            let pool = SqlitePoolOptions::new().max_connections(1).connect_with(options).await?;
            sqlx::raw_sql(
                "CREATE TABLE contributions (contribution_id BLOB PRIMARY KEY, dataset_id TEXT NOT NULL,
                     submitted BLOB NOT NULL, sealed BLOB NOT NULL, accepted_position INTEGER,
                     rejected INTEGER NOT NULL DEFAULT 0);
                 CREATE INDEX contributions_rows ON contributions (dataset_id, accepted_position);
                 CREATE TABLE value_shares (contribution_id BLOB PRIMARY KEY, components BLOB NOT NULL);
                 CREATE TABLE folded (source TEXT PRIMARY KEY, position INTEGER NOT NULL);
                 INSERT INTO folded VALUES ('coordinator', 9);",
            )
            .execute(&pool)
            .await?;
            // Submissions 5, 7, 6 (out of id order), 7 accepted at 8, 5 at 9, 6 rejected.
            for (id, accepted, rejected) in [(5u8, Some(9i64), 0), (7, Some(8), 0), (6, None, 1)] {
                let (_, fold) = submission(id);
                let Fold::Submission { submitted, sealed } = fold else {
                    return Err(StateError::Corrupt("not a submission".into()));
                };
                sqlx::query("INSERT INTO contributions VALUES ($1, 'd', $2, $3, $4, $5)")
                    .bind(vec![id])
                    .bind(submitted.encode_to_vec())
                    .bind(sealed)
                    .bind(accepted)
                    .bind(rejected)
                    .execute(&pool)
                    .await?;
            }
            for (id, x) in [(5u8, 50u64), (7, 70)] {
                let blob: Vec<u8> = [x.to_le_bytes(), 1u64.to_le_bytes()].concat();
                sqlx::query("INSERT INTO value_shares VALUES ($1, $2)")
                    .bind(vec![id])
                    .bind(blob)
                    .execute(&pool)
                    .await?;
            }
            pool.close().await;
        }
        let state = State::open(&path).await?;
        assert_eq!(state.folded("coordinator").await?, 9);
        let found = state.submissions(&[vec![7], vec![5], vec![1]]).await?;
        let uids: Vec<Option<String>> = found.iter().map(|s| s.as_ref().map(|s| s.submitted.uid.clone())).collect();
        assert_eq!(uids, [Some("u7".into()), Some("u5".into()), None]);
        let rows = state.rows("d", 9, 1).await?.map_err(|id| StateError::Corrupt(hex::encode(id)))?;
        assert_eq!(rows[0].first, [70, 50], "acceptance order kept, shares moved to their rows");
        // Folding goes on past the migrated rows; a redelivered old submission adds nothing.
        let (_, again) = submission(5);
        let (_, new) = submission(8);
        state.fold("coordinator", &[(10, again), (11, new), (12, Fold::Accepted(vec![8]))]).await?;
        state.put_shares(&[(vec![8], vec![(80, 1)])]).await?;
        let rows = state.rows("d", 12, 1).await?.map_err(|id| StateError::Corrupt(hex::encode(id)))?;
        assert_eq!(rows[0].first, [70, 50, 80]);
        state.close().await;
        // And it opens again (already migrated).
        let state = State::open(&path).await?;
        assert_eq!(state.submissions(&[vec![8]]).await?[0].as_ref().map(|s| s.sealed.clone()), Some(vec![8, 8]));
        Ok(())
    }
}
