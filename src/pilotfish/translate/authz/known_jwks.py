"""Keys of the sample JWKS URI Istio's docs use, given inline instead of fetched.

Istio's "JWT Token", "Authentication Policy" and "JWT claim based routing" tasks point `jwksUri`
at Istio's sample key set on GitHub
(`https://raw.githubusercontent.com/istio/istio/<branch>/security/tools/jwt/samples/jwks.json`)
and send its tokens (`demo.jwt`, `groups-scope.jwt`). A local mesh's proxies fetch nothing
outside the mesh, so that URI's key set (Istio's public test key, the file at that path in
Istio's repository, Apache License 2.0) is given to Envoy inline: the pages' tokens verify, as
with Istio. Its private key is public too (`key.pem` beside it), so, as with Istio, a policy on
this key set keeps nobody out: it is for the tasks. Only that exact path matches; any other URI
outside the mesh is still not fetched (`jwt`).
"""

from __future__ import annotations

import re

ISTIO_SAMPLE_JWKS_URI = re.compile(
    r"^https://raw\.githubusercontent\.com/istio/istio/[^/?#]+/security/tools/jwt/samples/"
    r"jwks\.json$"
)
ISTIO_SAMPLE_JWKS = (
    '{"keys":[{"e":"AQAB","kid":"DHFbpoIUqrY8t2zpA2qXfCmr5VO5ZEr4RzHU_-envvQ","kty":"RSA","'
    'n":"xAE7eB6qugXyCAG3yhh7pkDkT65pHymX-P7KfIupjf59vsdo91bSP9C8H07pSAGQO1MV_xFj9VswgsCg4R'
    "6otmg5PV2He95lZdHtOcU5DXIg_pbhLdKXbi66GlVeK6ABZOUW3WYtnNHD-91gVuoeJT_DwtGGcp4ignkgXfki"
    "Em4sw-4sfb4qdt5oLbyVpmW6x9cfa7vs2WTfURiCrBoUqgBo_-4WTiULmmHSGZHOjzwa8WtrtOQGsAFjIbno85"
    "jp6MnGGGZPYZbDAa_b3y5u-YpW7ypZrvD8BgtKVjgtQgZhLAGezMt0ua3DRrWnKqTZ0BJ_EyxOGuHJrLsn00fn"
    'MQ"}]}'
)


def known_jwks(uri: str) -> str | None:
    """The key set of a well-known sample JWKS URI, None for any other."""
    return ISTIO_SAMPLE_JWKS if ISTIO_SAMPLE_JWKS_URI.match(uri) else None
