"""gunicorn's settings, from the environment (the Procfile's web line: ``gunicorn --config config/gunicorn.py config.wsgi``).

Production and ``make run`` serve the same way; a deep listen backlog means a burst of connections waits
instead of being reset, and ``DEBUG=1`` (make run) reloads the code when it changes.
"""

from config.env import env_bool, env_int, env_str

bind = f"{env_str('WEB_HOST', '127.0.0.1')}:{env_int('WEB_PORT', 8000, minimum=1)}"
workers = env_int("WEB_CONCURRENCY", 3, minimum=1)
backlog = env_int("WEB_BACKLOG", 2048, minimum=64)
timeout = env_int("WEB_TIMEOUT", 60, minimum=5)  # a request running longer than this is killed (its worker restarted)
graceful_timeout = 30
keepalive = 5
accesslog = "-"
reload = env_bool("DEBUG", False)
