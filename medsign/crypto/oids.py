"""Object identifiers of the GOST algorithms and of the certificate attributes we use."""

from __future__ import annotations

# GOST R 34.10-2012 public keys (RFC 9215)
GOST_256_KEY = "1.2.643.7.1.1.1.1"
GOST_512_KEY = "1.2.643.7.1.1.1.2"
# GOST R 34.11-2012 (Streebog) digests
STREEBOG_256 = "1.2.643.7.1.1.2.2"
STREEBOG_512 = "1.2.643.7.1.1.2.3"
# signature with digest, as used in certificates
GOST_256_SIGN = "1.2.643.7.1.1.3.2"
GOST_512_SIGN = "1.2.643.7.1.1.3.3"

# The parameter set we generate keys on. CryptoPro A is what the OpenSSL GOST engine calls
# "paramset A", what CryptoPro CSP uses by default and what every verifier knows.
CRYPTOPRO_A = "1.2.643.2.2.35.1"

KEY_SIZE = {GOST_256_KEY: 32, GOST_512_KEY: 64}
DIGEST_SIZE = {STREEBOG_256: 32, STREEBOG_512: 64}
DIGEST_NAME = {STREEBOG_256: "md_gost12_256", STREEBOG_512: "md_gost12_512"}
# A SignerInfo names either the key algorithm (OpenSSL, CryptoPro, the platform) or the
# signature-with-digest OID (some other tools); both are the same algorithm for a digest size.
SIGNATURE_DIGEST = {
    GOST_256_KEY: STREEBOG_256, GOST_256_SIGN: STREEBOG_256,
    GOST_512_KEY: STREEBOG_512, GOST_512_SIGN: STREEBOG_512,
}
# Certificates and CRLs name the signature-with-digest OID; some CAs write the key OID.
SIGNED_DATA_SIZE = {GOST_256_SIGN: 32, GOST_512_SIGN: 64, GOST_256_KEY: 32, GOST_512_KEY: 64}

# CMS and certificate plumbing
DATA = "1.2.840.113549.1.7.1"
SIGNED_DATA = "1.2.840.113549.1.7.2"

# Russian subject attributes (Приказ ФСБ № 795)
OGRN = "1.2.643.100.1"
INN = "1.2.643.3.131.1.1"
INN_LE = "1.2.643.100.4"  # ИННЮЛ

NAME_LABELS = {
    "2.5.4.3": "CN", "2.5.4.4": "SN", "2.5.4.42": "G", "2.5.4.6": "C", "2.5.4.7": "L",
    "2.5.4.8": "ST", "2.5.4.9": "STREET", "2.5.4.10": "O", "2.5.4.11": "OU", "2.5.4.12": "T",
    "1.2.840.113549.1.9.1": "E", OGRN: "ОГРН", INN: "ИНН", "1.2.643.100.3": "СНИЛС",
    INN_LE: "ИННЮЛ", "1.2.643.100.5": "ОГРНИП",
}
