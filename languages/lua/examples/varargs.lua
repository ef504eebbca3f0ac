-- Variadic functions: ..., select, table.pack and table.unpack.

-- Sum any number of numeric arguments.
local function sum(...)
  local total = 0
  for i = 1, select("#", ...) do
    total = total + select(i, ...)
  end
  return total
end
print(sum(), sum(1), sum(1, 2, 3, 4.5))

-- select("#") counts trailing nils, #{...} may not.
local function count_args(...)
  return select("#", ...)
end
print(count_args(nil, nil), count_args(1, nil, 3))

-- table.pack keeps the count in field n, so nils are safe.
local function describe(...)
  local args = table.pack(...)
  local parts = {}
  for i = 1, args.n do parts[i] = tostring(args[i]) end
  return args.n .. " args: " .. table.concat(parts, ", ")
end
print(describe("a", nil, 3, false))

-- A printf built on string.format and varargs.
local function printf(fmt, ...)
  io.write(string.format(fmt, ...))
end
printf("%s scored %d points (%.1f%%)\n", "Ann", 42, 87.5)

-- Forwarding varargs: wrap any function with logging.
local function traced(name, f)
  return function(...)
    print("call " .. name .. "(" .. table.concat(table.pack(...), ", ") .. ")")
    return f(...)
  end
end
local max = traced("math.max", math.max)
print("result", max(3, 9, 4))

-- Returning several values and unpacking tables into arguments.
local function min_max(...)
  local lo, hi = math.huge, -math.huge
  for _, v in ipairs({...}) do
    if v < lo then lo = v end
    if v > hi then hi = v end
  end
  return lo, hi
end
local data = {7, -2, 15, 0}
print(min_max(table.unpack(data)))

-- Named-argument style via a single table parameter.
local function make_window(opts)
  local w = opts.width or 640
  local h = opts.height or 480
  return string.format("%s %dx%d", opts.title or "untitled", w, h)
end
print(make_window{title = "Editor", width = 800})

-- select with a negative index takes arguments from the end.
print(select(-2, "a", "b", "c", "d"))
