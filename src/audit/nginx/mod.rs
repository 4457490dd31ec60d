//! nginx configuration: where client certificates are requested, verified, checked for
//! revocation and turned into identity headers for the application.

mod glob;
mod parse;

use std::collections::BTreeSet;
use std::path::PathBuf;

pub use parse::{Directive, IncludeRoot, load, parse};

use super::Finding;

/// Headers that carry the identity or the verification result to the application. A proxied
/// location must set every one of them, so that a client cannot send its own.
pub const IDENTITY_HEADERS: [&str; 2] = ["X-Client-Identity", "X-SSL-Client-Verify"];

/// Findings on the nginx files, and the headers each proxied location sets, which the Django
/// checks compare with the headers the application trusts.
#[derive(Debug, Default)]
pub struct ProxyAudit {
    pub findings: Vec<Finding>,
    pub proxied_locations: Vec<ProxiedLocation>,
}

/// A location that passes client requests, with their headers, to an application.
#[derive(Debug, Clone)]
pub struct ProxiedLocation {
    pub file: PathBuf,
    pub line: usize,
    /// Header names that the location sets or removes, in lowercase with dashes.
    pub set_headers: BTreeSet<String>,
}

/// The directives of one nginx upstream module that matter for header forwarding.
#[derive(Debug)]
struct Upstream {
    /// The directive that makes a location proxied, such as `proxy_pass`.
    pass: &'static str,
    /// The directive that sets a request header or parameter, such as `proxy_set_header`.
    set: &'static str,
    /// The directive that stops client headers from being passed, when the module has one.
    pass_request_headers: Option<&'static str>,
    /// Whether `set` takes CGI parameter names (`HTTP_X_CLIENT_IDENTITY`) rather than header
    /// names.
    cgi_params: bool,
}

const UPSTREAMS: [Upstream; 5] = [
    Upstream {
        pass: "proxy_pass",
        set: "proxy_set_header",
        pass_request_headers: Some("proxy_pass_request_headers"),
        cgi_params: false,
    },
    Upstream {
        pass: "grpc_pass",
        set: "grpc_set_header",
        pass_request_headers: None,
        cgi_params: false,
    },
    Upstream {
        pass: "uwsgi_pass",
        set: "uwsgi_param",
        pass_request_headers: Some("uwsgi_pass_request_headers"),
        cgi_params: true,
    },
    Upstream {
        pass: "fastcgi_pass",
        set: "fastcgi_param",
        pass_request_headers: Some("fastcgi_pass_request_headers"),
        cgi_params: true,
    },
    Upstream {
        pass: "scgi_pass",
        set: "scgi_param",
        pass_request_headers: Some("scgi_pass_request_headers"),
        cgi_params: true,
    },
];

/// The directive blocks that enclose a location, outermost (http) first.
type Levels<'a> = Vec<&'a [Directive]>;

/// A location with the blocks around it.
struct LocationContext<'a> {
    directive: &'a Directive,
    /// http, server, any enclosing locations and this location's own block.
    levels: Levels<'a>,
}

/// Runs every nginx check on the directives of a loaded file.
pub fn audit(directives: &[Directive]) -> ProxyAudit {
    let mut audit = ProxyAudit::default();
    check_every_directive(directives, &mut audit.findings);

    let http_blocks: Vec<&[Directive]> = directives
        .iter()
        .filter(|directive| directive.name == "http")
        .map(Directive::children)
        .collect();
    // A site file, as in sites-enabled/, holds the contents of the http block.
    let http_blocks = if http_blocks.is_empty() {
        vec![directives]
    } else {
        http_blocks
    };

    for http in http_blocks {
        for server in http.iter().filter(|directive| directive.name == "server") {
            audit_server(http, server, &mut audit);
        }
    }
    audit
}

