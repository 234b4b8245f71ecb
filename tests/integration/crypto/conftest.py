from tests.unit.crypto.crypto_support import (  # noqa: F401 — fixtures, found by name
    ca,
    expired,
    key_files,
    mo,
    other_ca,
    signature,
    signer,
    stand_in,
    stranger,
    trust,
)
