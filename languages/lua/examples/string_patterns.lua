-- String patterns: parsing structured text with match, gmatch and gsub.

local log = [[
2024-03-01 12:00:05 INFO  user=alice action=login
2024-03-01 12:01:17 WARN  user=bob action=retry attempts=3
2024-03-01 12:02:40 ERROR user=alice action=upload size=2048
malformed line here
2024-03-01 12:05:00 INFO  user=carol action=logout
]]

-- Parse each line into a record; skip lines that do not match.
local records = {}
for line in log:gmatch("[^\n]+") do
  local date, time, level, rest = line:match("^(%d+%-%d+%-%d+) (%d+:%d+:%d+) (%u+)%s+(.*)$")
  if date then
    local fields = {}
    for key, value in rest:gmatch("(%w+)=(%w+)") do fields[key] = value end
    records[#records + 1] = {time = time, level = level, fields = fields}
  else
    print("skipped: " .. line)
  end
end

for _, r in ipairs(records) do
  print(r.time, r.level, r.fields.user, r.fields.action)
end

-- Count levels, then print them in sorted order (never rely on pairs order).
local counts = {}
for _, r in ipairs(records) do counts[r.level] = (counts[r.level] or 0) + 1 end
local levels = {}
for level in pairs(counts) do levels[#levels + 1] = level end
table.sort(levels)
for _, level in ipairs(levels) do io.write(level, "=", counts[level], " ") end
print()

-- gsub with a table: template expansion, unknown keys left untouched.
local template = "Dear ${name}, your order #${id} ships ${when}."
local filled = template:gsub("%${(%w+)}", {name = "Ann", id = 42})
print(filled)

-- gsub with a function: convert snake_case to CamelCase.
local function camel(s)
  return (s:gsub("^%l", string.upper):gsub("_(%l)", function(c) return c:upper() end))
end
print(camel("parse_http_header"), camel("x"))

-- Trimming and collapsing whitespace.
local messy = "   too    many   spaces   "
local tidy = messy:match("^%s*(.-)%s*$"):gsub("%s+", " ")
print("[" .. tidy .. "]")

-- Balanced match and frontier pattern.
print(("call(f(x), g(y)) tail"):match("%b()"))
local words = {}
for w in ("THE cat, the CAT; theme"):lower():gmatch("%f[%a]the%f[%A]") do
  words[#words + 1] = w
end
print("whole-word 'the' count:", #words)

-- Escaping magic characters before using text as a pattern.
local function escape(text) return (text:gsub("[%^%$%(%)%%%.%[%]%*%+%-%?]", "%%%0")) end
print(("price: $3.50 (approx)"):gsub(escape("$3.50"), "three fifty"))