/// Checks that depend on one directive alone, wherever it sits.
fn check_every_directive(directives: &[Directive], findings: &mut Vec<Finding>) {
    for directive in directives {
        let file = &directive.file;
        let is_header_setter = matches!(
            directive.name.as_str(),
            "proxy_set_header" | "grpc_set_header"
        );
        if is_header_setter && directive.first_arg().contains('_') {
            let name = directive.first_arg();
            findings.push(Finding::new(
                file,
                directive.line,
                "nginx-underscore-header",
                format!(
                    "{} sets the header {name}, whose name contains underscores; WSGI servers \
                     store {name} and {} under the same key and nginx drops such names by \
                     default, so rename it to {}",
                    directive.name,
                    name.replace('_', "-"),
                    name.replace('_', "-"),
                ),
            ));
        }

        if directive.name == "underscores_in_headers" && directive.first_arg() == "on" {
            findings.push(Finding::new(
                file,
                directive.line,
                "nginx-underscores-allowed",
                "underscores_in_headers on passes client headers such as X-Client_Identity, \
                 which the application reads as X-Client-Identity; set underscores_in_headers \
                 off"
                .to_owned(),
            ));
        }
        if directive.name == "ignore_invalid_headers" && directive.first_arg() == "off" {
            findings.push(Finding::new(
                file,
                directive.line,
                "nginx-underscores-allowed",
                "ignore_invalid_headers off passes client headers whose names contain \
                 underscores, such as X-Client_Identity, which the application reads as \
                 X-Client-Identity; set ignore_invalid_headers on"
                    .to_owned(),
            ));
        }

        if directive
            .args
            .iter()
            .any(|arg| uses_variable(arg, "ssl_client_cert"))
        {
            findings.push(Finding::new(
                file,
                directive.line,
                "nginx-ssl-client-cert",
                "$ssl_client_cert is deprecated: it puts a multi-line PEM into the header with \
                 tab-indented continuation lines, which HTTP/1.1 forbids and many servers \
                 reject; use $ssl_client_escaped_cert"
                    .to_owned(),
            ));
        }

        check_every_directive(directive.children(), findings);
    }
}

/// Returns whether `text` refers to the variable `$name` or `${name}`.
fn uses_variable(text: &str, name: &str) -> bool {
    if text.contains(&format!("${{{name}}}")) {
        return true;
    }
    let plain = format!("${name}");
    text.match_indices(&plain).any(|(start, _)| {
        let next = text[start + plain.len()..].chars().next();
        !next.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
    })
}

fn audit_server(http: &[Directive], server: &Directive, audit: &mut ProxyAudit) {
    let server_levels: Levels<'_> = vec![http, server.children()];
    let mut locations = Vec::new();
    collect_locations(&server_levels, &mut locations);

    let verify = effective(&server_levels, "ssl_verify_client");
    let mode = verify.map_or("off", Directive::first_arg);
    let verify_line = verify.map_or(server.line, |directive| directive.line);
    let verify_file = verify.map_or(&server.file, |directive| &directive.file);

    let auth_requests = auth_request_directives(&server_levels, &locations);
    let uses_auth_request = !auth_requests.is_empty();

    if mode == "off" && (uses_auth_request || forwards_certificate_variables(http, server)) {
        let setting = if verify.is_some() {
            "ssl_verify_client is off"
        } else {
            "ssl_verify_client is not set (off)"
        };
        audit.findings.push(Finding::new(
            verify_file,
            verify_line,
            "nginx-verify-client-off",
            format!(
                "{setting} in a server that uses auth_request or forwards client certificate \
                 variables, so nginx never requests a certificate and they stay empty; set \
                 ssl_verify_client on (or optional_no_ca with revcheck's verification = \
                 \"self\")"
            ),
        ));
    }

    if matches!(mode, "optional" | "optional_no_ca") {
        check_optional_enforced(mode, &locations, &auth_requests, &mut audit.findings);
    }

    if mode != "off" && !uses_auth_request && !has_static_revocation(&server_levels) {
        audit.findings.push(Finding::new(
            verify_file,
            verify_line,
            "nginx-no-revocation-check",
            format!(
                "ssl_verify_client {mode} accepts client certificates, but nothing checks \
                 whether they are revoked (no auth_request, ssl_crl or ssl_ocsp); add \
                 auth_request to revcheck's /v1/auth"
            ),
        ));
    }

    for location in &locations {
        check_identity_overwritten(location, audit);
        check_return_before_auth(location, &mut audit.findings);
    }
}

