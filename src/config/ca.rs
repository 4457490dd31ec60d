//! The `[[ca]]` tables, each naming a certificate authority, its certificate and its CRL sources.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::reader::{Entry, MinDuration, Problems, TableReader};
use super::{CaConfig, OcspConfig, OcspHash, OcspRequestForm, RevocationMethod, UnknownPolicy};
use crate::source::Source;

const MAX_ID_CHARS: usize = 64;
/// Upper bound for `max_stale`: serving revocation data more than a week past its nextUpdate
/// hides a CA outage for too long.
const MAX_STALE: Duration = Duration::from_secs(7 * 24 * 3600);
/// Upper bound for `max_age_without_next_update`: a CRL older than a month is not a current
/// view of revocations, whatever the CA's schedule.
const MAX_AGE_WITHOUT_NEXT_UPDATE: Duration = Duration::from_secs(31 * 24 * 3600);
const ID_RULE: &str =
    "1 to 64 lowercase letters, digits, '-' or '_', starting with a letter or digit";
const CA_FIX: &str = "add at least one [[ca]] table with id, certificate and crl";
const CRL_LIST_FIX: &str =
    "write a list of CRL URLs, such as crl = [\"http://crl.example.test/ca.crl\"]";
const CRL_FIX: &str =
    "write each CRL source as a URL string, such as \"http://crl.example.test/ca.crl\"";

/// Reads the required `[[ca]]` array. CAs with problems are reported and left out.
pub(super) fn read_cas(
    root: &mut TableReader<'_>,
    base_dir: &Path,
    problems: &mut Problems,
) -> Vec<CaConfig> {
    let Some(entry) = root.required("ca", problems, CA_FIX) else {
        return Vec::new();
    };
    let Some(tables) = entry.table_array(problems, "write each CA as a [[ca]] table") else {
        return Vec::new();
    };
    // Checks the array as written, because `tables` also lacks items that are not tables.
    if entry.is_empty_array() {
        entry.report(problems, format!("no CA configured; {CA_FIX}"));
    }

    // CA ids are used in URL paths and as a metrics label, so each must be unique. The map
    // stores the key path of the CA that used an id first.
    let mut first_use_of_id = HashMap::new();
    tables
        .into_iter()
        .filter_map(|table| read_ca(table, base_dir, &mut first_use_of_id, problems))
        .collect()
}

fn read_ca(
    mut table: TableReader<'_>,
    base_dir: &Path,
    first_use_of_id: &mut HashMap<String, String>,
    problems: &mut Problems,
) -> Option<CaConfig> {
    let id = read_id(&mut table, first_use_of_id, problems);
    let certificate = read_certificate(&mut table, base_dir, problems);
    let method = read_choice(
        &mut table,
        "method",
        &[
            ("crl", RevocationMethod::Crl),
            ("ocsp", RevocationMethod::Ocsp),
            ("ocsp_then_crl", RevocationMethod::OcspThenCrl),
            ("crl_then_ocsp", RevocationMethod::CrlThenOcsp),
        ],
        problems,
    )
    .unwrap_or(RevocationMethod::Crl);
    let crl = if method.uses_crl() {
        read_crl_sources(&mut table, base_dir, problems)
    } else {
        let listed = table.optional("crl").is_some();
        if listed {
            problems.add(
                format!("{}.crl", table.path()),
                None,
                "CRL sources are listed but method = \"ocsp\" never uses them; remove crl or \
                 choose a method that includes CRLs"
                    .to_owned(),
            );
        }
        Some(Vec::new())
    };
    let on_unknown = read_choice(
        &mut table,
        "on_unknown",
        &[
            ("deny", UnknownPolicy::Deny),
            ("allow", UnknownPolicy::Allow),
        ],
        problems,
    )
    .unwrap_or(UnknownPolicy::Deny);
    let ocsp = read_ocsp(&mut table, method, problems);
    let allow_sha1 = table
        .optional("allow_sha1")
        .and_then(|entry| entry.boolean(problems, "write allow_sha1 = true or allow_sha1 = false"))
        .unwrap_or(false);
    let crl_signers = read_crl_signers(&mut table, base_dir, problems);
    let chain = read_chain(&mut table, base_dir, problems);
    let max_age_without_next_update =
        table
            .optional("max_age_without_next_update")
            .and_then(|entry| {
                entry.duration(
                    problems,
                    MinDuration::GreaterThanZero,
                    MAX_AGE_WITHOUT_NEXT_UPDATE,
                )
            });
    let max_stale = table
        .optional("max_stale")
        .and_then(|entry| entry.duration(problems, MinDuration::AtLeast(Duration::ZERO), MAX_STALE))
        .unwrap_or(Duration::ZERO);
    let allowed_hosts = read_allowed_hosts(&mut table, problems);
    table.reject_unknown_keys(problems);

    Some(CaConfig {
        id: id?,
        certificate: certificate?,
        crl: crl?,
        allow_sha1,
        max_age_without_next_update,
        crl_signers,
        chain,
        max_stale,
        allowed_hosts,
        method,
        on_unknown,
        ocsp,
    })
}

