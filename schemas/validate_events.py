#!/usr/bin/python3
"""Validate event-log messages against the JSON Schemas in schemas/events/.

Usage:
  validate_events.py SCHEMA_DIR NDJSON_FILE [--min-types N] [--require-types a,b,c]
  validate_events.py --self-test SCHEMA_DIR

NDJSON_FILE holds one Kafka message value (one event) per line; blank lines are
skipped. Each event is checked against SCHEMA_DIR/<type>.v<v>.json, which
$refs SCHEMA_DIR/envelope.v1.json (and, for the access-model events,
SCHEMA_DIR/defs.v1.json); every *.json of SCHEMA_DIR is loaded into the $ref
store by its $id. One line is printed per invalid event, then
a final summary line "N passed, M failed".

Exit status 1 if any event failed, if the file holds no events, if fewer than
--min-types distinct event types passed, or if a --require-types type has no
passing event. --self-test checks embedded good and bad examples instead.

Only the standard library and jsonschema (Debian python3-jsonschema) are used.
"""

import argparse
import copy
import json
import os
import re
import sys

import jsonschema

TYPE_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
EVENT_FILE_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+\.v[1-9][0-9]*\.json$")
MAX_ERRORS_PER_EVENT = 3
MAX_MESSAGE_CHARS = 300


# --------------------------------------------------------------------------
# Loading schemas
# --------------------------------------------------------------------------

class SchemaSet:
    """All *.json schemas of one directory, resolvable by their $id."""

    def __init__(self, schema_dir):
        self.dir = schema_dir
        self.by_file = {}   # file name -> schema
        self.store = {}     # $id -> schema
        for name in sorted(os.listdir(schema_dir)):
            if not name.endswith(".json"):
                continue
            with open(os.path.join(schema_dir, name), encoding="utf-8") as f:
                schema = json.load(f)
            jsonschema.Draft202012Validator.check_schema(schema)
            self.by_file[name] = schema
            if "$id" in schema:
                self.store[schema["$id"]] = schema
        if "envelope.v1.json" not in self.by_file:
            raise SystemExit(f"{schema_dir}: envelope.v1.json not found")
        self._validators = {}

    def event_files(self):
        """Files named <type>.v<N>.json; envelope.v1.json and defs.v1.json (shared
        $defs, loaded only to resolve $refs) are not event schemas."""
        return [n for n in self.by_file if EVENT_FILE_RE.match(n)]

    def validator_for(self, etype, version):
        """Validator for (type, v), or None if there is no such schema."""
        if not isinstance(etype, str) or not TYPE_RE.match(etype):
            return None
        if type(version) is not int or version < 1:
            return None
        name = f"{etype}.v{version}.json"
        if name not in self.by_file:
            return None
        if name not in self._validators:
            self._validators[name] = self._make_validator(self.by_file[name])
        return self._validators[name]

    def _make_validator(self, schema):
        format_checker = jsonschema.FormatChecker()
        try:  # jsonschema >= 4.18
            from referencing import Registry, Resource
            registry = Registry().with_resources(
                (uri, Resource.from_contents(s)) for uri, s in self.store.items())
            return jsonschema.Draft202012Validator(
                schema, registry=registry, format_checker=format_checker)
        except ImportError:  # Debian bookworm: jsonschema 4.10
            resolver = jsonschema.RefResolver.from_schema(schema, store=self.store)
            return jsonschema.Draft202012Validator(
                schema, resolver=resolver, format_checker=format_checker)


# --------------------------------------------------------------------------
# Checking one event
# --------------------------------------------------------------------------

def _short(text):
    text = " ".join(str(text).split())
    return text if len(text) <= MAX_MESSAGE_CHARS else text[:MAX_MESSAGE_CHARS] + "..."


def _where(error):
    path = "".join(f"[{p}]" if isinstance(p, int) else f"/{p}" for p in error.absolute_path)
    return path or "/"


def _error_key(error):
    # Deepest, most specific errors first; then a stable order.
    return (-len(error.absolute_path), _where(error), error.message)


def check_event(schemas, event):
    """Return a list of error strings (empty if the event is valid)."""
    if not isinstance(event, dict):
        return [f"event is not a JSON object but {type(event).__name__}"]
    etype, version = event.get("type"), event.get("v")
    if "type" not in event or "v" not in event:
        return ["event has no 'type' or no 'v'"]
    validator = schemas.validator_for(etype, version)
    if validator is None:
        return [f"unknown event type/version: type={json.dumps(etype)} v={json.dumps(version)}"]
    errors = sorted(validator.iter_errors(event), key=_error_key)
    return [f"{_where(e)}: {_short(e.message)}" for e in errors]


def check_line(schemas, text):
    """Parse and check one NDJSON line; return (type or None, errors)."""
    try:
        event = json.loads(text)
    except ValueError as e:
        return None, [f"not valid JSON: {e}"]
    errors = check_event(schemas, event)
    return (event.get("type") if isinstance(event, dict) else None), errors


def format_errors(errors):
    shown = errors[:MAX_ERRORS_PER_EVENT]
    more = len(errors) - len(shown)
    return "; ".join(shown) + (f" (+{more} more)" if more > 0 else "")


# --------------------------------------------------------------------------
# Validating a file
# --------------------------------------------------------------------------

