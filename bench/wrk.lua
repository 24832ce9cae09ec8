-- The requests of every load phase of bench/run.py, for Debian's wrk 4.1 (LuaJIT).
--
--   wrk -t2 -c32 -d15s --latency -s bench/wrk.lua http://127.0.0.1:PORT -- SCENARIO [ARGS...]
--
-- SCENARIO and its arguments:
--   healthz                                  GET /healthz (the framework floor)
--   chat_create    TOKEN[,TOKEN...]          POST /api/v1/apps/TOKEN/chats with {}, cycling over the tokens
--   message_create TOKEN FIRST COUNT         POST .../chats/N/messages, N cycling over FIRST..FIRST+COUNT-1
--   message_list   TOKEN CHAT AFTER_MAX      GET .../chats/CHAT/messages?limit=50&after=<random 0..AFTER_MAX>
--   message_search TOKEN CHAT Q1,Q2,...      GET .../chats/CHAT/messages/search?q=<random Qi> (URL-encoded)
--
-- Every thread counts responses by status code; done() prints one line, "WRK_JSON {...}", with
-- the totals, the latency percentiles (microseconds) and the status counts, which run.py parses.

local threads = {}

function setup(thread)
  thread:set("thread_number", #threads + 1)
  table.insert(threads, thread)
end

local scenario, prefix, first_chat, chat_count, after_max
local queries = {}
local chat_prefixes = {}
local counter = 0
local json_headers = { ["Content-Type"] = "application/json" }
statuses = {}

function init(args)
  scenario = args[1]
  local token = args[2]
  prefix = "/api/v1/apps/" .. (token or "")
  if scenario == "chat_create" then
    for each in string.gmatch(token, "[^,]+") do
      table.insert(chat_prefixes, "/api/v1/apps/" .. each .. "/chats")
    end
  elseif scenario == "message_create" then
    first_chat, chat_count = tonumber(args[3]), tonumber(args[4])
  elseif scenario == "message_list" then
    prefix = prefix .. "/chats/" .. args[3] .. "/messages?limit=50&after="
    after_max = tonumber(args[4])
  elseif scenario == "message_search" then
    prefix = prefix .. "/chats/" .. args[3] .. "/messages/search?q="
    for query in string.gmatch(args[4], "[^,]+") do
      table.insert(queries, query)
    end
  elseif scenario ~= "healthz" and scenario ~= "chat_create" then
    error("unknown scenario " .. tostring(scenario))
  end
  math.randomseed(os.time() * 1000 + thread_number)
end

function request()
  counter = counter + 1
  if scenario == "healthz" then
    return wrk.format("GET", "/healthz")
  elseif scenario == "chat_create" then
    return wrk.format("POST", chat_prefixes[counter % #chat_prefixes + 1], json_headers, "{}")
  elseif scenario == "message_create" then
    local chat = first_chat + counter % chat_count
    local body = string.format(
      '{"body": "bench %d-%d: the quick brown fox jumps over the lazy dog"}', thread_number, counter
    )
    return wrk.format("POST", prefix .. "/chats/" .. chat .. "/messages", json_headers, body)
  elseif scenario == "message_list" then
    return wrk.format("GET", prefix .. math.random(0, after_max))
  else
    return wrk.format("GET", prefix .. queries[math.random(1, #queries)])
  end
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local totals = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      totals[status] = (totals[status] or 0) + count
    end
  end
  local counts = {}
  for status, count in pairs(totals) do
    table.insert(counts, string.format('"%d": %d', status, count))
  end
  local errors = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "bytes": %d, '
      .. '"socket_errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d}, '
      .. '"latency_us": {"min": %d, "mean": %.1f, "max": %d, "p50": %d, "p90": %d, "p99": %d, "p999": %d}, '
      .. '"statuses": {%s}}\n',
    summary.requests, summary.duration, summary.bytes,
    errors.connect, errors.read, errors.write, errors.timeout,
    latency.min, latency.mean, latency.max,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    table.concat(counts, ", ")
  ))
end
