"""asn1crypto schemas for GOST keys and certificates, and readable names.

asn1crypto knows RSA/DSA/EC keys only: touching the public key of a GOST certificate through
``x509.Certificate`` raises ``KeyError('1.2.643.7.1.1.1.1')``. These schemas keep everything
asn1crypto offers (names, validity, extensions) and replace the two key structures with ones
that leave the key bytes to us. asn1crypto ships no type information, hence the
``type: ignore[misc]`` on subclasses of its classes.
"""

from __future__ import annotations

from typing import Any

from asn1crypto import core, keys, x509

from medsign.crypto import oids


class AlgorithmIdentifier(core.Sequence):  # type: ignore[misc]
    _fields = [
        ("algorithm", core.ObjectIdentifier),
        ("parameters", core.Any, {"optional": True}),
    ]


class GostKeyParameters(core.Sequence):  # type: ignore[misc]
    """GostR3410-2012-PublicKeyParameters (RFC 9215 §4.2)."""

    _fields = [
        ("public_key_param_set", core.ObjectIdentifier),
        ("digest_param_set", core.ObjectIdentifier, {"optional": True}),
        ("encryption_param_set", core.ObjectIdentifier, {"optional": True}),
    ]


class GostPublicKeyInfo(core.Sequence):  # type: ignore[misc]
    # the BIT STRING holds an OCTET STRING of X‖Y, both little-endian (RFC 9215 §4.3)
    _fields = [
        ("algorithm", AlgorithmIdentifier),
        ("public_key", core.OctetBitString),
    ]


class GostPrivateKeyInfo(core.Sequence):  # type: ignore[misc]
    """PKCS#8 PrivateKeyInfo as the OpenSSL GOST engine reads and writes it."""

    _fields = [
        ("version", core.Integer),
        ("private_key_algorithm", AlgorithmIdentifier),
        ("private_key", core.OctetString),
        ("attributes", keys.Attributes, {"implicit": 0, "optional": True}),
        ("public_key", core.BitString, {"implicit": 1, "optional": True}),
    ]


def _replace(fields: list[Any], name: str, spec: type[core.Asn1Value]) -> list[Any]:
    return [(n, spec if n == name else s, *rest) for n, s, *rest in fields]


class GostTbsCertificate(x509.TbsCertificate):  # type: ignore[misc]
    _fields = _replace(x509.TbsCertificate._fields, "subject_public_key_info", GostPublicKeyInfo)


class GostCertificate(x509.Certificate):  # type: ignore[misc]
    """``x509.Certificate`` whose key parses; its name/validity/extension helpers all work."""

    _fields = _replace(x509.Certificate._fields, "tbs_certificate", GostTbsCertificate)


def gost_key_parameters(paramset: str, digest: str | None) -> GostKeyParameters:
    value: dict[str, str] = {"public_key_param_set": paramset}
    if digest:
        value["digest_param_set"] = digest
    return GostKeyParameters(value)


def same_name(a: x509.Name, b: x509.Name) -> bool:
    """X.500 name equality as asn1crypto decides it (RFC 5280 §7.1: string preparation, case
    folding — ~0.3 ms a comparison); the same DER encoding is the same name without it."""
    return bool(a.dump() == b.dump() or a == b)


def name_text(name: x509.Name) -> str:
    """``C=RU, O=ГБУЗ …, CN=…, ОГРН=…``, in the order the certificate lists them."""
    parts = []
    for rdn in name.chosen:
        for attribute in rdn:
            oid = attribute["type"].dotted
            label = oids.NAME_LABELS.get(oid, oid)
            parts.append(f"{label}={_value_text(attribute['value'])}")
    return ", ".join(parts)


def attribute_value(name: x509.Name, oid: str) -> str | None:
    """The first value of the attribute ``oid`` in ``name``, as text; None without one."""
    for rdn in name.chosen:
        for attribute in rdn:
            if attribute["type"].dotted == oid:
                return _value_text(attribute["value"])
    return None


def _value_text(value: core.Asn1Value) -> str:
    native = value.native
    return native.hex() if isinstance(native, bytes) else str(native)


def build_name(common_name: str, organization: str, *, ogrn: str | None,
               inn: str | None) -> x509.Name:
    base = x509.Name.build({"country_name": "RU", "organization_name": organization,
                            "common_name": common_name})
    extra = [_numeric_rdn(oid, value) for oid, value in ((oids.OGRN, ogrn), (oids.INN, inn))
             if value]
    # Приказ ФСБ № 795 encodes ОГРН and ИНН as NumericString, which asn1crypto's Name.build
    # does not know, so they are appended as ready RDNs.
    return x509.Name(name="", value=x509.RDNSequence([*base.chosen, *extra]))


def _numeric_rdn(oid: str, value: str) -> x509.RelativeDistinguishedName:
    if not value.isdigit():
        raise ValueError(f"{oids.NAME_LABELS[oid]} должен состоять из цифр: {value!r}")
    attribute = x509.NameTypeAndValue({"type": oid, "value": core.NumericString(value)})
    return x509.RelativeDistinguishedName([attribute])


def tlv(tag: int, value: bytes) -> bytes:
    """One DER element: ``tag``, the minimal length, ``value``."""
    n = len(value)
    if n < 0x80:
        return bytes((tag, n)) + value
    length = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(length))) + length + value


def as_received(value: core.Asn1Value, tag: int = 0x30) -> bytes:
    """The DER of a parsed value with its contents exactly as they came, under ``tag``
    (SEQUENCE by default; 0x31 turns signed attributes' [0] into the SET a signature covers).

    Never ``dump()`` a parsed value for its bytes: asn1crypto re-encodes one whose header ends
    in 0x80, taking it for an indefinite length — and a DER length such as 0x0180 (384 bytes)
    ends so too. Re-encoding parses everything below, a GOST key with asn1crypto's own key
    spec (``KeyError: '1.2.643.7.1.1.1.1'``), and may re-sort a SET another signer wrote.
    About one certificate in 128 has such a length."""
    return tlv(tag, value.contents)
