//! The time encoding rules of RFC 5280 section 5.1.2.4 (and 4.1.2.5): UTCTime for dates through
//! 2049 and GeneralizedTime from 2050, both in UTC with a `Z` and with whole seconds.
//!
//! x509-cert's decoder already rejects offsets and fractional seconds, but only with a
//! position. [`diagnose`] re-reads a CRL that failed to decode and names the time field at fault.

use der::asn1::AnyRef;
use der::{Decode, Header, Reader, SliceReader, Tag, Tagged};
use x509_cert::time::Time;

/// A time field that breaks the encoding rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimeProblem {
    /// The field, such as `thisUpdate` or `revocationDate of entry 3`.
    pub field: String,
    /// The value as encoded.
    pub value: String,
    pub rule: &'static str,
}

const UTC_TIME_FORM: &str = "UTCTime must be YYMMDDHHMMSSZ: UTC with a Z and whole seconds";
const GENERALIZED_TIME_FORM: &str =
    "GeneralizedTime must be YYYYMMDDHHMMSSZ: UTC with a Z and whole seconds";
const GENERALIZED_BEFORE_2050: &str = "dates through 2049 must be encoded as UTCTime";

/// Checks a decoded time: GeneralizedTime only from 2050 on.
pub fn check_decoded(field: &str, time: &Time) -> Result<(), TimeProblem> {
    match time {
        Time::UtcTime(_) => Ok(()),
        Time::GeneralTime(generalized) => {
            let year = generalized.to_date_time().year();
            if year < 2050 {
                return Err(TimeProblem {
                    field: field.to_owned(),
                    value: generalized.to_date_time().to_string(),
                    rule: GENERALIZED_BEFORE_2050,
                });
            }
            Ok(())
        }
    }
}

/// Re-reads the time fields of a CertificateList that failed to decode and returns the first
/// one that breaks the encoding rules, if any.
pub fn diagnose(der: &[u8]) -> Option<TimeProblem> {
    let mut reader = SliceReader::new(der).ok()?;
    let outer = Header::decode(&mut reader).ok()?;
    outer.tag.assert_eq(Tag::Sequence).ok()?;
    let tbs_header = Header::decode(&mut reader).ok()?;
    let tbs = reader.read_slice(tbs_header.length).ok()?;

    // TBSCertList: optional version, signature, issuer, thisUpdate, optional nextUpdate,
    // optional revokedCertificates, ...
    let mut fields = SliceReader::new(tbs).ok()?;
    let first = AnyRef::decode(&mut fields).ok()?;
    if first.tag() == Tag::Integer {
        AnyRef::decode(&mut fields).ok()?;
    }
    AnyRef::decode(&mut fields).ok()?;

    let this_update = AnyRef::decode(&mut fields).ok()?;
    if let Some(problem) = check_raw("thisUpdate", this_update) {
        return Some(problem);
    }

    let mut next = AnyRef::decode(&mut fields).ok();
    if let Some(candidate) = next.filter(|any| is_time_tag(any.tag())) {
        if let Some(problem) = check_raw("nextUpdate", candidate) {
            return Some(problem);
        }
        next = AnyRef::decode(&mut fields).ok();
    }

    let revoked = next.filter(|any| any.tag() == Tag::Sequence)?;
    let mut entries = SliceReader::new(revoked.value()).ok()?;
    let mut position = 0;
    while !entries.is_finished() {
        position += 1;
        let entry = AnyRef::decode(&mut entries).ok()?;
        let mut entry_fields = SliceReader::new(entry.value()).ok()?;
        let _serial = AnyRef::decode(&mut entry_fields).ok()?;
        let date = AnyRef::decode(&mut entry_fields).ok()?;
        let field = format!("revocationDate of entry {position}");
        if let Some(problem) = check_raw(&field, date) {
            return Some(problem);
        }
    }
    None
}

fn is_time_tag(tag: Tag) -> bool {
    matches!(tag, Tag::UtcTime | Tag::GeneralizedTime)
}

fn check_raw(field: &str, value: AnyRef<'_>) -> Option<TimeProblem> {
    let text = String::from_utf8_lossy(value.value()).into_owned();
    let (length, rule) = match value.tag() {
        Tag::UtcTime => (13, UTC_TIME_FORM),
        Tag::GeneralizedTime => (15, GENERALIZED_TIME_FORM),
        _ => return None,
    };
    let digits = text.len() == length
        && text.ends_with('Z')
        && text[..length - 1].bytes().all(|byte| byte.is_ascii_digit());
    if digits {
        return None;
    }
    Some(TimeProblem {
        field: field.to_owned(),
        value: text,
        rule,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(tag: Tag, text: &str) -> Option<TimeProblem> {
        let any = AnyRef::new(tag, text.as_bytes()).expect("test value fits");
        check_raw("thisUpdate", any)
    }

    #[test]
    fn whole_seconds_with_z_accepted() {
        assert_eq!(raw(Tag::UtcTime, "250101000000Z"), None);
        assert_eq!(raw(Tag::GeneralizedTime, "20500101000000Z"), None);
    }

    #[test]
    fn offset_fraction_and_short_forms_rejected() {
        for text in ["250101000000+0100", "2501010000Z", "250101000000.5Z"] {
            let problem = raw(Tag::UtcTime, text).expect(text);
            assert_eq!(problem.value, text);
            assert_eq!(problem.rule, UTC_TIME_FORM);
        }
        for text in [
            "20500101000000.123Z",
            "20500101000000-0500",
            "20500101000000",
        ] {
            let problem = raw(Tag::GeneralizedTime, text).expect(text);
            assert_eq!(problem.rule, GENERALIZED_TIME_FORM);
        }
    }
}
