-- wrk script for bench_wrk.py: sends the request paths of a file (one per line) in turn,
-- each thread from its own place in the list. Arguments after the URL:
--   <paths file> <GET|PUT> <body bytes> <body fill character>
-- PUTs carry a body of <body bytes> copies of the fill character (wrk adds Content-Length).
local paths = {}
local method = "GET"
local body = nil
local next_index = 0
local threads = 0

-- In wrk's main Lua state: each thread starts at its own place in the list.
function setup(thread)
  thread:set("offset", threads * 509)
  threads = threads + 1
end

function init(args)
  -- wrk hands the arguments after the URL; some builds put the URL first.
  local first = 1
  if args[first] ~= nil and string.match(args[first], "^https?://") then first = first + 1 end
  for line in io.lines(args[first]) do
    if #line > 0 then paths[#paths + 1] = line end
  end
  assert(#paths > 0, "no request paths in " .. args[first])
  method = args[first + 1] or "GET"
  if method == "PUT" then
    body = string.rep(args[first + 3] or "w", tonumber(args[first + 2]))
  end
  next_index = (offset or 0) % #paths
end

function request()
  next_index = next_index % #paths + 1
  return wrk.format(method, paths[next_index], nil, body)
end
