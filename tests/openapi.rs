//! Checks `docs/openapi.yaml` against the real server: every route is documented, and
//! `revcheck serve` on the demo PKI gives each documented status, with a body that matches the
//! documented schema and media type.

use std::collections::BTreeSet;
use std::fmt;
use std::fs;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

mod common;

use common::poll_until;
use common::revcheck::RevcheckProcess;
use jsonschema::error::ValidationErrorKind;
use revcheck::fixtures::{LeafSpec, TestCa};
use serde_json::{Map, Value, json};

/// Every route in `src/http/routes.rs`, as the method and the path template of the document.
const ROUTES: [(&str, &str); 7] = [
    ("get", "/v1/auth"),
    ("get", "/v1/status/{ca}/{serial}"),
    ("post", "/v1/status"),
    ("get", "/v1/cas"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
];

/// Documented statuses that no request here produces, as (method, path, status, reason). The
/// test fails when one of them does occur, so the list only shrinks.
const NOT_PRODUCED: [(&str, &str, &str, &str); 0] = [];

/// Id of the CA whose CRL file is missing until the test writes it.
const CA_WITHOUT_CRL: &str = "no-crl";

/// A PEM block whose content is not a certificate.
const GARBAGE_PEM: &str =
    "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n";

/// Upper bound on every wait for revcheck: startup, a refresh, a response.
const DEADLINE: Duration = Duration::from_secs(20);

#[test]
fn every_route_documented() {
    let document = ApiDocument::load();

    let listed: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(method, path)| ((*method).to_owned(), (*path).to_owned()))
        .collect();
    assert_eq!(
        document.operations(),
        listed,
        "docs/openapi.yaml operations differ from the routes of src/http/routes.rs"
    );

    // A route added to routes.rs without a line in ROUTES would otherwise go unnoticed.
    let routes_source = include_str!("../src/http/routes.rs");
    let declared = routes_source.matches("warp::path!(").count();
    assert_eq!(
        declared,
        ROUTES.len(),
        "src/http/routes.rs declares {declared} routes but ROUTES lists {}; add the new route \
         to ROUTES and to docs/openapi.yaml",
        ROUTES.len()
    );
}

#[test]
fn object_schemas_reject_unknown_members() {
    let document = ApiDocument::load();
    let mut open_objects = Vec::new();
    find_open_objects(&document.root, "#", &mut open_objects);

    assert!(
        open_objects.is_empty(),
        "object schemas without `additionalProperties: false`, so a new member would go \
         unnoticed: {open_objects:?}"
    );
}

#[test]
fn responses_match_document() {
    let document = ApiDocument::load();
    let dir = tempfile::tempdir().expect("temporary directory is created");
    let missing_crl = dir.path().join("no-crl.crl");
    let config = write_config(dir.path(), &missing_crl);
    let server = Server::start(&config);
    let mut checker = Checker::new(&document, &server);

    // The demo CAs load their CRL files while the third CA's file does not exist yet.
    poll_until("/readyz to list only the CA without a CRL file", || {
        let response = server.send(&Request::get("/readyz"));
        let body: Value = serde_json::from_str(&response.body).unwrap_or_default();
        let missing_ids: Vec<&Value> = body["missing"]
            .as_array()
            .map(|missing| missing.iter().map(|entry| &entry["ca"]).collect())
            .unwrap_or_default();
        let reason = body["missing"][0]["reason"].as_str().unwrap_or_default();
        if missing_ids == [CA_WITHOUT_CRL] && reason.contains("last error") {
            Ok(())
        } else {
            Err(response.to_string())
        }
    });
    let readiness = checker.check("/readyz", &Request::get("/readyz"), 503);
    assert_eq!(readiness["missing"][0]["ca"], CA_WITHOUT_CRL, "{readiness}");
    let cas = checker.check("/v1/cas", &Request::get("/v1/cas"), 200);
    assert_eq!(
        ca_entry(&cas, CA_WITHOUT_CRL)["crl_number"],
        Value::Null,
        "{cas}"
    );

    check_lookups(&mut checker);
    check_auth(&mut checker);
    check_request_errors(&mut checker);
    check_operations(&mut checker);
    check_other_methods_and_paths(&checker);

    // Once the CRL file exists, the next retry loads it and every CA is ready.
    let demo = demo_dir();
    fs::copy(demo.join("root-ca.crl"), &missing_crl).expect("CRL file is copied");
    poll_until("every CA to be ready", || {
        let response = server.send(&Request::get("/readyz"));
        if response.status == 200 {
            Ok(())
        } else {
            Err(response.to_string())
        }
    });
    let readiness = checker.check("/readyz", &Request::get("/readyz"), 200);
    assert_eq!(readiness["ready"], true, "{readiness}");
    let cas = checker.check("/v1/cas", &Request::get("/v1/cas"), 200);
    assert_eq!(ca_entry(&cas, CA_WITHOUT_CRL)["crl_number"], "01", "{cas}");

    checker.assert_every_status_seen();
}