def validate_file(schema_dir, path, min_types, require_types):
    schemas = SchemaSet(schema_dir)
    passed = failed = 0
    seen_types = set()
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            etype, errors = check_line(schemas, line)
            if errors:
                failed += 1
                print(f"line {lineno}: {format_errors(errors)}")
            else:
                passed += 1
                seen_types.add(etype)

    ok = failed == 0
    if passed + failed == 0:
        print(f"{path}: no events")
        ok = False
    if min_types is not None and len(seen_types) < min_types:
        print(f"only {len(seen_types)} distinct valid event types, need {min_types}: "
              f"{', '.join(sorted(seen_types)) or '-'}")
        ok = False
    missing = [t for t in require_types if t not in seen_types]
    if missing:
        print(f"required event types missing: {', '.join(missing)}")
        ok = False
    print(f"{passed} passed, {failed} failed")
    return 0 if ok else 1


# --------------------------------------------------------------------------
# Self-test: embedded good and bad examples
# --------------------------------------------------------------------------

WS = "0190f5a0-0000-4000-8000-00000000a001"            # any version
USER = "0190f5a0-0000-4000-8000-00000000b001"
RECORD = "0190f5a2-1c3d-7e4f-9a0b-1c2d3e4f5a6b"
CORR = "0190f5a2-0000-7000-8000-000000000c01"
CLIENT = "0190f5a3-0000-7000-8000-00000000c001"
CONTACT = "0190f5a3-0000-7000-8000-00000000d001"
MEMBER = "0190f5a3-0000-7000-8000-00000000b002"

# A policy exercising every filter shape: combinators, a scalar, an array, a variable, no value.
POLICY = {
    "read": {
        "columns": ["title", "status", "due"],
        "filter": {"all": [
            {"field": "status", "op": "in", "value": ["open", "done"]},
            {"not": {"field": "title", "op": "is_empty"}},
            {"any": [{"field": "due", "op": "lte", "value": {"var": "now"}},
                     {"field": "updated_at", "op": "gte", "value": "2024-01-01T00:00:00.000Z"},
                     {"field": "requester", "op": "eq", "value": {"var": "contact.id"}}]},
        ]},
    },
    "write": {"columns": ["status"], "create": False,
              "filter": {"field": "status", "op": "eq", "value": "open"}},
    "comment": True,
    "approve": False,
}


def _event(eid_suffix, etype, stream, seq, data, actor=None, causation=""):
    return {
        "id": f"0190f5a2-1c3d-7e4f-8a0b-{eid_suffix:012x}",
        "type": etype,
        "v": 1,
        "workspace": WS,
        "stream": stream,
        "seq": seq,
        "at": "2024-07-15T09:30:12.345Z",
        "actor": actor or {"kind": "user", "id": USER},
        "correlation": CORR,
        "causation": causation,
        "data": data,
    }


