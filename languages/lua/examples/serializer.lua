-- A recursive serializer that turns Lua values into readable, deterministic text.

local function is_identifier(s)
  local keywords = {["and"] = true, ["end"] = true, ["for"] = true, ["nil"] = true,
                    ["not"] = true, ["or"] = true, ["if"] = true, ["in"] = true}
  return type(s) == "string" and s:match("^[%a_][%w_]*$") ~= nil and not keywords[s]
end

-- Keys: first the array part 1..n, then the other keys sorted by type and value.
local function sorted_keys(t)
  local n = #t
  local rest = {}
  for k in pairs(t) do
    if not (math.type(k) == "integer" and k >= 1 and k <= n) then rest[#rest + 1] = k end
  end
  table.sort(rest, function(a, b)
    local ta, tb = type(a), type(b)
    if ta ~= tb then return ta < tb end
    if ta == "number" or ta == "string" then return a < b end
    return tostring(a) < tostring(b)
  end)
  return n, rest
end

local function serialize(value, indent, seen)
  indent, seen = indent or "", seen or {}
  local kind = type(value)
  if kind == "string" then return string.format("%q", value) end
  if kind == "number" or kind == "boolean" or kind == "nil" then return tostring(value) end
  if kind ~= "table" then error("cannot serialize a " .. kind, 0) end
  if seen[value] then error("cycle detected", 0) end
  seen[value] = true
  local n, rest = sorted_keys(value)
  if n == 0 and #rest == 0 then seen[value] = nil; return "{}" end
  local inner = indent .. "  "
  local lines = {}
  for i = 1, n do lines[#lines + 1] = inner .. serialize(value[i], inner, seen) end
  for _, k in ipairs(rest) do
    local key = is_identifier(k) and k or ("[" .. serialize(k, inner, seen) .. "]")
    lines[#lines + 1] = inner .. key .. " = " .. serialize(value[k], inner, seen)
  end
  seen[value] = nil
  return "{\n" .. table.concat(lines, ",\n") .. "\n" .. indent .. "}"
end

local config = {
  name = "demo", version = 3, ratio = 0.75, debug = false,
  tags = {"a", "b c", 'quote"d'},
  limits = {max = 10, min = -1, [1.5] = "float key", ["not an id"] = true},
  empty = {},
}
print(serialize(config))

-- Round trip: load the text back and compare a few fields.
local copy = load("return " .. serialize(config))()
print(copy.tags[3], copy.limits[1.5], copy.limits["not an id"], #copy.tags)

-- Errors for unsupported values and cycles.
local cyclic = {}
cyclic.self = cyclic
print(pcall(serialize, cyclic))
print(pcall(serialize, {f = print}))
