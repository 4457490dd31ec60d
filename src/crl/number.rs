//! Ordering of CRL numbers (RFC 5280 section 5.2.3: non-negative integers up to 20 octets).

use std::cmp::Ordering;

/// Compares two CRL numbers given as the content octets of their DER INTEGERs.
pub fn compare_crl_numbers(left: &[u8], right: &[u8]) -> Ordering {
    let left = strip_leading_zeros(left);
    let right = strip_leading_zeros(right);
    left.len().cmp(&right.len()).then_with(|| left.cmp(right))
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes
        .iter()
        .position(|byte| *byte != 0)
        .unwrap_or(bytes.len());
    &bytes[first..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_compare_numerically() {
        assert_eq!(
            compare_crl_numbers(&[0x00, 0x80], &[0x7f]),
            Ordering::Greater
        );
        assert_eq!(
            compare_crl_numbers(&[0x01, 0x00], &[0xff]),
            Ordering::Greater
        );
        assert_eq!(compare_crl_numbers(&[0x05], &[0x00, 0x05]), Ordering::Equal);
        assert_eq!(compare_crl_numbers(&[0x00], &[0x01]), Ordering::Less);
    }
}
