"""gunicorn settings for the web container (read from the working directory at start)."""

import os

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
# Threads, not just processes: exports stream for a long time and cold reads wait on
# object storage; a gthread worker keeps answering its heartbeat meanwhile.
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("WEB_THREADS", "4"))
timeout = int(os.environ.get("WEB_TIMEOUT", "60"))
graceful_timeout = 30
# Recycle workers now and then so that a slow leak cannot grow forever.
max_requests = 2000
max_requests_jitter = 200
# Heartbeat files in memory: /tmp may be a slow or read-only volume in a container.
worker_tmp_dir = "/dev/shm"
# Access logs are the proxy's (ingress, load balancer) job; errors go to stderr.
accesslog = None
errorlog = "-"
