"""GOST R 34.10-2012 / 34.11-2012 signatures: detached CMS (CAdES-BES), signing and checking.

Signing goes through the :class:`Signer` port (``load_signer``): ``pure`` Python (default),
``openssl`` with the GOST engine, or an ``external`` certified provider. Checking is
:func:`verify_detached` against a :class:`TrustStore`. ``medsign.crypto.keys`` makes
development CAs and certificates. Background and configuration: ``docs/crypto.md``.

Exceptions — each has a stable snake_case ``code`` and a Russian ``message``::

    CryptoError                 configuration/input mistakes: fix, don't retry
    │                             (signer_misconfigured, signer_output_invalid, unknown_signer,
    │                              invalid_key, invalid_certificate, invalid_crl,
    │                              crl_unsupported, invalid_pkcs12)
    ├── SignatureInvalid        the file must be rejected; never retry
    │                             digest_mismatch        document changed after signing
    │                             bad_signature          signature value (or ESS binding) wrong
    │                             untrusted_certificate  not from a CA in the trust store
    │                             certificate_expired    outside its validity period
    │                             malformed_cms          not a detached CMS SignedData
    │                             unsupported_algorithm  not GOST 2012 / unknown curve
    │                             wrong_content_type     contentType is not id-data
    │                             no_signer_certificate  signer certificate not embedded
    │                             ca_not_allowed         an issuer is no CA or lacks keyCertSign
    │                             path_too_long          a CA's pathLenConstraint exceeded
    │                             unknown_critical_extension  a critical extension we cannot
    │                                                    check (``chain.KNOWN_EXTENSIONS``)
    │                             key_usage_not_allowed  end certificate not for signatures
    │                             certificate_revoked    listed in its issuer's CRL
    └── SignerUnavailable       the back end cannot sign now: retry later or fix the install
                                  (openssl_missing, gost_engine_missing, key_not_configured,
                                   command_not_configured, command_missing, signer_failed,
                                   signer_timeout, mo_signing_unavailable)
"""

from medsign.crypto.errors import CryptoError, SignatureInvalid, SignerUnavailable
from medsign.crypto.keys import (
    KeyPair,
    generate_private_key,
    init_development_keys,
    issue_certificate,
    load_pem,
    make_ca,
    save_pem,
)
from medsign.crypto.openssl import openssl_gost_available, openssl_problem
from medsign.crypto.signers import Signer, load_signer
from medsign.crypto.trust import TrustStore
from medsign.crypto.verify import SignatureReport, verify_detached

__all__ = [
    "CryptoError",
    "KeyPair",
    "SignatureInvalid",
    "SignatureReport",
    "Signer",
    "SignerUnavailable",
    "TrustStore",
    "generate_private_key",
    "init_development_keys",
    "issue_certificate",
    "load_pem",
    "load_signer",
    "make_ca",
    "openssl_gost_available",
    "openssl_problem",
    "save_pem",
    "verify_detached",
]
