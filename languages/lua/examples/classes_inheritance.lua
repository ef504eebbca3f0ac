-- Object-oriented programming with metatables: a base class and two subclasses.

local Shape = {}
Shape.__index = Shape

function Shape.new(name)
  local self = setmetatable({}, Shape)
  self.name = name
  return self
end

function Shape:area() return 0 end

function Shape:describe()
  return string.format("%s with area %.2f", self.name, self:area())
end

Shape.__tostring = function(s) return "Shape<" .. s.name .. ">" end

-- Helper that creates a subclass whose methods fall back to `parent`.
local function subclass(parent)
  local cls = setmetatable({}, {__index = parent})
  cls.__index = cls
  cls.__tostring = parent.__tostring   -- metamethods are not inherited via __index
  return cls
end

local Rectangle = subclass(Shape)

function Rectangle.new(w, h)
  local self = Shape.new("rectangle")
  self.w, self.h = w, h
  return setmetatable(self, Rectangle)
end

function Rectangle:area() return self.w * self.h end

local Square = subclass(Rectangle)
function Square.new(side)
  local self = Rectangle.new(side, side)
  self.name = "square"
  return setmetatable(self, Square)
end

-- Override that extends the parent's method.
function Square:describe()
  return Rectangle.describe(self) .. " (side " .. self.w .. ")"
end

local Circle = subclass(Shape)
function Circle.new(r)
  local self = Shape.new("circle")
  self.r = r
  return setmetatable(self, Circle)
end

function Circle:area() return math.pi * self.r ^ 2 end

local shapes = {Rectangle.new(3, 4), Square.new(2), Circle.new(1), Shape.new("point")}
for _, s in ipairs(shapes) do
  print(s:describe())
end

-- Polymorphic sort by area, then print with __tostring.
table.sort(shapes, function(a, b) return a:area() < b:area() end)
local names = {}
for i, s in ipairs(shapes) do names[i] = tostring(s) end
print(table.concat(names, " < "))

local function is_instance(obj, cls)
  local mt = getmetatable(obj)
  while mt do
    if mt == cls then return true end
    local parent = getmetatable(mt)
    mt = parent and parent.__index
  end
  return false
end
print(is_instance(shapes[1], Shape), is_instance(Square.new(1), Rectangle),
      is_instance(Circle.new(1), Rectangle))
