-- goto and labels: the `continue` idiom, leaving nested loops, and retry loops.

-- 1. `continue`: jump to a label at the end of the loop body.
local lines = {"# comment", "name = lua", "", "version = 5.4", "  # indented comment", "bad line"}
local config = {}
for i, line in ipairs(lines) do
  if line:match("^%s*#") or line:match("^%s*$") then
    goto continue                    -- skip comments and blank lines
  end
  local key, value = line:match("^(%w+)%s*=%s*(.-)%s*$")
  if not key then
    print("line " .. i .. ": cannot parse '" .. line .. "'")
    goto continue
  end
  config[#config + 1] = key .. "=" .. value
  ::continue::
end
print(table.concat(config, "; "))

-- 2. Breaking out of nested loops with a single goto.
local grid = {
  {1, 3, 5},
  {7, 8, 9},
  {2, 4, 6},
}
local found_row, found_col
for r = 1, #grid do
  for c = 1, #grid[r] do
    if grid[r][c] % 2 == 0 then
      found_row, found_col = r, c
      goto done
    end
  end
end
::done::
print("first even at", found_row, found_col)

-- 3. `continue` in a while loop: the label must come before the loop's end
-- and the counter must advance before the jump.
local n, odd_sum = 0, 0
while n < 10 do
  n = n + 1
  if n % 2 == 0 then goto next_n end
  odd_sum = odd_sum + n
  ::next_n::
end
print("sum of odd numbers 1..10:", odd_sum)

-- 4. A retry loop written with a backward goto.
local attempts = 0
local function flaky()
  attempts = attempts + 1
  if attempts < 3 then return nil, "temporary failure" end
  return "success"
end
::retry::
local result, err = flaky()
if not result then
  print("attempt " .. attempts .. " failed: " .. err)
  goto retry
end
print("attempt " .. attempts .. ": " .. result)

-- 5. `break` ends only the innermost loop.
local pairs_found = {}
for a = 1, 4 do
  for b = a, 4 do
    if a + b > 5 then break end
    pairs_found[#pairs_found + 1] = a .. "+" .. b
  end
end
print(table.concat(pairs_found, " "))
