-- wrk script for the DPoP case of bench/run.sh: every request carries the
-- next unused proof of the file given after `--` (one proof a line, made
-- by bench/proofs just before the window). Proofs are single use, so the
-- lines are dealt to the threads (line i to thread i mod threads); a thread
-- that runs out sends its last proof again, which the gateway refuses as a
-- replay and the report counts as non-2xx.
--   wrk ... -s bench/dpop.lua URL -- PROOFS_FILE THREADS
local threads = 0

function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end

function init(args)
  local file, count = args[1], tonumber(args[2])
  proofs = {}
  local i = 0
  for line in io.lines(file) do
    if i % count == id then
      proofs[#proofs + 1] = line
    end
    i = i + 1
  end
  next_proof = 0
  -- wrk.format replaces the -H headers with the table it is given: start
  -- from them (Authorization) and add the proof.
  headers = {}
  for name, value in pairs(wrk.headers) do
    headers[name] = value
  end
end

function request()
  next_proof = next_proof + 1
  headers["DPoP"] = proofs[next_proof] or proofs[#proofs]
  return wrk.format(nil, nil, headers)
end
