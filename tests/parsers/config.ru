# A legacy Rack application behind the gateway (run by `rackup`, Rack 2.2
# on WEBrick): it reports the top-level names Rack::Request found in the
# query (GET) and the body (POST: forms, bodies of a POST without a
# Content-Type, multipart/form-data, and the multipart/mixed and
# multipart/related bodies Rack also reads), and what parsing raised.
require 'json'

names = ->(hash) { hash.keys.map { |k| k.to_s.dup.force_encoding('UTF-8').scrub('?') } }

run(lambda do |env|
  req = Rack::Request.new(env)
  report = { 'parser' => "rack #{Rack.release}" }
  { 'get' => :GET, 'post' => :POST }.each do |field, reader|
    begin
      report[field] = names.call(req.public_send(reader))
    rescue StandardError => e
      report[field] = []
      report["#{field}_error"] = "#{e.class}: #{e.message}"[0, 200].dup.force_encoding('UTF-8').scrub('?')
    end
  end
  body = JSON.generate(report)
  [200, { 'Content-Type' => 'application/json', 'Content-Length' => body.bytesize.to_s }, [body]]
end)
