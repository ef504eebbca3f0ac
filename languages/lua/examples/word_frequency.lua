-- Word frequencies: counting with a table, then sorting for deterministic output.

local text = [[
The quick brown fox jumps over the lazy dog. The dog sleeps;
the fox does not! A fox, a dog, and THE end.
]]

-- Count lower-cased words made of letters (apostrophes allowed inside words).
local function count_words(s)
  local counts, total = {}, 0
  for word in s:lower():gmatch("%a[%a']*") do
    counts[word] = (counts[word] or 0) + 1
    total = total + 1
  end
  return counts, total
end

local counts, total = count_words(text)

-- pairs() order is unspecified, so collect the keys and sort them:
-- highest count first, alphabetical among equal counts.
local function ranked(map)
  local keys = {}
  for k in pairs(map) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b)
    if map[a] ~= map[b] then return map[a] > map[b] end
    return a < b
  end)
  return keys
end

local words = ranked(counts)
print(string.format("%d words, %d distinct", total, #words))
for i = 1, 5 do
  local w = words[i]
  print(string.format("%2d. %-6s %d %s", i, w, counts[w], string.rep("*", counts[w])))
end

-- Words that appear exactly once, alphabetically.
local singles = {}
for _, w in ipairs(words) do
  if counts[w] == 1 then singles[#singles + 1] = w end
end
table.sort(singles)
print("once: " .. table.concat(singles, ", "))

-- Group words by length into a table of lists, then print lengths in order.
local by_length = {}
for _, w in ipairs(words) do
  local len = #w
  by_length[len] = by_length[len] or {}
  table.insert(by_length[len], w)
end
local lengths = {}
for len in pairs(by_length) do lengths[#lengths + 1] = len end
table.sort(lengths)
for _, len in ipairs(lengths) do
  table.sort(by_length[len])
  print(len, table.concat(by_length[len], " "))
end

-- Letter histogram over a-z, in alphabetical order.
local letters = {}
for ch in text:lower():gmatch("%a") do letters[ch] = (letters[ch] or 0) + 1 end
local hist = {}
for code = string.byte("a"), string.byte("z") do
  local ch = string.char(code)
  if letters[ch] then hist[#hist + 1] = ch .. letters[ch] end
end
print(table.concat(hist, " "))
