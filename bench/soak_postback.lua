-- GET /v1/postback at a fixed pace per connection, a new conversion each time (unique external id,
-- one of the seeded clicks). Arguments after `--`: <clicks file> <postback token> <run nonce> <delay ms>.
dofile("bench/report.lua")

local threads_started = 0

function setup(thread)
   threads_started = threads_started + 1
   thread:set("thread_number", threads_started)
end

local click_ids = {}
local token, nonce
local pause = 100
local counter = 0

function init(args)
   for line in io.lines(args[1]) do
      if line ~= "" then
         click_ids[#click_ids + 1] = line
      end
   end
   token, nonce, pause = args[2], args[3], tonumber(args[4])
   math.randomseed(os.time() * 1000 + thread_number)
end

function delay()
   return pause
end

function request()
   counter = counter + 1
   local path = string.format(
      "/v1/postback?token=%s&type=purchase&external_id=%s-t%d-%d&click_id=%s&amount=40.00&product_id=sku-1",
      token, nonce, thread_number, counter, click_ids[math.random(#click_ids)]
   )
   return wrk.format("GET", path)
end
