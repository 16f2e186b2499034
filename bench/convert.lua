-- POST /v1/convert with a new conversion every request: a unique external_id (run nonce, thread,
-- counter, random) and one of the seeded clicks, so each request records a conversion rather than
-- answering "seen before" from the unique constraint.
-- Arguments after `--`: <file with one click id a line> <API key> <run nonce>.
dofile("bench/seeded_clicks.lua")

local headers
local nonce
local counter = 0

function init(args)
   click_ids_read(args[1])
   headers = { ["Authorization"] = "Bearer " .. args[2], ["Content-Type"] = "application/json" }
   nonce = args[3]
end

function request()
   counter = counter + 1
   local body = string.format(
      '{"type":"purchase","external_id":"%s-t%d-%d-%d","click_id":"%s",'
         .. '"amount":"120.00","currency":"USD","product_id":"sku-1"}',
      nonce, thread_number, counter, math.random(1, 999999999), click_id_random()
   )
   return wrk.format("POST", "/v1/convert", headers, body)
end