/// Returns the entry of the CA with `id` in a `GET /v1/cas` body.
fn ca_entry<'a>(cas: &'a Value, id: &str) -> &'a Value {
    cas["cas"]
        .as_array()
        .and_then(|entries| entries.iter().find(|entry| entry["id"] == id))
        .unwrap_or_else(|| panic!("no CA {id} in {cas}"))
}

/// Checks the access decisions of `GET /v1/auth`: allowed, no certificate, revoked.
fn check_auth(checker: &mut Checker<'_>) {
    const AUTH: &str = "/v1/auth";
    let demo = demo_dir();
    let escape = |file: &str| {
        let pem = fs::read_to_string(demo.join(file)).expect("demo certificate");
        pem.bytes()
            .map(|byte| match byte {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' => (byte as char).to_string(),
                _ => format!("%{byte:02X}"),
            })
            .collect::<String>()
    };
    let auth_request = |file: &str| {
        let head = format!(
            "X-SSL-Client-Verify: SUCCESS\r\nX-SSL-Client-Cert: {}\r\n",
            escape(file)
        );
        Request::with_head("GET", AUTH, &head, &[])
    };

    let allowed = checker.check_with_response(AUTH, &auth_request("good-client.pem"), 200);
    // The demo maps the email subject alternative name of the client to its identity.
    assert_eq!(
        allowed.header("x-client-identity"),
        Some("good-client@demo.revcheck.test"),
        "{allowed}"
    );
    assert_eq!(
        allowed.header("x-client-cert-serial"),
        Some("1001"),
        "{allowed}"
    );
    assert_eq!(
        allowed.header("x-revocation-status"),
        Some("good"),
        "{allowed}"
    );

    let head = "X-SSL-Client-Verify: NONE\r\n";
    let no_certificate = Request::with_head("GET", AUTH, head, &[]);
    let body = checker.check(AUTH, &no_certificate, 401);
    assert_eq!(body["error"], "no_certificate", "{body}");

    let denied = checker.check_with_response(AUTH, &auth_request("revoked-client.pem"), 403);
    assert_eq!(
        denied.header("x-revcheck-reason"),
        Some("revoked"),
        "{denied}"
    );
}

/// Checks decided lookups, good, revoked and unknown, through each request shape.
fn check_lookups(checker: &mut Checker<'_>) {
    const BY_SERIAL: &str = "/v1/status/{ca}/{serial}";
    let demo = demo_dir();
    let good_pem = fs::read_to_string(demo.join("good-client.pem")).expect("good-client.pem");
    let revoked_pem =
        fs::read_to_string(demo.join("revoked-client.pem")).expect("revoked-client.pem");

    let good = checker.check(
        BY_SERIAL,
        &Request::get("/v1/status/demo-issuing/1001"),
        200,
    );
    assert_eq!(good["status"], "good", "{good}");
    assert_eq!(good["serial"], "1001", "{good}");

    let revoked = checker.check(
        BY_SERIAL,
        &Request::get("/v1/status/demo-issuing/8001"),
        200,
    );
    assert_eq!(revoked["status"], "revoked", "{revoked}");
    assert_eq!(revoked["serial"], "008001", "{revoked}");
    assert_eq!(revoked["reason"], "key_compromise", "{revoked}");
    assert_eq!(
        revoked["revocation_time"], "2025-06-01T00:00:00Z",
        "{revoked}"
    );

    let unknown = checker.check(
        BY_SERIAL,
        &Request::get(&format!("/v1/status/{CA_WITHOUT_CRL}/01")),
        200,
    );
    assert_eq!(unknown["status"], "unknown", "{unknown}");
    assert_eq!(unknown["reason"], "no_crl", "{unknown}");

    let good = checker.check(
        "/v1/status",
        &Request::post_json("/v1/status", &json!({"certificate": good_pem})),
        200,
    );
    assert_eq!(good["status"], "good", "{good}");
    let revoked = checker.check(
        "/v1/status",
        &Request::post_json("/v1/status", &json!({"certificate": revoked_pem})),
        200,
    );
    assert_eq!(revoked["status"], "revoked", "{revoked}");
    let revoked = checker.check(
        "/v1/status",
        &Request::post_json(
            "/v1/status",
            &json!({"ca": "demo-issuing", "serial": "00:80:01"}),
        ),
        200,
    );
    assert_eq!(revoked["status"], "revoked", "{revoked}");
}

