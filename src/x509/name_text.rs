//! Distinguished names as text, in the RFC 4514 form that
//! `openssl x509 -noout -subject -nameopt RFC2253` prints, so that an operator can copy a
//! subject from OpenSSL's output into an identities file.
//!
//! The rules follow OpenSSL 3's `X509_NAME_print_ex` with `XN_FLAG_RFC2253`. Attributes go
//! from the last to the first, with `,` between RDNs and `+` inside one, under OpenSSL's short
//! attribute names. Values are converted to UTF-8. A backslash escapes `,+"\<>;`, a `#` or
//! space at the start and a space at the end. Control characters and every byte of a non-ASCII
//! character are written as `\XX`. An attribute type that is not in [`SHORT_NAMES`], or a
//! value that is not a character string, is written as the dotted OID or name, `=#`, and the
//! value's DER in hexadecimal.

use const_oid::ObjectIdentifier;
use der::{Encode, Tagged};
use x509_cert::name::Name;

/// Attribute types with the short name that OpenSSL prints for them.
///
/// NOTE: OpenSSL names more attribute types than these. For one that it names and this table
/// does not, the text differs from OpenSSL's: the OID and the DER in hex instead of a name and
/// a string. Such a subject then matches no identities file line written from OpenSSL's output.
const SHORT_NAMES: &[(&str, &str)] = &[
    ("2.5.4.3", "CN"),
    ("2.5.4.4", "SN"),
    ("2.5.4.5", "serialNumber"),
    ("2.5.4.6", "C"),
    ("2.5.4.7", "L"),
    ("2.5.4.8", "ST"),
    ("2.5.4.9", "street"),
    ("2.5.4.10", "O"),
    ("2.5.4.11", "OU"),
    ("2.5.4.12", "title"),
    ("2.5.4.13", "description"),
    ("2.5.4.15", "businessCategory"),
    ("2.5.4.16", "postalAddress"),
    ("2.5.4.17", "postalCode"),
    ("2.5.4.18", "postOfficeBox"),
    ("2.5.4.20", "telephoneNumber"),
    ("2.5.4.41", "name"),
    ("2.5.4.42", "GN"),
    ("2.5.4.43", "initials"),
    ("2.5.4.44", "generationQualifier"),
    ("2.5.4.45", "x500UniqueIdentifier"),
    ("2.5.4.46", "dnQualifier"),
    ("2.5.4.51", "houseIdentifier"),
    ("2.5.4.65", "pseudonym"),
    ("2.5.4.72", "role"),
    ("2.5.4.97", "organizationIdentifier"),
    ("1.2.840.113549.1.9.1", "emailAddress"),
    ("1.2.840.113549.1.9.2", "unstructuredName"),
    ("1.2.840.113549.1.9.8", "unstructuredAddress"),
    ("0.9.2342.19200300.100.1.1", "UID"),
    ("0.9.2342.19200300.100.1.3", "mail"),
    ("0.9.2342.19200300.100.1.25", "DC"),
    ("1.3.6.1.4.1.311.60.2.1.1", "jurisdictionL"),
    ("1.3.6.1.4.1.311.60.2.1.2", "jurisdictionST"),
    ("1.3.6.1.4.1.311.60.2.1.3", "jurisdictionC"),
];

/// Formats `name` as `openssl x509 -noout -subject -nameopt RFC2253` prints it, without the
/// `subject=` prefix.
pub fn openssl_rfc2253(name: &Name) -> String {
    let mut text = String::new();
    let rdns: Vec<_> = name.0.iter().collect();
    for (rdn_index, rdn) in rdns.iter().rev().enumerate() {
        if rdn_index > 0 {
            text.push(',');
        }
        // OpenSSL reverses every attribute, so the ones inside an RDN come last to first too.
        let attributes: Vec<_> = rdn.0.iter().collect();
        for (index, attribute) in attributes.iter().rev().enumerate() {
            if index > 0 {
                text.push('+');
            }
            let short_name = short_name(&attribute.oid);
            match short_name {
                Some(short) => text.push_str(short),
                None => text.push_str(&attribute.oid.to_string()),
            }
            text.push('=');
            let characters = short_name.and(characters(&attribute.value));
            match characters {
                Some(characters) => escape_into(&characters, &mut text),
                None => dump_der(&attribute.value, &mut text),
            }
        }
    }
    text
}

fn short_name(oid: &ObjectIdentifier) -> Option<&'static str> {
    let dotted = oid.to_string();
    SHORT_NAMES
        .iter()
        .find(|(known, _)| *known == dotted)
        .map(|(_, short)| *short)
}

