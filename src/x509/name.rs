//! Distinguished name comparison under RFC 5280 section 7.1.

use der::Tag;
use der::asn1::AnyRef;
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::name::{Name, RelativeDistinguishedName};

/// Compares two names as RFC 5280 section 7.1 requires for issuer and subject matching.
///
/// RDNs are compared in order, since attribute order is significant. Inside one RDN the
/// attributes form a set and match in any order. Values encoded as PrintableString or
/// UTF8String (in either name) are compared after the RFC 4518 insignificant-space handling
/// and case folding. Other encodings are compared by tag and exact bytes.
///
/// NOTE: RFC 4518 also maps characters (NFKC normalisation, removal of some control and
/// zero-width characters). Only case folding and space handling are done here, so two names
/// that differ only in such characters do not match, which fails closed.
pub fn names_match(left: &Name, right: &Name) -> bool {
    left.0.len() == right.0.len()
        && left
            .0
            .iter()
            .zip(right.0.iter())
            .all(|(l, r)| rdns_match(l, r))
}

fn rdns_match(left: &RelativeDistinguishedName, right: &RelativeDistinguishedName) -> bool {
    let left: Vec<&AttributeTypeAndValue> = left.0.iter().collect();
    let right: Vec<&AttributeTypeAndValue> = right.0.iter().collect();
    if left.len() != right.len() {
        return false;
    }

    // Each attribute of `left` must pair with a distinct attribute of `right`.
    let mut used = vec![false; right.len()];
    left.iter().all(|l| {
        let found = right
            .iter()
            .enumerate()
            .find(|(i, r)| !used[*i] && attributes_match(l, r));
        match found {
            Some((i, _)) => {
                used[i] = true;
                true
            }
            None => false,
        }
    })
}

fn attributes_match(left: &AttributeTypeAndValue, right: &AttributeTypeAndValue) -> bool {
    if left.oid != right.oid {
        return false;
    }
    let left_value = AnyRef::from(&left.value);
    let right_value = AnyRef::from(&right.value);

    match (prepared_string(left_value), prepared_string(right_value)) {
        (Some(l), Some(r)) => l == r,
        _ => left_value == right_value,
    }
}

/// Prepares a PrintableString or UTF8String value for comparison: case folded, leading and
/// trailing spaces removed, inner runs of spaces reduced to one. Returns `None` for other
/// string types and for invalid UTF-8.
fn prepared_string(value: AnyRef<'_>) -> Option<String> {
    if !matches!(
        der::Tagged::tag(&value),
        Tag::PrintableString | Tag::Utf8String
    ) {
        return None;
    }
    let text = std::str::from_utf8(value.value()).ok()?;

    let mut prepared = String::with_capacity(text.len());
    for word in text.split(' ').filter(|word| !word.is_empty()) {
        if !prepared.is_empty() {
            prepared.push(' ');
        }
        prepared.extend(word.chars().flat_map(char::to_lowercase));
    }
    Some(prepared)
}

#[cfg(test)]
mod tests {
    use super::*;
    use der::Decode;
    use der::asn1::{Any, SetOfVec};
    use x509_cert::name::RdnSequence;

    const CN: &str = "2.5.4.3";
    const O: &str = "2.5.4.10";

    fn attribute(oid: &str, tag: Tag, text: &str) -> AttributeTypeAndValue {
        AttributeTypeAndValue {
            oid: oid.parse().expect("test OID is valid"),
            value: Any::new(tag, text.as_bytes()).expect("test value fits"),
        }
    }

    fn name(rdns: Vec<Vec<AttributeTypeAndValue>>) -> Name {
        let rdns = rdns
            .into_iter()
            .map(|atvs| {
                RelativeDistinguishedName(SetOfVec::try_from(atvs).expect("distinct attributes"))
            })
            .collect();
        RdnSequence(rdns)
    }

    #[test]
    fn printable_and_utf8_match() {
        let a = name(vec![vec![attribute(CN, Tag::PrintableString, "Good CA")]]);
        let b = name(vec![vec![attribute(CN, Tag::Utf8String, "Good CA")]]);
        assert!(names_match(&a, &b));
    }

    #[test]
    fn case_and_spaces_folded() {
        let a = name(vec![vec![attribute(CN, Tag::Utf8String, "  Good   CA ")]]);
        let b = name(vec![vec![attribute(CN, Tag::PrintableString, "good ca")]]);
        assert!(names_match(&a, &b));
    }

    #[test]
    fn inner_space_still_separates_words() {
        let a = name(vec![vec![attribute(CN, Tag::Utf8String, "Good CA")]]);
        let b = name(vec![vec![attribute(CN, Tag::Utf8String, "GoodCA")]]);
        assert!(!names_match(&a, &b));
    }

    #[test]
    fn rdn_order_is_significant() {
        let a = name(vec![
            vec![attribute(O, Tag::Utf8String, "Org")],
            vec![attribute(CN, Tag::Utf8String, "CA")],
        ]);
        let b = name(vec![
            vec![attribute(CN, Tag::Utf8String, "CA")],
            vec![attribute(O, Tag::Utf8String, "Org")],
        ]);
        assert!(!names_match(&a, &b));
    }

    #[test]
    fn multi_valued_rdn_matches_in_any_order() {
        let a = name(vec![vec![
            attribute(O, Tag::Utf8String, "Org"),
            attribute(CN, Tag::Utf8String, "CA"),
        ]]);
        let b = name(vec![vec![
            attribute(CN, Tag::PrintableString, "ca"),
            attribute(O, Tag::PrintableString, "ORG"),
        ]]);
        assert!(names_match(&a, &b));
    }

    #[test]
    fn other_string_types_compared_exactly() {
        let a = name(vec![vec![attribute(CN, Tag::Ia5String, "CA")]]);
        let b = name(vec![vec![attribute(CN, Tag::Ia5String, "ca")]]);
        assert!(!names_match(&a, &b));
        assert!(names_match(&a, &a.clone()));
    }

    #[test]
    fn extra_rdn_does_not_match() {
        let a = name(vec![vec![attribute(CN, Tag::Utf8String, "CA")]]);
        let b = name(vec![
            vec![attribute(CN, Tag::Utf8String, "CA")],
            vec![attribute(O, Tag::Utf8String, "Org")],
        ]);
        assert!(!names_match(&a, &b));
    }

    #[test]
    fn decoded_name_matches_itself() {
        // SEQUENCE { SET { SEQUENCE { OID 2.5.4.3, PrintableString "CA" } } }
        let der = [
            0x30, 0x0d, 0x31, 0x0b, 0x30, 0x09, 0x06, 0x03, 0x55, 0x04, 0x03, 0x13, 0x02, b'C',
            b'A',
        ];
        let decoded = Name::from_der(&der).expect("valid Name");
        let built = name(vec![vec![attribute(CN, Tag::Utf8String, "ca")]]);
        assert!(names_match(&decoded, &built));
    }
}
