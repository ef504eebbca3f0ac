-- table.sort with custom comparators: multi-key sorts, tie-breakers, stable sort.

local employees = {
  {name = "Dana", dept = "eng", salary = 120},
  {name = "Ali", dept = "ops", salary = 95},
  {name = "Bea", dept = "eng", salary = 120},
  {name = "Cyd", dept = "eng", salary = 105},
  {name = "Eve", dept = "ops", salary = 110},
}

local function show(list)
  local parts = {}
  for i, e in ipairs(list) do parts[i] = e.name end
  return table.concat(parts, " ")
end

-- Department ascending, then salary descending, then name as a tie-breaker.
table.sort(employees, function(a, b)
  if a.dept ~= b.dept then return a.dept < b.dept end
  if a.salary ~= b.salary then return a.salary > b.salary end
  return a.name < b.name
end)
print(show(employees))

-- A comparator factory: sort by any field, ascending or descending.
local function by(field, descending)
  return function(a, b)
    if descending then return a[field] > b[field] end
    return a[field] < b[field]
  end
end
table.sort(employees, by("name"))
print(show(employees))
table.sort(employees, by("name", true))
print(show(employees))

-- table.sort is not stable; decorate with the original index to make it stable.
local function stable_sort(list, less)
  local decorated = {}
  for i, v in ipairs(list) do decorated[i] = {value = v, index = i} end
  table.sort(decorated, function(x, y)
    if less(x.value, y.value) then return true end
    if less(y.value, x.value) then return false end
    return x.index < y.index
  end)
  for i, d in ipairs(decorated) do list[i] = d.value end
end

local words = {"pear", "fig", "apple", "kiwi", "plum", "date"}
stable_sort(words, function(a, b) return #a < #b end)
print(table.concat(words, " "))   -- equal lengths keep their original order

-- Case-insensitive sort of strings.
local names = {"bob", "Alice", "carol", "Bob"}
table.sort(names, function(a, b)
  local la, lb = a:lower(), b:lower()
  if la ~= lb then return la < lb end
  return a < b
end)
print(table.concat(names, " "))

-- Numbers: descending, and by absolute value.
local nums = {3, -7, 0, 12, -1, 5}
table.sort(nums, function(a, b) return a > b end)
print(table.concat(nums, " "))
table.sort(nums, function(a, b)
  if math.abs(a) ~= math.abs(b) then return math.abs(a) < math.abs(b) end
  return a < b
end)
print(table.concat(nums, " "))