fn collect_locations<'a>(levels: &Levels<'a>, locations: &mut Vec<LocationContext<'a>>) {
    let Some(innermost) = levels.last() else {
        return;
    };
    for directive in innermost.iter() {
        if directive.name != "location" || directive.block.is_none() {
            continue;
        }
        let mut inner = levels.clone();
        inner.push(directive.children());
        locations.push(LocationContext {
            directive,
            levels: inner.clone(),
        });
        collect_locations(&inner, locations);
    }
}

/// Returns the last `name` directive of the innermost level that has one, as nginx inherits a
/// single-valued directive.
fn effective<'a>(levels: &[&'a [Directive]], name: &str) -> Option<&'a Directive> {
    levels
        .iter()
        .rev()
        .find_map(|level| level.iter().rev().find(|directive| directive.name == name))
}

/// Returns every `name` directive of the innermost level that has any. nginx inherits array
/// directives such as `proxy_set_header` only into a level that sets none of its own.
fn effective_all<'a>(levels: &[&'a [Directive]], name: &str) -> Vec<&'a Directive> {
    for level in levels.iter().rev() {
        let found: Vec<_> = level.iter().filter(|d| d.name == name).collect();
        if !found.is_empty() {
            return found;
        }
    }
    Vec::new()
}

/// Collects every `auth_request` other than `auth_request off` in the server, its http block and its
/// locations.
fn auth_request_directives<'a>(
    server_levels: &Levels<'a>,
    locations: &[LocationContext<'a>],
) -> Vec<&'a Directive> {
    let levels = server_levels.iter().copied().chain(
        locations
            .iter()
            .map(|location| location.directive.children()),
    );
    levels
        .flat_map(|level| level.iter())
        .filter(|directive| directive.name == "auth_request" && directive.first_arg() != "off")
        .collect()
}

/// Returns the `auth_request` that applies to a location, unless it is off.
fn effective_auth_request<'a>(levels: &[&'a [Directive]]) -> Option<&'a Directive> {
    effective(levels, "auth_request").filter(|directive| directive.first_arg() != "off")
}

fn forwards_certificate_variables(http: &[Directive], server: &Directive) -> bool {
    fn sets_certificate_variable(directive: &Directive) -> bool {
        let is_setter = UPSTREAMS
            .iter()
            .any(|upstream| upstream.set == directive.name);
        (is_setter
            && directive
                .args
                .iter()
                .any(|arg| arg.contains("$ssl_client_")))
            || directive.children().iter().any(sets_certificate_variable)
    }
    http.iter()
        .filter(|directive| directive.block.is_none())
        .any(sets_certificate_variable)
        || sets_certificate_variable(server)
}

fn has_static_revocation(server_levels: &[&[Directive]]) -> bool {
    let crl = effective(server_levels, "ssl_crl").is_some();
    let ocsp = effective(server_levels, "ssl_ocsp")
        .is_some_and(|directive| matches!(directive.first_arg(), "on" | "leaf"));
    crl || ocsp
}

/// Returns the upstream module a location passes requests to, if any, looking into its `if` and
/// `limit_except` blocks too.
fn upstream_of(location: &Directive) -> Option<&'static Upstream> {
    fn find(directives: &[Directive]) -> Option<&'static Upstream> {
        directives
            .iter()
            .find_map(|directive| match directive.name.as_str() {
                "if" | "limit_except" => find(directive.children()),
                name => UPSTREAMS.iter().find(|upstream| upstream.pass == name),
            })
    }
    find(location.children())
}

fn is_internal(location: &Directive) -> bool {
    location.first_arg().starts_with('@')
        || location
            .children()
            .iter()
            .any(|directive| directive.name == "internal")
}

