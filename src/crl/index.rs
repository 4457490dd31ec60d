//! The index of revoked serial numbers built from one verified CRL.
//!
//! CRLs of large CAs list millions of entries, so the index keeps every entry as one
//! fixed-size record, without a heap allocation of its own, in a single array. A small table
//! of bucket positions turns that array into a hash table.

use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::x509::Serial;

/// The maximum length of a serial number's DER INTEGER content that the index stores. RFC 5280
/// section 4.1.2.2 allows serial numbers of up to 20 octets, and a positive 20-octet number whose
/// top bit is set needs a leading zero octet. x509-cert 0.2 rejects longer serials when it
/// decodes a CRL.
const MAX_SERIAL_OCTETS: usize = 21;

/// CRLReason (RFC 5280 section 5.3.1), named in snake case for JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RevocationReason {
    Unspecified,
    KeyCompromise,
    CaCompromise,
    AffiliationChanged,
    Superseded,
    CessationOfOperation,
    CertificateHold,
    RemoveFromCrl,
    PrivilegeWithdrawn,
    AaCompromise,
}

impl RevocationReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unspecified => "unspecified",
            Self::KeyCompromise => "key_compromise",
            Self::CaCompromise => "ca_compromise",
            Self::AffiliationChanged => "affiliation_changed",
            Self::Superseded => "superseded",
            Self::CessationOfOperation => "cessation_of_operation",
            Self::CertificateHold => "certificate_hold",
            Self::RemoveFromCrl => "remove_from_crl",
            Self::PrivilegeWithdrawn => "privilege_withdrawn",
            Self::AaCompromise => "aa_compromise",
        }
    }
}

impl From<x509_cert::ext::pkix::CrlReason> for RevocationReason {
    fn from(reason: x509_cert::ext::pkix::CrlReason) -> Self {
        use x509_cert::ext::pkix::CrlReason;
        match reason {
            CrlReason::Unspecified => Self::Unspecified,
            CrlReason::KeyCompromise => Self::KeyCompromise,
            CrlReason::CaCompromise => Self::CaCompromise,
            CrlReason::AffiliationChanged => Self::AffiliationChanged,
            CrlReason::Superseded => Self::Superseded,
            CrlReason::CessationOfOperation => Self::CessationOfOperation,
            CrlReason::CertificateHold => Self::CertificateHold,
            CrlReason::RemoveFromCRL => Self::RemoveFromCrl,
            CrlReason::PrivilegeWithdrawn => Self::PrivilegeWithdrawn,
            CrlReason::AaCompromise => Self::AaCompromise,
        }
    }
}

/// One revokedCertificates entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RevokedEntry {
    pub revocation_time: SystemTime,
    /// The reasonCode entry extension; absent means unspecified (RFC 5280 section 5.3.1).
    pub reason: Option<RevocationReason>,
    /// The invalidityDate entry extension (RFC 5280 section 5.3.2).
    pub invalidity_date: Option<SystemTime>,
}

/// A serial number longer than the 21 content octets the index stores.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "serial number has {octets} content octets, more than the {MAX_SERIAL_OCTETS} that the \
     index stores"
)]
pub struct SerialTooLong {
    pub octets: usize,
}

/// Revoked serial numbers keyed by the position of their certificate issuer in the CRL's list
/// of entry issuers and by the content octets of their DER INTEGER.
///
/// Built once by [`RevokedIndexBuilder`]. Two serial numbers match only when their encodings
/// are equal, so `00 80 01` (0x8001), `80 01` (a negative number) and `ff 01` are three keys.
/// Times are stored in whole seconds.
///
/// The records form a static hash table: a hash of the key picks a bucket, the records of each
/// bucket sit next to each other in key order, and `bucket_starts` records where each bucket
/// begins. A lookup hashes once and binary-searches one bucket, which holds two to four records
/// on average, so it takes O(1) expected time, and O(log n) even if every key fell into one
/// bucket.
#[derive(Clone)]
pub struct RevokedIndex {
    /// Grouped by bucket, sorted by [`Record::key`] within each bucket, one record per key.
    records: Box<[Record]>,
    /// Bucket `b` is `records[bucket_starts[b]..bucket_starts[b + 1]]`, so this has one more
    /// element than there are buckets.
    bucket_starts: Box<[usize]>,
    buckets: BucketHasher,
}

