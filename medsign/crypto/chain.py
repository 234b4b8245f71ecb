"""The rules a certification path must keep: RFC 5280 §6.1, simplified but honest.

A path is ``[end, issuer, …, anchor]`` as :class:`~medsign.crypto.certs.TrustStore` builds it
(names, key ids and signatures already link). On top of that, in this order:

1. no certificate in the path carries a critical extension outside :data:`KNOWN_EXTENSIONS`
   (``unknown_critical_extension``) — the anchor included: we cannot tell what it restricts;
2. every certificate that issues another one (intermediates, and the anchor when it acts as
   an issuer) is a CA (basicConstraints cA) with keyUsage keyCertSign; a CA without keyUsage
   is refused too (``ca_not_allowed``);
3. a CA's pathLenConstraint bounds the intermediates below it; self-issued ones (subject =
   issuer, a CA's key rollover) do not count (``path_too_long``);
4. the end certificate has keyUsage digitalSignature or nonRepudiation; a certificate
   without keyUsage is refused (``key_usage_not_allowed``);
5. every certificate in the path is valid at the moment checked (``certificate_expired``).

Not checked: name constraints, policy constraints and inhibitAnyPolicy (they are therefore
not in :data:`KNOWN_EXTENSIONS`: marked critical, they make the path fail), certificate
policies (any policy is accepted), extendedKeyUsage (application-specific; the platform does
not say which purpose its seal carries). Revocation is the trust store's (``crl``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from medsign.crypto.certs import Certificate
from medsign.crypto.errors import SignatureInvalid

# The certificate extensions medsign understands: either checked here, or carrying nothing
# that limits what the certificate may be used for. Only these may be critical.
KNOWN_EXTENSIONS: dict[str, str] = {
    "2.5.29.15": "keyUsage",
    "2.5.29.19": "basicConstraints",
    "2.5.29.37": "extendedKeyUsage",
    "2.5.29.32": "certificatePolicies",
    "2.5.29.14": "subjectKeyIdentifier",
    "2.5.29.35": "authorityKeyIdentifier",
    "2.5.29.17": "subjectAltName",
    "2.5.29.18": "issuerAltName",
    "2.5.29.16": "privateKeyUsagePeriod",
    "2.5.29.31": "cRLDistributionPoints",
    "2.5.29.46": "freshestCRL",
    "1.3.6.1.5.5.7.1.1": "authorityInfoAccess",
    "1.3.6.1.5.5.7.1.11": "subjectInfoAccess",
    # Приказ ФСБ № 795: the subject's and the issuer's means of signature (СКЗИ, certificates
    # of conformity) — informational
    "1.2.643.100.111": "subjectSignTool",
    "1.2.643.100.112": "issuerSignTool",
    # Microsoft CA (common in Russian CAs): CA version, previous CA certificate hash,
    # certificate template — informational
    "1.3.6.1.4.1.311.21.1": "msCaVersion",
    "1.3.6.1.4.1.311.21.2": "msPreviousCaHash",
    "1.3.6.1.4.1.311.20.2": "msCertificateTemplateName",
    "1.3.6.1.4.1.311.21.7": "msCertificateTemplate",
}
ISSUING_USAGE = "key_cert_sign"
SIGNING_USAGE = frozenset({"digital_signature", "non_repudiation"})


def check_path(path: Sequence[Certificate], *, at: datetime) -> None:
    """Raises ``SignatureInvalid`` with the first rule ``path`` breaks (see the module)."""
    for cert in path:
        _known_critical(cert)
    for position in range(1, len(path)):
        _may_issue(path[position])
        _path_length(path[position], path[1:position])
    _signing_usage(path[0])
    for cert in path:
        if not cert.valid_at(at):
            raise SignatureInvalid("certificate_expired", period(cert, at))


def may_issue(cert: Certificate) -> bool:
    return cert.is_ca and ISSUING_USAGE in cert.key_usage


def _known_critical(cert: Certificate) -> None:
    unknown = sorted(oid for oid, critical in cert.extensions.items()
                     if critical and oid not in KNOWN_EXTENSIONS)
    if unknown:
        raise SignatureInvalid("unknown_critical_extension",
                               f"«{cert.subject}»: {', '.join(unknown)}")


def _may_issue(cert: Certificate) -> None:
    if not cert.is_ca:
        raise SignatureInvalid("ca_not_allowed", f"«{cert.subject}» не УЦ (нет basicConstraints "
                                                 "cA), а выдал сертификат в цепочке")
    if ISSUING_USAGE not in cert.key_usage:
        usage = ", ".join(sorted(cert.key_usage)) or "нет расширения keyUsage"
        raise SignatureInvalid("ca_not_allowed",
                               f"«{cert.subject}»: keyUsage без keyCertSign ({usage})")


def _path_length(ca: Certificate, below: Sequence[Certificate]) -> None:
    limit = ca.path_length
    if limit is None:
        return
    counted = sum(1 for cert in below if not cert.self_issued)
    if counted > limit:
        raise SignatureInvalid("path_too_long", f"«{ca.subject}» разрешает промежуточных УЦ "
                                                f"ниже себя: {limit}, в цепочке: {counted}")


def _signing_usage(cert: Certificate) -> None:
    if cert.key_usage & SIGNING_USAGE:
        return
    usage = ", ".join(sorted(cert.key_usage)) or "нет расширения keyUsage"
    raise SignatureInvalid("key_usage_not_allowed", f"«{cert.subject}»: {usage}")


def period(cert: Certificate, at: datetime) -> str:
    at = at.astimezone(UTC)
    return (f"«{cert.subject}» действует с {cert.not_before:%d.%m.%Y %H:%M} "
            f"по {cert.not_after:%d.%m.%Y %H:%M} UTC, проверка на {at:%d.%m.%Y %H:%M} UTC")
