"""A stand-in for a certified provider's command line (CryptoPro ``cryptcp``).

The tests copy it next to a ``#!<this interpreter>`` line and make it executable. Usage::

    stand_in_signer MODE KEY CERT INPUT [OUTPUT]

Without OUTPUT the result goes to standard output. MODE: ``der``, ``base64`` (one line),
``pem``, ``openssl`` (signs with ``openssl cms`` and the GOST engine), ``fail`` (exit 3 with a
message on stderr), ``garbage``, ``other-data`` (a valid signature over different bytes),
``sleep`` (hangs).
"""

import base64
import sys
import time
from pathlib import Path

from medsign.crypto import load_signer


def sign(mode: str, key: Path, cert: Path, data: bytes) -> bytes:
    if mode == "garbage":
        return b"<html>502 Bad Gateway</html>"
    if mode == "openssl":
        return load_signer("openssl", key_file=key, certificate_file=cert).sign(data)
    signer = load_signer("pure", key_file=key, certificate_file=cert)
    der = signer.sign(data + b"!" if mode == "other-data" else data)
    if mode == "base64":
        return base64.b64encode(der) + b"\n"
    if mode == "pem":
        body = base64.encodebytes(der)
        return b"-----BEGIN CMS-----\n" + body + b"-----END CMS-----\n"
    return der


def main(argv: list[str]) -> int:
    mode, key, cert, source, *target = argv
    if mode == "fail":
        sys.stderr.write("Ошибка: контейнер закрытого ключа не найден (0x8009001a)\n")
        return 3
    if mode == "sleep":
        time.sleep(60)
    result = sign(mode, Path(key), Path(cert), Path(source).read_bytes())
    if target:
        Path(target[0]).write_bytes(result)
    else:
        sys.stdout.buffer.write(result)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
