-- wrk script: durable job submissions (POST /v1/jobs with a tiny sleep job).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"kind":"sleep","params":{"ms":0,"progress_every_ms":1}}'
