-- A minimal luaunit (https://github.com/bluebird75/luaunit, BSD) for MultiPL-E's Lua tests.
--
-- Loaded by the harness as `package.preload["luaunit"]`, from its own chunk (so a
-- completion's locals cannot shadow what this file uses), with one argument: the run's
-- marker, printed on stdout when LuaUnit.run() finishes, so a program that exits 0 before
-- its tests ran cannot pass.
--
-- Faithful to luaunit 3.4 where MultiPL-E's judgement depends on it: assertEquals compares
-- tables deeply (same keys, values compared recursively, cycles handled like luaunit's
-- _is_table_equals) and other values by type and then ==, so 1 == 1.0 but NaN ~= NaN;
-- test functions are the globals whose names start with "test" (any case), run in sorted
-- order, tables of test methods included; run() returns the number of failed and errored
-- tests, which `os.exit(lu.LuaUnit.run())` turns into the exit status.
-- Differences: reports go to stderr as `luaunit: FAIL|ERROR <test>: <message>` followed by
-- one summary line (the harness reads them), and a run that finds no test returns 1.
local marker = ...
local type, pairs, ipairs, tostring, error, xpcall, select = type, pairs, ipairs, tostring, error, xpcall, select
local setmetatable, next, rawget = setmetatable, next, rawget
local sort, concat = table.sort, table.concat
local format, find, sub, lower, gsub, rep = string.format, string.find, string.sub, string.lower, string.gsub, string.rep
local huge, abs = math.huge, math.abs
local stdout, stderr, traceback = io.stdout, io.stderr, debug.traceback
local G = _G

local M = {}
M.VERSION = "3.4-scriptorium"
M.ORDER_ACTUAL_EXPECTED = true
M.FAILURE_PREFIX = "LuaUnit test FAILURE: "
M.SUCCESS_PREFIX = "LuaUnit test SUCCESS: "

-- ------------------------------------------------------------------ pretty printing

local cross_type_order = {number = 1, boolean = 2, string = 3, table = 4}

local function key_less(a, b)
  local ta, tb = type(a), type(b)
  if ta == tb and (ta == "number" or ta == "string") then return a < b end
  if ta == tb then return tostring(a) < tostring(b) end
  return (cross_type_order[ta] or 5) < (cross_type_order[tb] or 5)
end

local prettystr

local function pretty(v, seen)
  local tv = type(v)
  if tv == "string" then
    if find(v, '"', 1, true) and not find(v, "'", 1, true) then return "'" .. v .. "'" end
    return '"' .. gsub(v, '"', '\\"') .. '"'
  elseif tv == "number" then
    if v ~= v then return "#NaN" end
    if v == huge then return "#Inf" end
    if v == -huge then return "-#Inf" end
    return tostring(v)
  elseif tv ~= "table" then
    return tostring(v)
  end
  if seen[v] then return "<" .. tostring(v) .. ">" end
  seen[v] = true
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = k end
  sort(keys, key_less)
  local parts, seq = {}, 1
  for _, k in ipairs(keys) do
    local entry
    if k == seq then
      entry, seq = "", seq + 1
    elseif type(k) == "string" and find(k, "^[_%a][_%w]*$") then
      entry = k .. "="
    else
      entry = "[" .. pretty(k, seen) .. "]="
    end
    parts[#parts + 1] = entry .. pretty(v[k], seen)
  end
  seen[v] = nil
  return "{" .. concat(parts, ", ") .. "}"
end

prettystr = function(v) return pretty(v, {}) end
M.prettystr = prettystr

-- ------------------------------------------------------------------ equality

local function is_table_equals(actual, expected, cycles)
  local ta, te = type(actual), type(expected)
  if ta ~= te then return false end
  if ta ~= "table" then return actual == expected end
  cycles = cycles or {actual = {}, expected = {}}
  if cycles.actual[actual] then return cycles.expected[expected] and true or false end
  if cycles.expected[expected] then return false end
  cycles.actual[actual], cycles.expected[expected] = true, true
  local matched = {}
  for k, v in pairs(actual) do
    matched[k] = true
    if not is_table_equals(v, expected[k], cycles) then
      cycles.actual[actual], cycles.expected[expected] = nil, nil
      return false
    end
  end
  for k in pairs(expected) do
    if not matched[k] then
      cycles.actual[actual], cycles.expected[expected] = nil, nil
      return false
    end
  end
  cycles.actual[actual], cycles.expected[expected] = nil, nil
  return true
end
M.private = {is_table_equals = is_table_equals}

local function failure(msg, extra, level)
  if type(extra) == "string" and #extra > 0 then msg = extra .. "\n" .. msg end
  error(M.FAILURE_PREFIX .. msg, (level or 1) + 1)
end

local function equality_message(actual, expected)
  if not M.ORDER_ACTUAL_EXPECTED then expected, actual = actual, expected end
  if type(expected) == "string" or type(expected) == "table" then
    return format("expected: %s\nactual: %s", prettystr(expected), prettystr(actual))
  end
  return format("expected: %s, actual: %s", prettystr(expected), prettystr(actual))
end

-- ------------------------------------------------------------------ assertions

function M.assertEquals(actual, expected, extra)
  if type(actual) == "table" and type(expected) == "table" then
    if not is_table_equals(actual, expected) then failure(equality_message(actual, expected), extra, 2) end
  elseif type(actual) ~= type(expected) or actual ~= expected then
    failure(equality_message(actual, expected), extra, 2)
  end
end

function M.assertNotEquals(actual, expected, extra)
  if type(actual) ~= type(expected) then return end
  if type(actual) == "table" then
    if not is_table_equals(actual, expected) then return end
  elseif actual ~= expected then
    return
  end
  failure("received the not expected value: " .. prettystr(actual), extra, 2)
end

function M.almostEquals(actual, expected, margin)
  if type(actual) ~= "number" or type(expected) ~= "number" or type(margin) ~= "number" then
    error(format("almostEquals: must supply only number arguments.\nArguments supplied: %s, %s, %s",
      prettystr(actual), prettystr(expected), prettystr(margin)), 3)
  end
  if margin < 0 then error("almostEquals: margin must not be negative, current value is " .. margin, 3) end
  return abs(expected - actual) <= margin
end

function M.assertAlmostEquals(actual, expected, margin, extra)
  margin = margin or 1e-11
  if not M.almostEquals(actual, expected, margin) then
    failure(format("Values are not almost equal\nActual: %s, expected: %s, delta %s above margin of %s",
      prettystr(actual), prettystr(expected), prettystr(abs(actual - expected)), prettystr(margin)), extra, 2)
  end
end

function M.assertNotAlmostEquals(actual, expected, margin, extra)
  margin = margin or 1e-11
  if M.almostEquals(actual, expected, margin) then
    failure(format("Values are almost equal\nActual: %s, expected: %s, delta %s below margin of %s",
      prettystr(actual), prettystr(expected), prettystr(abs(actual - expected)), prettystr(margin)), extra, 2)
  end
end

function M.assertTrue(value, extra)
  if value ~= true then failure("expected: true, actual: " .. prettystr(value), extra, 2) end
end

function M.assertFalse(value, extra)
  if value ~= false then failure("expected: false, actual: " .. prettystr(value), extra, 2) end
end

function M.assertEvalToTrue(value, extra)
  if not value then failure("expression is not truthy: " .. prettystr(value), extra, 2) end
end

function M.assertEvalToFalse(value, extra)
  if value then failure("expression is not falsy: " .. prettystr(value), extra, 2) end
end

function M.assertNil(value, extra)
  if value ~= nil then failure("expected: nil, actual: " .. prettystr(value), extra, 2) end
end

function M.assertNotNil(value, extra)
  if value == nil then failure("expected: not nil, actual: nil", extra, 2) end
end

function M.assertIs(actual, expected, extra)
  if actual ~= expected then
    failure(format("expected and actual object should not be different\nExpected: %s\nReceived: %s",
      prettystr(expected), prettystr(actual)), extra, 2)
  end
end

function M.assertNotIs(actual, expected, extra)
  if actual == expected then
    failure("expected and actual object should be different: " .. prettystr(expected), extra, 2)
  end
end

local function find_key_of(t, element)
  for k, v in pairs(t) do
    if is_table_equals(v, element) then return k end
  end
  return nil
end

function M.assertItemsEquals(actual, expected, extra)
  local same = type(actual) == type(expected)
  if same and type(actual) == "table" then
    for _, v in pairs(actual) do if find_key_of(expected, v) == nil then same = false break end end
    if same then
      for _, v in pairs(expected) do if find_key_of(actual, v) == nil then same = false break end end
    end
  elseif same then
    same = actual == expected
  end
  if not same then
    failure(format("Content of the tables are not identical:\nExpected: %s\nActual: %s",
      prettystr(expected), prettystr(actual)), extra, 2)
  end
end

function M.assertStrContains(str, sub_, is_pattern, extra)
  if not find(str, sub_, 1, not is_pattern) then
    failure(format("could not find %s %s in string %s", is_pattern and "pattern" or "substring",
      prettystr(sub_), prettystr(str)), extra, 2)
  end
end

function M.assertError(f, ...)
  if xpcall(f, traceback, ...) then
    failure("Expected an error when calling function but no error generated", nil, 2)
  end
end

function M.assertErrorMsgContains(partial, f, ...)
  local ok, err = xpcall(f, function(e) return e end, ...)
  if ok then
    failure("No error generated when calling function but expected error containing: " .. prettystr(partial), nil, 2)
  end
  if type(err) ~= "string" or not find(err, partial, 1, true) then
    failure(format("Error message does not contain: %s\nError message received: %s",
      prettystr(partial), prettystr(err)), nil, 2)
  end
end

function M.fail(msg) failure(tostring(msg), nil, 2) end

M.assertIsNil, M.assertNotIsNil = M.assertNil, M.assertNotNil

-- luaunit also offers every assertion in snake_case (assert_equals).
do
  local names = {}
  for name in pairs(M) do names[#names + 1] = name end
  for _, name in ipairs(names) do
    if type(M[name]) == "function" and find(name, "^assert") then
      M[lower(gsub(name, "(%u)", "_%1"))] = M[name]
    end
  end
end

-- ------------------------------------------------------------------ running

local function is_test_name(name)
  return type(name) == "string" and lower(sub(name, 1, 4)) == "test"
end

local function sorted_names(t, want)
  local names = {}
  for k, v in pairs(t) do
    if is_test_name(k) and want(v) then names[#names + 1] = k end
  end
  sort(names)
  return names
end

local function collect_tests()
  local tests = {}
  local function runnable(v) return type(v) == "function" or type(v) == "table" end
  for _, name in ipairs(sorted_names(G, runnable)) do
    local value = rawget(G, name)
    if type(value) == "function" then
      tests[#tests + 1] = {name = name, call = value}
    else
      for _, method in ipairs(sorted_names(value, function(v) return type(v) == "function" end)) do
        local instance = value
        tests[#tests + 1] = {
          name = name .. "." .. method,
          call = function()
            local set_up = instance.setUp or instance.Setup or instance.setup or instance.SetUp
            if set_up then set_up(instance) end
            local ok, err = xpcall(instance[method], function(e) return e end, instance)
            local tear_down = instance.tearDown or instance.TearDown or instance.teardown or instance.Teardown
            if tear_down then tear_down(instance) end
            if not ok then error(err, 0) end
          end,
        }
      end
    end
  end
  return tests
end

local function counted(n, one, many) return n .. " " .. (n == 1 and one or many) end

local LuaUnit = {}
M.LuaUnit = LuaUnit

function LuaUnit.run(...)
  local tests = collect_tests()
  local failures, errors = 0, 0
  for _, test in ipairs(tests) do
    local ok, err = xpcall(test.call, function(e) return e end)
    if not ok then
      local message = type(err) == "string" and err or prettystr(err)
      local at = find(message, M.FAILURE_PREFIX, 1, true)
      if at then
        failures = failures + 1
        message = sub(message, 1, at - 1) .. sub(message, at + #M.FAILURE_PREFIX)
        stderr:write("luaunit: FAIL ", test.name, ": ", message, "\n")
      else
        errors = errors + 1
        stderr:write("luaunit: ERROR ", test.name, ": ", message, "\n")
      end
    end
  end
  local bad = failures + errors
  stdout:write(format("Ran %s, %s, %s, %s\n%s\n", counted(#tests, "test", "tests"),
    counted(#tests - bad, "success", "successes"), counted(failures, "failure", "failures"),
    counted(errors, "error", "errors"),
    bad == 0 and #tests > 0 and "OK" or "FAILED"))
  stderr:write(format("luaunit: ran %d tests, %d failures, %d errors\n", #tests, failures, errors))
  if marker then stdout:write(marker, "\n") end
  stdout:flush()
  if #tests == 0 then return 1 end
  return bad
end

M.run = LuaUnit.run
return M
