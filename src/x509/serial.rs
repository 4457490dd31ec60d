//! Certificate serial numbers as the content bytes of their DER INTEGER.

use std::fmt;

/// A certificate serial number, stored as the content octets of its DER INTEGER.
///
/// Keeping the encoded form (two's complement, minimal length) means `00 80 01` (the positive
/// number 0x8001) and `80 01` (a negative number) stay different, as they are on the wire, and
/// a CRL entry matches a certificate exactly when their encodings are equal.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Serial(Box<[u8]>);

/// A serial number given as text that is not a hexadecimal number.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid serial number \"{0}\"; write it in hexadecimal, with or without colons, \
     at most 20 bytes (for example 1001 or 00:80:01), with a leading - for a negative serial"
)]
pub struct SerialParseError(pub String);

impl Serial {
    /// Wraps DER INTEGER content octets as they were decoded.
    pub fn from_der_content(bytes: &[u8]) -> Self {
        Self(bytes.into())
    }

    /// Parses a serial number written in hexadecimal (colons allowed, and a leading `-` for the
    /// negative serials some CAs issue although RFC 5280 forbids them), and encodes it as a DER
    /// INTEGER would: two's complement, no redundant leading bytes, and one zero byte in front
    /// of a positive number whose high bit is set. This reads back every serial that
    /// [`Serial`]'s `Display` writes.
    pub fn parse_hex(text: &str) -> Result<Self, SerialParseError> {
        let error = || SerialParseError(text.chars().take(80).collect());
        let (negative, magnitude_text) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        // Colons, as openssl prints serials, must separate whole bytes: `00:80:01`.
        if magnitude_text.contains(':') && !magnitude_text.split(':').all(|group| group.len() == 2)
        {
            return Err(error());
        }
        let digits: String = magnitude_text.chars().filter(|c| *c != ':').collect();
        if digits.is_empty() || digits.len() > 42 || !digits.chars().all(|c| c.is_ascii_hexdigit())
        {
            return Err(error());
        }

        let padded = if !digits.len().is_multiple_of(2) {
            format!("0{digits}")
        } else {
            digits
        };
        let mut bytes = super::hex::decode(&padded).ok_or_else(error)?;

        let first_significant = bytes
            .iter()
            .position(|b| *b != 0)
            .unwrap_or(bytes.len() - 1);
        bytes.drain(..first_significant);
        if negative {
            if bytes == [0] {
                return Err(error());
            }
            bytes = twos_complement_negative(&bytes);
        } else if bytes[0] & 0x80 != 0 {
            bytes.insert(0, 0);
        }
        if bytes.len() > 21 {
            return Err(error());
        }
        Ok(Self(bytes.into()))
    }

    /// Returns the magnitude of a negative serial as big-endian bytes without leading zeros.
    fn negative_magnitude(&self) -> Vec<u8> {
        let mut magnitude = negate(&self.0);
        let first = magnitude
            .iter()
            .position(|b| *b != 0)
            .unwrap_or(magnitude.len());
        magnitude.drain(..first);
        magnitude
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Checks whether the DER INTEGER is negative, which RFC 5280 forbids but some CAs issue.
    pub fn is_negative(&self) -> bool {
        self.0.first().is_some_and(|b| b & 0x80 != 0)
    }
}

/// Lowercase hex of the INTEGER content octets for a non-negative serial, e.g. `008001` for
/// 0x8001, and a minus sign before the hex magnitude for a negative one, e.g. `-7fff` for the
/// content octets `80 01`. [`Serial::parse_hex`] reads both back to the same serial.
impl fmt::Display for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_negative() {
            write!(f, "-{}", super::hex::encode(&self.negative_magnitude()))
        } else {
            f.write_str(&super::hex::encode(&self.0))
        }
    }
}