impl RevokedIndex {
    /// Looks up the entry for `serial` under the issuer at position `issuer`.
    pub fn get(&self, issuer: usize, serial: &Serial) -> Option<RevokedEntry> {
        let key = (issuer, serial.as_bytes());
        let bucket = self.buckets.bucket_of(key);
        // `bucket_of` returns a number below the bucket count, and `bucket_starts` has one
        // element more than that, ending at `records.len()`.
        let bucket_records =
            &self.records[self.bucket_starts[bucket]..self.bucket_starts[bucket + 1]];

        let position = bucket_records
            .binary_search_by(|record| record.key().cmp(&key))
            .ok()?;
        Some(bucket_records[position].entry())
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

impl Default for RevokedIndex {
    /// Returns an empty index.
    fn default() -> Self {
        RevokedIndexBuilder::default().finish()
    }
}

/// Prints the entry count only, because a CRL may list millions of entries.
impl fmt::Debug for RevokedIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RevokedIndex")
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

/// Collects the entries of one CRL, then sorts them once into a [`RevokedIndex`].
#[derive(Debug, Default)]
pub struct RevokedIndexBuilder {
    records: Vec<Record>,
}

impl RevokedIndexBuilder {
    /// Creates a builder with room for `entries` entries, so that the records are allocated
    /// once and the finished index has no spare capacity.
    pub fn with_capacity(entries: usize) -> Self {
        Self {
            records: Vec::with_capacity(entries),
        }
    }

    /// Adds an entry for `serial` under the issuer at position `issuer`.
    ///
    /// Times are rounded down to whole seconds, which loses nothing for CRL times: UTCTime has
    /// no fractions, and RFC 5280 section 4.1.2.5.2 forbids them in GeneralizedTime. Times
    /// before 1970 are kept.
    pub fn insert(
        &mut self,
        issuer: usize,
        serial: &Serial,
        entry: RevokedEntry,
    ) -> Result<(), SerialTooLong> {
        let octets = serial.as_bytes();
        let too_long = SerialTooLong {
            octets: octets.len(),
        };
        if octets.len() > MAX_SERIAL_OCTETS {
            return Err(too_long);
        }
        let serial_len = u8::try_from(octets.len()).map_err(|_| too_long)?;
        let mut serial_octets = [0; MAX_SERIAL_OCTETS];
        serial_octets[..octets.len()].copy_from_slice(octets);

        self.records.push(Record {
            issuer,
            revocation_time: to_unix_seconds(entry.revocation_time),
            invalidity_date: entry.invalidity_date.map_or(0, to_unix_seconds),
            has_invalidity_date: entry.invalidity_date.is_some(),
            reason: entry.reason,
            serial_len,
            serial_octets,
        });
        Ok(())
    }

    /// Builds the index. When a serial number is listed twice for the same issuer, the entry
    /// with the earlier revocation time wins, because the certificate has been revoked since
    /// then either way. Of two entries with the same time, the one added first wins.
    pub fn finish(mut self) -> RevokedIndex {
        keep_earliest(&mut self.records);
        let buckets = BucketHasher::for_records(self.records.len());
        let bucket_starts = group_into_buckets(&mut self.records, &buckets);

        RevokedIndex {
            records: self.records.into_boxed_slice(),
            bucket_starts: bucket_starts.into_boxed_slice(),
            buckets,
        }
    }
}

/// Sorts records by key and keeps one record per key: the earliest revocation, and of equal
/// times the one added first.
fn keep_earliest(records: &mut Vec<Record>) {
    // The sort is stable, so records with the same key and time keep the order they were
    // added in, and the first record of each key is the one to keep.
    records.sort_by(|a, b| {
        a.key()
            .cmp(&b.key())
            .then(a.revocation_time.cmp(&b.revocation_time))
    });
    records.dedup_by(|later, kept| later.key() == kept.key());
}

/// Reorders records with distinct keys so that the records of each bucket are contiguous and
/// sorted by key, and returns where each bucket starts, followed by `records.len()`.
fn group_into_buckets(records: &mut [Record], buckets: &BucketHasher) -> Vec<usize> {
    let mut starts = vec![0; buckets.count() + 1];
    for record in records.iter() {
        starts[buckets.bucket_of(record.key()) + 1] += 1;
    }
    for bucket in 1..starts.len() {
        starts[bucket] += starts[bucket - 1];
    }

    // A counting sort in place, which needs no second array of records. `next_free[b]` is
    // the first position in bucket b that does not hold a record of b yet. Every swap puts
    // one record into its own bucket for good, and the records of earlier buckets are all
    // placed, so `target` is never an earlier bucket.
    let mut next_free = starts.clone();
    for bucket in 0..buckets.count() {
        while next_free[bucket] < starts[bucket + 1] {
            let position = next_free[bucket];
            let target = buckets.bucket_of(records[position].key());
            records.swap(position, next_free[target]);
            next_free[target] += 1;
        }
    }

    // The keys are distinct, so an unstable sort gives the one possible order.
    for bounds in starts.windows(2) {
        records[bounds[0]..bounds[1]].sort_unstable_by(|a, b| a.key().cmp(&b.key()));
    }
    starts
}

/// The mean number of records per bucket that [`BucketHasher::for_records`] aims for. More
/// records per bucket make the bucket table smaller and each lookup's search longer.
const RECORDS_PER_BUCKET: usize = 4;

/// Assigns keys to buckets: the top bits of a hash keyed randomly for each index, so that no
/// CRL can be crafted to put its entries into one bucket.
#[derive(Clone)]
struct BucketHasher {
    /// The number of buckets is `2^bits`.
    bits: u32,
    hasher: RandomState,
}

impl BucketHasher {
    /// Creates a hasher with about one bucket per [`RECORDS_PER_BUCKET`] records, rounded up
    /// to a power of two.
    fn for_records(count: usize) -> Self {
        let bucket_count = (count / RECORDS_PER_BUCKET).next_power_of_two();
        Self {
            bits: bucket_count.trailing_zeros(),
            hasher: RandomState::new(),
        }
    }

    fn count(&self) -> usize {
        1 << self.bits
    }

    fn bucket_of(&self, key: (usize, &[u8])) -> usize {
        let hash = self.hasher.hash_one(key);
        // With a single bucket the shift would be 64, which overflows, and every key is in
        // bucket 0.
        let bucket = hash.checked_shr(u64::BITS - self.bits).unwrap_or(0);
        usize::try_from(bucket).expect("a bucket number is below the bucket count, a usize")
    }
}

/// One entry as the index stores it: 48 bytes on 64-bit targets.
///
/// Times are whole seconds since the Unix epoch, negative before 1970.
#[derive(Clone, Copy, Debug)]
struct Record {
    /// Position of the certificate issuer in the CRL's list of entry issuers.
    issuer: usize,
    revocation_time: i64,
    /// Meaningful only when `has_invalidity_date` is set, so that every i64 stays a valid date.
    invalidity_date: i64,
    has_invalidity_date: bool,
    reason: Option<RevocationReason>,
    /// Number of octets of `serial_octets` that belong to the serial number.
    serial_len: u8,
    /// The serial number's DER INTEGER content octets, padded with zeros.
    serial_octets: [u8; MAX_SERIAL_OCTETS],
}

impl Record {
    /// Returns the key that the index hashes and sorts by. Serial octets compare as byte
    /// strings, and a shorter string that is a prefix of a longer one sorts first, so two keys
    /// are equal exactly when the issuers and the encodings are.
    fn key(&self) -> (usize, &[u8]) {
        (
            self.issuer,
            &self.serial_octets[..usize::from(self.serial_len)],
        )
    }

    fn entry(&self) -> RevokedEntry {
        RevokedEntry {
            revocation_time: from_unix_seconds(self.revocation_time),
            reason: self.reason,
            invalidity_date: self
                .has_invalidity_date
                .then(|| from_unix_seconds(self.invalidity_date)),
        }
    }
}

/// Converts a time to whole seconds since the Unix epoch, rounding down, so that times before
/// 1970 become negative and half a second before the epoch becomes -1.
fn to_unix_seconds(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        // SystemTime on Unix and Windows cannot reach i64::MAX seconds, so this never saturates
        // there.
        Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
        Err(error) => {
            let before = error.duration();
            let whole_seconds = i64::try_from(before.as_secs()).unwrap_or(i64::MAX);
            if before.subsec_nanos() > 0 {
                -whole_seconds - 1
            } else {
                -whole_seconds
            }
        }
    }
}

/// Converts seconds from [`to_unix_seconds`] back to a time.
fn from_unix_seconds(seconds: i64) -> SystemTime {
    let offset = Duration::from_secs(seconds.unsigned_abs());
    let time = if seconds >= 0 {
        UNIX_EPOCH.checked_add(offset)
    } else {
        UNIX_EPOCH.checked_sub(offset)
    };
    // The seconds were rounded down from a SystemTime, and on Unix and Windows the whole
    // second at or below any SystemTime is itself a SystemTime.
    time.expect("seconds rounded down from a SystemTime convert back to a SystemTime")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2025-06-15T16:26:40Z.
    const REVOKED_AT_SECONDS: u64 = 1_750_004_800;

    fn at(seconds: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(seconds)
    }

    fn before_epoch(seconds: u64) -> SystemTime {
        UNIX_EPOCH - Duration::from_secs(seconds)
    }

    fn entry(revocation_time: SystemTime) -> RevokedEntry {
        RevokedEntry {
            revocation_time,
            reason: None,
            invalidity_date: None,
        }
    }

    fn serial(octets: &[u8]) -> Serial {
        Serial::from_der_content(octets)
    }

    fn index_of(entries: &[(usize, &[u8], RevokedEntry)]) -> RevokedIndex {
        let mut builder = RevokedIndexBuilder::default();
        for (issuer, octets, entry) in entries {
            builder
                .insert(*issuer, &serial(octets), *entry)
                .expect("serial fits the index");
        }
        builder.finish()
    }

    #[test]
    fn sign_and_leading_zero_distinguish_serials() {
        let positive = entry(at(REVOKED_AT_SECONDS));
        let negative = entry(at(REVOKED_AT_SECONDS + 60));
        let index = index_of(&[
            (0, &[0x00, 0x80, 0x01], positive),
            (0, &[0x80, 0x01], negative),
        ]);

        assert_eq!(index.len(), 2);
        assert_eq!(index.get(0, &serial(&[0x00, 0x80, 0x01])), Some(positive));
        assert_eq!(index.get(0, &serial(&[0x80, 0x01])), Some(negative));
        assert_eq!(index.get(0, &serial(&[0xff, 0x01])), None);
        assert_eq!(index.get(0, &serial(&[0x80, 0x01, 0x00])), None);
        assert_eq!(index.get(0, &serial(&[0x00, 0x80])), None);
        assert_eq!(index.get(0, &serial(&[])), None);
    }

    #[test]
    fn twenty_one_octet_serial_matches() {
        let mut longest = vec![0x00];
        longest.extend([0xff; 20]);
        let mut neighbour = longest.clone();
        neighbour[20] = 0xfe;
        let revoked = entry(at(REVOKED_AT_SECONDS));
        let index = index_of(&[(0, &longest, revoked)]);

        assert_eq!(index.get(0, &serial(&longest)), Some(revoked));
        assert_eq!(index.get(0, &serial(&neighbour)), None);
        assert_eq!(index.get(0, &serial(&longest[1..])), None);
    }

    #[test]
    fn serial_over_21_octets_rejected() {
        let mut builder = RevokedIndexBuilder::default();
        let overlong = serial(&[0x01; 22]);

        let result = builder.insert(0, &overlong, entry(at(REVOKED_AT_SECONDS)));
        assert_eq!(result, Err(SerialTooLong { octets: 22 }));

        let index = builder.finish();
        assert!(index.is_empty());
        assert_eq!(index.get(0, &overlong), None);
    }

    #[test]
    fn same_serial_under_two_issuers() {
        let first = entry(at(REVOKED_AT_SECONDS));
        let second = RevokedEntry {
            revocation_time: at(REVOKED_AT_SECONDS + 3600),
            reason: Some(RevocationReason::CaCompromise),
            invalidity_date: None,
        };
        let index = index_of(&[(1, &[0x0e], second), (0, &[0x0e], first)]);

        assert_eq!(index.len(), 2);
        assert_eq!(index.get(0, &serial(&[0x0e])), Some(first));
        assert_eq!(index.get(1, &serial(&[0x0e])), Some(second));
        assert_eq!(index.get(2, &serial(&[0x0e])), None);
    }

    #[test]
    fn duplicate_keeps_earliest_time() {
        let late = RevokedEntry {
            revocation_time: at(REVOKED_AT_SECONDS + 86_400),
            reason: Some(RevocationReason::Superseded),
            invalidity_date: None,
        };
        let early = RevokedEntry {
            revocation_time: at(REVOKED_AT_SECONDS),
            reason: Some(RevocationReason::KeyCompromise),
            invalidity_date: Some(at(REVOKED_AT_SECONDS - 86_400)),
        };
        let index = index_of(&[(0, &[0x0e], late), (0, &[0x0e], early), (0, &[0x0e], late)]);

        assert_eq!(index.len(), 1);
        assert_eq!(index.get(0, &serial(&[0x0e])), Some(early));
    }

    #[test]
    fn duplicate_with_equal_time_keeps_first() {
        let first = RevokedEntry {
            revocation_time: at(REVOKED_AT_SECONDS),
            reason: Some(RevocationReason::CertificateHold),
            invalidity_date: None,
        };
        let second = RevokedEntry {
            reason: Some(RevocationReason::KeyCompromise),
            ..first
        };
        let index = index_of(&[(0, &[0x0e], first), (0, &[0x0e], second)]);

        assert_eq!(index.len(), 1);
        assert_eq!(index.get(0, &serial(&[0x0e])), Some(first));
    }

    #[test]
    fn empty_index_finds_nothing() {
        let built = RevokedIndexBuilder::default().finish();
        assert_eq!(built.len(), 0);
        assert!(built.is_empty());
        assert_eq!(built.get(0, &serial(&[0x0e])), None);

        let default = RevokedIndex::default();
        assert!(default.is_empty());
        assert_eq!(default.get(0, &serial(&[0x0e])), None);
    }

    #[test]
    fn reason_and_invalidity_date_round_trip() {
        let reasons = [
            None,
            Some(RevocationReason::Unspecified),
            Some(RevocationReason::KeyCompromise),
            Some(RevocationReason::CaCompromise),
            Some(RevocationReason::AffiliationChanged),
            Some(RevocationReason::Superseded),
            Some(RevocationReason::CessationOfOperation),
            Some(RevocationReason::CertificateHold),
            Some(RevocationReason::RemoveFromCrl),
            Some(RevocationReason::PrivilegeWithdrawn),
            Some(RevocationReason::AaCompromise),
        ];
        let mut builder = RevokedIndexBuilder::default();
        let mut expected = Vec::new();
        for (number, reason) in (1u8..).zip(reasons) {
            let invalidity_date = (number % 2 == 0).then(|| at(REVOKED_AT_SECONDS - 3600));
            let revoked = RevokedEntry {
                revocation_time: at(REVOKED_AT_SECONDS + u64::from(number)),
                reason,
                invalidity_date,
            };
            builder
                .insert(0, &serial(&[number]), revoked)
                .expect("serial fits the index");
            expected.push((number, revoked));
        }
        let index = builder.finish();

        for (number, revoked) in expected {
            assert_eq!(
                index.get(0, &serial(&[number])),
                Some(revoked),
                "serial {number}"
            );
        }
    }

    #[test]
    fn invalidity_date_at_epoch_is_kept() {
        let revoked = RevokedEntry {
            revocation_time: at(REVOKED_AT_SECONDS),
            reason: None,
            invalidity_date: Some(UNIX_EPOCH),
        };
        let index = index_of(&[(0, &[0x0e], revoked)]);

        assert_eq!(index.get(0, &serial(&[0x0e])), Some(revoked));
    }

    #[test]
    fn time_before_1970_round_trips() {
        // 1969-07-20T20:17:40Z and 1601-01-01T00:00:00Z.
        let moon_landing = before_epoch(14_182_940);
        let year_1601 = before_epoch(11_644_473_600);
        let revoked = RevokedEntry {
            revocation_time: moon_landing,
            reason: Some(RevocationReason::Superseded),
            invalidity_date: Some(year_1601),
        };
        let index = index_of(&[(0, &[0x0e], revoked)]);

        assert_eq!(index.get(0, &serial(&[0x0e])), Some(revoked));
    }

    #[test]
    fn fraction_of_second_rounds_down() {
        let after_epoch = at(REVOKED_AT_SECONDS) + Duration::from_millis(999);
        let before = UNIX_EPOCH - Duration::from_millis(500);
        let index = index_of(&[
            (0, &[0x01], entry(after_epoch)),
            (0, &[0x02], entry(before)),
        ]);

        assert_eq!(
            index.get(0, &serial(&[0x01])),
            Some(entry(at(REVOKED_AT_SECONDS)))
        );
        assert_eq!(index.get(0, &serial(&[0x02])), Some(entry(before_epoch(1))));
    }

    #[test]
    fn every_shuffled_serial_found() {
        // Serials 0x1000 to 0x17cf, added in an order that a multiplier coprime to the count
        // scrambles, so that the builder has to sort them.
        let count: u32 = 2000;
        let octets_of = |offset: u32| {
            let number = u16::try_from(0x1000 + offset).expect("offset below 0xefff");
            number.to_be_bytes()
        };
        let time_of = |offset: u32| at(REVOKED_AT_SECONDS + u64::from(offset));

        let mut builder = RevokedIndexBuilder::with_capacity(2000);
        for step in 0..count {
            let offset = step * 7919 % count;
            builder
                .insert(0, &serial(&octets_of(offset)), entry(time_of(offset)))
                .expect("serial fits the index");
        }
        let index = builder.finish();

        assert_eq!(index.len(), 2000);
        for offset in 0..count {
            assert_eq!(
                index.get(0, &serial(&octets_of(offset))),
                Some(entry(time_of(offset))),
                "offset {offset}"
            );
        }
        assert_eq!(index.get(0, &serial(&octets_of(count))), None);
    }

    #[test]
    fn bucket_table_covers_every_record() {
        for count in [0u16, 1, 3, 4, 5, 8, 9, 1000] {
            let mut builder = RevokedIndexBuilder::default();
            for number in 0..count {
                let octets = (0x1000 + number).to_be_bytes();
                builder
                    .insert(0, &serial(&octets), entry(at(REVOKED_AT_SECONDS)))
                    .expect("serial fits the index");
            }
            let index = builder.finish();

            let bucket_count = index.buckets.count();
            assert_eq!(
                index.bucket_starts.len(),
                bucket_count + 1,
                "{count} entries"
            );
            assert_eq!(index.bucket_starts[0], 0, "{count} entries");
            assert_eq!(
                index.bucket_starts[bucket_count],
                usize::from(count),
                "{count} entries"
            );
            assert!(
                index.bucket_starts.is_sorted(),
                "{count} entries: bucket starts decrease"
            );
            assert!(
                bucket_count <= usize::from(count / 4).max(1) * 2,
                "{count} entries: {bucket_count} buckets"
            );
        }
    }

    #[cfg(target_pointer_width = "64")]
    #[test]
    fn record_is_48_bytes() {
        assert_eq!(std::mem::size_of::<Record>(), 48);
    }
}
