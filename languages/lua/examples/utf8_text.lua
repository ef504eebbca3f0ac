-- Working with UTF-8 text: bytes versus characters.

local words = {"hello", "naïve", "Ελλάδα", "日本語", "añb€"}

-- # counts bytes; utf8.len counts code points. "%-10s" would pad by bytes,
-- so pad by characters ourselves to keep the columns aligned.
for _, w in ipairs(words) do
  local padded = w .. string.rep(" ", 10 - utf8.len(w))
  print(string.format("%s bytes=%2d chars=%d", padded, #w, utf8.len(w)))
end

-- Iterate characters with utf8.codes (position and code point).
local codes = {}
for pos, cp in utf8.codes("añb€") do
  codes[#codes + 1] = string.format("%d:U+%04X", pos, cp)
end
print(table.concat(codes, " "))

-- Split into characters with utf8.charpattern.
local function chars(s)
  local out = {}
  for ch in s:gmatch(utf8.charpattern) do out[#out + 1] = ch end
  return out
end
print(table.concat(chars("Ελλάδα"), "|"))

-- Reverse by characters (string.reverse would corrupt multi-byte sequences).
local function reverse(s)
  local cs = chars(s)
  for i = 1, #cs // 2 do cs[i], cs[#cs - i + 1] = cs[#cs - i + 1], cs[i] end
  return table.concat(cs)
end
print(reverse("日本語"), reverse("naïve"))

-- Substring by character positions using utf8.offset.
local function usub(s, i, j)
  local n = utf8.len(s)
  j = math.min(j or n, n)
  if i > j then return "" end
  local from = utf8.offset(s, i)
  local to = utf8.offset(s, j + 1) - 1
  return s:sub(from, to)
end
print(usub("Ελλάδα", 2, 4), usub("añb€", 3), usub("abc", 2, 1) == "")

-- Truncate to a byte budget without cutting a character in half.
local function truncate_bytes(s, max_bytes)
  local last = 0
  for pos, cp in utf8.codes(s) do
    local finish = pos + #utf8.char(cp) - 1
    if finish > max_bytes then break end
    last = finish
  end
  return s:sub(1, last)
end
print(truncate_bytes("日本語", 7), truncate_bytes("añb€", 4), #truncate_bytes("añb€", 4))

-- Validate input: utf8.len returns nil plus the position of the first bad byte.
for _, s in ipairs({"ok ✓", "bad \xff byte", "cut \xe6\x97"}) do
  local n, bad = utf8.len(s)
  print(n and ("valid, " .. n .. " chars") or ("invalid at byte " .. bad))
end

-- Build strings from code points.
print(utf8.char(72, 105, 0x2764, 0x1F600), "\u{48}\u{49}")
