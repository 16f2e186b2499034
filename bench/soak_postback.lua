-- GET /v1/postback at a fixed pace per connection, a new conversion each time (unique external id,
-- one of the seeded clicks). Arguments after `--`: <clicks file> <postback token> <run nonce> <delay ms>.
dofile("bench/seeded_clicks.lua")

local token, nonce
local pause = 100
local counter = 0

function init(args)
   click_ids_read(args[1])
   token, nonce, pause = args[2], args[3], tonumber(args[4])
end

function delay()
   return pause
end

function request()
   counter = counter + 1
   local path = string.format(
      "/v1/postback?token=%s&type=purchase&external_id=%s-t%d-%d&click_id=%s&amount=40.00&product_id=sku-1",
      token, nonce, thread_number, counter, click_id_random()
   )
   return wrk.format("GET", path)
end
