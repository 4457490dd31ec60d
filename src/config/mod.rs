//! Temporary stand-in with the agreed configuration types; replaced by the loader.
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
#[derive(Clone, Debug)]
pub struct Config {
    pub path: PathBuf,
    pub listen: SocketAddr,
    pub clock_skew: Duration,
    pub fetch: FetchConfig,
    pub refresh: RefreshConfig,
    pub cas: Vec<CaConfig>,
}
#[derive(Clone, Debug)]
pub struct FetchConfig {
    pub timeout: Duration,
    pub max_size: u64,
}
#[derive(Clone, Debug)]
pub struct RefreshConfig {
    pub interval: Duration,
}
#[derive(Clone, Debug)]
pub struct CaConfig {
    pub id: String,
    pub certificate: PathBuf,
    pub crl: Vec<crate::source::Source>,
}
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("x")]
    Invalid { path: PathBuf },
}
impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Err(ConfigError::Invalid {
            path: path.to_owned(),
        })
    }
}
