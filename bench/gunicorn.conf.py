"""gunicorn for `make bench`: how the project is deployed, 2 sync workers on a 2-core machine.

The bind address is given on the command line by `bench/run.py` (a free port).
"""

wsgi_app = "config.wsgi:application"
worker_class = "sync"
workers = 2
# No access log: a line per request would be part of what we measure.
accesslog = None
errorlog = "-"
loglevel = "warning"
# wrk keeps 16+ connections waiting on 2 workers; a short backlog would refuse some.
backlog = 2048
graceful_timeout = 5
