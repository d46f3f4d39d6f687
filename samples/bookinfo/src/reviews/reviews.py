"""Bookinfo reviews service: one program, three versions chosen by environment, as in Istio.

Owns: `GET /reviews/<id>` (two reviews; with ratings from the ratings service when
`ENABLE_RATINGS=true`, drawn as `STAR_COLOR` stars) and `GET /health`. The answer names the
instance that served it (`podname` = $POD_NAME) and `clustername` ($CLUSTER_NAME, "null" when
unset, as Istio's Java app reports it).

- v1: `SERVICE_VERSION=v1`, no ratings.
- v2: `SERVICE_VERSION=v2 ENABLE_RATINGS=true STAR_COLOR=black`.
- v3: `SERVICE_VERSION=v3 ENABLE_RATINGS=true STAR_COLOR=red`.

Ratings are fetched from `http://ratings:9080/ratings/<id>` (overridable with RATINGS_HOSTNAME,
RATINGS_SERVICE_PORT, SERVICES_DOMAIN) with the inbound tracing and user headers forwarded. Like
Istio's app, the ratings call times out after 10 s for black stars and 2.5 s otherwise; when it
fails, each rating says "Ratings service is currently unavailable".
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "common"))

from sample_server import (
    PROPAGATED_HEADERS,
    Request,
    Response,
    Route,
    http_get,
    json_response,
    pick_headers,
    pod_name,
    serve,
    service_url,
)

REVIEWS = (
    (
        "Reviewer1",
        "An extremely entertaining play by Shakespeare. The slapstick humour is refreshing!",
    ),
    (
        "Reviewer2",
        "Absolutely fun and entertaining. The play lacks thematic depth when compared to other "
        "plays by Shakespeare.",
    ),
)
RATINGS_UNAVAILABLE = "Ratings service is currently unavailable"
FORWARDED_HEADERS = (*PROPAGATED_HEADERS, "end-user")


@dataclass(frozen=True)
class Settings:
    """The version's behaviour, read once from the environment in `main`."""

    version: str
    ratings_enabled: bool
    star_color: str
    ratings_url: str
    pod_name: str
    cluster_name: str

    @property
    def ratings_timeout(self) -> float:
        return 10.0 if self.star_color == "black" else 2.5

    @classmethod
    def from_environment(cls) -> Settings:
        return cls(
            version=os.environ.get("SERVICE_VERSION", "v1"),
            ratings_enabled=os.environ.get("ENABLE_RATINGS", "false").lower() == "true",
            star_color=os.environ.get("STAR_COLOR") or "black",
            ratings_url=service_url("ratings") + "/ratings",
            pod_name=pod_name(),
            cluster_name=os.environ.get("CLUSTER_NAME") or "null",
        )


def fetch_stars(settings: Settings, product_id: int, request: Request) -> dict[str, int]:
    """Stars per reviewer from the ratings service; empty when it could not be reached."""
    reply = http_get(
        f"{settings.ratings_url}/{product_id}",
        pick_headers(request, FORWARDED_HEADERS),
        timeout=settings.ratings_timeout,
    )
    body = reply.json() if reply.status == 200 else None
    ratings = body.get("ratings") if isinstance(body, dict) else None
    if not isinstance(ratings, dict):
        return {}
    return {name: stars for name, stars in ratings.items() if isinstance(stars, int)}


def reviews_document(settings: Settings, product_id: int, request: Request) -> dict[str, object]:
    stars = fetch_stars(settings, product_id, request) if settings.ratings_enabled else {}
    reviews: list[dict[str, object]] = []
    for reviewer, text in REVIEWS:
        review: dict[str, object] = {"reviewer": reviewer, "text": text}
        if settings.ratings_enabled:
            if reviewer in stars:
                review["rating"] = {"stars": stars[reviewer], "color": settings.star_color}
            else:
                review["rating"] = {"error": RATINGS_UNAVAILABLE}
        reviews.append(review)
    return {
        "id": str(product_id),
        "podname": settings.pod_name,
        "clustername": settings.cluster_name,
        "reviews": reviews,
    }


def make_route(settings: Settings) -> Route:
    def route(request: Request) -> Response:
        parts = request.path.strip("/").split("/")
        if request.method not in ("GET", "HEAD"):
            return json_response({"error": "method not allowed"}, 405)
        if parts == ["health"]:
            return json_response({"status": "Reviews is healthy"})
        if len(parts) == 2 and parts[0] == "reviews":
            if not parts[1].lstrip("-").isdigit():
                return json_response({"error": "please provide numeric product ID"}, 400)
            return json_response(reviews_document(settings, int(parts[1]), request))
        return json_response({"error": "not found"}, 404)

    return route


if __name__ == "__main__":
    serve(make_route(Settings.from_environment()), default_port=9080)
