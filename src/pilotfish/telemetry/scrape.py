"""What 15090 does to Envoy's Prometheus page, per scrape (never per request): Istio's metric
names and Istio's labels.

- Names: Istio's metrics live in Envoy's `istio` stats scope, which Envoy prints as
  `envoy_istio_*`; Istio's Envoy prints `istio_*` (its stats filter uses a custom stat
  namespace the standard build cannot register).
- Labels: translation packs the labels it knows in advance, and the peer's identity, into one
  tag (`labels`: what it holds; series of older configs, a tag per pack, are read too); this
  unpacks them into Istio's labels, in Istio's order (`HTTP_LABELS`, then any label a
  `tagOverrides` added, then `le`), with Istio's defaults for a field the peer did not send and
  `unknown` for a principal without a certificate.
- `requests_total`, when Envoy does not count it: the `_count` series of the duration
  histogram that stands for it (`metrics.COUNTED_SUFFIX`), renamed. Istio's families are printed
  after the rest of the page, each once (families printed under one name are merged).
- gRPC message counts: summed from per-count-pair series (see `metrics.GRPC_MESSAGES`).
- TCP bytes of open connections: each connection's `<counter>_open` gauge (`metrics`) is
  summed per label set and added to the counter's series (a series is added when no connection
  with those labels has closed yet); the sums are also listed, before the counter, as the gauge
  family `pilotfish_open_<counter>`, which the agent's 15020 uses (`agent.continuity`) and hides.

`expand_lua()` is the source of the Envoy Lua filter that does both on the 15090 listener.
"""

from __future__ import annotations

import json

from pilotfish.config.istio_metrics import METRIC_NAMES
from pilotfish.telemetry.labels import (
    FIXED_TAG,
    HTTP_LABELS,
    LABEL_CODES,
    MESSAGES_TAG,
    PACK_CODES,
    PEER_SUFFIXES,
    PEER_TAGS,
    PRINCIPALS,
    SERVICE_LABELS,
    SERVICE_TAG,
    UNKNOWN,
    peer_default,
)
from pilotfish.telemetry.metrics import (
    COUNTED_SUFFIX,
    OPEN_SUFFIX,
    SCOPE_PREFIX,
    STANDARD_METRICS,
)
from pilotfish.telemetry.peer_attributes import PEER_REF

OPEN_PREFIX = "pilotfish_open_"  # open connections' part of a TCP byte counter, per series

# the order of the counts in grpc_stats' filter state: `request,response`
_MESSAGE_METRICS = tuple(
    next(m for m in STANDARD_METRICS if m.enum == enum)
    for enum in ("GRPC_REQUEST_MESSAGES", "GRPC_RESPONSE_MESSAGES")
)


def _lua_list(values: tuple[str, ...] | list[str]) -> str:
    return "{" + ", ".join(json.dumps(v) for v in values) + "}"


def _lua_map(values: dict[str, str]) -> str:
    return "{" + ", ".join(f"[{json.dumps(k)}] = {json.dumps(v)}" for k, v in values.items()) + "}"


