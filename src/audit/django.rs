//! Django settings, read as Python source text without running it: the identity settings of
//! Django and of revcheck's Django package (`clients/django`).
//!
//! Only assignments of literal values are understood: strings, `True`, `False`, `None`, and
//! lists or tuples of them. A setting assigned in several places, for example in both branches
//! of an `if`, is checked at each assignment. A value computed at run time, such as
//! `os.environ.get(...)`, is not checked.

mod python;

use std::path::Path;

use super::Finding;
use super::nginx::ProxiedLocation;
use python::{Assignment, Value};

/// Setting names of revcheck's Django package that hold an HTTP header name, which the
/// package turns into a `request.META` key (`X-Client-Identity` becomes
/// `HTTP_X_CLIENT_IDENTITY`).
const REVCHECK_HEADER_SETTINGS: [&str; 3] = [
    "REVCHECK_IDENTITY_HEADER",
    "REVCHECK_CERTIFICATE_HEADER",
    "REVCHECK_VERIFY_HEADER",
];

/// Headers whose value reports whether or how a certificate was verified, in the form
/// `X_SSL_CLIENT_VERIFY`. The Django package's system check (revcheck.E001) uses the same
/// list, and also counts every name that contains VERIF.
const VERIFICATION_STATUS_HEADERS: [&str; 6] = [
    "X_SSL_CLIENT_VERIFY",
    "X_CLIENT_VERIFY",
    "SSL_CLIENT_VERIFY",
    "X_REVOCATION_STATUS",
    "X_REVCHECK_REASON",
    "X_REVCHECK_CA",
];

const REVCHECK_MIDDLEWARE_PREFIX: &str = "revcheck_django.middleware.";

/// Settings that make Django trust a request header set by the proxy, with that header.
const FORWARDED_SETTINGS: [(&str, &str); 2] = [
    ("USE_X_FORWARDED_HOST", "X-Forwarded-Host"),
    ("USE_X_FORWARDED_PORT", "X-Forwarded-Port"),
];

/// Checks the settings file `file` with contents `text` against the proxied locations of the
/// nginx configuration.
pub fn audit(file: &Path, text: &str, proxied_locations: &[ProxiedLocation]) -> Vec<Finding> {
    let assignments = python::assignments(text);
    let mut findings = Vec::new();

    for assignment in &assignments {
        match assignment.name.as_str() {
            "REMOTE_USER_HEADER" => {
                check_remote_user_header(file, assignment, proxied_locations, &mut findings);
            }
            name if REVCHECK_HEADER_SETTINGS.contains(&name) => {
                check_revcheck_header(file, assignment, proxied_locations, &mut findings);
            }
            "SECURE_PROXY_SSL_HEADER" => {
                check_secure_proxy_ssl_header(file, assignment, proxied_locations, &mut findings);
            }
            _ => {}
        }
        for (setting, header) in FORWARDED_SETTINGS {
            if assignment.name == setting && assignment.value == Value::Bool(true) {
                check_trusted_header(
                    file,
                    assignment,
                    header,
                    &format!("{setting} = True"),
                    proxied_locations,
                    &mut findings,
                );
            }
        }
    }

    check_middleware(file, &assignments, &mut findings);
    findings
}

fn is_verification_status_header(name: &str) -> bool {
    let key = name.to_ascii_uppercase().replace('-', "_");
    let key = key.strip_prefix("HTTP_").unwrap_or(&key);
    VERIFICATION_STATUS_HEADERS.contains(&key) || key.contains("VERIF")
}

fn verification_header_finding(file: &Path, assignment: &Assignment, value: &str) -> Finding {
    Finding::new(
        file,
        assignment.line,
        "django-identity-verify-header",
        format!(
            "{} = {value:?} names a verification-status header, whose value (such as SUCCESS) \
             is the same for every verified client, so every client becomes the same user; \
             read the identity from X-Client-Identity, which nginx copies from revcheck's \
             /v1/auth answer",
            assignment.name
        ),
    )
}

