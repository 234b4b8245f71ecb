"""A stand-in for a certified provider holding one key per МО (as a КриптоПро installation
holds one container per МО): it picks the key by the ``{organization}`` and ``{thumbprint}``
the service passes and signs with ``openssl cms -sign -engine gost``.

    mo_external_signer.py --keys DIR --organization CODE --thumbprint SHA1 [--ogrn OGRN]
                          --in FILE --out FILE

Keys live as ``DIR/<CODE>/<SHA1>.key`` and ``.pem``; an unknown one is an error (exit 2), as
a provider reports a missing container.
"""

import argparse
import subprocess
import sys
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser()
    for name in ("--keys", "--organization", "--thumbprint", "--in", "--out"):
        parser.add_argument(name, required=True)
    parser.add_argument("--ogrn", default="")
    args = parser.parse_args()
    stem = Path(args.keys) / args.organization / args.thumbprint
    if not stem.with_suffix(".key").is_file():
        sys.stderr.write(f"контейнер не найден: {args.organization} {args.thumbprint}\n")
        return 2
    return subprocess.run(
        ["openssl", "cms", "-sign", "-engine", "gost", "-binary", "-md", "md_gost12_256",
         "-cades", "-nosmimecap", "-outform", "DER", "-in", getattr(args, "in"),
         "-out", args.out, "-signer", str(stem.with_suffix(".pem")),
         "-inkey", str(stem.with_suffix(".key"))], check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
