-- Operator overloading with metamethods: an immutable 2D vector type.

local Vec = {}
Vec.__index = Vec

local function new(x, y) return setmetatable({x = x, y = y}, Vec) end
local function is_vec(v) return getmetatable(v) == Vec end

Vec.__add = function(a, b) return new(a.x + b.x, a.y + b.y) end
Vec.__sub = function(a, b) return new(a.x - b.x, a.y - b.y) end
Vec.__unm = function(a) return new(-a.x, -a.y) end

-- Scalar multiplication works with the number on either side;
-- vector * vector is the dot product.
Vec.__mul = function(a, b)
  if type(a) == "number" then return new(a * b.x, a * b.y) end
  if type(b) == "number" then return new(a.x * b, a.y * b) end
  return a.x * b.x + a.y * b.y
end
Vec.__div = function(a, k) return new(a.x / k, a.y / k) end

Vec.__eq = function(a, b) return a.x == b.x and a.y == b.y end
-- Order by length (compare squared lengths to stay in integers).
Vec.__lt = function(a, b) return a * a < b * b end
Vec.__le = function(a, b) return a * a <= b * b end
Vec.__len = function(a) return math.sqrt(a * a) end   -- #v is the magnitude
Vec.__tostring = function(a) return "(" .. a.x .. ", " .. a.y .. ")" end
Vec.__concat = function(a, b) return tostring(a) .. tostring(b) end
-- Make the vector immutable: reject new fields.
Vec.__newindex = function() error("vectors are immutable", 2) end

function Vec:rotated90() return new(-self.y, self.x) end

local a, b = new(3, 4), new(1, -2)
print("a + b  =", tostring(a + b))
print("a - b  =", tostring(a - b))
print("-a     =", tostring(-a))
print("2 * a  =", tostring(2 * a), "a * 2 =", tostring(a * 2))
print("a . b  =", a * b)
print("a / 2  =", tostring(a / 2))
print("|a|    =", #a)
print("a == new(3,4):", a == new(3, 4), "a ~= b:", a ~= b)
print("b < a:", b < a, "a <= a:", a <= a, "a > b:", a > b)
print("concat: " .. a .. " and " .. b)
print("rotated:", tostring(a:rotated90()), is_vec(a), is_vec({x = 1, y = 2}))

local ok, err = pcall(function() a.z = 1 end)
print("assign field:", ok, (tostring(err):gsub("^[^:]*:%d+: ", "")))

-- Sorting uses __lt automatically.
local vs = {new(5, 0), new(1, 1), new(0, -3), new(2, 2)}
table.sort(vs)
local parts = {}
for i, v in ipairs(vs) do parts[i] = tostring(v) end
print(table.concat(parts, " "))

-- Summing a list of vectors with a fold.
local function sum(list)
  local acc = new(0, 0)
  for _, v in ipairs(list) do acc = acc + v end
  return acc
end
print("sum:", tostring(sum(vs)))
