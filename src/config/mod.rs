//! The TOML configuration file: loading, defaults and validation.

mod error;

pub use error::{ConfigError, ConfigProblem};
