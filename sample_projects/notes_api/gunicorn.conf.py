# gunicorn settings for the notes service (read from the working folder by default).
bind = "0.0.0.0:8000"
workers = 2
worker_class = "gthread"
threads = 8
timeout = 30
accesslog = "-"
