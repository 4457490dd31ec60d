//! Signature verification over signed X.509 structures (certificates, CRLs), with ring.
//!
//! Only the algorithms listed in [`verify_signature`] are accepted. Everything else is an
//! [`SignatureError::UnsupportedAlgorithm`], so an algorithm we cannot check is never taken for
//! a valid signature.

use const_oid::ObjectIdentifier;
use const_oid::db::rfc5912;
use der::asn1::UintRef;
use der::{Decode, Sequence};
use ring::signature::{self as ring_signature, VerificationAlgorithm};
use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};

/// Reasons a signature is rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// The signature does not verify with the signer's public key.
    #[error("signature does not verify with the signer's public key")]
    Invalid,

    /// The signature algorithm is one revcheck does not verify.
    #[error("unsupported signature algorithm {oid}")]
    UnsupportedAlgorithm { oid: ObjectIdentifier },

    /// The signer's key type or curve is one revcheck does not verify.
    #[error("unsupported public key algorithm {oid} (parameters {parameters})")]
    UnsupportedKey {
        oid: ObjectIdentifier,
        parameters: String,
    },

    /// The signature algorithm does not fit the signer's key (for example ECDSA with an RSA key).
    #[error("signature algorithm {signature} cannot be used with a {key} key")]
    KeyMismatch {
        signature: ObjectIdentifier,
        key: &'static str,
    },

    /// The RSA key is shorter than the 2048 bits ring accepts.
    #[error("RSA key of {bits} bits is too short; at least 2048 bits are required")]
    RsaKeyTooShort { bits: usize },

    /// RSASSA-PSS parameters that are malformed or that ring cannot verify.
    #[error("unsupported RSASSA-PSS parameters: {detail}")]
    UnsupportedPssParameters { detail: String },

    /// A SHA-1 signature, which is refused unless the CA's configuration allows it.
    #[error(
        "signature uses SHA-1 ({oid}), which is rejected because SHA-1 collisions can be forged; \
         set allow_sha1 = true for this CA only if it cannot sign with SHA-256"
    )]
    Sha1NotAllowed { oid: ObjectIdentifier },

    /// The algorithm outside the signed part differs from the one inside it, which RFC 5280
    /// forbids (sections 4.1.1.2 and 5.1.1.2).
    #[error("signature algorithm outside the signed part differs from the one inside it")]
    AlgorithmMismatch,

    /// The signature BIT STRING has unused bits, so it is not a whole number of bytes.
    #[error("signature BIT STRING has unused bits")]
    SignatureNotOctetAligned,

    /// The public key could not be decoded.
    #[error("malformed public key: {detail}")]
    MalformedKey { detail: String },
}

/// RSASSA-PSS-params (RFC 4055 section 3.1). Absent fields take the SHA-1 defaults, which ring
/// does not support, so only explicit SHA-2 parameters are accepted.
#[derive(Clone, Debug, Sequence)]
struct RsaPssParameters {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    hash_algorithm: Option<AlgorithmIdentifierOwned>,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    mask_gen_algorithm: Option<AlgorithmIdentifierOwned>,
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT", optional = "true")]
    salt_length: Option<u32>,
    #[asn1(context_specific = "3", tag_mode = "EXPLICIT", optional = "true")]
    trailer_field: Option<u32>,
}

/// RSAPublicKey (RFC 8017 appendix A.1.1), read only to report the modulus size.
#[derive(Sequence)]
struct RsaPublicKey<'a> {
    modulus: UintRef<'a>,
    #[allow(
        dead_code,
        reason = "decoded to validate the structure; ring reads the exponent"
    )]
    public_exponent: UintRef<'a>,
}

const ID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
const SHA_1_WITH_RSA_ENCRYPTION: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.5");
const ECDSA_WITH_SHA_1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.1");

/// Which legacy algorithms a verification accepts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SignaturePolicy {
    /// Accept sha1WithRSAEncryption. ECDSA with SHA-1 stays unsupported because ring has no
    /// verifier for it.
    pub allow_sha1: bool,
}
const ID_MGF1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.8");

/// The kinds of subject public key revcheck verifies with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KeyKind {
    Rsa,
    EcP256,
    EcP384,
    Ed25519,
}

impl KeyKind {
    fn name(self) -> &'static str {
        match self {
            Self::Rsa => "RSA",
            Self::EcP256 => "ECDSA P-256",
            Self::EcP384 => "ECDSA P-384",
            Self::Ed25519 => "Ed25519",
        }
    }
}