/// Checks requests that the status endpoints reject with an error status.
fn check_request_errors(checker: &mut Checker<'_>) {
    const BY_SERIAL: &str = "/v1/status/{ca}/{serial}";
    const POST: &str = "/v1/status";
    let demo = demo_dir();
    let chain_pem = fs::read_to_string(demo.join("chain.pem")).expect("chain.pem");
    let foreign_ca = TestCa::root("openapi test unconfigured CA").expect("CA is issued");
    let foreign_leaf = foreign_ca
        .leaf(&LeafSpec {
            common_name: "client of unconfigured CA".to_owned(),
            serial: vec![0x10, 0x01],
            email: None,
            uri: None,
        })
        .expect("leaf is issued");

    let cases = [
        (
            BY_SERIAL,
            Request::get("/v1/status/no-such-ca/01"),
            404,
            "unknown_ca",
        ),
        (
            BY_SERIAL,
            Request::get("/v1/status/demo-issuing/xyz"),
            400,
            "invalid_serial",
        ),
        (
            POST,
            Request::post_json(POST, &json!({"ca": "no-such-ca", "serial": "01"})),
            404,
            "unknown_ca",
        ),
        (
            POST,
            Request::post_bytes(POST, b"{\"certificate\": "),
            400,
            "invalid_json",
        ),
        (
            POST,
            Request::post_json(POST, &json!({"ca": "demo-issuing", "number": "01"})),
            400,
            "invalid_json",
        ),
        (
            POST,
            Request::post_json(POST, &json!({"ca": "demo-issuing"})),
            400,
            "invalid_request",
        ),
        (
            POST,
            Request::post_json(
                POST,
                &json!({"certificate": GARBAGE_PEM, "ca": "demo-issuing", "serial": "01"}),
            ),
            400,
            "invalid_request",
        ),
        (
            POST,
            Request::post_json(POST, &json!({"ca": "demo-issuing", "serial": "xyz"})),
            400,
            "invalid_serial",
        ),
        (POST, Request::truncated_post(POST), 400, "bad_request"),
        (POST, Request::chunked_post(POST), 411, "length_required"),
        (
            POST,
            Request::oversized_post(POST, 64 * 1024 + 1),
            413,
            "body_too_large",
        ),
        (
            POST,
            Request::post_json(POST, &json!({"certificate": GARBAGE_PEM})),
            422,
            "invalid_certificate",
        ),
        (
            POST,
            Request::post_json(POST, &json!({"certificate": chain_pem})),
            422,
            "invalid_certificate",
        ),
        (
            POST,
            Request::post_json(POST, &json!({"certificate": foreign_leaf.cert_pem})),
            422,
            "unknown_issuer",
        ),
    ];
    for (path, request, status, error) in cases {
        let body = checker.check(path, &request, status);
        assert_eq!(body["error"], error, "{request}: {body}");
    }
}

/// Checks the liveness and metrics endpoints.
fn check_operations(checker: &mut Checker<'_>) {
    let health = checker.check("/healthz", &Request::get("/healthz"), 200);
    assert_eq!(health["status"], "ok", "{health}");

    let metrics = checker.check("/metrics", &Request::get("/metrics"), 200);
    let text = metrics.as_str().unwrap_or_default();
    assert!(
        text.lines()
            .any(|line| line == "# TYPE revcheck_ready gauge"),
        "no revcheck_ready gauge in /metrics:\n{text}"
    );
}