/// With `ssl_verify_client optional` or `optional_no_ca`, a request may carry no certificate
/// or an unverified one, so every proxied location needs the auth_request check, and the
/// check needs the verification result.
fn check_optional_enforced(
    mode: &str,
    locations: &[LocationContext<'_>],
    auth_requests: &[&Directive],
    findings: &mut Vec<Finding>,
) {
    let targets: Vec<&LocationContext<'_>> = auth_requests
        .iter()
        .filter_map(|auth_request| auth_target(locations, auth_request.first_arg()))
        .collect();

    for location in locations {
        let is_target = targets
            .iter()
            .any(|target| std::ptr::eq(target.directive, location.directive));
        if is_target || is_internal(location.directive) || upstream_of(location.directive).is_none()
        {
            continue;
        }
        if effective_auth_request(&location.levels).is_none()
            && !rejects_unverified(&location.levels)
        {
            findings.push(Finding::new(
                &location.directive.file,
                location.directive.line,
                "nginx-verify-not-enforced",
                format!(
                    "location {} is proxied without auth_request although ssl_verify_client \
                     is {mode}, so requests without a verified certificate reach the \
                     application; add auth_request to revcheck's /v1/auth",
                    location.directive.args.join(" ")
                ),
            ));
        }
    }

    for auth_request in auth_requests {
        let Some(target) = auth_target(locations, auth_request.first_arg()) else {
            continue;
        };
        let upstream = upstream_of(target.directive).unwrap_or(&UPSTREAMS[0]);
        let forwards_verify = effective_all(&target.levels, upstream.set)
            .iter()
            .any(|directive| {
                directive
                    .args
                    .iter()
                    .any(|arg| uses_variable(arg, "ssl_client_verify"))
            });
        if !forwards_verify {
            findings.push(Finding::new(
                &auth_request.file,
                auth_request.line,
                "nginx-verify-not-enforced",
                format!(
                    "the auth subrequest location {} ({}:{}) does not forward \
                     $ssl_client_verify although ssl_verify_client is {mode}, so the check \
                     cannot tell a verified certificate from a missing or failed one; add \
                     proxy_set_header X-SSL-Client-Verify $ssl_client_verify there",
                    target.directive.args.join(" "),
                    target.directive.file.display(),
                    target.directive.line,
                ),
            ));
        }
    }
}

/// Returns whether a server or location level contains the usual check without
/// auth_request: `if ($ssl_client_verify != SUCCESS) { return 403; }`, with any 4xx or 5xx
/// status.
fn rejects_unverified(levels: &[&[Directive]]) -> bool {
    let is_check = |directive: &Directive| {
        let condition = directive.args.join(" ");
        directive.name == "if"
            && uses_variable(&condition, "ssl_client_verify")
            && condition.contains("!=")
            && condition.contains("SUCCESS")
            && directive.children().iter().any(|inner| {
                inner.name == "return"
                    && inner
                        .first_arg()
                        .parse::<u16>()
                        .is_ok_and(|status| status >= 400)
            })
    };
    // The first level is http, where `if` is not allowed.
    levels
        .iter()
        .skip(1)
        .any(|level| level.iter().any(is_check))
}

/// Finds the location that serves the `auth_request` URI: an exact (`=`) match, else the longest
/// matching prefix location. Regular-expression locations are not evaluated.
fn auth_target<'a, 'b>(
    locations: &'b [LocationContext<'a>],
    uri: &str,
) -> Option<&'b LocationContext<'a>> {
    let exact = locations.iter().find(|location| {
        let args = &location.directive.args;
        args.len() == 2 && args[0] == "=" && args[1] == uri
    });
    if exact.is_some() {
        return exact;
    }
    locations
        .iter()
        .filter_map(|location| {
            let prefix = match location.directive.args.as_slice() {
                [prefix] if !prefix.starts_with('@') => prefix,
                [modifier, prefix] if modifier == "^~" => prefix,
                _ => return None,
            };
            uri.starts_with(prefix.as_str())
                .then_some((prefix.len(), location))
        })
        .max_by_key(|(length, _)| *length)
        .map(|(_, location)| location)
}

