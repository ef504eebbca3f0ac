-- Word frequencies: tallying tokens in a table, then ordering the tally deterministically.

local lines = {
  "Red fish, blue fish; old fish, new fish.",
  "One fish two fish -- red FISH blue fish!",
  "This one has a little star, this one has a little car.",
}

-- Split on whitespace, then trim punctuation from both ends of each token.
local function tokens(line)
  local out = {}
  for chunk in line:gmatch("%S+") do
    local bare = chunk:gsub("^%p+", ""):gsub("%p+$", "")
    if bare ~= "" then out[#out + 1] = string.lower(bare) end
  end
  return out
end

-- A tally with a metatable default, so missing words read as zero.
local tally = setmetatable({}, {__index = function() return 0 end})
local seen_order, total = {}, 0
for _, line in ipairs(lines) do
  for _, tok in ipairs(tokens(line)) do
    if rawget(tally, tok) == nil then seen_order[#seen_order + 1] = tok end
    tally[tok] = tally[tok] + 1
    total = total + 1
  end
end
print(("tokens=%d unique=%d"):format(total, #seen_order))

-- Order by descending count; ties keep the order of first appearance, which
-- table.sort (not stable) would not, so compare first positions explicitly.
local first = {}
for pos, tok in ipairs(seen_order) do first[tok] = pos end
local order = {table.unpack(seen_order)}
table.sort(order, function(x, y)
  local cx, cy = tally[x], tally[y]
  if cx == cy then return first[x] < first[y] end
  return cx > cy
end)
for rank = 1, 4 do
  local tok = order[rank]
  print(rank, tok, tally[tok], ("%.1f%%"):format(100 * tally[tok] / total))
end

-- Words that occur twice or more, as one line in first-appearance order.
local repeated = {}
for _, tok in ipairs(seen_order) do
  if tally[tok] >= 2 then repeated[#repeated + 1] = tok .. "x" .. tally[tok] end
end
print(table.concat(repeated, " "))

-- Per line: how many tokens, and the longest one (the earliest on a tie).
for n, line in ipairs(lines) do
  local toks, longest = tokens(line), ""
  for _, tok in ipairs(toks) do
    if #tok > #longest then longest = tok end
  end
  print(("line %d: %d tokens, longest %q"):format(n, #toks, longest))
end

-- Vowel share of all letters, counted with gsub's second result.
local joined = table.concat(lines, " ")
local _, vowels = joined:gsub("[AEIOUaeiou]", "")
local _, letters = joined:gsub("%a", "")
print(("vowels %d of %d letters"):format(vowels, letters))
