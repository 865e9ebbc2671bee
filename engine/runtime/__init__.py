"""The job runtime: the worker loop, job handlers, execution backends (local, RunPod), scratch space,
progress and start-up checks. It joins the torch pipeline (``engine.*``) to the queue and storage
(``db``) and the settings (``studio``); the pipeline modules outside this package import neither."""
