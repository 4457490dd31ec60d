//! Fetching source bodies over HTTP(S) and from files, under a timeout and a size limit.

use std::time::Duration;

use super::Source;

/// Errors from fetching a source body.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    #[error("fetching {source_name} failed: {detail}")]
    Http { source_name: String, detail: String },

    #[error("fetching {source_name} timed out after {}", humantime::format_duration(*timeout))]
    Timeout {
        source_name: String,
        timeout: Duration,
    },

    #[error("{source_name} answered HTTP {status}; expected 200")]
    Status { source_name: String, status: u16 },

    #[error(
        "{source_name} is larger than the limit of {limit} bytes; raise fetch.max_size if the \
         CRL is really this large"
    )]
    TooLarge { source_name: String, limit: u64 },

    #[error("cannot read {source_name}: {error}")]
    File {
        source_name: String,
        error: std::io::Error,
    },
}

/// Limits that apply to every fetch.
#[derive(Clone, Copy, Debug)]
pub struct FetchLimits {
    /// Deadline for one whole fetch, from connecting to the last body byte.
    pub timeout: Duration,
    /// Largest body accepted, in bytes.
    pub max_size: u64,
}

/// Fetches source bodies. Cheap to clone: clones share one connection pool.
#[derive(Clone, Debug)]
pub struct Fetcher {
    client: reqwest::Client,
    limits: FetchLimits,
}

impl Fetcher {
    /// Builds a fetcher whose HTTP client does not follow redirects, so that only configured
    /// URLs are ever fetched.
    pub fn new(limits: FetchLimits) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(limits.timeout)
            .connect_timeout(limits.timeout)
            .user_agent(concat!("revcheck/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { client, limits })
    }

    /// Reads the whole body of `source`.
    pub async fn fetch(&self, source: &Source) -> Result<Vec<u8>, FetchError> {
        match source {
            Source::Http(url) => {
                let fetch = self.fetch_http(url, source);
                match tokio::time::timeout(self.limits.timeout, fetch).await {
                    Ok(result) => result,
                    Err(_) => Err(FetchError::Timeout {
                        source_name: source.to_string(),
                        timeout: self.limits.timeout,
                    }),
                }
            }
            Source::File(path) => self.read_file(path, source).await,
        }
    }

    async fn fetch_http(&self, url: &url::Url, source: &Source) -> Result<Vec<u8>, FetchError> {
        let source_name = source.to_string();
        let http_error = |error: reqwest::Error| {
            if error.is_timeout() {
                FetchError::Timeout {
                    source_name: source_name.clone(),
                    timeout: self.limits.timeout,
                }
            } else {
                FetchError::Http {
                    source_name: source_name.clone(),
                    detail: error_chain(&error),
                }
            }
        };

        let mut response = self
            .client
            .get(url.clone())
            .send()
            .await
            .map_err(http_error)?;
        if response.status() != reqwest::StatusCode::OK {
            return Err(FetchError::Status {
                source_name,
                status: response.status().as_u16(),
            });
        }

        let too_large = || FetchError::TooLarge {
            source_name: source_name.clone(),
            limit: self.limits.max_size,
        };
        if response
            .content_length()
            .is_some_and(|length| length > self.limits.max_size)
        {
            return Err(too_large());
        }

        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(http_error)? {
            if (body.len() + chunk.len()) as u64 > self.limits.max_size {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    async fn read_file(
        &self,
        path: &std::path::Path,
        source: &Source,
    ) -> Result<Vec<u8>, FetchError> {
        let file_error = |error| FetchError::File {
            source_name: source.to_string(),
            error,
        };
        let metadata = tokio::fs::metadata(path).await.map_err(file_error)?;
        if metadata.len() > self.limits.max_size {
            return Err(FetchError::TooLarge {
                source_name: source.to_string(),
                limit: self.limits.max_size,
            });
        }
        tokio::fs::read(path).await.map_err(file_error)
    }
}

/// Joins an error and its sources, since reqwest's own message omits the cause.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text
}
