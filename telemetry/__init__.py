"""What an operator sees of a running process: Prometheus metrics and the liveness and readiness
endpoints (``telemetry.metrics``: the definitions; ``telemetry.server``: one small HTTP server per
process serving /metrics, /livez and /readyz).

A leaf like ``config``: it imports nothing of the project (the checks it runs are callables the
process hands it), so the conversation core, the job runtime and the database may all import it."""