_BODY = r"""
local RANK = {}
for i, name in ipairs(ORDER) do RANK[name] = i end

-- labels of one series, in their order; values stay escaped as Envoy printed them
local function parse(body)
  local values, names = {}, {}
  local i, n = 1, #body
  while i <= n do
    local eq = body:find('="', i, true)
    if eq == nil then return nil end
    local name = body:sub(i, eq - 1)
    local j = eq + 2
    while true do
      local c = body:byte(j)
      if c == nil then return nil end
      if c == 92 then j = j + 2 elseif c == 34 then break else j = j + 1 end
    end
    values[name] = body:sub(eq + 2, j - 1)
    names[#names + 1] = name
    i = j + 2
  end
  return values, names
end

local function split(value)
  local out = {}
  for item in (value .. ";"):gmatch("([^;]*);") do out[#out + 1] = item end
  return out
end

local function unpack_into(out, value, labels, defaults)
  local fields = split(value)
  for k, label in ipairs(labels) do
    local v = fields[k]
    if v == nil or v == "" then v = defaults[k] end
    out[label] = v
  end
end

local function expand(name, body)
  if body:find(FIXED_TAG .. '="', 1, true) == nil then return nil end
  local given, names = parse(body)
  if given == nil then return nil end
  -- the packs at the head of the fixed tag (`S=...|D=...|`), as if each were its own tag
  local fixed, pos = given[FIXED_TAG], 1
  while true do
    local code, value, stop = fixed:match("^(%u)=([^|]*)|()", pos)
    if code == nil or PACKS[code] == nil then break end
    given[PACKS[code]] = value
    pos = stop
  end
  given[FIXED_TAG] = fixed:sub(pos)
  local out, dropped, extra = {}, {}, {}
  for tag, prefix in pairs(PEER_TAGS) do
    if given[tag] ~= nil then
      local labels = {}
      for k, suffix in ipairs(PEER_SUFFIXES) do labels[k] = prefix .. "_" .. suffix end
      unpack_into(out, given[tag], labels, PEER_DEFAULTS)
    end
  end
  if given[SERVICE_TAG] ~= nil then
    unpack_into(out, given[SERVICE_TAG], SERVICE_LABELS, SERVICE_DEFAULTS)
  end
  for _, item in ipairs(split(given[FIXED_TAG])) do
    if item:sub(1, 1) == "!" then
      dropped[CODES[item:sub(2)] or item:sub(2)] = true
    else
      local k, v = item:match("^([^=]+)=(.*)$")
      if k ~= nil then
        k = CODES[k] or k
        if v == "" and PRINCIPAL[k] then v = UNKNOWN end
        out[k] = v
      end
    end
  end
  for _, k in ipairs(names) do
    if k:sub(1, 10) ~= "pilotfish_" then
      local v = given[k]
      if v:sub(1, #PEER_REF) == PEER_REF then v = out[v:sub(#PEER_REF + 1)] or UNKNOWN end
      if v == "" and PRINCIPAL[k] then v = UNKNOWN end
      out[k] = v
      if RANK[k] == nil then extra[#extra + 1] = k end
    end
  end
  local parts = {}
  for _, k in ipairs(ORDER) do
    if out[k] ~= nil and not dropped[k] then parts[#parts + 1] = k .. '="' .. out[k] .. '"' end
  end
  for _, k in ipairs(extra) do parts[#parts + 1] = k .. '="' .. out[k] .. '"' end
  return name .. "{" .. table.concat(parts, ",") .. "}"
end

-- gRPC message counts: each series counts calls with one `request,response` count pair; the
-- family's value per label set is the sum of calls x messages
local function add_messages(text)
  local sums, order = {}, {}
  text = text:gsub("\n(" .. SCOPE .. "_[%w_]*){([^\n]*)} ([^\n]*)", function(name, labels, value)
    local which = MESSAGE_FAMILIES[name]
    if which == nil then return nil end
    local counts = labels:match(MESSAGES_TAG .. '="([^"]*)"')
    local expanded = expand(name, labels)
    local calls = tonumber(value)
    if counts == nil or expanded == nil or calls == nil then return "" end
    local fields = {}
    for part in (counts .. ","):gmatch("([^,]*),") do fields[#fields + 1] = part end
    local n = tonumber(fields[which] or "")
    if n == nil then return "" end
    if sums[expanded] == nil then
      order[name] = order[name] or {}
      table.insert(order[name], expanded)
      sums[expanded] = 0
    end
    sums[expanded] = sums[expanded] + calls * n
    return ""
  end)
  for name, _ in pairs(MESSAGE_FAMILIES) do
    local lines = {}
    for _, key in ipairs(order[name] or {}) do
      lines[#lines + 1] = key .. " " .. string.format("%.0f", sums[key])
    end
    if #lines > 0 then
      -- the family's series were removed above: its block ends with its "# TYPE" line
      text = text:gsub("\n# TYPE " .. name .. " counter", function(header)
        return header .. "\n" .. table.concat(lines, "\n")
      end)
    end
  end
  return text
end

-- one family ("# TYPE envoy_istio_... kind" and its series): Istio's names and labels
local function family(block, counts)
  local text = "\n" .. block
  text = text:gsub("\nenvoy_" .. SCOPE .. "_", "\n" .. SCOPE .. "_")
  text = text:gsub("\n# TYPE envoy_" .. SCOPE .. "_", "\n# TYPE " .. SCOPE .. "_")
  text = add_messages(text)
  local counted = text:find("\n# TYPE " .. COUNTED .. " ", 1, true) ~= nil
  text = text:gsub("\n(" .. SCOPE .. "_[%w_]*){([^\n]*)}( [^\n]*)", function(name, labels, value)
    if counted and name:sub(1, #COUNTED) == COUNTED then
      name = DURATION .. name:sub(#COUNTED + 1)
    end
    local expanded = expand(name, labels)
    if expanded == nil then return nil end
    if counted and name == DURATION .. "_count" then
      counts[#counts + 1] = TOTAL .. expanded:sub(#name + 1) .. value
    end
    return "\n" .. expanded .. value
  end)
  return text:sub(2)
end

-- open connections' bytes so far (one gauge `<counter>_open` per connection): the families are
-- taken out of the page, their series summed per Istio label set of the counter
local function take_open(text)
  local open, order = {}, {}
  local marker = "# TYPE envoy_" .. SCOPE .. "_"
  local parts, pos = {}, 1
  while true do
    local first = text:find(marker, pos, true)
    if first == nil then break end
    local stop = text:find("\n# TYPE ", first, true)
    local last = stop or (#text + 1)
    local gauge = text:match("^# TYPE envoy_" .. SCOPE .. "_([%w_]+) gauge", first)
    local counter = gauge and gauge:match("^(.*)" .. OPEN_SUFFIX .. "$")
    if counter ~= nil then
      parts[#parts + 1] = text:sub(pos, first - 1)
      local name = SCOPE .. "_" .. counter
      local block = "\n" .. text:sub(first, last - 1)
      for labels, value in block:gmatch("\nenvoy_" .. SCOPE .. "_[%w_]*{([^\n]*)} ([^\n]*)") do
        local key = expand(name, labels)
        local v = tonumber(value)
        if key ~= nil and v ~= nil and v > 0 then
          if open[key] == nil then
            open[key] = 0
            order[name] = order[name] or {}
            table.insert(order[name], key)
          end
          open[key] = open[key] + v
        end
      end
      pos = stop and (stop + 1) or last
    else
      parts[#parts + 1] = text:sub(pos, last - 1)
      pos = last
    end
  end
  parts[#parts + 1] = text:sub(pos)
  return table.concat(parts), open, order
end

-- a counter family (rewritten) with its open connections' bytes added, after the helper
-- family that lists them
local function with_open(name, block, open, keys)
  local shown = {}
  block = block:gsub("\n(" .. SCOPE .. "_[%w_]*{[^\n]*}) ([^\n]*)", function(key, value)
    local extra, v = open[key], tonumber(value)
    if extra == nil or v == nil then return nil end
    shown[key] = true
    return "\n" .. key .. " " .. string.format("%.0f", v + extra)
  end)
  local trail = block:match("\n*$")
  block = block:sub(1, #block - #trail)
  local helper = {"# TYPE " .. OPEN_PREFIX .. name .. " gauge"}
  for _, key in ipairs(keys) do
    local value = string.format("%.0f", open[key])
    if not shown[key] then block = block .. "\n" .. key .. " " .. value end
    helper[#helper + 1] = OPEN_PREFIX .. key .. " " .. value
  end
  return table.concat(helper, "\n") .. "\n" .. block .. trail
end

-- series lines of families printed under one name: values of the same series are added up
-- (a histogram standing for `requests_total` next to the plain one while a change drains)
local function merged(chunks)
  if #chunks == 1 then return chunks[1] end
  local sums, keys = {}, {}
  for _, chunk in ipairs(chunks) do
    for key, value in ("\n" .. chunk):gmatch("\n([^\n]*) ([^ \n]*)") do
      local v = tonumber(value)
      if v ~= nil then
        if sums[key] == nil then keys[#keys + 1] = key; sums[key] = 0 end
        sums[key] = sums[key] + v
      end
    end
  end
  local lines = {}
  for _, key in ipairs(keys) do
    lines[#lines + 1] = key .. " " .. string.format("%.17g", sums[key])
  end
  return table.concat(lines, "\n")
end

-- Envoy prints each family after its "# TYPE" line: only Istio's families are rewritten (found
-- with plain searches) and printed after the rest of the page, which is copied as it is
function envoy_on_response(handle)
  local body = handle:body()
  if body == nil then return end
  local text = body:getBytes(0, body:length())
  local marker = "# TYPE envoy_" .. SCOPE .. "_"
  if text:find(marker, 1, true) == nil then return end
  local open, order
  text, open, order = take_open(text)
  local parts, pos = {}, 1
  local heads, chunks, names = {}, {}, {}
  local function add(name, head, series)
    if heads[name] == nil then
      heads[name] = head
      chunks[name] = {}
      names[#names + 1] = name
    end
    local first, last = 1, #series
    while series:byte(first) == 10 do first = first + 1 end
    while last >= first and series:byte(last) == 10 do last = last - 1 end
    if last >= first then table.insert(chunks[name], series:sub(first, last)) end
  end
  local counts = {}  -- `requests_total` series from the duration histogram that stands for it
  while true do
    local first = text:find(marker, pos, true)
    if first == nil then break end
    local stop = text:find("\n# TYPE ", first, true)
    local last = stop or (#text + 1)
    parts[#parts + 1] = text:sub(pos, first - 1)
    local block = family(text:sub(first, last - 1), counts)
    local eol = block:find("\n", 1, true) or (#block + 1)
    local head, series = block:sub(1, eol - 1), block:sub(eol)
    local name = head:match("^# TYPE ([%w_]+)")
    if name == COUNTED then
      name = DURATION
      head = "# TYPE " .. DURATION .. " histogram"
    end
    add(name, head, series)
    pos = last
  end
  parts[#parts + 1] = text:sub(pos)
  if #counts > 0 then
    add(TOTAL, "# TYPE " .. TOTAL .. " counter", table.concat(counts, "\n"))
  end
  local tail = parts[#parts]
  if tail ~= "" and tail:sub(-1) ~= "\n" then parts[#parts + 1] = "\n" end
  for _, name in ipairs(names) do
    local block = heads[name]
    if #chunks[name] > 0 then block = block .. "\n" .. merged(chunks[name]) end
    if order[name] ~= nil then
      block = with_open(name, block, open, order[name])
      order[name] = nil
    end
    parts[#parts + 1] = block .. "\n"
  end
  for name, keys in pairs(order) do  -- no connection with these labels has closed yet
    parts[#parts + 1] = with_open(name, "# TYPE " .. name .. " counter", open, keys) .. "\n"
  end
  body:setBytes(table.concat(parts))
end
"""


