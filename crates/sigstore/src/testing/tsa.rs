//! A TSA issuing RFC 3161 `TimeStampResp`s: TSTInfo (s2.4.2) in CMS SignedData (RFC 5652
//! s5) with the signed attributes contentType and messageDigest (s5.3), signed with ECDSA.
use immerse_der as der;
use openssl::pkey::{PKey, Private};
use openssl::x509::X509;

use super::pki::{ca_cert, p256, sign};
use crate::keys::HashAlgorithm;
use crate::tsa::{oid_hash, oid_tst_info};
use crate::util::{format_generalized_time, sha256};

pub(crate) struct TestTsa {
    pub root: X509,
    pub leaf: X509,
    key: PKey<Private>,
}

fn attribute(oid: &[u64], value: &[u8]) -> Vec<u8> {
    der::sequence(&[
        &der::tlv(der::TAG_OID, &der::oid(oid)),
        &der::tlv(0x31, value),
    ])
}

impl TestTsa {
    pub fn new(name: &str, not_before: i64, not_after: i64) -> Self {
        let root_key = p256();
        let root = ca_cert(
            &format!("{name} root"),
            &root_key,
            None,
            not_before,
            not_after,
            false,
        );
        let key = p256();
        let leaf = ca_cert(
            &format!("{name} signer"),
            &key,
            Some((&root, &root_key)),
            not_before,
            not_after,
            true,
        );
        Self { root, leaf, key }
    }

    /// A `TimeStampResp` granting a timestamp over `data` at `gen_time`.
    pub fn timestamp(&self, data: &[u8], gen_time: i64, serial: u64) -> Vec<u8> {
        let sha256_alg = der::sequence(&[
            &der::tlv(der::TAG_OID, &oid_hash(HashAlgorithm::Sha256)),
            &der::tlv(der::TAG_NULL, &[]),
        ]);
        let tst_info = der::sequence(&[
            &der::tlv(der::TAG_INTEGER, &[1]),
            &der::tlv(der::TAG_OID, &der::oid(&[1, 3, 6, 1, 4, 1, 57264, 2])),
            &der::sequence(&[&sha256_alg, &der::tlv(der::TAG_OCTET_STRING, &sha256(data))]),
            &der::unsigned(&serial.to_be_bytes()),
            &der::tlv(
                der::TAG_GENERALIZED_TIME,
                format_generalized_time(gen_time).as_bytes(),
            ),
        ]);
        let mut attrs = [
            // contentType (RFC 5652 s11.1) = id-ct-TSTInfo
            attribute(
                &[1, 2, 840, 113_549, 1, 9, 3],
                &der::tlv(der::TAG_OID, &oid_tst_info()),
            ),
            // messageDigest (s11.2) = SHA-256 of the eContent octets
            attribute(
                &[1, 2, 840, 113_549, 1, 9, 4],
                &der::tlv(der::TAG_OCTET_STRING, &sha256(&tst_info)),
            ),
        ];
        attrs.sort(); // DER SET OF: sorted encodings (X.690 s11.6)
        let attrs = attrs.concat();
        // s5.4: the signature is over the DER of the attributes as a SET (tag 0x31).
        let signature = sign(&self.key, &der::tlv(0x31, &attrs));
        let issuer = self.leaf.issuer_name().to_der().expect("issuer DER");
        let serial = self.leaf.serial_number().to_bn().expect("serial").to_vec();
        let signer_info = der::sequence(&[
            &der::tlv(der::TAG_INTEGER, &[1]),
            &der::sequence(&[&issuer, &der::unsigned(&serial)]),
            &sha256_alg,
            &der::tlv(0xA0, &attrs),
            &der::sequence(&[&der::tlv(
                der::TAG_OID,
                &der::oid(&[1, 2, 840, 10045, 4, 3, 2]),
            )]),
            &der::tlv(der::TAG_OCTET_STRING, &signature),
        ]);
        let signed_data = der::sequence(&[
            &der::tlv(der::TAG_INTEGER, &[3]),
            &der::tlv(0x31, &sha256_alg),
            &der::sequence(&[
                &der::tlv(der::TAG_OID, &oid_tst_info()),
                &der::tlv(0xA0, &der::tlv(der::TAG_OCTET_STRING, &tst_info)),
            ]),
            &der::tlv(0xA0, &self.leaf.to_der().expect("leaf DER")),
            &der::tlv(0x31, &signer_info),
        ]);
        let token = der::sequence(&[
            &der::tlv(der::TAG_OID, &der::oid(&[1, 2, 840, 113_549, 1, 7, 2])),
            &der::tlv(0xA0, &signed_data),
        ]);
        // TimeStampResp { status PKIStatusInfo { granted(0) }, timeStampToken }
        der::sequence(&[&der::sequence(&[&der::tlv(der::TAG_INTEGER, &[0])]), &token])
    }
}