/// Checks methods that a path does not list, and a path that the document does not list.
fn check_other_methods_and_paths(checker: &Checker<'_>) {
    let concrete_paths = [
        ("/v1/auth", "/v1/auth"),
        ("/v1/status/{ca}/{serial}", "/v1/status/demo-issuing/1001"),
        ("/v1/status", "/v1/status"),
        ("/v1/cas", "/v1/cas"),
        ("/healthz", "/healthz"),
        ("/readyz", "/readyz"),
        ("/metrics", "/metrics"),
    ];
    let templates: BTreeSet<String> = concrete_paths
        .iter()
        .map(|(template, _)| (*template).to_owned())
        .collect();
    let documented: BTreeSet<String> = checker
        .document
        .operations()
        .into_iter()
        .map(|(_, path)| path)
        .collect();
    assert_eq!(
        templates, documented,
        "every documented path needs a concrete path here"
    );

    // The access check treats every method alike, because nginx may send the method of the
    // client's request; without a certificate that is 401.
    for method in ["POST", "PUT", "DELETE"] {
        let response = checker.server.send(&Request::method(method, "/v1/auth"));
        assert_eq!(response.status, 401, "{response}");
    }

    for (_, concrete) in concrete_paths
        .into_iter()
        .filter(|(template, _)| *template != "/v1/auth")
    {
        for method in ["PUT", "DELETE"] {
            let request = Request::method(method, concrete);
            let body = checker.check_component(&request, "MethodNotAllowed", 405);
            assert_eq!(body["error"], "method_not_allowed", "{request}: {body}");
        }
    }

    // HEAD is routed nowhere either. Its 405 response has no body to validate.
    let head = checker.server.send(&Request::method("HEAD", "/healthz"));
    assert_eq!(head.status, 405, "{head}");

    let filler = "a".repeat(40 * 1024);
    let request = Request::with_head("GET", "/healthz", &format!("X-Filler: {filler}\r\n"), &[]);
    let body = checker.check_component(&request, "HeadersTooLarge", 431);
    assert_eq!(body["error"], "headers_too_large", "{request}: {body}");

    let request = Request::get("/v1/no-such-endpoint");
    let body = checker.check_component(&request, "UnknownPath", 404);
    assert_eq!(body["error"], "not_found", "{request}: {body}");
}

/// Sends requests, checks each response against the document and records which documented
/// (method, path, status) triples occurred.
struct Checker<'a> {
    document: &'a ApiDocument,
    server: &'a Server,
    seen: BTreeSet<(String, String, String)>,
}

impl<'a> Checker<'a> {
    fn new(document: &'a ApiDocument, server: &'a Server) -> Self {
        Self {
            document,
            server,
            seen: BTreeSet::new(),
        }
    }

    /// Sends `request` to the documented `path`, checks that the response has `status` and
    /// matches the document, and returns the body: JSON, or a JSON string for text.
    fn check(&mut self, path: &str, request: &Request, status: u16) -> Value {
        let (body, _) = self.check_both(path, request, status);
        body
    }

    /// Checks like [`Checker::check`] and returns the whole response, for its headers.
    fn check_with_response(&mut self, path: &str, request: &Request, status: u16) -> HttpResponse {
        let (_, response) = self.check_both(path, request, status);
        response
    }

    fn check_both(&mut self, path: &str, request: &Request, status: u16) -> (Value, HttpResponse) {
        let method = request.method.to_ascii_lowercase();
        let status_key = status.to_string();
        let operation = &self.document.root["paths"][path][&method];
        assert!(
            operation.is_object(),
            "{method} {path} is not documented in docs/openapi.yaml"
        );

        let response = self.server.send(request);
        assert_eq!(response.status, status, "{response}");
        if let Some(body) = &request.json_body {
            self.check_request_body(operation, body, &response);
        }
        let documented = &operation["responses"][&status_key];
        assert!(
            documented.is_object(),
            "status {status} of {method} {path} is not documented: {response}"
        );
        self.seen.insert((method, path.to_owned(), status_key));
        let body = self.document.check_response(documented, &response);
        (body, response)
    }