/// Decodes a character-string value into Unicode scalar values, as OpenSSL reads them: one
/// byte per character for the 8-bit types (so a TeletexString is read as Latin-1), UTF-8 for
/// UTF8String, UCS-2 for BMPString and UCS-4 for UniversalString. Returns `None` for other
/// types, which are dumped as DER.
fn characters(value: &der::Any) -> Option<Vec<u32>> {
    // Universal tag numbers of X.680 section 8.4. The `der` crate names only some of them.
    const NUMERIC_STRING: u8 = 0x12;
    const PRINTABLE_STRING: u8 = 0x13;
    const TELETEX_STRING: u8 = 0x14;
    const VIDEOTEX_STRING: u8 = 0x15;
    const IA5_STRING: u8 = 0x16;
    const UTC_TIME: u8 = 0x17;
    const GENERALIZED_TIME: u8 = 0x18;
    const GRAPHIC_STRING: u8 = 0x19;
    const VISIBLE_STRING: u8 = 0x1a;
    const GENERAL_STRING: u8 = 0x1b;
    const UNIVERSAL_STRING: u8 = 0x1c;
    const UTF8_STRING: u8 = 0x0c;
    const BMP_STRING: u8 = 0x1e;

    let bytes = value.value();
    match u8::from(value.tag()) {
        UTF8_STRING => std::str::from_utf8(bytes)
            .ok()
            .map(|text| text.chars().map(u32::from).collect()),
        NUMERIC_STRING | PRINTABLE_STRING | TELETEX_STRING | VIDEOTEX_STRING | IA5_STRING
        | UTC_TIME | GENERALIZED_TIME | GRAPHIC_STRING | VISIBLE_STRING | GENERAL_STRING => {
            Some(bytes.iter().map(|byte| u32::from(*byte)).collect())
        }
        BMP_STRING if bytes.len().is_multiple_of(2) => Some(
            bytes
                .chunks(2)
                .map(|pair| u32::from(u16::from_be_bytes([pair[0], pair[1]])))
                .collect(),
        ),
        UNIVERSAL_STRING if bytes.len().is_multiple_of(4) => Some(
            bytes
                .chunks(4)
                .map(|quad| u32::from_be_bytes([quad[0], quad[1], quad[2], quad[3]]))
                .collect(),
        ),
        _ => None,
    }
}

/// Writes `characters` with the escapes of OpenSSL's `ASN1_STRFLGS_RFC2253`.
fn escape_into(characters: &[u32], text: &mut String) {
    let last = characters.len().saturating_sub(1);
    for (index, &code) in characters.iter().enumerate() {
        if code > 0x7f {
            // OpenSSL converts to UTF-8 and escapes each byte. A value that is not a Unicode
            // scalar value is written as U+FFFD, which cannot match a real subject.
            let character = char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER);
            let mut buffer = [0; 4];
            for byte in character.encode_utf8(&mut buffer).bytes() {
                text.push_str(&format!("\\{byte:02X}"));
            }
            continue;
        }
        // At most 0x7f here, so the byte is the whole code.
        let byte = u8::try_from(code).unwrap_or(b'?');
        let character = char::from(byte);
        let special = matches!(character, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (index == 0 && matches!(character, '#' | ' '))
            || (index == last && character == ' ');
        if special {
            text.push('\\');
            text.push(character);
        } else if byte < 0x20 || byte == 0x7f {
            text.push_str(&format!("\\{byte:02X}"));
        } else {
            text.push(character);
        }
    }
}