/// Verifies `signature` over `message` with the key in `signer`, using `algorithm`.
///
/// Supported: RSA PKCS#1 v1.5 with SHA-256/384/512 (keys of 2048 to 8192 bits), RSASSA-PSS with
/// SHA-256/384/512 where MGF1 uses the same hash and the salt is as long as the hash, ECDSA
/// with SHA-256/384 on P-256 and P-384, and Ed25519. `message` must be the exact bytes that
/// were signed, as received (for a CRL, the DER of `tbsCertList` taken from the input).
pub fn verify_signature(
    signer: &SubjectPublicKeyInfoOwned,
    algorithm: &AlgorithmIdentifierOwned,
    message: &[u8],
    signature: &der::asn1::BitString,
    policy: SignaturePolicy,
) -> Result<(), SignatureError> {
    let key_kind = key_kind(signer)?;
    let key_bytes =
        signer
            .subject_public_key
            .as_bytes()
            .ok_or_else(|| SignatureError::MalformedKey {
                detail: "subjectPublicKey BIT STRING has unused bits".to_owned(),
            })?;
    let signature = signature
        .as_bytes()
        .ok_or(SignatureError::SignatureNotOctetAligned)?;

    let verifier = select_algorithm(algorithm, key_kind, policy)?;
    if key_kind == KeyKind::Rsa {
        check_rsa_key_size(key_bytes)?;
    }

    ring_signature::UnparsedPublicKey::new(verifier, key_bytes)
        .verify(message, signature)
        .map_err(|_| SignatureError::Invalid)
}

fn key_kind(spki: &SubjectPublicKeyInfoOwned) -> Result<KeyKind, SignatureError> {
    let oid = spki.algorithm.oid;
    if oid == rfc5912::RSA_ENCRYPTION {
        return Ok(KeyKind::Rsa);
    }
    if oid == ID_ED25519 {
        return Ok(KeyKind::Ed25519);
    }

    let curve = spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|parameters| parameters.decode_as::<ObjectIdentifier>().ok());
    match (oid, curve) {
        (rfc5912::ID_EC_PUBLIC_KEY, Some(rfc5912::SECP_256_R_1)) => Ok(KeyKind::EcP256),
        (rfc5912::ID_EC_PUBLIC_KEY, Some(rfc5912::SECP_384_R_1)) => Ok(KeyKind::EcP384),
        _ => Err(SignatureError::UnsupportedKey {
            oid,
            parameters: curve.map_or_else(|| "absent or not a curve".to_owned(), |c| c.to_string()),
        }),
    }
}

fn select_algorithm(
    algorithm: &AlgorithmIdentifierOwned,
    key_kind: KeyKind,
    policy: SignaturePolicy,
) -> Result<&'static dyn VerificationAlgorithm, SignatureError> {
    let oid = algorithm.oid;
    let mismatch = || SignatureError::KeyMismatch {
        signature: oid,
        key: key_kind.name(),
    };

    let verifier: &'static dyn VerificationAlgorithm = match oid {
        rfc5912::SHA_256_WITH_RSA_ENCRYPTION
        | rfc5912::SHA_384_WITH_RSA_ENCRYPTION
        | rfc5912::SHA_512_WITH_RSA_ENCRYPTION => {
            if key_kind != KeyKind::Rsa {
                return Err(mismatch());
            }
            // RFC 4055 section 5: the parameters are NULL, but absent ones are common.
            if !parameters_absent_or_null(algorithm) {
                return Err(SignatureError::UnsupportedAlgorithm { oid });
            }
            match oid {
                rfc5912::SHA_256_WITH_RSA_ENCRYPTION => &ring_signature::RSA_PKCS1_2048_8192_SHA256,
                rfc5912::SHA_384_WITH_RSA_ENCRYPTION => &ring_signature::RSA_PKCS1_2048_8192_SHA384,
                _ => &ring_signature::RSA_PKCS1_2048_8192_SHA512,
            }
        }
        SHA_1_WITH_RSA_ENCRYPTION | ECDSA_WITH_SHA_1 if !policy.allow_sha1 => {
            return Err(SignatureError::Sha1NotAllowed { oid });
        }
        SHA_1_WITH_RSA_ENCRYPTION => {
            if key_kind != KeyKind::Rsa {
                return Err(mismatch());
            }
            if !parameters_absent_or_null(algorithm) {
                return Err(SignatureError::UnsupportedAlgorithm { oid });
            }
            &ring_signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY
        }
        rfc5912::ID_RSASSA_PSS => {
            if key_kind != KeyKind::Rsa {
                return Err(mismatch());
            }
            select_pss(algorithm)?
        }
        rfc5912::ECDSA_WITH_SHA_256 | rfc5912::ECDSA_WITH_SHA_384 => {
            // RFC 5758 section 3.2: the parameters field is absent.
            if algorithm.parameters.is_some() {
                return Err(SignatureError::UnsupportedAlgorithm { oid });
            }
            let sha256 = oid == rfc5912::ECDSA_WITH_SHA_256;
            match (key_kind, sha256) {
                (KeyKind::EcP256, true) => &ring_signature::ECDSA_P256_SHA256_ASN1,
                (KeyKind::EcP256, false) => &ring_signature::ECDSA_P256_SHA384_ASN1,
                (KeyKind::EcP384, true) => &ring_signature::ECDSA_P384_SHA256_ASN1,
                (KeyKind::EcP384, false) => &ring_signature::ECDSA_P384_SHA384_ASN1,
                _ => return Err(mismatch()),
            }
        }
        ID_ED25519 => {
            if key_kind != KeyKind::Ed25519 {
                return Err(mismatch());
            }
            // RFC 8410 section 3: the parameters MUST be absent.
            if algorithm.parameters.is_some() {
                return Err(SignatureError::UnsupportedAlgorithm { oid });
            }
            &ring_signature::ED25519
        }
        _ => return Err(SignatureError::UnsupportedAlgorithm { oid }),
    };
    Ok(verifier)
}