    /// Sends `request`, checks that the response has `status` and matches the response named
    /// `name` under `components/responses`, and returns the body.
    fn check_component(&self, request: &Request, name: &str, status: u16) -> Value {
        let documented = &self.document.root["components"]["responses"][name];
        assert!(
            documented.is_object(),
            "components/responses/{name} is not in docs/openapi.yaml"
        );
        let response = self.server.send(request);
        assert_eq!(response.status, status, "{response}");
        self.document.check_response(documented, &response)
    }

    /// Checks that the documented request schema accepts a JSON body exactly when the server
    /// does not reject its shape, with `invalid_json` or `invalid_request`.
    fn check_request_body(&self, operation: &Value, body: &Value, response: &HttpResponse) {
        let media = &operation["requestBody"]["content"]["application/json"];
        let validator = self.document.validator(&media["schema"]);
        let documented_valid = validator.is_valid(body);

        let error: Value = serde_json::from_str(&response.body).unwrap_or_default();
        let shape_rejected = response.status == 400
            && matches!(
                error["error"].as_str(),
                Some("invalid_json" | "invalid_request")
            );
        assert_eq!(
            documented_valid, !shape_rejected,
            "the document and the server disagree on whether this body is valid: {response}"
        );
    }

    /// Fails if a documented status never occurred, other than those in `NOT_PRODUCED`.
    fn assert_every_status_seen(&self) {
        let excepted: BTreeSet<(String, String, String)> = NOT_PRODUCED
            .iter()
            .map(|(method, path, status, _)| {
                (
                    (*method).to_owned(),
                    (*path).to_owned(),
                    (*status).to_owned(),
                )
            })
            .collect();
        let documented = self.document.statuses();

        let unchecked: Vec<_> = documented
            .difference(&self.seen)
            .filter(|triple| !excepted.contains(*triple))
            .collect();
        assert!(
            unchecked.is_empty(),
            "documented statuses that no request produced: {unchecked:?}; add a request that \
             produces each, or list it in NOT_PRODUCED with the reason"
        );
        let produced_anyway: Vec<_> = excepted.intersection(&self.seen).collect();
        assert!(
            produced_anyway.is_empty(),
            "statuses in NOT_PRODUCED that a request produced; remove them: {produced_anyway:?}"
        );
        let undocumented: Vec<_> = excepted.difference(&documented).collect();
        assert!(
            undocumented.is_empty(),
            "statuses in NOT_PRODUCED that the document does not list: {undocumented:?}"
        );
    }
}

/// `docs/openapi.yaml`, read into JSON values.
struct ApiDocument {
    root: Value,
}

impl ApiDocument {
    fn load() -> Self {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/openapi.yaml");
        let text = fs::read_to_string(&path)
            .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
        let root = serde_norway::from_str(&text)
            .unwrap_or_else(|error| panic!("{} is not valid YAML: {error}", path.display()));
        Self { root }
    }

    /// Returns every (method, path) that the document describes.
    fn operations(&self) -> BTreeSet<(String, String)> {
        self.path_items()
            .flat_map(|(path, item)| {
                item.keys()
                    .filter(|key| is_http_method(key))
                    .map(move |method| (method.clone(), path.clone()))
            })
            .collect()
    }

    /// Returns every documented (method, path, status).
    fn statuses(&self) -> BTreeSet<(String, String, String)> {
        let mut statuses = BTreeSet::new();
        for (path, item) in self.path_items() {
            for (method, operation) in item.iter().filter(|(key, _)| is_http_method(key)) {
                let responses = operation["responses"]
                    .as_object()
                    .unwrap_or_else(|| panic!("{method} {path} has no responses"));
                for status in responses.keys() {
                    statuses.insert((method.clone(), path.clone(), status.clone()));
                }
            }
        }
        statuses
    }

    fn path_items(&self) -> impl Iterator<Item = (&String, &Map<String, Value>)> {
        self.root["paths"]
            .as_object()
            .expect("docs/openapi.yaml has paths")
            .iter()
            .map(|(path, item)| {
                let item = item
                    .as_object()
                    .unwrap_or_else(|| panic!("path item {path} is not a map"));
                (path, item)
            })
    }

