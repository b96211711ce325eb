//! Loads one typed configuration per service, in layers: the type's
//! defaults (which work on one machine), then a TOML file, then environment
//! variables `TRIAD_<SECTION>__<KEY>` (double underscore for nesting). A bad
//! value is an error that names the key and where it came from.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::path::Path;

/// A configuration that does not load.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file named does not exist.
    #[error("configuration file {0} does not exist")]
    MissingFile(String),
    /// A key has a bad value, or a key is unknown.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// Loads `T` from its defaults, then `file` (if given), then the environment
/// variables starting with `TRIAD_`.
pub fn load<T>(file: Option<&Path>) -> Result<T, ConfigError>
where
    T: Serialize + DeserializeOwned + Default,
{
    load_with_env(file, "TRIAD_")
}

/// Like [`load`] with another variable prefix (tests use their own).
pub fn load_with_env<T>(file: Option<&Path>, prefix: &str) -> Result<T, ConfigError>
where
    T: Serialize + DeserializeOwned + Default,
{
    let mut figment = Figment::from(Serialized::defaults(T::default()));
    if let Some(path) = file {
        if !path.exists() {
            return Err(ConfigError::MissingFile(path.display().to_string()));
        }
        figment = figment.merge(Toml::file_exact(path));
    }
    figment = figment.merge(Env::prefixed(prefix).split("__").lowercase(true));
    figment.extract().map_err(|e| ConfigError::Invalid(describe(e)))
}

/// One line per problem: the key path, what was wrong, and its source.
fn describe(e: figment::Error) -> String {
    e.into_iter()
        .map(|e| {
            let key = if e.path.is_empty() { String::from("<root>") } else { e.path.join(".") };
            let from = e.metadata.as_ref().map(|m| format!(" (from {})", m.name)).unwrap_or_default();
            format!("key `{key}`: {}{from}", e.kind)
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests;
