"""The API reference reads a 3.0 copy of the document: valid 3.0, the same operations."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi.testclient import TestClient
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

from daytwo.http.openapi30 import downgrade


def test_the_reference_page_reads_a_valid_3_0_copy_with_every_operation(
    anon_client: TestClient,
) -> None:
    page = anon_client.get("/api/docs")
    assert page.status_code == 200
    assert 'data-openapi-url="/api/docs/openapi-3.0.json"' in page.text
    original = anon_client.get("/api/openapi.json").json()
    copy = anon_client.get("/api/docs/openapi-3.0.json").json()
    assert original["openapi"].startswith("3.1")
    assert copy["openapi"] == "3.0.3"
    validate(copy)  # raises on anything 3.0 does not allow
    assert "(/api/openapi.json)" in copy["info"]["description"]  # where clients read 3.1
    assert {p: sorted(ops) for p, ops in copy["paths"].items()} == {
        p: sorted(ops) for p, ops in original["paths"].items()
    }
    assert copy["components"]["securitySchemes"] == original["components"]["securitySchemes"]
    assert not list(_forms_of_3_1(copy["components"]["schemas"]))


def _forms_of_3_1(node: object) -> Iterator[object]:
    """The schemas in ``node`` written in a form only 3.1 has."""
    if isinstance(node, list):
        for item in node:
            yield from _forms_of_3_1(item)
    elif isinstance(node, dict):
        if node.get("type") == "null" or isinstance(node.get("type"), list):
            yield node
        if {"const", "prefixItems", "examples"} & node.keys():
            yield node
        for key, value in node.items():
            if key == "properties":  # names of fields, each with its schema
                yield from _forms_of_3_1(list(value.values()))
            else:
                yield from _forms_of_3_1(value)


def test_the_3_1_forms_are_written_the_3_0_way() -> None:
    document = {
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1"},
        "paths": {},
        "components": {
            "schemas": {
                "A": {"type": "object", "properties": {"n": {"type": "integer"}}},
                "B": {
                    "type": "object",
                    "properties": {
                        "ref": {"anyOf": [{"$ref": "#/components/schemas/A"}, {"type": "null"}]},
                        "text": {"anyOf": [{"type": "string"}, {"type": "null"}], "title": "T"},
                        "many": {"anyOf": [{"type": "string"}, {"type": "integer"},
                                           {"type": "null"}]},
                        "kind": {"const": "x"},
                        "pair": {"type": ["string", "null"]},
                        "score": {"type": "number", "exclusiveMinimum": 0},
                        "said": {"type": "string", "examples": ["hello", "bye"]},
                        "at": {"type": "array", "prefixItems": [{"type": "string"},
                                                                {"type": "string"}]},
                    },
                },
            }
        },
    }  # fmt: skip
    before = str(document)
    out = downgrade(document)
    assert str(document) == before  # the 3.1 document is left as it is
    b = out["components"]["schemas"]["B"]["properties"]
    assert b["ref"] == {"allOf": [{"$ref": "#/components/schemas/A"}], "nullable": True}
    assert b["text"] == {"type": "string", "title": "T", "nullable": True}
    assert b["many"] == {"anyOf": [{"type": "string"}, {"type": "integer"}], "nullable": True}
    assert b["kind"] == {"enum": ["x"]}
    assert b["pair"] == {"type": "string", "nullable": True}
    assert b["score"] == {"type": "number", "minimum": 0, "exclusiveMinimum": True}
    assert b["said"] == {"type": "string", "example": "hello"}
    assert b["at"] == {"type": "array", "items": {"type": "string"}}
    validate(out)
    try:
        validate({**document, "openapi": "3.0.3"})  # the 3.1 forms are not 3.0
    except OpenAPIValidationError:
        pass
    else:
        raise AssertionError("the validator took 3.1 forms as 3.0")
