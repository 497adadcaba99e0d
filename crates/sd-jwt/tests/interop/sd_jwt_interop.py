"""Interop driver for crates/sd-jwt/tests/python_interop.rs, on the reference implementation
(PyPI `sd-jwt`, pinned in requirements.txt).

  python3 sd_jwt_interop.py issue   -> JSON {issuer_jwk, presentation}: the Python issuer signs an
                                       SD-JWT (typ dc+sd-jwt) bound to a Python holder key, and the
                                       Python holder presents some claims with a KB-JWT.
  python3 sd_jwt_interop.py verify  <- JSON {presentation, issuer_jwk, aud, nonce} on stdin
                                    -> JSON {payload}: the Python verifier's processed claims.
  python3 sd_jwt_interop.py version -> the installed sd-jwt version.
"""
import json
import sys
import time
from importlib.metadata import version

from jwcrypto.jwk import JWK
from sd_jwt.common import SDObj
from sd_jwt.holder import SDJWTHolder
from sd_jwt.issuer import SDJWTIssuer
from sd_jwt.verifier import SDJWTVerifier

AUD = "https://verifier.example.org"
NONCE = "interop-nonce-1"


def issue():
    issuer_key = JWK.generate(kty="EC", crv="P-256")
    holder_key = JWK.generate(kty="EC", crv="P-256")
    now = int(time.time())
    claims = {
        "iss": "https://issuer.example.org",
        "iat": now,
        "exp": now + 3600,
        "vct": "https://credentials.example.org/identity",
        SDObj("given_name"): "Erika",
        SDObj("family_name"): "Mustermann",
        SDObj("address"): {
            SDObj("street_address"): "Heidestrasse 17",
            "locality": "Koeln",
        },
        "nationalities": [SDObj("DE"), SDObj("FR"), "NL"],
    }
    issuer = SDJWTIssuer(
        claims,
        issuer_key,
        holder_key,
        add_decoy_claims=True,
        extra_header_parameters={"typ": "dc+sd-jwt"},
    )
    holder = SDJWTHolder(issuer.sd_jwt_issuance)
    holder.create_presentation(
        {"given_name": True, "address": {"street_address": False}, "nationalities": [True, False, True]},
        nonce=NONCE,
        aud=AUD,
        holder_key=holder_key,
    )
    json.dump(
        {
            "issuer_jwk": issuer_key.export_public(as_dict=True),
            "presentation": holder.sd_jwt_presentation,
            "aud": AUD,
            "nonce": NONCE,
        },
        sys.stdout,
    )


def verify():
    request = json.load(sys.stdin)
    issuer_key = JWK.from_json(json.dumps(request["issuer_jwk"]))
    verifier = SDJWTVerifier(
        request["presentation"],
        lambda _iss, _header: issuer_key,
        request["aud"],
        request["nonce"],
    )
    json.dump({"payload": verifier.get_verified_payload()}, sys.stdout)


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command == "issue":
        issue()
    elif command == "verify":
        verify()
    elif command == "version":
        print(version("sd-jwt"))
    else:
        sys.exit("usage: sd_jwt_interop.py issue|verify|version")
