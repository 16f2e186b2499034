-- Baseline for POST /v1/convert: the same kind of JSON body, posted to the DRF no-op view.
-- wrk runs from the project root (bench/run.py sets cwd), so the path is relative to it.
dofile("bench/report.lua")

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"type":"purchase","external_id":"bench-t1-1-123456789","click_id":"0123456789abcdef0123456789abcdef",'
   .. '"amount":"120.00","currency":"USD","product_id":"sku-1"}'
