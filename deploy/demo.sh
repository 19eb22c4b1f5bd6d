#!/usr/bin/env bash
# Loads a small demo workspace through the public API (so it is ordinary events in the log).
#   deploy/demo.sh ORIGIN      e.g. http://127.0.0.1:8080
# Needs APEXLOOP_BOOTSTRAP_TOKEN and APEXLOOP_RUN_DIR (deploy/up.sh sets both). Writes the
# workspace id and the admin's e-mail and password to $APEXLOOP_RUN_DIR/demo.env, and does
# nothing when that file already names a workspace that accepts its sign-in.
set -euo pipefail
origin=${1:?usage: demo.sh ORIGIN}
env_file=$APEXLOOP_RUN_DIR/demo.env

json_get() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

call() { # METHOD PATH BODY -> body on stdout; fails loudly on a non-2xx answer
  local method=$1 path=$2 body=${3:-} out status
  out=$(mktemp)
  status=$(curl -sS -o "$out" -w '%{http_code}' -X "$method" "$origin$path" \
    -H "Authorization: Bearer $token" -H 'Content-Type: application/json' --data-binary "$body")
  if [[ $status != 2* ]]; then
    echo "demo.sh: $method $path answered $status: $(cat "$out")" >&2
    rm -f "$out"
    return 1
  fi
  cat "$out"
  rm -f "$out"
}

session_for() { # WORKSPACE EMAIL PASSWORD -> token
  curl -fsS -X POST "$origin/api/v1/sessions" -H 'Content-Type: application/json' \
    --data-binary "{\"workspace\":\"$1\",\"email\":\"$2\",\"password\":\"$3\"}" | json_get token
}

if [[ -f $env_file ]]; then
  # shellcheck disable=SC1090
  source "$env_file"
  if session_for "$APEXLOOP_DEMO_WORKSPACE" "$APEXLOOP_DEMO_EMAIL" "$APEXLOOP_DEMO_PASSWORD" >/dev/null 2>&1; then
    echo "== demo workspace already loaded ($env_file)"
    exit 0
  fi
fi

echo "== loading the demo workspace"
email=ada@northwind.test
password=$(od -An -tx1 -N12 /dev/urandom | tr -d ' \n')
token=$APEXLOOP_BOOTSTRAP_TOKEN
workspace=$(call POST /api/v1/workspaces \
  "{\"name\":\"Northwind Design Studio\",\"admin\":{\"email\":\"$email\",\"name\":\"Ada Novak\",\"password\":\"$password\"}}" |
  json_get workspace_id)
token=$(session_for "$workspace" "$email" "$password")

call POST /api/v1/client-types '{"key":"retainer","name":"Retainer clients"}' >/dev/null
call POST /api/v1/portal-roles '{"key":"stakeholder","name":"Stakeholder"}' >/dev/null
contoso=$(call POST /api/v1/clients '{"name":"Contoso Ltd","client_type":"retainer"}' | json_get id)
fabrikam=$(call POST /api/v1/clients '{"name":"Fabrikam Inc","client_type":"retainer"}' | json_get id)

call POST /api/v1/databases '{"key":"projects","name":"Projects"}' >/dev/null
call POST /api/v1/databases/projects/columns '{"key":"client","name":"Client","type":"client"}' >/dev/null
call POST /api/v1/databases/projects/columns '{"key":"name","name":"Name","type":"text"}' >/dev/null
call POST /api/v1/databases/projects/columns \
  '{"key":"status","name":"Status","type":"select","options":{"choices":["planning","in_progress","review","delivered"]}}' >/dev/null
call POST /api/v1/databases/projects/columns '{"key":"deadline","name":"Deadline","type":"date"}' >/dev/null
call POST /api/v1/databases/projects/columns '{"key":"milestone","name":"Next milestone","type":"text"}' >/dev/null
call POST /api/v1/databases/projects/columns \
  '{"key":"budget","name":"Internal budget","type":"money","options":{"currency":"EUR"},"internal":true}' >/dev/null

