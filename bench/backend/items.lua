-- GET /items/{id} over 1,000 ids, the same request mix for both servers.
counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", "/items/" .. (counter % 1000 + 1))
end