fn parameters_absent_or_null(algorithm: &AlgorithmIdentifierOwned) -> bool {
    match &algorithm.parameters {
        None => true,
        Some(parameters) => {
            der::Tagged::tag(parameters) == der::Tag::Null && parameters.value().is_empty()
        }
    }
}

/// Maps RSASSA-PSS parameters to a ring algorithm. ring fixes MGF1 to the message hash and the
/// salt length to the hash length, so any other combination is unsupported.
fn select_pss(
    algorithm: &AlgorithmIdentifierOwned,
) -> Result<&'static dyn VerificationAlgorithm, SignatureError> {
    let unsupported = |detail: &str| SignatureError::UnsupportedPssParameters {
        detail: detail.to_owned(),
    };

    let parameters = algorithm
        .parameters
        .as_ref()
        .ok_or_else(|| unsupported("parameters are absent"))?;
    let parameters: RsaPssParameters = parameters
        .decode_as()
        .map_err(|error| unsupported(&format!("malformed parameters ({error})")))?;

    let hash = parameters
        .hash_algorithm
        .as_ref()
        .map(|hash| hash.oid)
        .ok_or_else(|| unsupported("hash defaults to SHA-1"))?;
    let (verifier, hash_len): (&'static dyn VerificationAlgorithm, u32) = match hash {
        rfc5912::ID_SHA_256 => (&ring_signature::RSA_PSS_2048_8192_SHA256, 32),
        rfc5912::ID_SHA_384 => (&ring_signature::RSA_PSS_2048_8192_SHA384, 48),
        rfc5912::ID_SHA_512 => (&ring_signature::RSA_PSS_2048_8192_SHA512, 64),
        other => return Err(unsupported(&format!("hash {other}"))),
    };

    let mask_gen = parameters
        .mask_gen_algorithm
        .as_ref()
        .ok_or_else(|| unsupported("mask generation defaults to MGF1 with SHA-1"))?;
    let mask_hash = mask_gen
        .parameters
        .as_ref()
        .and_then(|p| p.decode_as::<AlgorithmIdentifierOwned>().ok())
        .map(|h| h.oid);
    if mask_gen.oid != ID_MGF1 || mask_hash != Some(hash) {
        return Err(unsupported(
            "mask generation is not MGF1 with the message hash",
        ));
    }

    if parameters.salt_length != Some(hash_len) {
        return Err(unsupported(&format!(
            "salt length {:?} differs from the hash length {hash_len}",
            parameters.salt_length
        )));
    }
    if parameters.trailer_field.is_some_and(|trailer| trailer != 1) {
        return Err(unsupported("trailer field is not 1"));
    }
    Ok(verifier)
}