/// Returns the header a set directive names, in lowercase with dashes, or `None` for a CGI
/// parameter that is not a request header.
fn header_name(upstream: &Upstream, name: &str) -> Option<String> {
    if upstream.cgi_params {
        name.strip_prefix("HTTP_")
            .map(|header| header.replace('_', "-").to_ascii_lowercase())
    } else {
        Some(name.to_ascii_lowercase())
    }
}

fn check_identity_overwritten(location: &LocationContext<'_>, audit: &mut ProxyAudit) {
    let Some(upstream) = upstream_of(location.directive) else {
        return;
    };
    if let Some(name) = upstream.pass_request_headers {
        let off = effective(&location.levels, name).is_some_and(|d| d.first_arg() == "off");
        if off {
            return;
        }
    }

    let set_headers: BTreeSet<String> = effective_all(&location.levels, upstream.set)
        .iter()
        .filter_map(|directive| header_name(upstream, directive.first_arg()))
        .collect();
    let missing: Vec<&str> = IDENTITY_HEADERS
        .iter()
        .copied()
        .filter(|header| !set_headers.contains(&header.to_ascii_lowercase()))
        .collect();

    if !missing.is_empty() {
        let directive = location.directive;
        let first_missing = missing[0];
        let value = if first_missing == IDENTITY_HEADERS[0] {
            "$client_identity"
        } else {
            "$ssl_client_verify"
        };
        let example_line = if upstream.cgi_params {
            let key = first_missing.to_ascii_uppercase().replace('-', "_");
            format!("{} HTTP_{key} {value};", upstream.set)
        } else {
            format!("{} {first_missing} {value};", upstream.set)
        };
        let inheritance = if shadows_outer_setting(&location.levels, upstream.set) {
            format!(
                " (it sets its own {}, so it inherits none from the enclosing block)",
                upstream.set
            )
        } else {
            String::new()
        };
        audit.findings.push(Finding::new(
            &directive.file,
            directive.line,
            "nginx-identity-not-overwritten",
            format!(
                "location {} passes requests to the application without overwriting {}{inheritance}, \
                 so a client can send its own value; set each one in this location, for example \
                 `{example_line}`, or include snippets/revcheck-identity.conf",
                directive.args.join(" "),
                missing.join(" and "),
            ),
        ));
    }

    audit.proxied_locations.push(ProxiedLocation {
        file: location.directive.file.to_path_buf(),
        line: location.directive.line,
        set_headers,
    });
}

/// Returns whether the innermost level that sets `name` hides an outer level that also sets it.
fn shadows_outer_setting(levels: &[&[Directive]], name: &str) -> bool {
    let mut levels_with_setting = levels
        .iter()
        .rev()
        .filter(|level| level.iter().any(|directive| directive.name == name));
    levels_with_setting.next().is_some() && levels_with_setting.next().is_some()
}

/// `return` runs in nginx's rewrite phase, before the access phase in which auth_request
/// runs, so a location that returns never sends the subrequest to revcheck.
fn check_return_before_auth(location: &LocationContext<'_>, findings: &mut Vec<Finding>) {
    let Some(auth_request) = effective_auth_request(&location.levels) else {
        return;
    };
    let own = location.directive.children();
    let direct = own.iter().filter(|directive| directive.name == "return");
    // A `return` inside `if` that denies (4xx or 5xx) only makes the check stricter.
    let conditional = own
        .iter()
        .filter(|directive| directive.name == "if")
        .flat_map(Directive::children)
        .filter(|directive| directive.name == "return")
        .filter(|directive| {
            directive
                .first_arg()
                .parse::<u16>()
                .map_or(true, |status| status < 400)
        });

    for directive in direct.chain(conditional) {
        findings.push(Finding::new(
            &directive.file,
            directive.line,
            "nginx-return-before-auth",
            format!(
                "return runs before the auth_request at {}:{} (rewrite phase before access \
                 phase), so this response is sent without the certificate check; move the \
                 return to a location without auth_request or replace it with proxy_pass",
                auth_request.file.display(),
                auth_request.line,
            ),
        ));
    }
}

#[cfg(test)]
mod tests;
