"""Builds an SD-JWT VC presentation with the reference implementation of RFC 9901 (PyPI
`sd-jwt`, pinned in crates/sd-jwt/tests/interop/requirements.txt), for
crates/verifier/tests/python_interop.rs.

  python3 python_presentation.py present <- JSON on stdin: issuer_pem (PKCS#8), kid, iss, vct,
      status_uri, status_idx, aud (the verifier's client_id), nonce (the request's nonce)
                                         -> JSON {presentation}: issued by the Python issuer with
      the registered issuer key, bound to a fresh Python holder key, presented by the Python
      holder with a KB-JWT for that aud and nonce.
"""
import json
import sys
import time

from jwcrypto.jwk import JWK
from sd_jwt.common import SDObj
from sd_jwt.holder import SDJWTHolder
from sd_jwt.issuer import SDJWTIssuer


def present():
    request = json.load(sys.stdin)
    issuer_key = JWK.from_pem(request["issuer_pem"].encode())
    holder_key = JWK.generate(kty="EC", crv="P-256")
    now = int(time.time())
    claims = {
        "iss": request["iss"],
        "iat": now - 10,
        "exp": now + 3600,
        "vct": request["vct"],
        "status": {"status_list": {"idx": request["status_idx"], "uri": request["status_uri"]}},
        SDObj("given_name"): "Erika",
        SDObj("family_name"): "Mustermann",
        SDObj("birthdate"): "1964-08-12",
        "address": {SDObj("locality"): "Berlin", "postal_code": "10115"},
    }
    issuer = SDJWTIssuer(
        claims,
        issuer_key,
        holder_key,
        add_decoy_claims=True,
        extra_header_parameters={"typ": "dc+sd-jwt", "kid": request["kid"]},
    )
    holder = SDJWTHolder(issuer.sd_jwt_issuance)
    holder.create_presentation(
        {"given_name": True, "family_name": True, "address": {"locality": True}},
        nonce=request["nonce"],
        aud=request["aud"],
        holder_key=holder_key,
    )
    json.dump({"presentation": holder.sd_jwt_presentation}, sys.stdout)


if __name__ == "__main__":
    if sys.argv[1:] == ["present"]:
        present()
    else:
        sys.exit("usage: python_presentation.py present")
