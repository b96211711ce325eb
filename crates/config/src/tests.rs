// figment::Jail closures return figment::Error, which is large by design.
#![allow(clippy::result_large_err)]

use super::*;
use serde::Deserialize;

#[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Settings {
    name: String,
    port: u16,
    db: Db,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Db {
    url: String,
}

impl Default for Db {
    fn default() -> Self {
        Self { url: "postgres://127.0.0.1/triad".into() }
    }
}

#[test]
fn defaults_then_file_then_environment() {
    figment::Jail::expect_with(|jail| {
        jail.create_file("svc.toml", "name = \"from-file\"\nport = 7000\n")?;
        jail.set_env("TEST_DB__URL", "postgres://elsewhere/x");
        let s: Settings = load_with_env(Some(Path::new("svc.toml")), "TEST_").map_err(|e| e.to_string())?;
        assert_eq!(s.name, "from-file");
        assert_eq!(s.port, 7000);
        assert_eq!(s.db.url, "postgres://elsewhere/x");
        Ok(())
    });
}

#[test]
fn a_bad_value_names_the_key() {
    figment::Jail::expect_with(|jail| {
        jail.set_env("TEST_PORT", "seventy");
        let err = load_with_env::<Settings>(None, "TEST_").expect_err("a port must be a number");
        assert!(err.to_string().contains("key `port`"), "{err}");
        Ok(())
    });
}

#[test]
fn an_unknown_key_is_an_error_naming_it() {
    figment::Jail::expect_with(|jail| {
        jail.create_file("svc.toml", "[db]\nurll = \"x\"\n")?;
        let err = load_with_env::<Settings>(Some(Path::new("svc.toml")), "TEST_").expect_err("typo must fail");
        assert!(err.to_string().contains("urll"), "{err}");
        Ok(())
    });
}

#[test]
fn a_missing_file_is_named() {
    let err = load_with_env::<Settings>(Some(Path::new("/nonexistent/triad.toml")), "TEST_").expect_err("missing");
    assert!(err.to_string().contains("/nonexistent/triad.toml"));
}
