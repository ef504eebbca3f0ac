"""Lua text the training tests learn from: the lexicon, a few dozen programs, rows per method."""
from __future__ import annotations

# The Lua 5.4 lexicon, written out so these tests do not depend on the pack's file.
LUA_KEYWORDS = [
    "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto", "if", "in",
    "local", "nil", "not", "or", "repeat", "return", "then", "true", "until", "while",
]
LUA_OPERATORS = [
    "==", "~=", "<=", ">=", "//", "..", "...", "::", "<<", ">>", "+", "-", "*", "/", "%", "^", "#",
    "&", "~", "|", "<", ">", "=", "(", ")", "{", "}", "[", "]", ";", ":", ",", ".",
]
LUA_KEEP_WHOLE = LUA_KEYWORDS + LUA_OPERATORS

LUA_SNIPPETS = [
    """local function add(a, b)
  return a + b
end
print(add(1, 2))""",
    """local function fib(n)
  if n < 2 then
    return n
  end
  return fib(n - 1) + fib(n - 2)
end
print(fib(10))""",
    """local t = {1, 2, 3, 4}
local sum = 0
for i = 1, #t do
  sum = sum + t[i]
end
print(sum)""",
    """local function max(a, b)
  if a > b then return a else return b end
end""",
    """local words = {}
for word in string.gmatch("a b c", "%a+") do
  words[#words + 1] = word
end
print(table.concat(words, ","))""",
    """local function is_even(n)
  return n % 2 == 0
end
for i = 1, 10 do
  if is_even(i) then print(i) end
end""",
    """local count = 0
while count < 5 do
  count = count + 1
end
print(count)""",
    """local i = 0
repeat
  i = i + 2
until i >= 10
print(i)""",
    """local function greet(name)
  return "hello, " .. name .. "!"
end
print(greet("world"))""",
    """local point = {x = 1, y = 2}
for key, value in pairs(point) do
  print(key, value)
end""",
    """local list = {"a", "b", "c"}
for index, item in ipairs(list) do
  print(index, item)
end""",
    """local function factorial(n)
  if n <= 1 then
    return 1
  end
  return n * factorial(n - 1)
end
print(factorial(5))""",
    """local Stack = {}
Stack.__index = Stack
function Stack.new()
  return setmetatable({items = {}}, Stack)
end
function Stack:push(v)
  self.items[#self.items + 1] = v
end
function Stack:pop()
  local v = self.items[#self.items]
  self.items[#self.items] = nil
  return v
end""",
    """local function clamp(x, lo, hi)
  if x < lo then return lo end
  if x > hi then return hi end
  return x
end""",
    """local ok, err = pcall(function()
  error("boom")
end)
print(ok, err)""",
    """local function reverse(s)
  local out = {}
  for i = #s, 1, -1 do
    out[#out + 1] = s:sub(i, i)
  end
  return table.concat(out)
end
print(reverse("lua"))""",
    """local function contains(t, x)
  for _, v in ipairs(t) do
    if v == x then return true end
  end
  return false
end""",
    """local function map(t, f)
  local r = {}
  for i, v in ipairs(t) do
    r[i] = f(v)
  end
  return r
end""",
    """local function filter(t, pred)
  local r = {}
  for _, v in ipairs(t) do
    if pred(v) then r[#r + 1] = v end
  end
  return r
end""",
    """local a, b = 10, 3
print(a // b, a % b, a / b, a ^ 2)
print(a == b, a ~= b, a <= b, a >= b)""",
    """local flags = 5
print(flags & 1, flags | 2, flags ~ 4, flags << 1, flags >> 1, ~flags)""",
    """local function sum(...)
  local total = 0
  for _, v in ipairs({...}) do
    total = total + v
  end
  return total
end
print(sum(1, 2, 3))""",
    """local endpoint = "http://localhost"
local ending = endpoint .. "/end"
print(ending)""",
    """for i = 1, 3 do
  for j = 1, 3 do
    if i == j then goto continue end
    print(i, j)
    ::continue::
  end
end""",
    """local function gcd(a, b)
  while b ~= 0 do
    a, b = b, a % b
  end
  return a
end
print(gcd(12, 18))""",
    """local s = "hello"
print(#s, s:upper(), s:rep(2), string.format("%d items", 3))""",
    """local function count_words(text)
  local n = 0
  for _ in text:gmatch("%S+") do n = n + 1 end
  return n
end""",
    """local x = nil
if not x then
  print("x is nil")
elseif x == false then
  print("x is false")
end""",
    """local queue = {first = 1, last = 0, items = {}}
local function push(q, v)
  q.last = q.last + 1
  q.items[q.last] = v
end""",
    """local t = {}
t[1] = "one"
t["two"] = 2
print(t[1], t.two, rawget(t, 1))""",
    """local function is_prime(n)
  if n < 2 then return false end
  for d = 2, math.floor(math.sqrt(n)) do
    if n % d == 0 then return false end
  end
  return true
end""",
    """local co = coroutine.create(function(a)
  local b = coroutine.yield(a + 1)
  return b * 2
end)
print(coroutine.resume(co, 1))""",
    """local function memo(f)
  local cache = {}
  return function(n)
    if cache[n] == nil then cache[n] = f(n) end
    return cache[n]
  end
end""",
    """local function split(s, sep)
  local parts = {}
  for piece in (s .. sep):gmatch("(.-)" .. sep) do
    parts[#parts + 1] = piece
  end
  return parts
end""",
    """local n = tonumber("42")
local s = tostring(n)
print(type(n), type(s), n and s or "none")""",
    """local function abs(x)
  if x < 0 then return -x end
  return x
end
print(abs(-3))""",
]


def sft_rows() -> list[dict]:
    return [
        {"messages": [
            {"role": "system", "content": "You write Lua 5.4."},
            {"role": "user", "content": f"Write Lua program number {i}."},
            {"role": "assistant", "content": snippet},
        ]}
        for i, snippet in enumerate(LUA_SNIPPETS)
    ]


def cpt_rows() -> list[dict]:
    return [{"text": snippet} for snippet in LUA_SNIPPETS]
