//! Benchmark of the revoked-serial index: build time, lookup time and resident memory per
//! entry, first for the index alone, then for a signed CRL taken through decoding and
//! verification.
//!
//! Run it with `cargo bench --bench crl_index`. Every measurement runs in a child process of
//! its own, so memory that one measurement frees but the allocator keeps cannot distort the
//! next one. Resident memory is read from `/proc/self/status`, so the benchmark runs on Linux
//! only.

use std::error::Error;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::hint::black_box;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use revcheck::crl::{
    DecodedCrl, RevocationReason, RevokedEntry, RevokedIndex, RevokedIndexBuilder, VerifiedCrl,
    VerifyOptions,
};
use revcheck::fixtures::{CrlBuilder, CrlEntry, TestCa};
use revcheck::x509::{ParsedCertificate, Serial};

type BenchResult<T = ()> = Result<T, Box<dyn Error>>;

/// Index sizes measured, in entries.
const INDEX_SIZES: [usize; 3] = [10_000, 100_000, 1_000_000];

/// Entries in the signed CRL of the pipeline measurement.
const PIPELINE_ENTRIES: usize = 1_000_000;

/// Entries of the index built before measuring, to load the program code.
const WARM_UP_ENTRIES: usize = 1000;

/// Lookups timed for each kind (listed or unlisted serial) and size.
const LOOKUPS: usize = 1_000_000;

/// The argument that makes the benchmark run one measurement, as a child process.
const MEASURE_ARGUMENT: &str = "--measure";

/// Seed of the serial numbers put in the index or the CRL.
const LISTED_SEED: u64 = 1;

/// Seed of serial numbers looked up but never listed.
const UNLISTED_SEED: u64 = 2;

/// 2025-01-01T00:00:00Z in seconds since the Unix epoch; entries are revoked from then on.
const FIRST_REVOCATION_SECONDS: u64 = 1_735_689_600;

const ORIGIN: &str = "benchmark";

fn main() -> BenchResult {
    let arguments: Vec<String> = std::env::args().collect();
    match arguments
        .iter()
        .position(|argument| argument == MEASURE_ARGUMENT)
    {
        Some(position) => run_measurement(&arguments[position + 1..]),
        None => run_all(),
    }
}

/// Runs every measurement in a child process and prints the results as Markdown tables.
fn run_all() -> BenchResult {
    println!("Index alone: {LOOKUPS} timed lookups per kind and size.\n");
    println!(
        "| entries | build | lookup, listed serial | lookup, unlisted serial | \
         resident per entry | peak resident per entry while building |"
    );
    println!("|---:|---:|---:|---:|---:|---:|");
    for entries in INDEX_SIZES {
        run_child("index", entries)?;
    }

    println!("\nWhole pipeline: a signed CRL of {PIPELINE_ENTRIES} entries.\n");
    println!("| step | result |");
    println!("|---|---:|");
    run_child("pipeline", PIPELINE_ENTRIES)
}

fn run_child(kind: &str, entries: usize) -> BenchResult {
    let status = Command::new(std::env::current_exe()?)
        .args([MEASURE_ARGUMENT, kind, &entries.to_string()])
        .status()?;
    if !status.success() {
        return Err(format!("the {kind} measurement of {entries} entries failed: {status}").into());
    }
    Ok(())
}

fn run_measurement(arguments: &[String]) -> BenchResult {
    let [kind, entries] = arguments else {
        return Err(format!("expected `{MEASURE_ARGUMENT} index|pipeline ENTRIES`").into());
    };
    let entries: usize = entries.parse()?;
    match kind.as_str() {
        "index" => measure_index(entries),
        "pipeline" => measure_pipeline(entries),
        other => Err(format!("unknown measurement {other:?}; expected index or pipeline").into()),
    }
}

