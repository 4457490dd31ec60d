//! Last-good persistence: every accepted CRL and OCSP response is written to the state
//! directory, so that a restart serves verified data before any network fetch succeeds.
//!
//! Files are only a cache of what was received. Whatever is read back is decoded and verified
//! again like a fetched body, so a corrupt or tampered file is rejected, never trusted.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use crate::source::Source;
use crate::x509::hex;

static TEMPORARY_SEQUENCE: AtomicU64 = AtomicU64::new(0);

/// File extension of a stored OCSP response, which is the DER OCSPResponse as received.
const OCSP_EXTENSION: &str = "der";

/// The state directory, with one folder per CA, one file per CRL source in it and one file
/// per certificate in its `ocsp` folder.
#[derive(Clone, Debug)]
pub struct StateStore {
    dir: PathBuf,
}

/// An OCSP response read back from the state directory, not yet verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredOcspResponse {
    pub path: PathBuf,
    /// The key the response was saved under, which is the file name without its extension.
    pub key: String,
    pub der: Vec<u8>,
    /// Last modification time of the file, which is when the response was saved. `None` when
    /// the file system does not record it.
    pub modified: Option<SystemTime>,
}

/// A file in the state directory that cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read the state file {}: {source}", path.display())]
pub struct StateFileError {
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

impl StateStore {
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file that holds the last good CRL of `source` for CA `ca_id`. The name is a digest
    /// of the source location, so that any URL maps to a safe file name.
    pub fn path_for(&self, ca_id: &str, source: &Source) -> PathBuf {
        let digest = ring::digest::digest(&ring::digest::SHA256, source.to_string().as_bytes());
        let name = format!("{}.crl", hex::encode(&digest.as_ref()[..16]));
        self.dir.join(ca_id).join(name)
    }

    /// Writes `der` as the last good CRL of `source`: to a temporary file, synced, then renamed
    /// over the old one, so that a crash leaves either the old or the new file, never half.
    pub fn save(&self, ca_id: &str, source: &Source, der: &[u8]) -> io::Result<()> {
        write_atomically(&self.path_for(ca_id, source), "crl", der)
    }

    /// Reads the last good CRL of `source`; `Ok(None)` when there is none yet.
    pub fn load(&self, ca_id: &str, source: &Source) -> io::Result<Option<Vec<u8>>> {
        match fs::read(self.path_for(ca_id, source)) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// The folder that contains the stored OCSP responses of CA `ca_id`.
    pub fn ocsp_dir(&self, ca_id: &str) -> PathBuf {
        self.dir.join(ca_id).join("ocsp")
    }

    /// The file that contains the OCSP response stored under `key` for CA `ca_id`.
    ///
    /// `key` must be a non-empty string of ASCII letters and digits, such as a hex digest of
    /// the CertID, so that it cannot name a file outside the folder.
    pub fn ocsp_path(&self, ca_id: &str, key: &str) -> io::Result<PathBuf> {
        if key.is_empty() || !key.bytes().all(|byte| byte.is_ascii_alphanumeric()) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("OCSP state key {key:?} is not a string of ASCII letters and digits"),
            ));
        }
        Ok(self.ocsp_dir(ca_id).join(format!("{key}.{OCSP_EXTENSION}")))
    }

    /// Writes `der`, an OCSPResponse as received, as the stored response under `key`,
    /// replacing any earlier one atomically like [`save`](Self::save).
    pub fn save_ocsp(&self, ca_id: &str, key: &str, der: &[u8]) -> io::Result<()> {
        write_atomically(&self.ocsp_path(ca_id, key)?, OCSP_EXTENSION, der)
    }

    /// Reads every stored OCSP response of CA `ca_id`. The list is empty when there is none.
    ///
    /// Only an unreadable folder fails the whole call. A file that cannot be read is returned
    /// as an error in its place, so that the others still load. Files with another
    /// extension, such as temporary files left by a crash, are skipped.
    pub fn load_ocsp_all(
        &self,
        ca_id: &str,
    ) -> io::Result<Vec<Result<StoredOcspResponse, StateFileError>>> {
        let entries = match fs::read_dir(self.ocsp_dir(ca_id)) {
            Ok(entries) => entries,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => return Err(error),
        };

        let mut stored = Vec::new();
        for entry in entries {
            let path = entry?.path();
            if path.extension().and_then(|extension| extension.to_str()) != Some(OCSP_EXTENSION) {
                continue;
            }
            let Some(key) = path.file_stem().and_then(|stem| stem.to_str()) else {
                continue;
            };
            let key = key.to_owned();
            stored.push(read_stored_ocsp(path, key));
        }
        Ok(stored)
    }

    /// Deletes the OCSP response stored under `key`, and succeeds when there is none.
    pub fn remove_ocsp(&self, ca_id: &str, key: &str) -> io::Result<()> {
        match fs::remove_file(self.ocsp_path(ca_id, key)?) {
            Err(error) if error.kind() != io::ErrorKind::NotFound => Err(error),
            _ => Ok(()),
        }
    }
}

fn read_stored_ocsp(path: PathBuf, key: String) -> Result<StoredOcspResponse, StateFileError> {
    let read = fs::read(&path).and_then(|der| {
        let modified = fs::metadata(&path)?.modified().ok();
        Ok((der, modified))
    });
    match read {
        Ok((der, modified)) => Ok(StoredOcspResponse {
            path,
            key,
            der,
            modified,
        }),
        Err(source) => Err(StateFileError { path, source }),
    }
}

