//! Distinguished name comparison under RFC 5280 section 7.1.

use der::Tag;
use der::asn1::AnyRef;
use unicode_normalization::UnicodeNormalization;
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::name::{Name, RelativeDistinguishedName};

/// Compares two names as RFC 5280 section 7.1 requires for issuer and subject matching.
///
/// RDNs are compared in order, since attribute order is significant. Inside one RDN the
/// attributes form a set and match in any order. Values encoded as PrintableString or
/// UTF8String (in either name) are compared after the RFC 4518 string preparation: mapping,
/// case folding, NFKC normalisation, prohibited characters and insignificant-space handling.
/// Other encodings are compared by tag and exact bytes.
///
/// NOTE: RFC 4518 also prohibits unassigned code points. That check needs Unicode tables
/// revcheck does not carry, so an unassigned code point is compared like any other.
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

/// Prepares a PrintableString or UTF8String value for comparison with the RFC 4518 steps
/// (section 2): map, case fold, normalise to NFKC, reject prohibited characters, then drop
/// leading and trailing spaces and reduce inner runs of spaces to one. Returns `None` for
/// other string types, invalid UTF-8 and prohibited characters, so that such values are
/// compared byte for byte.
fn prepared_string(value: AnyRef<'_>) -> Option<String> {
    if !matches!(
        der::Tagged::tag(&value),
        Tag::PrintableString | Tag::Utf8String
    ) {
        return None;
    }
    let text = std::str::from_utf8(value.value()).ok()?;

    let mapped: String = text.chars().filter_map(map_character).collect();
    let folded = caseless::default_case_fold_str(&mapped);
    let normalized: String = folded.nfkc().collect();
    if normalized.chars().any(is_prohibited) {
        return None;
    }

    let mut prepared = String::with_capacity(normalized.len());
    for word in normalized.split(' ').filter(|word| !word.is_empty()) {
        if !prepared.is_empty() {
            prepared.push(' ');
        }
        prepared.push_str(word);
    }
    Some(prepared)
}

/// RFC 4518 section 2.2: some characters map to nothing, white space and line breaks map to
/// SPACE, and every other control character maps to nothing.
fn map_character(c: char) -> Option<char> {
    match c {
        '\u{00AD}'
        | '\u{1806}'
        | '\u{034F}'
        | '\u{180B}'..='\u{180D}'
        | '\u{FE00}'..='\u{FE0F}'
        | '\u{FFFC}'
        | '\u{200B}' => None,
        '\u{0009}'..='\u{000D}' | '\u{0085}' => Some(' '),
        '\u{0000}'..='\u{0008}'
        | '\u{000E}'..='\u{001F}'
        | '\u{007F}'..='\u{0084}'
        | '\u{0086}'..='\u{009F}'
        | '\u{06DD}'
        | '\u{070F}'
        | '\u{180E}'
        | '\u{200C}'..='\u{200F}'
        | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2063}'
        | '\u{206A}'..='\u{206F}'
        | '\u{FEFF}'
        | '\u{FFF9}'..='\u{FFFB}'
        | '\u{1D173}'..='\u{1D17A}'
        | '\u{E0001}'
        | '\u{E0020}'..='\u{E007F}' => None,
        '\u{00A0}'
        | '\u{1680}'
        | '\u{2000}'..='\u{200A}'
        | '\u{2028}'
        | '\u{2029}'
        | '\u{202F}'
        | '\u{205F}'
        | '\u{3000}' => Some(' '),
        other => Some(other),
    }
}

/// RFC 4518 section 2.4: private use, non-character and replacement code points.
fn is_prohibited(c: char) -> bool {
    let code = u32::from(c);
    matches!(code, 0xE000..=0xF8FF | 0xF0000..=0xFFFFD | 0x10_0000..=0x10_FFFD | 0xFDD0..=0xFDEF)
        || (code & 0xFFFE) == 0xFFFE
        || c == '\u{FFFD}'
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
    fn compatibility_characters_normalised() {
        // FULLWIDTH LATIN CAPITAL LETTER A normalises (NFKC) to "a" after folding.
        let a = name(vec![vec![attribute(CN, Tag::Utf8String, "\u{FF21}cme")]]);
        let b = name(vec![vec![attribute(CN, Tag::PrintableString, "ACME")]]);
        assert!(names_match(&a, &b));
    }

    #[test]
    fn mapped_characters_ignored() {
        // SOFT HYPHEN and ZERO WIDTH SPACE map to nothing; NO-BREAK SPACE and TAB to SPACE.
        let a = name(vec![vec![attribute(
            CN,
            Tag::Utf8String,
            "Good\u{00AD} CA\u{200B}",
        )]]);
        let b = name(vec![vec![attribute(
            CN,
            Tag::Utf8String,
            "good\u{00A0}\tca",
        )]]);
        assert!(names_match(&a, &b));
    }

    #[test]
    fn full_case_folding_applied() {
        // Case folding maps the sharp s to "ss", which lowercasing alone does not.
        let a = name(vec![vec![attribute(
            CN,
            Tag::Utf8String,
            "Stra\u{00DF}e CA",
        )]]);
        let b = name(vec![vec![attribute(CN, Tag::Utf8String, "STRASSE ca")]]);
        assert!(names_match(&a, &b));
    }

    #[test]
    fn prohibited_characters_compared_exactly() {
        let a = name(vec![vec![attribute(CN, Tag::Utf8String, "CA\u{E000}")]]);
        let b = name(vec![vec![attribute(CN, Tag::Utf8String, "ca\u{E000}")]]);
        assert!(
            !names_match(&a, &b),
            "private-use characters must not be folded"
        );
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
