"""The crypto exceptions; the tree and what to do with each is drawn in ``medsign.crypto``."""

from __future__ import annotations

# One Russian sentence per stable code: the code is for programs (audit records, API errors),
# the message is what an operator reads.
MESSAGES: dict[str, str] = {
    # SignatureInvalid — the signature or its certificate is not acceptable
    "digest_mismatch": "документ изменён после подписания: хэш не совпадает с подписанным",
    "bad_signature": "значение электронной подписи неверно",
    "untrusted_certificate": "сертификат подписанта выдан не доверенным удостоверяющим центром",
    "certificate_expired": "срок действия сертификата истёк или ещё не начался",
    "malformed_cms": "файл подписи повреждён или не является подписью CMS",
    "unsupported_algorithm": "алгоритм подписи не поддерживается (ожидался ГОСТ Р 34.10-2012 "
                             "с хэшем ГОСТ Р 34.11-2012)",
    "wrong_content_type": "тип подписанного содержимого не совпадает с заявленным",
    "no_signer_certificate": "в подписи нет сертификата подписанта",
    "ca_not_allowed": "сертификат не может выдавать сертификаты: он не УЦ (basicConstraints) "
                      "или в keyUsage нет keyCertSign",
    "path_too_long": "в цепочке больше промежуточных УЦ, чем разрешает pathLenConstraint",
    "unknown_critical_extension": "в сертификате критическое расширение, которое medsign не "
                                  "умеет проверять",
    "key_usage_not_allowed": "сертификат не предназначен для электронной подписи (в keyUsage "
                             "нет digitalSignature и nonRepudiation)",
    "certificate_revoked": "сертификат отозван удостоверяющим центром",
    # SignerUnavailable — the signing back end cannot run now
    "openssl_missing": "программа openssl не найдена",
    "gost_engine_missing": "движок ГОСТ для OpenSSL не установлен "
                           "(пакет libengine-gost-openssl)",
    "key_not_configured": "не заданы закрытый ключ и сертификат для подписи",
    "command_not_configured": "не задана команда внешнего средства подписи",
    "command_missing": "команда внешнего средства подписи не найдена или не запускается",
    "signer_failed": "средство подписи завершилось с ошибкой",
    "signer_timeout": "средство подписи не ответило вовремя",
    "mo_signing_unavailable": "у МО нет действующего ключа подписи",
    # plain CryptoError — a configuration or input mistake that retrying will not fix
    "signer_misconfigured": "команда внешнего средства подписи задана неверно",
    "signer_output_invalid": "средство подписи вернуло не подпись CMS над документом",
    "unknown_signer": "неизвестное средство подписи",
    "invalid_key": "закрытый ключ повреждён или не является ключом ГОСТ Р 34.10-2012",
    "invalid_certificate": "сертификат повреждён или не является сертификатом ГОСТ",
    "invalid_crl": "список отозванных сертификатов повреждён или не является CRL X.509",
    "crl_unsupported": "список отозванных сертификатов не может быть использован medsign",
    "invalid_pkcs12": "контейнер PKCS#12 не открывается",
}


class CryptoError(Exception):
    """Base of every crypto failure: a stable snake_case ``code`` and a Russian ``message``."""

    def __init__(self, code: str, detail: str = "") -> None:
        base = MESSAGES.get(code, code)
        self.code = code
        self.message = f"{base}: {detail}" if detail else base
        super().__init__(f"{code}: {self.message}")


class SignatureInvalid(CryptoError):
    """The signature, its signed data or its certificate does not hold up: reject the file."""


class SignerUnavailable(CryptoError):
    """The signing back end cannot run (engine, program, key missing; tool failed): retry later
    or fix the installation; the document itself is fine."""
