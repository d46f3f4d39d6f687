"""The fully normalized path, a second view of the path that authorization always checks.

Each `pathNormalization` setting forwards the path Istio forwards (`authz.normalization`), but
with NONE, BASE or MERGE_SLASHES a backend that decodes or resolves more than Envoy did can be
reached by a spelling of `/admin` that a path rule does not see (`//admin`, `/%2Fadmin`,
`/x/../admin`...). So on a proxy where some AuthorizationPolicy matches on paths, every path
element of a rule is evaluated on two views: the path as the setting normalizes it (`url_path`,
Istio's matcher) and the fully normalized path. A DENY (and AUDIT, CUSTOM) rule matches if
either view matches; an ALLOW rule only if both do.

The fully normalized path is computed by Envoy on every request, before any authorization filter,
by a Lua filter (`pilotfish.authz.path`) that first removes every client-sent copy of the internal
header `x-pilotfish-authz-path`, then writes the path: query and fragment cut, `%2F`/`%5C` and
percent-encoded unreserved characters decoded once (`%252e` stays `%252e`, as a backend that
decodes once sees `%2e`), `\\` turned into `/`, `;` parameters dropped from each segment (servlet
containers ignore them: `/admin;x` is `/admin`, `/..;/` is `/../`), slashes merged, dot segments
resolved -- what DECODE_AND_MERGE_SLASHES gives, plus the parameters. A path with `%00` is
refused with 400 (as every normalizing setting refuses it). If the script fails, the header is
missing, and a rule treats a missing view as matching for DENY and as not matching for ALLOW:
fail closed. The router removes the header before forwarding, so the app never sees it.

Case: Istio leaves case alone (paths are case-sensitive; its best practices leave
case-insensitive apps to the operator). The fully normalized view is compared ignoring case
where that denies more (a DENY's `paths`, an ALLOW's `notPaths`), so `/Admin` cannot reach an app
that ignores case; the first view keeps Istio's exact comparison, so an ALLOW stays exact.

The filter (with its script) is in every inbound and gateway HTTP chain; the routes of a proxy
whose policies do not use paths turn it off (per-route config, delivered with the rules by RDS),
so no listener changes when such a policy comes or goes, and proxies without path rules pay only
a per-route lookup. It is on unless a route says otherwise -- not off unless a route turns it
on -- because Envoy decides which filters a request gets before a JWT filter may re-route it
(claim-based routing at gateways): a request that first matches no route must still get the view.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from envoy.config.core.v3 import base_pb2
from envoy.config.rbac.v3.rbac_pb2 import Permission
from envoy.config.route.v3 import route_components_pb2 as rc_pb2
from envoy.extensions.filters.http.lua.v3 import lua_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from google.protobuf.message import Message

from pilotfish.config.objects import AuthorizationPolicy
from pilotfish.translate.authz import matchers as m
from pilotfish.translate.envoy_pb import pack

HEADER = "x-pilotfish-authz-path"
FILTER = "pilotfish.authz.path"
SCRIPT = f"""-- pilotfish: the fully normalized path, for authorization only
local HEADER = "{HEADER}"
local function decode(hex)
  local code = tonumber(hex, 16)
  if code == 0x2f or code == 0x5c then return "/" end
  local c = string.char(code)
  if c:match("^[%w%-%._~]$") then return c end
  return nil
end
local function normalize(path)
  path = path:match("^[^?#]*")
  if path:find("%%00") then return nil end
  path = path:gsub("%%(%x%x)", decode):gsub("\\\\", "/")
  local segments, n, directory = {{}}, 0, false
  for segment in path:gmatch("[^/]+") do
    segment = segment:gsub(";.*", "")
    directory = true
    if segment == ".." then
      if n > 0 then segments[n] = nil; n = n - 1 end
    elseif segment ~= "." and segment ~= "" then
      n = n + 1; segments[n] = segment; directory = false
    end
  end
  local out = "/" .. table.concat(segments, "/")
  if n > 0 and (directory or path:sub(-1) == "/") then out = out .. "/" end
  return out
end
function envoy_on_request(handle)
  local headers = handle:headers()
  headers:remove(HEADER)
  local ok, found = pcall(normalize, headers:get(":path") or "")
  if not ok then return end
  if found == nil then
    handle:respond({{[":status"] = "400"}}, "Bad Request")
    return
  end
  headers:add(HEADER, found)
end
"""


def uses_paths(policies: Iterable[AuthorizationPolicy]) -> bool:
    """Some rule of these policies matches on `paths` or `notPaths`."""
    return any(
        to.operation is not None and bool(to.operation.paths or to.operation.not_paths)
        for policy in policies
        for rule in policy.spec.rules or ()
        for to in rule.to or ()
    )


def http_filter() -> hcm_pb2.HttpFilter:
    """The filter as every inbound/gateway chain carries it: on, unless a route turns it off."""
    script = lua_pb2.Lua(default_source_code=base_pb2.DataSource(inline_string=SCRIPT))
    return hcm_pb2.HttpFilter(name=FILTER, typed_config=pack(script))


def turned_off() -> lua_pb2.LuaPerRoute:
    """Per-route config of a proxy without path rules: the script does not run."""
    return lua_pb2.LuaPerRoute(disabled=True)


def is_on(per_route: Mapping[str, Message]) -> bool:
    """The routes carrying these per-filter configs compute the view."""
    found = per_route.get(FILTER)
    return not (isinstance(found, lua_pb2.LuaPerRoute) and found.disabled)


def matcher(value: str, *, ignore_case: bool) -> Permission:
    """One `paths` value on the fully normalized view (templates as a regex on the header)."""
    if m.is_path_template(value):
        pattern = m.path_template_regex(value)
        found = m.regex(f"(?i){pattern}" if ignore_case else pattern)
    else:
        found = m.string(value)
        if found.WhichOneof("match_pattern") != "safe_regex":
            found.ignore_case = ignore_case
    return Permission(header=rc_pb2.HeaderMatcher(name=HEADER, string_match=found))


def missing() -> Permission:
    """The view is missing (the script failed): a DENY rule on paths matches."""
    return Permission(
        header=rc_pb2.HeaderMatcher(name=HEADER, present_match=True, invert_match=True)
    )