/// Checks `REMOTE_USER_HEADER`, which is a `request.META` key such as `HTTP_X_CLIENT_IDENTITY`.
fn check_remote_user_header(
    file: &Path,
    assignment: &Assignment,
    proxied_locations: &[ProxiedLocation],
    findings: &mut Vec<Finding>,
) {
    let Value::Str(value) = &assignment.value else {
        return;
    };
    if is_verification_status_header(value) {
        findings.push(verification_header_finding(file, assignment, value));
        return;
    }

    let header = value.strip_prefix("HTTP_").filter(|rest| {
        !rest.is_empty()
            && rest
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
    });
    if let Some(header) = header {
        check_trusted_header(
            file,
            assignment,
            &header_case(header),
            &format!("REMOTE_USER_HEADER = {value:?}"),
            proxied_locations,
            findings,
        );
    } else {
        let suggestion = format!(
            "HTTP_{}",
            value
                .trim_start_matches("HTTP_")
                .to_ascii_uppercase()
                .replace('-', "_")
        );
        findings.push(Finding::new(
            file,
            assignment.line,
            "django-meta-key-never-set",
            format!(
                "REMOTE_USER_HEADER = {value:?} is not a request.META key that a WSGI server \
                 sets from a proxy header (those are HTTP_ followed by the name in capitals \
                 with underscores for dashes); write {suggestion:?}"
            ),
        ));
    }
}

/// Checks a `REVCHECK_*_HEADER` setting, which is a header name such as `X-Client-Identity`.
fn check_revcheck_header(
    file: &Path,
    assignment: &Assignment,
    proxied_locations: &[ProxiedLocation],
    findings: &mut Vec<Finding>,
) {
    let Value::Str(value) = &assignment.value else {
        return;
    };
    let name = &assignment.name;
    if name == "REVCHECK_IDENTITY_HEADER" && is_verification_status_header(value) {
        findings.push(verification_header_finding(file, assignment, value));
        return;
    }

    let dashed = header_case(
        value
            .trim_start_matches("HTTP_")
            .trim_start_matches("http_"),
    );
    if value.to_ascii_uppercase().starts_with("HTTP_") {
        findings.push(Finding::new(
            file,
            assignment.line,
            "django-meta-key-never-set",
            format!(
                "{name} = {value:?} is a request.META key, but the setting takes a header name \
                 and adds HTTP_ itself, so it reads HTTP_{}, which no server sets; write \
                 {dashed:?}",
                value.to_ascii_uppercase().replace('-', "_"),
            ),
        ));
    } else if value.contains('_') {
        findings.push(Finding::new(
            file,
            assignment.line,
            "django-underscore-header",
            format!(
                "{name} = {value:?} contains underscores, so a client could send this name \
                 past a proxy that only overwrites the dashed form, and the WSGI server stores \
                 both under one key; write {dashed:?}"
            ),
        ));
    } else {
        check_trusted_header(
            file,
            assignment,
            value,
            &format!("{name} = {value:?}"),
            proxied_locations,
            findings,
        );
    }
}

fn check_secure_proxy_ssl_header(
    file: &Path,
    assignment: &Assignment,
    proxied_locations: &[ProxiedLocation],
    findings: &mut Vec<Finding>,
) {
    let Value::Seq(items) = &assignment.value else {
        return;
    };
    let Some((Value::Str(key), _)) = items.first() else {
        return;
    };
    // A key without HTTP_ is a variable the server sets, which a client cannot send.
    let Some(rest) = key.strip_prefix("HTTP_") else {
        return;
    };
    if rest.contains('-') || rest.chars().any(|c| c.is_ascii_lowercase()) {
        findings.push(Finding::new(
            file,
            assignment.line,
            "django-meta-key-never-set",
            format!(
                "SECURE_PROXY_SSL_HEADER names {key:?}, which no WSGI server sets because \
                 request.META keys have capitals and underscores only; write \"HTTP_{}\"",
                rest.to_ascii_uppercase().replace('-', "_")
            ),
        ));
        return;
    }
    let header = header_case(rest);
    check_trusted_header(
        file,
        assignment,
        &header,
        &format!("SECURE_PROXY_SSL_HEADER = ({key:?}, ...)"),
        proxied_locations,
        findings,
    );
}