    /// Checks that `response` has the media type of the `documented` Response Object and a
    /// body that its schema accepts. Returns the body as JSON, or as a JSON string for a media
    /// type other than JSON.
    fn check_response(&self, documented: &Value, response: &HttpResponse) -> Value {
        let documented = self.resolve(documented);
        if let Some(headers) = documented["headers"].as_object() {
            for (name, header) in headers {
                let header = self.resolve(header);
                let value = response.header(&name.to_ascii_lowercase());
                if header["required"] == true {
                    assert!(
                        value.is_some(),
                        "documented header {name} is missing: {response}"
                    );
                }
                if let Some(value) = value {
                    let validator = self.validator(&header["schema"]);
                    assert!(
                        validator.is_valid(&Value::String(value.to_owned())),
                        "header {name}: {value:?} does not match the documented schema: \
                         {response}"
                    );
                }
            }
        }
        let Some(content) = documented["content"].as_object() else {
            assert!(
                response.body.is_empty(),
                "the document lists no content, but the body is not empty: {response}"
            );
            return Value::Null;
        };
        let [(media_type, media)] = content.iter().collect::<Vec<_>>()[..] else {
            panic!("documented response has several media types: {content:?}");
        };
        assert_eq!(
            response.content_type.as_deref(),
            Some(media_type.as_str()),
            "Content-Type differs from the document: {response}"
        );

        let body = if media_type == "application/json" {
            serde_json::from_str(&response.body)
                .unwrap_or_else(|error| panic!("body is not JSON ({error}): {response}"))
        } else {
            Value::String(response.body.clone())
        };
        let validator = self.validator(&media["schema"]);
        let errors: Vec<String> = validator.iter_errors(&body).map(|e| describe(&e)).collect();
        assert!(
            errors.is_empty(),
            "body does not match the documented schema:\n  {}\n{response}",
            errors.join("\n  ")
        );
        body
    }

    /// Builds a validator for an OpenAPI Schema Object, with `format` checked.
    fn validator(&self, schema: &Value) -> jsonschema::Validator {
        let schema = self.to_json_schema(schema);
        jsonschema::draft4::options()
            .should_validate_formats(true)
            .build(&schema)
            .unwrap_or_else(|error| panic!("invalid schema ({error}): {schema}"))
    }

    /// Converts an OpenAPI 3.0 Schema Object into JSON Schema draft 4, which OpenAPI 3.0
    /// schemas are based on: each `$ref` is replaced by its target, and `nullable: true` adds
    /// `null` to `type` and to `enum`. Other OpenAPI keywords, such as `discriminator` and
    /// `example`, are annotations that the validator ignores.
    ///
    /// Every map is treated as a schema, so a property named `$ref` or `nullable` would be
    /// misread; the document has none.
    fn to_json_schema(&self, schema: &Value) -> Value {
        match schema {
            Value::Object(map) => {
                if let Some(Value::String(reference)) = map.get("$ref") {
                    return self.to_json_schema(self.target(reference));
                }
                let mut converted: Map<String, Value> = map
                    .iter()
                    .map(|(key, value)| (key.clone(), self.to_json_schema(value)))
                    .collect();
                if converted.remove("nullable") == Some(Value::Bool(true)) {
                    if let Some(Value::String(kind)) = converted.get("type").cloned() {
                        converted.insert("type".to_owned(), json!([kind, "null"]));
                    }
                    if let Some(Value::Array(values)) = converted.get_mut("enum")
                        && !values.contains(&Value::Null)
                    {
                        values.push(Value::Null);
                    }
                }
                Value::Object(converted)
            }
            Value::Array(items) => items.iter().map(|item| self.to_json_schema(item)).collect(),
            other => other.clone(),
        }
    }

    /// Follows a `$ref`, if `value` is one.
    fn resolve<'v>(&'v self, value: &'v Value) -> &'v Value {
        match value.get("$ref").and_then(Value::as_str) {
            Some(reference) => self.resolve(self.target(reference)),
            None => value,
        }
    }

