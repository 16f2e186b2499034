-- What the scripts that convert share: each wrk thread numbered (setup), the seeded click ids read from
-- a file of one a line (click_ids_read, from init) and a random one of them (click_id_random).
dofile("bench/report.lua")

local threads_started = 0

function setup(thread)
   threads_started = threads_started + 1
   thread:set("thread_number", threads_started)
end

local click_ids = {}

function click_ids_read(path)
   for line in io.lines(path) do
      if line ~= "" then
         click_ids[#click_ids + 1] = line
      end
   end
   math.randomseed(os.time() * 1000 + thread_number)
end

function click_id_random()
   return click_ids[math.random(#click_ids)]
end