/// Reports a setting that trusts `header` when a proxied location does not overwrite it.
fn check_trusted_header(
    file: &Path,
    assignment: &Assignment,
    header: &str,
    setting: &str,
    proxied_locations: &[ProxiedLocation],
    findings: &mut Vec<Finding>,
) {
    let lowercase = header.to_ascii_lowercase();
    let unset: Vec<String> = proxied_locations
        .iter()
        .filter(|location| !location.set_headers.contains(&lowercase))
        .map(|location| format!("{}:{}", location.file.display(), location.line))
        .collect();
    let locations = match unset.as_slice() {
        [] => return,
        [one] => format!("the proxied location at {one} does not"),
        many => format!("the proxied locations at {} do not", many.join(", ")),
    };
    findings.push(Finding::new(
        file,
        assignment.line,
        "django-untrusted-proxy-header",
        format!(
            "{setting} trusts the header {header}, which {locations} overwrite, so a client \
             can send its own; set it in nginx (proxy_set_header {header} ...) or stop \
             trusting it"
        ),
    ));
}

/// Writes a header name given with underscores or in capitals, such as `X_CLIENT_IDENTITY`,
/// as `X-Client-Identity`. A name in mixed case keeps its case.
fn header_case(name: &str) -> String {
    let dashed = name.replace('_', "-");
    if dashed.chars().any(|c| c.is_ascii_lowercase()) {
        return dashed;
    }
    let words: Vec<String> = dashed
        .split('-')
        .map(|word| {
            let mut chars = word.chars();
            match chars.next() {
                Some(first) => first.to_string() + &chars.as_str().to_ascii_lowercase(),
                None => String::new(),
            }
        })
        .collect();
    words.join("-")
}

fn check_middleware(file: &Path, assignments: &[Assignment], findings: &mut Vec<Finding>) {
    // The list the last plain assignment builds, with the entries any `+=` adds after it.
    let mut entries: Vec<(String, usize)> = Vec::new();
    for assignment in assignments.iter().filter(|a| a.name == "MIDDLEWARE") {
        let Value::Seq(items) = &assignment.value else {
            continue;
        };
        if !assignment.augmented {
            entries.clear();
        }
        for (item, line) in items {
            if let Value::Str(path) = item {
                entries.push((path.clone(), *line));
            }
        }
    }

    let revcheck = entries
        .iter()
        .position(|(path, _)| path.starts_with(REVCHECK_MIDDLEWARE_PREFIX));
    for (index, (path, line)) in entries.iter().enumerate() {
        let is_remote_user = path.ends_with(".RemoteUserMiddleware")
            || path.ends_with(".PersistentRemoteUserMiddleware");
        if !is_remote_user {
            continue;
        }
        match revcheck {
            Some(revcheck_index) if index > revcheck_index => findings.push(Finding::new(
                file,
                *line,
                "django-remote-user-order",
                format!(
                    "{path} runs after {} (line {}), so it can replace the user that the \
                     client certificate identified; remove it or move it before",
                    entries[revcheck_index].0, entries[revcheck_index].1
                ),
            )),
            Some(_) => {}
            None => findings.push(Finding::new(
                file,
                *line,
                "django-remote-user-without-revcheck",
                format!(
                    "{path} logs users in from a request header with no certificate check \
                     in MIDDLEWARE; use revcheck_django.middleware.RevcheckMiddleware after \
                     AuthenticationMiddleware instead"
                ),
            )),
        }
    }
}

#[cfg(test)]
mod tests;