/// Builds an index of `entries` entries and prints one table row.
fn measure_index(entries: usize) -> BenchResult {
    // VmRSS also counts the pages of program code, so a small index built and searched first
    // loads the code before the measured build starts.
    let warm_up = build_index(WARM_UP_ENTRIES)?;
    time_index_lookups(&warm_up, LISTED_SEED, WARM_UP_ENTRIES, true)?;
    drop(warm_up);

    let resident_before = resident_bytes()?;
    reset_peak_resident();
    let started = Instant::now();
    let index = build_index(entries)?;
    let build_time = started.elapsed();
    // The serials were generated one at a time and freed, so the growth is the index plus any
    // memory that the build freed but the allocator kept.
    let resident_after = resident_bytes()?;
    let peak_resident = peak_resident_bytes()?;

    if index.len() != entries {
        return Err(format!("the index holds {} entries, not {entries}", index.len()).into());
    }
    let per_listed = time_index_lookups(&index, LISTED_SEED, entries, true)?;
    let per_unlisted = time_index_lookups(&index, UNLISTED_SEED, entries, false)?;

    println!(
        "| {} | {} | {} | {} | {} | {} |",
        group_thousands(entries),
        format_duration(build_time),
        format_duration(per_listed),
        format_duration(per_unlisted),
        bytes_per_entry(resident_after.saturating_sub(resident_before), entries),
        bytes_per_entry(peak_resident.saturating_sub(resident_before), entries),
    );
    Ok(())
}

/// Builds an index of the serials of [`LISTED_SEED`], generating each serial as it is added.
fn build_index(entries: usize) -> BenchResult<RevokedIndex> {
    let mut builder = RevokedIndexBuilder::with_capacity(entries);
    for number in 0..entries {
        builder.insert(0, &serial(LISTED_SEED, number), index_entry(number))?;
    }
    Ok(builder.finish())
}

/// Looks up [`LOOKUPS`] serials from `seed`, in the order they were generated, which is random
/// with respect to the index order, and returns the mean time of one lookup.
fn time_index_lookups(
    index: &RevokedIndex,
    seed: u64,
    entries: usize,
    expect_found: bool,
) -> BenchResult<Duration> {
    let queries: Vec<Serial> = (0..entries.min(LOOKUPS))
        .map(|number| serial(seed, number))
        .collect();

    let mut found = 0;
    let started = Instant::now();
    for query in queries.iter().cycle().take(LOOKUPS) {
        if black_box(index.get(0, black_box(query))).is_some() {
            found += 1;
        }
    }
    let elapsed = started.elapsed();

    check_found(found, expect_found)?;
    Ok(elapsed / lookups_u32())
}

/// Builds and signs a CRL of `entries` entries, decodes and verifies it, and prints one table
/// row per result.
fn measure_pipeline(entries: usize) -> BenchResult {
    let ca = TestCa::root("Benchmark CA")?;
    let issuer = ParsedCertificate::from_der(ca.cert_der())?;

    let started = Instant::now();
    let der = build_crl(&ca, entries)?;
    print_row(
        "build and sign the CRL with `CrlBuilder`",
        &format_duration(started.elapsed()),
    );
    print_row(
        "CRL size",
        &format!(
            "{} bytes, {}",
            group_thousands(der.len()),
            bytes_per_entry(der.len(), entries)
        ),
    );

    // The DER stays allocated from here on, so it is not part of any growth below.
    let resident_before = resident_bytes()?;
    reset_peak_resident();
    let (verified, timings) = load_crl(&der, &issuer)?;
    let peak_resident = peak_resident_bytes()?;
    let resident_loaded = resident_bytes()?;
    print_row("`DecodedCrl::from_der`", &format_duration(timings.decode));
    print_row(
        "`DecodedCrl::verify` (signature, checks, index)",
        &format_duration(timings.verify),
    );
    print_row(
        "peak resident growth while decoding and verifying",
        &bytes_per_entry(peak_resident.saturating_sub(resident_before), entries),
    );
    print_row(
        "resident growth with the `VerifiedCrl` held and the `DecodedCrl` dropped",
        &bytes_per_entry(resident_loaded.saturating_sub(resident_before), entries),
    );

    let (per_listed, per_unlisted) = time_crl_lookups(&verified, &issuer, entries)?;
    print_row(
        "`VerifiedCrl::revoked_entry`, listed serial",
        &format_duration(per_listed),
    );
    print_row(
        "`VerifiedCrl::revoked_entry`, unlisted serial",
        &format_duration(per_unlisted),
    );

    // glibc gives allocations above its mmap threshold (at most 32 MiB by default on 64-bit
    // Linux) their own mappings and unmaps them when they are freed. With a million entries,
    // the DER copy and the index records are both larger, so dropping the VerifiedCrl returns
    // them, but smaller allocations such as the bucket table may stay in the heap.
    let der_bytes = verified.der().len();
    let resident_with_crl = resident_bytes()?;
    drop(verified);
    let returned = resident_with_crl.saturating_sub(resident_bytes()?);
    print_row(
        "resident memory returned when the `VerifiedCrl` is dropped",
        &bytes_per_entry(returned, entries),
    );
    print_row(
        "DER copy that the `VerifiedCrl` keeps",
        &bytes_per_entry(der_bytes, entries),
    );
    Ok(())
}

