//! Revocation data sources: where CRLs come from and how they are fetched.

mod fetch;

pub use fetch::{FetchError, FetchLimits, Fetched, Fetcher, HttpBody, Validators};

use std::fmt;
use std::path::{Path, PathBuf};

/// A place a CRL is read from: an `http://` or `https://` URL, or a local file.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    /// Fetched with an HTTP GET.
    Http(url::Url),
    /// Read from the local file system.
    File(PathBuf),
}

/// A source location that cannot be used, with the reason as a sentence.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SourceParseError(String);

impl Source {
    /// Parses `http://...`, `https://...`, `file:///absolute/path` or `file:relative/path`.
    ///
    /// A relative `file:` path is resolved against `base_dir`, normally the directory of the
    /// configuration file, so a configuration works from any working directory.
    pub fn parse(text: &str, base_dir: &Path) -> Result<Self, SourceParseError> {
        if let Some(rest) = text.strip_prefix("file:") {
            return Self::parse_file(text, rest, base_dir);
        }

        let url = url::Url::parse(text).map_err(|error| {
            SourceParseError(format!(
                "invalid URL ({error}); use an http://, https:// or file: URL"
            ))
        })?;
        // Credentials in a URL would show in /v1/cas, /readyz and logs.
        if !url.username().is_empty() || url.password().is_some() {
            return Err(SourceParseError(
                "URL contains a user name or password, which revcheck would show in its status \
                 pages and logs; publish the CRL without authentication"
                    .to_owned(),
            ));
        }
        match url.scheme() {
            "http" | "https" if url.host().is_some() => Ok(Self::Http(url)),
            "http" | "https" => Err(SourceParseError(
                "URL has no host; write it as http://HOST/PATH".to_owned(),
            )),
            scheme => Err(SourceParseError(format!(
                "unsupported URL scheme \"{scheme}\"; use an http://, https:// or file: URL"
            ))),
        }
    }

    fn parse_file(text: &str, rest: &str, base_dir: &Path) -> Result<Self, SourceParseError> {
        let path = if rest.starts_with("//") {
            let url = url::Url::parse(text)
                .map_err(|error| SourceParseError(format!("invalid file URL ({error})")))?;
            url.to_file_path().map_err(|()| {
                SourceParseError(
                    "file URL names a host or is not absolute; write file:///ABSOLUTE/PATH \
                     or file:RELATIVE/PATH"
                        .to_owned(),
                )
            })?
        } else {
            PathBuf::from(rest)
        };

        if path.as_os_str().is_empty() {
            return Err(SourceParseError(
                "file: URL has no path; write file:PATH".to_owned(),
            ));
        }
        Ok(Self::File(base_dir.join(path)))
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Http(url) => write!(f, "{url}"),
            Self::File(path) => write!(f, "file:{}", path.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_http_and_https() {
        let base = Path::new("/etc/revcheck");
        for text in [
            "http://127.0.0.1:8000/ca.crl",
            "https://crl.example.test/ca.crl",
        ] {
            let source = Source::parse(text, base).expect(text);
            assert_eq!(source, Source::Http(url::Url::parse(text).expect(text)));
        }
    }

    #[test]
    fn parse_relative_file_against_base() {
        let source = Source::parse("file:crl/ca.crl", Path::new("/etc/revcheck"));
        assert_eq!(
            source,
            Ok(Source::File(PathBuf::from("/etc/revcheck/crl/ca.crl")))
        );
    }

    #[test]
    fn parse_absolute_file_url() {
        let source = Source::parse("file:///var/lib/ca.crl", Path::new("/etc/revcheck"));
        assert_eq!(source, Ok(Source::File(PathBuf::from("/var/lib/ca.crl"))));
    }

    #[test]
    fn parse_rejects_other_schemes() {
        for text in [
            "ftp://host/ca.crl",
            "ldap://host/cn=ca",
            "ca.crl",
            "file:",
            "http://user:secret@127.0.0.1/ca.crl",
            "http://user@127.0.0.1/ca.crl",
        ] {
            assert!(
                Source::parse(text, Path::new("/")).is_err(),
                "{text} was accepted"
            );
        }
    }
}
