-- A table-driven finite state machine: a vending machine.

local transitions = {
  idle = {
    coin   = function(m, amount) m.credit = m.credit + amount; return "paying" end,
    select = function(m) m.message = "insert coins first"; return "idle" end,
  },
  paying = {
    coin   = function(m, amount) m.credit = m.credit + amount; return "paying" end,
    select = function(m, item)
      local price = m.prices[item]
      if not price then m.message = "unknown item " .. item; return "paying" end
      if m.credit < price then
        m.message = string.format("need %d more", price - m.credit)
        return "paying"
      end
      m.credit = m.credit - price
      m.message = "vending " .. item
      return m.credit > 0 and "change" or "idle"
    end,
    cancel = function(m) m.message = "returned " .. m.credit; m.credit = 0; return "idle" end,
  },
  change = {
    take = function(m) m.message = "change " .. m.credit; m.credit = 0; return "idle" end,
  },
}

local Machine = {}
Machine.__index = Machine

function Machine.new(prices)
  return setmetatable({state = "idle", credit = 0, prices = prices, message = ""}, Machine)
end

function Machine:send(event, arg)
  local handler = transitions[self.state][event]
  if not handler then
    self.message = "ignored " .. event .. " in " .. self.state
    return self.state
  end
  self.message = ""
  self.state = handler(self, arg)
  return self.state
end

local m = Machine.new({tea = 3, soup = 5})
local script = {
  {"select", "tea"}, {"coin", 2}, {"select", "tea"}, {"select", "cake"},
  {"coin", 5}, {"select", "soup"}, {"take"}, {"take"},
  {"coin", 1}, {"cancel"},
}

for step, ev in ipairs(script) do
  local state = m:send(ev[1], ev[2])
  local line = string.format("%2d %-6s %-5s -> %-6s credit=%d %s",
    step, ev[1], tostring(ev[2] or ""), state, m.credit, m.message)
  print((line:gsub("%s+$", "")))   -- no trailing spaces when there is no message
end
