"""The OpenAPI document against the real app: every response of every operation declares
its content with a schema, errors as JSON whatever the route's own media type, and
every GET answers (with a token and without one) what the document says it answers."""

from __future__ import annotations

from typing import Any

import httpx
import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from tests.integration.api.kit import LiveServer, Operators

SPEC = "urn:quorum-openapi"


def validator(doc: dict[str, Any], schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    """A validator of ``schema`` whose ``#/components/...`` refs resolve in ``doc``."""
    registry: Registry[Any] = Registry().with_resource(
        SPEC, Resource.from_contents(doc, default_specification=DRAFT202012)
    )
    if "$ref" in schema:
        schema = {"$ref": SPEC + schema["$ref"]}
    return jsonschema.Draft202012Validator(schema, registry=registry)


def test_openapi_when_walked_then_every_response_declares_a_schema_and_errors_are_json(
    live: tuple[LiveServer, Operators],
) -> None:
    doc = httpx.get(live[0].url + "/openapi.json").json()
    missing, not_json = [], []
    for path, item in doc["paths"].items():
        for method, op in item.items():
            for status, response in op["responses"].items():
                content = response.get("content") or {}
                where = f"{method.upper()} {path} {status}"
                if not content or not all(c.get("schema") for c in content.values()):
                    missing.append(where)
                if status.startswith(("4", "5")) and set(content) != {"application/json"}:
                    not_json.append(f"{where}: {sorted(content)}")
    assert not missing, f"responses without a schema: {missing}"
    assert not not_json, f"errors declared as something else than JSON: {not_json}"


def test_openapi_when_every_get_is_called_then_answers_validate_against_the_document(
    live: tuple[LiveServer, Operators], ops: Operators
) -> None:
    server = live[0]
    doc = httpx.get(server.url + "/openapi.json").json()
    orders = httpx.get(
        server.url + "/api/v1/orders", params={"scope": "all"}, headers=ops.header("vic")
    ).json()["data"]["rows"]
    parent = next(o for o in orders if "#" not in o["client_ref"])  # a leg has no chain
    values = {"ref": parent["order_id"], "proposal_id": "p-1", "version": "1"}
    queries = {"/api/v1/config/diff": {"a": 1, "b": 1}}
    checked: list[tuple[str, int]] = []
    with httpx.Client(base_url=server.url, timeout=60) as client:
        for path, item in doc["paths"].items():
            if "get" not in item or path == "/api/v1/feed":  # a stream: test_reads reads it
                continue
            ref = values["ref"] if "explain" in path else "latest"
            url = path.format(**{**values, "ref": ref})
            for headers in (ops.header("vic"), {}):
                r = client.get(url, params=queries.get(path), headers=headers)
                declared = item["get"]["responses"].get(str(r.status_code))
                assert declared, f"GET {url}: {r.status_code} is not in the document"
                media = r.headers["content-type"].split(";")[0]
                assert media in declared["content"], f"GET {url} {r.status_code}: {media}"
                if media == "application/json":
                    schema = declared["content"][media]["schema"]
                    errors = [e.message for e in validator(doc, schema).iter_errors(r.json())]
                    assert not errors, f"GET {url} {r.status_code}: {errors[:3]}"
                checked.append((path, r.status_code))
    assert {p for p, s in checked if s == 200} >= {
        "/api/v1/status",
        "/api/v1/positions",
        "/api/v1/equity",
        "/api/v1/desks",
        "/api/v1/explain/{ref}",
        "/api/v1/cycles/{ref}/report.html",
    }
    assert {s for _, s in checked} >= {200, 401}