    /// Returns the value that a local reference such as `#/components/schemas/Error` names.
    fn target(&self, reference: &str) -> &Value {
        let pointer = reference
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("reference {reference} is not local to the document"));
        self.root
            .pointer(pointer)
            .unwrap_or_else(|| panic!("reference {reference} names nothing in the document"))
    }
}

/// Formats a validation error with its location, and for `oneOf` why each branch failed.
fn describe(error: &jsonschema::ValidationError<'_>) -> String {
    let mut text = format!("{error} (at \"{}\")", error.instance_path());
    if let ValidationErrorKind::OneOfNotValid { context } = error.kind() {
        for (index, branch) in context.iter().enumerate() {
            let reasons: Vec<String> = branch.iter().map(describe).collect();
            text.push_str(&format!("\n    oneOf[{index}]: {}", reasons.join("; ")));
        }
    }
    text
}

fn is_http_method(key: &str) -> bool {
    matches!(
        key,
        "get" | "put" | "post" | "delete" | "options" | "head" | "patch" | "trace"
    )
}

/// Collects the location of every schema with `type: object` that allows members it does not
/// list.
fn find_open_objects(value: &Value, location: &str, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            let is_object_schema = map.get("type") == Some(&json!("object"));
            if is_object_schema && map.get("additionalProperties") != Some(&json!(false)) {
                found.push(location.to_owned());
            }
            for (key, child) in map {
                find_open_objects(child, &format!("{location}/{key}"), found);
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                find_open_objects(child, &format!("{location}/{index}"), found);
            }
        }
        _ => {}
    }
}

fn demo_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo")
}

/// Writes a configuration like `config/revcheck.toml`, with absolute paths to the demo PKI, an
/// OS-chosen port, a state directory under `dir`, and a third CA whose CRL file `missing_crl`
/// does not exist yet. Retries start after 1 second and wait at most 2, so that the CRL that
/// the test writes later is loaded within seconds.
fn write_config(dir: &Path, missing_crl: &Path) -> PathBuf {
    let demo = demo_dir();
    let demo = demo.to_str().expect("repository path is UTF-8");
    let state_dir = dir.join("state");
    let config = format!(
        r#"listen = "127.0.0.1:0"
state_dir = "{state_dir}"
clock_skew = "5m"

[fetch]
timeout = "10s"
max_size = 67108864

[refresh]
interval = "5m"
retry_min = "1s"
retry_max = "2s"

[auth]
identity = "san"
san_type = "email"

[[ca]]
id = "demo-root"
certificate = "{demo}/root-ca.pem"
crl = ["file:{demo}/root-ca.crl"]

[[ca]]
id = "demo-issuing"
certificate = "{demo}/issuing-ca.pem"
crl = ["file:{demo}/issuing-ca.crl"]

[[ca]]
id = "{CA_WITHOUT_CRL}"
certificate = "{demo}/root-ca.pem"
crl = ["file:{missing_crl}"]
"#,
        state_dir = state_dir.display(),
        missing_crl = missing_crl.display(),
    );
    let path = dir.join("revcheck.toml");
    fs::write(&path, config).expect("revcheck.toml is written");
    path
}

/// One HTTP/1.1 request, sent on its own connection.
struct Request {
    method: &'static str,
    target: String,
    /// The whole request as sent: head and body.
    bytes: Vec<u8>,
    /// The body, when it is JSON, for checking against the documented request schema.
    json_body: Option<Value>,
    /// Whether to close the sending side after the bytes, so the server reads an early end.
    close_after_sending: bool,
}

impl Request {
    fn method(method: &'static str, target: &str) -> Self {
        Self::with_head(method, target, "", &[])
    }

    fn get(target: &str) -> Self {
        Self::method("GET", target)
    }

