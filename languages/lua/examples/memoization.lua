-- Recursion and memoization: naive recursion versus cached results.

-- Naive Fibonacci makes an exponential number of calls; count them.
local calls = 0
local function fib_naive(n)
  calls = calls + 1
  if n < 2 then return n end
  return fib_naive(n - 1) + fib_naive(n - 2)
end
print("naive fib(20) =", fib_naive(20), "calls:", calls)

-- A generic memoizer for one-argument functions. The recursive function
-- must call the memoized version, so we pass it in as `self`.
local function memoize(f)
  local cache = {}
  local memo
  memo = function(n)
    local hit = cache[n]
    if hit == nil then
      hit = f(memo, n)
      cache[n] = hit
    end
    return hit
  end
  return memo
end

calls = 0
local fib = memoize(function(self, n)
  calls = calls + 1
  if n < 2 then return n end
  return self(n - 1) + self(n - 2)
end)
print("memo fib(90) =", fib(90), "calls:", calls)

-- Two-argument memoization with a composite string key:
-- number of lattice paths in a grid moving only right or down.
local path_cache = {}
local function paths(rows, cols)
  if rows == 0 or cols == 0 then return 1 end
  local key = rows .. "," .. cols
  local cached = path_cache[key]
  if cached then return cached end
  local result = paths(rows - 1, cols) + paths(rows, cols - 1)
  path_cache[key] = result
  return result
end
print("paths(2,2) =", paths(2, 2), "paths(16,16) =", paths(16, 16))

-- Integer partitions p(n): ways to write n as a sum of positive integers.
local part_cache = {}
local function partitions(n, max)
  if n == 0 then return 1 end
  if n < 0 or max == 0 then return 0 end
  local key = n * 1000 + max
  if part_cache[key] == nil then
    part_cache[key] = partitions(n - max, max) + partitions(n, max - 1)
  end
  return part_cache[key]
end
local row = {}
for n = 1, 10 do row[n] = partitions(n, n) end
print("p(1..10):", table.concat(row, " "))
print("p(100) =", partitions(100, 100))

-- Recursion over nested data: depth and sum of a nested list.
local function depth_and_sum(list)
  local max_depth, total = 1, 0
  for _, v in ipairs(list) do
    if type(v) == "table" then
      local d, s = depth_and_sum(v)
      max_depth = math.max(max_depth, d + 1)
      total = total + s
    else
      total = total + v
    end
  end
  return max_depth, total
end
print(depth_and_sum({1, {2, 3}, {{4}, 5}, {}}))
