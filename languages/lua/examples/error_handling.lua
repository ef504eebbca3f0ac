-- Error handling: error values, pcall, error objects, xpcall and cleanup.

-- 1. The nil-plus-message convention for expected failures.
local function parse_port(text)
  local n = tonumber(text)
  if not n or math.type(n) ~= "integer" then
    return nil, "not an integer: " .. tostring(text)
  end
  if n < 1 or n > 65535 then
    return nil, "out of range: " .. n
  end
  return n
end

for _, input in ipairs({"8080", "http", "70000", "22.5"}) do
  local port, err = parse_port(input)
  print(input, port or err)
end

-- 2. Structured error objects raised with error() and caught with pcall.
local ParseError = {}
ParseError.__index = ParseError
ParseError.__tostring = function(e)
  return string.format("ParseError at %d: %s", e.pos, e.msg)
end

local function expect_digits(s)
  local pos = s:find("%D")
  if pos then
    error(setmetatable({pos = pos, msg = "unexpected '" .. s:sub(pos, pos) .. "'"}, ParseError))
  end
  return tonumber(s)
end

for _, s in ipairs({"12345", "12a45"}) do
  local ok, result = pcall(expect_digits, s)
  if ok then
    print("parsed", result)
  elseif getmetatable(result) == ParseError then
    print(tostring(result), "pos=" .. result.pos)
  end
end

-- 3. Runtime errors are strings; level 0 avoids position prefixes.
local ok, msg = pcall(function() return nil + 1 end)
print(ok, msg:match("attempt to perform arithmetic on a nil value") ~= nil)
print(pcall(error, "plain message", 0))

-- 4. xpcall with a handler that sees the error before unwinding.
local function risky(n)
  if n > 2 then error("too big: " .. n, 0) end
  return n * 10
end
local function handler(e) return "handled <" .. tostring(e) .. ">" end
print(xpcall(risky, handler, 2))
print(xpcall(risky, handler, 5))

-- 5. Guaranteed cleanup with a to-be-closed variable.
local function with_resource(name, fail)
  local log = {}
  local ok2, err = pcall(function()
    local res <close> = setmetatable({}, {__close = function(_, e)
      log[#log + 1] = "closed " .. name .. (e and " after error" or "")
    end})
    log[#log + 1] = "using " .. name
    if fail then error("boom", 0) end
  end)
  log[#log + 1] = ok2 and "ok" or ("failed: " .. err)
  return table.concat(log, "; ")
end
print(with_resource("db", false))
print(with_resource("file", true))

-- 6. Re-raising errors that we do not know how to handle.
local ok3, err3 = pcall(function()
  local ok4, e = pcall(error, {code = 7})
  if not ok4 and e.code ~= 404 then error(e, 0) end
end)
print(ok3, type(err3), err3.code)
