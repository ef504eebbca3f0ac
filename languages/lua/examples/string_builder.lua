-- Building strings efficiently with table.concat, and formatting a text table.

-- Repeated `s = s .. x` copies the whole string each time (quadratic);
-- appending to a buffer table and concatenating once is linear.
local function join_numbers(n, sep)
  local buf = {}
  for i = 1, n do buf[#buf + 1] = tostring(i) end
  return table.concat(buf, sep)
end
print(join_numbers(10, ","))
print(#join_numbers(10000, ""))           -- 38894 characters built in one pass

-- A tiny StringBuilder object with chained calls.
local Builder = {}
Builder.__index = Builder
function Builder.new() return setmetatable({parts = {}}, Builder) end
function Builder:add(...)
  for i = 1, select("#", ...) do self.parts[#self.parts + 1] = tostring(select(i, ...)) end
  return self
end
function Builder:line(...) return self:add(...):add("\n") end
function Builder:build() return table.concat(self.parts) end

local b = Builder.new()
b:add("Header: "):line("report"):line("items=", 3, " ok=", true)
io.write(b:build())

-- Render rows as an aligned text table.
local function render(headers, rows)
  local widths = {}
  for i, h in ipairs(headers) do widths[i] = #h end
  for _, row in ipairs(rows) do
    for i, cell in ipairs(row) do
      widths[i] = math.max(widths[i], #tostring(cell))
    end
  end
  local out = {}
  local function emit(cells)
    local line = {}
    for i, cell in ipairs(cells) do
      local text = tostring(cell)
      if type(cell) == "number" then
        line[i] = string.rep(" ", widths[i] - #text) .. text   -- right-align numbers
      else
        line[i] = text .. string.rep(" ", widths[i] - #text)
      end
    end
    out[#out + 1] = "| " .. table.concat(line, " | ") .. " |"
  end
  emit(headers)
  local rule = {}
  for i, w in ipairs(widths) do rule[i] = string.rep("-", w) end
  out[#out + 1] = "|-" .. table.concat(rule, "-|-") .. "-|"
  for _, row in ipairs(rows) do emit(row) end
  return table.concat(out, "\n")
end

print(render({"fruit", "qty", "price"}, {
  {"apple", 3, 1.25},
  {"watermelon", 1, 4.5},
  {"fig", 12, 0.3},
}))

-- string.rep with a separator and string.format for padding.
print(string.rep("ab", 3, "-"), string.format("[%-6s][%6s][%06.2f]", "l", "r", 3.14159))