/// Negates a big-endian two's complement number of fixed width: the inverse plus one.
fn negate(bytes: &[u8]) -> Vec<u8> {
    let mut negated: Vec<u8> = bytes.iter().map(|byte| !byte).collect();
    for byte in negated.iter_mut().rev() {
        let (sum, carry) = byte.overflowing_add(1);
        *byte = sum;
        if !carry {
            break;
        }
    }
    negated
}

/// Encodes minus `magnitude` (big-endian, no leading zeros, not zero) as minimal two's
/// complement octets.
fn twos_complement_negative(magnitude: &[u8]) -> Vec<u8> {
    let mut bytes = negate(magnitude);
    // The result must read as negative; a magnitude such as 0x81 needs a leading 0xff.
    if bytes[0] & 0x80 == 0 {
        bytes.insert(0, 0xff);
    }
    // Drop leading 0xff bytes that DER forbids: those followed by a byte with the high bit set.
    while bytes.len() > 1 && bytes[0] == 0xff && bytes[1] & 0x80 != 0 {
        bytes.remove(0);
    }
    bytes
}

impl fmt::Debug for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Serial({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_adds_sign_byte() {
        assert_eq!(
            Serial::parse_hex("8001").unwrap().as_bytes(),
            [0x00, 0x80, 0x01]
        );
        assert_eq!(
            Serial::parse_hex("008001").unwrap().as_bytes(),
            [0x00, 0x80, 0x01]
        );
        assert_eq!(
            Serial::parse_hex("00:80:01").unwrap().as_bytes(),
            [0x00, 0x80, 0x01]
        );
    }

    #[test]
    fn parse_strips_redundant_zeros() {
        assert_eq!(Serial::parse_hex("0000000e").unwrap().as_bytes(), [0x0e]);
        assert_eq!(Serial::parse_hex("e").unwrap().as_bytes(), [0x0e]);
        assert_eq!(Serial::parse_hex("0").unwrap().as_bytes(), [0x00]);
        assert_eq!(Serial::parse_hex("000").unwrap().as_bytes(), [0x00]);
    }

    #[test]
    fn parse_rejects_non_hex() {
        for text in [
            "",
            "xyz",
            "12 34",
            "+1",
            "-",
            ":",
            "1:0:0:1",
            ":10:01:",
            "10::01",
            &"f".repeat(43),
        ] {
            assert!(Serial::parse_hex(text).is_err(), "{text:?} was accepted");
        }
    }

    #[test]
    fn twenty_byte_serial_with_high_bit_accepted() {
        let text = "ff".repeat(20);
        let serial = Serial::parse_hex(&text).unwrap();
        assert_eq!(serial.as_bytes().len(), 21);
        assert!(!serial.is_negative());
    }

    #[test]
    fn negative_serials_round_trip() {
        // PKITS and a real revoked certificate use these encodings.
        for (content, text) in [
            (vec![0x80, 0x01], "-7fff"),
            (vec![0xff], "-01"),
            (vec![0x80], "-80"),
            (vec![0xff, 0x7f], "-81"),
            (vec![0xff, 0x01], "-ff"),
            (vec![0x80, 0x00], "-8000"),
        ] {
            let serial = Serial::from_der_content(&content);
            assert_eq!(serial.to_string(), text, "{content:02x?}");
            assert_eq!(Serial::parse_hex(text).expect(text), serial, "{text}");
        }
        assert_eq!(
            Serial::parse_hex("-1").expect("minus one").as_bytes(),
            [0xff]
        );
        assert!(Serial::parse_hex("-0").is_err());
        assert!(Serial::parse_hex("--1").is_err());
    }

    #[test]
    fn display_is_content_hex() {
        assert_eq!(
            Serial::from_der_content(&[0x00, 0x80, 0x01]).to_string(),
            "008001"
        );
        assert_eq!(
            Serial::parse_hex("008001").expect("hex"),
            Serial::from_der_content(&[0x00, 0x80, 0x01])
        );
        assert!(Serial::from_der_content(&[0xff, 0x01]).is_negative());
    }
}
