"""GOST signing and verification of a 100 KB PDF-like document, per signing back end.

Each round signs the document (detached CMS, GOST R 34.10-2012 256) and verifies the result
against the trust store, as the service does with the MO's signature; the medians of N rounds
are printed in milliseconds. Back ends: ``pure`` (in-process; Streebog through libcrypto's
``gostprov`` when installed), ``pure-python`` (the same with Streebog in Python too, as on a
machine without the GOST package), ``openssl`` (``openssl cms`` with the GOST engine) and
``external`` (the external-command adapter running that same ``openssl cms`` as a configured
command). The target is sign + verify ≤ 20 ms with the OpenSSL engine. Usage::

    .venv/bin/python bench/crypto_sign.py [--runs N] [--size BYTES]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from _support import append_result, print_table, say

from medsign.crypto import (
    Signer,
    TrustStore,
    issue_certificate,
    load_signer,
    make_ca,
    openssl_gost_available,
    save_pem,
    verify_detached,
)

TARGET_MS = 20.0
EXTERNAL = ("openssl cms -sign -engine gost -binary -md md_gost12_256 -cades -nosmimecap "
            "-outform DER -in {input} -out {output} -signer {certificate} -inkey ")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", type=int, default=21)
    p.add_argument("--python-runs", type=int, default=5,
                   help="rounds for pure-python, which takes about a second each")
    p.add_argument("--size", type=int, default=100 * 1024)
    return p.parse_args()


def pdf_like(size: int) -> bytes:
    """Header, binary streams and mixed line ends, like a rendered consent form."""
    body = (os.urandom(4096) + b"\nendstream\r\nendobj\r\n") * (size // 4096 + 1)
    return (b"%PDF-1.7\r\n%\xe2\xe3\xcf\xd3\r\n" + body)[:size - 6] + b"%%EOF\n"


@contextmanager
def python_streebog(enabled: bool) -> Iterator[None]:
    previous = os.environ.get("MEDSIGN_CRYPTO_NATIVE")
    if enabled:
        os.environ["MEDSIGN_CRYPTO_NATIVE"] = "0"
    try:
        yield
    finally:
        if enabled:
            os.environ.pop("MEDSIGN_CRYPTO_NATIVE", None)
            if previous is not None:
                os.environ["MEDSIGN_CRYPTO_NATIVE"] = previous


def measure(signer: Signer, data: bytes, trust: TrustStore, runs: int) -> dict[str, float]:
    signer.sign(data)  # warm-up: imports, the provider, the engine probe
    sign_ms, verify_ms = [], []
    for _ in range(runs):
        start = time.perf_counter()
        signature = signer.sign(data)
        sign_ms.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        verify_detached(data, signature, trust=trust)
        verify_ms.append((time.perf_counter() - start) * 1000)
    totals = [s + v for s, v in zip(sign_ms, verify_ms, strict=True)]
    return {"sign_ms": statistics.median(sign_ms), "verify_ms": statistics.median(verify_ms),
            "total_ms": statistics.median(totals)}


def signers(folder: Path) -> dict[str, tuple[Signer, bool]]:
    """Back end name → (signer, hash in Python); the OpenSSL ones only where the engine is."""
    ca = make_ca("Bench CA", organization="Bench")
    mo = issue_certificate(ca, common_name="Bench MO", organization="Bench MO")
    save_pem(ca, folder / "ca.key", folder / "ca.pem")
    save_pem(mo, folder / "mo.key", folder / "mo.pem")
    files = {"key_file": folder / "mo.key", "certificate_file": folder / "mo.pem"}
    pure = load_signer("pure", **files)
    chosen: dict[str, tuple[Signer, bool]] = {"pure": (pure, False), "pure-python": (pure, True)}
    if openssl_gost_available():
        chosen["openssl"] = (load_signer("openssl", **files), False)
        command = EXTERNAL + str(folder / "mo.key")
        chosen["external"] = (load_signer("external", command=command, **files), False)
    else:
        say("OpenSSL GOST engine missing: openssl and external skipped "
            "(apt-get install libengine-gost-openssl)")
    return chosen


def main() -> None:
    args = parse_args()
    data = pdf_like(args.size)
    results: dict[str, dict[str, float]] = {}
    rows: list[list[object]] = []
    with tempfile.TemporaryDirectory(prefix="medsign-bench-") as tmp:
        chosen = signers(Path(tmp))
        trust = TrustStore.from_file(Path(tmp) / "ca.pem")
        for name, (signer, in_python) in chosen.items():
            runs = args.python_runs if in_python else args.runs
            with python_streebog(in_python):
                result = measure(signer, data, trust, runs)
            rows.append([name, runs, result["sign_ms"], result["verify_ms"], result["total_ms"]])
            results[name] = {key: round(value, 2) for key, value in result.items()}
    say(f"GOST R 34.10-2012 (256) detached CMS, {args.size // 1024} KB, median ms")
    print_table(["back end", "runs", "sign", "verify", "sign+verify"], rows)
    if "openssl" in results:
        total = results["openssl"]["total_ms"]
        verdict = "OK" if total <= TARGET_MS else "OVER"
        say(f"openssl sign+verify {total:.1f} ms, target ≤ {TARGET_MS:.0f} ms: {verdict}")
    target = append_result("crypto_sign", {"size": args.size, "runs": args.runs, **results})
    say(f"results appended to {target}")


if __name__ == "__main__":
    main()
