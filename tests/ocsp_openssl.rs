//! `revcheck check --ocsp` against a real `openssl ocsp` responder.
//!
//! OpenSSL 3.0's responder binds every interface, so the responder, `revcheck` and the
//! `openssl ocsp` client that gives the expected answers all run inside a private network
//! namespace (`unshare -n`) whose only interface is its own loopback. Nothing outside the
//! namespace can reach the responder. This needs root, as CI has.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime};

use revcheck::fixtures::{LeafSpec, TestCa};
use serde_json::Value;

const REVCHECK: &str = env!("CARGO_BIN_EXE_revcheck");

/// Port of the responder inside the namespace; nothing else listens there.
const PORT: u16 = 8888;

const CASES: [(&str, u8); 3] = [("good", 0x11), ("revoked", 0x22), ("unknown", 0x33)];

/// Formats a time as OpenSSL's CA database does: YYYYMMDDHHMMSSZ.
fn index_time(time: SystemTime) -> String {
    let text = humantime::format_rfc3339_seconds(time).to_string();
    text.replace(['-', ':', 'T'], "")
}

/// Writes the CA, the three leaves and the responder's index: the first leaf valid, the second
/// revoked for keyCompromise, the third absent from the index.
fn write_pki(dir: &Path) {
    let ca = TestCa::root("OCSP Test CA").expect("test CA");
    std::fs::write(dir.join("ca.pem"), ca.cert_pem()).expect("write CA");
    std::fs::write(dir.join("ca.key"), ca.key_pem()).expect("write CA key");

    let expiry = index_time(revcheck::fixtures::not_after());
    // OpenSSL reads revocation times in the index as UTCTime (YYMMDDHHMMSSZ).
    let revoked_at = index_time(SystemTime::now() - Duration::from_secs(3600))[2..].to_owned();
    let mut index = String::new();
    for (name, serial) in CASES {
        let leaf = ca
            .leaf(&LeafSpec {
                common_name: format!("ocsp-{name}"),
                serial: vec![serial],
                email: None,
                uri: None,
            })
            .expect("leaf");
        std::fs::write(dir.join(format!("{name}.pem")), &leaf.cert_pem).expect("write leaf");
        let subject = format!("/C=US/O=revcheck demo/CN=ocsp-{name}");
        match name {
            "good" => index.push_str(&format!(
                "V\t{expiry}\t\t{serial:02X}\tunknown\t{subject}\n"
            )),
            "revoked" => index.push_str(&format!(
                "R\t{expiry}\t{revoked_at},keyCompromise\t{serial:02X}\tunknown\t{subject}\n"
            )),
            _ => {}
        }
    }
    std::fs::write(dir.join("index.txt"), index).expect("write index");
    std::fs::write(dir.join("index.txt.attr"), "unique_subject = no\n").expect("write attr");
}

/// The script run inside the namespace: start the responder, wait for it, then for every case
/// ask `openssl ocsp` (the expected answer) and `revcheck check` by GET and by POST.
fn script(revcheck: &str) -> String {
    let mut script = format!(
        "set -u\n\
         ip link set lo up\n\
         openssl ocsp -index index.txt -CA ca.pem -rsigner ca.pem -rkey ca.key \
           -port {PORT} -nmin 60 -ignore_err > responder.log 2>&1 &\n\
         responder=$!\n\
         trap 'kill $responder 2>/dev/null; wait $responder 2>/dev/null' EXIT\n\
         for attempt in $(seq 100); do\n\
           (echo > /dev/tcp/127.0.0.1/{PORT}) 2>/dev/null && break\n\
           sleep 0.1\n\
         done\n"
    );
    for (name, _) in CASES {
        script.push_str(&format!(
            "openssl ocsp -issuer ca.pem -cert {name}.pem -url http://127.0.0.1:{PORT} \
               -CAfile ca.pem > oracle-{name}.txt 2>&1\n\
             {revcheck} check --ca ca.pem --ocsp http://127.0.0.1:{PORT}/ --json {name}.pem \
               > get-{name}.json 2> get-{name}.err\n\
             echo $? > get-{name}.rc\n\
             {revcheck} check --ca ca.pem --ocsp http://127.0.0.1:{PORT}/ --ocsp-post --json \
               {name}.pem > post-{name}.json 2> post-{name}.err\n\
             echo $? > post-{name}.rc\n"
        ));
    }
    script
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_else(|error| panic!("{name}: {error}"))
}

#[test]
fn check_against_openssl_responder() {
    let dir = tempfile::tempdir().expect("temp dir");
    write_pki(dir.path());

    let output = Command::new("unshare")
        .args(["-n", "bash", "-c", &script(REVCHECK)])
        .current_dir(dir.path())
        .output()
        .expect("unshare runs");
    assert!(
        output.status.success(),
        "the namespace script failed (it needs root for unshare -n): {}\n{}",
        String::from_utf8_lossy(&output.stderr),
        std::fs::read_to_string(dir.path().join("responder.log")).unwrap_or_default()
    );

    for (name, _) in CASES {
        let oracle = read(dir.path(), &format!("oracle-{name}.txt"));
        let expected_line = format!("{name}.pem: {name}");
        assert!(
            oracle.contains(&expected_line),
            "openssl ocsp must answer {name} first:\n{oracle}"
        );
        assert!(oracle.contains("Response verify OK"), "{oracle}");

        let expected_exit = match name {
            "good" => "0",
            "revoked" => "1",
            _ => "2",
        };
        for form in ["get", "post"] {
            let exit = read(dir.path(), &format!("{form}-{name}.rc"));
            let json_text = read(dir.path(), &format!("{form}-{name}.json"));
            let stderr = read(dir.path(), &format!("{form}-{name}.err"));
            assert_eq!(
                exit.trim(),
                expected_exit,
                "{form} {name}: {json_text}\n{stderr}"
            );

            let report: Value = serde_json::from_str(&json_text)
                .unwrap_or_else(|error| panic!("{form} {name}: not JSON ({error}): {json_text}"));
            let leaf = &report["certificates"][0];
            assert_eq!(leaf["status"], name, "{form}: {report}");
            if name == "unknown" {
                assert_eq!(leaf["reason"], "ocsp_unknown", "{form}: {report}");
            } else {
                assert_eq!(leaf["source"], "ocsp", "{form}: {report}");
            }
            if name == "revoked" {
                assert_eq!(leaf["reason"], "key_compromise", "{form}: {report}");
            }
        }
    }
}