/// Writes `bytes` to `path` through a temporary file, synced, then renamed over the old one,
/// so that a crash leaves either the old or the new file, never half. `extension` is the
/// extension of `path`, which the temporary file name extends.
fn write_atomically(path: &Path, extension: &str, bytes: &[u8]) -> io::Result<()> {
    let folder = path
        .parent()
        .ok_or_else(|| io::Error::other("state file has no parent directory"))?;
    fs::create_dir_all(folder)?;

    // A name of its own per write, so that two writers (the old and the new refresh task
    // around a reload) never interleave in one temporary file.
    let sequence = TEMPORARY_SEQUENCE.fetch_add(1, Ordering::Relaxed);
    let temporary =
        path.with_extension(format!("{extension}.{}.{sequence}.tmp", std::process::id()));
    {
        let mut file = fs::File::create(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    fs::rename(&temporary, path)?;
    // The rename itself is durable only once the directory entry is synced.
    fs::File::open(folder)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(text: &str) -> Source {
        Source::parse(text, Path::new("/")).expect("valid source")
    }

    #[test]
    fn save_then_load_round_trips() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = StateStore::new(dir.path().join("state"));
        let crl = source("http://127.0.0.1:9000/ca.crl");

        assert_eq!(store.load("demo", &crl).expect("load"), None);
        store.save("demo", &crl, b"first").expect("save");
        store.save("demo", &crl, b"second").expect("save again");
        assert_eq!(
            store.load("demo", &crl).expect("load"),
            Some(b"second".to_vec())
        );

        let leftovers: Vec<_> = fs::read_dir(dir.path().join("state/demo"))
            .expect("CA folder")
            .flatten()
            .map(|entry| entry.file_name())
            .collect();
        assert_eq!(
            leftovers.len(),
            1,
            "temporary file left behind: {leftovers:?}"
        );
    }

    #[test]
    fn sources_get_distinct_files() {
        let store = StateStore::new(PathBuf::from("/var/lib/revcheck"));
        let first = store.path_for("demo", &source("http://127.0.0.1:9000/a.crl"));
        let second = store.path_for("demo", &source("http://127.0.0.1:9000/b.crl"));
        assert_ne!(first, second);
        assert!(first.starts_with("/var/lib/revcheck/demo"), "{first:?}");
    }

    #[test]
    fn unwritable_directory_reports_error() {
        let dir = tempfile::tempdir().expect("temp dir");
        let blocker = dir.path().join("not-a-directory");
        fs::write(&blocker, b"file").expect("write blocker");
        let store = StateStore::new(blocker);
        let crl = source("http://127.0.0.1:9000/ca.crl");
        assert!(store.save("demo", &crl, b"crl").is_err());
    }

    #[test]
    fn ocsp_save_then_load_all() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = StateStore::new(dir.path().join("state"));

        assert!(store.load_ocsp_all("demo").expect("load").is_empty());
        store.save_ocsp("demo", "aa01", b"first").expect("save");
        store
            .save_ocsp("demo", "aa01", b"replaced")
            .expect("save again");
        store.save_ocsp("demo", "bb02", b"second").expect("save");
        store.save_ocsp("other", "cc03", b"other CA").expect("save");

        let mut loaded: Vec<StoredOcspResponse> = store
            .load_ocsp_all("demo")
            .expect("load")
            .into_iter()
            .map(|stored| stored.expect("file is readable"))
            .collect();
        loaded.sort_by(|a, b| a.key.cmp(&b.key));

        assert_eq!(loaded.len(), 2, "{loaded:?}");
        assert_eq!(loaded[0].key, "aa01");
        assert_eq!(loaded[0].der, b"replaced");
        assert_eq!(loaded[0].path, dir.path().join("state/demo/ocsp/aa01.der"));
        assert!(loaded[0].modified.is_some());
        assert_eq!(loaded[1].key, "bb02");
        assert_eq!(loaded[1].der, b"second");
    }

    #[test]
    fn ocsp_load_skips_other_files() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = StateStore::new(dir.path().to_path_buf());
        store.save_ocsp("demo", "aa01", b"response").expect("save");
        let ocsp_dir = store.ocsp_dir("demo");
        fs::write(ocsp_dir.join("aa01.der.123.0.tmp"), b"half").expect("write");
        fs::write(ocsp_dir.join("notes.txt"), b"text").expect("write");

        let loaded = store.load_ocsp_all("demo").expect("load");

        assert_eq!(loaded.len(), 1, "{loaded:?}");
    }

    #[test]
    fn ocsp_key_must_be_alphanumeric() {
        let store = StateStore::new(PathBuf::from("/var/lib/revcheck"));
        for key in ["", "../escape", "a/b", "a.b", "a b"] {
            let error = store
                .ocsp_path("demo", key)
                .expect_err("key must be rejected");
            assert_eq!(error.kind(), io::ErrorKind::InvalidInput, "key {key:?}");
        }
        assert_eq!(
            store.ocsp_path("demo", "00ff").expect("hex key"),
            PathBuf::from("/var/lib/revcheck/demo/ocsp/00ff.der")
        );
    }

    #[test]
    fn ocsp_remove_deletes_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = StateStore::new(dir.path().to_path_buf());
        store.save_ocsp("demo", "aa01", b"response").expect("save");

        store.remove_ocsp("demo", "aa01").expect("remove");
        store
            .remove_ocsp("demo", "aa01")
            .expect("removing a missing file succeeds");

        assert!(store.load_ocsp_all("demo").expect("load").is_empty());
    }
}
