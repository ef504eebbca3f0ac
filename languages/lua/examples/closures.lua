-- Closures: functions that capture local variables of an enclosing scope.

-- A counter factory: each call creates an independent `count` upvalue.
local function make_counter(start, step)
  local count = start or 0
  step = step or 1
  return function()
    count = count + step
    return count
  end
end

local tick = make_counter()
local by_ten = make_counter(100, 10)
print(tick(), tick(), tick())      -- 1 2 3
print(by_ten(), by_ten())          -- 110 120
print(tick())                      -- 4: counters do not interfere

-- Several closures sharing one upvalue form a tiny object.
local function make_account(balance)
  local function deposit(amount) balance = balance + amount end
  local function withdraw(amount)
    if amount > balance then return false, "insufficient funds" end
    balance = balance - amount
    return true
  end
  local function get() return balance end
  return {deposit = deposit, withdraw = withdraw, balance = get}
end

local acct = make_account(50)
acct.deposit(25)
print(acct.withdraw(100))          -- false  insufficient funds
print(acct.withdraw(30))           -- true
print("balance", acct.balance())   -- balance 45

-- Function composition and partial application.
local function compose(f, g)
  return function(...) return f(g(...)) end
end
local function partial(f, first)
  return function(...) return f(first, ...) end
end

local add = function(a, b) return a + b end
local double = function(x) return x * 2 end
local add5 = partial(add, 5)
local add5_then_double = compose(double, add5)
print(add5(1), add5_then_double(1))  -- 6 12

-- Each loop iteration gets a fresh variable, so the closures differ.
local printers = {}
for i = 1, 3 do
  printers[i] = function() return "item " .. i end
end
for _, p in ipairs(printers) do print(p()) end

-- Memoizing wrapper: the cache lives in the closure.
local function memoize(f)
  local cache = {}
  local calls = 0
  return function(n)
    if cache[n] == nil then
      calls = calls + 1
      cache[n] = f(n)
    end
    return cache[n]
  end, function() return calls end
end

local square, square_calls = memoize(function(n) return n * n end)
print(square(9), square(9), square(3), "computed:", square_calls())