GOOD = {
    "workspace.created": _event(
        1, "workspace.created", f"workspace/{WS}", 1, {"name": "Acme GmbH"},
        actor={"kind": "bootstrap", "id": ""}),
    "user.added": _event(
        2, "user.added", f"user/{USER}", 1,
        {"user_id": USER, "email": "ada@example.com", "name": "Ada Lovelace", "role": "admin"},
        actor={"kind": "bootstrap", "id": ""},
        causation="0190f5a2-1c3d-7e4f-8a0b-000000000001"),
    "database.defined": _event(
        3, "database.defined", "database/projects", 1, {"key": "projects", "name": "Projects"}),
    "column.added": _event(
        4, "column.added", "database/projects", 2,
        {"database": "projects", "key": "status", "name": "Status", "type": "select",
         "options": {"choices": ["open", "done"]}, "internal": False}),
    "record.created": _event(
        5, "record.created", f"record/projects/{RECORD}", 1,
        {"database": "projects", "record_id": RECORD,
         "fields": {"title": "Website relaunch", "status": "open", "budget": 1200.5, "tags": None},
         "idempotency_key": "create-42"}),
    "record.updated": _event(
        6, "record.updated", f"record/projects/{RECORD}", 2,
        {"database": "projects", "record_id": RECORD,
         "changes": {"status": {"before": "open", "after": "done"},
                     "budget": {"before": None, "after": 900}}}),
    "record.deleted": _event(
        7, "record.deleted", f"record/projects/{RECORD}", 3,
        {"database": "projects", "record_id": RECORD},
        actor={"kind": "system", "id": "retention"}),
    "client_type.defined": _event(
        8, "client_type.defined", "client_type/retainer", 1, {"key": "retainer", "name": "Retainer"}),
    "portal_role.defined": _event(
        9, "portal_role.defined", "portal_role/stakeholder", 1, {"key": "stakeholder", "name": "Stakeholder"}),
    "client.created": _event(
        10, "client.created", f"client/{CLIENT}", 1,
        {"client_id": CLIENT, "name": "Globex Ltd", "client_type": "retainer"}),
    "client.updated": _event(
        11, "client.updated", f"client/{CLIENT}", 2,
        {"client_id": CLIENT,
         "changes": {"name": {"before": "Globex Ltd", "after": "Globex Corporation"},
                     "client_type": {"before": "retainer", "after": "enterprise"}}}),
    "client.archived": _event(
        12, "client.archived", f"client/{CLIENT}", 3, {"client_id": CLIENT}),
    "contact.invited": _event(
        13, "contact.invited", f"contact/{CONTACT}", 1,
        {"contact_id": CONTACT, "client_id": CLIENT, "email": "hank@globex.example", "name": "Hank Scorpio",
         "role": "stakeholder", "invitation_expires_at": "2024-07-22T09:30:12.345Z"}),
    "contact.joined": _event(
        14, "contact.joined", f"contact/{CONTACT}", 2, {"contact_id": CONTACT, "name": "Hank"},
        actor={"kind": "contact", "id": CONTACT}),
    "contact.deactivated": _event(
        15, "contact.deactivated", f"contact/{CONTACT}", 3, {"contact_id": CONTACT}),
    "session.ended": _event(
        19, "session.ended", "session/0190f5a2-1c3d-7e4f-8a0b-00000000e5e5", 2,
        {"session_id": "0190f5a2-1c3d-7e4f-8a0b-00000000e5e5", "principal_id": CONTACT, "kind": "contact",
         "expires_at": "2026-12-01T00:00:00.000Z", "reason": "logout"}),
    "user.invited": _event(
        20, "user.invited", f"user/{MEMBER}", 1,
        {"user_id": MEMBER, "email": "grace@example.com", "name": "Grace Hopper", "role": "member",
         "invitation_expires_at": "2024-07-22T09:30:12.345Z"}),
    "user.joined": _event(
        21, "user.joined", f"user/{MEMBER}", 2, {"user_id": MEMBER, "name": "Grace"},
        actor={"kind": "user", "id": MEMBER}),
    "user.deactivated": _event(
        22, "user.deactivated", f"user/{MEMBER}", 3, {"user_id": MEMBER}),
    # Version 2 (events/upcast.hpp): the principal grouped as one object. Version 1, still in the
    # log and upcast on read, is in GOOD_EXTRA.
    "session.started": dict(_event(
        23, "session.started", "session/0190f5a2-1c3d-7e4f-8a0b-00000000e5e5", 1,
        {"session_id": "0190f5a2-1c3d-7e4f-8a0b-00000000e5e5",
         "principal": {"kind": "contact", "id": CONTACT, "role": "stakeholder", "client_id": CLIENT},
         "method": "invitation", "expires_at": "2026-12-01T00:00:00.000Z"},
        actor={"kind": "contact", "id": CONTACT}), v=2),
    "signin.throttled": _event(
        24, "signin.throttled", "signin/0190f5a2-1c3d-7e4f-8a0b-0000000051a1", 1,
        {"email": "ada@example.com", "failures": 10, "locked_until": "2024-07-15T09:31:12.345Z"},
        actor={"kind": "system", "id": "signin"}),
    "policy.set": _event(
        16, "policy.set", "policy/type:retainer/stakeholder/projects", 1,
        {"scope": "type:retainer", "role": "stakeholder", "database": "projects", "policy": POLICY}),
    "policy.removed": _event(
        17, "policy.removed", f"policy/client:{CLIENT}/stakeholder/projects", 2,
        {"scope": f"client:{CLIENT}", "role": "stakeholder", "database": "projects"}),
    "view.defined": _event(
        18, "view.defined", "view/type:retainer/projects/open_items", 1,
        {"scope": "type:retainer", "database": "projects", "view": "open_items",
         "columns": ["title", "status"], "filter": {"field": "status", "op": "ne", "value": "done"},
         "sort": [{"field": "updated_at", "dir": "desc"}, {"field": "title", "dir": "asc"}], "limit": 25}),
    "comment.added": _event(
        25, "comment.added", "comment/0190f5a2-1c3d-7e4f-8a0b-0000000c0001", 1,
        {"comment_id": "0190f5a2-1c3d-7e4f-8a0b-0000000c0001", "database": "projects", "record_id": RECORD,
         "body": "Looks good to me", "visibility": "client"},
        actor={"kind": "contact", "id": CONTACT}),
    "comment.edited": _event(
        26, "comment.edited", "comment/0190f5a2-1c3d-7e4f-8a0b-0000000c0001", 2,
        {"comment_id": "0190f5a2-1c3d-7e4f-8a0b-0000000c0001", "database": "projects", "record_id": RECORD,
         "body": "Looks good to me, ship it"},
        actor={"kind": "contact", "id": CONTACT}),
    "approval.requested": _event(
        28, "approval.requested", "approval/0190f5a2-1c3d-7e4f-8a0b-0000000a0001", 1,
        {"approval_id": "0190f5a2-1c3d-7e4f-8a0b-0000000a0001", "database": "projects", "record_id": RECORD,
         "title": "Homepage design v2", "detail": "See the attached mock-ups"}),
    "approval.decided": _event(
        29, "approval.decided", "approval/0190f5a2-1c3d-7e4f-8a0b-0000000a0001", 2,
        {"approval_id": "0190f5a2-1c3d-7e4f-8a0b-0000000a0001", "database": "projects", "record_id": RECORD,
         "decision": "changes_requested", "comment": "Bigger logo, please"},
        actor={"kind": "contact", "id": CONTACT}),
    "form.defined": _event(
        30, "form.defined", "form/new_request", 1,
        {"key": "new_request", "title": "New request", "database": "projects",
         "fields": [{"column": "title", "label": "What do you need?", "required": True}],
         "client_types": ["retainer"]}),
    "comment.deleted": _event(
        27, "comment.deleted", "comment/0190f5a2-1c3d-7e4f-8a0b-0000000c0001", 3,
        {"comment_id": "0190f5a2-1c3d-7e4f-8a0b-0000000c0001", "database": "projects", "record_id": RECORD},
        actor={"kind": "contact", "id": CONTACT}),
    "file.attached": _event(
        28, "file.attached", "file/0190f5a2-1c3d-7e4f-8a0b-0000000f0001", 1,
        {"file_id": "0190f5a2-1c3d-7e4f-8a0b-0000000f0001", "database": "projects", "record_id": RECORD,
         "column": "contract", "name": "../../etc/passwd \"quoted\"\r\n.pdf", "size": 125829120,
         "content_type": "application/pdf",
         "sha256": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        actor={"kind": "contact", "id": CONTACT}),
    "file.removed": _event(
        31, "file.removed", "file/0190f5a2-1c3d-7e4f-8a0b-0000000f0001", 2,
        {"file_id": "0190f5a2-1c3d-7e4f-8a0b-0000000f0001", "database": "projects", "record_id": RECORD,
         "column": "contract"},
        actor={"kind": "user", "id": USER}),
}


def _bad(base, mutate):
    event = copy.deepcopy(GOOD[base])
    mutate(event)
    return event


def _set(path, value):
    def mutate(event):
        target = event
        for p in path[:-1]:
            target = target[p]
        target[path[-1]] = value
    return mutate


def _drop(path):
    def mutate(event):
        target = event
        for p in path[:-1]:
            target = target[p]
        del target[path[-1]]
    return mutate


# (name, text the error report must contain, event): each bad example must fail,
# and for the intended reason.
BAD = [
    ("file.attached: the bytes never enter the log", "Additional properties",
     _bad("file.attached", _set(["data", "bytes"], "aGVsbG8="))),
    ("file.attached: sha256 not hex", "does not match",
     _bad("file.attached", _set(["data", "sha256"], "../../etc/passwd"))),
    ("file.attached: missing size", "'size' is a required",
     _bad("file.attached", _drop(["data", "size"]))),
    ("file.attached: neither column nor comment", "/data: 'comment_id' is a required",
     _bad("file.attached", _drop(["data", "column"]))),
    ("file.attached: both column and comment", "/data/comment_id: False schema",
     _bad("file.attached", _set(["data", "comment_id"], "0190f5a2-1c3d-7e4f-8a0b-0000000c0001"))),
    ("file.attached: comment_id not a UUID", "/data/comment_id",
     _bad("file.attached", lambda e: (e["data"].pop("column"), e["data"].update({"comment_id": "c1"})))),
    ("file.removed: seq 1", "/seq",
     _bad("file.removed", _set(["seq"], 1))),
    ("file.removed: the file's metadata again", "'name' was unexpected",
     _bad("file.removed", _set(["data", "name"], "contract.pdf"))),
    ("file.removed: neither column nor comment", "/data: 'comment_id' is a required",
     _bad("file.removed", _drop(["data", "column"]))),
    ("envelope: missing 'at'", "'at' is a required",
     _bad("record.created", _drop(["at"]))),
    ("envelope: missing 'correlation'", "'correlation' is a required",
     _bad("workspace.created", _drop(["correlation"]))),
    ("envelope: extra top-level property", "'extra' was unexpected",
     _bad("record.deleted", _set(["extra"], 1))),
    ("data: missing 'name'", "/data: 'name' is a required",
     _bad("database.defined", _drop(["data", "name"]))),
    ("user.added: password_hash in data", "'password_hash' was unexpected",
     _bad("user.added", _set(["data", "password_hash"], "$argon2id$v=19$m=65536,t=3,p=4$x$y"))),
    ("user.added: password in data", "'password' was unexpected",
     _bad("user.added", _set(["data", "password"], "hunter2"))),
    ("user.added: bad role", "/data/role",
     _bad("user.added", _set(["data", "role"], "owner"))),
    ("user.added: bad email", "/data/email",
     _bad("user.added", _set(["data", "email"], "ada at example.com"))),
    ("wrong v (no schema record.updated.v2)", "unknown event type/version",
     _bad("record.updated", _set(["v"], 2))),
    ("v as string", "unknown event type/version",
     _bad("record.updated", _set(["v"], "1"))),
    ("unknown type", "unknown event type/version",
     _bad("record.deleted", _set(["type"], "record.archived"))),
    ("id not UUIDv7 (version 4)", "/id",
     _bad("record.created", _set(["id"], "0190f5a2-1c3d-4e4f-8a0b-000000000005"))),
    ("id uppercase", "/id",
     _bad("record.created", _set(["id"], "0190F5A2-1C3D-7E4F-8A0B-000000000005"))),
    ("id bad variant", "/id",
     _bad("record.created", _set(["id"], "0190f5a2-1c3d-7e4f-ca0b-000000000005"))),
    ("workspace not a UUID", "/workspace",
     _bad("record.created", _set(["workspace"], "acme"))),
    ("record_id not a UUID", "/data/record_id",
     _bad("record.deleted", _set(["data", "record_id"], "42"))),
    ("user.added: user_id without dashes", "/data/user_id",
     _bad("user.added", _set(["data", "user_id"], USER.replace("-", "")))),
    ("causation neither UUID nor empty", "/causation",
     _bad("record.updated", _set(["causation"], "n/a"))),
    ("user actor with empty id", "/actor/id",
     _bad("record.updated", _set(["actor"], {"kind": "user", "id": ""}))),
    ("actor kind unknown", "/actor/kind",
     _bad("record.updated", _set(["actor"], {"kind": "robot", "id": ""}))),
    ("at without milliseconds", "/at",
     _bad("record.created", _set(["at"], "2024-07-15T09:30:12Z"))),
    ("at with offset", "/at",
     _bad("record.created", _set(["at"], "2024-07-15T09:30:12.345+02:00"))),
    ("seq 0", "/seq",
     _bad("record.created", _set(["seq"], 0))),
    ("workspace.created seq 2", "/seq",
     _bad("workspace.created", _set(["seq"], 2))),
    ("record stream on a database event", "/stream",
     _bad("database.defined", _set(["stream"], f"record/projects/{RECORD}"))),
    ("record.updated: empty changes", "/data/changes",
     _bad("record.updated", _set(["data", "changes"], {}))),
    ("record.updated: change without before", "/data/changes/status: 'before'",
     _bad("record.updated", _set(["data", "changes"], {"status": {"after": "done"}}))),
    ("record.updated: change with extra key", "'x' was unexpected",
     _bad("record.updated", _set(["data", "changes"], {"status": {"before": 1, "after": 2, "x": 3}}))),
    ("database.defined: key with uppercase", "/data/key",
     _bad("database.defined", _set(["data", "key"], "Projects"))),
    ("database.defined: key starting with digit", "/data/key",
     _bad("database.defined", _set(["data", "key"], "1projects"))),
    ("database.defined: key too long", "/data/key",
     _bad("database.defined", _set(["data", "key"], "a" * 64))),
    ("column.added: bad column key", "/data/key",
     _bad("column.added", _set(["data", "key"], "due-date"))),
    ("column.added: unknown type", "/data/type",
     _bad("column.added", _set(["data", "type"], "formula"))),
    ("column.added: select without choices", "/data/options",
     _bad("column.added", _set(["data", "options"], {}))),
    ("column.added: missing internal", "'internal' is a required",
     _bad("column.added", _drop(["data", "internal"]))),
    ("record.created: bad field key", "/data/fields",
     _bad("record.created", _set(["data", "fields"], {"Title": "x"}))),
    ("record.created: empty idempotency_key", "/data/idempotency_key",
     _bad("record.created", _set(["data", "idempotency_key"], ""))),
    ("workspace.created: empty name", "/data/name",
     _bad("workspace.created", _set(["data", "name"], ""))),
    ("workspace.created: name too long", "/data/name",
     _bad("workspace.created", _set(["data", "name"], "x" * 201))),
    # client types, portal roles, clients
    ("client_type.defined: bad key", "/data/key",
     _bad("client_type.defined", _set(["data", "key"], "Retainer"))),
    ("client_type.defined: seq 2", "/seq",
     _bad("client_type.defined", _set(["seq"], 2))),
    ("portal_role.defined: client_type stream", "/stream",
     _bad("portal_role.defined", _set(["stream"], "client_type/stakeholder"))),
    ("client.created: missing client_type", "'client_type' is a required",
     _bad("client.created", _drop(["data", "client_type"]))),
    ("client.created: seq 2", "/seq",
     _bad("client.created", _set(["seq"], 2))),
    ("client.created: stream id not a UUID", "/stream",
     _bad("client.created", _set(["stream"], "client/globex"))),
    ("client.updated: empty changes", "/data/changes",
     _bad("client.updated", _set(["data", "changes"], {}))),
    ("client.updated: unknown change", "'email' was unexpected",
     _bad("client.updated", _set(["data", "changes"], {"email": {"before": "a", "after": "b"}}))),
    ("client.updated: change without after", "/data/changes/name: 'after' is a required",
     _bad("client.updated", _set(["data", "changes"], {"name": {"before": "Globex Ltd"}}))),
    ("client.updated: client_type after not a key", "/data/changes/client_type/after",
     _bad("client.updated", _set(["data", "changes", "client_type", "after"], "Enterprise"))),
    ("client.archived: extra data", "'reason' was unexpected",
     _bad("client.archived", _set(["data", "reason"], "churned"))),
    # contacts: no secret ever enters the log
    ("contact.invited: token in data", "'token' was unexpected",
     _bad("contact.invited", _set(["data", "token"], "3q2-7wAAAAB0b2tlbi1leGFtcGxl"))),
    ("contact.invited: invitation_token in data", "'invitation_token' was unexpected",
     _bad("contact.invited", _set(["data", "invitation_token"], "3q2-7wAAAAB0b2tlbi1leGFtcGxl"))),
    ("contact.invited: token_hash in data", "'token_hash' was unexpected",
     _bad("contact.invited", _set(["data", "token_hash"], "sha256:00ff"))),
    ("contact.invited: expiry without milliseconds", "/data/invitation_expires_at",
     _bad("contact.invited", _set(["data", "invitation_expires_at"], "2024-07-22T09:30:12Z"))),
    ("contact.invited: missing invitation_expires_at", "'invitation_expires_at' is a required",
     _bad("contact.invited", _drop(["data", "invitation_expires_at"]))),
    ("contact.invited: role not a key", "/data/role",
     _bad("contact.invited", _set(["data", "role"], "Stakeholder!"))),
    ("contact.invited: client_id not a UUID", "/data/client_id",
     _bad("contact.invited", _set(["data", "client_id"], "globex"))),
    ("contact.invited: seq 2", "/seq",
     _bad("contact.invited", _set(["seq"], 2))),
    ("contact.joined: password in data", "'password' was unexpected",
     _bad("contact.joined", _set(["data", "password"], "hunter2"))),
    ("contact.joined: missing name", "'name' is a required",
     _bad("contact.joined", _drop(["data", "name"]))),
    ("contact.deactivated: user stream", "/stream",
     _bad("contact.deactivated", _set(["stream"], f"user/{CONTACT}"))),
    ("session.ended: token in data", "'token' was unexpected",
     _bad("session.ended", _set(["data", "token"], "ax1.secret"))),
    # internal users and session security events: no secret ever enters the log
    ("user.invited: invitation_token in data", "'invitation_token' was unexpected",
     _bad("user.invited", _set(["data", "invitation_token"], "3q2-7wAAAAB0b2tlbi1leGFtcGxl"))),
    ("user.invited: token_hash in data", "'token_hash' was unexpected",
     _bad("user.invited", _set(["data", "token_hash"], "sha256:00ff"))),
    ("user.invited: portal role", "/data/role",
     _bad("user.invited", _set(["data", "role"], "stakeholder"))),
    ("user.invited: missing expiry", "'invitation_expires_at' is a required",
     _bad("user.invited", _drop(["data", "invitation_expires_at"]))),
    ("user.invited: seq 2", "/seq",
     _bad("user.invited", _set(["seq"], 2))),
    ("user.joined: password in data", "'password' was unexpected",
     _bad("user.joined", _set(["data", "password"], "hunter2"))),
    ("user.joined: contact stream", "/stream",
     _bad("user.joined", _set(["stream"], f"contact/{MEMBER}"))),
    ("user.deactivated: extra data", "'reason' was unexpected",
     _bad("user.deactivated", _set(["data", "reason"], "left"))),
    ("session.started: token in data", "'token' was unexpected",
     _bad("session.started", _set(["data", "token"], "ax1.secret"))),
    ("session.started: password in data", "'password' was unexpected",
     _bad("session.started", _set(["data", "password"], "hunter2"))),
    ("session.started: unknown method", "/data/method",
     _bad("session.started", _set(["data", "method"], "magic_link"))),
    ("session.started: seq 2", "/seq",
     _bad("session.started", _set(["seq"], 2))),
    # version 2 is not version 1: neither shape passes as the other
    ("session.started v2: the v1 flat principal", "'principal_id' was unexpected",
     _bad("session.started", lambda e: e["data"].update({"principal_id": CONTACT}))),
    ("session.started v2: missing principal", "'principal' is a required",
     _bad("session.started", _drop(["data", "principal"]))),
    ("session.started v2: principal without id", "'id' is a required",
     _bad("session.started", _drop(["data", "principal", "id"]))),
    ("session.started v1 shape stamped v2", "'principal' is a required",
     _bad("session.started", lambda e: e["data"].update(
         {"principal_id": CONTACT, "kind": "contact", "role": "stakeholder"}) or e["data"].pop("principal"))),
    ("session.started v2 shape stamped v1", "'principal' was unexpected",
     _bad("session.started", _set(["v"], 1))),
    ("session.ended: seq 3", "/seq",
     _bad("session.ended", _set(["seq"], 3))),
    ("signin.throttled: password in data", "'password' was unexpected",
     _bad("signin.throttled", _set(["data", "password"], "hunter2"))),
    ("signin.throttled: password_hash in data", "'password_hash' was unexpected",
     _bad("signin.throttled", _set(["data", "password_hash"], "$argon2id$v=19$m=65536,t=3,p=4$x$y"))),
    ("signin.throttled: zero failures", "/data/failures",
     _bad("signin.throttled", _set(["data", "failures"], 0))),
    # policies and filters
    ("policy.set: filter op like", "/data/policy/read/filter/op",
     _bad("policy.set", _set(["data", "policy", "read", "filter"],
                             {"field": "title", "op": "like", "value": "x%"}))),
    ("policy.set: nested filter op like", "/data/policy/read/filter/all[2]/any[0]/op",
     _bad("policy.set", _set(["data", "policy", "read", "filter", "all", 2, "any", 0, "op"], "like"))),
    ("policy.set: var user.id", "/data/policy/write/filter/value/var",
     _bad("policy.set", _set(["data", "policy", "write", "filter", "value"], {"var": "user.id"}))),
    ("policy.set: var with extra member", "'x' was unexpected",
     _bad("policy.set", _set(["data", "policy", "write", "filter", "value"], {"var": "now", "x": 1}))),
    ("policy.set: eq without value", "'value' is a required",
     _bad("policy.set", _drop(["data", "policy", "write", "filter", "value"]))),
    ("policy.set: eq with null", "/data/policy/write/filter/value",
     _bad("policy.set", _set(["data", "policy", "write", "filter", "value"], None))),
    ("policy.set: eq with an array", "/data/policy/write/filter/value",
     _bad("policy.set", _set(["data", "policy", "write", "filter", "value"], ["open"]))),
    ("policy.set: in with a scalar", "/data/policy/read/filter/all[0]/value",
     _bad("policy.set", _set(["data", "policy", "read", "filter", "all", 0, "value"], "open"))),
    ("policy.set: in with a variable", "/data/policy/read/filter/all[0]/value",
     _bad("policy.set", _set(["data", "policy", "read", "filter", "all", 0, "value"], {"var": "client.id"}))),
    ("policy.set: in with 101 items", "/data/policy/read/filter/all[0]/value",
     _bad("policy.set", _set(["data", "policy", "read", "filter", "all", 0, "value"], list(range(101))))),
    ("policy.set: is_empty with a value", "/data/policy/read/filter/all[1]/not",
     _bad("policy.set", _set(["data", "policy", "read", "filter", "all", 1, "not", "value"], ""))),
    ("policy.set: empty all", "/data/policy/read/filter/all",
     _bad("policy.set", _set(["data", "policy", "read", "filter"], {"all": []}))),
    ("policy.set: combinator not alone", "'field' was unexpected",
     _bad("policy.set", lambda e: e["data"]["policy"]["read"]["filter"].update({"field": "title"}))),
    ("policy.set: empty filter object", "'field' is a required",
     _bad("policy.set", _set(["data", "policy", "read", "filter"], {}))),
    ("policy.set: filter field not a key", "/data/policy/write/filter/field",
     _bad("policy.set", _set(["data", "policy", "write", "filter", "field"], "Status"))),
    ("policy.set: duplicate read column", "/data/policy/read/columns",
     _bad("policy.set", _set(["data", "policy", "read", "columns"], ["title", "title"]))),
    ("policy.set: write without create", "'create' is a required",
     _bad("policy.set", _drop(["data", "policy", "write", "create"]))),
    ("policy.set: missing comment", "'comment' is a required",
     _bad("policy.set", _drop(["data", "policy", "comment"]))),
    ("policy.set: approve not a bool", "/data/policy/approve",
     _bad("policy.set", _set(["data", "policy", "approve"], "yes"))),
    ("policy.set: unknown policy member", "'admin' was unexpected",
     _bad("policy.set", _set(["data", "policy", "admin"], True))),
    ("policy.set: scope group:x", "/data/scope",
     _bad("policy.set", _set(["data", "scope"], "group:x"))),
    ("policy.set: stream scope group:x", "/stream",
     _bad("policy.set", _set(["stream"], "policy/group:x/stakeholder/projects"))),
    ("policy.set: scope client:<not a UUID>", "/data/scope",
     _bad("policy.set", _set(["data", "scope"], "client:globex"))),
    ("policy.set: missing policy", "'policy' is a required",
     _bad("policy.set", _drop(["data", "policy"]))),
    ("policy.removed: carries a policy", "'policy' was unexpected",
     _bad("policy.removed", _set(["data", "policy"], POLICY))),
    ("policy.removed: stream without database", "/stream",
     _bad("policy.removed", _set(["stream"], f"policy/client:{CLIENT}/stakeholder"))),
    # views
    ("view.defined: limit 501", "/data/limit",
     _bad("view.defined", _set(["data", "limit"], 501))),
    ("view.defined: limit 0", "/data/limit",
     _bad("view.defined", _set(["data", "limit"], 0))),
    ("view.defined: sort dir up", "/data/sort[0]/dir",
     _bad("view.defined", _set(["data", "sort", 0, "dir"], "up"))),
    ("view.defined: sort without dir", "'dir' is a required",
     _bad("view.defined", _set(["data", "sort"], [{"field": "title"}]))),
    ("view.defined: filter op like", "/data/filter/op",
     _bad("view.defined", _set(["data", "filter", "op"], "like"))),
    ("view.defined: missing columns", "'columns' is a required",
     _bad("view.defined", _drop(["data", "columns"]))),
    ("view.defined: scope group:x", "/data/scope",
     _bad("view.defined", _set(["data", "scope"], "group:x"))),
    ("view.defined: policy stream", "/stream",
     _bad("view.defined", _set(["stream"], "policy/type:retainer/projects/open_items"))),
]

# Valid variations that must keep passing (guard against over-strict schemas).
GOOD_EXTRA = [
    ("file.attached: onto a comment", _bad("file.attached", lambda e: (
        e["data"].pop("column"), e["data"].update({"comment_id": "0190f5a2-1c3d-7e4f-8a0b-0000000c0001"})))),
    ("file.removed: from a comment", _bad("file.removed", lambda e: (
        e["data"].pop("column"), e["data"].update({"comment_id": "0190f5a2-1c3d-7e4f-8a0b-0000000c0001"})))),
    ("database.defined: 63-char key", _bad("database.defined", _set(["data", "key"], "a" * 63))),
    ("column.added: relation", _bad("column.added", lambda e: e["data"].update(
        {"type": "relation", "options": {"database": "clients"}}))),
    ("column.added: text with no options", _bad("column.added", lambda e: e["data"].update(
        {"type": "text", "options": {}, "internal": True}))),
    ("column.added: money with currency", _bad("column.added", lambda e: e["data"].update(
        {"type": "money", "options": {"currency": "EUR"}}))),
    ("record.created: no idempotency_key, empty fields", _bad("record.created", lambda e: (
        e["data"].pop("idempotency_key"), e["data"].update({"fields": {}})))),
    ("contact actor", _bad("record.updated", _set(["actor"], {"kind": "contact", "id": USER}))),
    ("causation is a UUID", _bad("record.updated", _set(["causation"], CORR))),
    ("client.updated: name only", _bad("client.updated", lambda e: e["data"]["changes"].pop("client_type"))),
    ("policy.set: client scope, read only, no filter", _bad("policy.set", lambda e: (
        e.update({"stream": f"policy/client:{CLIENT}/billing/invoices"}),
        e["data"].update({"scope": f"client:{CLIENT}", "role": "billing", "database": "invoices",
                          "policy": {"read": {"columns": []}, "comment": False, "approve": False}})))),
    ("policy.set: system fields, numbers, booleans, empty in-list", _bad(
        "policy.set", _set(["data", "policy", "read", "filter"], {"not": {"any": [
            {"field": "version", "op": "gt", "value": 3},
            {"field": "id", "op": "nin", "value": []},
            {"field": "done", "op": "eq", "value": True},
            {"field": "owner", "op": "eq", "value": {"var": "client.id"}},
            {"field": "segment", "op": "ne", "value": {"var": "client.type"}},
            {"field": "tags", "op": "contains", "value": "urgent"},
            {"field": "title", "op": "not_empty"}]}}))),
    ("view.defined: client scope, no filter/sort/limit", _bad("view.defined", lambda e: (
        e.update({"stream": f"view/client:{CLIENT}/projects/all"}),
        e["data"].update({"scope": f"client:{CLIENT}", "view": "all"}),
        [e["data"].pop(k) for k in ("filter", "sort", "limit")]))),
    ("session.ended: seq 1 (a session begun before session.started)", _bad("session.ended", _set(["seq"], 1))),
    ("session.started: a user, no client", _bad("session.started", lambda e: (
        e["data"].update({"principal": {"kind": "user", "role": "auditor", "id": USER}, "method": "password"}),
        e.update({"actor": {"kind": "user", "id": USER}})))),
    ("session.started v1 (as the log still holds it)", dict(_event(
        23, "session.started", "session/0190f5a2-1c3d-7e4f-8a0b-00000000e5e5", 1,
        {"session_id": "0190f5a2-1c3d-7e4f-8a0b-00000000e5e5", "principal_id": CONTACT, "kind": "contact",
         "role": "stakeholder", "client_id": CLIENT, "method": "invitation",
         "expires_at": "2026-12-01T00:00:00.000Z"},
        actor={"kind": "contact", "id": CONTACT}), v=1)),
    ("session.started v1: a user, no client", dict(_event(
        23, "session.started", "session/0190f5a2-1c3d-7e4f-8a0b-00000000e5e5", 1,
        {"session_id": "0190f5a2-1c3d-7e4f-8a0b-00000000e5e5", "principal_id": USER, "kind": "user",
         "role": "auditor", "method": "password", "expires_at": "2026-12-01T00:00:00.000Z"}), v=1)),
    ("view.defined: limit 500", _bad("view.defined", _set(["data", "limit"], 500))),
    ("view.defined: limit 1", _bad("view.defined", _set(["data", "limit"], 1))),
]


def self_test(schema_dir):
    schemas = SchemaSet(schema_dir)
    passed = failed = 0

    def expect(name, event, valid, reason=""):
        nonlocal passed, failed
        errors = check_event(schemas, json.loads(json.dumps(event)))
        if (not errors) == valid and (valid or any(reason in e for e in errors)):
            passed += 1
        else:
            failed += 1
            want = "valid" if valid else f"invalid with {reason!r}"
            detail = format_errors(errors) if errors else "no errors"
            print(f"FAIL {name}: expected {want}, got {detail}")

    # Every event schema has a good example, and every good example has a schema.
    files = set(schemas.event_files())
    examples = {f"{t}.v{e['v']}.json" for t, e in GOOD.items()}
    examples |= {f"{e['type']}.v{e['v']}.json" for _, e in GOOD_EXTRA}
    for name in sorted(files | examples):
        if name in files and name in examples:
            passed += 1
        else:
            failed += 1
            print(f"FAIL coverage: {name} has "
                  + ("no good example" if name in files else "no schema file"))

    for etype, event in GOOD.items():
        expect(f"good {etype}", event, True)
    for name, event in GOOD_EXTRA:
        expect(f"good {name}", event, True)
    for name, reason, event in BAD:
        expect(f"bad {name}", event, False, reason)
    # Line-level failures (what the file mode sees).
    for name, text in [("bad line: not JSON", "{not json"), ("bad line: array", "[1, 2]"),
                       ("bad line: no type", json.dumps({"v": 1}))]:
        _, errors = check_line(schemas, text)
        if errors:
            passed += 1
        else:
            failed += 1
            print(f"FAIL {name}: expected invalid, got no errors")

    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


# --------------------------------------------------------------------------

def main(argv):
    parser = argparse.ArgumentParser(
        description="Validate NDJSON event-log messages against schemas/events/*.json")
    parser.add_argument("--self-test", action="store_true",
                        help="check embedded good/bad examples against SCHEMA_DIR")
    parser.add_argument("--min-types", type=int, default=None, metavar="N",
                        help="fail unless at least N distinct event types passed")
    parser.add_argument("--require-types", default="", metavar="a,b,c",
                        help="fail unless each listed event type passed at least once")
    parser.add_argument("schema_dir", metavar="SCHEMA_DIR")
    parser.add_argument("ndjson", metavar="NDJSON_FILE", nargs="?")
    args = parser.parse_args(argv)

    if args.self_test and args.ndjson is not None:
        parser.error("--self-test takes only SCHEMA_DIR")
    if not args.self_test and args.ndjson is None:
        parser.error("NDJSON_FILE is required")
    try:
        if args.self_test:
            return self_test(args.schema_dir)
        required = [t.strip() for t in args.require_types.split(",") if t.strip()]
        return validate_file(args.schema_dir, args.ndjson, args.min_types, required)
    except (OSError, ValueError, jsonschema.SchemaError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
