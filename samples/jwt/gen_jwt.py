"""Make the JWT sample: an RSA key, its JWKS, and tokens signed with it (RS256), like Istio's
`security/tools/jwt/samples` (issuer and subject `testing@secure.istio.io`).

    python samples/jwt/gen_jwt.py            # (re)write key.pem, jwks.json and the *.jwt files
    python samples/jwt/gen_jwt.py --print '{"sub": "x"}'   # one token with extra claims

Tokens: `demo.jwt` (valid until 2118), `groups-scope.jwt` (adds `groups: [group1, group2]` and
`scope: "scope1 scope2"`), `expired.jwt` (expired in 2020). Tests call `make_token()` for the
other cases (not yet valid, wrong audience, alg none, another key). Test material only: never
use this key for anything real.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

HERE = Path(__file__).resolve().parent
ISSUER = "testing@secure.istio.io"
KID = "pilotfish-sample"
FAR_FUTURE = 4685989700  # 2118, as Istio's demo token


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _int(value: int) -> str:
    return _b64(value.to_bytes((value.bit_length() + 7) // 8, "big"))


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def load_key(path: Path = HERE / "key.pem") -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def jwks(key: rsa.RSAPrivateKey, kid: str = KID) -> dict[str, Any]:
    numbers = key.public_key().public_numbers()
    entry = {"kty": "RSA", "alg": "RS256", "use": "sig", "kid": kid}
    entry.update(n=_int(numbers.n), e=_int(numbers.e))
    return {"keys": [entry]}


def make_token(
    key: rsa.RSAPrivateKey | None, claims: dict[str, Any], *, alg: str = "RS256", kid: str = KID
) -> str:
    """A compact JWT with `claims` (iss/sub default to the sample issuer, exp far away).
    `key=None` with `alg="none"` makes an unsigned token."""
    payload = {"iss": ISSUER, "sub": ISSUER, "exp": FAR_FUTURE, "iat": 1537391104}
    payload.update(claims)
    header = {"alg": alg, "kid": kid, "typ": "JWT"}
    head = _b64(json.dumps(header, separators=(",", ":")).encode())
    body = _b64(json.dumps(payload, separators=(",", ":")).encode())
    signing_input = f"{head}.{body}".encode()
    if key is None:
        return f"{head}.{body}."
    signature = key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    return f"{head}.{body}.{_b64(signature)}"


def write_sample(folder: Path = HERE) -> None:
    key = new_key()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    (folder / "key.pem").write_bytes(pem)
    (folder / "jwks.json").write_text(json.dumps(jwks(key), indent=2) + "\n")
    (folder / "demo.jwt").write_text(make_token(key, {}) + "\n")
    groups = {"groups": ["group1", "group2"], "scope": "scope1 scope2"}
    (folder / "groups-scope.jwt").write_text(make_token(key, groups) + "\n")
    (folder / "expired.jwt").write_text(make_token(key, {"exp": 1577836800}) + "\n")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--print", metavar="CLAIMS_JSON", help="print one token with these claims")
    args = parser.parse_args(argv)
    if args.print is not None:
        print(make_token(load_key(), json.loads(args.print)))
        return 0
    write_sample()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
