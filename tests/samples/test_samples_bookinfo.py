"""Bookinfo apps over real HTTP, wired directly to each other with Istio's env overrides."""

from __future__ import annotations

import re
import time
import urllib.parse
from dataclasses import dataclass

import pytest
from tests.samples.sample_apps import BOOKINFO_SRC, App, AppRunner, RecordingServer, fetch

DETAILS = BOOKINFO_SRC / "details" / "details.py"
RATINGS = BOOKINFO_SRC / "ratings" / "ratings.py"
REVIEWS = BOOKINFO_SRC / "reviews" / "reviews.py"
PRODUCTPAGE = BOOKINFO_SRC / "productpage" / "productpage.py"
VERSION_ENV = {
    "v1": {"SERVICE_VERSION": "v1", "ENABLE_RATINGS": "false"},
    "v2": {"SERVICE_VERSION": "v2", "ENABLE_RATINGS": "true", "STAR_COLOR": "black"},
    "v3": {"SERVICE_VERSION": "v3", "ENABLE_RATINGS": "true", "STAR_COLOR": "red"},
}
TRACE_HEADERS = {
    "x-request-id": "7c3a1f0e-0000-4000-8000-000000000001",
    "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    "x-b3-traceid": "0af7651916cd43dd8448eb211c80319c",
    "x-b3-spanid": "b7ad6b7169203331",
    "x-b3-sampled": "1",
    "user-agent": "bookinfo-test/1.0",
}


def wiring(service: str, target: App | RecordingServer | tuple[str, int]) -> dict[str, str]:
    """Istio's overrides that point an app at `service` running at `target`."""
    host, port = target if isinstance(target, tuple) else (target.host, target.port)
    return {f"{service.upper()}_HOSTNAME": host, f"{service.upper()}_SERVICE_PORT": str(port)}


@dataclass
class Backends:
    details: App
    ratings: App
    reviews: dict[str, App]


@pytest.fixture(scope="module")
def backends(module_apps: AppRunner) -> Backends:
    details = module_apps.start(DETAILS)
    ratings = module_apps.start(RATINGS)
    reviews = {
        version: module_apps.start(
            REVIEWS, {**env, "POD_NAME": f"reviews-{version}-0", **wiring("ratings", ratings)}
        )
        for version, env in VERSION_ENV.items()
    }
    return Backends(details, ratings, reviews)


Target = App | RecordingServer | tuple[str, int]


def productpage(apps: AppRunner, details: Target, reviews: Target, **extra: str) -> App:
    env = {**wiring("details", details), **wiring("reviews", reviews), **extra}
    return apps.start(PRODUCTPAGE, env)


def full_stars(html: str) -> int:
    return html.count('class="star full"')


def test_details_answers_istio_fields(backends: Backends) -> None:
    reply = fetch(f"{backends.details.url}/details/7")
    assert reply.status == 200
    document = reply.json()
    assert document["id"] == 7
    for key in ("author", "year", "type", "pages", "publisher", "language", "ISBN-10", "ISBN-13"):
        assert document[key], key
    assert fetch(f"{backends.details.url}/details/seven").status == 400
    assert fetch(f"{backends.details.url}/health").status == 200


def test_ratings_answers_stars_per_reviewer(backends: Backends) -> None:
    reply = fetch(f"{backends.ratings.url}/ratings/3")
    assert reply.status == 200
    assert reply.json() == {"id": 3, "ratings": {"Reviewer1": 5, "Reviewer2": 4}}
    assert fetch(f"{backends.ratings.url}/health").status == 200


@pytest.mark.parametrize(("version", "color"), [("v1", None), ("v2", "black"), ("v3", "red")])
def test_reviews_version_behaviour(backends: Backends, version: str, color: str | None) -> None:
    document = fetch(f"{backends.reviews[version].url}/reviews/0").json()
    assert document["podname"] == f"reviews-{version}-0"
    assert "clustername" in document
    assert [r["reviewer"] for r in document["reviews"]] == ["Reviewer1", "Reviewer2"]
    ratings = [r.get("rating") for r in document["reviews"]]
    if color is None:
        assert ratings == [None, None]
    else:
        assert ratings == [{"stars": 5, "color": color}, {"stars": 4, "color": color}]


