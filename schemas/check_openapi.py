#!/usr/bin/python3
"""Static checks for schemas/openapi.yaml.

Usage: check_openapi.py [OPENAPI_YAML]   (default: openapi.yaml next to this file)

Checks, each counted as one pass or one failure:
  - the file parses as YAML and declares OpenAPI 3.1.x
  - every $ref is local ("#/...") and its target exists
  - every operation has responses, with string status codes ("200", "4XX", "default")
  - every {param} in a path template has a required `in: path` parameter, and vice versa
  - operationIds are unique; security requirements name declared schemes
  - API writes (non-GET under /api/) answer 2xx with an Apexloop-Position header
  - API error responses (4xx/5xx under /api/) are application/problem+json
  - every components.schemas entry is a valid JSON Schema 2020-12 schema (needs jsonschema)
  - every media-type `example` validates against its schema (needs jsonschema)
Prints one line per failure and a final line "N passed, M failed"; exit 1 on any failure.
"""

import os
import re
import sys

import yaml

try:
    import jsonschema
except ImportError:  # the structural checks still run
    jsonschema = None

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
STATUS_RE = re.compile(r"^([1-5][0-9][0-9]|[1-5]XX|default)$")


class Checker:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, ok, message):
        if ok:
            self.passed += 1
        else:
            self.failed += 1
            print(f"FAIL {message}")
        return ok


def walk(node, path=()):
    """Yield (path, dict) for every mapping in the document."""
    if isinstance(node, dict):
        yield path, node
        for k, v in node.items():
            yield from walk(v, path + (str(k),))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from walk(v, path + (str(i),))


def resolve_pointer(doc, ref):
    """Target of a local $ref, or raise KeyError."""
    if ref == "#":
        return doc
    if not ref.startswith("#/"):
        raise KeyError(f"not a local reference: {ref}")
    node = doc
    for token in ref[2:].split("/"):
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(node, list):
            node = node[int(token)]
        elif isinstance(node, dict) and token in node:
            node = node[token]
        else:
            raise KeyError(ref)
    return node


def deref(doc, node):
    seen = 0
    while isinstance(node, dict) and "$ref" in node and seen < 20:
        node = resolve_pointer(doc, node["$ref"])
        seen += 1
    return node


def fmt(path):
    return "/".join(path) or "/"


def operations(doc):
    for path, item in (doc.get("paths") or {}).items():
        for method in METHODS:
            if isinstance(item, dict) and method in item:
                yield path, item, method, item[method]


def check_refs(c, doc):
    for path, node in walk(doc):
        ref = node.get("$ref")
        if not isinstance(ref, str):
            continue
        try:
            resolve_pointer(doc, ref)
            c.check(True, "")
        except (KeyError, IndexError, ValueError):
            c.check(False, f"{fmt(path)}: $ref {ref!r} does not resolve")


def check_operations(c, doc):
    op_ids = {}
    schemes = set(((doc.get("components") or {}).get("securitySchemes") or {}).keys())

    for req in doc.get("security") or []:
        for name in req:
            c.check(name in schemes, f"top-level security: unknown scheme {name!r}")

    for path, item, method, op in operations(doc):
        where = f"{method.upper()} {path}"
        responses = op.get("responses") or {}
        c.check(bool(responses), f"{where}: no responses")
        for code in responses:
            c.check(isinstance(code, str) and STATUS_RE.match(code),
                    f"{where}: status code {code!r} must be a quoted string like '200'")

        # operationId
        op_id = op.get("operationId")
        if c.check(isinstance(op_id, str) and op_id, f"{where}: no operationId"):
            c.check(op_id not in op_ids, f"{where}: operationId {op_id!r} also used by {op_ids.get(op_id)}")
            op_ids[op_id] = where

        # security
        for req in op.get("security") or []:
            for name in req:
                c.check(name in schemes, f"{where}: unknown security scheme {name!r}")

        # path parameters
        params = []
        for p in (item.get("parameters") or []) + (op.get("parameters") or []):
            try:
                params.append(deref(doc, p))
            except KeyError:
                pass  # reported by check_refs
        in_path = {p.get("name") for p in params if isinstance(p, dict) and p.get("in") == "path"}
        template = set(re.findall(r"\{([^}]+)\}", path))
        for name in sorted(template):
            c.check(name in in_path, f"{where}: path parameter {{{name}}} is not declared")
        for p in params:
            if isinstance(p, dict) and p.get("in") == "path":
                c.check(p.get("name") in template and p.get("required") is True,
                        f"{where}: path parameter {p.get('name')!r} not in template or not required")

        if not path.startswith("/api/"):
            continue
        for code, resp in responses.items():
            code = str(code)
            try:
                resp = deref(doc, resp)
            except KeyError:
                continue
            # writes carry Apexloop-Position
            if method != "get" and code.startswith("2"):
                c.check("Apexloop-Position" in (resp.get("headers") or {}) or path == "/api/v1/sessions",
                        f"{where} {code}: write response lacks the Apexloop-Position header")
            # errors are problem+json
            if code[0] in "45":
                c.check("application/problem+json" in (resp.get("content") or {}),
                        f"{where} {code}: error response is not application/problem+json")


def _validator(doc, schema):
    """Validator for a schema whose $refs point into the OpenAPI document."""
    root = {"components": doc.get("components") or {}, "allOf": [schema]}
    return jsonschema.Draft202012Validator(root, format_checker=jsonschema.FormatChecker())


def check_schemas_and_examples(c, doc):
    if jsonschema is None:
        print("note: jsonschema not installed; schema and example checks skipped")
        return
    for name, schema in ((doc.get("components") or {}).get("schemas") or {}).items():
        try:
            jsonschema.Draft202012Validator.check_schema(schema)
            c.check(True, "")
        except jsonschema.SchemaError as e:
            c.check(False, f"components/schemas/{name}: invalid JSON Schema: {e.message}")

    for path, node in walk(doc):
        if "example" not in node or "schema" not in node or "in" in node:
            continue  # media type objects only (parameters have `in`)
        try:
            errors = sorted(_validator(doc, node["schema"]).iter_errors(node["example"]),
                            key=lambda e: list(e.absolute_path))
        except Exception as e:  # unresolvable ref etc.; also reported by check_refs
            c.check(False, f"{fmt(path)}: cannot validate example: {e}")
            continue
        detail = "; ".join(f"{'/'.join(map(str, e.absolute_path)) or '/'}: {e.message}" for e in errors[:3])
        c.check(not errors, f"{fmt(path)}: example does not match its schema: {detail}")


def main(argv):
    path = argv[0] if argv else os.path.join(os.path.dirname(os.path.abspath(__file__)), "openapi.yaml")
    c = Checker()
    try:
        with open(path, encoding="utf-8") as f:
            doc = yaml.safe_load(f)
    except (OSError, yaml.YAMLError) as e:
        c.check(False, f"{path}: cannot load: {e}")
        print(f"{c.passed} passed, {c.failed} failed")
        return 1

    if c.check(isinstance(doc, dict), f"{path}: top level is not a mapping"):
        c.check(str(doc.get("openapi", "")).startswith("3.1."), "openapi must be 3.1.x")
        c.check(isinstance(doc.get("info"), dict) and "title" in doc["info"] and "version" in doc["info"],
                "info.title and info.version are required")
        c.check(isinstance(doc.get("paths"), dict) and doc["paths"], "no paths")
        check_refs(c, doc)
        check_operations(c, doc)
        check_schemas_and_examples(c, doc)

    print(f"{c.passed} passed, {c.failed} failed")
    return 0 if c.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