fn read_id(
    table: &mut TableReader<'_>,
    first_use_of_id: &mut HashMap<String, String>,
    problems: &mut Problems,
) -> Option<String> {
    let entry = table.required(
        "id",
        problems,
        &format!("add an id of {ID_RULE}, such as id = \"demo-ca\""),
    )?;
    let id = entry.string(problems, &format!("write an id of {ID_RULE}"))?;

    if !is_valid_id(id) {
        entry.report(problems, format!("invalid CA id; use {ID_RULE}"));
        return None;
    }
    if let Some(first_ca) = first_use_of_id.get(id) {
        entry.report(
            problems,
            format!("duplicate CA id, also used by {first_ca}; give each CA its own id"),
        );
        return None;
    }

    first_use_of_id.insert(id.to_owned(), table.path().to_owned());
    Some(id.to_owned())
}

fn is_valid_id(id: &str) -> bool {
    let is_id_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_';
    let starts_well = id
        .chars()
        .next()
        .is_some_and(|first| first.is_ascii_lowercase() || first.is_ascii_digit());

    starts_well && id.len() <= MAX_ID_CHARS && id.chars().all(is_id_char)
}

/// Reads the certificate path and checks that it names a readable file, without parsing it.
fn read_certificate(
    table: &mut TableReader<'_>,
    base_dir: &Path,
    problems: &mut Problems,
) -> Option<PathBuf> {
    const FIX: &str = "write the path of the CA certificate, a PEM or DER file, absolute or \
                       relative to the directory of the configuration file";
    let entry = table.required(
        "certificate",
        problems,
        "add the path of the CA certificate, a PEM or DER file, such as certificate = \"ca.pem\"",
    )?;
    readable_file(&entry, base_dir, problems, FIX)
}

/// Reads a file path from `entry` and checks that it names a readable file, without parsing
/// it. `fix` says how to write the value.
pub(super) fn readable_file(
    entry: &Entry<'_>,
    base_dir: &Path,
    problems: &mut Problems,
    fix: &str,
) -> Option<PathBuf> {
    let written = entry.string(problems, fix)?;

    if written.is_empty() {
        entry.report(problems, format!("empty path; {fix}"));
        return None;
    }
    let path = base_dir.join(written);

    // Checking the metadata before opening keeps a named pipe from blocking the load.
    let problem = match fs::metadata(&path) {
        Ok(metadata) if !metadata.is_file() => {
            Some(format!("{} is not a file; {fix}", path.display()))
        }
        Ok(_) => fs::File::open(&path)
            .err()
            .map(|error| format!("cannot read file {} ({error}); {fix}", path.display())),
        Err(error) => Some(format!(
            "cannot read file {} ({error}); {fix}",
            path.display()
        )),
    };
    if let Some(message) = problem {
        entry.report(problems, message);
        return None;
    }
    Some(path)
}

/// Reads the optional `crl_signers` array: certificate files of separate CRL-signing
/// certificates for the CA's name.
fn read_crl_signers(
    table: &mut TableReader<'_>,
    base_dir: &Path,
    problems: &mut Problems,
) -> Vec<PathBuf> {
    const FIX: &str = "write a list of certificate files of the CA's separate CRL signers, such \
                       as crl_signers = [\"crl-signer.pem\"]";
    let Some(entry) = table.optional("crl_signers") else {
        return Vec::new();
    };
    let Some(items) = entry.array(problems, FIX) else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|item| readable_file(item, base_dir, problems, FIX))
        .collect()
}

/// Reads an optional string key whose value must be one of `choices`.
pub(super) fn read_choice<T: Copy>(
    table: &mut TableReader<'_>,
    key: &'static str,
    choices: &[(&str, T)],
    problems: &mut Problems,
) -> Option<T> {
    let names: Vec<String> = choices
        .iter()
        .map(|(name, _)| format!("\"{name}\""))
        .collect();
    let fix = format!("write one of {}", names.join(", "));
    let entry = table.optional(key)?;
    let text = entry.string(problems, &fix)?;
    match choices.iter().find(|(name, _)| *name == text) {
        Some((_, value)) => Some(*value),
        None => {
            entry.report(problems, format!("unknown value; {fix}"));
            None
        }
    }
}