def test_reviews_reports_ratings_unavailable(
    apps: AppRunner, refused_address: tuple[str, int]
) -> None:
    reviews = apps.start(REVIEWS, {**VERSION_ENV["v2"], **wiring("ratings", refused_address)})
    document = fetch(f"{reviews.url}/reviews/0").json()
    assert [r["rating"] for r in document["reviews"]] == [
        {"error": "Ratings service is currently unavailable"}
    ] * 2


def test_reviews_v3_gives_up_on_slow_ratings_after_2_5_seconds(
    apps: AppRunner, recorders: list[RecordingServer]
) -> None:
    slow_ratings = RecordingServer([(200, {"id": 0, "ratings": {"Reviewer1": 1}})], delay=8.0)
    recorders.append(slow_ratings.start())
    reviews = apps.start(REVIEWS, {**VERSION_ENV["v3"], **wiring("ratings", slow_ratings)})
    started = time.monotonic()
    document = fetch(f"{reviews.url}/reviews/0").json()
    elapsed = time.monotonic() - started
    assert 2.0 < elapsed < 7.0  # gave up at 2.5 s, long before the 8 s answer
    assert document["reviews"][0]["rating"] == {"error": "Ratings service is currently unavailable"}


@pytest.mark.parametrize(
    ("version", "color", "stars"), [("v1", None, 0), ("v2", "black", 9), ("v3", "red", 9)]
)
def test_productpage_shows_details_and_reviews_of_each_version(
    apps: AppRunner, backends: Backends, version: str, color: str | None, stars: int
) -> None:
    page = productpage(apps, backends.details, backends.reviews[version])
    reply = fetch(f"{page.url}/productpage")
    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("text/html")
    html = reply.text
    assert "The Comedy of Errors" in html
    assert "Book Details" in html and "paperback" in html and "123-1234567890" in html
    assert "Book Reviews" in html and "Reviewer1" in html and "Reviewer2" in html
    assert f"Reviews served by: <u>reviews-{version}-0</u>" in html
    assert full_stars(html) == stars
    colors = re.findall(r'<font color="(\w+)">', html)
    assert colors == ([color, color] if color else [])
    assert "Sign in" in html  # nobody is signed in


def test_login_sets_session_and_forwards_end_user_to_reviews_and_ratings(
    apps: AppRunner, recorders: list[RecordingServer]
) -> None:
    details = RecordingServer([(200, {"id": 0, "type": "paperback"})]).start()
    ratings = RecordingServer([(200, {"id": 0, "ratings": {"Reviewer1": 2, "Reviewer2": 3}})])
    recorders.extend([details, ratings.start()])
    reviews = apps.start(
        REVIEWS, {**VERSION_ENV["v2"], "POD_NAME": "reviews-v2-7", **wiring("ratings", ratings)}
    )
    page = productpage(apps, details, reviews)

    form = urllib.parse.urlencode({"username": "jason", "passwd": "secret"}).encode()
    login = fetch(
        f"{page.url}/login",
        "POST",
        {"Content-Type": "application/x-www-form-urlencoded"},
        body=form,
    )
    assert login.status in (302, 303)
    assert login.headers["Location"].endswith("/productpage")
    cookie = login.headers["Set-Cookie"].split(";")[0]
    assert cookie.startswith("session=")

    html = fetch(f"{page.url}/productpage", headers={"Cookie": cookie, **TRACE_HEADERS}).text
    assert "jason" in html and "sign out" in html
    assert full_stars(html) == 5
    assert "Reviews served by: <u>reviews-v2-7</u>" in html

    for recorder in (details, ratings):
        path, headers = recorder.requests[-1]
        assert path.endswith("/0")
        assert headers["end-user"] == "jason"
        for name, value in TRACE_HEADERS.items():
            assert headers[name] == value, (recorder, name)
    assert cookie in ratings.requests[-1][1]["cookie"]

    logout = fetch(f"{page.url}/logout", headers={"Cookie": cookie})
    assert logout.status in (302, 303)
    cleared = logout.headers["Set-Cookie"]
    assert cleared.startswith("session=;") and "Max-Age=0" in cleared

    fetch(f"{page.url}/productpage")
    assert "end-user" not in ratings.requests[-1][1]