/// Writes `#` and the value's whole DER encoding in uppercase hexadecimal.
fn dump_der(value: &der::Any, text: &mut String) {
    text.push('#');
    match value.to_der() {
        Ok(der) => {
            for byte in der {
                text.push_str(&format!("{byte:02X}"));
            }
        }
        // An `Any` that was decoded always encodes again; this is not reached in practice.
        Err(_) => text.push('?'),
    }
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use rcgen::{DnType, DnValue};

    use super::*;
    use crate::fixtures::{LeafSpec, TestCa};
    use crate::x509::ParsedCertificate;

    /// Returns the subject that `openssl x509 -noout -subject -nameopt RFC2253` prints.
    fn openssl_subject(pem: &str) -> String {
        let directory = tempfile::tempdir().expect("temporary directory");
        let path = directory.path().join("leaf.pem");
        std::fs::write(&path, pem).expect("certificate written");
        let output = Command::new("openssl")
            .args(["x509", "-noout", "-subject", "-nameopt", "RFC2253", "-in"])
            .arg(&path)
            .output()
            .expect("openssl runs");
        assert!(output.status.success(), "{output:?}");
        let text = String::from_utf8(output.stdout).expect("UTF-8 output");
        text.trim_end_matches('\n')
            .strip_prefix("subject=")
            .expect("subject= prefix")
            .to_owned()
    }

    fn subject_with(entries: Vec<(DnType, DnValue)>) -> (String, String) {
        let ca = TestCa::root("Name Text CA").expect("CA");
        let leaf = ca
            .leaf_with(
                &LeafSpec {
                    common_name: "placeholder".to_owned(),
                    serial: vec![0x01],
                    email: None,
                    uri: None,
                },
                |params| {
                    let mut name = rcgen::DistinguishedName::new();
                    for (kind, value) in entries {
                        name.push(kind, value);
                    }
                    params.distinguished_name = name;
                },
            )
            .expect("leaf");
        let parsed = ParsedCertificate::from_der(&leaf.cert_der).expect("leaf decodes");
        (
            openssl_rfc2253(parsed.subject()),
            openssl_subject(&leaf.cert_pem),
        )
    }

    fn custom(arcs: &[u64]) -> DnType {
        DnType::CustomDnType(arcs.to_vec())
    }

    fn ia5(text: &str) -> DnValue {
        DnValue::Ia5String(text.try_into().expect("IA5 string"))
    }

    #[test]
    fn common_attributes_match_openssl() {
        let (ours, openssl) = subject_with(vec![
            (DnType::CountryName, "DE".into()),
            (DnType::OrganizationName, "Example GmbH".into()),
            (DnType::OrganizationalUnitName, "Ops".into()),
            (DnType::CommonName, "alice".into()),
            (
                custom(&[1, 2, 840, 113_549, 1, 9, 1]),
                ia5("alice@example.test"),
            ),
        ]);
        assert_eq!(ours, openssl);
    }

    #[test]
    fn named_attributes_match_openssl() {
        let (ours, openssl) = subject_with(vec![
            (custom(&[2, 5, 4, 5]), "12345".into()),
            (custom(&[2, 5, 4, 12]), "Engineer".into()),
            (custom(&[2, 5, 4, 9]), "Main Street 1".into()),
            (custom(&[2, 5, 4, 42]), "Alice".into()),
            (custom(&[2, 5, 4, 4]), "Example".into()),
            (
                custom(&[0, 9, 2342, 19_200_300, 100, 1, 25]),
                ia5("example"),
            ),
            (custom(&[0, 9, 2342, 19_200_300, 100, 1, 1]), "alice".into()),
            (DnType::LocalityName, "Berlin".into()),
            (DnType::StateOrProvinceName, "Berlin".into()),
        ]);
        assert_eq!(ours, openssl);
    }

    #[test]
    fn escapes_match_openssl() {
        let cases = [
            "Jos\u{e9} M\u{fc}ller",
            "a,b+c\"d\\e<f>g;h",
            "#hash first",
            " space first",
            "space last ",
            "tab\there",
            "equals=inside/slash",
            "\u{1f512} lock",
        ];
        for case in cases {
            let (ours, openssl) = subject_with(vec![(DnType::CommonName, case.into())]);
            assert_eq!(ours, openssl, "{case:?}");
        }
    }

    #[test]
    fn string_types_match_openssl() {
        let bmp = DnValue::BmpString("Jos\u{e9}".try_into().expect("BMP string"));
        // A UniversalString value is left out: x509-cert 0.2 cannot decode a certificate with
        // one, so such a certificate never reaches this code.
        let printable = DnValue::PrintableString("Printable 1".try_into().expect("printable"));
        let teletex = DnValue::TeletexString("teletex".try_into().expect("teletex"));
        for value in [bmp, printable, teletex] {
            let (ours, openssl) = subject_with(vec![(DnType::CommonName, value.clone())]);
            assert_eq!(ours, openssl, "{value:?}");
        }
    }

    #[test]
    fn unknown_attribute_dumped_like_openssl() {
        let (ours, openssl) = subject_with(vec![
            (DnType::CommonName, "alice".into()),
            (custom(&[1, 3, 6, 1, 4, 1, 99_999, 7]), "private".into()),
        ]);
        assert_eq!(ours, openssl);
        assert!(ours.contains("=#0C07"), "{ours}");
    }
}