    fn post_bytes(target: &str, body: &[u8]) -> Self {
        let head = format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        );
        Self::with_head("POST", target, &head, body)
    }

    fn post_json(target: &str, body: &Value) -> Self {
        let mut request = Self::post_bytes(target, body.to_string().as_bytes());
        request.json_body = Some(body.clone());
        request
    }

    /// Builds a POST with a chunked body, so without Content-Length. The chunks never follow,
    /// because the server responds from the head alone.
    fn chunked_post(target: &str) -> Self {
        let head = "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n";
        Self::with_head("POST", target, head, &[])
    }

    /// Builds a POST whose Content-Length is `length`. The body never follows, because the
    /// server responds from the head alone.
    fn oversized_post(target: &str, length: usize) -> Self {
        let head = format!("Content-Type: application/json\r\nContent-Length: {length}\r\n");
        Self::with_head("POST", target, &head, &[])
    }

    /// Builds a POST that announces 100 bytes, sends 10, then closes its sending side.
    fn truncated_post(target: &str) -> Self {
        let head = "Content-Type: application/json\r\nContent-Length: 100\r\n";
        let mut request = Self::with_head("POST", target, head, b"{\"ca\": \"de");
        request.close_after_sending = true;
        request
    }

    fn with_head(method: &'static str, target: &str, extra_head: &str, body: &[u8]) -> Self {
        let mut bytes = format!(
            "{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{extra_head}\r\n"
        )
        .into_bytes();
        bytes.extend_from_slice(body);
        Self {
            method,
            target: target.to_owned(),
            bytes,
            json_body: None,
            close_after_sending: false,
        }
    }
}

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.target)
    }
}

/// A response as received, with the request that produced it for messages.
struct HttpResponse {
    request: String,
    status: u16,
    content_type: Option<String>,
    /// Every header, with the name in lowercase.
    headers: Vec<(String, String)>,
    body: String,
}

impl HttpResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(found, _)| found == name)
            .map(|(_, value)| value.as_str())
    }
}

impl fmt::Display for HttpResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} returned {} ({}): {}",
            self.request,
            self.status,
            self.content_type.as_deref().unwrap_or("no Content-Type"),
            self.body
        )
    }
}

/// Reads a whole response from a connection that the server closes after it. The body ends
/// at Content-Length. A chunked response fails the test, because revcheck builds every body
/// whole and sends its length.
fn read_response(stream: &mut TcpStream, request: &Request) -> HttpResponse {
    let mut bytes = Vec::new();
    if let Err(error) = stream.read_to_end(&mut bytes) {
        panic!("reading the response to {request} failed: {error}");
    }
    let text = String::from_utf8_lossy(&bytes);
    let Some((head, rest)) = text.split_once("\r\n\r\n") else {
        panic!("incomplete response to {request}: {text:?}");
    };

    let mut lines = head.lines();
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status in {status_line:?} from {request}"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    let header = |name: &str| {
        headers
            .iter()
            .find(|(found, _)| found == name)
            .map(|(_, value)| value.clone())
    };
    assert_eq!(
        header("transfer-encoding"),
        None,
        "unexpected chunked response to {request}: {text:?}"
    );

    let body = match header("content-length").and_then(|length| length.parse().ok()) {
        Some(_) if request.method == "HEAD" => String::new(),
        Some(length) => rest
            .get(..length)
            .unwrap_or_else(|| panic!("response to {request} ended early: {text:?}"))
            .to_owned(),
        None => rest.to_owned(),
    };
    HttpResponse {
        request: request.to_string(),
        status,
        content_type: header("content-type"),
        headers,
        body,
    }
}

/// A running `revcheck serve`, killed and reaped when dropped.
struct Server {
    /// Held for its `Drop`, which stops the process.
    _process: RevcheckProcess,
    address: SocketAddr,
}

impl Server {
    /// Starts `revcheck serve --config config` and waits for its listening line.
    fn start(config: &Path) -> Server {
        let process = RevcheckProcess::spawn(config);
        Server {
            address: process.address,
            _process: process,
        }
    }

    fn send(&self, request: &Request) -> HttpResponse {
        let mut stream = TcpStream::connect(self.address)
            .unwrap_or_else(|error| panic!("connecting to {} failed: {error}", self.address));
        stream
            .set_read_timeout(Some(DEADLINE))
            .expect("read timeout is set");
        stream
            .write_all(&request.bytes)
            .unwrap_or_else(|error| panic!("sending {request} failed: {error}"));
        if request.close_after_sending {
            stream
                .shutdown(Shutdown::Write)
                .unwrap_or_else(|error| panic!("closing the sending side failed: {error}"));
        }
        read_response(&mut stream, request)
    }
}
