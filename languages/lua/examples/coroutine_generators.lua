-- Coroutines as generators and as a producer/consumer pipeline.

-- A generator yielding Fibonacci numbers up to a limit.
local function fibonacci(limit)
  return coroutine.wrap(function()
    local a, b = 0, 1
    while a <= limit do
      coroutine.yield(a)
      a, b = b, a + b
    end
  end)
end

local fibs = {}
for n in fibonacci(100) do fibs[#fibs + 1] = n end
print(table.concat(fibs, " "))

-- Generators compose: filter and map take and return generators.
local function filter(pred, gen)
  return coroutine.wrap(function()
    for v in gen do
      if pred(v) then coroutine.yield(v) end
    end
  end)
end

local function map(f, gen)
  return coroutine.wrap(function()
    for v in gen do coroutine.yield(f(v)) end
  end)
end

local evens_squared = map(function(x) return x * x end,
  filter(function(x) return x % 2 == 0 end, fibonacci(1000)))
local out = {}
for v in evens_squared do out[#out + 1] = v end
print(table.concat(out, ", "))

-- Permutations generated recursively, consumed lazily.
local function permutations(items)
  return coroutine.wrap(function()
    local function permute(n)
      if n <= 1 then
        coroutine.yield(table.concat(items))
        return
      end
      for i = 1, n do
        items[i], items[n] = items[n], items[i]
        permute(n - 1)
        items[i], items[n] = items[n], items[i]
      end
    end
    permute(#items)
  end)
end

local perms = {}
for p in permutations({"a", "b", "c"}) do perms[#perms + 1] = p end
table.sort(perms)
print(#perms, table.concat(perms, " "))

-- Explicit resume/yield: a consumer that receives values and reports a total.
local summer = coroutine.create(function()
  local total = 0
  while true do
    local value = coroutine.yield(total)
    if value == nil then break end
    total = total + value
  end
  return "final " .. total
end)

coroutine.resume(summer)               -- run up to the first yield
for _, v in ipairs({5, 10, 20}) do
  local _, running = coroutine.resume(summer, v)
  print("running total", running)
end
print(coroutine.resume(summer))        -- true  final 35
print(coroutine.status(summer))        -- dead
