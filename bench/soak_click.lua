-- A click at a fixed pace per connection: wrk waits `delay` ms before each request.
-- Arguments after `--`: <delay ms>.
dofile("bench/report.lua")

local pause = 10

function init(args)
   pause = tonumber(args[1])
end

function delay()
   return pause
end