/// Reads the OCSP keys of one CA: `ocsp` (responder URLs, required when the method uses OCSP),
/// `ocsp_hash`, `ocsp_request_method` and `ocsp_nonce`.
fn read_ocsp(
    table: &mut TableReader<'_>,
    method: RevocationMethod,
    problems: &mut Problems,
) -> OcspConfig {
    const FIX: &str =
        "write a list of responder URLs, such as ocsp = [\"http://ocsp.example.test/\"]";
    let mut responders = Vec::new();
    match table.optional("ocsp") {
        Some(entry) => {
            let items = entry.array(problems, FIX).unwrap_or_default();
            if method.uses_ocsp() && items.is_empty() {
                entry.report(problems, format!("empty responder list; {FIX}"));
            }
            for item in items {
                let Some(text) = item.string(problems, FIX) else {
                    continue;
                };
                match url::Url::parse(text) {
                    Ok(url) if !url.username().is_empty() || url.password().is_some() => {
                        item.report(
                            problems,
                            "responder URL contains a user name or password, which revcheck \
                             would show in its status pages and logs; remove them"
                                .to_owned(),
                        );
                    }
                    Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {
                        responders.push(url);
                    }
                    _ => item.report(
                        problems,
                        "invalid responder URL; use an http:// or https:// URL with a host"
                            .to_owned(),
                    ),
                }
            }
        }
        None if method.uses_ocsp() => problems.add(
            format!("{}.ocsp", table.path()),
            None,
            format!("missing key; the method uses OCSP, so {FIX}"),
        ),
        None => {}
    }

    let hash = read_choice(
        table,
        "ocsp_hash",
        &[("sha1", OcspHash::Sha1), ("sha256", OcspHash::Sha256)],
        problems,
    )
    .unwrap_or(OcspHash::Sha1);
    let request_form = read_choice(
        table,
        "ocsp_request_method",
        &[
            ("get", OcspRequestForm::Get),
            ("post", OcspRequestForm::Post),
        ],
        problems,
    )
    .unwrap_or(OcspRequestForm::Get);
    let nonce = table
        .optional("ocsp_nonce")
        .and_then(|entry| entry.boolean(problems, "write ocsp_nonce = true or ocsp_nonce = false"))
        .unwrap_or(false);

    OcspConfig {
        responders,
        hash,
        request_form,
        nonce,
    }
}

/// Reads the optional `allowed_hosts` list: host names or IP addresses, without scheme or port.
fn read_allowed_hosts(table: &mut TableReader<'_>, problems: &mut Problems) -> Vec<String> {
    const FIX: &str = "write a list of host names, such as allowed_hosts = [\"crl2.example.test\"]";
    let Some(entry) = table.optional("allowed_hosts") else {
        return Vec::new();
    };
    let Some(items) = entry.array(problems, FIX) else {
        return Vec::new();
    };
    let mut hosts = Vec::new();
    for item in &items {
        let Some(text) = item.string(problems, FIX) else {
            continue;
        };
        let valid = !text.is_empty()
            && text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
        if valid {
            hosts.push(text.to_ascii_lowercase());
        } else {
            item.report(
                problems,
                format!("invalid host name; {FIX}, without scheme, port or path"),
            );
        }
    }
    hosts
}

/// Reads the optional `chain` file: the certificates above the CA up to its trust anchor.
fn read_chain(
    table: &mut TableReader<'_>,
    base_dir: &Path,
    problems: &mut Problems,
) -> Option<PathBuf> {
    const FIX: &str = "write the path of a PEM file with the CA's issuer certificates up to \
                       the self-signed root, such as chain = \"chain.pem\"";
    let entry = table.optional("chain")?;
    readable_file(&entry, base_dir, problems, FIX)
}

/// Reads the required `crl` array. Sources with problems are reported and left out.
fn read_crl_sources(
    table: &mut TableReader<'_>,
    base_dir: &Path,
    problems: &mut Problems,
) -> Option<Vec<Source>> {
    let entry = table.required("crl", problems, CRL_LIST_FIX)?;
    let items = entry.array(problems, CRL_LIST_FIX)?;
    if items.is_empty() {
        entry.report(
            problems,
            "empty CRL list; add at least one CRL URL, such as \"http://crl.example.test/ca.crl\""
                .to_owned(),
        );
    }

    // Each source with the key path that listed it first, for the duplicate message.
    let mut sources: Vec<(Source, String)> = Vec::new();
    for item in items {
        let Some(source) = read_crl_source(&item, base_dir, problems) else {
            continue;
        };

        match sources.iter().find(|(known, _)| *known == source) {
            Some((_, first_key)) => item.report(
                problems,
                format!("duplicate CRL source, also listed as {first_key}; remove one of them"),
            ),
            None => sources.push((source, item.key().to_owned())),
        }
    }
    Some(sources.into_iter().map(|(source, _)| source).collect())
}

fn read_crl_source(item: &Entry<'_>, base_dir: &Path, problems: &mut Problems) -> Option<Source> {
    let text = item.string(problems, CRL_FIX)?;
    match Source::parse(text, base_dir) {
        Ok(source) => Some(source),
        Err(error) => {
            item.report(problems, error.to_string());
            None
        }
    }
}