/// Times of the steps of loading a CRL.
struct LoadTimings {
    decode: Duration,
    verify: Duration,
}

/// Decodes and verifies a CRL as the service does, dropping the decoded form before returning.
fn load_crl(der: &[u8], issuer: &ParsedCertificate) -> BenchResult<(VerifiedCrl, LoadTimings)> {
    let started = Instant::now();
    let decoded = DecodedCrl::from_der(der, ORIGIN)?;
    let decode = started.elapsed();

    let options = VerifyOptions::at(SystemTime::now(), Duration::from_secs(300));
    let started = Instant::now();
    let verified = decoded.verify(issuer, issuer, &options)?;
    let verify = started.elapsed();
    Ok((verified, LoadTimings { decode, verify }))
}

fn print_row(step: &str, result: &str) {
    println!("| {step} | {result} |");
}

/// Encodes and signs a CRL whose entries carry the serials of [`LISTED_SEED`]. Every second
/// entry has a reasonCode extension.
fn build_crl(ca: &TestCa, entries: usize) -> BenchResult<Vec<u8>> {
    let mut builder = CrlBuilder::new().crl_number(1).authority_key_identifier();
    for number in 0..entries {
        let octets = serial_octets(LISTED_SEED, number);
        let mut entry = CrlEntry::new(&octets, revocation_time(number));
        if number.is_multiple_of(2) {
            entry = entry.reason(rcgen::RevocationReason::KeyCompromise);
        }
        builder = builder.entry(entry);
    }
    Ok(builder.build(ca)?)
}

/// Looks up listed and unlisted serials through [`VerifiedCrl::revoked_entry`]
/// and returns the mean time of one lookup of each kind.
fn time_crl_lookups(
    crl: &VerifiedCrl,
    issuer: &ParsedCertificate,
    entries: usize,
) -> BenchResult<(Duration, Duration)> {
    let mut means = [Duration::ZERO; 2];
    for (mean, (seed, expect_found)) in means
        .iter_mut()
        .zip([(LISTED_SEED, true), (UNLISTED_SEED, false)])
    {
        let queries: Vec<Serial> = (0..entries.min(LOOKUPS))
            .map(|number| serial(seed, number))
            .collect();

        let mut found = 0;
        let started = Instant::now();
        for query in queries.iter().cycle().take(LOOKUPS) {
            if black_box(crl.revoked_entry(issuer.subject(), black_box(query))).is_some() {
                found += 1;
            }
        }
        *mean = started.elapsed() / lookups_u32();
        check_found(found, expect_found)?;
    }
    Ok((means[0], means[1]))
}

fn check_found(found: usize, expect_found: bool) -> BenchResult {
    let expected = if expect_found { LOOKUPS } else { 0 };
    if found != expected {
        return Err(
            format!("{found} of {LOOKUPS} lookups found an entry, expected {expected}").into(),
        );
    }
    Ok(())
}

