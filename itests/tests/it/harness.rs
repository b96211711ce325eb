//! The harness itself: a test that fails still leaves nothing behind.

use std::panic::AssertUnwindSafe;

use futures::TryStreamExt;
use sqlx::Connection;
use triad_eventlog::{BusNames, JetStreamBus, JetStreamConfig};
use triad_itests::{Backend, Harness, nats_url, pg_admin_url};

async fn database_exists(db: &str) -> anyhow::Result<bool> {
    let mut conn = sqlx::PgConnection::connect(&pg_admin_url()).await?;
    let exists = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(db)
        .fetch_one(&mut conn)
        .await?;
    conn.close().await?;
    Ok(exists)
}

async fn stream_exists(stream: &str) -> anyhow::Result<bool> {
    let bus =
        JetStreamBus::connect(JetStreamConfig { url: nats_url(), names: BusNames::default(), ..Default::default() })
            .await?;
    let names: Vec<String> = bus.context().stream_names().try_collect().await?;
    Ok(names.iter().any(|n| n == stream))
}

/// What a test body that panics after creating a store leaves behind, run
/// the way `#[tokio::test]` runs it: `block_on` on a fresh runtime.
fn leftovers_of_a_panicking_test(runtime: tokio::runtime::Runtime) -> anyhow::Result<(bool, bool)> {
    let mut names = None;
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
        runtime.block_on(async {
            let h = Harness::new(Backend::Distributed).await.expect("harness");
            let _store = h.store("doomed").await.expect("store");
            let db = h.database_name("doomed").expect("a distributed harness has databases");
            let stream = h.stream_name("doomed");
            assert!(database_exists(&db).await.expect("pg_database"), "{db} was created");
            assert!(stream_exists(&stream).await.expect("stream names"), "{stream} was created");
            names = Some((db, stream));
            panic!("the test body fails");
        })
    }));
    drop(runtime);
    anyhow::ensure!(outcome.is_err(), "the body panicked");
    let (db, stream) = names.ok_or_else(|| anyhow::anyhow!("the body got as far as the panic"))?;
    let check = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    check.block_on(async { Ok((database_exists(&db).await?, stream_exists(&stream).await?)) })
}

#[test]
fn a_panicking_test_on_a_multi_thread_runtime_removes_its_database_and_stream() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    assert_eq!(leftovers_of_a_panicking_test(runtime)?, (false, false), "(database, stream) left behind");
    Ok(())
}

#[test]
fn a_panicking_test_on_a_current_thread_runtime_removes_its_database_and_stream() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    assert_eq!(leftovers_of_a_panicking_test(runtime)?, (false, false), "(database, stream) left behind");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_test_returning_early_removes_its_database_and_stream() -> anyhow::Result<()> {
    let (db, stream) = {
        let h = Harness::new(Backend::Distributed).await?;
        let _store = h.store("early").await?;
        let db = h.database_name("early").ok_or_else(|| anyhow::anyhow!("no database"))?;
        assert!(database_exists(&db).await?);
        (db, h.stream_name("early"))
    };
    assert!(!database_exists(&db).await?, "{db} left behind");
    assert!(!stream_exists(&stream).await?, "{stream} left behind");
    Ok(())
}
