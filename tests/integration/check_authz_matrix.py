#!/usr/bin/python3
"""Checks that tests/integration/authz_matrix.tsv covers every route.

Usage: check_authz_matrix.py REPO_ROOT

The routes are what command-service/src/app.cpp and query-service/src/app.cpp register with
`router->add(bhttp::verb::X, "/api/...")`. Each must appear in the matrix for every principal,
every matrix endpoint must be such a route, and each route must be an operation of
schemas/openapi.yaml. Prints one line per failure and "N passed, M failed"; exit 1 on any failure.
"""

import os
import re
import sys

import yaml

PRINCIPALS = {"none", "garbage", "admin", "member", "auditor", "contact_own", "contact_other", "foreign_admin"}
ROUTE_RE = re.compile(r'router->add\(bhttp::verb::(\w+?)_?, "(/api/[^"]+)"')


def main(root):
    passed = failed = 0

    def check(ok, message):
        nonlocal passed, failed
        if ok:
            passed += 1
        else:
            failed += 1
            print(f"FAIL {message}")
        return ok

    routes = set()
    for src in ("command-service/src/app.cpp", "query-service/src/app.cpp"):
        with open(os.path.join(root, src), encoding="utf-8") as f:
            for verb, path in ROUTE_RE.findall(f.read()):
                routes.add(f"{verb.upper()} {path}")
    check(len(routes) >= 20, f"found only {len(routes)} routes in the sources")

    matrix = {}
    with open(os.path.join(root, "tests/integration/authz_matrix.tsv"), encoding="utf-8") as f:
        lines = [l.rstrip("\n") for l in f if l.strip() and not l.startswith("#")]
    check(lines and lines[0] == "endpoint\tprincipal\tstatus", "the header is endpoint, principal, status")
    for line in lines[1:]:
        parts = line.split("\t")
        if not check(len(parts) == 3 and re.fullmatch(r"[1-5][0-9][0-9]", parts[2] or ""), f"bad line: {line!r}"):
            continue
        endpoint, principal, _ = parts
        check(principal in PRINCIPALS, f"unknown principal {principal!r}")
        matrix.setdefault(endpoint.split("#")[0], {}).setdefault(endpoint, set()).add(principal)

    for route in sorted(routes):
        check(route in matrix, f"route {route} is not in the matrix")
    for route, variants in sorted(matrix.items()):
        check(route in routes, f"matrix endpoint {route} is no route of the services")
        for endpoint, principals in sorted(variants.items()):
            check(principals == PRINCIPALS, f"{endpoint} misses principals {sorted(PRINCIPALS - principals)}")

    with open(os.path.join(root, "schemas/openapi.yaml"), encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    documented = {f"{m.upper()} {p}" for p, ops in doc["paths"].items() if p.startswith("/api/")
                  for m in ops if m in ("get", "post", "put", "patch", "delete")}
    for route in sorted(routes):
        check(route in documented, f"route {route} is not in schemas/openapi.yaml")
    for op in sorted(documented - routes):
        check(False, f"openapi.yaml documents {op}, which no service serves")

    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "../..")))