fn lookups_u32() -> u32 {
    u32::try_from(LOOKUPS).unwrap_or(u32::MAX)
}

/// Returns the content octets of a random-looking positive 16-octet DER INTEGER. Every
/// `DefaultHasher::new` starts from the same keys, so a seed and number always give the same
/// serial.
fn serial_octets(seed: u64, number: usize) -> [u8; 16] {
    let mut octets = [0; 16];
    for (half, chunk) in octets.chunks_exact_mut(8).enumerate() {
        let mut hasher = DefaultHasher::new();
        (seed, number, half).hash(&mut hasher);
        chunk.copy_from_slice(&hasher.finish().to_be_bytes());
    }
    // A clear top bit keeps the number positive without a leading zero octet, and a set next
    // bit keeps the first octet from being a redundant zero, so the length stays 16.
    octets[0] = (octets[0] & 0x7f) | 0x40;
    octets
}

fn serial(seed: u64, number: usize) -> Serial {
    Serial::from_der_content(&serial_octets(seed, number))
}

fn revocation_time(number: usize) -> SystemTime {
    let seconds = FIRST_REVOCATION_SECONDS + u64::try_from(number).unwrap_or(u64::MAX) % 86_400;
    UNIX_EPOCH + Duration::from_secs(seconds)
}

/// Returns entry `number` of the index measurement. Every fourth entry has a reasonCode and
/// every eighth an invalidity date, though neither changes the fixed record size.
fn index_entry(number: usize) -> RevokedEntry {
    let revocation_time = revocation_time(number);
    RevokedEntry {
        revocation_time,
        reason: number
            .is_multiple_of(4)
            .then_some(RevocationReason::KeyCompromise),
        invalidity_date: number
            .is_multiple_of(8)
            .then(|| revocation_time - Duration::from_secs(3600)),
    }
}

/// Returns the resident set size of this process (`VmRSS`).
fn resident_bytes() -> BenchResult<usize> {
    status_field_bytes("VmRSS")
}

/// Returns the peak resident set size of this process (`VmHWM`).
fn peak_resident_bytes() -> BenchResult<usize> {
    status_field_bytes("VmHWM")
}

/// Resets `VmHWM` to the current resident size (Linux 4.0 and later), so that it tracks the
/// peak from now on. Without the reset, the peak includes everything the process did before.
fn reset_peak_resident() {
    if let Err(error) = std::fs::write("/proc/self/clear_refs", "5") {
        eprintln!(
            "failed to reset the peak resident size through /proc/self/clear_refs: {error}; \
             the peaks reported include all earlier work of the process"
        );
    }
}

/// Reads a field given in kB from `/proc/self/status` and returns it in bytes.
fn status_field_bytes(field: &str) -> BenchResult<usize> {
    let status = std::fs::read_to_string("/proc/self/status")
        .map_err(|error| format!("failed to read /proc/self/status (Linux only): {error}"))?;
    let value = status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .ok_or_else(|| format!("{field} not found in /proc/self/status"))?;
    let kib: usize = value.trim().trim_end_matches("kB").trim().parse()?;
    Ok(kib * 1024)
}

fn bytes_per_entry(bytes: usize, entries: usize) -> String {
    let per_entry = bytes as f64 / entries as f64;
    format!("{per_entry:.1} B/entry")
}

fn format_duration(duration: Duration) -> String {
    let nanos = duration.as_nanos();
    if nanos < 10_000 {
        format!("{nanos} ns")
    } else if nanos < 10_000_000 {
        format!("{:.1} µs", duration.as_secs_f64() * 1e6)
    } else if nanos < 10_000_000_000 {
        format!("{:.1} ms", duration.as_secs_f64() * 1e3)
    } else {
        format!("{:.1} s", duration.as_secs_f64())
    }
}

/// Writes a count with commas between groups of three digits, such as 1,000,000.
fn group_thousands(count: usize) -> String {
    let digits = count.to_string();
    let mut grouped = String::new();
    for (position, digit) in digits.chars().enumerate() {
        if position > 0 && (digits.len() - position).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    grouped
}
