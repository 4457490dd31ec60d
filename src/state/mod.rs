//! Last-good CRL persistence: every accepted CRL is written to the state directory, so that a
//! restart serves verified data before any network fetch succeeds.
//!
//! Files are only a cache of what was received. Whatever is read back is decoded and verified
//! again like a fetched body, so a corrupt or tampered file is rejected, never trusted.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use std::sync::atomic::{AtomicU64, Ordering};

use crate::source::Source;
use crate::x509::hex;

static TEMPORARY_SEQUENCE: AtomicU64 = AtomicU64::new(0);

/// The state directory, with one folder per CA and one file per CRL source.
#[derive(Clone, Debug)]
pub struct StateStore {
    dir: PathBuf,
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
        let path = self.path_for(ca_id, source);
        let folder = path
            .parent()
            .ok_or_else(|| io::Error::other("state file has no parent directory"))?;
        fs::create_dir_all(folder)?;

        // A name of its own per write, so that two writers (the old and the new refresh task
        // around a reload) never interleave in one temporary file.
        let sequence = TEMPORARY_SEQUENCE.fetch_add(1, Ordering::Relaxed);
        let temporary = path.with_extension(format!("crl.{}.{sequence}.tmp", std::process::id()));
        {
            let mut file = fs::File::create(&temporary)?;
            file.write_all(der)?;
            file.sync_all()?;
        }
        fs::rename(&temporary, &path)?;
        // The rename itself is durable only once the directory entry is synced.
        fs::File::open(folder)?.sync_all()
    }

    /// Reads the last good CRL of `source`; `Ok(None)` when there is none yet.
    pub fn load(&self, ca_id: &str, source: &Source) -> io::Result<Option<Vec<u8>>> {
        match fs::read(self.path_for(ca_id, source)) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(error),
        }
    }
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
}