def expand_lua() -> str:
    """The 15090 Lua filter's source (constants generated from `labels`, the one place they
    are defined)."""
    constants = {
        "ORDER": _lua_list(HTTP_LABELS),
        "CODES": _lua_map({code: label for label, code in LABEL_CODES.items()}),
        "PEER_SUFFIXES": _lua_list(list(PEER_SUFFIXES.values())),
        "PEER_DEFAULTS": _lua_list([peer_default(name) for name in PEER_SUFFIXES]),
        "PEER_TAGS": _lua_map({tag: prefix for prefix, tag in PEER_TAGS.items()}),
        "SERVICE_LABELS": _lua_list(SERVICE_LABELS),
        "SERVICE_DEFAULTS": _lua_list([UNKNOWN] * len(SERVICE_LABELS)),
        "PRINCIPAL": _lua_map(dict.fromkeys(PRINCIPALS, "true")).replace('"true"', "true"),
        "FIXED_TAG": json.dumps(FIXED_TAG),
        "SERVICE_TAG": json.dumps(SERVICE_TAG),
        "PACKS": _lua_map({code: tag for tag, code in PACK_CODES.items()}),
        "UNKNOWN": json.dumps(UNKNOWN),
        "PEER_REF": json.dumps(PEER_REF),
        "SCOPE": json.dumps(SCOPE_PREFIX),
        "MESSAGES_TAG": json.dumps(MESSAGES_TAG),
        "OPEN_SUFFIX": json.dumps(OPEN_SUFFIX),
        "OPEN_PREFIX": json.dumps(OPEN_PREFIX),
        "DURATION": json.dumps(f"{SCOPE_PREFIX}_{METRIC_NAMES['REQUEST_DURATION']}"),
        "COUNTED": json.dumps(f"{SCOPE_PREFIX}_{METRIC_NAMES['REQUEST_DURATION']}{COUNTED_SUFFIX}"),
        "TOTAL": json.dumps(f"{SCOPE_PREFIX}_{METRIC_NAMES['REQUEST_COUNT']}"),
        "MESSAGE_FAMILIES": _lua_map(
            {f"{SCOPE_PREFIX}_{m.name}": str(i) for i, m in enumerate(_MESSAGE_METRICS, 1)}
        )
        .replace('"1"', "1")
        .replace('"2"', "2"),
    }
    header = "\n".join(f"local {name} = {value}" for name, value in constants.items())
    return header + "\n" + _BODY
