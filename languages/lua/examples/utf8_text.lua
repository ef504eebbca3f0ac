-- Working with UTF-8 text: bytes versus characters.

local samples = {"plain", "café", "Ωμέγα", "中文字", "ø→∞"}

-- # measures bytes, utf8.len measures code points; the difference is how many
-- continuation bytes the multi-byte characters brought along.
for _, s in ipairs(samples) do
  local nchars = utf8.len(s)
  print(("%-8s"):format("[" .. nchars .. "]"), #s - nchars, s)
end

-- utf8.codepoint(s, 1, -1) returns every code point at once.
print(utf8.codepoint("ø→∞", 1, -1))

-- Count characters by how many bytes they need: a byte below 0x80 starts an ASCII
-- character, 0xC0-0xDF a two-byte one, 0xE0-0xEF three, 0xF0-0xF7 four.
local function width_histogram(s)
  local widths = {0, 0, 0, 0}
  for _, code in utf8.codes(s) do
    local size = code < 0x80 and 1 or code < 0x800 and 2 or code < 0x10000 and 3 or 4
    widths[size] = widths[size] + 1
  end
  return widths
end
print(table.concat(width_histogram("a€ß😀bñ"), ","))

-- Title-case the first letter when it is ASCII; leave other scripts alone.
local function capitalise(s)
  local head = utf8.codepoint(s)
  if head >= 97 and head <= 122 then
    return utf8.char(head - 32) .. s:sub(2)
  end
  return s
end
print(capitalise("plain"), capitalise("ωμέγα"), capitalise("über"))

-- Walk the string backwards: a continuation byte matches 10xxxxxx.
local function last_char(s)
  local i = #s
  while i > 1 and (s:byte(i) & 0xC0) == 0x80 do i = i - 1 end
  return s:sub(i)
end
print(last_char("中文字"), last_char("café"), last_char("x"))

-- Keep only the characters whose code point is in a range (here: Greek).
local function only_greek(s)
  local kept = {}
  for _, code in utf8.codes(s) do
    if code >= 0x370 and code <= 0x3FF then kept[#kept + 1] = utf8.char(code) end
  end
  return table.concat(kept)
end
print(only_greek("Ωx μ1έ-γα!"))

-- A checker that never raises: utf8.len gives nil and the offending byte position.
local function describe(s)
  local count, where = utf8.len(s)
  if count then return count .. " code points" end
  return "broken at byte " .. where
end
for _, s in ipairs({"ascii", "π ≈ 3.14", "\xc3(", "ab\x80"}) do
  print(describe(s))
end

-- Escapes: \u{...} writes a code point in source, utf8.char at run time.
print("\u{2603}" == utf8.char(0x2603), utf8.char(0x41, 0x3B1, 0x1F642))
