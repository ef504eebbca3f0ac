-- Integers and floats in Lua 5.4: subtypes, division, overflow and conversion.

local function show(label, v)
  print(string.format("%-22s %-22s %s", label, tostring(v), math.type(v) or type(v)))
end

-- pcall, minus the "file:line:" prefix so the output does not depend on the file name
local function try(f)
  local ok, err = pcall(f)
  return ok, (tostring(err):gsub("^[^:]*:%d+: ", ""))
end

show("7 / 2", 7 / 2)                  -- / always produces a float
show("6 / 2", 6 / 2)
show("7 // 2", 7 // 2)                -- floor division keeps integers
show("-7 // 2", -7 // 2)              -- floors toward minus infinity
show("7.0 // 2", 7.0 // 2)
show("-7 % 3", -7 % 3)                -- result takes the sign of the divisor
show("7 % -3", 7 % -3)
show("math.fmod(-7, 3)", math.fmod(-7, 3))  -- truncating remainder
show("2^10", 2^10)                    -- ^ always produces a float
show("1 == 1.0", 1 == 1.0)

-- Integer overflow wraps around (two's complement), floats do not.
show("maxinteger + 1", math.maxinteger + 1)
show("maxinteger + 1.0", math.maxinteger + 1.0)
show("mininteger // -1", math.mininteger // -1)

-- Floats are exact only up to 2^53.
show("2^53 + 1 (float)", 2^53 + 1)
show("(1 << 53) + 1", (1 << 53) + 1)
show("0.1 + 0.2 == 0.3", 0.1 + 0.2 == 0.3)
print(string.format("%.17g", 0.1 + 0.2))

-- Converting floats to integers.
show("math.floor(3.7)", math.floor(3.7))
show("math.tointeger(4.0)", math.tointeger(4.0))
show("math.tointeger(4.5)", math.tointeger(4.5))
show("3.0 | 0", 3.0 | 0)              -- bitwise ops need exact integers
print(try(function() return 3.5 | 0 end))

-- Strings convert in arithmetic, not in comparisons.
show('"10" + 5', "10" + 5)
show('"10" * 1.5', "10" * 1.5)
show('tonumber("0x10")', tonumber("0x10"))
show('10 == "10"', 10 == "10")

-- Integer division by zero is an error, float division is not.
print(try(function() return 1 // 0 end))
show("1 / 0", 1 / 0)
show("-1 / 0", -1 / 0)
local nan = 0 / 0
show("nan ~= nan", nan ~= nan)

-- Averages: use float division explicitly when needed.
local values = {3, 4, 4}
local sum = 0
for _, v in ipairs(values) do sum = sum + v end
print(string.format("sum=%d mean=%.4f sum//n=%d", sum, sum / #values, sum // #values))
