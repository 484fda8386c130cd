"""The API reference's copy of the OpenAPI document, written as OpenAPI 3.0.

FastAPI writes OpenAPI 3.1 (``/api/openapi.json``, what clients and generators read). The
Swagger UI of ``/api/docs`` reads a 3.1 document through a much slower resolver: on the
whole daytwo API it lists the operations about 2 s later than it does for the same document
in 3.0. So the reference page reads this copy, where the 3.1 forms FastAPI emits are written
the 3.0 way:

- ``anyOf: [X, {"type": "null"}]`` and ``type: [t, "null"]`` become X / t with
  ``nullable: true`` (a ``$ref`` is wrapped in ``allOf`` to carry it);
- ``const: v`` becomes ``enum: [v]``; a list of ``examples`` in a schema becomes its first
  ``example``;
- a tuple's ``prefixItems`` become ``items`` that may be any of them;
- the document's ``info.summary`` opens its description;
- a numeric ``exclusiveMinimum`` / ``exclusiveMaximum`` becomes the bound with the boolean.

Nothing else changes: paths, operations, descriptions and security are the same document.
"""

from __future__ import annotations

import copy
from typing import Any

_NULL = {"type": "null"}


def downgrade(document: dict[str, Any]) -> dict[str, Any]:
    """A 3.0 copy of the 3.1 ``document`` (which is left as it is)."""
    out = copy.deepcopy(document)
    out["openapi"] = "3.0.3"
    out.pop("jsonSchemaDialect", None)
    out.pop("webhooks", None)
    info = out.get("info", {})
    if "summary" in info:  # 3.1 only: said first in the description
        summary = info.pop("summary")
        info["description"] = "\n\n".join(x for x in (summary, info.get("description")) if x)
    components = out.get("components", {})
    for name, schema in list(components.get("schemas", {}).items()):
        components["schemas"][name] = _schema(schema)
    for operations in out.get("paths", {}).values():
        for operation in operations.values():
            if isinstance(operation, dict):
                _operation(operation)
    return out


def _operation(operation: dict[str, Any]) -> None:
    for parameter in operation.get("parameters", []):
        if "schema" in parameter:
            parameter["schema"] = _schema(parameter["schema"])
    bodies = [operation.get("requestBody", {}), *operation.get("responses", {}).values()]
    for body in bodies:
        for media in body.get("content", {}).values():
            if "schema" in media:
                media["schema"] = _schema(media["schema"])


def _schema(schema: Any) -> Any:
    """``schema`` (and every schema inside it) in 3.0 form."""
    if isinstance(schema, list):
        return [_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    nullable = {
        key
        for key in ("anyOf", "oneOf")
        if isinstance(schema.get(key), list) and _NULL in schema[key]
    }  # judged before the options are rewritten (a rewritten null option is no longer one)
    schema = {
        key: [_schema(o) for o in value if o != _NULL] if key in nullable else _schema(value)
        for key, value in schema.items()
    }
    for key in nullable:
        rest = schema.pop(key)
        if len(rest) == 1:
            only = rest[0]
            if "$ref" in only:  # 3.0 ignores what sits beside a $ref
                only = {"allOf": [only]}
            schema = {**only, **schema}
        elif rest:
            schema[key] = rest
        schema["nullable"] = True
    kind = schema.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"]
        if len(kinds) < len(kind):
            schema["nullable"] = True
        if len(kinds) == 1:
            schema["type"] = kinds[0]
        else:
            del schema["type"]
            schema["anyOf"] = [{"type": k} for k in kinds]
    elif kind == "null":
        del schema["type"]
        schema["nullable"] = True
    prefix = schema.pop("prefixItems", None)
    if isinstance(prefix, list) and prefix:  # a tuple: 3.0 says only what each item may be
        distinct = [p for i, p in enumerate(prefix) if p not in prefix[:i]]
        schema.setdefault("items", distinct[0] if len(distinct) == 1 else {"anyOf": distinct})
    if "const" in schema:
        schema["enum"] = [schema.pop("const")]
    examples = schema.get("examples")
    if isinstance(examples, list):
        del schema["examples"]
        if examples:
            schema.setdefault("example", examples[0])
    for bound, limit in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        value = schema.get(bound)
        if isinstance(value, int | float) and not isinstance(value, bool):
            schema[limit] = value
            schema[bound] = True
    return schema
