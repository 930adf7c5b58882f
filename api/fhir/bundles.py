"""Searchset bundles: the matches and opaque ``self`` / ``next`` links — never a
``total`` (a count of what the caller may see would be the least of it: hapi-fhir's
counts leaked hidden resources)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlencode

from fastapi import Request

from api.fhir.outcome import FHIR_BASE


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/") + FHIR_BASE


def searchset(
    request: Request, resources: Iterable[dict[str, Any]], next_cursor: str | None
) -> dict[str, Any]:
    base = base_url(request)
    links = [{"relation": "self", "url": str(request.url)}]
    if next_cursor is not None:
        kept = [(k, v) for k, v in request.query_params.multi_items() if k != "_cursor"]
        query = urlencode([*kept, ("_cursor", next_cursor)])
        links.append(
            {"relation": "next", "url": f"{base}{request.url.path[len(FHIR_BASE) :]}?{query}"}
        )
    entries = [
        {
            "fullUrl": f"{base}/{r['resourceType']}/{r['id']}",
            "resource": r,
            "search": {"mode": "match"},
        }
        for r in resources
    ]
    return {"resourceType": "Bundle", "type": "searchset", "link": links, "entry": entries}