def test_productpage_degrades_when_details_are_down(
    apps: AppRunner, backends: Backends, refused_address: tuple[str, int]
) -> None:
    page = productpage(apps, refused_address, backends.reviews["v3"])
    html = fetch(f"{page.url}/productpage").text
    assert "Error fetching product details!" in html
    assert "Sorry, product details are currently unavailable for this book." in html
    assert "Reviews served by: <u>reviews-v3-0</u>" in html
    assert fetch(f"{page.url}/api/v1/products/0").status == 500


def test_productpage_degrades_when_reviews_are_down(
    apps: AppRunner, backends: Backends, refused_address: tuple[str, int]
) -> None:
    page = productpage(apps, backends.details, refused_address)
    html = fetch(f"{page.url}/productpage").text
    assert "Error fetching product reviews!" in html
    assert "Sorry, product reviews are currently unavailable for this book." in html
    assert "Book Details" in html
    assert fetch(f"{page.url}/api/v1/products/0/reviews").status == 500


def test_productpage_tries_reviews_twice(
    apps: AppRunner, backends: Backends, recorders: list[RecordingServer]
) -> None:
    good = fetch(f"{backends.reviews['v1'].url}/reviews/0").json()
    flaky = RecordingServer([(503, {}), (200, good)]).start()
    broken = RecordingServer([(503, {})]).start()
    recorders.extend([flaky, broken])

    html = fetch(f"{productpage(apps, backends.details, flaky).url}/productpage").text
    assert "Reviews served by: <u>reviews-v1-0</u>" in html
    assert len(flaky.requests) == 2

    reply = fetch(f"{productpage(apps, backends.details, broken).url}/api/v1/products/0/reviews")
    assert reply.status == 503
    assert reply.json() == {
        "error": "Sorry, product reviews are currently unavailable for this book."
    }
    assert len(broken.requests) == 2


def test_productpage_api_and_static(apps: AppRunner, backends: Backends) -> None:
    page = productpage(
        apps, backends.details, backends.reviews["v2"], **wiring("ratings", backends.ratings)
    )
    products = fetch(f"{page.url}/api/v1/products").json()
    assert products[0]["id"] == 0 and products[0]["title"] == "The Comedy of Errors"
    assert fetch(f"{page.url}/api/v1/products/0").json()["ISBN-10"] == "1234567890"
    reviews = fetch(f"{page.url}/api/v1/products/0/reviews").json()
    assert reviews["podname"] == "reviews-v2-0"
    assert fetch(f"{page.url}/api/v1/products/0/ratings").json()["ratings"]["Reviewer2"] == 4
    assert fetch(f"{page.url}/health").status == 200
    css = fetch(f"{page.url}/static/bookinfo.css")
    assert css.status == 200 and css.headers["Content-Type"] == "text/css"
    assert fetch(f"{page.url}/static/../productpage.py").status == 404
    assert fetch(f"{page.url}/login").status == 405


def test_apps_call_peers_by_service_name_through_http_proxy(
    apps: AppRunner, backends: Backends, recorders: list[RecordingServer]
) -> None:
    """In the mesh, HTTP_PROXY is the sidecar: calls go to it as `GET http://details:9080/...`."""
    details = fetch(f"{backends.details.url}/details/0").json()
    reviews = fetch(f"{backends.reviews['v1'].url}/reviews/0").json()
    sidecar = RecordingServer([(200, details), (200, reviews), (200, {"ratings": {}})]).start()
    recorders.append(sidecar)
    proxy = {"HTTP_PROXY": f"http://{sidecar.host}:{sidecar.port}"}
    page = apps.start(PRODUCTPAGE, {**proxy, "POD_NAME": "productpage-v1-0"})
    html = fetch(f"{page.url}/productpage").text
    assert "Book Details" in html and "Reviews served by: <u>reviews-v1-0</u>" in html
    reviews_v2 = apps.start(REVIEWS, {**VERSION_ENV["v2"], "http_proxy": proxy["HTTP_PROXY"]})
    fetch(f"{reviews_v2.url}/reviews/4")
    assert [(path, headers["host"]) for path, headers in sidecar.requests] == [
        ("http://details:9080/details/0", "details:9080"),
        ("http://reviews:9080/reviews/0", "reviews:9080"),
        ("http://ratings:9080/ratings/4", "ratings:9080"),
    ]