call POST /api/v1/databases '{"key":"tickets","name":"Tickets"}' >/dev/null
call POST /api/v1/databases/tickets/columns '{"key":"client","name":"Client","type":"client"}' >/dev/null
call POST /api/v1/databases/tickets/columns '{"key":"title","name":"Title","type":"text"}' >/dev/null
call POST /api/v1/databases/tickets/columns \
  '{"key":"status","name":"Status","type":"select","options":{"choices":["open","in_progress","resolved"]}}' >/dev/null
call POST /api/v1/databases/tickets/columns '{"key":"opened","name":"Opened","type":"datetime"}' >/dev/null
call POST /api/v1/databases/tickets/columns '{"key":"project","name":"Project","type":"relation","options":{"database":"projects"}}' >/dev/null

call POST /api/v1/databases '{"key":"invoices","name":"Invoices"}' >/dev/null
call POST /api/v1/databases/invoices/columns '{"key":"number","name":"Number","type":"text"}' >/dev/null
call POST /api/v1/databases/invoices/columns '{"key":"amount","name":"Amount","type":"money","options":{"currency":"EUR"}}' >/dev/null
call POST /api/v1/databases/invoices/columns '{"key":"due","name":"Due","type":"date"}' >/dev/null
call POST /api/v1/databases/invoices/columns '{"key":"paid","name":"Paid","type":"bool"}' >/dev/null

rebrand=$(call POST /api/v1/databases/projects/records \
  "{\"fields\":{\"client\":\"$contoso\",\"name\":\"Brand refresh\",\"status\":\"in_progress\",\"deadline\":\"2027-01-31\",\"milestone\":\"Logo concepts\",\"budget\":{\"amount\":\"18000.00\"}}}" | json_get id)
call POST /api/v1/databases/projects/records \
  "{\"fields\":{\"client\":\"$fabrikam\",\"name\":\"Website relaunch\",\"status\":\"planning\",\"deadline\":\"2027-03-15\",\"milestone\":\"Sitemap sign-off\",\"budget\":{\"amount\":\"42000.00\"}}}" >/dev/null
call POST /api/v1/databases/tickets/records \
  "{\"fields\":{\"client\":\"$contoso\",\"title\":\"Logo file in SVG, please\",\"status\":\"open\",\"opened\":\"2026-11-28T09:30:00Z\",\"project\":[\"$rebrand\"]}}" >/dev/null
call POST /api/v1/databases/tickets/records \
  "{\"fields\":{\"client\":\"$contoso\",\"title\":\"Typo on the letterhead\",\"status\":\"resolved\",\"opened\":\"2026-11-20T14:05:00Z\",\"project\":[\"$rebrand\"]}}" >/dev/null
call POST /api/v1/databases/invoices/records \
  '{"fields":{"number":"F2026-001","amount":{"amount":"6000.00"},"due":"2026-12-30","paid":false}}' >/dev/null

# What Contoso's stakeholders see: projects without the internal budget, tickets they may move on.
call PUT /api/v1/policies/type:retainer/stakeholder/projects \
  '{"read":{"columns":["name","status","deadline","milestone"]}}' >/dev/null
call PUT /api/v1/policies/type:retainer/stakeholder/tickets \
  '{"read":{"columns":["title","status","opened","project"]},"write":{"columns":["status"],"create":false}}' >/dev/null
call PUT /api/v1/views/type:retainer/tickets/open \
  '{"columns":["title","status"],"filter":{"field":"status","op":"ne","value":"resolved"},"sort":[{"field":"opened","dir":"desc"}]}' >/dev/null
invitation=$(call POST "/api/v1/clients/$contoso/contacts" '{"email":"jana@contoso.test","name":"Jana Dvorak","role":"stakeholder"}' |
  json_get invitation_token)

umask 077
cat >"$env_file" <<ENV
APEXLOOP_DEMO_WORKSPACE=$workspace
APEXLOOP_DEMO_EMAIL=$email
APEXLOOP_DEMO_PASSWORD=$password
APEXLOOP_DEMO_CONTACT_INVITATION=$invitation
ENV
echo "   workspace $workspace, admin $email (password in $env_file)"
echo "   client contact jana@contoso.test: accept with POST $origin/api/v1/invitations/\$APEXLOOP_DEMO_CONTACT_INVITATION/accept"
