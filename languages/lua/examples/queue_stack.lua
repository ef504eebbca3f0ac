-- Stack and queue classes, used for bracket checking and breadth-first search.

local Stack = {}
Stack.__index = Stack
function Stack.new() return setmetatable({items = {}, size = 0}, Stack) end
function Stack:push(v) self.size = self.size + 1; self.items[self.size] = v end
function Stack:pop()
  if self.size == 0 then return nil end
  local v = self.items[self.size]
  self.items[self.size] = nil
  self.size = self.size - 1
  return v
end
function Stack:is_empty() return self.size == 0 end

-- A queue with two indices: O(1) push and pop, unlike table.remove(t, 1).
local Queue = {}
Queue.__index = Queue
function Queue.new() return setmetatable({first = 1, last = 0, items = {}}, Queue) end
function Queue:push(v) self.last = self.last + 1; self.items[self.last] = v end
function Queue:pop()
  if self.first > self.last then return nil end
  local v = self.items[self.first]
  self.items[self.first] = nil          -- let the garbage collector reclaim it
  self.first = self.first + 1
  return v
end
function Queue:__len() return self.last - self.first + 1 end

-- Balanced brackets with a stack.
local pairs_of = {[")"] = "(", ["]"] = "[", ["}"] = "{"}
local function balanced(s)
  local st = Stack.new()
  for ch in s:gmatch("[%(%)%[%]{}]") do
    if pairs_of[ch] then
      if st:pop() ~= pairs_of[ch] then return false end
    else
      st:push(ch)
    end
  end
  return st:is_empty()
end
for _, s in ipairs({"f(a[1]{x})", "(]", "((", "", "{[()()]}"}) do
  print(string.format("%-12s %s", string.format("%q", s), tostring(balanced(s))))
end

-- Breadth-first search for the shortest path in a small grid maze.
local maze = {"S.#.....", ".##.###.", "....#...", ".##...#E"}
local function shortest_path(grid)
  local rows, cols = #grid, #grid[1]
  local start, goal
  for r = 1, rows do
    for c = 1, cols do
      local ch = grid[r]:sub(c, c)
      if ch == "S" then start = {r, c} elseif ch == "E" then goal = {r, c} end
    end
  end
  local dist = {[start[1] * 100 + start[2]] = 0}
  local q = Queue.new()
  q:push(start)
  while #q > 0 do
    local cur = q:pop()
    local d = dist[cur[1] * 100 + cur[2]]
    if cur[1] == goal[1] and cur[2] == goal[2] then return d end
    for _, delta in ipairs({{1, 0}, {-1, 0}, {0, 1}, {0, -1}}) do
      local r, c = cur[1] + delta[1], cur[2] + delta[2]
      local key = r * 100 + c
      if r >= 1 and r <= rows and c >= 1 and c <= cols
         and grid[r]:sub(c, c) ~= "#" and dist[key] == nil then
        dist[key] = d + 1
        q:push({r, c})
      end
    end
  end
  return nil
end
print("shortest path length:", shortest_path(maze))