fn check_rsa_key_size(key_bytes: &[u8]) -> Result<(), SignatureError> {
    let key = RsaPublicKey::from_der(key_bytes).map_err(|error| SignatureError::MalformedKey {
        detail: format!("RSAPublicKey does not decode ({error})"),
    })?;
    let modulus = key.modulus.as_bytes();
    let bits = modulus.len() * 8 - modulus.first().map_or(0, |b| b.leading_zeros() as usize);
    if bits < 2048 {
        return Err(SignatureError::RsaKeyTooShort { bits });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    //! Keys and signatures come from the `openssl` command line tool, so that verification is
    //! checked against an independent signer.

    use std::path::Path;
    use std::process::Command;

    use der::asn1::{Any, BitString, Null};
    use der::{Decode, Encode};

    use super::*;

    const MESSAGE: &[u8] = b"tbsCertList bytes stand-in";

    fn openssl(dir: &Path, args: &[&str]) -> Vec<u8> {
        let output = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl runs");
        assert!(
            output.status.success(),
            "openssl {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        output.stdout
    }

    /// Generates a key with `genpkey_args`, signs MESSAGE with `sign_args` and returns the
    /// SubjectPublicKeyInfo and the signature.
    fn key_and_signature(
        genpkey_args: &[&str],
        sign_args: &[&str],
    ) -> (SubjectPublicKeyInfoOwned, BitString) {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("message"), MESSAGE).expect("write message");
        let mut args = vec!["genpkey", "-out", "key.pem"];
        args.extend_from_slice(genpkey_args);
        openssl(dir.path(), &args);
        let spki_der = openssl(
            dir.path(),
            &["pkey", "-in", "key.pem", "-pubout", "-outform", "DER"],
        );

        let mut args = sign_args.to_vec();
        if sign_args[0] == "pkeyutl" {
            args.extend_from_slice(&["-in", "message", "-out", "signature"]);
        } else {
            args.extend_from_slice(&["-out", "signature", "message"]);
        }
        openssl(dir.path(), &args);
        let signature = std::fs::read(dir.path().join("signature")).expect("signature written");

        let spki = SubjectPublicKeyInfoOwned::from_der(&spki_der).expect("SPKI decodes");
        (
            spki,
            BitString::from_bytes(&signature).expect("signature fits a BIT STRING"),
        )
    }

    fn algorithm(oid: ObjectIdentifier, parameters: Option<Any>) -> AlgorithmIdentifierOwned {
        AlgorithmIdentifierOwned { oid, parameters }
    }

    fn null() -> Option<Any> {
        Some(Any::encode_from(&Null).expect("NULL encodes"))
    }

    fn pss_parameters(hash: ObjectIdentifier, salt_length: u32) -> Option<Any> {
        let hash_algorithm = algorithm(hash, None);
        let mask_gen = algorithm(
            ID_MGF1,
            Some(Any::encode_from(&hash_algorithm).expect("hash encodes")),
        );
        let parameters = RsaPssParameters {
            hash_algorithm: Some(hash_algorithm),
            mask_gen_algorithm: Some(mask_gen),
            salt_length: Some(salt_length),
            trailer_field: None,
        };
        let der = parameters.to_der().expect("parameters encode");
        Some(Any::from_der(&der).expect("parameters decode"))
    }

    fn verify_and_tamper(
        spki: &SubjectPublicKeyInfoOwned,
        algorithm: &AlgorithmIdentifierOwned,
        signature: &BitString,
    ) {
        assert_eq!(
            verify_signature(
                spki,
                algorithm,
                MESSAGE,
                signature,
                SignaturePolicy::default()
            ),
            Ok(())
        );
        assert_eq!(
            verify_signature(
                spki,
                algorithm,
                b"other bytes",
                signature,
                SignaturePolicy::default()
            ),
            Err(SignatureError::Invalid)
        );
    }

    #[test]
    fn rsa_pkcs1_sha256_sha384_sha512() {
        for (digest, oid) in [
            ("-sha256", rfc5912::SHA_256_WITH_RSA_ENCRYPTION),
            ("-sha384", rfc5912::SHA_384_WITH_RSA_ENCRYPTION),
            ("-sha512", rfc5912::SHA_512_WITH_RSA_ENCRYPTION),
        ] {
            let (spki, signature) = key_and_signature(
                &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
                &["dgst", digest, "-sign", "key.pem"],
            );
            verify_and_tamper(&spki, &algorithm(oid, null()), &signature);
            verify_and_tamper(&spki, &algorithm(oid, None), &signature);
        }
    }

    #[test]
    fn rsa_pss_sha256() {
        let (spki, signature) = key_and_signature(
            &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
            &[
                "dgst",
                "-sha256",
                "-sign",
                "key.pem",
                "-sigopt",
                "rsa_padding_mode:pss",
                "-sigopt",
                "rsa_pss_saltlen:32",
                "-sigopt",
                "rsa_mgf1_md:sha256",
            ],
        );
        let pss = algorithm(
            rfc5912::ID_RSASSA_PSS,
            pss_parameters(rfc5912::ID_SHA_256, 32),
        );
        verify_and_tamper(&spki, &pss, &signature);

        let wrong_salt = algorithm(
            rfc5912::ID_RSASSA_PSS,
            pss_parameters(rfc5912::ID_SHA_256, 20),
        );
        assert!(matches!(
            verify_signature(
                &spki,
                &wrong_salt,
                MESSAGE,
                &signature,
                SignaturePolicy::default()
            ),
            Err(SignatureError::UnsupportedPssParameters { .. })
        ));
        let defaults = algorithm(rfc5912::ID_RSASSA_PSS, None);
        assert!(matches!(
            verify_signature(
                &spki,
                &defaults,
                MESSAGE,
                &signature,
                SignaturePolicy::default()
            ),
            Err(SignatureError::UnsupportedPssParameters { .. })
        ));
    }

    #[test]
    fn ecdsa_p256_and_p384() {
        for (curve, digest, oid) in [
            (
                "ec_paramgen_curve:P-256",
                "-sha256",
                rfc5912::ECDSA_WITH_SHA_256,
            ),
            (
                "ec_paramgen_curve:P-384",
                "-sha384",
                rfc5912::ECDSA_WITH_SHA_384,
            ),
            (
                "ec_paramgen_curve:P-384",
                "-sha256",
                rfc5912::ECDSA_WITH_SHA_256,
            ),
        ] {
            let (spki, signature) = key_and_signature(
                &["-algorithm", "EC", "-pkeyopt", curve],
                &["dgst", digest, "-sign", "key.pem"],
            );
            verify_and_tamper(&spki, &algorithm(oid, None), &signature);
        }
    }

    #[test]
    fn ed25519() {
        let (spki, signature) = key_and_signature(
            &["-algorithm", "ED25519"],
            &["pkeyutl", "-sign", "-rawin", "-inkey", "key.pem"],
        );
        verify_and_tamper(&spki, &algorithm(ID_ED25519, None), &signature);
    }

    #[test]
    fn sha1_only_when_allowed_md5_never() {
        let (spki, signature) = key_and_signature(
            &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
            &["dgst", "-sha1", "-sign", "key.pem"],
        );
        let sha1_with_rsa = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.5");
        assert_eq!(
            verify_signature(
                &spki,
                &algorithm(sha1_with_rsa, null()),
                MESSAGE,
                &signature,
                SignaturePolicy::default()
            ),
            Err(SignatureError::Sha1NotAllowed { oid: sha1_with_rsa })
        );
        assert_eq!(
            verify_signature(
                &spki,
                &algorithm(sha1_with_rsa, null()),
                MESSAGE,
                &signature,
                SignaturePolicy { allow_sha1: true }
            ),
            Ok(())
        );
        let md5_with_rsa = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.4");
        assert_eq!(
            verify_signature(
                &spki,
                &algorithm(md5_with_rsa, null()),
                MESSAGE,
                &signature,
                SignaturePolicy { allow_sha1: true }
            ),
            Err(SignatureError::UnsupportedAlgorithm { oid: md5_with_rsa })
        );
    }

    #[test]
    fn unsupported_curve_and_short_rsa_key() {
        let (spki, signature) = key_and_signature(
            &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-521"],
            &["dgst", "-sha256", "-sign", "key.pem"],
        );
        assert!(matches!(
            verify_signature(
                &spki,
                &algorithm(rfc5912::ECDSA_WITH_SHA_256, None),
                MESSAGE,
                &signature,
                SignaturePolicy::default()
            ),
            Err(SignatureError::UnsupportedKey { .. })
        ));

        let (spki, signature) = key_and_signature(
            &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024"],
            &["dgst", "-sha256", "-sign", "key.pem"],
        );
        assert_eq!(
            verify_signature(
                &spki,
                &algorithm(rfc5912::SHA_256_WITH_RSA_ENCRYPTION, null()),
                MESSAGE,
                &signature,
                SignaturePolicy::default()
            ),
            Err(SignatureError::RsaKeyTooShort { bits: 1024 })
        );
    }

    #[test]
    fn algorithm_must_fit_key() {
        let (spki, signature) = key_and_signature(
            &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
            &["dgst", "-sha256", "-sign", "key.pem"],
        );
        assert!(matches!(
            verify_signature(
                &spki,
                &algorithm(rfc5912::SHA_256_WITH_RSA_ENCRYPTION, null()),
                MESSAGE,
                &signature,
                SignaturePolicy::default()
            ),
            Err(SignatureError::KeyMismatch { .. })
        ));
        assert!(matches!(
            verify_signature(
                &spki,
                &algorithm(ID_ED25519, None),
                MESSAGE,
                &signature,
                SignaturePolicy::default()
            ),
            Err(SignatureError::KeyMismatch { .. })
        ));
    }
}
