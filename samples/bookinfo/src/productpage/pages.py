"""HTML of the Bookinfo product page and index, in the spirit of Istio's templates; pure functions.

Owns: turning (product, details reply, reviews reply, signed-in user) into the page a browser
shows. Every value that came from another service or from the user is escaped.
"""

from __future__ import annotations

from html import escape
from typing import Any

DETAILS_ERROR_TITLE = "Error fetching product details!"
REVIEWS_ERROR_TITLE = "Error fetching product reviews!"
DETAIL_FIELDS = (
    ("Author", "author"),
    ("Year", "year"),
    ("Type", "type"),
    ("Pages", "pages"),
    ("Publisher", "publisher"),
    ("Language", "language"),
    ("ISBN-10", "ISBN-10"),
    ("ISBN-13", "ISBN-13"),
)


def _layout(title: str, user: str, body: str) -> str:
    if user:
        account = (
            f'<span class="user">Signed in as <b>{escape(user)}</b> '
            '(<a href="/logout">sign out</a>)</span>'
        )
    else:
        account = (
            '<form class="login" method="post" action="/login" name="login_form">'
            '<input type="text" name="username" placeholder="User Name"> '
            '<input type="password" name="passwd" placeholder="Password"> '
            '<button type="submit">Sign in</button></form>'
        )
    return (
        '<!DOCTYPE html>\n<html>\n<head>\n<meta charset="utf-8">\n'
        f"<title>{escape(title)}</title>\n"
        '<link rel="stylesheet" href="/static/bookinfo.css">\n</head>\n<body>\n'
        f'<nav><a class="brand" href="/">BookInfo Sample</a> {account}</nav>\n'
        f"{body}\n</body>\n</html>\n"
    )


def _details_html(status: int, details: Any) -> str:
    if status == 200 and isinstance(details, dict):
        rows = "".join(
            f"<dt>{label}:</dt><dd>{escape(str(details.get(key, '')))}</dd>\n"
            for label, key in DETAIL_FIELDS
        )
        return f"<h4>Book Details</h4>\n<dl>\n{rows}</dl>"
    message = details.get("error", "") if isinstance(details, dict) else ""
    return f"<h4>{DETAILS_ERROR_TITLE}</h4>\n<p>{escape(str(message))}</p>"


def _stars_html(rating: Any) -> str:
    if not isinstance(rating, dict):
        return ""
    stars = rating.get("stars")
    if isinstance(stars, int) and not isinstance(stars, bool):
        count = max(0, min(5, stars))
        color = escape(str(rating.get("color", "black")))
        full = '<span class="star full">&#9733;</span>' * count
        empty = '<span class="star empty">&#9734;</span>' * (5 - count)
        return f'\n<font color="{color}">{full}{empty}</font>'
    if rating.get("error"):
        return f"\n<p><i>{escape(str(rating['error']))}</i></p>"
    return ""


def _reviews_html(status: int, reviews: Any) -> str:
    if status != 200 or not isinstance(reviews, dict):
        message = reviews.get("error", "") if isinstance(reviews, dict) else ""
        return f"<h4>{REVIEWS_ERROR_TITLE}</h4>\n<p>{escape(str(message))}</p>"
    quotes = []
    for review in reviews.get("reviews") or []:
        if not isinstance(review, dict):
            continue
        quotes.append(
            f"<blockquote>\n<p>{escape(str(review.get('text', '')))}</p>\n"
            f"<small>{escape(str(review.get('reviewer', '')))}</small>"
            f"{_stars_html(review.get('rating'))}\n</blockquote>"
        )
    served_by = ""
    if reviews.get("podname"):
        cluster = str(reviews.get("clustername") or "null")
        on_cluster = "" if cluster == "null" else f" on cluster <u>{escape(cluster)}</u>"
        served_by = (
            f"\n<p><small>Reviews served by: <u>{escape(str(reviews['podname']))}</u>"
            f"{on_cluster}</small></p>"
        )
    return "<h4>Book Reviews</h4>\n" + "\n".join(quotes) + served_by


def product_page(
    product: dict[str, Any],
    user: str,
    details: tuple[int, Any],
    reviews: tuple[int, Any],
) -> str:
    """The /productpage HTML: summary, then details and reviews (or their error messages)."""
    body = (
        '<div class="product">\n'
        f"<h3>{escape(str(product['title']))}</h3>\n"
        f"<p>Summary: {product['descriptionHtml']}</p>\n</div>\n"  # trusted, static HTML
        f'<div class="columns">\n<div class="details">\n{_details_html(*details)}\n</div>\n'
        f'<div class="reviews">\n{_reviews_html(*reviews)}\n</div>\n</div>'
    )
    return _layout("Simple Bookstore App", user, body)


def index_page(user: str, services: list[tuple[str, str]]) -> str:
    """The landing page: links for a normal and a test user, and the services the page calls."""
    rows = "".join(
        f"<tr><td>{escape(name)}</td><td>{escape(url)}</td></tr>\n" for name, url in services
    )
    body = (
        "<h3>Bookinfo: a product page that calls the services below</h3>\n"
        f"<table>\n<tr><th>service</th><th>address</th></tr>\n{rows}</table>\n"
        "<p>Open the product page as:</p>\n"
        '<p><a href="/productpage?u=normal">Normal user</a></p>\n'
        '<p><a href="/productpage?u=test">Test user</a></p>'
    )
    return _layout("Simple Bookstore App", user, body)
